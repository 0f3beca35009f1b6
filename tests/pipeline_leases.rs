//! Partition copies, leases and fencing on a real Redis (native): copies of
//! one partition read the same stream into their own databases, only the
//! lease's holder trims (below every live copy), a holder whose lease
//! another took trims nothing (`FENCED`), and a copy the stream was trimmed
//! past is told so (`REPLICA_BEHIND`) and catches up from a snapshot. The
//! worker processes, kills and rebalancing are in
//! `tests/js/partition-failover.test.mjs`.
#![cfg(not(target_family = "wasm"))]

use crate::common;

use std::sync::Arc;

use common::redis as r;
use common::shared::{Clustered, Deployment, Standalone};
use common::*;
use usertrail::clock::ManualClock;
use usertrail::pipeline::lease::Want;
use usertrail::pipeline::{Pipeline, Trim};
use usertrail::store::remote::Remote;
use usertrail::tracking::EventInput;
use usertrail::{block_on, OpenOptions, Storage, UserTrail};

const TTL: u32 = 60_000;

struct Copies {
    collector: UserTrail,
    prefix: String,
    clock: Arc<ManualClock>,
    urls: Vec<String>,
    transport: fn() -> Arc<r::RedisTransport>,
}

impl Copies {
    fn new<D: Deployment>() -> Self {
        let prefix = r::unique_prefix();
        let clock = Arc::new(ManualClock::new(T0));
        let open = |storage| open_on(D::transport(), &prefix, &clock, storage);
        Self {
            collector: open(Storage::Memory),
            urls: D::urls(),
            transport: D::transport,
            prefix,
            clock,
        }
    }

    fn open(&self, storage: Storage) -> UserTrail {
        open_on((self.transport)(), &self.prefix, &self.clock, storage)
    }

    fn send(&self, from: usize, n: usize) {
        let (device, _) = open_at(T0, {
            let mut o = OpenOptions::new(Storage::Memory);
            o.tracking.outbox = Some(Default::default());
            o
        });
        let inputs: Vec<EventInput> = (from..from + n)
            .map(|i| EventInput {
                name: "view".into(),
                user_id: Some(format!("user-{}", i % 13)),
                ts: Some(T0 + i as i64 * 1000),
                ..Default::default()
            })
            .collect();
        device.tracking().track_batch(inputs, false).unwrap();
        let batch = device.tracking().outbox_take(10_000).unwrap().unwrap();
        let events = batch
            .events
            .into_iter()
            .map(|e| Ok(serde_json::from_value(e).unwrap()))
            .collect();
        block_on(Pipeline::new(&self.collector).unwrap().collect(events)).unwrap();
    }

    fn stream_len(&self) -> i64 {
        let key = format!("{}:{{p0}}:events", self.prefix);
        ::redis::cmd("XLEN")
            .arg(&key)
            .query(&mut r::node_for(&self.urls, &key))
            .unwrap()
    }
}

/// An engine of a one-partition pipeline on `prefix`.
fn open_on(
    transport: Arc<r::RedisTransport>,
    prefix: &str,
    clock: &Arc<ManualClock>,
    storage: Storage,
) -> UserTrail {
    let mut o = OpenOptions::new(storage);
    o.tracking.pipeline.partitions = 1;
    o.tracking.pipeline.max_ahead_secs = 3600;
    o.tracking.pipeline.stream_cap = 1000;
    let remote = Remote::new(transport, prefix).unwrap();
    UserTrail::open(o.clock(clock.clone()).shared(remote)).unwrap()
}

fn step(
    engine: &UserTrail,
    worker: &str,
    token: u64,
) -> usertrail::Result<usertrail::pipeline::Consumed> {
    let trim = Trim::Copy {
        worker: worker.into(),
        token,
        ttl_ms: TTL,
    };
    block_on(Pipeline::new(engine).unwrap().consume(0, 500, trim))
}

fn lease(engine: &UserTrail, worker: &str, want: Want) -> usertrail::pipeline::lease::LeaseState {
    block_on(
        Pipeline::new(engine)
            .unwrap()
            .lease(0, worker, "http://127.0.0.1:1/", want, TTL),
    )
    .unwrap()
}

fn token_of(state: &usertrail::pipeline::lease::LeaseState, worker: &str) -> u64 {
    state
        .holder
        .as_ref()
        .filter(|h| h.worker == worker)
        .map_or(0, |h| h.token)
}

