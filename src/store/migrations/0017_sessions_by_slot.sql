-- Schema version 17: sessions kept by (slot, session id), WITHOUT ROWID,
-- with no other index but the one for first-format tokens.
--
-- A token names its slot and its session (`<slot>.<session id>.<secret>`),
-- so a lookup is still one descent of the table by its key. A user's
-- sessions all have the user's slot (`u` and 16 hex digits of a hash of the
-- user id), so they are one range of the key: listing them, ending them all
-- and evicting the least recently used read that range, where version 12
-- kept an index by (user, last seen) beside the table. Expired sessions are
-- swept by walking the table in key order, a bounded stretch at a time
-- from where the last sweep stopped, where version 12 kept an index by
-- expiry. So a create writes one B-tree instead of three, and so does a
-- validate that slides the idle deadline: with `durability: 'normal'` each
-- B-tree a commit touches is at least a page appended to the log
-- (docs/PERFORMANCE.md). An anonymous session's slot is `a` and the first
-- 8 characters of its id; binding it to a user (a login) moves it into the
-- user's slot.
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

CREATE INDEX sessions_first_format ON sessions (token_hash) WHERE first_format;
