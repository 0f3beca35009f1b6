-- Schema version 5: analytics rollups and experiments.

-- One row per user (or anonymous visitor) per UTC hour with events, kept up
-- to date at ingest. Active users, retention and stickiness read this instead
-- of the events when a query has no filters.
CREATE TABLE rollup_user_hours (
    hour     INTEGER NOT NULL,                 -- floor(ts / 3600000)
    user_key TEXT NOT NULL,                    -- COALESCE(user_id, anonymous_id)
    events   INTEGER NOT NULL,
    weight   REAL NOT NULL,                    -- sum of 1 / sample_rate
    max_rate REAL NOT NULL,                    -- highest sample rate seen
    PRIMARY KEY (hour, user_key)
) STRICT, WITHOUT ROWID;
CREATE INDEX rollup_user_hours_by_user ON rollup_user_hours (user_key);

INSERT INTO rollup_user_hours (hour, user_key, events, weight, max_rate)
SELECT ts / 3600000 - (ts % 3600000 < 0), COALESCE(user_id, anonymous_id),
       COUNT(*), SUM(1.0 / sample_rate), MAX(sample_rate)
FROM events
WHERE COALESCE(user_id, anonymous_id) IS NOT NULL
GROUP BY 1, 2;

-- Experiments and their variants, as JSON [{name, weight}]; the first is the control.
CREATE TABLE experiments (
    key        TEXT PRIMARY KEY NOT NULL,
    variants   TEXT NOT NULL,
    created_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- Who saw which variant, first assigned when.
CREATE TABLE experiment_assignments (
    key         TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    variant     TEXT NOT NULL,
    assigned_at INTEGER NOT NULL,
    PRIMARY KEY (key, user_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX experiment_assignments_by_user ON experiment_assignments (user_id);
