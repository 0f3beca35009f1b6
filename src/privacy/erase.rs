//! Erasure, anonymisation and rectification.

use std::collections::BTreeMap;

use rusqlite::{params, Connection};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::subject::{self, OnErase, Scope, TABLES};
use super::{Privacy, PERSONALIZATION};
use crate::consent::check_label;
use crate::error::{Error, Result};
use crate::kernel::ids::{hex, random_bytes};
use crate::store::{self, audit};
use crate::tracking::Registry;

/// Options of `erase`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EraseOptions {
    /// Why, for the audit log (such as `"user request"`).
    pub reason: String,
    /// Who asked, for the audit log (default `"host"`).
    pub actor: Option<String>,
    /// Rewrite the database afterwards (`VACUUM`). Not needed to leave no
    /// bytes of the subject: deleted rows are zeroed and every page is
    /// scrubbed on its way to the file (see [`crate::store::scrub`]). By
    /// default the rewrite happens only when the database still holds pages
    /// written before scrubbing existed (created by an older version and not
    /// rewritten since), or is too big to scrub (128 GiB). `true` rewrites
    /// anyway (it also shrinks the file); `false` never does (call
    /// `vacuum()` later).
    pub vacuum: Option<bool>,
}

/// Options of `anonymize`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AnonymizeOptions {
    /// Who asked, for the audit log (default `"host"`).
    pub actor: Option<String>,
    /// As for [`EraseOptions::vacuum`].
    pub vacuum: Option<bool>,
}

/// What `erase` removed.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EraseReport {
    /// The salted hash the audit tombstone and the ledger keep.
    pub subject_hash: String,
    /// How many ids were erased: the subject and its linked anonymous ids.
    pub ids: usize,
    /// Rows deleted (or, for the ledger and the audit log, cleared) per table.
    pub counts: BTreeMap<String, u64>,
    /// The audit tombstone's `seq`.
    pub audit_seq: i64,
    /// Whether the database was rewritten afterwards.
    pub vacuumed: bool,
}

/// Options of `rectify`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RectifyOptions {
    /// The user's correct id.
    pub user_id: String,
    /// Why, for the audit log.
    pub reason: Option<String>,
    /// Who asked, for the audit log (default `"host"`).
    pub actor: Option<String>,
}

/// What `anonymize` changed.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AnonymizeReport {
    /// How many ids were replaced by pseudonyms.
    pub ids: usize,
    /// Rows changed or deleted per table.
    pub counts: BTreeMap<String, u64>,
    /// The audit entry's `seq`.
    pub audit_seq: i64,
    /// Whether the database was rewritten afterwards.
    pub vacuumed: bool,
}

fn check_reason(reason: &str) -> Result<()> {
    Ok(crate::kernel::text::check("reason", reason, 1000)?)
}

/// Runs `sql` (which uses `?1`, the ids, and maybe `?2`, the hashes) for a scope.
fn run(conn: &Connection, sql: &str, scope: &Scope) -> Result<u64> {
    let n = if sql.contains("?2") {
        conn.prepare_cached(sql)?
            .execute(params![scope.ids_json(), scope.hashes_json()])?
    } else {
        conn.prepare_cached(sql)?.execute([scope.ids_json()])?
    };
    Ok(n as u64)
}

/// Erases every table's rows for `scope`, returning counts per table.
fn erase_rows(conn: &Connection, scope: &Scope) -> Result<BTreeMap<String, u64>> {
    let mut counts = BTreeMap::new();
    for t in TABLES {
        let sql = match t.on_erase {
            OnErase::Delete => format!("DELETE FROM {} WHERE {}", t.name, t.filter),
            OnErase::Clear(set) => format!("UPDATE {} SET {set} WHERE {}", t.name, t.filter),
        };
        counts.insert(t.name.to_owned(), run(conn, &sql, scope)?);
    }
    Ok(counts)
}

