-- Schema version 16: whether a rights-log tombstone reaches an id's events
-- as a user (as_user = 1: the erased subject's own names) or only those
-- without a user id (0: an anonymous id linked to the subject). Ids are
-- free text, so a linked id's text can also be another user's user id, and
-- that user's events still in flight must not be dropped with the erased
-- subject's. Tombstones kept before this version reach both, as they did.
ALTER TABLE rights_tombstones ADD COLUMN as_user INTEGER NOT NULL DEFAULT 1;
