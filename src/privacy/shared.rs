//! What a shared store keeps about a subject, for export and erasure:
//! its sessions (metadata, never token hashes or state), preferences and
//! their history, consent decisions and ledger, for the subject and the
//! anonymous ids linked to it (here or in the store).

use std::collections::BTreeMap;

use rusqlite::types::Value as Sql;

use super::subject::{OnErase, Table};
use super::Privacy;
use crate::error::Result;
use crate::session::{RedisSessionStore, SessionStore};

/// The shared store's data about a subject, as export tables.
pub const SHARED_TABLES: &[Table] = &[
    Table {
        name: "shared_sessions",
        columns: "session_id, user_id, created_at, last_seen_at, idle_expires_at, absolute_expires_at, \
                  ip_masked, browser, os, device",
        json: &[],
        filter: "",
        order: "",
        on_erase: OnErase::Delete,
    },
    Table {
        name: "shared_prefs",
        columns: "subject, key, value, updated_at",
        json: &["value"],
        filter: "",
        order: "",
        on_erase: OnErase::Delete,
    },
    Table {
        name: "shared_pref_history",
        columns: "subject, key, old_value, new_value, at, source",
        json: &["old_value", "new_value"],
        filter: "",
        order: "",
        on_erase: OnErase::Delete,
    },
    Table {
        name: "shared_consents",
        columns: "subject, purpose, granted, policy_version, source, at",
        json: &[],
        filter: "",
        order: "",
        on_erase: OnErase::Delete,
    },
    Table {
        name: "shared_consent_ledger",
        columns: "subject, seq, at, action, purposes, policy_version, source, text_hash, ip_masked, user_agent",
        json: &["purposes"],
        filter: "",
        order: "",
        on_erase: OnErase::Clear("subject = NULL, ip_masked = NULL, user_agent = NULL"),
    },
];

/// One shared table's rows.
pub(super) type Rows = (&'static Table, Vec<Vec<Sql>>);

fn text(s: impl Into<String>) -> Sql {
    Sql::Text(s.into())
}

fn opt(s: Option<String>) -> Sql {
    s.map_or(Sql::Null, Sql::Text)
}

impl Privacy<'_> {
    /// The subject and every anonymous id linked to it, here or in the
    /// shared store.
    async fn shared_ids(&self, subject: &str, local: &[String]) -> Result<Vec<String>> {
        let mut ids: Vec<String> = vec![subject.to_owned()];
        let linked = match self.shared_consent() {
            Some(c) => c.links(subject).await?,
            None => Vec::new(),
        };
        for id in local.iter().chain(&linked) {
            if !ids.contains(id) {
                ids.push(id.clone());
            }
        }
        Ok(ids)
    }

    /// Everything the shared store keeps about `subject` (and `local`, the
    /// ids linked to it in this engine), one entry per shared table; empty
    /// without a shared store.
    pub(super) async fn shared_rows(&self, subject: &str, local: &[String]) -> Result<Vec<Rows>> {
        let (Some(shared), Some(consent)) = (self.shared, self.shared_consent()) else {
            return Ok(Vec::new());
        };
        let sessions = RedisSessionStore::new(shared.remote, self.config.chain_key());
        let prefs = crate::prefs::redis::RedisPrefs::new(shared.remote);
        let now = self.clock.now_ms();
        let mut out: Vec<Vec<Vec<Sql>>> = vec![Vec::new(); SHARED_TABLES.len()];
        for id in self.shared_ids(subject, local).await? {
            for s in sessions.list_for_user(&id, now).await? {
                out[0].push(vec![
                    text(s.session_id),
                    opt(s.user_id),
                    Sql::Integer(s.created_at),
                    Sql::Integer(s.last_seen_at),
                    Sql::Integer(s.idle_expires_at),
                    Sql::Integer(s.absolute_expires_at),
                    opt(s.client.ip),
                    text(s.client.browser),
                    text(s.client.os),
                    text(s.client.device.as_str()),
                ]);
            }
            let (values, history) = prefs.export(&id).await?;
            for (key, json, at) in values {
                out[1].push(vec![text(&id), text(key), text(json), Sql::Integer(at)]);
            }
            for c in history {
                let json =
                    |v: Option<serde_json::Value>| v.map_or(Sql::Null, |v| text(v.to_string()));
                out[2].push(vec![
                    text(&id),
                    text(c.key),
                    json(c.old_value),
                    json(c.new_value),
                    Sql::Integer(c.at),
                    text(c.source),
                ]);
            }
            for (purpose, d) in consent.decisions(&id).await? {
                out[3].push(vec![
                    text(&id),
                    text(purpose),
                    Sql::Integer(i64::from(d.granted)),
                    text(d.policy_version),
                    text(d.source),
                    Sql::Integer(d.at),
                ]);
            }
            for e in consent.ledger(&id).await?.1 {
                let e = e.view();
                out[4].push(vec![
                    opt(e.subject),
                    Sql::Integer(e.seq),
                    Sql::Integer(e.at),
                    text(e.action),
                    text(serde_json::to_string(&e.purposes).unwrap_or_default()),
                    text(e.policy_version),
                    text(e.source),
                    opt(e.text_hash),
                    opt(e.ip_masked),
                    opt(e.user_agent),
                ]);
            }
        }
        Ok(SHARED_TABLES.iter().zip(out).collect())
    }

    /// Erases `subject` (and `local`, the ids linked to it in this engine)
    /// from the shared store: sessions, preferences and their history and
    /// consent decisions go; ledger entries stay as proof without the
    /// subject, IP and user agent. Returns the counts per shared table.
    pub(super) async fn erase_shared(
        &self,
        subject: &str,
        local: &[String],
    ) -> Result<BTreeMap<String, u64>> {
        let mut counts = BTreeMap::new();
        let (Some(shared), Some(consent)) = (self.shared, self.shared_consent()) else {
            return Ok(counts);
        };
        let sessions = RedisSessionStore::new(shared.remote, self.config.chain_key());
        let prefs = crate::prefs::redis::RedisPrefs::new(shared.remote);
        let mut add = |table: &str, n: u64| *counts.entry(table.to_owned()).or_insert(0) += n;
        let mut ids = self.shared_ids(subject, local).await?;
        let mut i = 0;
        while i < ids.len() {
            let id = ids[i].clone();
            add(
                "shared_sessions",
                sessions.delete_all_for_user(&id, None).await?,
            );
            add("shared_prefs", prefs.delete(&id).await?);
            let decided = consent.decisions(&id).await?.len() as u64;
            let (entries, linked) = consent.erase(&id).await?;
            add("shared_consents", decided);
            add("shared_consent_ledger", entries);
            for l in linked {
                if !ids.contains(&l) {
                    ids.push(l);
                }
            }
            i += 1;
        }
        Ok(counts)
    }
}
