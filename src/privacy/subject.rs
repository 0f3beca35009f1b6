//! Who a data-subject request is about, and where their rows are.
//!
//! A subject is a user id or an anonymous id. A request about a user also
//! covers every anonymous id `identify` linked to it. The ledger and the
//! audit log name subjects by a salted SHA-256 (the salt is random per
//! database, kept in `meta`), which is what is left of a subject after
//! erasure; rectification records the old name's hash, so the trail follows
//! renames.

use rusqlite::Connection;

use crate::error::Result;
pub use crate::store::subject_hash::{hash, salt};

/// The longest subject id accepted, in bytes.
pub const MAX_SUBJECT: usize = 256;

/// Refuses an empty, oversized or control-character subject.
pub fn check(field: &str, subject: &str) -> Result<()> {
    Ok(crate::kernel::text::check(field, subject, MAX_SUBJECT)?)
}

/// The ids a request about `subject` covers and the hashes its ledger and
/// audit rows may carry.
///
/// Ids are free text, so the text of an anonymous id linked to the subject
/// can also be another user's user id (`identify("alice", "bob")` with
/// alice a login name). A linked id therefore reaches rows only as an
/// anonymous id: events without a user id, links from it, an anonymous
/// visitor's session. In the tables keyed by one id (preferences,
/// consents and their ledger, experiment assignments, the audit log) it
/// reaches rows only when it is no user's user id here (`owned`). Found by
/// a review: erasing bob erased alice's own events, sessions, links and
/// consents, and bob's export showed them.
#[derive(Debug, Clone)]
pub struct Scope {
    /// The subject's names as a user (the subject, and names a rename
    /// could not yet reach), then the anonymous ids linked to it.
    pub ids: Vec<String>,
    /// How many of `ids`, from the first, are the subject's names as a user
    /// (0 when a rights-log entry finds only linked ids here).
    pub users: usize,
    /// The ids the tables keyed by one id are searched by: the subject's
    /// names, and the linked ids that are no user's user id here.
    pub owned: Vec<String>,
    /// Hashes of the owned ids and of the names the subject had before a
    /// rectification.
    pub hashes: Vec<String>,
    /// For each of `hashes`, the time (ms) after which rows under it are no
    /// longer the subject's: the time a name was renamed away (someone else
    /// may take it later). `None` for the subject's current ids.
    pub until: Vec<Option<i64>>,
    /// The subject's own hash (of its first name; of the empty text, which
    /// is no id, when none of its names is here).
    pub subject_hash: String,
}

/// `subject`, then the anonymous ids `identify` linked to it.
pub fn linked_ids(conn: &Connection, subject: &str) -> Result<Vec<String>> {
    check("subject", subject)?;
    let mut ids = vec![subject.to_owned()];
    let mut stmt = conn.prepare_cached(
        "SELECT anonymous_id FROM identities WHERE user_id = ?1 ORDER BY anonymous_id",
    )?;
    for id in stmt.query_map([subject], |r| r.get::<_, String>(0))? {
        let id = id?;
        if id != subject {
            ids.push(id);
        }
    }
    Ok(ids)
}

pub use crate::store::identity::is_user;

impl Scope {
    /// Resolves `subject`: it, then the anonymous ids linked to it here.
    pub fn resolve(conn: &Connection, subject: &str) -> Result<Self> {
        Self::of_ids(conn, linked_ids(conn, subject)?, 1)
    }

