-- Schema version 20: each packed block's events by name (see
-- src/tracking/names.rs): per name, its events' times, users, bot flags
-- and sample rates, and a row of the empty name listing the block's names,
-- which a funnel reads instead of a block wholly inside its window.
-- Written with the block (and, for the blocks packed before this version,
-- by ingest, `tracking.packBlocks()` and `usertrail migrate`, which read
-- them from the block's bytes); a block without its list is read whole.
CREATE TABLE event_block_names (
    first_id INTEGER NOT NULL,      -- the block's
    name     TEXT NOT NULL,         -- an event name, or '' for the list
    data     BLOB NOT NULL,         -- the events, packed
    PRIMARY KEY (first_id, name)
) STRICT;

-- Gone with the block, in the same statement: when its row is deleted (an
-- event in it deleted or changed, erasure, retention: the users' keys go
-- too) or its bytes are written again (packed again: new rows follow).
CREATE TRIGGER event_block_names_after_block_delete AFTER DELETE ON event_blocks BEGIN
    DELETE FROM event_block_names WHERE first_id = OLD.first_id;
END;
CREATE TRIGGER event_block_names_after_block_update AFTER UPDATE OF first_id, data ON event_blocks BEGIN
    DELETE FROM event_block_names WHERE first_id = OLD.first_id;
END;
