//! A partition's step: read its stream after the position it committed,
//! store the events, apply identifies and erasures in stream order, and
//! commit the new position in the same transaction.

use std::collections::{BTreeMap, HashMap};

use rusqlite::{params, OptionalExtension, Transaction, TransactionBehavior};
use serde::Serialize;

use super::{Erase, Identify, Pipeline, READ, TRIM};
use crate::error::{Result, StoreError};
use crate::privacy::EraseOptions;
use crate::store::remote::Reply;
use crate::store::{identity, subject_hash};
use crate::tracking::Event;

/// How far a partition trims its stream after a commit.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Trim {
    /// Up to the committed position (the default).
    #[default]
    Committed,
    /// Up to the position of the last snapshot, so that a lost partition can
    /// be rebuilt from the snapshot and a replay of the stream.
    Snapshot,
    /// Not at all.
    None,
    /// A copy among several, run by a pipeline worker (see
    /// [`super::lease`]): the step records its position next to the lease,
    /// and only the lease's holder trims, below what every live copy
    /// committed.
    Copy {
        /// The worker holding this copy.
        worker: String,
        /// Its fencing token if it holds the lease, else 0.
        token: u64,
        /// How long its entry lasts, ms.
        ttl_ms: u32,
    },
}

/// What one step of a partition did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Consumed {
    /// Stream entries read.
    pub read: u64,
    /// Events stored here.
    pub stored: u64,
    /// Events already here (a replay).
    pub duplicates: u64,
    /// Events sent on to another partition (an identify's move, an alias).
    pub forwarded: u64,
    /// Events dropped: of an erased subject, or not a usertrail event.
    pub dropped: u64,
    /// Identifies applied.
    pub identified: u64,
    /// Erasures applied.
    pub erased: u64,
    /// The position committed: the id of the last entry read.
    pub position: String,
    /// Entries left in the stream after the trim.
    pub remaining: u64,
}

const START: &str = "0-0";

