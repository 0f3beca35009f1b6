-- Schema version 21: each packed block's events' dimensions (see
-- src/tracking/dims.rs): the distinct `dimensions` texts of its events and,
-- per event in id order, which one it holds, which a breakdown by a
-- dimension (eventBreakdown, funnel, retention) reads instead of the
-- events' rows. Written with the block (and, for the blocks packed before
-- this version, by ingest, `tracking.packBlocks()` and `usertrail migrate`,
-- which read them from the events); a block without them has its events'
-- dimensions read from their rows.
CREATE TABLE event_block_dims (
    first_id INTEGER PRIMARY KEY,   -- the block's
    data     BLOB NOT NULL          -- the dimensions, packed
) STRICT;

-- Gone with the block, in the same statement: when its row is deleted (an
-- event in it deleted or changed, erasure, retention: the values go too)
-- or its bytes are written again (packed again: new ones follow).
CREATE TRIGGER event_block_dims_after_block_delete AFTER DELETE ON event_blocks BEGIN
    DELETE FROM event_block_dims WHERE first_id = OLD.first_id;
END;
CREATE TRIGGER event_block_dims_after_block_update AFTER UPDATE OF first_id, data ON event_blocks BEGIN
    DELETE FROM event_block_dims WHERE first_id = OLD.first_id;
END;
-- A block keeps no dimensions, so a change of an event's dimensions alone
-- leaves the block and drops only what is kept beside it of them.
CREATE TRIGGER event_block_dims_after_event_update AFTER UPDATE OF dimensions ON events BEGIN
    DELETE FROM event_block_dims WHERE first_id = ((OLD.id - 1) / 4096) * 4096 + 1;
END;
