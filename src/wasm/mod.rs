//! The JavaScript bindings: the only place with `#[wasm_bindgen]`.
//!
//! One file per exported class; each does conversions only. Business logic
//! lives in the core modules, where it is tested on both targets.

mod analytics;
mod clock;
mod error;
mod experiments;
mod json;
mod open_options;
mod opfs;
mod options;
mod prefs;
mod sessions;
mod tracking;
mod user_trail;

#[cfg(feature = "bench")]
mod bench;

pub use analytics::JsAnalytics;
pub use experiments::JsExperiments;
pub use prefs::JsPrefs;
pub use sessions::JsSessions;
pub use tracking::{JsOutbox, JsQuarantine, JsTracking};
pub use user_trail::JsUserTrail;

use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
/** Every `code` a `UserTrailError` can carry. Stable across releases. */
export type ErrorCode =
  | 'INVALID_INPUT'
  | 'CLOSED'
  | 'NOT_A_DATABASE'
  | 'CORRUPT'
  | 'SCHEMA_TOO_NEW'
  | 'FOREIGN_DATABASE'
  | 'BUSY'
  | 'STORAGE_FULL'
  | 'CANNOT_OPEN'
  | 'UNSUPPORTED'
  | 'MIGRATION_FAILED'
  | 'STORAGE_ERROR'
  | 'SESSION_NOT_FOUND'
  | 'SESSION_EXPIRED'
  | 'CONFLICT'
  | 'PAYLOAD_TOO_LARGE'
  | 'KEY_MISSING'
  | 'DECRYPTION_FAILED'
  | 'SCHEMA_VIOLATION'
  | 'UNKNOWN_DIMENSION'
  | 'NOT_FOUND'
  | 'UNKNOWN_PREFERENCE'
  | 'EXPERIMENT_NOT_FOUND';

/** Where the OPFS pool keeps the database. All fields are optional. */
export interface OpfsOptions {
  /** The database's file name in the pool. Default `'usertrail.db'`. */
  name?: string;
  /** The pool's (and its SQLite VFS's) name. Default `'usertrail'`. */
  pool?: string;
  /** The OPFS directory the pool uses. Default `'.usertrail'`. */
  directory?: string;
}

/**
 * Where the database lives:
 * - `'memory'`: in memory; keep it with `export()`.
 * - `'opfs'` or `{ opfs }`: the origin-private file system (dedicated worker only).
 * - `{ bytes }`: a copy of a database exported earlier, opened in memory.
 */
export type StorageOption =
  | 'memory'
  | 'opfs'
  | { opfs: OpfsOptions }
  | { bytes: Uint8Array };

/** Options for `UserTrail.open`. */
export interface OpenOptions {
  /** Default `'memory'`. */
  storage?: StorageOption;
  /** The time in ms since the epoch; default `Date.now`. For tests. */
  clock?: () => number;
  /** How long to wait for a lock held elsewhere before `BUSY`. Default 2000. */
  busyTimeoutMs?: number;
  /** Session settings. */
  sessions?: SessionSettings;
  /** How IP addresses are masked before they are stored (sessions and events). */
  ipMask?: IpMask;
  /** Tracking settings. */
  tracking?: TrackingSettings;
}

/** An event's category. */
export type EventType = 'session' | 'page' | 'action' | 'system';

/** Keep a fraction of matching events, decided per user so journeys stay whole. */
export interface SamplingRule {
  name?: string;
  type?: EventType;
  /** In (0, 1]. */
  rate: number;
}

/** Engine-wide tracking settings. */
export interface TrackingSettings {
  /** What happens to events that fail their schema; default `'strict'`. */
  validation?: 'strict' | 'lenient' | 'quarantine';
  /** The first matching rule applies. */
  sampling?: SamplingRule[];
  /** Keep the raw user agent too; default false (only browser, OS, device). */
  storeRawUserAgent?: boolean;
  /** Queue every stored event for upload; `{ cap }` defaults to 10,000. */
  outbox?: boolean | { cap?: number };
}