    /// The scope of `ids` as given, the first `users` of them the
    /// subject's names as a user and the rest anonymous ids linked to it;
    /// the hashes of the owned ones, and those of the names they had
    /// before a rectification, each until the time it was renamed away.
    pub fn of_ids(conn: &Connection, ids: Vec<String>, users: usize) -> Result<Self> {
        let salt = salt(conn)?;
        let users = users.min(ids.len());
        let mut owned: Vec<String> = ids[..users].to_vec();
        for id in &ids[users..] {
            if !is_user(conn, id)? {
                owned.push(id.clone());
            }
        }
        let mut hashes: Vec<String> = owned.iter().map(|id| hash(&salt, id)).collect();
        let mut until: Vec<Option<i64>> = vec![None; hashes.len()];
        // Names before a rectification, followed back.
        let mut stmt = conn.prepare_cached(
            "SELECT json_extract(details, '$.previousHash'), at FROM audit_log \
             WHERE action = 'rectify' AND subject_hash = ?1",
        )?;
        let mut i = 0;
        while i < hashes.len() && hashes.len() < 1000 {
            let found: Vec<(Option<String>, i64)> = stmt
                .query_map([&hashes[i]], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            for (h, at) in found {
                let Some(h) = h else { continue };
                match hashes.iter().position(|x| *x == h) {
                    // Renamed away, then taken back: the later time wins.
                    Some(j) => until[j] = until[j].map(|u| u.max(at)),
                    None => {
                        hashes.push(h);
                        until.push(Some(at));
                    }
                }
            }
            i += 1;
        }
        Ok(Self {
            // With no name of the subject here (an engine that finds only
            // its linked ids), the hash of no id: not a linked id's, whose
            // text may be another user's (a review: bob's erasure showed in
            // alice's audit trail).
            subject_hash: hash(&salt, ids[..users].first().map_or("", String::as_str)),
            ids,
            users,
            owned,
            hashes,
            until,
        })
    }

    /// The subject's names as a user.
    pub fn users(&self) -> &[String] {
        &self.ids[..self.users]
    }

    /// The ids as a JSON object bound as `?1` in [`TABLES`]' filters:
    /// `users` (the subject's names as a user), `ids` (those and the
    /// linked anonymous ids), `owned` (see [`Scope::owned`]) and `slots`,
    /// the session slots their sessions can be in (a user's slot for each
    /// name, an anonymous session's for each id), which the sessions
    /// table is keyed by.
    pub fn ids_json(&self) -> String {
        let slots: Vec<String> = self
            .users()
            .iter()
            .map(|user| crate::session::token::subject_slot(user))
            .chain(
                self.ids
                    .iter()
                    .map(|id| crate::session::token::slot(None, id)),
            )
            .collect();
        serde_json::json!({
            "users": self.users(),
            "ids": self.ids,
            "owned": self.owned,
            "slots": slots,
        })
        .to_string()
    }

    /// The hashes as a JSON array of `[hash, until]` pairs, bound as `?2` in
    /// [`TABLES`]' filters (see [`BY_HASH`]).
    pub fn hashes_json(&self) -> String {
        let pairs: Vec<(&String, &Option<i64>)> = self.hashes.iter().zip(&self.until).collect();
        serde_json::to_string(&pairs).unwrap_or_default()
    }
}

/// Rows of a subject by its hashes (`?2`, `[hash, until]` pairs): a row
/// under an earlier name counts up to the time that name was renamed away,
/// not after (another subject may have taken it since).
pub const BY_HASH: &str = "subject_hash IN (SELECT value ->> 0 FROM json_each(?2)) \
     AND at <= coalesce((SELECT value ->> 1 FROM json_each(?2) WHERE value ->> 0 = subject_hash), 9223372036854775807)";

/// How erasure treats a table's rows about a subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnErase {
    /// The rows are deleted.
    Delete,
    /// The rows stay, with the subject and its client details cleared: the
    /// salted hash stays, so hash chains still verify.
    Clear(&'static str),
    /// Nothing to run: triggers on the events it is derived from correct
    /// it when erasure deletes or anonymisation renames those events.
    ByTriggers,
}

/// One table holding rows about subjects.
#[derive(Debug, Clone, Copy)]
pub struct Table {
    /// Its name, also its name in exports.
    pub name: &'static str,
    /// The columns exported (never token hashes, fingerprints or sealed state).
    pub columns: &'static str,
    /// Columns holding JSON text, exported as JSON.
    pub json: &'static [&'static str],
    /// Which rows are the subject's: `?1` is the ids, `?2` the hashes, as JSON arrays.
    pub filter: &'static str,
    /// Export order.
    pub order: &'static str,
    /// What erasure does.
    pub on_erase: OnErase,
}

