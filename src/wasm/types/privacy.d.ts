/** A consent purpose: a built-in one, or one declared in `privacy.purposes`. */
export type Purpose = 'necessary' | 'analytics' | 'personalization' | 'marketing' | 'sale_share' | (string & {});

/** Engine-wide privacy settings. */
export interface PrivacySettings {
  /** The privacy policy in force; decisions under an older one report `needsReconsent`. Default `'1'`. */
  policyVersion?: string;
  /** Purposes whose consent gates collection, e.g. `['analytics']`. Default none: no gating. */
  requireConsent?: Purpose[];
  /** A purpose granted under an older policy version counts as not granted until re-consent. Default false. */
  requireCurrentPolicy?: boolean;
  /**
   * Redact emails, phone numbers and card numbers in event properties, string dimensions, and the
   * URL, path and referrer (query values, fragments, path segments; secret-named parameters such as
   * `token` become `[redacted]`). Default true.
   */
  redactPii?: boolean;
  /** Query parameters kept verbatim by the URL redaction: names, or prefixes ending in `*`. Default `['utm_*']`. */
  keepUrlParams?: string[];
  /** Custom purposes: 1 to 64 of a-z, 0-9 and _. */
  purposes?: string[];
  /** Retention runs at open, then at most once per this many seconds. Default 86400. */
  retentionIntervalSecs?: number;
  /**
   * A secret (16 to 1024 bytes, kept outside the database) that links the consent ledger and the
   * audit log with HMAC-SHA-256: a chain rewritten by someone with only the file does not verify.
   * Once a chain is keyed, appending to it needs the key (`KEY_MISSING`).
   */
  chainKey?: Uint8Array;
}

/** What `privacy.grant` records. */
export interface GrantOptions {
  purposes: Purpose[];
  /** The policy version the subject saw; default the engine's current one. */
  policyVersion?: string;
  /** Where, e.g. `'banner'` or `'settings'`. */
  source: string;
  /** The text shown; only its SHA-256 is kept. */
  text?: string;
  /** The client's IP address; only its masked form is kept. */
  ip?: string;
  userAgent?: string;
  /** Who recorded it, for the audit log. Default `'subject'`. */
  actor?: string;
}

/** What `privacy.withdraw` records. */
export interface WithdrawOptions {
  purposes: Purpose[];
  source: string;
  /** Also delete what these purposes collected about the subject. */
  erase?: boolean;
  ip?: string;
  userAgent?: string;
  actor?: string;
  /** With `erase` and a shared store: as for `EraseOptions.waitMs`. */
  waitMs?: number;
}

/** One purpose's state for a subject. */
export interface PurposeState {
  granted: boolean;
  /** The subject decided on it at least once. */
  decided: boolean;
  policyVersion: string | null;
  at: number | null;
  source: string | null;
  /** Decided under an older policy version than the current one. */
  needsReconsent: boolean;
}

/** A subject's consent per purpose (over the subject and its linked anonymous ids). */
export interface ConsentStatus {
  subject: string;
  /** The engine's current policy version. */
  policyVersion: string;
  /** Decided on at least one purpose besides `necessary`: show the banner when false. */
  decided: boolean;
  /** Some decision was made under an older policy: ask again. */
  needsReconsent: boolean;
  /** CCPA: `sale_share` is not granted. */
  doNotSell: boolean;
  purposes: Record<string, PurposeState>;
}

/** The result of `withdraw`: the new status and, with `erase`, rows deleted per table. */
export interface WithdrawResult {
  status: ConsentStatus;
  /** With `erase`: rows deleted here per table (and `shared_prefs` in a shared store). */
  erased: Record<string, number>;
  /** With `erase` and a shared store: where the erasure stands on every engine sharing it. */
  rights?: Receipt;
}

/** One row of the consent ledger. */
export interface LedgerEntry {
  seq: number;
  at: number;
  /** `null` once the subject was erased or anonymised. */
  subject: string | null;
  /** Salted SHA-256 of the subject. */
  subjectHash: string;
  action: 'grant' | 'withdraw' | 'gpc';
  purposes: Purpose[];
  policyVersion: string;
  source: string;
  /** SHA-256 of the text shown. */
  textHash: string | null;
  ipMasked: string | null;
  userAgent: string | null;
}

