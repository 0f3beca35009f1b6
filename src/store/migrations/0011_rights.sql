-- Schema version 11: rights that hold across a deployment.
--
-- Audit entries keep what is personal in their details (a session id, say)
-- apart from the details themselves: the chain covers the details and a
-- salted digest of the personal part, so erasure can clear the personal
-- part and the chain still verifies.
ALTER TABLE audit_log ADD COLUMN personal TEXT;

-- Erasures applied from a shared store's rights log, by the store-salted
-- hash of each id erased (the same hash in every engine sharing the
-- store), with the erasure's time: a partition drops events of an erased
-- id produced before it that arrive later. Nothing but the hash is kept.
CREATE TABLE rights_tombstones (
  store_hash TEXT PRIMARY KEY,
  erased_at INTEGER NOT NULL
) STRICT;
