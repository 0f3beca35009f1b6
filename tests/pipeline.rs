//! The analytics pipeline on a real Redis (native): a collector engine
//! checks and appends, partition engines store in stream order with their
//! position, identifies move events across partitions, erasures reach
//! events in flight. Processes, crashes and HTTP are in
//! `tests/js/pipeline.test.mjs`.
#![cfg(not(target_family = "wasm"))]

use crate::common;

use std::collections::BTreeSet;
use std::sync::Arc;

use common::redis as r;
use common::shared::{Clustered, Deployment, Standalone};
use common::*;
use serde_json::json;
use usertrail::clock::ManualClock;
use usertrail::pipeline::{CollectStatus, Pipeline, Trim};
use usertrail::store::remote::Remote;
use usertrail::tracking::{Event, EventInput};
use usertrail::{block_on, OpenOptions, Storage, UserTrail};

/// A collector and `n` partition engines on one prefix, one clock.
struct Line {
    collector: UserTrail,
    partitions: Vec<UserTrail>,
    clock: Arc<ManualClock>,
    prefix: String,
}

fn line(partitions: u32) -> Line {
    line_on::<Standalone>(partitions)
}

/// [`line`] on the shared store `D` (a standalone Redis, or a cluster).
fn line_on<D: Deployment>(partitions: u32) -> Line {
    let prefix = r::unique_prefix();
    let options = || {
        let mut o = OpenOptions::new(Storage::Memory);
        o.tracking.pipeline.partitions = partitions;
        // The devices' events are spread over the hour after the clock.
        o.tracking.pipeline.max_ahead_secs = 3600;
        o
    };
    let clock = Arc::new(ManualClock::new(T0));
    let open = |o: OpenOptions| {
        let remote = Remote::new(D::transport(), &prefix).unwrap();
        UserTrail::open(o.clock(clock.clone()).shared(remote)).unwrap()
    };
    Line {
        collector: open(options()),
        partitions: (0..partitions).map(|_| open(options())).collect(),
        clock,
        prefix,
    }
}

/// Events as a device's outbox leases them: tracked on a device engine.
fn device_events(
    n: usize,
    subject: impl Fn(usize) -> (Option<String>, Option<String>),
) -> Vec<Event> {
    let (device, _) = open_at(T0, {
        let mut o = OpenOptions::new(Storage::Memory);
        o.tracking.outbox = Some(Default::default());
        o
    });
    let inputs: Vec<EventInput> = (0..n)
        .map(|i| {
            let (user_id, anonymous_id) = subject(i);
            EventInput {
                name: format!("e{}", i % 5),
                user_id,
                anonymous_id,
                ip: Some("203.0.113.77".into()),
                properties: json!({ "i": i, "email": "ann@example.com" })
                    .as_object()
                    .cloned(),
                ts: Some(T0 + i as i64 * 1000),
                ..Default::default()
            }
        })
        .collect();
    device.tracking().track_batch(inputs, false).unwrap();
    let mut out = Vec::new();
    while let Some(batch) = device.tracking().outbox_take(1000).unwrap() {
        for e in batch.events {
            out.push(serde_json::from_value(e).unwrap());
        }
        device.tracking().outbox_ack(&batch.batch_id).unwrap();
    }
    out
}

fn drain(l: &Line) {
    loop {
        let mut read = 0;
        for (p, engine) in l.partitions.iter().enumerate() {
            let pipeline = Pipeline::new(engine).unwrap();
            read += block_on(pipeline.consume(p as u32, 500, Trim::Committed))
                .unwrap()
                .read;
        }
        if read == 0 {
            break;
        }
    }
}