/// Deletes what `purposes` collected about `scope`: events and what is
/// derived from them for `analytics`; experiment assignments for
/// `personalization`; and preferences declared with any of the purposes.
pub(crate) fn purpose_data(
    conn: &Connection,
    scope: &Scope,
    purposes: &[String],
) -> Result<BTreeMap<String, u64>> {
    let mut counts = BTreeMap::new();
    let mut delete = |name: &str| -> Result<()> {
        let t = subject::table(name);
        let n = run(
            conn,
            &format!("DELETE FROM {} WHERE {}", t.name, t.filter),
            scope,
        )?;
        *counts.entry(name.to_owned()).or_insert(0) += n;
        Ok(())
    };
    if purposes.iter().any(|p| p == super::ANALYTICS) {
        for name in ["events", "rollup_user_hours", "outbox", "quarantine"] {
            delete(name)?;
        }
    }
    if purposes.iter().any(|p| p == PERSONALIZATION) {
        delete("experiment_assignments")?;
    }
    let purposes_json = serde_json::to_string(purposes).unwrap_or_default();
    for table in ["prefs", "pref_history"] {
        let n = conn.execute(
            &format!(
                "DELETE FROM {table} WHERE subject IN (SELECT value FROM json_each(?1)) AND key IN \
                 (SELECT key FROM pref_definitions WHERE json_extract(definition, '$.purpose') \
                  IN (SELECT value FROM json_each(?2)))"
            ),
            params![scope.ids_json(), purposes_json],
        )?;
        *counts.entry(table.to_owned()).or_insert(0) += n as u64;
    }
    Ok(counts)
}

