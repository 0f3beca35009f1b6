-- Schema version 2: server-side sessions.
-- A session is found by the SHA-256 of its token (the token itself is never
-- stored) and named by a separate, non-secret session_id.
-- A rowid table: new sessions append at the end of the table instead of
-- landing at random places in it, so a create touches fewer pages.
CREATE TABLE sessions (
    id                  INTEGER PRIMARY KEY,
    session_id          TEXT NOT NULL UNIQUE,
    token_hash          BLOB NOT NULL UNIQUE,
    user_id             TEXT,
    created_at          INTEGER NOT NULL,
    last_seen_at        INTEGER NOT NULL,
    idle_timeout_ms     INTEGER NOT NULL,
    idle_expires_at     INTEGER NOT NULL,
    absolute_expires_at INTEGER NOT NULL,
    ip_masked           TEXT,
    browser             TEXT NOT NULL,
    os                  TEXT NOT NULL,
    device              TEXT NOT NULL,
    fingerprint         BLOB,
    -- The state: plaintext JSON in data, or sealed bytes in sealed with the
    -- id of the key that sealed them. Exactly one of data and sealed is set.
    data                TEXT,
    sealed              BLOB,
    key_id              TEXT,
    version             INTEGER NOT NULL DEFAULT 0,
    CHECK ((data IS NULL) <> (sealed IS NULL)),
    CHECK ((sealed IS NULL) = (key_id IS NULL))
) STRICT;

CREATE INDEX sessions_by_user ON sessions (user_id, last_seen_at) WHERE user_id IS NOT NULL;
-- idle_expires_at is kept at or before absolute_expires_at, so it alone says
-- when a session expires, and one index serves the sweep.
CREATE INDEX sessions_by_expiry ON sessions (idle_expires_at);