/** Which ledger rows `privacy.ledger` returns. */
export interface LedgerQuery {
  subject?: string;
  afterSeq?: number;
  /** 1 to 10000; default 100. */
  limit?: number;
}

/** A chain's head: its newest row. Keep it outside the database, and check the chain against it later. */
export interface ChainHead {
  seq: number;
  hash: string;
}

/** The options of `verifyLedger` and `verifyAudit`. */
export interface VerifyOptions {
  /** A head kept outside the database: the chain must still hold it. */
  head?: ChainHead;
}

/** Options for `verifyLedger`. */
export interface LedgerVerifyOptions extends VerifyOptions {
  /** With a shared store, whose ledger to check (each subject's is its own chain). */
  subject?: string;
}

/** What a hash-chain check found. */
export interface ChainReport {
  ok: boolean;
  checked: number;
  /** Each bad row, named by `seq`. */
  problems: { seq: number; problem: string }[];
}

/** An export format. */
export type ExportFormat = 'json' | 'ndjson' | 'csv' | 'sqlite';

/** How far an export got. */
export interface ExportProgress {
  table: string;
  tablesDone: number;
  tablesTotal: number;
  rows: number;
}

/** Options for `privacy.export`. */
export interface ExportOptions {
  /** Default `'json'`. */
  format?: ExportFormat;
  /** Who asked, for the audit log. Default `'host'`. */
  actor?: string;
  /** Called after each table and every 5000 rows. Do not call the engine from it. */
  onProgress?: (progress: ExportProgress) => void;
  /**
   * With a shared store: how long to wait for the other engines sharing it to send their rows,
   * in ms (default 5000, at most 600000). The file's `places` say which engines answered.
   */
  timeoutMs?: number;
}

/** An export, ready to download. */
export interface ExportFile {
  format: ExportFormat;
  fileName: string;
  mimeType: string;
  bytes: Uint8Array;
  /** Rows per table. */
  counts: Record<string, number>;
}

/** Options for `privacy.erase`. */
export interface EraseOptions {
  /** Why, for the audit log (1 to 1000 characters). Optional. */
  reason?: string;
  /** Who asked. Default `'host'`. */
  actor?: string;
  /**
   * Rewrite the whole database afterwards (`VACUUM`). Not needed to leave no
   * bytes of the subject: deleted rows are zeroed and every page is scrubbed
   * on its way to the file, so erasure costs the subject's rows, not the
   * database's size. By default the rewrite happens only once, for a database
   * created by a version before scrubbing (or one over 128 GiB); `true`
   * rewrites anyway (it also shrinks the file), `false` never does.
   */
  vacuum?: boolean;
  /**
   * With a shared store: wait up to this many ms (at most 60000) for every engine sharing it to
   * apply the erasure before resolving. Default 0: resolve at once; `report.rights` says which have.
   */
  waitMs?: number;
}

/** Options for `privacy.anonymize`. */
export interface AnonymizeOptions {
  actor?: string;
  /** As for `EraseOptions.vacuum`. */
  vacuum?: boolean;
  /** As for `EraseOptions.waitMs`. */
  waitMs?: number;
}

/** What `privacy.erase` removed. */
export interface EraseReport {
  /** What the audit tombstone and the ledger keep. */
  subjectHash: string;
  /** The subject and the ids linked to it, here and in a shared store. */
  ids: number;
  /** Rows deleted or cleared here per table; `shared_*` for what a shared store kept. */
  counts: Record<string, number>;
  auditSeq: number;
  /** Whether the database was rewritten afterwards. */
  vacuumed: boolean;
  /** With a shared store: where the erasure stands on every engine sharing it. */
  rights?: Receipt;
}

/** What `privacy.anonymize` changed. */
export interface AnonymizeReport {
  ids: number;
  counts: Record<string, number>;
  auditSeq: number;
  vacuumed: boolean;
  /** With a shared store: where the anonymisation stands on every engine sharing it. */
  rights?: Receipt;
}

