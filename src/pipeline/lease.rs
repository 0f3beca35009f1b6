//! Partitions that fail over by themselves: workers, leases, replicas.
//!
//! Every worker process announces itself in a roster on Redis, renewed
//! while it lives. From the live roster, each partition's copies go to the
//! workers that rank highest for it (rendezvous hashing on the worker's
//! name, so a restarted worker gets its partitions back). Every copy reads
//! the same stream into its own database (a warm standby), and records the
//! position it committed next to the partition's lease.
//!
//! - **The lease.** One copy holds the partition's lease (`token|worker|url`,
//!   expiring unless renewed), taken with a fencing token that only grows.
//!   The holder answers queries (the coordinator finds it in Redis) and is
//!   the only copy that trims the stream; its trim checks the token in the
//!   same script, so a worker whose lease another took trims nothing.
//! - **Trims wait for every copy.** The stream is trimmed below what every
//!   live copy committed, and the trim mark remembers how far: a copy whose
//!   position is below it (a worker back after a long absence, a new one)
//!   loads a snapshot of the holder instead of reading.
//! - **Failover.** When a worker dies, its roster entry and its leases
//!   expire; the best-ranked live copy that is caught up takes each lease
//!   (no history replayed: it is warm), and the partitions' new copies go to
//!   the remaining workers.
//! - **Rebalancing.** A worker joining ranks first for some partitions: it
//!   loads a snapshot, catches up, and the holder hands the lease over; a
//!   copy no longer assigned is dropped once the assigned ones are caught up.
//!
//! The decisions are here ([`plan`]) and in the scripts; the loop that runs
//! them is `runWorker` in `pkg/pipeline.js`.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::{Pipeline, COMMIT, LEASE, MARK, ROSTER};
use crate::error::{Error, Result, StoreError};
use crate::kernel::ids::fnv1a;
use crate::store::remote::Reply;

/// How far (stream time, ms) a copy may be behind another and still count
/// as caught up: a lease is handed over, and a copy dropped, only to copies
/// this close.
pub const CAUGHT_UP_MS: i64 = 2000;

/// A live worker: its id (`name#incarnation`) and the URL it serves at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Member {
    /// `name#incarnation`: the name ranks, the whole id holds leases.
    pub worker: String,
    /// Where its partitions answer (`<url>p<N>/partial`).
    pub url: String,
}

/// A partition's lease holder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Holder {
    /// The fencing token: grows with every new holder.
    pub token: u64,
    /// The holding worker.
    pub worker: String,
    /// Where it answers.
    pub url: String,
}

/// A copy of a partition, as the other copies see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Copy {
    /// The worker holding it.
    pub worker: String,
    /// The stream position it committed.
    pub position: String,
}

/// A partition's lease and live copies.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LeaseState {
    /// The holder, if any.
    pub holder: Option<Holder>,
    /// The live copies.
    pub copies: Vec<Copy>,
}

/// What a copy asks of its partition's lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Want {
    /// Take the lease if it is free, or renew it.
    Own,
    /// Keep the copy; give the lease up if it is this worker's.
    Standby,
    /// Keep the copy, which is loading a snapshot (or stuck behind the trim
    /// mark): it is recorded at `0-0`, so trims wait for it and no worker
    /// counts it as current; give the lease up if it is this worker's.
    Loading,
    /// Drop the copy; give the lease up if it is this worker's.
    Leave,
}

impl Want {
    fn arg(self) -> &'static str {
        match self {
            Self::Own => "own",
            Self::Standby | Self::Loading => "standby",
            Self::Leave => "leave",
        }
    }
}

/// A copy this worker holds, as [`plan`] reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Held {
    /// The partition.
    pub partition: u32,
    /// Whether it has read its stream since it was opened (not behind).
    pub ready: bool,
    /// The position it committed.
    pub position: String,
    /// Its lease as last seen (`None` before the first look).
    #[serde(default)]
    pub lease: Option<LeaseState>,
    /// Behind the stream's trim mark with no holder to load a snapshot
    /// from, for longer than a lease lasts: no copy may be current.
    #[serde(default)]
    pub stuck: bool,
}