#[test]
fn every_event_lands_once_in_its_subjects_partition_and_a_replay_changes_nothing() {
    let l = line(4);
    let events = device_events(400, |i| (Some(format!("user-{}", i % 37)), None));
    let collector = Pipeline::new(&l.collector).unwrap();
    let batch = || events.iter().cloned().map(Ok).collect::<Vec<_>>();
    let results = block_on(collector.collect(batch())).unwrap();
    assert!(results
        .iter()
        .all(|r| matches!(r, Ok(CollectStatus::Accepted { .. }))));
    // The same batch again (a device that did not see the 202): harmless.
    block_on(collector.collect(batch())).unwrap();
    drain(&l);
    let mut all = BTreeSet::new();
    for (p, engine) in l.partitions.iter().enumerate() {
        let here = ids(engine);
        for e in &events {
            let subject = e.user_id.clone().unwrap();
            let home = collector.partition_of(&subject) as usize;
            assert_eq!(
                here.contains(&e.event_id),
                home == p,
                "{} in p{p}",
                e.event_id
            );
        }
        all.extend(here);
    }
    let produced: BTreeSet<String> = events.iter().map(|e| e.event_id.clone()).collect();
    assert_eq!(all, produced, "none lost, none twice");
    // Minimised at the device, and again at the collector: no raw IP, no email.
    for engine in &l.partitions {
        let bytes = engine.export().unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains("203.0.113.77") && !text.contains("ann@example.com"));
    }
    // Streams trimmed to what is committed.
    let keys = r::keys(&Standalone::urls(), &l.prefix);
    for k in keys.iter().filter(|k| k.ends_with(":events")) {
        let len: i64 = ::redis::cmd("XLEN")
            .arg(k)
            .query(&mut r::node_for(&Standalone::urls(), k))
            .unwrap();
        assert!(len <= 1, "{k}: {len}");
    }
}

#[test]
fn the_collector_refuses_bad_events_one_by_one_and_appends_the_rest() {
    let l = line(2);
    let good = device_events(3, |_| (Some("ann".into()), None));
    let mut bad_id = good[0].clone();
    bad_id.event_id = "not-a-uuid".into();
    let mut bad_rate = good[1].clone();
    bad_rate.sample_rate = 0.0;
    bad_rate.event_id = usertrail::tracking::uuid_v7(T0);
    let mut bad_type = good[2].clone();
    bad_type.event_type = "'; DROP TABLE events; --".into();
    bad_type.event_id = usertrail::tracking::uuid_v7(T0);
    let mut bad_ip = good[2].clone();
    bad_ip.client.ip = Some("localhost".into());
    bad_ip.event_id = usertrail::tracking::uuid_v7(T0);
    let mut huge = good[2].clone();
    huge.name = "x".repeat(500);
    huge.event_id = usertrail::tracking::uuid_v7(T0);
    let batch = vec![
        Ok(bad_id),
        Ok(bad_rate),
        Ok(good[2].clone()),
        Ok(bad_type),
        Ok(bad_ip),
        Ok(huge),
        serde_json::from_value::<Event>(json!({ "eventId": 1 }))
            .map_err(|e| usertrail::Error::invalid("event", e.to_string())),
    ];
    let results = block_on(Pipeline::new(&l.collector).unwrap().collect(batch)).unwrap();
    let codes: Vec<String> = results
        .iter()
        .map(|r| match r {
            Ok(_) => "OK".into(),
            Err(e) => e.field().unwrap_or("?").to_string(),
        })
        .collect();
    assert_eq!(
        codes,
        [
            "events[0].eventId",
            "events[1].sampleRate",
            "OK",
            "events[3].type",
            "events[4].client.ip",
            "events[5].name",
            "events[6]"
        ]
    );
    drain(&l);
    let stored: usize = l.partitions.iter().map(|p| ids(p).len()).sum();
    assert_eq!(stored, 1);
}

