-- Schema version 11: rights that hold across a deployment.
--
-- Audit entries keep what is personal in their details (a session id, say)
-- apart from the details themselves: the chain covers the details and a
-- salted digest of the personal part, so erasure can clear the personal
-- part and the chain still verifies.
ALTER TABLE audit_log ADD COLUMN personal TEXT;

-- Erasures applied from a shared store's rights log, by the store-salted
-- hash of each id erased (the same hash in every engine sharing the
-- store), with the erasure's time by the erasing engine's clock
-- (erased_at) and by the store's, when the log took it (logged_at): a
-- partition drops events of an erased id that arrive later but were
-- produced before the first, or appended to its stream before the second.
-- Nothing but the hash is kept.
CREATE TABLE rights_tombstones (
  store_hash TEXT PRIMARY KEY,
  erased_at INTEGER NOT NULL,
  logged_at INTEGER NOT NULL
) STRICT;

-- Ids a rename in the rights log would have moved, but whose new name the
-- log could no longer tell (it was erased, and its sealing key destroyed,
-- before this engine caught up): by the new name's store hash, so that the
-- erasure that follows in the log reaches them.
CREATE TABLE rights_aliases (
  store_hash TEXT NOT NULL,
  id TEXT NOT NULL,
  PRIMARY KEY (store_hash, id)
) STRICT;