/// What a worker does next.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    /// Partitions to open a copy of.
    pub open: Vec<u32>,
    /// Partitions whose copy goes (their lease given up, their entry gone).
    pub drop: Vec<u32>,
    /// For each copy kept: what it asks of its lease.
    pub want: Vec<Ask>,
}

/// What a kept copy asks of its partition's lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ask {
    /// The partition.
    pub partition: u32,
    /// What it asks.
    pub want: Want,
    /// No live copy is current and this is the best-ranked one: it accepts
    /// that what the stream lost is lost, and reads on from the trim mark
    /// (`Pipeline::accept_loss`), reporting it.
    #[serde(default)]
    pub accept_loss: bool,
}

/// The name part of a worker id (`name#incarnation`).
fn name_of(worker: &str) -> &str {
    worker.split_once('#').map_or(worker, |(n, _)| n)
}

/// A 64-bit mix of FNV-1a (splitmix64's finaliser), so that rendezvous
/// scores of near names spread.
fn score(partition: u32, worker: &str) -> u64 {
    let mut z = fnv1a(&[
        b"usertrail replica",
        &partition.to_le_bytes(),
        name_of(worker).as_bytes(),
    ]);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The workers in the order they rank for `partition`: the first
/// `copies` hold it, the first of them is its preferred holder.
pub fn rank(partition: u32, workers: &[Member]) -> Vec<&Member> {
    let mut out: Vec<&Member> = workers.iter().collect();
    out.sort_by(|a, b| {
        score(partition, &b.worker)
            .cmp(&score(partition, &a.worker))
            .then_with(|| a.worker.cmp(&b.worker))
    });
    out
}

/// The time of a stream id, ms (0 for `0-0` or nonsense).
fn ms_of(id: &str) -> i64 {
    id.split_once('-')
        .and_then(|(ms, _)| ms.parse().ok())
        .unwrap_or(0)
}

/// Whether a copy at `theirs` is within [`CAUGHT_UP_MS`] of `best`, the
/// furthest live copy (all at `0-0`: a stream never read, all current).
fn caught_up(theirs: &str, best: &str) -> bool {
    if best == "0-0" {
        return theirs == "0-0";
    }
    theirs != "0-0" && ms_of(theirs) + CAUGHT_UP_MS >= ms_of(best)
}

/// The id just before `id` (`None` for `0-0` and nonsense).
fn prev_id(id: &str) -> Option<String> {
    let (ms, seq) = id.split_once('-')?;
    let (ms, seq): (u64, u64) = (ms.parse().ok()?, seq.parse().ok()?);
    match seq.checked_sub(1) {
        Some(s) => Some(format!("{ms}-{s}")),
        None => Some(format!("{}-{}", ms.checked_sub(1)?, u64::MAX)),
    }
}

/// Stream ids in order (`ms-seq`, numerically).
fn id_key(id: &str) -> (u64, u64) {
    id.split_once('-')
        .and_then(|(m, s)| Some((m.parse().ok()?, s.parse().ok()?)))
        .unwrap_or((0, 0))
}

/// The next step of worker `me`, which holds `held`, in a pipeline of
/// `partitions` partitions with `copies` copies each, given the live
/// `members` (`me` among them). Pure: every worker computes the same
/// assignment from the same roster.
pub fn plan(me: &str, members: &[Member], partitions: u32, copies: u32, held: &[Held]) -> Plan {
    let mut out = Plan::default();
    let live = |w: &str| members.iter().any(|m| m.worker == w);
    let by_partition: HashMap<u32, &Held> = held.iter().map(|h| (h.partition, h)).collect();
    for h in held.iter().filter(|h| h.partition >= partitions) {
        out.drop.push(h.partition);
    }
    for p in 0..partitions {
        let ranked = rank(p, members);
        let assigned: Vec<&str> = ranked
            .iter()
            .take(copies.max(1) as usize)
            .map(|m| m.worker.as_str())
            .collect();
        let mine = assigned.contains(&me);
        let Some(h) = by_partition.get(&p) else {
            if mine {
                out.open.push(p);
            }
            continue;
        };
        let state = h.lease.clone().unwrap_or_default();
        let holder = state.holder.as_ref().map(|x| x.worker.as_str());
        let is_holder = holder == Some(me);
        // The furthest live copy: every other is measured against it.
        let position = |w: &str| -> Option<&str> {
            if w == me {
                return h.ready.then_some(h.position.as_str());
            }
            if !live(w) {
                return None;
            }
            state
                .copies
                .iter()
                .find(|c| c.worker == w)
                .map(|c| c.position.as_str())
        };
        let best = members
            .iter()
            .filter_map(|m| position(&m.worker))
            .chain(h.ready.then_some(h.position.as_str()))
            .max_by_key(|p| id_key(p))
            .unwrap_or("0-0");
        let current = |w: &str| position(w).is_some_and(|pos| caught_up(pos, best));
        let want = if !h.ready {
            Want::Standby
        } else if is_holder {
            // Hand over to the preferred worker once it is caught up.
            match assigned.first() {
                Some(&first) if first != me && current(first) => Want::Standby,
                _ => Want::Own,
            }
        } else if holder.is_none() || holder.is_some_and(|w| !live(w)) {
            // A free lease goes to the best-ranked current copy.
            match ranked.iter().find(|m| current(&m.worker)) {
                Some(m) if m.worker == me => Want::Own,
                _ => Want::Standby,
            }
        } else {
            Want::Standby
        };
        // Stuck with no current copy anywhere: the best-ranked live copy
        // accepts the loss, so that the partition is held again.
        let registered = |w: &str| w == me || live(w) && state.copies.iter().any(|c| c.worker == w);
        // A live copy at a real position could read on: no loss to accept.
        let readable = state
            .copies
            .iter()
            .any(|c| c.worker != me && live(&c.worker) && c.position != "0-0");
        let accept_loss = h.stuck
            && holder.is_none()
            && !readable
            && ranked
                .iter()
                .find(|m| registered(&m.worker))
                .is_some_and(|m| m.worker == me);
        if !mine && !is_holder && assigned.iter().all(|w| *w != me && current(w)) {
            out.drop.push(p);
        } else {
            out.want.push(Ask {
                partition: p,
                want,
                accept_loss,
            });
        }
    }
    out
}

/// Reads a `token|worker|url` lease.
fn holder(text: &str) -> Option<Holder> {
    let mut parts = text.splitn(3, '|');
    let token = parts.next()?.parse().ok()?;
    Some(Holder {
        token,
        worker: parts.next()?.to_owned(),
        url: parts.next()?.to_owned(),
    })
}

/// Checks a worker id or URL as it goes into the roster.
fn check_id(field: &str, value: &str, max: usize) -> Result<()> {
    crate::kernel::text::check(field, value, max)?;
    if value.contains('|') || value.chars().any(char::is_control) {
        return Err(Error::invalid(
            field,
            "must not contain '|' or control characters",
        ));
    }
    Ok(())
}

/// Checks the URL a worker serves at: http(s), as [`check_id`].
fn check_url(url: &str) -> Result<()> {
    check_id("url", url, 2000)?;
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(Error::invalid("url", "must be an http:// or https:// URL"));
    }
    Ok(())
}

