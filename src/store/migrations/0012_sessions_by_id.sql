-- Schema version 12: sessions kept by their id, WITHOUT ROWID.
--
-- A token names its session (`<slot>.<session id>.<secret>`), so a lookup
-- is one descent of the table by its key, with the secret's hash checked
-- against the row; a create writes the table, the expiry index and, for a
-- user's session, the user index: two B-trees fewer than version 2's rowid
-- table with unique indexes on the session id and the token hash.
--
-- Tokens of the first format (the secret alone) name no session: they are
-- found by their hash through an index that holds only the sessions this
-- migration carried over (`first_format`), since only those can have one.
-- A session's token changes (rotation, login) to the current format, which
-- takes it out of that index.
CREATE TABLE sessions_by_id (
    session_id          TEXT PRIMARY KEY,
    token_hash          BLOB NOT NULL,
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
    data                TEXT,
    sealed              BLOB,
    key_id              TEXT,
    version             INTEGER NOT NULL DEFAULT 0,
    first_format        INTEGER NOT NULL DEFAULT 0,
    CHECK ((data IS NULL) <> (sealed IS NULL)),
    CHECK ((sealed IS NULL) = (key_id IS NULL))
) STRICT, WITHOUT ROWID;

INSERT INTO sessions_by_id (session_id, token_hash, user_id, created_at, last_seen_at,
    idle_timeout_ms, idle_expires_at, absolute_expires_at, ip_masked, browser, os, device,
    fingerprint, data, sealed, key_id, version, first_format)
SELECT session_id, token_hash, user_id, created_at, last_seen_at, idle_timeout_ms,
    idle_expires_at, absolute_expires_at, ip_masked, browser, os, device, fingerprint, data,
    sealed, key_id, version, 1
FROM sessions;

DROP TABLE sessions;
ALTER TABLE sessions_by_id RENAME TO sessions;

CREATE INDEX sessions_by_user ON sessions (user_id, last_seen_at) WHERE user_id IS NOT NULL;
-- idle_expires_at is kept at or before absolute_expires_at, so it alone says
-- when a session expires, and one index serves the sweep.
CREATE INDEX sessions_by_expiry ON sessions (idle_expires_at);
CREATE INDEX sessions_first_format ON sessions (token_hash) WHERE first_format;
