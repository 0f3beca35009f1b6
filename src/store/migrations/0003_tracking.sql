-- Schema version 3: activity tracking.
CREATE TABLE events (
    id           INTEGER PRIMARY KEY,          -- insertion order, the cursor's tiebreak
    event_id     TEXT NOT NULL UNIQUE,         -- UUIDv7, also the idempotency key
    ts           INTEGER NOT NULL,
    type         TEXT NOT NULL,
    name         TEXT NOT NULL,
    user_id      TEXT,
    anonymous_id TEXT,
    session_id   TEXT,
    url          TEXT,
    path         TEXT,
    referrer     TEXT,
    properties   TEXT NOT NULL,                -- a JSON object
    dimensions   TEXT,                         -- a JSON object of registered dimensions
    ip_masked    TEXT,
    browser      TEXT,
    os           TEXT,
    device       TEXT,
    user_agent   TEXT,                         -- raw, only when the config allows it
    sample_rate  REAL NOT NULL,
    received_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX events_by_ts ON events (ts);
CREATE INDEX events_by_user ON events (user_id, ts) WHERE user_id IS NOT NULL;
CREATE INDEX events_by_anonymous ON events (anonymous_id, ts) WHERE anonymous_id IS NOT NULL;
CREATE INDEX events_by_session ON events (session_id, ts) WHERE session_id IS NOT NULL;

-- Anonymous ids linked to users by identify().
CREATE TABLE identities (
    anonymous_id TEXT PRIMARY KEY NOT NULL,
    user_id      TEXT NOT NULL,
    linked_at    INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX identities_by_user ON identities (user_id);

-- defineEvent() and defineDimension().
CREATE TABLE event_schemas (
    name   TEXT PRIMARY KEY NOT NULL,
    schema TEXT NOT NULL                       -- JSON
) STRICT, WITHOUT ROWID;
CREATE TABLE dimensions (
    name TEXT PRIMARY KEY NOT NULL,
    type TEXT NOT NULL
) STRICT, WITHOUT ROWID;

-- Events that failed their schema in quarantine mode.
CREATE TABLE quarantine (
    id          INTEGER PRIMARY KEY,
    event_id    TEXT NOT NULL UNIQUE,
    received_at INTEGER NOT NULL,
    code        TEXT NOT NULL,
    field       TEXT,
    reason      TEXT NOT NULL,
    event       TEXT NOT NULL                  -- the input, as JSON
) STRICT;

-- Events queued for the app's own collector.
CREATE TABLE outbox (
    id           INTEGER PRIMARY KEY,
    event_id     TEXT NOT NULL,
    event        TEXT NOT NULL,                -- JSON, as history returns it
    attempts     INTEGER NOT NULL DEFAULT 0,
    available_at INTEGER NOT NULL,
    lease_id     TEXT,
    lease_until  INTEGER
) STRICT;
CREATE INDEX outbox_by_lease ON outbox (lease_id) WHERE lease_id IS NOT NULL;

-- Named counters (outbox drops, ...).
CREATE TABLE counters (
    name  TEXT PRIMARY KEY NOT NULL,
    value INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