fn lease_state(reply: &Reply) -> Result<LeaseState> {
    let both = reply.tuple(2)?;
    let text = both[0].text()?;
    let holder = match text {
        "" => None,
        t => Some(holder(t).ok_or_else(|| {
            Error::from(StoreError::Garbled {
                detail: "a partition lease that is not token|worker|url".into(),
            })
        })?),
    };
    let flat = both[1].list()?;
    let mut copies = Vec::with_capacity(flat.len() / 2);
    for pair in flat.chunks(2) {
        if let [w, pos] = pair {
            copies.push(Copy {
                worker: w.text()?.to_owned(),
                position: pos.text()?.to_owned(),
            });
        }
    }
    Ok(LeaseState { holder, copies })
}

/// The longest a lease or roster entry may last, ms.
const MAX_TTL_MS: u32 = 600_000;

fn check_ttl(ttl_ms: u32) -> Result<()> {
    if !(100..=MAX_TTL_MS).contains(&ttl_ms) {
        return Err(Error::invalid(
            "ttlMs",
            format!("must be 100 to {MAX_TTL_MS}"),
        ));
    }
    Ok(())
}

impl Pipeline<'_> {
    fn partition_key(&self, partition: u32, name: &str) -> String {
        self.remote.key(&format!("p{partition}"), name)
    }

    /// Announces `worker` (serving at `url`) for `ttl_ms`, or, with
    /// `ttl_ms` 0, takes it out; returns the live workers.
    pub async fn roster(&self, worker: &str, url: &str, ttl_ms: u32) -> Result<Vec<Member>> {
        check_id("worker", worker, 200)?;
        check_url(url)?;
        if ttl_ms != 0 {
            check_ttl(ttl_ms)?;
        }
        let reply = self
            .remote
            .run(
                &ROSTER,
                vec![
                    self.remote.key("pipeline", "workers"),
                    self.remote.key("pipeline", "urls"),
                ],
                vec![worker.to_owned(), url.to_owned(), ttl_ms.to_string()],
            )
            .await?;
        let flat = reply.list()?;
        let mut out = Vec::with_capacity(flat.len() / 2);
        for pair in flat.chunks(2) {
            if let [w, u] = pair {
                out.push(Member {
                    worker: w.text()?.to_owned(),
                    url: u.text()?.to_owned(),
                });
            }
        }
        Ok(out)
    }

    /// Records this engine's copy of `partition` (its committed position)
    /// for `ttl_ms`, asks `want` of the lease, and returns the lease and
    /// the live copies.
    pub async fn lease(
        &self,
        partition: u32,
        worker: &str,
        url: &str,
        want: Want,
        ttl_ms: u32,
    ) -> Result<LeaseState> {
        self.check_partition(partition)?;
        check_id("worker", worker, 200)?;
        check_url(url)?;
        check_ttl(ttl_ms)?;
        let position = match want {
            Want::Loading => "0-0".to_owned(),
            _ => self.position(partition)?,
        };
        let reply = self
            .remote
            .run(
                &LEASE,
                self.lease_keys(partition),
                vec![
                    worker.to_owned(),
                    url.to_owned(),
                    position,
                    ttl_ms.to_string(),
                    want.arg().to_owned(),
                ],
            )
            .await?;
        lease_state(&reply)
    }

    fn lease_keys(&self, partition: u32) -> Vec<String> {
        vec![
            self.partition_key(partition, "lease"),
            self.partition_key(partition, "fence"),
            self.partition_key(partition, "copies"),
        ]
    }

    /// Every partition's lease and live copies, as Redis holds them now,
    /// changing nothing: where the coordinator finds the holders.
    pub async fn owners(&self) -> Result<Vec<LeaseState>> {
        let mut out = Vec::with_capacity(self.config.partitions as usize);
        for p in 0..self.config.partitions {
            let reply = self
                .remote
                .run(
                    &LEASE,
                    self.lease_keys(p),
                    vec![
                        String::new(),
                        String::new(),
                        String::new(),
                        "0".into(),
                        "read".into(),
                    ],
                )
                .await?;
            out.push(lease_state(&reply)?);
        }
        Ok(out)
    }

    /// After a copy committed `position`: records it, and, for the lease's
    /// holder (`token` non-zero), trims the stream below what every live
    /// copy committed. Returns the entries trimmed; `FENCED` when `token`
    /// is no longer the lease's.
    pub(super) async fn commit_copy(
        &self,
        partition: u32,
        worker: &str,
        token: u64,
        ttl_ms: u32,
        position: &str,
        keep: &str,
    ) -> Result<u64> {
        let trimmed = self
            .remote
            .run(
                &COMMIT,
                vec![
                    self.stream(partition),
                    self.partition_key(partition, "lease"),
                    self.partition_key(partition, "copies"),
                    self.partition_key(partition, "trimmed"),
                ],
                vec![
                    worker.to_owned(),
                    position.to_owned(),
                    ttl_ms.to_string(),
                    token.to_string(),
                    keep.to_owned(),
                ],
            )
            .await?
            .int()?;
        if trimmed < 0 {
            return Err(StoreError::Fenced { partition, token }.into());
        }
        Ok(trimmed as u64)
    }

    /// Moves this copy's position of `partition` up to its stream's trim
    /// mark, accepting that the entries the stream lost before it are lost
    /// for this copy: for a partition none of whose copies is current (all
    /// lost, or a stream trimmed past every copy), so that it is held
    /// again. Returns the new position (unchanged when the copy was not
    /// behind).
    pub async fn accept_loss(&self, partition: u32) -> Result<String> {
        self.check_partition(partition)?;
        let kept = self
            .remote
            .run(&MARK, vec![self.trim_mark(partition)], vec![])
            .await?;
        let kept = kept.opt_text()?.unwrap_or("0-0").to_owned();
        let position = self.position(partition)?;
        let Some(last_lost) = prev_id(&kept) else {
            return Ok(position);
        };
        if id_key(&position) >= id_key(&last_lost) {
            return Ok(position);
        }
        self.trail.store().conn().execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [format!("pipeline.position.p{partition}"), last_lost.clone()],
        )?;
        Ok(last_lost)
    }

    /// Checks a copy's worker id and lease time for a step.
    pub(super) fn check_copy(worker: &str, ttl_ms: u32) -> Result<()> {
        check_id("worker", worker, 200)?;
        check_ttl(ttl_ms)
    }
}

