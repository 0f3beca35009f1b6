//! The audit log: every data-subject request and privacy action, appended
//! to a hash chain.

use rusqlite::{params, Connection};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::chain::{self, ChainReport};
use super::subject_hash as subject;
use crate::error::{Error, Result};

const TABLE: &str = "audit_log";

/// One audit entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    /// Its place in the log, from 1.
    pub seq: i64,
    /// When, in ms since the epoch.
    pub at: i64,
    /// Who did it, as the host named them.
    pub actor: String,
    /// What, such as `erase` or `consent.grant`.
    pub action: String,
    /// About whom; `None` once the subject was erased or anonymised, or for
    /// actions about no one (retention runs).
    pub subject: Option<String>,
    /// The subject's salted hash, which stays after erasure.
    pub subject_hash: Option<String>,
    /// Counts and other details, as JSON.
    pub details: Value,
}

/// Which entries `query` returns.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuditFilter {
    /// Only entries about this subject (also found by hash after erasure).
    pub subject: Option<String>,
    /// Only this action.
    pub action: Option<String>,
    /// From this time (inclusive).
    pub since: Option<i64>,
    /// Until this time (exclusive).
    pub until: Option<i64>,
    /// Only entries after this `seq`, for paging.
    pub after_seq: Option<i64>,
    /// At most this many, 1 to 10,000 (default 100).
    pub limit: Option<u32>,
}

/// The audit log of one database, with the chain key its rows are linked
/// under (if the engine has one).
#[derive(Clone, Copy)]
pub struct Log<'a> {
    conn: &'a Connection,
    key: Option<&'a [u8]>,
}

impl<'a> Log<'a> {
    /// The log on `conn`; rows are linked under `key` when it is given.
    pub fn new(conn: &'a Connection, key: Option<&'a [u8]>) -> Self {
        Self { conn, key }
    }

    /// Appends an entry. `subject` is hashed with the database's salt; pass
    /// `keep_subject: false` to record only the hash (after erasure).
    pub fn append(
        &self,
        at: i64,
        actor: &str,
        action: &str,
        subject: Option<&str>,
        keep_subject: bool,
        details: &Value,
    ) -> Result<i64> {
        let subject_hash = match subject {
            Some(s) => Some(subject::hash(&subject::salt(self.conn)?, s)),
            None => None,
        };
        self.append_hashed(
            at,
            actor,
            action,
            subject.filter(|_| keep_subject),
            subject_hash.as_deref(),
            details,
        )
    }

    /// [`Log::append`] for an entry about `subject` whose `personal`
    /// details (a JSON object: a session id, say) must go when the subject
    /// is erased. They are kept apart from `details`; the chain covers a
    /// salted digest of them (`personalDigest` in the stored details), so
    /// erasure clears them and the chain still verifies, and an edit of
    /// them is found.
    pub fn append_personal(
        &self,
        at: i64,
        actor: &str,
        action: &str,
        subject: &str,
        details: &Value,
        personal: &Value,
    ) -> Result<i64> {
        let salt = subject::salt(self.conn)?;
        let personal = personal.to_string();
        let mut details = details.clone();
        if let Value::Object(m) = &mut details {
            m.insert("personalDigest".into(), digest(&salt, &personal).into());
        }
        self.insert(
            at,
            actor,
            action,
            Some(subject),
            Some(&subject::hash(&salt, subject)),
            &details,
            Some(&personal),
        )
    }

    /// [`Log::append`] with the hash already made.
    pub fn append_hashed(
        &self,
        at: i64,
        actor: &str,
        action: &str,
        subject: Option<&str>,
        subject_hash: Option<&str>,
        details: &Value,
    ) -> Result<i64> {
        self.insert(at, actor, action, subject, subject_hash, details, None)
    }

