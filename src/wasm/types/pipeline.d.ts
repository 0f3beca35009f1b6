
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
  | 'experimentResults';

/** One engine's answer in a form that merges (see docs/PIPELINE.md). */
export interface AnalyticsPartial {
  query: MergeableQuery;
  [key: string]: unknown;
}