/** Options for `privacy.rectify`. */
export interface RectifyOptions {
  /** The correct user id. */
  userId: string;
  reason?: string;
  actor?: string;
  /** As for `EraseOptions.waitMs`. */
  waitMs?: number;
}

/** What `privacy.rectify` changed. */
export interface RectifyReport {
  /**
   * Rows renamed here per table (`sessions`: the old id's sessions, which end); in a shared store
   * also `shared_prefs` (values moved), `shared_consents` (decisions that now count for the new id)
   * and `shared_sessions` (sessions ended).
   */
  counts: Record<string, number>;
  /** With a shared store: where the rename stands on every engine sharing it. */
  rights?: Receipt;
}

/** An engine following a shared store's rights log. */
export interface Place {
  /** Random; kept in a durable engine's database, so a restored copy is the same place. */
  id: string;
  /** The database file's name, or `'memory'`. */
  label: string;
  /** A durable place (a file) is waited for until it applies or is retired; an ephemeral one (memory) is forgotten once silent. */
  durable: boolean;
  /** The last rights-log entry it applied. */
  position: string;
  /** When it last reported, on Redis's clock (ms). */
  lastSeen: number;
  /** Whether it reported within the last 30 s. */
  live: boolean;
  /** Whether it is the engine answering. */
  this: boolean;
}

/** Where one place stands on a right. */
export interface PlaceStatus extends Place {
  applied: boolean;
  /** What it did there, as it reported: `{ ids, counts }`. */
  counts?: { ids: number; counts: Record<string, number> };
}

/** Where a right exercised with a shared store stands. */
export interface Receipt {
  /** The rights-log entry: pass it to `privacy.receipt(id)` later. */
  id: string;
  kind: 'erase' | 'anonymize' | 'rectify' | 'withdraw';
  at: number;
  /** Every durable place and every live ephemeral place has applied it. */
  complete: boolean;
  places: PlaceStatus[];
}

/** What one `privacy.follow()` did. */
export interface Followed {
  /** Rights-log entries applied. */
  applied: number;
  /** Other engines' export requests answered. */
  answered: number;
  /** The last entry applied. */
  position: string;
}

/** One audit log entry. */
export interface AuditEntry {
  seq: number;
  at: number;
  actor: string;
  /** e.g. `'erase'`, `'export'`, `'consent.grant'`, `'retention.run'`, `'sessions.destroy_all'`. */
  action: string;
  /** `null` after erasure or anonymisation, or for actions about no one. */
  subject: string | null;
  subjectHash: string | null;
  details: Record<string, unknown>;
}

/** Which audit entries `privacy.audit` returns. */
export interface AuditQuery {
  subject?: string;
  action?: string;
  since?: number;
  until?: number;
  afterSeq?: number;
  /** 1 to 10000; default 100. */
  limit?: number;
}

/** A duration such as `'30d'`, `'13mo'`, `'3y'` or `'12h'`; `null` keeps forever. */
export type RetentionDuration = string | null;

/** How long each category is kept. */
export interface RetentionPolicy {
  events: RetentionDuration;
  sessions: RetentionDuration;
  audit: RetentionDuration;
  quarantine: RetentionDuration;
  outbox: RetentionDuration;
  consent: RetentionDuration;
}

/** What a retention run deleted (or with `dryRun`, would delete), per category. */
export interface RetentionReport {
  dryRun: boolean;
  ranAt: number;
  counts: Record<keyof RetentionPolicy, number>;
}

/** When retention runs: `privacy.retention.schedule()`. */
export interface RetentionSchedule {
  /** When this engine last ran it (ms); `null` before its first run since it opened. */
  lastRun: number | null;
  /** When it is due next (ms): it runs at the first write (or open) from then on. */
  nextRun: number;
  /** The interval between runs, ms (`privacy.retentionIntervalSecs`). */
  intervalMs: number;
}

/** Consent to one purpose under one policy version: `privacy.consentRates()`. */
export interface ConsentRate {
  purpose: string;
  policyVersion: string;
  /** Subjects whose current decision grants it. */
  granted: number;
  /** Subjects whose current decision refuses or withdraws it. */
  refused: number;
  /** `granted / (granted + refused)`, 0 to 1. */
  rate: number;
}
