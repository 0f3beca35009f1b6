
/** An event as one engine forwards it to another: what `tracking.outbox.take()` leases. */
export interface ForwardedEvent {
  eventId: string;
  ts: number;
  type: EventType;
  name: string;
  userId?: string | null;
  anonymousId?: string | null;
  sessionId?: string | null;
  url?: string | null;
  path?: string | null;
  referrer?: string | null;
  properties?: Record<string, unknown>;
  dimensions?: Record<string, unknown> | null;
  client?: { ip?: string | null; browser?: string | null; os?: string | null; device?: string | null };
  userAgent?: string | null;
  /** The rate it was sampled at, in (0, 1]; default 1. */
  sampleRate?: number;
  receivedAt?: number;
}

/** What became of one event at the collector. */
export type CollectResult =
  | { status: 'accepted'; eventId: string; partition: number }
  | { status: 'no_consent'; eventId: string }
  | { status: 'rejected'; error: { code: ErrorCode; message: string; field?: string } };

/** What one step of a partition did. */
export interface Consumed {
  read: number;
  stored: number;
  duplicates: number;
  forwarded: number;
  dropped: number;
  identified: number;
  erased: number;
  /** The stream position committed with the events. */
  position: string;
  /** Entries left in the stream after the trim. */
  remaining: number;
}

/** A live pipeline worker in the roster: `name#incarnation`, and where it serves. */
export interface PipelineMember {
  worker: string;
  url: string;
}

/** A partition's lease holder: its fencing token only grows. */
export interface LeaseHolder {
  token: number;
  worker: string;
  url: string;
}

/** A partition's lease and its live copies, as Redis holds them. */
export interface PartitionLease {
  holder: LeaseHolder | null;
  copies: { worker: string; position: string }[];
}

/** A copy a worker holds, as `pipeline.plan` reads it. */
export interface HeldCopy {
  partition: number;
  /** It has read its stream since it was opened (it is not behind). */
  ready: boolean;
  position: string;
  /** Its lease as last seen; null before the first look. */
  lease?: PartitionLease | null;
  /** Behind the trim mark with no holder to load from, for longer than a lease. */
  stuck?: boolean;
}

/** A worker's next step: copies to open and drop, and what each kept copy asks of its lease. */
export interface PartitionPlan {
  open: number[];
  drop: number[];
  /** `acceptLoss`: no live copy is current and this is the best-ranked one (see `pipeline.acceptLoss`). */
  want: { partition: number; want: 'own' | 'standby' | 'loading' | 'leave'; acceptLoss: boolean }[];
}

/** The analytics queries whose partial answers merge exactly across partitions. */
export type MergeableQuery =
  | 'summary'
  | 'activeUsers'
  | 'realtime'
  | 'eventBreakdown'
  | 'featureUsage'
  | 'funnel'
  | 'retention'
  | 'cohorts'
  | 'topPages'
  | 'sessionDurations'
  | 'paths'
  | 'patterns'
  | 'experimentResults';

/**
 * Each mergeable query by name: the options it takes (those of the `trail.analytics` call of the same
 * name; for `experimentResults`, the experiment's `key` with the results' options) and the answer merged.
 */
export interface MergeableQueries {
  summary: { options: AnalyticsQuery; result: Summary };
  activeUsers: { options: AnalyticsQuery & { interval?: Interval }; result: ActiveUsers };
  realtime: { options: AnalyticsFilters & { windowSecs?: number }; result: Realtime };
  eventBreakdown: { options: AnalyticsQuery & { by?: string; limit?: number }; result: Breakdown };
  featureUsage: { options: AnalyticsQuery & ({ features: string[] } | { prefix: string }); result: FeatureUsage };
  funnel: { options: AnalyticsQuery & FunnelOptions; result: Funnel };
  retention: { options: AnalyticsQuery & RetentionOptions; result: Retention };
  cohorts: { options: AnalyticsQuery & { period?: Interval; by?: string }; result: Cohorts };
  topPages: { options: AnalyticsQuery & { limit?: number }; result: TopPages };
  sessionDurations: { options: AnalyticsQuery; result: SessionDurations };
  paths: { options: AnalyticsQuery & PathsOptions; result: Paths };
  patterns: { options: AnalyticsQuery & PatternsOptions; result: Patterns };
  experimentResults: { options: ExperimentResultsOptions & { key: string }; result: ExperimentResults };
}

/** The options of mergeable query `Q`. */
export type MergeableOptions<Q extends MergeableQuery> = MergeableQueries[Q]['options'];

/** The merged answer of mergeable query `Q`: `MergeableResult<'funnel'>` is `Funnel`. */
export type MergeableResult<Q extends MergeableQuery> = MergeableQueries[Q]['result'];

/** One engine's answer in a form that merges (see docs/PIPELINE.md). */
export interface AnalyticsPartial<Q extends MergeableQuery = MergeableQuery> {
  query: Q;
  [key: string]: unknown;
}

export interface Pipeline {
  /**
   * This engine's answer to a mergeable analytics query, in a form that merges: `query` is one of
   * `MergeableQuery`, with the options the `trail.analytics` call of that name takes.
   */
  partial<Q extends MergeableQuery>(query: Q, options?: MergeableOptions<Q>): Promise<AnalyticsPartial<Q>>;
  /**
   * The answer of several engines' partials of one query: what one engine holding all their events
   * would answer (`merge([...funnelPartials])` is a `Funnel`). A partial may also be given as its
   * JSON text, as a partition handler answers it (`merge<'paths'>(texts)`); each is read as the
   * merge reaches it, at most 32 MiB of JSON each, at most 4,096 partials.
   */
  merge<Q extends MergeableQuery>(partials: (AnalyticsPartial<Q> | string)[]): Promise<MergeableResult<Q>>;
}
