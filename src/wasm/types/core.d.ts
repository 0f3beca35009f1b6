/**
 * Every `code` a `UserTrailError` can carry, from the engine and from the package's JS parts
 * (docs/ERRORS.md; `tests/errors.rs` checks the three agree). Stable across releases.
 */
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
  | 'EXPERIMENT_NOT_FOUND'
  | 'UNKNOWN_PURPOSE'
  | 'CONSENT_REQUIRED'
  | 'UNSUPPORTED_FORMAT'
  | 'STORE_UNAVAILABLE'
  | 'FENCED'
  | 'REPLICA_BEHIND'
  | 'TIMEOUT'
  | 'UNREACHABLE'
  | 'UNAUTHORIZED'
  | 'FORBIDDEN'
  | 'RATE_LIMITED'
  | 'METHOD_NOT_ALLOWED'
  | 'INTERNAL';

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
 * - `{ file }`: a SQLite file on disk, in Node and Deno. Commits are
 *   fsynced; one engine holds the file at a time (`BUSY` for another, in
 *   any process); the file opens in the `sqlite3` CLI once closed.
 * - `{ durableObject: ctx.storage, name? }`: a Cloudflare Durable Object's own
 *   storage (SQLite-backed objects only). Each commit is one `transactionSync`;
 *   an evicted or restarted object reopens at its last commit. `name` (default
 *   `'usertrail'`) keeps several databases apart in one object. See docs/EDGE.md.
 */
export type StorageOption =
  | 'memory'
  | 'opfs'
  | { opfs: OpfsOptions }
  | { bytes: Uint8Array }
  | { file: string }
  | { durableObject: DurableObjectStorageLike; name?: string };

/**
 * What usertrail needs of a Durable Object's `ctx.storage`: the synchronous
 * key-value API and `transactionSync` of a SQLite-backed object. The
 * `DurableObjectStorage` of `@cloudflare/workers-types` fits.
 */
export interface DurableObjectStorageLike {
  kv: {
    get(key: string): unknown;
    put(key: string, value: any): void;
    delete(key: string): unknown;
    list(options?: any): Iterable<[string, unknown]>;
  };
  transactionSync<T>(closure: () => T): T;
  sync?(): Promise<void>;
}

/** What a returned commit survives: see `OpenOptions.durability`. */
export type Durability = 'full' | 'normal';

/** Options for `UserTrail.open`. */
export interface OpenOptions {
  /** Default `'memory'`. */
  storage?: StorageOption;
  /** The time in ms since the epoch; default `Date.now`. For tests. */
  clock?: () => number;
  /** How long to wait for a lock held elsewhere before `BUSY`. Default 2000. */
  busyTimeoutMs?: number;
  /**
   * What a commit that returned survives, on `{ file }` and OPFS (default `'full'`):
   * - `'full'`: a power loss (every commit is synced to the disk; a rollback journal).
   * - `'normal'`: a killed process, never a corrupt file, but the last commits before a power
   *   loss or an OS crash may be lost (a write-ahead log without a sync per commit; much faster
   *   writes). See docs/ARCHITECTURE.md#durability.
   */
  durability?: Durability;
  /** Session settings. */
  sessions?: SessionSettings;
  /** How IP addresses are masked before they are stored (sessions and events). */
  ipMask?: IpMask;
  /** Tracking settings. */
  tracking?: TrackingSettings;
  /** Privacy settings: policy version, consent gating, PII redaction, retention. */
  privacy?: PrivacySettings;
  /**
   * A store shared by every process of the app: sessions, preferences and consent live there, so
   * every process sees them at once. `redisStore(client, { prefix })` from `usertrail/redis` makes one.
   */
  shared?: SharedStore;
}

/** What a login (or `sessions.extend`) asks of the session's lifetime: "remember me". */
export interface LoginOptions {
  /**
   * The engine's remember-me timeouts (`sessions.rememberIdleTimeoutSecs`, default 14 days, and
   * `sessions.rememberAbsoluteTimeoutSecs`, default 30 days from the login), unless given below.
   */
  remember?: boolean;
  /** This session's idle timeout, in seconds (1 to 400 days). */
  idleTimeoutSecs?: number;
  /** This session's absolute lifetime, in seconds from now (1 to 400 days). */
  absoluteTimeoutSecs?: number;
}

