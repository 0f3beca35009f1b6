-- Schema version 13: the events in a persisted column form, for analytics
-- (see src/tracking/blocks.rs). Block k holds event ids k * 4096 + 1 to
-- (k + 1) * 4096, packed at ingest once its range is complete.
CREATE TABLE event_blocks (
    first_id INTEGER PRIMARY KEY,   -- k * 4096 + 1
    events   INTEGER NOT NULL,      -- events in it (fewer than 4096 after deletes)
    min_ts   INTEGER,               -- the earliest event time in it, ms (NULL when empty)
    max_ts   INTEGER,               -- the latest
    data     BLOB NOT NULL          -- the packed columns
) STRICT;
-- The blocks of a time window; also what counting and listing blocks read
-- (a few small pages, where the table's pages hold the packed bytes).
CREATE INDEX event_blocks_by_time ON event_blocks (max_ts, min_ts);

-- A block is dropped, in the same statement, when an event in it is
-- deleted or changed in a column it holds; the next ingest packs it again.
-- (Ids are reused once the newest events are deleted: ingest drops the
-- blocks a new event could land in before it inserts, once per call, where
-- a trigger on INSERT would cost a probe per event.)
CREATE TRIGGER event_blocks_after_delete AFTER DELETE ON events BEGIN
    DELETE FROM event_blocks WHERE first_id = ((OLD.id - 1) / 4096) * 4096 + 1;
END;
CREATE TRIGGER event_blocks_after_update
AFTER UPDATE OF id, ts, user_id, anonymous_id, session_id, name, type, path, url, sample_rate, device
ON events BEGIN
    DELETE FROM event_blocks WHERE first_id = ((OLD.id - 1) / 4096) * 4096 + 1;
    DELETE FROM event_blocks WHERE first_id = ((NEW.id - 1) / 4096) * 4096 + 1;
END;
