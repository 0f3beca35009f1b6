/** Calendar buckets, in the query's `timezone`. Weeks start on Monday. */
export type Interval = 'day' | 'week' | 'month';

/** A value to compare a dimension or property with. */
export type Scalar = string | number | boolean;

/** The field of a user's first event a `segment` tests. */
export type SegmentProperty =
  | 'type'
  | 'name'
  | 'path'
  | 'url'
  | 'referrer'
  | 'browser'
  | 'os'
  | 'device'
  | `properties.${string}`
  | `dimensions.${string}`;

/** Filters every analytics query takes. */
export interface AnalyticsFilters {
  /** Only events of this type. */
  eventType?: EventType;
  /** Only events with this name, or one of these names. */
  name?: string | string[];
  /** Only events whose registered dimension has this value. */
  dimension?: { name: string; value: Scalar };
  /**
   * Only users whose first event ever has `property` equal to `equals`.
   * `property` is `type`, `name`, `path`, `url`, `referrer`, `browser`, `os`,
   * `device` (text: `equals` a string), `properties.<key>` (compared with
   * the value's JSON type: `3` matches `3` and `3.0`, `'3'` only the text)
   * or `dimensions.<key>` (the dimension's type). `<key>` is one top-level
   * key, dots included.
   */
  segment?: { property: SegmentProperty; equals: Scalar };
}

/** The range and filters of an analytics query. */
export interface AnalyticsQuery extends AnalyticsFilters {
  /** Start, inclusive, ms since the epoch. Default: 30 days before `until`. */
  since?: number;
  /** End, exclusive, ms. Default: the clock's now (inclusive). */
  until?: number;
  /** Fixed UTC offset in minutes for day/week/month buckets, -840 to 840. Default 0. */
  timezone?: number;
  /**
   * Count crawlers and scripts too (events whose device class is `'bot'`, from their user agent).
   * Default false: bots are not users, so their events are left out of every metric.
   */
  includeBots?: boolean;
}

export interface Summary {
  events: number;
  users: number;
  sessions: number;
  eventsPerUser: number;
  eventsPerSession: number;
  /** True when some counted event was sampled and counts were scaled by 1/sampleRate. */
  reweighted: boolean;
}

export interface ActiveUsers {
  interval: Interval;
  /** Every bucket the range touches, empty ones included. */
  buckets: { start: number; label: string; users: number }[];
  /** Over the range's last 30 days: mean daily users, distinct users, and their ratio. */
  stickiness: { dau: number; mau: number; ratio: number };
  reweighted: boolean;
}

export interface Realtime {
  windowSecs: number;
  activeUsers: number;
  events: number;
  perMinute: { start: number; events: number }[];
  reweighted: boolean;
}

export interface TopPages {
  pages: {
    path: string;
    views: number;
    uniqueViewers: number;
    /** Mean gap to the next event of the session, capped at 30 min; null when no view had one. */
    avgTimeOnPageMs: number | null;
    timedViews: number;
  }[];
  reweighted: boolean;
}

export interface SessionDurations {
  count: number;
  meanMs: number | null;
  medianMs: number | null;
  p90Ms: number | null;
  maxMs: number | null;
  histogram: { minMs: number; maxMs: number | null; sessions: number }[];
  reweighted: boolean;
}

export interface Breakdown {
  by: string;
  rows: { value: Scalar | null; events: number; users: number }[];
  reweighted: boolean;
}

export interface FeatureUsage {
  activeUsers: number;
  features: { feature: string; users: number; uses: number; adoption: number; usesPerUser: number }[];
  reweighted: boolean;
}

export interface PathsOptions {
  startAt?: string;
  endAt?: string;
  /** Items per journey, 1 to 20. Default 5. */
  steps?: number;
  by?: 'session' | 'user';
  /** `auto`: pages as their path, other events as their name. Default `auto`. */
  items?: 'auto' | 'path' | 'name';
  /** Top journeys, 1 to 100. Default 10. */
  limit?: number;
}

export interface Paths {
  total: number;
  journeys: { steps: string[]; count: number }[];
  transitions: { step: number; from: string; to: string; count: number }[];
  reweighted: boolean;
}

export interface PatternsOptions {
  /** Events per sequence, 2 to 10. Default 3. */
  length?: number;
  /** Minimum fraction of sessions, 0 to 1. Default 0. */
  minSupport?: number;
  limit?: number;
}

export interface Patterns {
  totalSessions: number;
  patterns: { sequence: string[]; sessions: number; support: number; occurrences: number }[];
  reweighted: boolean;
}

export interface FunnelOptions {
  /** Event names, 1 to 20; a name may repeat. */
  steps: string[];
  /** Default 86400. */
  windowSecs?: number;
  /** `any`: other events may come between steps. `strict`: none may. Default `any`. */
  order?: 'any' | 'strict';
  /** A dimension to split by, read on each user's first step. */
  breakdown?: string;
}

export interface FunnelStep {
  name: string;
  count: number;
  conversionFromPrevious: number;
  conversionFromStart: number;
  medianMsFromPrevious: number | null;
}

export interface Funnel {
  steps: FunnelStep[];
  breakdown: { value: Scalar | null; steps: FunnelStep[] }[] | null;
  reweighted: boolean;
}

export interface RetentionOptions {
  /** Default `week`. */
  cohort?: Interval;
  /** 1 to 366. Default 8. */
  periods?: number;
  startEvent?: string;
  returnEvent?: string;
}

export interface Retention {
  cohort: Interval;
  periods: number;
  rows: {
    start: number;
    label: string;
    users: number;
    /** Per period; null for periods that start after the range. */
    counts: (number | null)[];
    percentages: (number | null)[];
  }[];
  reweighted: boolean;
}

export interface Cohorts {
  period: Interval;
  rows: { start: number; label: string; users: number; byValue: { value: Scalar | null; users: number }[] | null }[];
  reweighted: boolean;
}

/** An A/B experiment; the first variant is the control. */
export interface Experiment {
  key: string;
  variants: { name: string; weight: number }[];
}

export interface ExperimentResultsOptions {
  /** The event name that counts as a conversion. */
  goal: string;
  since?: number;
  until?: number;
}

export interface ExperimentResults {
  key: string;
  goal: string;
  variants: {
    name: string;
    isControl: boolean;
    exposures: number;
    conversions: number;
    rate: number;
    /** The two-proportion z-test against the control; null for the control or when undefined. */
    vsControl: { diff: number; z: number; pValue: number; ci95: [number, number] } | null;
  }[];
}