/// `$col IN` one of the lists of [`Scope::ids_json`] (`users`, `ids` or
/// `owned`).
macro_rules! in_list {
    ($col:literal, $list:literal) => {
        concat!(
            $col,
            " IN (SELECT value FROM json_each(?1, '$.",
            $list,
            "'))"
        )
    };
}

/// Events of the subject, over the expressions of an event's user id,
/// anonymous id and name: an event is its user's when it has one, else its
/// anonymous id's. So the subject's are those with one of its names as
/// their user id, and those without a user id whose anonymous id is one of
/// its ids. Not another user's events that carry one of those ids as their
/// anonymous id (someone else logged in on the subject's device): erasure
/// takes the id off them instead. Nor those of another user whose user id
/// is the text of a linked id (see [`Scope`]). And an experiment's
/// exposure recorded under one of its owned linked ids: `experiments.assign`
/// records it under whatever id it is given, an anonymous visitor's too
/// (see `store::identity::is_user`).
macro_rules! event_of_subject {
    ($user:literal, $anonymous:literal, $name:literal) => {
        concat!(
            in_list!($user, "users"),
            " OR (",
            $user,
            " IS NULL AND ",
            in_list!($anonymous, "ids"),
            ") OR (",
            $name,
            " = 'experiment.exposure' AND ",
            in_list!($user, "owned"),
            ")"
        )
    };
    () => {
        event_of_subject!("user_id", "anonymous_id", "name")
    };
}
const EVENT_OF_SUBJECT: &str = event_of_subject!();

/// Queued or quarantined events (JSON) of the subject, as [`EVENT_OF_SUBJECT`] tells them.
const QUEUED_EVENT: &str = event_of_subject!(
    "json_extract(event, '$.userId')",
    "json_extract(event, '$.anonymousId')",
    "json_extract(event, '$.name')"
);

/// Links of the subject: to one of its names as a user, or from any of its
/// ids as an anonymous id. Not another user's links that happen to name
/// one of its linked ids as that user.
const LINK_OF_SUBJECT: &str = concat!(
    in_list!("user_id", "users"),
    " OR ",
    in_list!("anonymous_id", "ids")
);

/// Rollup rows keyed by the subject's names, or by a linked id that is no
/// user's user id among the events left (a key that is also another
/// user's user id counts that user's events; erasure counts it again
/// instead, see `tracking::rollup::recount`).
const ROLLUP_OF_SUBJECT: &str = concat!(
    in_list!("user_key", "users"),
    " OR (",
    in_list!("user_key", "ids"),
    " AND NOT EXISTS (SELECT 1 FROM events WHERE user_id = user_key))"
);

