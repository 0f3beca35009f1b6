-- Pages are scrubbed on their way to the file from this version on
-- (store::shim): a database created at this version is clean from its first
-- page, but one created before may still hold stale cell copies in its
-- pages' unused space, until one rewrite. `pages_scrubbed` says which:
-- '0' here, '1' once a new database is created or erasure has rewritten it.
INSERT INTO meta (key, value) VALUES ('pages_scrubbed', '0')
  ON CONFLICT (key) DO UPDATE SET value = '0';

-- Erasure and export find a subject's ledger rows by the salted hash, which
-- stays once the subject is cleared: an index, so that costs the subject's
-- rows and not a scan of the whole ledger.
CREATE INDEX consent_ledger_by_subject_hash ON consent_ledger (subject_hash);