fn copies_trim_below_each_other_and_a_stale_holder_is_fenced<D: Deployment>() {
    let c = Copies::new::<D>();
    let (a, b) = (c.open(Storage::Memory), c.open(Storage::Memory));
    // Both register; a takes the lease, b cannot while a holds it.
    let sa = lease(&a, "a#1", Want::Own);
    let sb = lease(&b, "b#1", Want::Own);
    let ta = token_of(&sa, "a#1");
    assert!(ta > 0, "{sa:?}");
    assert_eq!(token_of(&sb, "b#1"), 0);
    assert_eq!(sb.copies.len(), 2);

    c.send(0, 300);
    // The holder reads everything, but b has committed nothing: no trim.
    assert_eq!(step(&a, "a#1", ta).unwrap().read, 300);
    assert_eq!(c.stream_len(), 300, "kept for the standby");
    // A standby's step trims nothing either.
    assert_eq!(step(&b, "b#1", 0).unwrap().read, 300);
    assert_eq!(c.stream_len(), 300);
    // The holder's next step trims below both.
    c.send(300, 10);
    step(&a, "a#1", ta).unwrap();
    assert_eq!(c.stream_len(), 10, "below b's position only");
    assert_eq!(ids(&a).len(), 310);

    // a gives the lease up; b takes it with a bigger token.
    lease(&a, "a#1", Want::Standby);
    let tb = token_of(&lease(&b, "b#1", Want::Own), "b#1");
    assert!(tb > ta);
    // a, still thinking it holds the lease: its copy commits, it trims nothing.
    c.send(310, 5);
    let before = c.stream_len();
    let fenced = step(&a, "a#1", ta);
    assert_eq!(code(fenced), "FENCED");
    assert_eq!(c.stream_len(), before, "a fenced step trims nothing");
    assert_eq!(ids(&a).len(), 315, "its own copy is still current");
    step(&b, "b#1", tb).unwrap();
    assert_eq!(ids(&b), ids(&a));
}

#[test]
fn copies_trim_below_each_other_and_a_stale_holder_is_fenced_on_redis() {
    copies_trim_below_each_other_and_a_stale_holder_is_fenced::<Standalone>();
}

#[test]
fn copies_trim_below_each_other_and_a_stale_holder_is_fenced_on_a_cluster() {
    copies_trim_below_each_other_and_a_stale_holder_is_fenced::<Clustered>();
}

#[test]
fn a_copy_the_stream_was_trimmed_past_is_told_and_catches_up_from_a_snapshot() {
    let c = Copies::new::<Standalone>();
    let a = c.open(Storage::Memory);
    let ta = token_of(&lease(&a, "a#1", Want::Own), "a#1");
    c.send(0, 200);
    step(&a, "a#1", ta).unwrap();
    c.send(200, 20);
    step(&a, "a#1", ta).unwrap();
    assert!(c.stream_len() <= 20);
    // A new copy at 0-0: the entries it would need are gone.
    let fresh = c.open(Storage::Memory);
    let behind = step(&fresh, "n#1", 0);
    assert_eq!(code(behind), "REPLICA_BEHIND");
    assert!(ids(&fresh).is_empty(), "nothing stored");
    // A copy registered at 0-0 holds trims back from then on.
    lease(&fresh, "n#1", Want::Standby);
    c.send(220, 5);
    let kept = c.stream_len();
    step(&a, "a#1", ta).unwrap();
    assert_eq!(c.stream_len(), kept, "nothing trimmed below the new copy");
    // From the holder's snapshot, it reads on and equals the holder.
    let (bytes, _) = Pipeline::new(&a).unwrap().snapshot(0).unwrap();
    let loaded = c.open(Storage::Bytes(bytes));
    c.send(225, 5);
    step(&loaded, "n#1", 0).unwrap();
    step(&a, "a#1", ta).unwrap();
    assert_eq!(ids(&loaded), ids(&a));
    assert_eq!(ids(&a).len(), 230);
}

#[test]
fn the_roster_lists_live_workers_and_forgets_one_that_leaves() {
    let c = Copies::new::<Standalone>();
    let p = Pipeline::new(&c.collector).unwrap();
    block_on(p.roster("w1#a", "http://127.0.0.1:1/", TTL)).unwrap();
    let both = block_on(p.roster("w2#b", "http://127.0.0.1:2/", TTL)).unwrap();
    let names: Vec<&str> = both.iter().map(|m| m.worker.as_str()).collect();
    assert_eq!(names, ["w1#a", "w2#b"]);
    let left = block_on(p.roster("w1#a", "http://127.0.0.1:1/", 0)).unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].url, "http://127.0.0.1:2/");
    // The coordinator's view: no holder yet.
    let owners = block_on(p.owners()).unwrap();
    assert_eq!(owners.len(), 1);
    assert!(owners[0].holder.is_none());
}