/// Every table with rows about subjects, in export order.
pub const TABLES: &[Table] = &[
    Table {
        name: "events",
        columns: concat!(
            crate::kernel::ids::uuid_text_sql!("event_id"),
            " AS event_id, ts, type, name, user_id, anonymous_id, session_id, url, path, referrer, \
             properties, dimensions, ip_masked, browser, os, device, user_agent, sample_rate, received_at"
        ),
        json: &["properties", "dimensions"],
        filter: EVENT_OF_SUBJECT,
        order: "id",
        on_erase: OnErase::Delete,
    },
    Table {
        name: "identities",
        columns: "anonymous_id, user_id, linked_at",
        json: &[],
        filter: LINK_OF_SUBJECT,
        order: "anonymous_id",
        on_erase: OnErase::Delete,
    },
    Table {
        name: "sessions",
        columns: "session_id, user_id, created_at, last_seen_at, idle_expires_at, absolute_expires_at, \
                  ip_masked, browser, os, device",
        json: &[],
        // The subject's sessions as a user, and an anonymous visitor's
        // session, whose id the middleware uses as the visitor's anonymous
        // id. Not the sessions of another user whose user id is a linked id.
        // The slots narrow the search to the table's key ranges they name.
        filter: concat!(
            in_list!("slot", "slots"),
            " AND (",
            in_list!("user_id", "users"),
            " OR (user_id IS NULL AND ",
            in_list!("session_id", "ids"),
            "))"
        ),
        order: "created_at, session_id",
        on_erase: OnErase::Delete,
    },
    Table {
        name: "prefs",
        columns: "subject, key, value, updated_at",
        json: &["value"],
        filter: in_list!("subject", "owned"),
        order: "subject, key",
        on_erase: OnErase::Delete,
    },
    Table {
        name: "pref_history",
        columns: "subject, key, old_value, new_value, at, source",
        json: &["old_value", "new_value"],
        filter: in_list!("subject", "owned"),
        order: "id",
        on_erase: OnErase::Delete,
    },
    Table {
        name: "consents",
        columns: "subject, purpose, granted, policy_version, source, at",
        json: &[],
        filter: in_list!("subject", "owned"),
        order: "subject, purpose",
        on_erase: OnErase::Delete,
    },
    Table {
        name: "consent_ledger",
        columns: "seq, at, subject, action, purposes, policy_version, source, text_hash, ip_masked, user_agent",
        json: &["purposes"],
        filter: BY_HASH,
        order: "seq",
        on_erase: OnErase::Clear("subject = NULL, ip_masked = NULL, user_agent = NULL"),
    },
    Table {
        name: "experiment_assignments",
        columns: "key, user_id, variant, assigned_at",
        json: &[],
        filter: in_list!("user_id", "owned"),
        order: "key",
        on_erase: OnErase::Delete,
    },
    Table {
        name: "rollup_user_hours",
        columns: "hour, user_key, events, weight",
        json: &[],
        filter: ROLLUP_OF_SUBJECT,
        order: "hour",
        on_erase: OnErase::Delete,
    },
    Table {
        name: "rollup_session_hours",
        columns: "hour, session_key, rate, events",
        json: &[],
        // The rows the subject's events are counted in: their session,
        // hour (as the rollup's triggers compute it) and sample rate, bots'
        // events left out as the rollup leaves them out. A row counts every
        // event of its key, so another subject's events in the same
        // session, hour and rate are counted in it too.
        filter: concat!(
            "(hour, session_key, rate) IN (SELECT ts / 3600000 - (ts % 3600000 < 0), session_id, ",
            "sample_rate FROM events WHERE session_id IS NOT NULL AND device IS NOT 'bot' AND (",
            event_of_subject!(),
            "))"
        ),
        order: "hour, session_key, rate",
        on_erase: OnErase::ByTriggers,
    },
    Table {
        name: "outbox",
        columns: "event_id, event, attempts, available_at",
        json: &["event"],
        filter: QUEUED_EVENT,
        order: "id",
        on_erase: OnErase::Delete,
    },
    Table {
        name: "quarantine",
        columns: "event_id, received_at, code, field, reason, event",
        json: &["event"],
        filter: QUEUED_EVENT,
        order: "id",
        on_erase: OnErase::Delete,
    },
    Table {
        name: "audit_log",
        columns: "seq, at, actor, action, subject, details, personal",
        json: &["details", "personal"],
        filter: BY_HASH,
        order: "seq",
        on_erase: OnErase::Clear("subject = NULL, personal = NULL"),
    },
];

/// The table named `name` in [`TABLES`].
pub fn table(name: &str) -> &'static Table {
    TABLES
        .iter()
        .find(|t| t.name == name)
        .expect("a table in TABLES")
}

#[cfg(test)]
mod tests {
    #[cfg(all(target_family = "wasm", target_os = "unknown"))]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    /// The filters name the exposure event by a literal (`concat!` takes
    /// no constant): it must be the one `experiments.assign` records.
    #[test]
    fn the_filters_name_the_exposure_event_assign_records() {
        let exposure = format!("'{}'", crate::store::identity::EXPOSURE_EVENT);
        assert!(EVENT_OF_SUBJECT.contains(&exposure));
        assert!(QUEUED_EVENT.contains(&exposure));
    }
}