/** What `redisStore(client)` from `usertrail/redis` returns: where the engine's shared data lives. */
export interface SharedStore {
  /** Every key the engine writes starts with `<prefix>:`. Default `'ut'`. */
  readonly prefix?: string;
  /**
   * Runs one Lua script (`EVALSHA`, then `EVAL` on `NOSCRIPT`) and resolves to its reply. For a write
   * that must survive a failover, `wait` is `[replicas, timeoutMs]`: then `WAIT` on the connection the script went on,
   * rejecting with `STORE_UNAVAILABLE` when fewer replicas acknowledged in time.
   */
  run(sha1: string, source: string, keys: string[], args: string[], wait?: [number, number]): Promise<unknown>;
  /**
   * Set by `redisStore(client, { durableWrites })`: the writes that must survive a failover (logins,
   * revocations, consent decisions, erasures) wait for `replicas` replicas within `timeoutMs`.
   */
  readonly durableWrites?: { readonly replicas: number; readonly timeoutMs: number };
  /** Closes what the store opened for itself (durableWrites' connection); `trail.close()` calls it. */
  release?(): Promise<void>;
  /**
   * How often an engine opened on this store follows its rights log (erasures and other rights
   * exercised on any process), in ms, at most 10000; `0` turns the timer off (call
   * `privacy.follow()` yourself, at least every 10 s). Default 250.
   */
  readonly followMs?: number;
  /** Called with each failure of the timer's `privacy.follow()` (Redis down, say); it retries. */
  readonly onFollowError?: (err: unknown) => void;
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
  /**
   * Queue every stored event for upload; `{ cap }` defaults to 10,000. `thirdParty: true` marks the
   * collector as another company's: events of subjects who opted out of `sale_share` (or sent Global
   * Privacy Control) are withheld, never handed out by `take`.
   */
  outbox?: boolean | { cap?: number; thirdParty?: boolean };
  /** Record `login`, `logout` and `session_expired` events (type `'session'`, consent-gated). Default true. */
  sessionEvents?: boolean;
  /**
   * The analytics pipeline this engine takes part in, with a shared store (see docs/PIPELINE.md):
   * `partitions` (1 to 1024, default 4; the same for every engine of a pipeline, for its whole life),
   * `streamCap` (a safety-net cap of each stream, default 1,000,000), and for a collector the window
   * of event times it accepts around its clock: `maxAgeSecs` (default 30 days; at most 400) and
   * `maxAheadSecs` (default 300; at most a day). An event outside it is refused alone, `INVALID_INPUT`
   * on `ts`.
   */
  pipeline?: { partitions?: number; streamCap?: number; maxAgeSecs?: number; maxAheadSecs?: number };
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
  /** A client already reduced (as another engine or the quarantine keeps it), for an event without `userAgent`. */
  client?: EventClient;
}

/** A client, minimised: a masked IP, a browser family and major version, an OS, a device class. */
export interface EventClient {
  ip?: string | null;
  browser?: string | null;
  os?: string | null;
  device?: 'desktop' | 'mobile' | 'tablet' | 'bot' | 'unknown' | null;
}

/** What became of a tracked event. */
/** `'no_consent'`: not stored, the engine requires `analytics` consent the subject has not given. */
export type TrackStatus = 'stored' | 'duplicate' | 'sampled_out' | 'quarantined' | 'no_consent';

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
  /** Properties holding personal data: `privacy.anonymize` removes them. */
  personal?: string[];
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
  /** Only these types; absent or empty: every type. */
  types?: EventType[];
  /** Only these names; absent or empty: every name. */
  names?: string[];
  /** Inclusive, ms. */
  since?: number;
  /** Exclusive, ms. */
  until?: number;
  /** 1 to 1000; default 100. */
  limit?: number;
  cursor?: string;
}

/** The filter of `tracking.count`: with no subject every event counts. */
export type CountQuery = Omit<HistoryQuery, 'limit' | 'cursor'>;

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

