//! Identity links: the anonymous ids `identify` linked to users. Consent
//! gating, data-subject requests and tracking all need to know which ids
//! are one person, so the links live here, below them all.

use rusqlite::{Connection, OptionalExtension};

use crate::error::Result;

/// Links `anonymous_id` to `user_id` (a later link replaces an earlier one).
pub fn link(conn: &Connection, anonymous_id: &str, user_id: &str, at: i64) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO identities (anonymous_id, user_id, linked_at) VALUES (?1, ?2, ?3) \
         ON CONFLICT (anonymous_id) DO UPDATE SET user_id = excluded.user_id, linked_at = excluded.linked_at",
    )?
    .execute((anonymous_id, user_id, at))?;
    Ok(())
}

/// The user an anonymous id is linked to.
pub fn user_of(conn: &Connection, anonymous_id: &str) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT user_id FROM identities WHERE anonymous_id = ?1")?
        .query_row([anonymous_id], |r| r.get(0))
        .optional()?)
}

/// The anonymous ids linked to `user_id`, in order.
pub fn anonymous_ids_of(conn: &Connection, user_id: &str) -> Result<Vec<String>> {
    let mut stmt = conn.prepare_cached(
        "SELECT anonymous_id FROM identities WHERE user_id = ?1 ORDER BY anonymous_id",
    )?;
    let ids = stmt
        .query_map([user_id], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(ids)
}

/// `ids`, plus the anonymous ids linked to any of them and the users any
/// of them is linked to.
pub fn linked(conn: &Connection, ids: &[&str]) -> Result<Vec<String>> {
    let mut out: Vec<String> = ids.iter().map(|s| (*s).to_owned()).collect();
    for id in ids {
        for anon in anonymous_ids_of(conn, id)? {
            if !out.contains(&anon) {
                out.push(anon);
            }
        }
        if let Some(user) = user_of(conn, id)? {
            if !out.contains(&user) {
                out.push(user);
            }
        }
    }
    Ok(out)
}

/// Whether `id` is a user's user id here: events, sessions or links name
/// it as a user. Ids are free text, so the text of an anonymous id can be
/// another user's user id; rights and `identify` tell the two apart by it.
/// An experiment's exposure event does not count: `experiments.assign`
/// records it under whatever id it is given, an anonymous visitor's too
/// (found by a new user: a device assigned before login was taken for a
/// user, and its data outlived its user's erasure).
pub fn is_user(conn: &Connection, id: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM events WHERE user_id = ?1 AND name IS NOT ?2) \
             OR EXISTS (SELECT 1 FROM sessions WHERE slot = ?3 AND user_id = ?1) \
             OR EXISTS (SELECT 1 FROM identities WHERE user_id = ?1)",
        )?
        .query_row(
            rusqlite::params![id, EXPOSURE_EVENT, super::remote::subject_slot(id)],
            |r| r.get(0),
        )?)
}

/// The name of the event `experiments.assign` records on first exposure
/// (kept here, below the experiments, for [`is_user`] and the rights).
pub const EXPOSURE_EVENT: &str = "experiment.exposure";
