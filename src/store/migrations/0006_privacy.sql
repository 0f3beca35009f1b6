-- Schema version 6: consent, the audit log and retention.

-- Each subject's current decision per purpose, as the ledger last recorded
-- it. Gating reads this; the ledger is the proof.
CREATE TABLE consents (
    subject        TEXT NOT NULL,
    purpose        TEXT NOT NULL,
    granted        INTEGER NOT NULL,           -- 0 or 1
    policy_version TEXT NOT NULL,
    source         TEXT NOT NULL,
    at             INTEGER NOT NULL,
    seq            INTEGER NOT NULL,           -- the ledger row that decided it
    PRIMARY KEY (subject, purpose)
) STRICT, WITHOUT ROWID;

-- Append-only, hash-chained record of every consent decision. The chain
-- covers subject_hash and details_hash, not the raw subject, IP and user
-- agent, so erasure can clear those and the chain still verifies.
CREATE TABLE consent_ledger (
    seq            INTEGER PRIMARY KEY,
    at             INTEGER NOT NULL,
    subject        TEXT,                       -- NULL once erased or anonymised
    subject_hash   TEXT NOT NULL,              -- salted SHA-256, hex
    action         TEXT NOT NULL,              -- grant, withdraw, gpc
    purposes       TEXT NOT NULL,              -- JSON array
    policy_version TEXT NOT NULL,
    source         TEXT NOT NULL,
    text_hash      TEXT,                       -- SHA-256 of the text shown, hex
    ip_masked      TEXT,
    user_agent     TEXT,
    details_hash   TEXT NOT NULL,              -- SHA-256 of subject, IP and user agent
    prev_hash      TEXT NOT NULL,
    hash           TEXT NOT NULL
) STRICT;
CREATE INDEX consent_ledger_by_subject ON consent_ledger (subject) WHERE subject IS NOT NULL;

-- Append-only, hash-chained log of data-subject requests and privacy actions.
CREATE TABLE audit_log (
    seq          INTEGER PRIMARY KEY,
    at           INTEGER NOT NULL,
    actor        TEXT NOT NULL,
    action       TEXT NOT NULL,
    subject      TEXT,                         -- NULL once erased or anonymised
    subject_hash TEXT,                         -- salted SHA-256, hex; NULL: no subject
    details      TEXT NOT NULL,                -- JSON: counts, reason, ...
    prev_hash    TEXT NOT NULL,
    hash         TEXT NOT NULL
) STRICT;
CREATE INDEX audit_log_by_subject_hash ON audit_log (subject_hash) WHERE subject_hash IS NOT NULL;
CREATE INDEX audit_log_by_at ON audit_log (at);

-- Retention deletes quarantined events by age.
CREATE INDEX quarantine_by_received ON quarantine (received_at);