/** What `tracking.packBlocks` did. */
export interface PackedBlocks {
  /** Pieces of work done by this call: blocks packed, blocks given their
   *  sessions in short, their rows by name or their events' dimensions (a
   *  block given several counts once for each). */
  packed: number;
  /** Blocks still to pack: missing (of complete 4,096-id ranges: the
   *  newest events, short of one, are in no block even at 0), packed in
   *  an older format (before schema version 15, without event types),
   *  without their sessions in short (before schema version 19), without
   *  their rows by name (before 20), or without their events' dimensions
   *  (before 21); a block without several counts once for each. */
  remaining: number;
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
  /** Withheld from a third-party collector: their subject opted out of `sale_share`. */
  withheld: number;
}

/** What every preference definition has, whatever its type. */
export interface PrefDefinitionBase {
  /** Letters, digits, '.', '_' or '-', e.g. `'appearance.theme'`. */
  key: string;
  category: string;
  description?: string;
  /**
   * The consent purpose this preference serves, e.g. `'personalization'`. When
   * the engine requires that purpose, `set` needs the subject's consent
   * (`CONSENT_REQUIRED` otherwise).
   */
  purpose?: string;
}

/**
 * What `prefs.define` declares, by `type`: each type takes its own options
 * (the engine refuses the others' with `INVALID_INPUT`), and `default` is a
 * value of the type.
 */
export type PrefDefinition =
  | (PrefDefinitionBase & { type: 'bool'; default: boolean })
  | (PrefDefinitionBase & {
      type: 'string';
      default: string;
      /** At most this many characters; default 1024. */
      maxLength?: number;
      format?: 'bcp47' | 'timezone';
    })
  | (PrefDefinitionBase & { type: 'number'; default: number; min?: number; max?: number })
  | (PrefDefinitionBase & {
      type: 'enum';
      /** One of `values`. */
      default: string;
      values: string[];
    })
  | (PrefDefinitionBase & {
      type: 'json';
      default: unknown;
      /** At most this many bytes of JSON; default 4096. */
      maxBytes?: number;
    });

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
  /** "Remember me" (`login(…, { remember: true })`): idle timeout; default 1209600 (14 days). */
  rememberIdleTimeoutSecs?: number;
  /** "Remember me": absolute lifetime from the login; default 2592000 (30 days). */
  rememberAbsoluteTimeoutSecs?: number;
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
  /** How long the session may stay unused, ms (its own for a "remember me" session). */
  idleTimeoutMs: number;
  /** The state's version, for `expectedVersion`. */
  version: number;
  client: SessionClient;
  /** Set under the `'warn'` fingerprint policy when this request's client differs. */
  fingerprintMismatch?: true;
  /** `validate` slid the idle deadline on this call: send the cookie again. */
  renewed?: true;
}

/** A session with its secret token, returned by `create`, `rotate` and `login`. */
export interface CreatedSession extends Session {
  token: string;
}

/** What `trail.info()` answers: for operators and `usertrail info`. */
export interface EngineInfo {
  /** The usertrail version running. */
  version: string;
  schemaVersion: number;
  /** When the database was created (ms). */
  createdAt: number;
  /** Whether sessions, preferences and consent live in a shared store. */
  shared: boolean;
  /** SQLite's page size, bytes. */
  pageSize: number;
  pageCount: number;
  /** Pages free for reuse: what a vacuum gives back. */
  freePages: number;
  /** The database's size, bytes. */
  bytes: number;
  /** Rows per table. */
  tables: Record<string, number>;
  /** The oldest event's time (ms), `null` without events. */
  eventsFrom: number | null;
  /** The newest event's time (ms), `null` without events. */
  eventsTo: number | null;
  /** Blocks of events analytics reads still to pack: missing, of an
   *  older format, without their spans, rows by name or dimensions (a block
   *  without several counts once for each; what `tracking.packBlocks` reports as `remaining`;
   *  `usertrail migrate` packs them all). */
  blocksToPack: number;
  retention: RetentionPolicy;
  schedule: RetentionSchedule;
}
