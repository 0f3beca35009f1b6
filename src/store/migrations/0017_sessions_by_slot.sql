-- Schema version 17: sessions kept by (slot, session id), WITHOUT ROWID,
-- with no index by user.
--
-- A token names its slot and its session (`<slot>.<session id>.<secret>`),
-- so a lookup is still one descent of the table by its key. A user's
-- sessions all have the user's slot (`u` and 16 hex digits of a hash of the
-- user id), so they are one range of the key: listing them, ending them all
-- and evicting the least recently used read that range, where version 12
-- kept an index by (user, last seen) beside the table. A create then writes
-- two B-trees instead of three, and a validate that slides the idle
-- deadline one less: with `durability: 'normal'` each B-tree a commit
-- touches is a page appended to the log, so a create wrote three or four
-- pages for the peer's one (docs/PERFORMANCE.md). An anonymous session's
-- slot is `a` and the first 8 characters of its id; binding it to a user
-- (a login) moves it into the user's slot.
--
-- The slot of a user's session is computed by `usertrail_subject_slot`,
-- which the migration registers (store::remote::subject_slot).
CREATE TABLE sessions_by_slot (
    slot                TEXT NOT NULL,
    session_id          TEXT NOT NULL,
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
    PRIMARY KEY (slot, session_id),
    CHECK ((data IS NULL) <> (sealed IS NULL)),
    CHECK ((sealed IS NULL) = (key_id IS NULL))
) STRICT, WITHOUT ROWID;

INSERT INTO sessions_by_slot (slot, session_id, token_hash, user_id, created_at, last_seen_at,
    idle_timeout_ms, idle_expires_at, absolute_expires_at, ip_masked, browser, os, device,
    fingerprint, data, sealed, key_id, version, first_format)
SELECT CASE WHEN user_id IS NULL THEN 'a' || substr(session_id, 1, 8)
            ELSE usertrail_subject_slot(user_id) END,
    session_id, token_hash, user_id, created_at, last_seen_at, idle_timeout_ms,
    idle_expires_at, absolute_expires_at, ip_masked, browser, os, device, fingerprint, data,
    sealed, key_id, version, first_format
FROM sessions;

DROP TABLE sessions;
ALTER TABLE sessions_by_slot RENAME TO sessions;

-- idle_expires_at is kept at or before absolute_expires_at, so it alone says
-- when a session expires, and one index serves the sweep.
CREATE INDEX sessions_by_expiry ON sessions (idle_expires_at);
CREATE INDEX sessions_first_format ON sessions (token_hash) WHERE first_format;