/// When `id` was last erased, if it was: `(by the erasing engine's clock,
/// by the store's clock)`. From the rights log (its hash under the store's
/// salt; both times), or from an erasure sent through the streams (its
/// hash under this database's salt; the engine's time only). `as_user`:
/// the id is the event's user id, which the rights log's tombstone of an
/// id erased only as another subject's linked anonymous id does not reach
/// (ids are free text: that text can be another user's own id).
fn tombstone(
    conn: &rusqlite::Connection,
    salt: &str,
    store_salt: &str,
    id: &str,
    as_user: bool,
) -> Result<(Option<i64>, Option<i64>)> {
    let local: Option<i64> = conn
        .prepare_cached("SELECT erased_at FROM pipeline_tombstones WHERE subject_hash = ?1")?
        .query_row([subject_hash::hash(salt, id)], |r| r.get(0))
        .optional()?;
    let shared: Option<(i64, i64)> = if store_salt.is_empty() {
        None
    } else {
        conn.prepare_cached(
            "SELECT erased_at, logged_at FROM rights_tombstones WHERE store_hash = ?1 \
             AND (as_user OR NOT ?2)",
        )?
        .query_row(params![subject_hash::hash(store_salt, id), as_user], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?
    };
    Ok((local.max(shared.map(|s| s.0)), shared.map(|s| s.1)))
}

/// Whether something made at `made` (its producer's clock), read from
/// stream entry `entry_id`, came before tombstone `t` (from [`tombstone`]):
/// made before the erasure by the erasing engine's clock, or appended to
/// the stream before the log took the erasure, by the store's. A clock
/// ahead, or a time in the future, does not let it through.
fn before(t: (Option<i64>, Option<i64>), made: i64, entry_id: &str) -> bool {
    t.0.is_some_and(|at| made <= at) || t.1.is_some_and(|at| entry_ms(entry_id) <= at)
}

fn meta_key(what: &str, partition: u32) -> String {
    format!("pipeline.{what}.p{partition}")
}

/// The time of a stream id (the store's clock, ms).
fn entry_ms(id: &str) -> i64 {
    id.split_once('-')
        .and_then(|(ms, _)| ms.parse::<i64>().ok())
        .unwrap_or(i64::MAX)
}

/// The id just after `id`, to trim below.
fn next_id(id: &str) -> Option<String> {
    let (ms, seq) = id.split_once('-')?;
    let (ms, seq): (u64, u64) = (ms.parse().ok()?, seq.parse().ok()?);
    Some(format!("{ms}-{}", seq.checked_add(1)?))
}

fn older(a: &str, b: &str) -> bool {
    let key = |id: &str| {
        id.split_once('-')
            .and_then(|(m, s)| Some((m.parse::<u64>().ok()?, s.parse::<u64>().ok()?)))
            .unwrap_or((0, 0))
    };
    key(a) < key(b)
}

/// A stream entry: its id, kind and data.
type Entry = (String, String, String);

/// The entries of a read, the stream's length, and its trim mark.
fn entries(reply: &Reply) -> Result<(Vec<Entry>, u64, String)> {
    let both = reply.tuple(3)?;
    let mut out = Vec::new();
    for e in both[0].list()? {
        let pair = e.tuple(2)?;
        let id = pair[0].text()?.to_owned();
        let fields = pair[1].list()?;
        let (mut kind, mut data) = (None, None);
        for f in fields.chunks(2) {
            match (f.first().map(Reply::text), f.get(1).map(Reply::text)) {
                (Some(Ok("k")), Some(Ok(v))) => kind = Some(v.to_owned()),
                (Some(Ok("d")), Some(Ok(v))) => data = Some(v.to_owned()),
                _ => {}
            }
        }
        out.push((id, kind.unwrap_or_default(), data.unwrap_or_default()));
    }
    Ok((
        out,
        both[1].int()?.max(0) as u64,
        both[2].text()?.to_owned(),
    ))
}

impl Pipeline<'_> {
    /// The position `partition` committed (`0-0` before its first step).
    pub fn position(&self, partition: u32) -> Result<String> {
        self.check_partition(partition)?;
        let conn = self.trail.store().conn();
        Ok(conn
            .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
            .query_row([meta_key("position", partition)], |r| r.get(0))
            .optional()?
            .unwrap_or_else(|| START.to_owned()))
    }

    /// Reads up to `max` entries of `partition`'s stream after its
    /// committed position and applies them (see the module docs), then
    /// trims. An entry that is not a usertrail event is dropped and
    /// counted, never retried forever.
    pub async fn consume(&self, partition: u32, max: u32, trim: Trim) -> Result<Consumed> {
        self.check_partition(partition)?;
        if let Trim::Copy { worker, ttl_ms, .. } = &trim {
            Self::check_copy(worker, *ttl_ms)?;
        }
        let max = max.clamp(1, 10_000);
        // The rights log first: an erasure recorded anywhere is applied here
        // and leaves tombstones before the stream's events are read, so
        // events of an erased id produced before it are dropped as they
        // arrive.
        let privacy = self.trail.privacy();
        privacy.track_renames()?;
        let followed = privacy.follow().await?;
        let store_salt = match privacy.shared_consent() {
            Some(c) => c.salt().await?,
            None => String::new(),
        };
        for renamed in &followed.renamed {
            self.move_renamed(partition, renamed).await?;
            privacy.renamed_done(renamed)?;
        }
        let position = self.position(partition)?;
        let reply = self
            .remote
            .run(
                &READ,
                vec![self.stream(partition), self.trim_mark(partition)],
                vec![position.clone(), max.to_string()],
            )
            .await?;
        let (read, remaining, kept) = entries(&reply)?;
        // Entries after this copy's position that a trim took: reading on
        // would skip them.
        if next_id(&position).is_some_and(|next| older(&next, &kept)) {
            return Err(StoreError::Behind {
                partition,
                position,
                kept,
            }
            .into());
        }
        let mut done = Consumed {
            position: position.clone(),
            remaining,
            ..Consumed::default()
        };
        let Some(last) = read.last().map(|e| e.0.clone()) else {
            return Ok(done);
        };
        done.read = read.len() as u64;
        let conn = self.trail.store().conn();
        let salt = subject_hash::salt(conn)?;
        let now = self.trail.clock().now_ms();

        // 1. The plan, in stream order.
        let mut aliases: HashMap<String, Option<String>> = HashMap::new();
        let mut tombstones: HashMap<(String, bool), (Option<i64>, Option<i64>)> = HashMap::new();
        let mut local: Vec<Event> = Vec::new();
        let mut forwards: BTreeMap<u32, Vec<(&str, String)>> = BTreeMap::new();
        let mut links: Vec<Identify> = Vec::new();
        let mut moved: Vec<String> = Vec::new();
        let mut erasures: Vec<Erase> = Vec::new();
        for (entry_id, kind, data) in &read {
            match kind.as_str() {
                "e" => {
                    let Ok(mut e) = serde_json::from_str::<Event>(data) else {
                        done.dropped += 1;
                        continue;
                    };
                    // Sent without a user id: the anonymous id's, whatever
                    // user the alias now names.
                    let arrived_anonymous = e.user_id.is_none();
                    if e.user_id.is_none() {
                        if let Some(anon) = e.anonymous_id.clone() {
                            let user = match aliases.get(&anon) {
                                Some(u) => u.clone(),
                                None => {
                                    let u = identity::user_of(conn, &anon)?;
                                    aliases.insert(anon, u.clone());
                                    u
                                }
                            };
                            e.user_id = user;
                        }
                    }
                    let subject = e
                        .user_id
                        .clone()
                        .or_else(|| e.anonymous_id.clone())
                        .unwrap_or_else(|| e.event_id.clone());
                    // Tombstones of the subject and of the anonymous id
                    // the event carries (an id linked to an erased user),
                    // against the event's time ([`before`]).
                    let mut erased = |id: &String, as_user: bool| -> Result<bool> {
                        let key = (id.clone(), as_user);
                        let t = match tombstones.get(&key) {
                            Some(t) => *t,
                            None => {
                                let t = tombstone(conn, &salt, &store_salt, id, as_user)?;
                                tombstones.insert(key, t);
                                t
                            }
                        };
                        Ok(before(t, e.ts, entry_id))
                    };
                    if erased(&subject, e.user_id.is_some())? {
                        done.dropped += 1;
                        continue;
                    }
                    // Another user's event that carries an erased id as its
                    // anonymous id (someone else logged in on the erased
                    // subject's device) stays that user's, without the id,
                    // as erasure leaves such events in the store.
                    // An event sent without a user id is its anonymous
                    // id's even when a link made after the erasure names a
                    // user now (found by a review): it goes.
                    if let Some(anon) = e.anonymous_id.clone() {
                        if anon != subject && erased(&anon, false)? {
                            if arrived_anonymous {
                                done.dropped += 1;
                                continue;
                            }
                            e.anonymous_id = None;
                        }
                    }
                    let p = self.partition_of(&subject);
                    if p == partition {
                        local.push(e);
                    } else {
                        let json = serde_json::to_string(&e).unwrap_or_default();
                        forwards.entry(p).or_default().push(("e", json));
                        done.forwarded += 1;
                    }
                }
                "i" => {
                    let Ok(i) = serde_json::from_str::<Identify>(data) else {
                        done.dropped += 1;
                        continue;
                    };
                    // An identify made before an erasure of its user (or of
                    // its anonymous id) that reaches the partition after it
                    // would bring the erased link back (found by a review):
                    // it goes, as such an event would.
                    let gone = |id: &str, as_user: bool| -> Result<bool> {
                        let t = tombstone(conn, &salt, &store_salt, id, as_user)?;
                        Ok(before(t, i.at, entry_id))
                    };
                    if gone(&i.user_id, true)? || gone(&i.anonymous_id, false)? {
                        done.dropped += 1;
                        continue;
                    }
                    aliases.insert(i.anonymous_id.clone(), Some(i.user_id.clone()));
                    let to = self.partition_of(&i.user_id);
                    // This partition's events of the anonymous id: stored
                    // ones, and those of this batch before the identify.
                    let mut theirs: Vec<Event> = Vec::new();
                    local.retain(|e| {
                        if e.user_id.is_none() && e.anonymous_id.as_deref() == Some(&i.anonymous_id)
                        {
                            theirs.push(e.clone());
                            false
                        } else {
                            true
                        }
                    });
                    for e in &mut theirs {
                        e.user_id = Some(i.user_id.clone());
                    }
                    if to == partition {
                        local.extend(theirs);
                    } else {
                        let stored = self.trail.tracking().events_of_anonymous(&i.anonymous_id)?;
                        for mut e in stored.into_iter().chain(theirs) {
                            e.user_id = Some(i.user_id.clone());
                            let json = serde_json::to_string(&e).unwrap_or_default();
                            forwards.entry(to).or_default().push(("e", json));
                            done.forwarded += 1;
                        }
                        moved.push(i.anonymous_id.clone());
                    }
                    links.push(i);
                    done.identified += 1;
                }
                "x" => {
                    let Ok(x) = serde_json::from_str::<Erase>(data) else {
                        done.dropped += 1;
                        continue;
                    };
                    // An event is its user's when it has one: another
                    // user's event that carries the subject as its
                    // anonymous id stays, without it (as erasure leaves
                    // such events in the store).
                    let before = local.len();
                    local.retain_mut(|e| {
                        let carried = e.anonymous_id.as_deref() == Some(&x.subject);
                        let theirs = match e.user_id.as_deref() {
                            Some(u) => u == x.subject,
                            None => carried,
                        };
                        if carried && !theirs && e.ts <= x.at {
                            e.anonymous_id = None;
                        }
                        !(theirs && e.ts <= x.at)
                    });
                    done.dropped += (before - local.len()) as u64;
                    for as_user in [false, true] {
                        tombstones.insert((x.subject.clone(), as_user), (Some(x.at), None));
                    }
                    erasures.push(x);
                    done.erased += 1;
                }
                _ => done.dropped += 1,
            }
        }

        // 2. What goes to other partitions goes first: if this step then
        //    fails, a replay sends it again, and its ids make that a no-op.
        for (p, entries) in &forwards {
            self.append(*p, entries).await?;
        }

        // 3. One transaction: the events, the identifies, the erasures, and
        //    the position.
        let tx = Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
        let stored = self.trail.tracking().store_forwarded(&tx, &local, now)?;
        done.stored = stored.stored;
        done.duplicates = stored.duplicates;
        for i in &links {
            identity::link(&tx, &i.anonymous_id, &i.user_id, i.at)?;
            if moved.contains(&i.anonymous_id) {
                tx.execute(
                    "DELETE FROM events WHERE anonymous_id = ?1 AND user_id IS NULL",
                    [&i.anonymous_id],
                )?;
                crate::tracking::rollup::recount_key(&tx, &i.anonymous_id)?;
            } else {
                let hours = crate::tracking::rollup::anonymous_hours(&tx, &i.anonymous_id)?;
                tx.execute(
                    "UPDATE events SET user_id = ?2 WHERE anonymous_id = ?1 AND user_id IS NULL",
                    [&i.anonymous_id, &i.user_id],
                )?;
                crate::tracking::rollup::recount_hours(&tx, &hours, [&i.anonymous_id, &i.user_id])?;
            }
        }
        let privacy = self.trail.privacy();
        for x in &erasures {
            let options = EraseOptions {
                reason: x.reason.clone(),
                actor: Some("pipeline".into()),
                ..EraseOptions::default()
            };
            privacy.erase_within(&tx, &x.subject, &options)?;
            tx.prepare_cached(
                "INSERT INTO pipeline_tombstones (subject_hash, erased_at) VALUES (?1, ?2) \
                 ON CONFLICT (subject_hash) DO UPDATE SET erased_at = max(erased_at, excluded.erased_at)",
            )?
            .execute(params![subject_hash::hash(&salt, &x.subject), x.at])?;
        }
        tx.prepare_cached(
            "INSERT INTO meta (key, value) VALUES (?1, ?2) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )?
        .execute([meta_key("position", partition), last.clone()])?;
        tx.commit()?;
        if !erasures.is_empty() {
            privacy.scrub_after_erase()?;
        }
        done.position = last.clone();

        // 4. The trim: what is committed (or, with snapshots, what the last
        //    snapshot holds) leaves the stream.
        let upto = match trim {
            Trim::None => None,
            Trim::Copy {
                worker,
                token,
                ttl_ms,
            } => {
                let keep = next_id(&last).unwrap_or_else(|| last.clone());
                let trimmed = self
                    .commit_copy(partition, &worker, token, ttl_ms, &last, &keep)
                    .await?;
                done.remaining = remaining.saturating_sub(trimmed);
                return Ok(done);
            }
            Trim::Committed => Some(last),
            Trim::Snapshot => conn
                .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
                .query_row([meta_key("snapshot", partition)], |r| r.get::<_, String>(0))
                .optional()?
                .map(|s| if older(&s, &last) { s } else { last }),
        };
        if let Some(keep) = upto.as_deref().and_then(next_id) {
            let trimmed = self
                .remote
                .run(
                    &TRIM,
                    vec![self.stream(partition), self.trim_mark(partition)],
                    vec![keep],
                )
                .await?
                .int()?;
            done.remaining = remaining.saturating_sub(trimmed.max(0) as u64);
        }
        Ok(done)
    }

    /// After a rectification applied here from the rights log: the renamed
    /// user's events that this partition holds but that belong to another
    /// partition now go there (same ids: a replay is a no-op), so that
    /// every subject's events stay in one partition and merges stay exact.
    async fn move_renamed(&self, partition: u32, user: &str) -> Result<()> {
        let to = self.partition_of(user);
        if to == partition {
            return Ok(());
        }
        let events = self.trail.tracking().events_of_user(user)?;
        if events.is_empty() {
            return Ok(());
        }
        let entries: Vec<(&str, String)> = events
            .iter()
            .map(|e| ("e", serde_json::to_string(e).unwrap_or_default()))
            .collect();
        self.append(to, &entries).await?;
        let conn = self.trail.store().conn();
        let tx = Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
        tx.execute("DELETE FROM events WHERE user_id = ?1", [user])?;
        crate::tracking::rollup::recount_key(&tx, user)?;
        tx.commit()?;
        Ok(())
    }

    /// A snapshot of this partition's engine: its database (an SQLite file)
    /// and the position it holds. Later trims (with [`Trim::Snapshot`]) keep
    /// the stream from that position, so the partition can be rebuilt by
    /// opening the snapshot and replaying.
    pub fn snapshot(&self, partition: u32) -> Result<(Vec<u8>, String)> {
        let position = self.position(partition)?;
        let bytes = self.trail.export()?;
        self.trail.store().conn().execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [meta_key("snapshot", partition), position.clone()],
        )?;
        Ok((bytes, position))
    }
}

#[cfg(test)]
mod tests {
    #[cfg(all(target_family = "wasm", target_os = "unknown"))]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn stream_ids_order_and_step() {
        assert_eq!(next_id("5-9").as_deref(), Some("5-10"));
        assert_eq!(next_id("nonsense"), None);
        assert!(older("5-9", "5-10"));
        assert!(older("4-99", "5-0"));
        assert!(!older("5-0", "5-0"));
    }
}
