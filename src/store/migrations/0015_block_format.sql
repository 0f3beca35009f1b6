-- Schema version 15: each block's format (see src/tracking/blocks.rs), so
-- that blocks packed before types were kept (format 1) are found without
-- reading their bytes and packed again: by `tracking.packBlocks()` and
-- `usertrail migrate`, and one at each ingest that completes a block. Until
-- then they are read as they are, and a query filtered by type over them
-- reads the events' rows. Every existing block is marked 1 here (its bytes
-- are not read); one whose bytes are of format 2 already (packed by a build
-- from just before this version) is only marked again when its turn comes.
-- The column's default leaves the existing rows as they are stored (no
-- rewrite of the table); the index holds only the blocks still to pack.
ALTER TABLE event_blocks ADD COLUMN format INTEGER NOT NULL DEFAULT 1;
CREATE INDEX event_blocks_to_repack ON event_blocks (first_id) WHERE format < 2;
