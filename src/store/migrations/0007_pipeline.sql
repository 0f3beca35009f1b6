-- The analytics pipeline: a partition's erasures, kept so that events of an
-- erased subject still in flight (produced before the erasure) are dropped
-- when they arrive. Only the subject's salted hash is kept.
CREATE TABLE pipeline_tombstones (
  subject_hash TEXT PRIMARY KEY,
  erased_at INTEGER NOT NULL
) STRICT;