#[test]
fn bad_worker_ids_urls_and_times_are_refused_and_change_nothing() {
    let c = Copies::new::<Standalone>();
    let p = Pipeline::new(&c.collector).unwrap();
    for (worker, url, ttl) in [
        ("a|b", "http://x/", TTL),
        ("", "http://x/", TTL),
        ("a\u{0}", "http://x/", TTL),
        ("a", "http://x/|evil", TTL),
        ("a", "http://x/", 5),
        ("a", "http://x/", 10_000_000),
        (&"w".repeat(201) as &str, "http://x/", TTL),
    ] {
        assert_eq!(
            code(block_on(p.roster(worker, url, ttl))),
            "INVALID_INPUT",
            "{worker:?} {url:?} {ttl}"
        );
        assert_eq!(
            code(block_on(p.lease(0, worker, url, Want::Own, ttl))),
            "INVALID_INPUT"
        );
    }
    assert_eq!(
        code(block_on(p.lease(1, "a", "http://x/", Want::Own, TTL))),
        "INVALID_INPUT"
    );
    let trim = Trim::Copy {
        worker: "x|y".into(),
        token: 1,
        ttl_ms: TTL,
    };
    assert_eq!(code(block_on(p.consume(0, 10, trim))), "INVALID_INPUT");
    assert!(
        block_on(p.roster("ok", "http://x/", TTL)).unwrap().len() == 1,
        "only the good one is listed"
    );
    let owners = block_on(p.owners()).unwrap();
    assert!(owners[0].holder.is_none() && owners[0].copies.is_empty());
}

#[test]
fn entries_the_cap_removes_tell_the_copies_that_had_not_read_them() {
    let c = Copies::new::<Standalone>();
    let (a, stuck) = (c.open(Storage::Memory), c.open(Storage::Memory));
    let ta = token_of(&lease(&a, "a#1", Want::Own), "a#1");
    lease(&stuck, "s#1", Want::Standby);
    // The stuck copy holds trims back; past the cap (1,000) the oldest go.
    c.send(0, 600);
    step(&a, "a#1", ta).unwrap();
    c.send(600, 600);
    step(&a, "a#1", ta).unwrap();
    assert!(c.stream_len() <= 1000, "capped: {}", c.stream_len());
    assert_eq!(code(step(&stuck, "s#1", 0)), "REPLICA_BEHIND");
    assert!(ids(&stuck).is_empty());
    // The holder had read them: it reads on.
    c.send(1200, 5);
    step(&a, "a#1", ta).unwrap();
    assert_eq!(ids(&a).len(), 1205);
    // With no copy to load from, a copy can accept the loss and read on.
    let p = Pipeline::new(&stuck).unwrap();
    let from = block_on(p.accept_loss(0)).unwrap();
    assert_ne!(from, "0-0");
    step(&stuck, "s#1", 0).unwrap();
    let kept = ids(&stuck);
    assert!(!kept.is_empty() && kept.len() < 1205, "{}", kept.len());
    assert!(kept.is_subset(&ids(&a)));
    // Accepting again changes nothing.
    assert_eq!(block_on(p.accept_loss(0)).unwrap(), p.position(0).unwrap());
}

#[test]
fn a_restarted_name_replaces_its_earlier_incarnation_and_a_token_is_checked_with_its_worker() {
    let c = Copies::new::<Standalone>();
    let p = Pipeline::new(&c.collector).unwrap();
    block_on(p.roster("w1#old", "http://127.0.0.1:1/", TTL)).unwrap();
    block_on(p.roster("w2#a", "http://127.0.0.1:2/", TTL)).unwrap();
    let now = block_on(p.roster("w1#new", "http://127.0.0.1:3/", TTL)).unwrap();
    let mut names: Vec<&str> = now.iter().map(|m| m.worker.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["w1#new", "w2#a"], "the old incarnation is gone");
    // Another worker presenting the holder's token trims nothing.
    let a = c.open(Storage::Memory);
    let ta = token_of(&lease(&a, "a#1", Want::Own), "a#1");
    c.send(0, 10);
    assert_eq!(code(step(&a, "b#1", ta)), "FENCED");
    assert_eq!(c.stream_len(), 10);
    // Only http(s) URLs are served at.
    for url in ["javascript:alert(1)//", "ftp://x/", "/relative"] {
        assert_eq!(code(block_on(p.roster("w3#a", url, TTL))), "INVALID_INPUT");
        assert_eq!(
            code(block_on(p.lease(0, "w3#a", url, Want::Own, TTL))),
            "INVALID_INPUT"
        );
    }
}