/** An event to track. */
export interface TrackEvent {
  /** A UUID; drawn (UUIDv7) if absent. Also the idempotency key. */
  eventId?: string;
  /** Default `'action'`. */
  type?: EventType;
  /** 1 to 200 characters. */
  name: string;
  /** At most 32 KiB of JSON, nested at most 8 deep. */
  properties?: Record<string, unknown>;
  /** Values of dimensions declared with `defineDimension`. */
  dimensions?: Record<string, string | number | boolean>;
  url?: string;
  path?: string;
  referrer?: string;
  userId?: string;
  anonymousId?: string;
  /** Links the event to this token's session (the token is not stored). */
  sessionToken?: string;
  sessionId?: string;
  /** ms since the epoch; now if absent. */
  ts?: number;
  /** Masked before storage. */
  ip?: string;
  /** Reduced to browser, OS and device before storage. */
  userAgent?: string;
}

/** What became of a tracked event. */
export type TrackStatus = 'stored' | 'duplicate' | 'sampled_out' | 'quarantined';

/** One event's result. `'rejected'` only in `trackBatch(..., { partial: true })`. */
export interface TrackResult {
  eventId: string | null;
  status: TrackStatus | 'rejected';
  error?: { code: ErrorCode; message: string; field?: string };
}

/** A property's declared type. */
export type PropType = 'string' | 'number' | 'bool' | 'object' | { enum: string[] };

/** What `defineEvent` declares. Undeclared properties are allowed. */
export interface EventSchema {
  required?: Record<string, PropType>;
  optional?: Record<string, PropType>;
}

/** A custom dimension. */
export interface DimensionDefinition {
  name: string;
  /** Default `'string'`. */
  type?: 'string' | 'number' | 'bool';
}

/** Whose events (exactly one of the three ids), and which. */
export interface HistoryQuery {
  userId?: string;
  anonymousId?: string;
  sessionId?: string;
  types?: EventType[];
  names?: string[];
  /** Inclusive, ms. */
  since?: number;
  /** Exclusive, ms. */
  until?: number;
  /** 1 to 1000; default 100. */
  limit?: number;
  cursor?: string;
}

/** A stored event. */
export interface TrackedEvent {
  eventId: string;
  ts: number;
  type: EventType;
  name: string;
  userId: string | null;
  anonymousId: string | null;
  sessionId: string | null;
  url: string | null;
  path: string | null;
  referrer: string | null;
  properties: Record<string, unknown>;
  dimensions: Record<string, string | number | boolean> | null;
  client: { ip: string | null; browser: string | null; os: string | null; device: string | null };
  userAgent: string | null;
  /** Weight counts by 1 / sampleRate. */
  sampleRate: number;
  receivedAt: number;
}

/** A page of history, newest first. */
export interface HistoryPage {
  events: TrackedEvent[];
  nextCursor: string | null;
}

/** A leased outbox batch. */
export interface OutboxBatch {
  batchId: string;
  events: TrackedEvent[];
}

/** The outbox's numbers. */
export interface OutboxStats {
  queued: number;
  leased: number;
  dropped: number;
}

/** What `prefs.define` declares. */
export interface PrefDefinition {
  /** Letters, digits, '.', '_' or '-', e.g. `'appearance.theme'`. */
  key: string;
  category: string;
  type: 'bool' | 'string' | 'number' | 'enum' | 'json';
  /** The value of anyone who never set it. */
  default: unknown;
  /** For `enum`. */
  values?: string[];
  /** For `number`. */
  min?: number;
  max?: number;
  /** For `string`; default 1024. */
  maxLength?: number;
  /** For `string`. */
  format?: 'bcp47' | 'timezone';
  /** For `json`; default 4096. */
  maxBytes?: number;
  description?: string;
}

/** A subject's effective value. */
export interface PrefValue {
  key: string;
  category: string;
  value: unknown;
  /** True when the subject never set it (or reset it). */
  isDefault: boolean;
  updatedAt: number | null;
}

/** One change in the preferences history. */
export interface PrefChange {
  key: string;
  /** `null`: it was the default. */
  oldValue: unknown;
  /** `null`: reset to the default. */
  newValue: unknown;
  at: number;
  source: string;
}

