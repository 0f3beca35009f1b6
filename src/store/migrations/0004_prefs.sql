-- Schema version 4: user preferences.
CREATE TABLE pref_definitions (
    key           TEXT PRIMARY KEY NOT NULL,
    category      TEXT NOT NULL,
    definition    TEXT NOT NULL                -- JSON: type, default and constraints
) STRICT, WITHOUT ROWID;

-- Values a subject (a user id or an anonymous id) has set. A key absent here
-- has its definition's current default.
CREATE TABLE prefs (
    subject    TEXT NOT NULL,
    key        TEXT NOT NULL,
    value      TEXT NOT NULL,                  -- JSON
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (subject, key)
) STRICT, WITHOUT ROWID;

-- Every change: the rectification trail.
CREATE TABLE pref_history (
    id        INTEGER PRIMARY KEY,
    subject   TEXT NOT NULL,
    key       TEXT NOT NULL,
    old_value TEXT,                            -- JSON; NULL: was the default
    new_value TEXT,                            -- JSON; NULL: back to the default
    at        INTEGER NOT NULL,
    source    TEXT NOT NULL
) STRICT;
CREATE INDEX pref_history_by_subject ON pref_history (subject, id);

INSERT INTO pref_definitions (key, category, definition) VALUES
 ('appearance.theme', 'appearance', '{"type":"enum","values":["light","dark","system"],"default":"system","description":"Colour scheme"}'),
 ('locale.language', 'locale', '{"type":"string","format":"bcp47","maxLength":35,"default":"en","description":"Language, as a BCP 47 tag"}'),
 ('locale.timezone', 'locale', '{"type":"string","format":"timezone","maxLength":64,"default":"UTC","description":"IANA time zone"}'),
 ('notifications.email', 'notifications', '{"type":"bool","default":true,"description":"Email notifications"}'),
 ('notifications.push', 'notifications', '{"type":"bool","default":false,"description":"Push notifications"}'),
 ('notifications.digest', 'notifications', '{"type":"enum","values":["off","daily","weekly"],"default":"weekly","description":"Digest frequency"}'),
 ('privacy.analytics', 'privacy', '{"type":"bool","default":false,"description":"Allow on-device analytics"}'),
 ('privacy.personalization', 'privacy', '{"type":"bool","default":false,"description":"Allow personalization"}'),
 ('privacy.marketing', 'privacy', '{"type":"bool","default":false,"description":"Allow marketing"}');