#[cfg(test)]
mod tests {
    #[cfg(all(target_family = "wasm", target_os = "unknown"))]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    fn ask(partition: u32, want: Want) -> Ask {
        Ask {
            partition,
            want,
            accept_loss: false,
        }
    }

    fn members(ids: &[&str]) -> Vec<Member> {
        ids.iter()
            .map(|w| Member {
                worker: (*w).to_owned(),
                url: format!("http://{w}/"),
            })
            .collect()
    }

    #[test]
    fn ranks_follow_names_not_incarnations() {
        let a = members(&["a#1", "b#1", "c#1"]);
        let b = members(&["c#9", "a#7", "b#3"]);
        for p in 0..8 {
            let x: Vec<&str> = rank(p, &a).iter().map(|m| name_of(&m.worker)).collect();
            let y: Vec<&str> = rank(p, &b).iter().map(|m| name_of(&m.worker)).collect();
            assert_eq!(x, y);
        }
    }

    #[test]
    fn assignment_spreads_and_moves_little() {
        let three = members(&["w1", "w2", "w3"]);
        let four = members(&["w1", "w2", "w3", "w4"]);
        let mut load = HashMap::new();
        let mut moved = 0;
        for p in 0..64 {
            let before: Vec<&str> = rank(p, &three)[..2]
                .iter()
                .map(|m| m.worker.as_str())
                .collect();
            let after: Vec<&str> = rank(p, &four)[..2]
                .iter()
                .map(|m| m.worker.as_str())
                .collect();
            for w in &after {
                *load.entry(*w).or_insert(0) += 1;
            }
            // A join only moves copies to the newcomer.
            for w in &after {
                assert!(before.contains(w) || *w == "w4");
            }
            moved += after.iter().filter(|w| **w == "w4").count();
        }
        assert!((16..=48).contains(&moved), "{moved}");
        for (_, n) in load {
            assert!((16..=48).contains(&n), "uneven: {n}");
        }
    }

    fn held(
        p: u32,
        ready: bool,
        position: &str,
        holder: Option<&str>,
        copies: &[(&str, &str)],
    ) -> Held {
        Held {
            partition: p,
            ready,
            position: position.into(),
            lease: Some(LeaseState {
                holder: holder.map(|w| Holder {
                    token: 1,
                    worker: w.into(),
                    url: String::new(),
                }),
                copies: copies
                    .iter()
                    .map(|(w, pos)| Copy {
                        worker: (*w).into(),
                        position: (*pos).into(),
                    })
                    .collect(),
            }),
            stuck: false,
        }
    }

    #[test]
    fn a_fresh_worker_opens_what_it_is_assigned() {
        let m = members(&["w1", "w2", "w3"]);
        let plan = plan("w1", &m, 4, 2, &[]);
        let expected: Vec<u32> = (0..4)
            .filter(|p| rank(*p, &m)[..2].iter().any(|x| x.worker == "w1"))
            .collect();
        assert_eq!(plan.open, expected);
        assert!(plan.drop.is_empty() && plan.want.is_empty());
    }

    #[test]
    fn a_free_lease_goes_to_the_best_current_copy_only() {
        let m = members(&["w1", "w2"]);
        let first = rank(0, &m)[0].worker.clone();
        let second = rank(0, &m)[1].worker.clone();
        let copies = [(first.as_str(), "100-0"), (second.as_str(), "100-0")];
        let p1 = plan(&first, &m, 1, 2, &[held(0, true, "100-0", None, &copies)]);
        assert_eq!(p1.want, vec![ask(0, Want::Own)]);
        let p2 = plan(&second, &m, 1, 2, &[held(0, true, "100-0", None, &copies)]);
        assert_eq!(p2.want, vec![ask(0, Want::Standby)]);
        // The first far behind (a snapshot loading): the second takes it.
        let copies = [(first.as_str(), "0-0"), (second.as_str(), "100000-0")];
        let p3 = plan(
            &second,
            &m,
            1,
            2,
            &[held(0, true, "100000-0", None, &copies)],
        );
        assert_eq!(p3.want, vec![ask(0, Want::Own)]);
        // A copy not ready never asks for the lease.
        let p4 = plan(&first, &m, 1, 2, &[held(0, false, "0-0", None, &copies)]);
        assert_eq!(p4.want, vec![ask(0, Want::Standby)]);
    }

    #[test]
    fn a_dead_holders_lease_is_taken_and_its_copies_reassigned() {
        let m = members(&["w1", "w2", "w3"]);
        // A partition where w3 held the lease and died.
        let p = (0..16)
            .find(|p| rank(*p, &m)[0].worker == "w3")
            .expect("some partition prefers w3");
        let standby = rank(p, &m)[1].worker.clone();
        let alive: Vec<Member> = m.iter().filter(|x| x.worker != "w3").cloned().collect();
        let copies = [("w3", "100-0"), (standby.as_str(), "100-0")];
        let step = plan(
            &standby,
            &alive,
            16,
            2,
            &[held(p, true, "100-0", Some("w3"), &copies)],
        );
        assert!(step.want.contains(&ask(p, Want::Own)), "{step:?}");
    }

    #[test]
    fn the_holder_hands_over_to_a_caught_up_preferred_worker_and_then_drops() {
        let three = members(&["w1", "w2", "w3"]);
        let four = members(&["w1", "w2", "w3", "w4"]);
        let p = (0..64)
            .find(|p| rank(*p, &four)[0].worker == "w4" && rank(*p, &three)[0].worker != "w4")
            .expect("some partition prefers the newcomer");
        let old = rank(p, &three)[0].worker.clone();
        // The newcomer still loading: the holder keeps the lease.
        let loading = [(old.as_str(), "100000-0"), ("w4", "0-0")];
        let step = plan(
            &old,
            &four,
            64,
            2,
            &[held(p, true, "100000-0", Some(&old), &loading)],
        );
        assert!(step.want.contains(&ask(p, Want::Own)), "{step:?}");
        // Caught up: it gives the lease up.
        let current = [(old.as_str(), "100000-0"), ("w4", "99000-0")];
        let step = plan(
            &old,
            &four,
            64,
            2,
            &[held(p, true, "100000-0", Some(&old), &current)],
        );
        assert!(
            step.want.contains(&ask(p, Want::Standby)) || step.drop.contains(&p),
            "{step:?}"
        );
        // Once the newcomer holds it, a copy no longer assigned goes.
        let assigned: Vec<String> = rank(p, &four)[..2]
            .iter()
            .map(|m| m.worker.clone())
            .collect();
        if !assigned.contains(&old) {
            let all: Vec<(&str, &str)> = assigned
                .iter()
                .map(|w| (w.as_str(), "100000-0"))
                .chain([(old.as_str(), "100000-0")])
                .collect();
            let step = plan(
                &old,
                &four,
                64,
                2,
                &[held(p, true, "100000-0", Some("w4"), &all)],
            );
            assert_eq!(step.drop, vec![p]);
        }
    }

    #[test]
    fn leases_parse_or_are_refused() {
        assert_eq!(
            holder("7|w1#a|http://x/p|q"),
            Some(Holder {
                token: 7,
                worker: "w1#a".into(),
                url: "http://x/p|q".into()
            })
        );
        assert_eq!(holder("x|w|u"), None);
        assert_eq!(holder("7|w"), None);
        assert!(check_id("worker", "a|b", 200).is_err());
        assert!(check_id("worker", "", 200).is_err());
        assert!(check_id("worker", "a\nb", 200).is_err());
        assert!(check_ttl(50).is_err());
        assert!(check_ttl(3000).is_ok());
    }

    #[test]
    fn a_copy_far_behind_never_takes_a_free_lease_from_current_ones() {
        let m = members(&["x", "y", "z"]);
        let p = (0..16).find(|p| rank(*p, &m)[0].worker == "x").unwrap();
        let copies = [("x", "1000-0"), ("y", "900000-0"), ("z", "900000-0")];
        let x = plan("x", &m, 16, 3, &[held(p, true, "1000-0", None, &copies)]);
        assert!(x.want.contains(&ask(p, Want::Standby)), "{x:?}");
        let second = rank(p, &m)[1].worker.clone();
        let y = plan(
            &second,
            &m,
            16,
            3,
            &[held(p, true, "900000-0", None, &copies)],
        );
        assert!(y.want.contains(&ask(p, Want::Own)), "{y:?}");
    }

    #[test]
    fn on_a_stream_never_read_every_copy_is_current_and_extras_go() {
        let three = members(&["a", "b", "c"]);
        // A partition c is not assigned in three, which c opened while alone.
        let p = (0..16).find(|p| rank(*p, &three)[2].worker == "c").unwrap();
        let copies = [("a", "0-0"), ("b", "0-0"), ("c", "0-0")];
        let c = plan(
            "c",
            &three,
            16,
            2,
            &[held(p, true, "0-0", Some("c"), &copies)],
        );
        // It hands the lease over though nothing was ever read...
        assert!(c.want.contains(&ask(p, Want::Standby)), "{c:?}");
        // ...and once another holds it, its copy goes.
        let first = rank(p, &three)[0].worker.clone();
        let c = plan(
            "c",
            &three,
            16,
            2,
            &[held(p, true, "0-0", Some(&first), &copies)],
        );
        assert_eq!(c.drop, vec![p]);
    }

    #[test]
    fn a_stuck_partition_is_adopted_by_its_best_ranked_live_copy_only() {
        let m = members(&["a", "b"]);
        let first = rank(0, &m)[0].worker.clone();
        let second = rank(0, &m)[1].worker.clone();
        let copies = [("a", "0-0"), ("b", "0-0")];
        let stuck = |me: &str, holder: Option<&str>| {
            let mut h = held(0, false, "0-0", holder, &copies);
            h.stuck = true;
            plan(me, &m, 1, 2, &[h])
        };
        assert!(stuck(&first, None).want[0].accept_loss);
        assert!(!stuck(&second, None).want[0].accept_loss);
        assert!(
            !stuck(&first, Some(&second)).want[0].accept_loss,
            "a holder to load from"
        );
        // A live peer at a real position (failing, or deferring): no loss.
        let mut h = held(
            0,
            false,
            "0-0",
            None,
            &[(&first, "0-0"), (&second, "500-0")],
        );
        h.stuck = true;
        assert!(!plan(&first, &m, 1, 2, &[h]).want[0].accept_loss);
        let mut not_stuck = held(0, false, "0-0", None, &copies);
        not_stuck.stuck = false;
        assert!(!plan(&first, &m, 1, 2, &[not_stuck]).want[0].accept_loss);
    }

    #[test]
    fn copies_of_partitions_out_of_range_are_dropped() {
        let m = members(&["a"]);
        let step = plan("a", &m, 2, 2, &[held(5, true, "1-0", None, &[])]);
        assert!(step.drop.contains(&5));
        assert_eq!(prev_id("5-1").as_deref(), Some("5-0"));
        assert_eq!(prev_id("5-0"), Some(format!("4-{}", u64::MAX)));
        assert_eq!(prev_id("0-0"), None);
    }
}
