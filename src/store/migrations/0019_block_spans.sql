-- Schema version 19: each packed block's sessions in short (see
-- src/tracking/spans.rs): for every session of the block's events that are
-- not bots', its first and last time and highest sample rate, which
-- `sessionDurations` reads instead of a block wholly inside its window.
-- Written with the block (and, for the blocks packed before this version,
-- by ingest, `tracking.packBlocks()` and `usertrail migrate`, which read
-- them from the block's bytes); a block without them is read whole.
CREATE TABLE event_block_spans (
    first_id INTEGER PRIMARY KEY,   -- the block's
    data     BLOB NOT NULL          -- the sessions, packed
) STRICT;

-- Gone with the block, in the same statement: when its row is deleted (an
-- event in it deleted or changed, erasure, retention: the session ids go
-- too) or its bytes are written again (packed again: new spans follow).
CREATE TRIGGER event_block_spans_after_block_delete AFTER DELETE ON event_blocks BEGIN
    DELETE FROM event_block_spans WHERE first_id = OLD.first_id;
END;
CREATE TRIGGER event_block_spans_after_block_update AFTER UPDATE OF first_id, data ON event_blocks BEGIN
    DELETE FROM event_block_spans WHERE first_id = OLD.first_id;
END;
