//! Numbered, forward-only schema migrations.
//!
//! The schema version is `PRAGMA user_version`. Migration `n` takes a database
//! from version `n - 1` to `n` inside one transaction, so a crash or a failure
//! leaves the database at the last complete version. Migrations are never
//! edited once released: a change is a new migration at the end of the list.

use rusqlite::{Connection, TransactionBehavior};

use super::StoreError;
use crate::error::Result;

/// One schema step.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// The schema version this migration produces. Versions start at 1 and
    /// have no gaps.
    pub version: u32,
    /// A short name, for logs and docs.
    pub name: &'static str,
    /// The SQL that takes version `version - 1` to `version`.
    pub sql: &'static str,
}

/// Every migration, oldest first.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "meta",
        sql: include_str!("migrations/0001_meta.sql"),
    },
    Migration {
        version: 2,
        name: "sessions",
        sql: include_str!("migrations/0002_sessions.sql"),
    },
    Migration {
        version: 3,
        name: "tracking",
        sql: include_str!("migrations/0003_tracking.sql"),
    },
    Migration {
        version: 4,
        name: "prefs",
        sql: include_str!("migrations/0004_prefs.sql"),
    },
    Migration {
        version: 5,
        name: "analytics",
        sql: include_str!("migrations/0005_analytics.sql"),
    },
    Migration {
        version: 6,
        name: "privacy",
        sql: include_str!("migrations/0006_privacy.sql"),
    },
    Migration {
        version: 7,
        name: "pipeline",
        sql: include_str!("migrations/0007_pipeline.sql"),
    },
    Migration {
        version: 8,
        name: "bots",
        sql: include_str!("migrations/0008_bots.sql"),
    },
    Migration {
        version: 9,
        name: "scrubbed_pages",
        sql: include_str!("migrations/0009_scrubbed_pages.sql"),
    },
    Migration {
        version: 10,
        name: "event_blob_ids",
        sql: include_str!("migrations/0010_event_blob_ids.sql"),
    },
    Migration {
        version: 11,
        name: "rights",
        sql: include_str!("migrations/0011_rights.sql"),
    },
    Migration {
        version: 12,
        name: "sessions_by_id",
        sql: include_str!("migrations/0012_sessions_by_id.sql"),
    },
    Migration {
        version: 13,
        name: "event_blocks",
        sql: include_str!("migrations/0013_event_blocks.sql"),
    },
    Migration {
        version: 14,
        name: "session_rollup",
        sql: include_str!("migrations/0014_session_rollup.sql"),
    },
    Migration {
        version: 15,
        name: "block_format",
        sql: include_str!("migrations/0015_block_format.sql"),
    },
    Migration {
        version: 16,
        name: "tombstones_as_user",
        sql: include_str!("migrations/0016_tombstones_as_user.sql"),
    },
    Migration {
        version: 17,
        name: "sessions_by_slot",
        sql: include_str!("migrations/0017_sessions_by_slot.sql"),
    },
    Migration {
        version: 18,
        name: "day_rollups",
        sql: include_str!("migrations/0018_day_rollups.sql"),
    },
    Migration {
        version: 19,
        name: "block_spans",
        sql: include_str!("migrations/0019_block_spans.sql"),
    },
    Migration {
        version: 20,
        name: "block_names",
        sql: include_str!("migrations/0020_block_names.sql"),
    },
    Migration {
        version: 21,
        name: "block_dims",
        sql: include_str!("migrations/0021_block_dims.sql"),
    },
];

/// The schema version this build creates and understands.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// `PRAGMA application_id` of a usertrail database: "UTRL" in ASCII.
pub const APPLICATION_ID: i32 = 0x5554_524C;

/// Reads `PRAGMA user_version`.
pub fn schema_version(conn: &Connection) -> Result<u32> {
    let v: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    // user_version is a signed 32-bit header field; a negative one is not ours.
    u32::try_from(v).map_err(|_| {
        StoreError::ForeignDatabase {
            reason: format!("negative user_version {v}"),
        }
        .into()
    })
}

/// Applies every migration after the database's version, up to `target`.
/// Returns the version the database had before.
///
/// Refuses, writing nothing, a database newer than `target`. Public so that
/// tests and tools can build a database as any older version wrote it.
pub fn migrate_to(conn: &mut Connection, target: u32) -> Result<u32> {
    let from = schema_version(conn)?;
    if from > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            found: from,
            supported: SCHEMA_VERSION,
        }
        .into());
    }
    if from < 17 && target >= 17 {
        register_slot_function(conn)?;
    }
    for m in MIGRATIONS
        .iter()
        .filter(|m| m.version > from && m.version <= target)
    {
        apply(conn, m)?;
    }
    Ok(from)
}

/// `usertrail_subject_slot(user_id)`: the slot of a user's sessions
/// ([`super::remote::subject_slot`]), for migration 17, which moves each
/// stored session into its slot. Deterministic; registered on the
/// connection that migrates, and used by no schema object.
fn register_slot_function(conn: &Connection) -> Result<()> {
    use rusqlite::functions::FunctionFlags;
    conn.create_scalar_function(
        "usertrail_subject_slot",
        1,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            // The stored bytes, valid UTF-8 or not: a user id a hand-made
            // file holds as invalid text must not stop the migration.
            let user = match ctx.get_raw(0) {
                rusqlite::types::ValueRef::Text(bytes) => bytes,
                _ => return Ok(None),
            };
            Ok(Some(super::remote::slot_of_bytes(user)))
        },
    )?;
    Ok(())
}

/// Applies one migration in its own immediate transaction.
fn apply(conn: &mut Connection, m: &Migration) -> Result<()> {
    let failed = |e: rusqlite::Error| -> crate::error::Error {
        match StoreError::classify(e) {
            StoreError::Sqlite(e) => StoreError::MigrationFailed {
                version: m.version,
                detail: e.to_string(),
            },
            classified => classified,
        }
        .into()
    };
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(failed)?;
    tx.execute_batch(m.sql).map_err(failed)?;
    tx.pragma_update(None, "application_id", APPLICATION_ID)
        .map_err(failed)?;
    tx.pragma_update(None, "user_version", m.version)
        .map_err(failed)?;
    tx.commit().map_err(failed)
}

#[cfg(test)]
mod tests {
    #[cfg(all(target_family = "wasm", target_os = "unknown"))]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn versions_start_at_one_without_gaps() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version as usize, i + 1, "migration {}", m.name);
        }
    }

    #[test]
    fn each_step_is_transactional() {
        let mut conn = Connection::open_in_memory().unwrap();
        let broken = Migration {
            version: 1,
            name: "broken",
            sql: "CREATE TABLE half_done (x); SELECT no_such_function();",
        };
        let err = apply(&mut conn, &broken).unwrap_err();
        assert_eq!(crate::error::ErrorCode::code(&err), "MIGRATION_FAILED");
        assert_eq!(schema_version(&conn).unwrap(), 0);
        let tables: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))
            .unwrap();
        assert_eq!(tables, 0, "the failed step left a table behind");
    }
}
