//! Hash chains: the consent ledger and the audit log are append-only, and
//! each row carries the hash of the one before it.
//!
//! A row's hash is SHA-256 over the previous hash and the row's fields, each
//! length-prefixed; with a chain key, it is HMAC-SHA-256 under that key, so
//! that someone holding only the database file cannot recompute a chain they
//! rewrote. The newest row's `seq:hash` (the head) and, after retention
//! pruned the oldest rows, the last pruned row's `seq:hash` (the base) are
//! kept in `meta`, so removing rows from either end is found too. A full
//! rewrite of a chain (and of its marks) is found by checking it against a
//! head kept outside the database ([`verify`]'s `anchor`).

use rusqlite::{Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{PrivacyError, Result};
use crate::kernel::ids::hex;

/// The hash before the first row.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// A row's hash over `prev` and `fields`, hex: SHA-256, or HMAC-SHA-256
/// under `key`.
pub fn link(key: Option<&[u8]>, prev: &str, fields: &[&str]) -> String {
    let mut message =
        Vec::with_capacity(prev.len() + fields.iter().map(|f| f.len() + 8).sum::<usize>());
    message.extend_from_slice(prev.as_bytes());
    for f in fields {
        message.extend_from_slice(&(f.len() as u64).to_le_bytes());
        message.extend_from_slice(f.as_bytes());
    }
    match key {
        None => hex(&Sha256::digest(&message)),
        Some(key) => hex(&hmac_sha256(key, &message)),
    }
}

/// HMAC-SHA-256 (RFC 2104).
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| -> [u8; 64] { block.map(|b| b ^ byte) };
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

/// The first row of `table` linked under a chain key, if any.
fn keyed_from(conn: &Connection, table: &str) -> Result<Option<i64>> {
    let v: Option<String> = conn
        .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row([format!("{table}.keyed_from")], |r| r.get(0))
        .optional()?;
    Ok(v.and_then(|v| v.parse().ok()))
}

/// The key row `seq` of `table` is to be linked with, as it is appended.
/// The first keyed row is recorded; once a chain is keyed, appending
/// without the key is refused (`KEY_MISSING`), since a row linked without
/// it could be forged.
pub fn key_for_append<'k>(
    conn: &Connection,
    table: &str,
    seq: i64,
    key: Option<&'k [u8]>,
) -> Result<Option<&'k [u8]>> {
    match (keyed_from(conn, table)?, key) {
        (Some(_), Some(k)) => Ok(Some(k)),
        (Some(_), None) => Err(PrivacyError::ChainKeyMissing {
            table: table.to_owned(),
        }
        .into()),
        (None, Some(k)) => {
            conn.prepare_cached(
                "INSERT INTO meta (key, value) VALUES (?1, ?2) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )?
            .execute((format!("{table}.keyed_from"), seq.to_string()))?;
            Ok(Some(k))
        }
        (None, None) => Ok(None),
    }
}

/// A `seq:hash` mark: a chain's head or base, kept in `meta`; also what an
/// app keeps outside the database to check the chain against later.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
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

/// One row as [`verify`] checks it: its sequence number, the hash of the
/// row before it and its own as stored, the fields its hash covers, and a
/// problem the caller found itself (a subject that no longer matches its
/// hash, say).
pub type Row = (i64, String, String, Vec<String>, Option<String>);

/// Walks `rows` in sequence order and checks the links, the hashes and both
/// ends. Rows linked under a chain key are checked with `key`; without it
/// they are reported, not passed. With `anchor`, a head recorded outside the
/// database, the chain must still hold that row with that hash: a chain
/// rewritten from the start (marks included) is found that way.
pub fn verify(
    conn: &Connection,
    table: &str,
    key: Option<&[u8]>,
    anchor: Option<&Mark>,
    rows: impl Iterator<Item = Result<Row>>,
) -> Result<ChainReport> {
    let base = base(conn, table)?;
    let head = head(conn, table)?;
    let keyed = keyed_from(conn, table)?;
    let mut expected = base.clone();
    let mut problems = Vec::new();
    let mut checked = 0;
    let mut anchored = anchor.is_none_or(|a| a.seq == 0 || *a == base);
    let mut unkeyed = 0u64;
    for row in rows {
        let (seq, prev, hash, fields, other) = row?;
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
        let refs: Vec<&str> = fields.iter().map(String::as_str).collect();
        match (keyed.is_some_and(|k| seq >= k), key) {
            (true, None) => unkeyed += 1,
            (true, Some(k)) if link(Some(k), &prev, &refs) != hash => problems.push(Problem {
                seq,
                problem: "the row was edited, or linked under another key".into(),
            }),
            (false, _) if link(None, &prev, &refs) != hash => problems.push(Problem {
                seq,
                problem: "the row was edited: its hash does not match its fields".into(),
            }),
            _ => {}
        }
        if let Some(problem) = other {
            problems.push(Problem { seq, problem });
        }
        if let Some(a) = anchor.filter(|a| a.seq == seq) {
            if a.hash == hash {
                anchored = true;
            } else {
                problems.push(Problem {
                    seq,
                    problem: "the row differs from the head recorded outside the database: the chain was rewritten".into(),
                });
                anchored = true; // reported once
            }
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
    if unkeyed > 0 {
        problems.push(Problem {
            seq: keyed.unwrap_or(0),
            problem: format!(
                "{unkeyed} rows are linked under the chain key; give privacy.chainKey to check them"
            ),
        });
    }
    if let Some(a) = anchor.filter(|_| !anchored) {
        problems.push(Problem {
            seq: a.seq,
            problem: if a.seq > expected.seq {
                format!(
                    "the chain ends at row {}, before the head recorded outside the database (row {}): it was cut back",
                    expected.seq, a.seq
                )
            } else {
                format!("row {} is no longer in the chain (pruned or removed)", a.seq)
            },
        });
    }
    Ok(ChainReport {
        ok: problems.is_empty(),
        checked,
        problems,
    })
}