#[test]
fn identify_moves_an_anonymous_ids_events_to_the_users_partition() {
    let l = line(4);
    let collector = Pipeline::new(&l.collector).unwrap();
    // An anonymous id and a user in different partitions.
    let anon = (0..100)
        .map(|i| format!("anon-{i}"))
        .find(|a| collector.partition_of(a) != collector.partition_of("zoe"))
        .unwrap();
    let before = device_events(10, |_| (None, Some(anon.clone())));
    block_on(collector.collect(before.iter().cloned().map(Ok).collect())).unwrap();
    drain(&l);
    block_on(collector.identify(&anon, "zoe")).unwrap();
    // Later events with only the anonymous id follow the alias.
    let after = device_events(5, |_| (None, Some(anon.clone())));
    let after: Vec<Event> = after
        .into_iter()
        .map(|mut e| {
            e.event_id = usertrail::tracking::uuid_v7(T0 + 99_000);
            e
        })
        .collect();
    block_on(collector.collect(after.iter().cloned().map(Ok).collect())).unwrap();
    drain(&l);
    let home = &l.partitions[collector.partition_of("zoe") as usize];
    let away = &l.partitions[collector.partition_of(&anon) as usize];
    assert_eq!(ids(away).len(), 0, "moved out");
    assert_eq!(ids(home).len(), 15);
    let users: i64 = home
        .store()
        .conn()
        .query_row(
            "SELECT count(*) FROM events WHERE user_id = 'zoe'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(users, 15);
}

#[test]
fn an_erasure_reaches_events_in_flight_and_leaves_no_byte_of_the_subject() {
    let l = line(3);
    let collector = Pipeline::new(&l.collector).unwrap();
    let subject = "erin.secret.id";
    let early = device_events(20, |i| {
        (
            Some(if i % 2 == 0 {
                subject.into()
            } else {
                format!("other-{i}")
            }),
            None,
        )
    });
    block_on(collector.collect(early.iter().cloned().map(Ok).collect())).unwrap();
    // Some of the subject's events are stored, others still in the stream...
    let home = collector.partition_of(subject);
    block_on(
        Pipeline::new(&l.partitions[home as usize])
            .unwrap()
            .consume(home, 5, Trim::Committed),
    )
    .unwrap();
    l.clock.advance(60_000);
    block_on(collector.erase(subject, "user request")).unwrap();
    // ...and a late device sends more it produced before the erasure.
    let late: Vec<Event> = device_events(5, |_| (Some(subject.into()), None))
        .into_iter()
        .map(|mut e| {
            e.event_id = usertrail::tracking::uuid_v7(T0 + 1);
            e
        })
        .collect();
    block_on(collector.collect(late.into_iter().map(Ok).collect())).unwrap();
    drain(&l);
    for engine in &l.partitions {
        let bytes = engine.export().unwrap();
        assert!(
            !bytes
                .windows(subject.len())
                .any(|w| w == subject.as_bytes()),
            "a byte of the subject is left"
        );
    }
    let others: usize = l.partitions.iter().map(|p| ids(p).len()).sum();
    assert_eq!(others, 10, "the other subjects' events stay");
    // Nor in Redis: the streams were trimmed past the erasure.
    let dump = r::dump(&Standalone::urls(), &l.prefix);
    assert!(
        !dump.windows(subject.len()).any(|w| w == subject.as_bytes()),
        "the stream still holds the subject"
    );
    // New events of the subject (after the erasure) are stored again.
    l.clock.advance(60_000);
    let mut fresh = device_events(1, |_| (Some(subject.into()), None)).remove(0);
    fresh.ts = T0 + 10 * 60_000;
    fresh.event_id = usertrail::tracking::uuid_v7(fresh.ts);
    block_on(collector.collect(vec![Ok(fresh)])).unwrap();
    drain(&l);
    let kept: i64 = l.partitions[home as usize]
        .store()
        .conn()
        .query_row(
            "SELECT count(*) FROM events WHERE user_id = ?1",
            [subject],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(kept, 1, "a new event after the erasure is kept");
}

/// Issue 25, finding 7: late events of an anonymous id linked to an erased
/// user, produced before the erasure, are dropped too (the erasure deleted
/// the link the alias would have needed).
#[test]
fn an_erasure_drops_late_events_of_the_ids_linked_to_the_subject() {
    erasure_drops_late_linked_events::<Standalone>();
}

#[test]
fn an_erasure_drops_late_events_of_the_ids_linked_to_the_subject_on_a_cluster() {
    erasure_drops_late_linked_events::<Clustered>();
}

fn erasure_drops_late_linked_events<D: Deployment>() {
    let l = line_on::<D>(4);
    let collector = Pipeline::new(&l.collector).unwrap();
    let user = "ursula-77";
    let anon = (0..100)
        .map(|i| format!("anon-late-{i}"))
        .find(|a| collector.partition_of(a) != collector.partition_of(user))
        .unwrap();
    let early = device_events(4, |_| (None, Some(anon.clone())));
    block_on(collector.collect(early.into_iter().map(Ok).collect())).unwrap();
    drain(&l);
    block_on(collector.identify(&anon, user)).unwrap();
    drain(&l);
    l.clock.advance(60_000);
    block_on(collector.erase(user, "user request")).unwrap();
    // A device that was offline sends the anonymous id's older events, one
    // of them by another user who logged in on it: that one stays his,
    // without the erased device id (as erasure leaves such events stored).
    let late: Vec<Event> = device_events(3, |i| {
        ((i == 2).then(|| "walt-9".to_owned()), Some(anon.clone()))
    })
    .into_iter()
    .map(|mut e| {
        e.event_id = usertrail::tracking::uuid_v7(T0 + 2);
        e
    })
    .collect();
    block_on(collector.collect(late.into_iter().map(Ok).collect())).unwrap();
    drain(&l);
    let walt = |engine: &UserTrail| {
        let n: i64 = engine
            .store()
            .conn()
            .query_row(
                "SELECT count(*) FROM events WHERE user_id = 'walt-9' AND anonymous_id IS NULL",
                [],
                |r| r.get(0),
            )
            .unwrap();
        n as usize
    };
    let walts: usize = l.partitions.iter().map(walt).sum();
    assert_eq!(walts, 1, "the other user's event is kept, without the id");
    for (p, engine) in l.partitions.iter().enumerate() {
        assert_eq!(ids(engine).len(), walt(engine), "partition {p} kept events");
        let bytes = engine.export().unwrap();
        for needle in [user, anon.as_str()] {
            assert!(
                !contains(&bytes, needle.as_bytes()),
                "{needle} in partition {p}"
            );
        }
    }
    let dump = r::dump(&D::urls(), &l.prefix);
    for needle in [user, anon.as_str()] {
        assert!(!contains(&dump, needle.as_bytes()), "{needle} in Redis");
    }
}

/// An identify still in a partition's stream when its user is erased does
/// not bring the erased link back when the partition reads it (found by a
/// review): no link, and no byte of the user or the device.
#[test]
fn an_identify_read_after_its_users_erasure_links_nothing() {
    let l = line(4);
    let collector = Pipeline::new(&l.collector).unwrap();
    let (user, anon) = ("ulla-31", "dev-ulla-31");
    let early = device_events(2, |_| (None, Some(anon.to_owned())));
    block_on(collector.collect(early.into_iter().map(Ok).collect())).unwrap();
    drain(&l);
    // The identify is appended, not yet read by the partitions.
    block_on(collector.identify(anon, user)).unwrap();
    l.clock.advance(60_000);
    block_on(collector.erase(user, "user request")).unwrap();
    drain(&l);
    for (p, engine) in l.partitions.iter().enumerate() {
        let links: i64 = engine
            .store()
            .conn()
            .query_row("SELECT count(*) FROM identities", [], |r| r.get(0))
            .unwrap();
        assert_eq!(links, 0, "partition {p} linked the erased user again");
        let bytes = engine.export().unwrap();
        for needle in [user, anon] {
            assert!(
                !contains(&bytes, needle.as_bytes()),
                "{needle} in partition {p}"
            );
        }
    }
}

/// A review of the linked-id rule: the erased user's linked anonymous id
/// is the text of another user's user id (ids are free text). That user's
/// own events still in flight, produced before the erasure, are kept; the
/// erased user's device's late events are dropped.
#[test]
fn an_erasure_keeps_late_events_of_a_user_whose_id_was_a_linked_id() {
    let l = line(4);
    let collector = Pipeline::new(&l.collector).unwrap();
    let (alice, bob) = ("alice-88", "bob-88");
    // Alice's own event, then one of a device whose anonymous id is her name.
    let both = |_: usize| {
        device_events(2, |i| {
            if i == 0 {
                (Some(alice.to_owned()), None)
            } else {
                (None, Some(alice.to_owned()))
            }
        })
    };
    block_on(collector.collect(both(0).into_iter().map(Ok).collect())).unwrap();
    drain(&l);
    block_on(collector.identify(alice, bob)).unwrap();
    drain(&l);
    l.clock.advance(60_000);
    block_on(collector.erase(bob, "user request")).unwrap();
    drain(&l);
    let late: Vec<Event> = both(1)
        .into_iter()
        .map(|mut e| {
            e.event_id = usertrail::tracking::uuid_v7(T0 + 2);
            e
        })
        .collect();
    block_on(collector.collect(late.into_iter().map(Ok).collect())).unwrap();
    drain(&l);
    let count = |sql: &str| -> i64 {
        l.partitions
            .iter()
            .map(|p| {
                p.store()
                    .conn()
                    .query_row(sql, [], |r| r.get::<_, i64>(0))
                    .unwrap()
            })
            .sum()
    };
    assert_eq!(
        count("SELECT count(*) FROM events WHERE user_id = 'alice-88'"),
        2,
        "alice's event and her late one"
    );
    assert_eq!(
        count("SELECT count(*) FROM events WHERE user_id IS NULL OR user_id = 'bob-88'"),
        0,
        "nothing of bob's device"
    );
}

/// A rectification reaches the partitions, and the renamed user's events
/// move to the new id's partition, so merges stay exact.
#[test]
fn a_rectification_renames_in_the_partitions_and_moves_the_events_home() {
    let l = line(4);
    let collector = Pipeline::new(&l.collector).unwrap();
    let old = "rita-old";
    let new = (0..100)
        .map(|i| format!("rita-new-{i}"))
        .find(|n| collector.partition_of(n) != collector.partition_of(old))
        .unwrap();
    let events = device_events(6, |_| (Some(old.into()), None));
    block_on(collector.collect(events.into_iter().map(Ok).collect())).unwrap();
    drain(&l);
    let o = usertrail::privacy::RectifyOptions {
        user_id: new.clone(),
        ..Default::default()
    };
    block_on(l.collector.privacy().rectify(old, &o)).unwrap();
    drain(&l);
    let home = &l.partitions[collector.partition_of(&new) as usize];
    let away = &l.partitions[collector.partition_of(old) as usize];
    assert_eq!(ids(away).len(), 0, "moved out");
    let renamed: i64 = home
        .store()
        .conn()
        .query_row(
            "SELECT count(*) FROM events WHERE user_id = ?1",
            [&new],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(renamed, 6);
}

/// Issue 26, findings 4 and 5: an event id another subject's event holds
/// does not suppress this one (both are kept, the second under an id
/// derived from its own and its subject, the same at every replay); event
/// times far from the collector's clock are refused one by one.
#[test]
fn event_ids_do_not_cross_subjects_and_times_are_bounded() {
    let l = line(1);
    let collector = Pipeline::new(&l.collector).unwrap();
    let real = device_events(1, |_| (Some("victim".into()), None)).remove(0);
    let mut forged = real.clone();
    forged.user_id = Some("forger".into());
    // The forger's copy arrives first, then the real one, then a replay.
    for batch in [
        vec![forged.clone()],
        vec![real.clone()],
        vec![real.clone(), forged],
    ] {
        let results = block_on(collector.collect(batch.into_iter().map(Ok).collect())).unwrap();
        assert!(results
            .iter()
            .all(|r| matches!(r, Ok(CollectStatus::Accepted { .. }))));
    }
    drain(&l);
    let rows: Vec<(String, String)> = {
        let conn = l.partitions[0].store().conn();
        let mut stmt = conn
            .prepare(&format!(
                "SELECT user_id, {} FROM events ORDER BY user_id",
                usertrail::tracking::EVENT_ID_TEXT
            ))
            .unwrap();
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
        rows.collect::<Result<_, _>>().unwrap()
    };
    assert_eq!(rows.len(), 2, "both kept, each once: {rows:?}");
    assert_eq!(rows[0], ("forger".to_owned(), real.event_id.clone()));
    assert_eq!(rows[1].0, "victim");
    assert_ne!(rows[1].1, real.event_id, "under a derived id");
    assert_eq!(
        &rows[1].1[..13],
        &real.event_id[..13],
        "which keeps the time"
    );
    // The same on an engine's own track: the second subject's event is kept.
    let (t, _) = open_at(T0, OpenOptions::new(Storage::Memory));
    let input = |user: &str| EventInput {
        event_id: Some(real.event_id.clone()),
        name: "x".into(),
        user_id: Some(user.into()),
        ..Default::default()
    };
    assert_eq!(
        t.tracking().track(input("a")).unwrap().1,
        usertrail::tracking::TrackStatus::Stored
    );
    let (id_b, status) = t.tracking().track(input("b")).unwrap();
    assert_eq!(status, usertrail::tracking::TrackStatus::Stored);
    assert_ne!(id_b, real.event_id);
    assert_eq!(
        t.tracking().track(input("b")).unwrap().1,
        usertrail::tracking::TrackStatus::Duplicate
    );
    assert_eq!(
        t.tracking().track(input("a")).unwrap().1,
        usertrail::tracking::TrackStatus::Duplicate
    );
    // Times: 30 days back and 5 minutes ahead by default, per event.
    let (hub, _) = open_at(T0, {
        let mut o = OpenOptions::new(Storage::Memory);
        o.tracking.pipeline.partitions = 1;
        o.shared(Remote::new(Standalone::transport(), &l.prefix).unwrap())
    });
    let hub = Pipeline::new(&hub).unwrap();
    let at = |ts: i64| {
        let mut e = device_events(1, |_| (Some("timely".into()), None)).remove(0);
        e.ts = ts;
        e.event_id = usertrail::tracking::uuid_v7(ts.max(0));
        Ok(e)
    };
    let day = 86_400_000;
    let results = block_on(hub.collect(vec![
        at(T0 - 29 * day),
        at(T0 - 31 * day),
        at(T0 + 4 * 60_000),
        at(T0 + 6 * 60_000),
        at(i64::MAX / 2),
        at(-1),
    ]))
    .unwrap();
    let codes: Vec<String> = results
        .iter()
        .map(|r| match r {
            Ok(_) => "ok".into(),
            Err(e) => format!(
                "{} {}",
                usertrail::error::ErrorCode::code(e),
                e.field().unwrap_or("")
            ),
        })
        .collect();
    assert_eq!(
        codes,
        [
            "ok",
            "INVALID_INPUT events[1].ts",
            "ok",
            "INVALID_INPUT events[3].ts",
            "INVALID_INPUT events[4].ts",
            "INVALID_INPUT events[5].ts"
        ]
    );
    for bad in [0u32, 400 * 86_400 + 1] {
        let mut o = OpenOptions::new(Storage::Memory);
        o.tracking.pipeline.max_age_secs = bad;
        assert_eq!(code(UserTrail::open(o).map(|_| ())), "INVALID_INPUT");
    }
}

/// Events in flight are dropped after every right that removes a
/// subject's events: erasure, anonymisation, and withdrawal of analytics
/// with erasure; also by a partition that opens only after the right was
/// exercised, and for an event whose `ts` is ahead of the erasure (a
/// device's clock ahead): it was appended before the erasure.
#[test]
fn events_in_flight_are_dropped_after_every_right_that_removes_them() {
    let l = line(1);
    let collector = Pipeline::new(&l.collector).unwrap();
    let send = |user: &str, ts: i64| {
        let mut e = device_events(1, |_| (Some(user.into()), None)).remove(0);
        e.ts = ts;
        e.event_id = usertrail::tracking::uuid_v7(ts);
        block_on(collector.collect(vec![Ok(e)])).unwrap();
    };
    send("gone-e", T0 + 1);
    send("gone-a", T0 + 1);
    send("gone-w", T0 + 1);
    // Ahead of the erasure by its own clock, but appended before it.
    send("gone-e", T0 + 2 * 60_000);
    send("kept", T0 + 1);
    l.clock.advance(30_000);
    let p = l.collector.privacy();
    block_on(p.erase(
        "gone-e",
        &usertrail::privacy::EraseOptions {
            reason: "r".into(),
            ..Default::default()
        },
    ))
    .unwrap();
    block_on(p.anonymize("gone-a", &Default::default())).unwrap();
    let w = usertrail::privacy::WithdrawOptions {
        purposes: vec!["analytics".into()],
        source: "s".into(),
        erase: true,
        ..Default::default()
    };
    block_on(p.withdraw("gone-w", &w)).unwrap();
    // A partition that opens only now (a new one, or one rebuilt from nothing).
    let fresh = UserTrail::open(
        OpenOptions::new(Storage::Memory)
            .shared(Remote::new(Standalone::transport(), &l.prefix).unwrap())
            .clock(l.clock.clone())
            .tracking({
                let mut t = usertrail::tracking::TrackingConfig::default();
                t.pipeline.partitions = 1;
                t.pipeline.max_ahead_secs = 3600;
                t
            }),
    )
    .unwrap();
    let step = block_on(
        Pipeline::new(&fresh)
            .unwrap()
            .consume(0, 100, Trim::Committed),
    )
    .unwrap();
    assert_eq!((step.stored, step.dropped), (1, 4), "{step:?}");
    let users: Vec<String> = {
        let conn = fresh.store().conn();
        let mut stmt = conn.prepare("SELECT user_id FROM events").unwrap();
        let rows = stmt.query_map([], |r| r.get(0)).unwrap();
        rows.collect::<Result<_, _>>().unwrap()
    };
    assert_eq!(users, ["kept"]);
}

#[test]
fn the_pipeline_needs_a_shared_store_and_a_partition_in_range() {
    let (alone, _) = open_at(T0, OpenOptions::new(Storage::Memory));
    assert_eq!(code(Pipeline::new(&alone).map(|_| ())), "INVALID_INPUT");
    let l = line(2);
    let p = Pipeline::new(&l.partitions[0]).unwrap();
    assert_eq!(
        code(block_on(p.consume(2, 10, Trim::Committed))),
        "INVALID_INPUT"
    );
}

#[test]
fn a_batch_body_is_read_strictly_and_one_bad_event_is_refused_alone() {
    use usertrail::error::ErrorCode;
    use usertrail::pipeline::parse_body;
    // The body's shape: not JSON, not an object, no events, an unknown field.
    for bad in [
        "",
        "not json",
        "[]",
        "null",
        "{}",
        r#"{"events": {}}"#,
        r#"{"events": [], "drop": "table"}"#,
        r#"{"events": [], "sentAt": "yesterday"}"#,
    ] {
        let err = parse_body(bad, 10)
            .err()
            .unwrap_or_else(|| panic!("{bad:?} passed"));
        assert_eq!(err.code(), "INVALID_INPUT", "{bad:?}");
        assert_eq!(err.field(), Some("body"), "{bad:?}");
    }
    // Past the cap the batch is refused as a whole, naming `events`.
    let many = format!(r#"{{"events": [{}]}}"#, ["{}"; 11].join(","));
    let err = parse_body(&many, 10).err().unwrap();
    assert_eq!((err.code(), err.field()), ("INVALID_INPUT", Some("events")));
    // One bad event among good ones is refused alone, in its place.
    let good =
        serde_json::to_value(device_events(1, |_| (Some("ann".into()), None)).pop()).unwrap();
    let text = json!({
        "events": [good.clone(), { "name": 5 }, good, "'; DROP TABLE events; --"],
        "batchId": "b-1",
        "sentAt": 1_700_000_000_000_i64,
    })
    .to_string();
    let parsed = parse_body(&text, 10).unwrap();
    let oks: Vec<bool> = parsed.iter().map(Result::is_ok).collect();
    assert_eq!(oks, [true, false, true, false]);
    assert_eq!(parsed[1].as_ref().err().unwrap().field(), Some("event"));
    // The cap a collector passes: 1 to 10,000, 10,000 by default.
    use usertrail::pipeline::{batch_cap, MAX_BATCH};
    assert_eq!(batch_cap(None).unwrap(), MAX_BATCH);
    assert_eq!(batch_cap(Some(50)).unwrap(), 50);
    for bad in [0, MAX_BATCH as u32 + 1, u32::MAX] {
        let err = batch_cap(Some(bad)).unwrap_err();
        assert_eq!(err.field(), Some("maxEvents"), "{bad}");
    }
}

#[test]
fn experiment_results_merged_over_partitions_equal_the_assigning_engine() {
    use usertrail::experiments::{Experiment, ResultsOptions, Variant};
    use usertrail::pipeline::merge;
    let experiment = Experiment {
        key: "checkout".into(),
        variants: ["control", "one-page", "express"]
            .map(|name| Variant {
                name: name.into(),
                weight: 1.0,
            })
            .to_vec(),
    };
    let (device, clock) = open_at(T0, {
        let mut o = OpenOptions::new(Storage::Memory);
        o.tracking.outbox = Some(Default::default());
        o
    });
    device.experiments().define(&experiment).unwrap();
    for i in 0..300 {
        let user = format!("user-{i}");
        clock.advance(1_000);
        device.experiments().assign("checkout", &user).unwrap();
        // A goal before the exposure does not count; one after does.
        if i % 7 == 0 {
            device
                .tracking()
                .track(EventInput {
                    name: "purchase".into(),
                    user_id: Some(user.clone()),
                    ts: Some(T0),
                    ..Default::default()
                })
                .unwrap();
        }
        if i % 3 == 0 || i % 5 == 0 {
            device
                .tracking()
                .track(EventInput {
                    name: "purchase".into(),
                    user_id: Some(user),
                    ..Default::default()
                })
                .unwrap();
        }
    }
    let o = ResultsOptions {
        goal: "purchase".into(),
        ..Default::default()
    };
    let whole = device.experiments().results("checkout", &o).unwrap();
    assert_eq!(
        device
            .experiments()
            .results_from_events("checkout", &o)
            .unwrap(),
        whole
    );
    assert!(whole
        .variants
        .iter()
        .all(|v| v.exposures > 50 && v.conversions > 0));

    let l = line(4);
    l.clock.set(T0 + 301_000);
    let mut events = Vec::new();
    while let Some(batch) = device.tracking().outbox_take(1000).unwrap() {
        events.extend(
            batch
                .events
                .into_iter()
                .map(|e| serde_json::from_value(e).map_err(|e| panic!("{e}"))),
        );
        device.tracking().outbox_ack(&batch.batch_id).unwrap();
    }
    block_on(Pipeline::new(&l.collector).unwrap().collect(events)).unwrap();
    drain(&l);
    let query = json!({ "key": "checkout", "goal": "purchase" });
    let parts: Vec<_> = l
        .partitions
        .iter()
        .map(|p| {
            p.experiments().define(&experiment).unwrap();
            merge::partial(p, "experimentResults", query.as_object().cloned().unwrap()).unwrap()
        })
        .collect();
    let merged = merge::merge(parts.clone()).unwrap();
    assert_eq!(merged, serde_json::to_value(&whole).unwrap());
    // Partials of different queries, or of another goal, do not merge.
    let mut other = parts[0].clone();
    other["results"]["goal"] = json!("signup");
    assert_eq!(
        merge::merge(vec![parts[1].clone(), other])
            .unwrap_err()
            .field(),
        Some("partials")
    );
    let summary = merge::partial(&l.partitions[0], "summary", Default::default()).unwrap();
    assert!(merge::merge(vec![parts[0].clone(), summary]).is_err());
    assert!(merge::merge(vec![]).is_err());
    // An unknown option or a missing key is refused.
    let bad = json!({ "key": "checkout", "goal": "purchase", "limit": 3 });
    assert!(merge::partial(
        &l.partitions[0],
        "experimentResults",
        bad.as_object().cloned().unwrap()
    )
    .is_err());
}
