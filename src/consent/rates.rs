//! Consent rates: of the subjects who decided on a purpose under a policy
//! version, how many granted it.

use rusqlite::Connection;
use serde::Serialize;

use crate::error::Result;

/// One purpose under one policy version.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsentRate {
    /// The purpose, such as `analytics`.
    pub purpose: String,
    /// The policy version the decisions were made under.
    pub policy_version: String,
    /// Subjects whose current decision grants the purpose.
    pub granted: u64,
    /// Subjects whose current decision refuses or withdraws it.
    pub refused: u64,
    /// `granted / (granted + refused)`, from 0 to 1.
    pub rate: f64,
}

/// The current decisions in `consents`, counted per purpose and policy
/// version, ordered by purpose then version.
pub fn rates(conn: &Connection) -> Result<Vec<ConsentRate>> {
    let mut stmt = conn.prepare_cached(
        "SELECT purpose, policy_version, sum(granted), count(*) - sum(granted)
         FROM consents GROUP BY purpose, policy_version ORDER BY purpose, policy_version",
    )?;
    let rows = stmt.query_map([], |r| {
        let granted = r.get::<_, i64>(2)?.max(0) as u64;
        let refused = r.get::<_, i64>(3)?.max(0) as u64;
        Ok(ConsentRate {
            purpose: r.get(0)?,
            policy_version: r.get(1)?,
            granted,
            refused,
            rate: granted as f64 / (granted + refused).max(1) as f64,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