impl Privacy<'_> {
    /// Audits an action after which the subject is known only by its hash.
    fn tombstone(
        &self,
        tx: &Connection,
        actor: &str,
        action: &str,
        scope: &Scope,
        details: &Value,
    ) -> Result<i64> {
        let at = self.clock.now_ms();
        audit::Log::new(tx, self.config.chain_key()).append_hashed(
            at,
            actor,
            action,
            None,
            Some(&scope.subject_hash),
            details,
        )
    }

    /// Erases everything held about `subject` and the anonymous ids linked
    /// to it: events, identities, sessions, preferences and their history,
    /// consents, experiment assignments, rollups, outbox and quarantine
    /// rows. The consent ledger and the audit log keep their rows with the
    /// subject, IP and user agent cleared and only the salted hash left, so
    /// their chains still verify; an audit tombstone records the erasure.
    /// No bytes of the subject remain in the database or its files:
    /// `secure_delete` zeroes the deleted rows and every page is scrubbed
    /// on its way to the file, so the cost is the subject's rows, not the
    /// database's size (see [`EraseOptions::vacuum`] for when it rewrites).
    pub async fn erase(&self, subject: &str, options: &EraseOptions) -> Result<EraseReport> {
        subject::check("subject", subject)?;
        check_reason(&options.reason)?;
        let actor = options.actor.as_deref().unwrap_or("host");
        check_label("actor", actor)?;
        // The shared store first: if it is unreachable nothing is erased
        // here yet, and the request can be retried whole.
        let local_ids = Scope::resolve(self.conn, subject)?.ids;
        let shared = self.erase_shared(subject, &local_ids).await?;
        let report = self.in_tx(|tx| self.erase_in(tx, subject, options, actor, shared))?;
        let vacuumed = store::scrub::after_delete(self.conn, options.vacuum)?;
        Ok(EraseReport { vacuumed, ..report })
    }

    /// Erases `subject` and the ids linked to it inside the caller's
    /// transaction `tx`, as [`Privacy::erase`] does but without reaching a
    /// shared store: for a pipeline partition that applies an erasure where
    /// it stands in its stream, in the same transaction as the position it
    /// reached. Call [`Privacy::scrub_after_erase`] after the commit.
    pub fn erase_within(
        &self,
        tx: &Connection,
        subject: &str,
        options: &EraseOptions,
    ) -> Result<EraseReport> {
        subject::check("subject", subject)?;
        check_reason(&options.reason)?;
        let actor = options.actor.as_deref().unwrap_or("host");
        check_label("actor", actor)?;
        self.erase_in(tx, subject, options, actor, BTreeMap::new())
    }

    /// The erasure's rows and its audit tombstone, inside `tx`, with the
    /// counts of what the shared store erased (`shared`) added to the report.
    fn erase_in(
        &self,
        tx: &Connection,
        subject: &str,
        options: &EraseOptions,
        actor: &str,
        shared: BTreeMap<String, u64>,
    ) -> Result<EraseReport> {
        let scope = Scope::resolve(tx, subject)?;
        let mut counts = erase_rows(tx, &scope)?;
        counts.extend(shared);
        let details = json!({ "reason": options.reason, "ids": scope.ids.len(), "counts": counts });
        let audit_seq = self.tombstone(tx, actor, "erase", &scope, &details)?;
        Ok(EraseReport {
            subject_hash: scope.subject_hash.clone(),
            ids: scope.ids.len(),
            counts,
            audit_seq,
            vacuumed: false,
        })
    }

    /// Rewrites the database (`VACUUM`) and empties the write-ahead log. It
    /// takes time in proportion to the database's size. Erasure needs it
    /// only for a database whose pages predate scrubbing (see
    /// [`crate::store::scrub`]), which it then marks clean; otherwise it
    /// only gives free pages back to the file system.
    pub fn vacuum(&self) -> Result<()> {
        store::scrub::after_delete(self.conn, Some(true)).map(|_| ())
    }

    /// Makes sure what an erasure deleted in `tx` leaves no bytes, after its
    /// commit: for a pipeline partition, which erases inside its own
    /// transaction. Rewrites the database only if it needs it.
    pub fn scrub_after_erase(&self) -> Result<()> {
        store::scrub::after_delete(self.conn, None).map(|_| ())
    }

    /// Replaces `subject` and its linked anonymous ids by random,
    /// unlinkable pseudonyms in events, identities, rollups and experiment
    /// assignments, and strips the IP address, the raw user agent and every
    /// property an event schema marks `personal`. Sessions, preferences,
    /// consents, outbox and quarantine rows are deleted; the ledger and the
    /// audit log keep only the salted hash. Aggregate analytics are
    /// unchanged: each id maps to its own pseudonym.
    pub fn anonymize(&self, subject: &str, options: &AnonymizeOptions) -> Result<AnonymizeReport> {
        subject::check("subject", subject)?;
        let actor = options.actor.as_deref().unwrap_or("host");
        check_label("actor", actor)?;
        let registry = Registry::cached(self.conn, self.registry)?;
        let report = self.in_tx(|tx| {
            let scope = Scope::resolve(tx, subject)?;
            let mut counts = BTreeMap::new();
            for t in TABLES {
                let sql = match (t.name, t.on_erase) {
                    (
                        "events" | "identities" | "rollup_user_hours" | "experiment_assignments",
                        _,
                    ) => continue,
                    (_, OnErase::Delete) => format!("DELETE FROM {} WHERE {}", t.name, t.filter),
                    (_, OnErase::Clear(set)) => {
                        format!("UPDATE {} SET {set} WHERE {}", t.name, t.filter)
                    }
                };
                counts.insert(t.name.to_owned(), run(tx, &sql, &scope)?);
            }
            let mut pseudonyms = Vec::with_capacity(scope.ids.len());
            let renames: [(&str, &str); 5] = [
                ("events", "user_id"),
                ("events", "anonymous_id"),
                ("identities", "user_id"),
                ("identities", "anonymous_id"),
                ("experiment_assignments", "user_id"),
            ];
            for id in &scope.ids {
                let p = format!("anon-{}", hex(&random_bytes::<16>()));
                for (table, col) in renames {
                    let n = tx.execute(
                        &format!("UPDATE {table} SET {col} = ?2 WHERE {col} = ?1"),
                        [id, &p],
                    )?;
                    if col != "anonymous_id" || table != "events" {
                        *counts.entry(table.to_owned()).or_insert(0) += n as u64;
                    }
                }
                let n = tx.execute(
                    "UPDATE rollup_user_hours SET user_key = ?2 WHERE user_key = ?1",
                    [id, &p],
                )?;
                *counts.entry("rollup_user_hours".to_owned()).or_insert(0) += n as u64;
                pseudonyms.push(p);
            }
            let pseudo = Scope {
                ids: pseudonyms,
                ..scope.clone()
            };
            strip_events(tx, &pseudo, &registry)?;
            let details = json!({ "ids": scope.ids.len(), "counts": counts });
            let audit_seq = self.tombstone(tx, actor, "anonymize", &scope, &details)?;
            Ok(AnonymizeReport {
                ids: scope.ids.len(),
                counts,
                audit_seq,
                vacuumed: false,
            })
        })?;
        let vacuumed = store::scrub::after_delete(self.conn, options.vacuum)?;
        Ok(AnonymizeReport { vacuumed, ..report })
    }

    /// Renames the user `subject` to `options.user_id` everywhere: events,
    /// identities, sessions, preferences and their history, consents,
    /// experiment assignments, rollups, outbox and quarantine rows. Where
    /// the new id already has a preference or a consent decision, the newer
    /// one stays. The ledger keeps its rows as they were recorded; the
    /// audit entry links the old name's hash to the new one, so export and
    /// erasure of the new id still find them.
    pub fn rectify(
        &self,
        subject: &str,
        options: &RectifyOptions,
    ) -> Result<BTreeMap<String, u64>> {
        subject::check("subject", subject)?;
        subject::check("userId", &options.user_id)?;
        if options.user_id == subject {
            return Err(Error::invalid("userId", "is the subject's id already"));
        }
        if let Some(r) = &options.reason {
            check_reason(r)?;
        }
        let actor = options.actor.as_deref().unwrap_or("host");
        check_label("actor", actor)?;
        let to = options.user_id.as_str();
        self.in_tx(|tx| {
            let mut counts = BTreeMap::new();
            for (table, sql) in [
                ("events", "UPDATE events SET user_id = ?2 WHERE user_id = ?1"),
                ("identities", "UPDATE identities SET user_id = ?2 WHERE user_id = ?1"),
                ("sessions", "UPDATE sessions SET user_id = ?2 WHERE user_id = ?1"),
                (
                    "outbox",
                    "UPDATE outbox SET event = json_set(event, '$.userId', ?2) \
                     WHERE json_extract(event, '$.userId') = ?1",
                ),
                (
                    "quarantine",
                    "UPDATE quarantine SET event = json_set(event, '$.userId', ?2) \
                     WHERE json_extract(event, '$.userId') = ?1",
                ),
            ] {
                counts.insert(table.to_owned(), tx.execute(sql, [subject, to])? as u64);
            }
            let moved = match self.moves {
                Some(m) => m.move_subject(tx, subject, to)?,
                None => BTreeMap::new(),
            };
            counts.insert("prefs".into(), moved.get("prefs").copied().unwrap_or(0));
            let consents = tx.execute(
                "INSERT INTO consents (subject, purpose, granted, policy_version, source, at, seq) \
                 SELECT ?2, purpose, granted, policy_version, source, at, seq FROM consents WHERE subject = ?1 \
                 ON CONFLICT (subject, purpose) DO UPDATE SET granted = excluded.granted, \
                 policy_version = excluded.policy_version, source = excluded.source, at = excluded.at, \
                 seq = excluded.seq WHERE excluded.seq > consents.seq",
                [subject, to],
            )?;
            tx.execute("DELETE FROM consents WHERE subject = ?1", [subject])?;
            counts.insert("consents".into(), consents as u64);
            crate::tracking::rollup::move_subject(tx, subject, to)?;
            let salt = subject::salt(tx)?;
            audit::Log::new(tx, self.config.chain_key()).append(
                self.clock.now_ms(),
                actor,
                "rectify",
                Some(to),
                true,
                &json!({
                    "previousHash": subject::hash(&salt, subject),
                    "reason": options.reason, "counts": counts,
                }),
            )?;
            Ok(counts)
        })
    }
}