/** A quarantined event. */
export interface QuarantinedEvent {
  id: number;
  eventId: string;
  receivedAt: number;
  code: ErrorCode;
  field: string | null;
  reason: string;
  event: TrackEvent;
}

/** Trailing bits zeroed in stored IP addresses. */
export interface IpMask {
  /** 0 to 32; default 16 (the last 2 bytes). */
  v4Bits?: number;
  /** 0 to 128; default 80. */
  v6Bits?: number;
}

/** A key that seals session state: 32 bytes, with an id for rotation. */
export interface SessionKey {
  id: string;
  key: Uint8Array;
}

/** Engine-wide session settings. */
export interface SessionSettings {
  /** Idle timeout; default 1800 (30 min). */
  idleTimeoutSecs?: number;
  /** Absolute timeout; default 43200 (12 h). */
  absoluteTimeoutSecs?: number;
  /** Activity is written at most once per interval; default 60. */
  touchIntervalSecs?: number;
  /** Over this, the least recently used session of the user is evicted. */
  maxSessionsPerUser?: number;
  /** Binding to user agent and IP network (IPv4 /24, IPv6 /48); default `'warn'`. */
  fingerprint?: 'off' | 'warn' | 'strict';
  /** Session state size limit in bytes of JSON; default 65536. */
  maxStateBytes?: number;
  /** Seal session state with XChaCha20-Poly1305. Newest first: the first key seals, all open. */
  keys?: SessionKey[];
}

/** What a request says about the client. */
export interface ClientContext {
  ip?: string;
  userAgent?: string;
}

/** Options for `sessions.create`. */
export interface CreateSessionOptions extends ClientContext {
  /** Omit for an anonymous session; bind it later with `login`. */
  userId?: string;
  /** Initial state: a JSON object. */
  data?: Record<string, unknown>;
  /** Overrides the engine's idle timeout ("remember me"). */
  idleTimeoutSecs?: number;
  /** Overrides the engine's absolute timeout. */
  absoluteTimeoutSecs?: number;
}

/** Options for state writes. */
export interface WriteOptions {
  /** Fail with `CONFLICT` unless the state is at this version. */
  expectedVersion?: number;
}

/** The device a session was created from, minimised. */
export interface SessionClient {
  /** The IP address with its host part zeroed. */
  ip: string | null;
  /** Browser family and major version, e.g. `'Firefox 121'`, or `'Other'`. */
  browser: string;
  /** OS family, e.g. `'Android'`, or `'Other'`. */
  os: string;
  device: 'desktop' | 'mobile' | 'tablet' | 'bot' | 'unknown';
}

/** A live session. Times are ms since the epoch. */
export interface Session {
  /** Non-secret handle, for listing and revoking. */
  sessionId: string;
  userId: string | null;
  createdAt: number;
  lastSeenAt: number;
  idleExpiresAt: number;
  absoluteExpiresAt: number;
  /** The state's version, for `expectedVersion`. */
  version: number;
  client: SessionClient;
  /** Set under the `'warn'` fingerprint policy when this request's client differs. */
  fingerprintMismatch?: true;
}

/** A session with its secret token, returned by `create`, `rotate` and `login`. */
export interface CreatedSession extends Session {
  token: string;
}
/** Calendar buckets, in the query's `timezone`. Weeks start on Monday. */
export type Interval = 'day' | 'week' | 'month';

/** A value to compare a dimension or property with. */
export type Scalar = string | number | boolean;

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
   * `device`, `properties.<key>` or `dimensions.<key>`.
   */
  segment?: { property: string; equals: Scalar };
}

/** The range and filters of an analytics query. */
export interface AnalyticsQuery extends AnalyticsFilters {
  /** Start, inclusive, ms since the epoch. Default: 30 days before `until`. */
  since?: number;
  /** End, exclusive, ms. Default: the clock's now (inclusive). */
  until?: number;
  /** Fixed UTC offset in minutes for day/week/month buckets, -840 to 840. Default 0. */
  timezone?: number;
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
"#;

/// Makes Rust panics readable in the JS console (feature
/// `console_error_panic_hook`, on by default).
#[wasm_bindgen(start)]
fn start() {
    #[cfg(feature = "console_error_panic_hook")]
    console_error_panic_hook::set_once();
}
