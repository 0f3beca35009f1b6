//! Erasure, anonymisation and rectification.

use std::collections::BTreeMap;

use rusqlite::{params, Connection};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::rights::Own;
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
    /// Why, for the audit log (such as `"user request"`); empty for none.
    #[serde(default)]
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
    /// With a shared store: wait up to this many ms (at most 60,000) for
    /// every engine sharing it to apply the erasure before returning; the
    /// receipt says which have. Default 0: return at once.
    pub wait_ms: Option<u32>,
}

/// Options of `anonymize`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AnonymizeOptions {
    /// Who asked, for the audit log (default `"host"`).
    pub actor: Option<String>,
    /// As for [`EraseOptions::vacuum`].
    pub vacuum: Option<bool>,
    /// As for [`EraseOptions::wait_ms`].
    pub wait_ms: Option<u32>,
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
    /// With a shared store: the rights-log entry that carries the erasure
    /// to every engine sharing the store, and which of them have applied
    /// it (see [`super::Receipt`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rights: Option<super::Receipt>,
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
    /// As for [`EraseOptions::wait_ms`].
    pub wait_ms: Option<u32>,
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
    /// With a shared store: the rights-log entry and who applied it (see
    /// [`EraseReport::rights`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rights: Option<super::Receipt>,
}

/// What `rectify` changed.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RectifyReport {
    /// Rows renamed per table here (and, with a shared store,
    /// `shared_prefs`, `shared_consents` and `shared_sessions`: values
    /// moved, decisions that now count for the new id, sessions ended).
    pub counts: BTreeMap<String, u64>,
    /// With a shared store: the rights-log entry and who applied it (see
    /// [`EraseReport::rights`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rights: Option<super::Receipt>,
}

/// Refuses a wait over a minute.
fn check_wait(wait_ms: Option<u32>) -> Result<()> {
    if wait_ms.is_some_and(|w| w > 60_000) {
        return Err(Error::invalid("waitMs", "must be at most 60000"));
    }
    Ok(())
}