    #[allow(clippy::too_many_arguments)]
    fn insert(
        &self,
        at: i64,
        actor: &str,
        action: &str,
        subject: Option<&str>,
        subject_hash: Option<&str>,
        details: &Value,
        personal: Option<&str>,
    ) -> Result<i64> {
        let conn = self.conn;
        let head = chain::head(conn, TABLE)?;
        let seq = head.seq + 1;
        let details = details.to_string();
        let f = fields(seq, at, actor, action, subject_hash, &details);
        let refs: Vec<&str> = f.iter().map(String::as_str).collect();
        let key = chain::key_for_append(conn, TABLE, seq, self.key)?;
        let hash = chain::link(key, &head.hash, &refs);
        conn.prepare_cached(
            "INSERT INTO audit_log (seq, at, actor, action, subject, subject_hash, details, prev_hash, hash, personal) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )?
        .execute(params![seq, at, actor, action, subject, subject_hash, details, head.hash, hash, personal])?;
        chain::set_head(conn, TABLE, &chain::Mark { seq, hash })?;
        Ok(seq)
    }

    /// The newest entry's `seq` and hash, to keep outside the database and
    /// check the log against later.
    pub fn head(&self) -> Result<chain::Mark> {
        chain::head(self.conn, TABLE)
    }

    /// Checks the whole log: links, hashes, both ends, that each subject
    /// still matches its hash, and, with `anchor`, that it still holds the
    /// head recorded outside the database.
    pub fn verify(&self, anchor: Option<&chain::Mark>) -> Result<ChainReport> {
        let conn = self.conn;
        let salt = subject::salt(conn)?;
        let mut stmt = conn.prepare(
            "SELECT seq, at, actor, action, subject, subject_hash, details, prev_hash, hash, personal \
             FROM audit_log ORDER BY seq",
        )?;
        let rows = stmt.query_map([], |r| {
            let seq: i64 = r.get(0)?;
            let at: i64 = r.get(1)?;
            let actor: String = r.get(2)?;
            let action: String = r.get(3)?;
            let subject: Option<String> = r.get(4)?;
            let subject_hash: Option<String> = r.get(5)?;
            let details: String = r.get(6)?;
            let personal: Option<String> = r.get(9)?;
            let f = fields(seq, at, &actor, &action, subject_hash.as_deref(), &details);
            let other = match (&subject, &subject_hash) {
                (Some(s), Some(h)) if subject::hash(&salt, s) != *h => {
                    Some("the subject does not match its hash".to_owned())
                }
                (Some(_), None) => Some("a subject without a hash".to_owned()),
                _ => personal.and_then(|p| {
                    let recorded = serde_json::from_str::<Value>(&details)
                        .ok()
                        .and_then(|d| d.get("personalDigest").cloned());
                    (recorded != Some(Value::String(digest(&salt, &p))))
                        .then(|| "the personal details were edited".to_owned())
                }),
            };
            Ok((seq, r.get(7)?, r.get(8)?, f.to_vec(), other))
        })?;
        chain::verify(
            conn,
            TABLE,
            self.key,
            anchor,
            rows.map(|r| r.map_err(Error::from)),
        )
    }
}

/// The salted digest of an entry's personal details.
fn digest(salt: &str, personal: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"usertrail audit personal\0");
    h.update(salt.as_bytes());
    h.update([0]);
    h.update(personal.as_bytes());
    crate::kernel::ids::hex(&h.finalize())
}

/// The details as shown: the stored details without the digest, with the
/// personal details (while they are kept) merged in.
fn shown(details: String, personal: Option<String>) -> Value {
    let mut v = serde_json::from_str(&details).unwrap_or(Value::String(details));
    if let Value::Object(m) = &mut v {
        m.remove("personalDigest");
        if let Some(Value::Object(p)) = personal.and_then(|p| serde_json::from_str(&p).ok()) {
            m.extend(p);
        }
    }
    v
}

fn fields<'a>(
    seq: i64,
    at: i64,
    actor: &'a str,
    action: &'a str,
    subject_hash: Option<&'a str>,
    details: &'a str,
) -> [String; 6] {
    [
        seq.to_string(),
        at.to_string(),
        actor.to_owned(),
        action.to_owned(),
        subject_hash.unwrap_or("").to_owned(),
        details.to_owned(),
    ]
}

/// Entries matching `filter`, oldest first. `hashes`, a JSON array of
/// `[hash, until]` pairs, stands for `filter.subject`: the hashes its
/// entries may carry, each up to a time or `null` (the caller resolves
/// linked ids and earlier names, which count until they were renamed away).
pub fn query(
    conn: &Connection,
    filter: &AuditFilter,
    hashes: Option<String>,
) -> Result<Vec<AuditEntry>> {
    let limit = filter.limit.unwrap_or(100);
    if !(1..=10_000).contains(&limit) {
        return Err(Error::invalid("limit", "must be 1 to 10000"));
    }
    if let (Some(s), Some(u)) = (filter.since, filter.until) {
        if u < s {
            return Err(Error::invalid("until", "must not be before since"));
        }
    }
    let mut stmt = conn.prepare_cached(
        "SELECT seq, at, actor, action, subject, subject_hash, details, personal FROM audit_log \
         WHERE (?1 IS NULL OR (subject_hash IN (SELECT value ->> 0 FROM json_each(?1)) AND at <= \
           coalesce((SELECT value ->> 1 FROM json_each(?1) WHERE value ->> 0 = subject_hash), \
           9223372036854775807))) \
           AND (?2 IS NULL OR action = ?2) AND (?3 IS NULL OR at >= ?3) \
           AND (?4 IS NULL OR at < ?4) AND seq > ?5 ORDER BY seq LIMIT ?6",
    )?;
    let rows = stmt.query_map(
        params![
            hashes,
            filter.action,
            filter.since,
            filter.until,
            filter.after_seq.unwrap_or(0),
            limit
        ],
        |r| {
            Ok(AuditEntry {
                seq: r.get(0)?,
                at: r.get(1)?,
                actor: r.get(2)?,
                action: r.get(3)?,
                subject: r.get(4)?,
                subject_hash: r.get(5)?,
                details: shown(r.get(6)?, r.get(7)?),
            })
        },
    )?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