/// Clears the IP address and raw user agent of `scope`'s events and
/// removes the properties their schemas mark `personal`.
fn strip_events(conn: &Connection, scope: &Scope, registry: &Registry) -> Result<()> {
    run(
        conn,
        &format!(
            "UPDATE events SET ip_masked = NULL, user_agent = NULL WHERE {}",
            subject::table("events").filter
        ),
        scope,
    )?;
    let personal = registry.personal_properties();
    if personal.is_empty() {
        return Ok(());
    }
    let names = serde_json::to_string(&personal.keys().collect::<Vec<_>>()).unwrap_or_default();
    let mut select = conn.prepare(&format!(
        "SELECT id, name, properties FROM events WHERE ({}) AND name IN (SELECT value FROM json_each(?2))",
        subject::table("events").filter
    ))?;
    let rows: Vec<(i64, String, String)> = select
        .query_map(params![scope.ids_json(), names], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut update = conn.prepare_cached("UPDATE events SET properties = ?2 WHERE id = ?1")?;
    for (id, name, props) in rows {
        let Ok(Value::Object(mut map)) = serde_json::from_str::<Value>(&props) else {
            continue;
        };
        let mut changed = false;
        for key in &personal[&name] {
            changed |= map.remove(key).is_some();
        }
        if changed {
            update.execute(params![id, Value::Object(map).to_string()])?;
        }
    }
    Ok(())
}
