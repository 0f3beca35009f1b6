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

/// A shared session as an export row.
fn session_row(s: crate::session::SessionRecord) -> Vec<Sql> {
    vec![
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
    ]
}

impl Privacy<'_> {
    /// Whether `id`, linked to a subject as an anonymous id, is also a
    /// user's user id: here, or in the shared store (ids linked to it, or
    /// sessions of it as a user). Its preferences and consent are then
    /// that user's, and a request about the subject leaves them.
    pub async fn another_user(&self, id: &str) -> Result<bool> {
        if super::subject::is_user(self.conn, id)? {
            return Ok(true);
        }
        let (Some(shared), Some(consent)) = (self.shared, self.shared_consent()) else {
            return Ok(false);
        };
        if !consent.links(id).await?.is_empty() {
            return Ok(true);
        }
        let sessions = RedisSessionStore::new(shared.remote, self.config.chain_key());
        Ok(!sessions
            .list_for_user(id, self.clock.now_ms())
            .await?
            .is_empty())
    }

    /// The subject and every id linked to it, here (`local`) or in the
    /// shared store (anonymous ids `identify` linked to it; a rectification
    /// carries the old name's links to the new one).
    pub(super) async fn shared_ids(&self, subject: &str, local: &[String]) -> Result<Vec<String>> {
        let mut ids: Vec<String> = vec![subject.to_owned()];
        for id in local {
            if !ids.contains(id) {
                ids.push(id.clone());
            }
        }
        let Some(consent) = self.shared_consent() else {
            return Ok(ids);
        };
        // The subject's links only, not its linked ids' own: ids are free
        // text, so a linked id can be another user's user id, whose links
        // are that user's devices (see `subject::EVENT_OF_SUBJECT`).
        for id in consent.links(subject).await? {
            if !ids.contains(&id) && ids.len() < 1000 {
                ids.push(id);
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
            // The subject's sessions as a user, and the anonymous session
            // whose id is this id (the middleware's id for an anonymous
            // visitor). A linked id's sessions as a user are another
            // user's, and so are its preferences and consent when it is a
            // user's id (see `subject::Scope`).
            let anonymous = sessions.anonymous(&id).await?;
            let own = if id == subject {
                sessions.list_for_user(&id, now).await?
            } else {
                Vec::new()
            };
            for s in own.into_iter().chain(anonymous) {
                out[0].push(session_row(s));
            }
            if id != subject && self.another_user(&id).await? {
                continue;
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

    /// Erases `ids` (a subject, first, and the ids linked to it, from
    /// [`Privacy::shared_ids`]) from the shared store: sessions (the
    /// users', and the anonymous sessions whose ids are among them),
    /// preferences and their history and consent decisions go; ledger
    /// entries stay as proof without the subject, IP and user agent.
    /// Linked ids go before the subject, so that a failure half way leaves
    /// the subject's links for a retry. Returns the counts per shared table.
    pub(super) async fn erase_shared_ids(&self, ids: &[String]) -> Result<BTreeMap<String, u64>> {
        let mut counts = BTreeMap::new();
        let (Some(shared), Some(consent)) = (self.shared, self.shared_consent()) else {
            return Ok(counts);
        };
        let sessions = RedisSessionStore::new(shared.remote, self.config.chain_key());
        let prefs = crate::prefs::redis::RedisPrefs::new(shared.remote);
        let mut add = |table: &str, n: u64| *counts.entry(table.to_owned()).or_insert(0) += n;
        for (i, id) in ids.iter().enumerate().rev() {
            // Sessions as a user only for the subject (the first): a linked
            // id's are another user's, as in `shared_rows`, and so are its
            // preferences and consent when it is a user's id.
            let own = if i == 0 {
                sessions.delete_all_for_user(id, None).await?
            } else {
                0
            };
            add(
                "shared_sessions",
                own + u64::from(sessions.delete_anonymous(id).await?),
            );
            if i > 0 && self.another_user(id).await? {
                consent.unlink(id, &ids[0]).await?;
                continue;
            }
            let (values, history) = prefs.delete(id).await?;
            add("shared_prefs", values);
            add("shared_pref_history", history);
            let decided = consent.decisions(id).await?.len() as u64;
            let (entries, _) = consent.erase(id).await?;
            add("shared_consents", decided);
            add("shared_consent_ledger", entries);
        }
        Ok(counts)
    }
}
