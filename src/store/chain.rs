//! Hash chains: the consent ledger and the audit log are append-only, and
//! each row carries the hash of the one before it.
//!
//! A row's hash is SHA-256 over the previous hash and the row's fields, each
//! length-prefixed. The newest row's `seq:hash` (the head) and, after
//! retention pruned the oldest rows, the last pruned row's `seq:hash` (the
//! base) are kept in `meta`, so removing rows from either end is found too.

use rusqlite::{Connection, OptionalExtension};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::Result;
use crate::kernel::ids::hex;

/// The hash before the first row.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// A row's hash: SHA-256 over `prev` and `fields`, hex.
pub fn link(prev: &str, fields: &[&str]) -> String {
    let mut h = Sha256::new();
    h.update(prev.as_bytes());
    for f in fields {
        h.update((f.len() as u64).to_le_bytes());
        h.update(f.as_bytes());
    }
    hex(&h.finalize())
}

/// A `seq:hash` mark kept in `meta`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    /// The row's sequence number (0 before the first row).
    pub seq: i64,
    /// The row's hash.
    pub hash: String,
}

impl Mark {
    fn genesis() -> Self {
        Self {
            seq: 0,
            hash: GENESIS.into(),
        }
    }
}

fn read_mark(conn: &Connection, key: &str) -> Result<Option<Mark>> {
    let v: Option<String> = conn
        .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row([key], |r| r.get(0))
        .optional()?;
    Ok(v.and_then(|v| {
        let (seq, hash) = v.split_once(':')?;
        Some(Mark {
            seq: seq.parse().ok()?,
            hash: hash.to_owned(),
        })
    }))
}

fn write_mark(conn: &Connection, key: &str, mark: &Mark) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )?
    .execute((key, format!("{}:{}", mark.seq, mark.hash)))?;
    Ok(())
}

/// The head of `table`'s chain: the newest row, or the base when empty.
pub fn head(conn: &Connection, table: &str) -> Result<Mark> {
    match read_mark(conn, &format!("{table}.head"))? {
        Some(m) => Ok(m),
        None => base(conn, table),
    }
}

/// The last row retention removed from `table`, or the genesis mark.
pub fn base(conn: &Connection, table: &str) -> Result<Mark> {
    Ok(read_mark(conn, &format!("{table}.base"))?.unwrap_or_else(Mark::genesis))
}

/// Records that `mark` is now the newest row of `table`.
pub fn set_head(conn: &Connection, table: &str, mark: &Mark) -> Result<()> {
    write_mark(conn, &format!("{table}.head"), mark)
}

/// Records that rows up to `mark` were pruned from `table`.
pub fn set_base(conn: &Connection, table: &str, mark: &Mark) -> Result<()> {
    write_mark(conn, &format!("{table}.base"), mark)
}

/// What `verify` found wrong with one row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    /// The row's sequence number.
    pub seq: i64,
    /// What is wrong, for people.
    pub problem: String,
}

/// The result of checking a chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChainReport {
    /// Whether every row checked out.
    pub ok: bool,
    /// How many rows were checked.
    pub checked: u64,
    /// Every problem found, oldest row first.
    pub problems: Vec<Problem>,
}

/// Walks rows `(seq, prev_hash, hash, recomputed hash, other problem)` in
/// sequence order and checks the links, the hashes and both ends.
pub fn verify(
    conn: &Connection,
    table: &str,
    rows: impl Iterator<Item = Result<(i64, String, String, String, Option<String>)>>,
) -> Result<ChainReport> {
    let base = base(conn, table)?;
    let head = head(conn, table)?;
    let mut expected = base.clone();
    let mut problems = Vec::new();
    let mut checked = 0;
    for row in rows {
        let (seq, prev, hash, recomputed, other) = row?;
        checked += 1;
        if seq != expected.seq + 1 {
            problems.push(Problem {
                seq,
                problem: format!("rows {} to {} are missing", expected.seq + 1, seq - 1),
            });
        } else if prev != expected.hash {
            problems.push(Problem {
                seq,
                problem: format!("prev_hash does not match row {}", expected.seq),
            });
        }
        if recomputed != hash {
            problems.push(Problem {
                seq,
                problem: "the row was edited: its hash does not match its fields".into(),
            });
        }
        if let Some(problem) = other {
            problems.push(Problem { seq, problem });
        }
        expected = Mark { seq, hash };
    }
    if expected != head {
        problems.push(Problem {
            seq: head.seq,
            problem: if head.seq > expected.seq {
                format!("rows {} to {} are missing", expected.seq + 1, head.seq)
            } else {
                format!("row {} does not match the recorded head", expected.seq)
            },
        });
    }
    Ok(ChainReport {
        ok: problems.is_empty(),
        checked,
        problems,
    })
}
