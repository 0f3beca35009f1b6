//! The pseudonym that stands for a subject in hash-chained logs: a salted
//! SHA-256 of the id, with a random salt per database kept in `meta`. It is
//! what is left of a subject after erasure.

use rusqlite::{Connection, OptionalExtension};
use sha2::{Digest, Sha256};

use crate::error::Result;
use crate::kernel::ids::{hex, random_bytes};

/// This database's salt for subject hashes, made on first use.
pub fn salt(conn: &Connection) -> Result<String> {
    let found: Option<String> = conn
        .prepare_cached("SELECT value FROM meta WHERE key = 'privacy.salt'")?
        .query_row([], |r| r.get(0))
        .optional()?;
    if let Some(s) = found {
        return Ok(s);
    }
    let salt = hex(&random_bytes::<32>());
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('privacy.salt', ?1)",
        [&salt],
    )?;
    Ok(salt)
}

/// The salted hash that stands for `subject` in the ledger and the audit.
pub fn hash(salt: &str, subject: &str) -> String {
    let mut h = Sha256::new();
    h.update(salt.as_bytes());
    h.update([0]);
    h.update(subject.as_bytes());
    hex(&h.finalize())
}