/// A reason: none (empty), or 1 to 1000 bytes without control characters.
fn check_reason(reason: &str) -> Result<()> {
    if reason.is_empty() {
        return Ok(());
    }
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

/// Takes the subject's ids off the events that stay after its own are
/// deleted: other users' events (with their user id) that carry one of
/// them, the subject's own included, as their anonymous id (a device
/// several users logged in on). They stay those users' events, without the
/// subject's device id, in the events, the outbox and the quarantine.
/// Their rollup key is their user id, so no count changes. Anonymisation
/// gives the stored events a pseudonym instead (`events: false` leaves
/// them to it).
fn clear_linked_ids(conn: &Connection, scope: &Scope, events: bool) -> Result<()> {
    let ids = scope.ids_json();
    if events {
        conn.prepare_cached(
            "UPDATE events SET anonymous_id = NULL \
             WHERE anonymous_id IN (SELECT value FROM json_each(?1, '$.ids'))",
        )?
        .execute([&ids])?;
    }
    for table in ["outbox", "quarantine"] {
        conn.prepare_cached(&format!(
            "UPDATE {table} SET event = json_remove(event, '$.anonymousId') \
             WHERE json_extract(event, '$.anonymousId') IN (SELECT value FROM json_each(?1, '$.ids'))"
        ))?
        .execute([&ids])?;
    }
    Ok(())
}

/// The rollup rows the subject's events are counted in, to count again
/// once they are deleted, less those keyed by the subject's names: the
/// rollup filter deletes those rows whole.
fn counted_rows(conn: &Connection, scope: &Scope) -> Result<Vec<(i64, String)>> {
    let mut rows =
        crate::tracking::rollup::rows_of(conn, subject::table("events").filter, &scope.ids_json())?;
    rows.retain(|(_, key)| !scope.users().contains(key));
    Ok(rows)
}

/// Erases every table's rows for `scope`, returning counts per table.
fn erase_rows(conn: &Connection, scope: &Scope) -> Result<BTreeMap<String, u64>> {
    let mut counts = BTreeMap::new();
    let counted = counted_rows(conn, scope)?;
    for t in TABLES {
        let sql = match t.on_erase {
            OnErase::Delete => format!("DELETE FROM {} WHERE {}", t.name, t.filter),
            OnErase::Clear(set) => format!("UPDATE {} SET {set} WHERE {}", t.name, t.filter),
            OnErase::ByTriggers => continue,
        };
        counts.insert(t.name.to_owned(), run(conn, &sql, scope)?);
    }
    crate::tracking::rollup::recount(conn, &counted)?;
    clear_linked_ids(conn, scope, true)?;
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
        let counted = counted_rows(conn, scope)?;
        for name in ["events", "rollup_user_hours", "outbox", "quarantine"] {
            delete(name)?;
        }
        crate::tracking::rollup::recount(conn, &counted)?;
        clear_linked_ids(conn, scope, true)?;
    }
    if purposes.iter().any(|p| p == PERSONALIZATION) {
        delete("experiment_assignments")?;
    }
    let purposes_json = serde_json::to_string(purposes).unwrap_or_default();
    for table in ["prefs", "pref_history"] {
        let n = conn.execute(
            &format!(
                "DELETE FROM {table} WHERE subject IN (SELECT value FROM json_each(?1, '$.owned')) AND key IN \
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
        check_wait(options.wait_ms)?;
        let local_ids = Scope::resolve(self.conn, subject)?.ids;
        if self.shared.is_none() {
            let report =
                self.in_tx(|tx| self.erase_in(tx, subject, options, actor, BTreeMap::new()))?;
            let vacuumed = store::scrub::after_delete(self.conn, options.vacuum)?;
            return Ok(EraseReport { vacuumed, ..report });
        }
        // With a shared store: every id linked to the subject anywhere,
        // then the rights log (every engine sharing the store applies it,
        // this one included), then the shared store itself. If the store
        // is unreachable before the log has the entry, nothing is erased
        // and the call can be retried whole; after, the entry stands and a
        // retry adds a second one, which changes nothing.
        let ids = self.shared_ids(subject, &local_ids).await?;
        let hashes = self.store_hashes(&ids).await?;
        let data = self.entry(hashes.clone())?;
        let reason = Some(options.reason.as_str()).filter(|r| !r.is_empty());
        let own = Own::new(subject, reason, Some(actor));
        let id = self.publish("erase", own, &data, &hashes).await?;
        let shared = self.erase_shared_ids(&ids).await?;
        self.follow().await?;
        let mine = self.take_mine(&id).unwrap_or_default();
        let vacuumed = store::scrub::after_delete(self.conn, options.vacuum)?;
        let mut counts = mine.counts;
        counts.extend(shared);
        let subject_hash = match mine.subject_hash {
            Some(h) => h,
            None => subject::hash(&subject::salt(self.conn)?, subject),
        };
        let receipt = self
            .receipt_after(&id, options.wait_ms.unwrap_or(0))
            .await?;
        Ok(EraseReport {
            subject_hash,
            ids: ids.len(),
            counts,
            audit_seq: mine.audit_seq.unwrap_or(0),
            vacuumed,
            rights: Some(receipt),
        })
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
        self.erase_scope_in(tx, &scope, &options.reason, actor, shared, None)
    }

    /// Erases every row of `scope` inside `tx` and appends the audit
    /// tombstone; `rights`, the id of the rights-log entry this applies,
    /// goes into its details.
    pub(super) fn erase_scope_in(
        &self,
        tx: &Connection,
        scope: &Scope,
        reason: &str,
        actor: &str,
        shared: BTreeMap<String, u64>,
        rights: Option<&str>,
    ) -> Result<EraseReport> {
        let mut counts = erase_rows(tx, scope)?;
        counts.extend(shared);
        let reason = Some(reason).filter(|r| !r.is_empty());
        let mut details = json!({ "reason": reason, "ids": scope.ids.len(), "counts": counts });
        if let Some(id) = rights {
            details["rights"] = id.into();
        }
        let audit_seq = self.tombstone(tx, actor, "erase", scope, &details)?;
        Ok(EraseReport {
            subject_hash: scope.subject_hash.clone(),
            ids: scope.ids.len(),
            counts,
            audit_seq,
            vacuumed: false,
            rights: None,
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

    /// Writes a compacted copy of the database to `path` (`VACUUM INTO`),
    /// leaving this one as it is: a copy that is cut short (the process
    /// dies) is only an incomplete new file, so a host can vacuum a file by
    /// writing the copy and then renaming it over the original. `path` must
    /// not exist yet (or be empty).
    pub fn vacuum_into(&self, path: &str) -> Result<()> {
        if path.is_empty() || path.len() > 4096 || path.contains('\0') {
            return Err(crate::Error::invalid(
                "into",
                "must be a file path of 1 to 4096 bytes without NUL",
            ));
        }
        self.conn.execute("VACUUM INTO ?1", [path])?;
        Ok(())
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
    ///
    /// With a shared store, the subject's sessions, preferences and consent
    /// decisions there are deleted (the ledger keeps only hashes), and the
    /// rights log carries the anonymisation, with the same pseudonym per
    /// id, to every engine sharing the store.
    pub async fn anonymize(
        &self,
        subject: &str,
        options: &AnonymizeOptions,
    ) -> Result<AnonymizeReport> {
        subject::check("subject", subject)?;
        let actor = options.actor.as_deref().unwrap_or("host");
        check_label("actor", actor)?;
        check_wait(options.wait_ms)?;
        let registry = Registry::cached(self.conn, self.registry)?;
        if self.shared.is_none() {
            let report = self.in_tx(|tx| {
                let scope = Scope::resolve(tx, subject)?;
                self.anonymize_scope_in(tx, &scope, actor, &registry, &mut |_| pseudonym(), None)
            })?;
            let vacuumed = store::scrub::after_delete(self.conn, options.vacuum)?;
            return Ok(AnonymizeReport { vacuumed, ..report });
        }
        let local_ids = Scope::resolve(self.conn, subject)?.ids;
        let ids = self.shared_ids(subject, &local_ids).await?;
        let hashes = self.store_hashes(&ids).await?;
        // Each place draws its own pseudonyms: the entry maps no id to one.
        let data = self.entry(hashes.clone())?;
        let own = Own::new(subject, None, Some(actor));
        let id = self.publish("anonymize", own, &data, &hashes).await?;
        let shared = self.erase_shared_ids(&ids).await?;
        self.follow().await?;
        let mine = self.take_mine(&id).unwrap_or_default();
        let vacuumed = store::scrub::after_delete(self.conn, options.vacuum)?;
        let mut counts = mine.counts;
        counts.extend(shared);
        let receipt = self
            .receipt_after(&id, options.wait_ms.unwrap_or(0))
            .await?;
        Ok(AnonymizeReport {
            ids: ids.len(),
            counts,
            audit_seq: mine.audit_seq.unwrap_or(0),
            vacuumed,
            rights: Some(receipt),
        })
    }

    /// Anonymises `scope` inside `tx`: each id becomes `pseudonym(id)`.
    /// `rights`, the id of the rights-log entry this applies, goes into the
    /// audit entry's details.
    pub(super) fn anonymize_scope_in(
        &self,
        tx: &Connection,
        scope: &Scope,
        actor: &str,
        registry: &Registry,
        pseudonym: &mut dyn FnMut(&str) -> String,
        rights: Option<&str>,
    ) -> Result<AnonymizeReport> {
        let mut counts = BTreeMap::new();
        for t in TABLES {
            let sql = match (t.name, t.on_erase) {
                ("events" | "identities" | "rollup_user_hours" | "experiment_assignments", _) => {
                    continue
                }
                (_, OnErase::Delete) => format!("DELETE FROM {} WHERE {}", t.name, t.filter),
                (_, OnErase::Clear(set)) => {
                    format!("UPDATE {} SET {set} WHERE {}", t.name, t.filter)
                }
                (_, OnErase::ByTriggers) => continue,
            };
            counts.insert(t.name.to_owned(), run(tx, &sql, scope)?);
        }
        clear_linked_ids(tx, scope, false)?;
        let pseudonyms: Vec<String> = scope.ids.iter().map(|id| pseudonym(id)).collect();
        let mut count = |table: &str, n: usize| {
            *counts.entry(table.to_owned()).or_insert(0) += n as u64;
        };
        let renames: [(&str, &str); 5] = [
            ("events", "user_id"),
            ("events", "anonymous_id"),
            ("identities", "user_id"),
            ("identities", "anonymous_id"),
            ("experiment_assignments", "user_id"),
        ];
        for (i, (id, p)) in scope.ids.iter().zip(&pseudonyms).enumerate() {
            if i < scope.users || scope.owned.contains(id) {
                // The subject's names, and linked ids that are no user's
                // (whose only events as a user are experiment exposures),
                // everywhere: every event keyed by one is renamed, so its
                // rollup rows are renamed whole.
                for (table, col) in renames {
                    let n = tx.execute(
                        &format!("UPDATE {table} SET {col} = ?2 WHERE {col} = ?1"),
                        [id, p],
                    )?;
                    if col != "anonymous_id" || table != "events" {
                        count(table, n);
                    }
                }
                let n = tx.execute(
                    "UPDATE rollup_user_hours SET user_key = ?2 WHERE user_key = ?1",
                    [id, p],
                )?;
                count("rollup_user_hours", n);
                continue;
            }
            // A linked id that is also another user's user id, as an
            // anonymous id only: that user keeps its events, links,
            // assignments and counts (see `subject::Scope`). Other users'
            // events that carry it (a device that several users logged in
            // on) keep their user, with the pseudonym.
            let hours = crate::tracking::rollup::anonymous_hours(tx, id)?;
            tx.execute(
                "UPDATE events SET anonymous_id = ?2 WHERE anonymous_id = ?1",
                [id, p],
            )?;
            let n = tx.execute(
                "UPDATE identities SET anonymous_id = ?2 WHERE anonymous_id = ?1",
                [id, p],
            )?;
            count("identities", n);
            crate::tracking::rollup::recount_hours(tx, &hours, [id, p])?;
            count("rollup_user_hours", hours.len());
        }
        let pseudo = Scope {
            ids: pseudonyms,
            ..scope.clone()
        };
        strip_events(tx, &pseudo, registry)?;
        // Session ids travel in tokens and logs, so they would tie the
        // events back to the subject: each of the subject's sessions gets
        // a pseudonym of its own, on every event of it, so sessions stay
        // whole and told apart and aggregates do not change.
        let sessions: Vec<String> = tx
            .prepare(&format!(
                "SELECT DISTINCT session_id FROM events WHERE session_id IS NOT NULL AND ({})",
                subject::table("events").filter
            ))?
            .query_map([pseudo.ids_json()], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        let mut rename =
            tx.prepare_cached("UPDATE events SET session_id = ?2 WHERE session_id = ?1")?;
        for sid in &sessions {
            let p = format!("anon-s-{}", hex(&random_bytes::<12>()));
            rename.execute(params![sid, p])?;
        }
        let mut details = json!({ "ids": scope.ids.len(), "counts": counts });
        if let Some(id) = rights {
            details["rights"] = id.into();
        }
        let audit_seq = self.tombstone(tx, actor, "anonymize", scope, &details)?;
        Ok(AnonymizeReport {
            ids: scope.ids.len(),
            counts,
            audit_seq,
            vacuumed: false,
            rights: None,
        })
    }

    /// Renames the user `subject` to `options.user_id` everywhere: events,
    /// identities, preferences and their history, consents,
    /// experiment assignments, rollups, outbox and quarantine rows. Where
    /// the new id already has a preference or a consent decision, the newer
    /// one stays. The ledger keeps its rows as they were recorded; the
    /// audit entry links the old name's hash to the new one, so export and
    /// erasure of the new id still find them. The old id's sessions end: a
    /// session's token names its user's slot, so a session cannot follow a
    /// rename, and the user signs in again under the new id.
    ///
    /// With a shared store, the old id's preferences move to the new one
    /// there (the new id's own values stay), its consent decisions count
    /// for the new id (the newer wins), the anonymous ids linked to it are
    /// linked to the new id, its ledger keeps its entries as proof without
    /// the old name, IP and user agent, and its sessions there end too. No
    /// link is kept from the old name: someone who takes it later is
    /// someone else. The rights log carries the rename to every engine
    /// sharing the store.
    pub async fn rectify(&self, subject: &str, options: &RectifyOptions) -> Result<RectifyReport> {
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
        check_wait(options.wait_ms)?;
        let to = options.user_id.as_str();
        let Some(shared) = self.shared else {
            let counts = self.in_tx(|tx| {
                self.rectify_in(tx, subject, to, options.reason.as_deref(), actor, None)
            })?;
            return Ok(RectifyReport {
                counts,
                rights: None,
            });
        };
        let hashes = self.store_hashes(&[subject.to_owned()]).await?;
        let mut data = self.entry(hashes)?;
        self.seal_rename(&mut data, to).await?;
        let own = Own::new(subject, options.reason.as_deref(), Some(actor));
        let id = self.publish("rectify", own, &data, &[]).await?;
        let prefs = crate::prefs::redis::RedisPrefs::new(shared.remote)
            .move_subject(subject, to)
            .await?;
        let consents = match self.shared_consent() {
            Some(c) => {
                let mut users = Vec::new();
                for anon in c.links(subject).await? {
                    if self.another_user(&anon).await? {
                        users.push(anon);
                    }
                }
                c.rename(subject, to, &users).await?
            }
            None => 0,
        };
        let sessions =
            crate::session::RedisSessionStore::new(shared.remote, self.config.chain_key());
        let ended =
            crate::session::SessionStore::delete_all_for_user(&sessions, subject, None).await?;
        self.follow().await?;
        let mut counts = self.take_mine(&id).unwrap_or_default().counts;
        counts.insert("shared_prefs".into(), prefs);
        counts.insert("shared_consents".into(), consents);
        counts.insert("shared_sessions".into(), ended);
        let receipt = self
            .receipt_after(&id, options.wait_ms.unwrap_or(0))
            .await?;
        Ok(RectifyReport {
            counts,
            rights: Some(receipt),
        })
    }

    /// Renames `from` to `to` inside `tx` (see [`Privacy::rectify`]);
    /// `rights`, the id of the rights-log entry this applies, goes into the
    /// audit entry's details.
    pub(super) fn rectify_in(
        &self,
        tx: &Connection,
        from: &str,
        to: &str,
        reason: Option<&str>,
        actor: &str,
        rights: Option<&str>,
    ) -> Result<BTreeMap<String, u64>> {
        let subject = from;
        let mut counts = BTreeMap::new();
        let hours = crate::tracking::rollup::user_hours(tx, subject)?;
        for (table, sql) in [
            (
                "events",
                "UPDATE events SET user_id = ?2 WHERE user_id = ?1",
            ),
            (
                "identities",
                "UPDATE identities SET user_id = ?2 WHERE user_id = ?1",
            ),
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
        // A session's token names its user's slot, so a session cannot
        // follow a rename: the old id's sessions end, and the user signs in
        // again under the new id.
        counts.insert(
            "sessions".into(),
            tx.execute(
                "DELETE FROM sessions WHERE slot = ?2 AND user_id = ?1",
                [subject, &crate::session::token::subject_slot(subject)],
            )? as u64,
        );
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
        crate::tracking::rollup::recount_hours(tx, &hours, [subject, to])?;
        let salt = subject::salt(tx)?;
        let mut details = json!({
            "previousHash": subject::hash(&salt, subject),
            "reason": reason, "counts": counts,
        });
        if let Some(id) = rights {
            details["rights"] = id.into();
        }
        audit::Log::new(tx, self.config.chain_key()).append(
            self.clock.now_ms(),
            actor,
            "rectify",
            Some(to),
            true,
            &details,
        )?;
        Ok(counts)
    }
}

/// A random pseudonym for an anonymised id.
pub(super) fn pseudonym() -> String {
    format!("anon-{}", hex(&random_bytes::<16>()))
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
