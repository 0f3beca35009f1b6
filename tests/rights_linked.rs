//! The linked-id rule across a deployment (native, a standalone Redis):
//! ids are free text, so an anonymous id linked to a user can be the text
//! of another user's user id. The tests whose docs start with "F-" are
//! findings of the second review of that rule (the doc says what was
//! wrong), fixed; each `holds_*` test is a check it made that held. The
//! rights-log alias path is in `rights_aliases` below.
#![cfg(not(target_family = "wasm"))]

use crate::common;

use std::sync::Arc;

use common::people::*;
use common::redis as r;
use common::shared::{sibling, Deployment, Standalone};
use common::*;
use serde_json::{json, Value};
use usertrail::clock::ManualClock;
use usertrail::consent::WithdrawOptions;
use usertrail::privacy::{EraseOptions, ExportFormat, GrantOptions, RectifyOptions};
use usertrail::tracking::EventInput;
use usertrail::{block_on, OpenOptions, Storage, UserTrail};

fn erase_opts() -> EraseOptions {
    EraseOptions {
        reason: "user request".into(),
        ..Default::default()
    }
}

async fn erase_a(trail: &UserTrail, subject: &str) {
    trail.privacy().erase(subject, &erase_opts()).await.unwrap();
}

fn grant_opts(purposes: &[&str]) -> GrantOptions {
    GrantOptions {
        purposes: purposes.iter().map(|p| p.to_string()).collect(),
        source: "banner".into(),
        ip: Some(IP.into()),
        ..GrantOptions::default()
    }
}

fn withdraw_opts(purposes: &[&str], erase: bool) -> WithdrawOptions {
    WithdrawOptions {
        purposes: purposes.iter().map(|p| p.to_string()).collect(),
        source: "settings".into(),
        erase,
        ..Default::default()
    }
}

fn ev(user: Option<&str>, anon: Option<&str>, who: &str) -> EventInput {
    event(user, anon, "click", json!({ "who": who }))
}

fn q(trail: &UserTrail, sql: &str) -> i64 {
    trail
        .store()
        .conn()
        .query_row(sql, [], |r| r.get(0))
        .unwrap()
}

/// Two engines on one fresh prefix of the standalone Redis, one clock.
fn shared_pair_with(options: fn() -> OpenOptions) -> (UserTrail, UserTrail, Arc<ManualClock>) {
    let remote = r::remote(Standalone::transport());
    let (a, clock) = open_at(T0, options().shared(remote));
    let b = sibling::<Standalone>(&a, options().clock(clock.clone()));
    (a, b, clock)
}

fn plain() -> OpenOptions {
    people_options(Storage::Memory)
}

fn shared_pair() -> (UserTrail, UserTrail, Arc<ManualClock>) {
    shared_pair_with(plain)
}

fn redis_dump(trail: &UserTrail) -> Vec<u8> {
    r::dump(&Standalone::urls(), trail.shared().unwrap().prefix())
}

async fn export_doc(trail: &UserTrail, subject: &str, timeout_ms: u32) -> Value {
    let f = trail
        .privacy()
        .export_from(subject, ExportFormat::Json, None, timeout_ms, &mut |_| {})
        .await
        .unwrap();
    serde_json::from_slice(&f.bytes).unwrap()
}

fn theme_def() -> usertrail::prefs::PrefDefinition {
    serde_json::from_value(json!({
        "key": "feed.interests", "category": "feed", "type": "json", "default": [],
        "purpose": "personalization"
    }))
    .unwrap()
}

// ---------------------------------------------------------------------
// Findings

/// F-D: (was) a withdrawal with erase by bob forgets, in the shared store, the
/// preferences of every id in `shared_ids` without asking `another_user`:
/// alice's own personalization preference goes.
#[test]
fn a_withdrawal_with_erase_keeps_a_linked_users_shared_prefs() {
    let (a, b, _) = shared_pair();
    a.prefs().define(&theme_def()).unwrap();
    b.prefs().define(&theme_def()).unwrap();
    block_on(async {
        a.track(ev(Some("alice"), Some("dev-of-alice"), "alice"))
            .await
            .unwrap();
        a.identify("dev-of-alice", "alice").await.unwrap();
        a.identify("alice", "bob").await.unwrap();
        a.prefs()
            .set("alice", "feed.interests", &json!(["knitting"]), "api")
            .await
            .unwrap();
        a.prefs()
            .set("bob", "feed.interests", &json!(["chess"]), "api")
            .await
            .unwrap();
        a.privacy()
            .withdraw("bob", &withdraw_opts(&["personalization"], true))
            .await
            .unwrap();
        let alices = a
            .prefs()
            .get("alice", "feed.interests")
            .await
            .unwrap()
            .value;
        let bobs = a.prefs().get("bob", "feed.interests").await.unwrap().value;
        assert_eq!(
            (bobs, alices),
            (json!([]), json!(["knitting"])),
            "(bob's, alice's) after bob's withdrawal"
        );
    });
}

/// F-E: (was) rectify(bob -> robert) in the shared store merges each of bob's
/// links into robert with `merge`, which carries the linked id's
/// decisions: alice's own marketing grant becomes robert's.
#[test]
fn rectify_links_a_linked_user_without_carrying_her_decisions() {
    let (a, _b, clock) = shared_pair();
    block_on(async {
        a.track(ev(Some("alice"), Some("dev-of-alice"), "alice"))
            .await
            .unwrap();
        a.identify("alice", "bob").await.unwrap();
        clock.advance(60_000);
        a.privacy()
            .grant("alice", &grant_opts(&["marketing"]))
            .await
            .unwrap();
        let before = a.privacy().status("bob").await.unwrap().purposes["marketing"].granted;
        a.privacy()
            .rectify(
                "bob",
                &RectifyOptions {
                    user_id: "robert".into(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let after = a.privacy().status("robert").await.unwrap().purposes["marketing"].granted;
        let doc = export_doc(&a, "robert", 300).await;
        let consents = doc["tables"]["sharedConsents"].clone();
        assert_eq!(
            (before, after),
            (false, false),
            "bob's / robert's marketing consent; robert's shared consents {consents}"
        );
    });
}

/// F-F: (was) an engine that finds only the linked id "alice" (a user there)
/// under a rights-log entry about bob writes the erasure's audit
/// tombstone under alice's hash: alice's own audit trail (and export)
/// now shows an "erase" with bob's request's details.
#[test]
fn an_engine_that_finds_only_a_linked_id_audits_under_no_ones_hash() {
    let (a, b, _) = shared_pair();
    block_on(async {
        b.track(ev(Some("alice"), None, "alice")).await.unwrap();
        a.track(ev(None, Some("alice"), "bobs-device"))
            .await
            .unwrap();
        a.identify("alice", "bob").await.unwrap();
        erase_a(&a, "bob").await;
        b.privacy().follow().await.unwrap();
        let doc = export_doc(&b, "alice", 300).await;
        let erases: Vec<&Value> = doc["tables"]["auditLog"]
            .as_array()
            .map(|a| a.iter().filter(|r| r["action"] == "erase").collect())
            .unwrap_or_default();
        assert!(
            erases.is_empty(),
            "alice's export on b shows an erasure: {erases:?}"
        );
    });
}

/// F-I (pre-existing, not from this range): `shared_ids` stops at 1000
/// ids. A user with more devices than that keeps, after erasure, the
/// Redis link of each device past the cap, whose value is his user id.
#[test]
fn holds_erasure_past_1000_devices_leaves_nothing_in_redis() {
    let (a, _b, _) = shared_pair();
    block_on(async {
        for i in 0..1010 {
            a.identify(&format!("dv-{i:04}"), "bob-zq7").await.unwrap();
        }
        erase_a(&a, "bob-zq7").await;
    });
    let dump = redis_dump(&a);
    let devices = (0..1010)
        .filter(|i| contains(&dump, format!("dv-{i:04}").as_bytes()))
        .count();
    assert_eq!(
        (contains(&dump, b"bob-zq7"), devices),
        (false, 0),
        "(bob's id, device ids) left in Redis"
    );
}

// ---------------------------------------------------------------------
// Checks that held

fn traces(engines: &[&UserTrail], redis: Option<&UserTrail>, needles: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    let dump = redis.map(redis_dump).unwrap_or_default();
    for n in needles {
        for (i, e) in engines.iter().enumerate() {
            if contains(&e.export().unwrap(), n.as_bytes()) {
                out.push(format!("{n} in engine {i}"));
            }
        }
        if contains(&dump, n.as_bytes()) {
            out.push(format!("{n} in Redis"));
        }
    }
    out
}

/// An anonymous visitor's request (erase by an anonymous id), locally and
/// with a shared store: everything of the id goes; another visitor stays.
#[test]
fn holds_erase_by_anonymous_id() {
    for shared in [false, true] {
        let (a, b) = if shared {
            let (a, b, _) = shared_pair();
            (a, Some(b))
        } else {
            (open_people(Storage::Memory).0, None)
        };
        let other = b.as_ref().unwrap_or(&a);
        block_on(async {
            a.track(ev(None, Some("vis-q81"), "mk-visitor-1"))
                .await
                .unwrap();
            other
                .track(ev(None, Some("vis-q81"), "mk-visitor-2"))
                .await
                .unwrap();
            other
                .track(ev(None, Some("vis-k22"), "mk-other"))
                .await
                .unwrap();
            a.privacy()
                .grant("vis-q81", &grant_opts(&["analytics"]))
                .await
                .unwrap();
            a.prefs()
                .set("vis-q81", "appearance.theme", &json!("dark"), "api")
                .await
                .unwrap();
            erase_a(&a, "vis-q81").await;
            if let Some(b) = &b {
                b.privacy().follow().await.unwrap();
            }
        });
        let mut engines = vec![&a];
        if let Some(b) = &b {
            engines.push(b);
        }
        let redis = b.as_ref().map(|_| &a);
        assert_eq!(
            traces(&engines, redis, &["vis-q81", "mk-visitor"]),
            Vec::<String>::new(),
            "shared {shared}"
        );
        assert_eq!(
            q(
                other,
                "SELECT count(*) FROM events WHERE anonymous_id = 'vis-k22'"
            ),
            1
        );
    }
}

/// A user with several devices over two engines and Redis, one device
/// also used by walt, and alice (a user) linked too: bob's erasure leaves
/// no byte of bob or his devices; walt keeps his event without the id;
/// alice stays whole.
#[test]
fn holds_several_devices_shared_byte_scan() {
    let (a, b, clock) = shared_pair();
    block_on(async {
        for (t, d) in [(&a, "dvc-one"), (&a, "dvc-two"), (&b, "dvc-three")] {
            t.track(ev(None, Some(d), "mk-dev")).await.unwrap();
            t.prefs()
                .set(d, "appearance.theme", &json!("dark"), "api")
                .await
                .unwrap();
            t.privacy()
                .grant(d, &grant_opts(&["analytics"]))
                .await
                .unwrap();
        }
        b.track(ev(Some("alice"), Some("dvc-alice"), "mk-alice"))
            .await
            .unwrap();
        b.identify("dvc-alice", "alice").await.unwrap();
        b.privacy()
            .grant("alice", &grant_opts(&["marketing"]))
            .await
            .unwrap();
        clock.advance(1000);
        a.identify("dvc-one", "bobbo").await.unwrap();
        a.identify("dvc-two", "bobbo").await.unwrap();
        b.identify("dvc-three", "bobbo").await.unwrap();
        a.identify("alice", "bobbo").await.unwrap();
        a.track(ev(Some("bobbo"), Some("dvc-one"), "mk-bob"))
            .await
            .unwrap();
        b.track(ev(Some("walt"), Some("dvc-one"), "mk-walt"))
            .await
            .unwrap();
        b.track(ev(None, Some("dvc-two"), "mk-dev-unlinked-on-b"))
            .await
            .unwrap();
        a.sessions()
            .create(common::session_suite::user("bobbo"))
            .await
            .unwrap();
        erase_a(&a, "bobbo").await;
        b.privacy().follow().await.unwrap();
        let alice_ok = (
            q(&b, "SELECT count(*) FROM events WHERE user_id = 'alice'"),
            q(
                &b,
                "SELECT count(*) FROM identities WHERE user_id = 'alice'",
            ),
            b.privacy().status("alice").await.unwrap().purposes["marketing"].granted,
        );
        assert_eq!(alice_ok, (1, 1, true));
    });
    assert_eq!(
        q(
            &b,
            "SELECT count(*) FROM events WHERE user_id = 'walt' AND anonymous_id IS NULL"
        ),
        1
    );
    assert_eq!(
        traces(
            &[&a, &b],
            Some(&a),
            &[
                "bobbo",
                "dvc-one",
                "dvc-two",
                "dvc-three",
                "mk-bob",
                "mk-dev"
            ]
        ),
        Vec::<String>::new()
    );
}

/// Rectify then erase across two engines (shared), alice linked as a
/// user: no byte of either name or the device; alice whole.
#[test]
fn holds_rectify_then_erase_shared() {
    let (a, b, _) = shared_pair();
    block_on(async {
        b.track(ev(Some("alice"), None, "mk-alice")).await.unwrap();
        a.track(ev(None, Some("dvc-r1"), "mk-dev")).await.unwrap();
        a.identify("dvc-r1", "bobbo").await.unwrap();
        a.identify("alice", "bobbo").await.unwrap();
        b.track(ev(Some("bobbo"), None, "mk-bob")).await.unwrap();
        a.prefs()
            .set("bobbo", "appearance.theme", &json!("dark"), "api")
            .await
            .unwrap();
        a.privacy()
            .rectify(
                "bobbo",
                &RectifyOptions {
                    user_id: "robbo".into(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        b.privacy().follow().await.unwrap();
        erase_a(&b, "robbo").await;
        a.privacy().follow().await.unwrap();
    });
    assert_eq!(
        q(&b, "SELECT count(*) FROM events WHERE user_id = 'alice'"),
        1
    );
    assert_eq!(
        traces(
            &[&a, &b],
            Some(&a),
            &["bobbo", "robbo", "dvc-r1", "mk-bob", "mk-dev"]
        ),
        Vec::<String>::new()
    );
}

/// The rights_aliases path: engine b is behind while a renames bob and
/// then erases the new name (whose sealing key goes with it). b, catching
/// up, keeps the old name's ids as aliases and the erasure reaches them
/// and b's local links; alice (a user, linked) stays whole on b.
#[test]
fn the_alias_path_reaches_the_subject_and_leaves_a_linked_user() {
    let (a, b, _) = shared_pair();
    block_on(async {
        b.track(ev(Some("bobbo"), Some("dvc-b1"), "mk-bob"))
            .await
            .unwrap();
        b.identify("dvc-b1", "bobbo").await.unwrap();
        b.track(ev(None, Some("dvc-b1"), "mk-dev")).await.unwrap();
        b.track(ev(Some("alice"), None, "mk-alice")).await.unwrap();
        a.identify("alice", "bobbo").await.unwrap();
        a.privacy()
            .rectify(
                "bobbo",
                &RectifyOptions {
                    user_id: "robbo".into(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        erase_a(&a, "robbo").await;
        b.privacy().follow().await.unwrap();
    });
    assert_eq!(
        q(&b, "SELECT count(*) FROM events WHERE user_id = 'alice'"),
        1
    );
    assert_eq!(q(&b, "SELECT count(*) FROM rights_aliases"), 0);
    assert_eq!(
        traces(
            &[&a, &b],
            Some(&a),
            &["bobbo", "robbo", "dvc-b1", "mk-bob", "mk-dev"]
        ),
        Vec::<String>::new()
    );
}

/// Odd input: cycles, self-links, a subject nobody knows, duplicate
/// identifies; every right on each; the engine stays usable.
#[test]
fn holds_odd_input() {
    for shared in [false, true] {
        let (a, b) = if shared {
            let (a, b, _) = shared_pair();
            (a, Some(b))
        } else {
            (open_people(Storage::Memory).0, None)
        };
        block_on(async {
            a.track(ev(Some("alice"), None, "a")).await.unwrap();
            a.track(ev(Some("bobbo"), None, "b")).await.unwrap();
            a.identify("alice", "bobbo").await.unwrap();
            a.identify("bobbo", "alice").await.unwrap();
            a.identify("bobbo", "bobbo").await.unwrap();
            a.identify("dvc-x", "bobbo").await.unwrap();
            a.identify("dvc-x", "bobbo").await.unwrap();
            erase_a(&a, "nobody-at-all").await;
            a.privacy()
                .anonymize("nobody-2", &Default::default())
                .await
                .unwrap();
            a.privacy()
                .withdraw("nobody-3", &withdraw_opts(&["analytics"], true))
                .await
                .unwrap();
            export_doc(&a, "nobody-4", 100).await;
            export_doc(&a, "bobbo", 100).await;
            erase_a(&a, "bobbo").await;
            a.privacy()
                .anonymize("alice", &Default::default())
                .await
                .unwrap();
            if let Some(b) = &b {
                b.privacy().follow().await.unwrap();
                b.track(ev(Some("carl"), None, "c")).await.unwrap();
            }
            a.track(ev(Some("carl"), None, "c")).await.unwrap();
        });
        assert_eq!(
            q(&a, "SELECT count(*) FROM events WHERE user_id = 'carl'"),
            1
        );
        assert_eq!(
            q(
                &a,
                "SELECT count(*) FROM events WHERE user_id IN ('alice', 'bobbo')"
            ),
            0
        );
    }
}

// ---------------------------------------------------------------------
// Pipeline

mod pipe {
    use super::*;
    use usertrail::pipeline::{Pipeline, Trim};
    use usertrail::tracking::Event;

    pub struct Line {
        pub collector: UserTrail,
        pub parts: Vec<UserTrail>,
        pub clock: Arc<ManualClock>,
    }

    pub fn line(n: u32) -> Line {
        let prefix = r::unique_prefix();
        let clock = Arc::new(ManualClock::new(T0));
        let open = || {
            let mut o = OpenOptions::new(Storage::Memory);
            o.tracking.pipeline.partitions = n;
            o.tracking.pipeline.max_ahead_secs = 3600;
            let remote =
                usertrail::store::remote::Remote::new(Standalone::transport(), &prefix).unwrap();
            UserTrail::open(o.clock(clock.clone()).shared(remote)).unwrap()
        };
        Line {
            collector: open(),
            parts: (0..n).map(|_| open()).collect(),
            clock,
        }
    }

    pub fn drain(l: &Line) {
        loop {
            let mut read = 0;
            for (p, e) in l.parts.iter().enumerate() {
                read += block_on(
                    Pipeline::new(e)
                        .unwrap()
                        .consume(p as u32, 500, Trim::Committed),
                )
                .unwrap()
                .read;
            }
            if read == 0 {
                break;
            }
        }
    }

    pub fn device(user: Option<&str>, anon: Option<&str>, ts: i64, marker: &str) -> Event {
        let (d, _) = open_at(T0, {
            let mut o = OpenOptions::new(Storage::Memory);
            o.tracking.outbox = Some(Default::default());
            o
        });
        d.tracking()
            .track(EventInput {
                name: "e".into(),
                user_id: user.map(Into::into),
                anonymous_id: anon.map(Into::into),
                ts: Some(ts),
                properties: json!({ "m": marker }).as_object().cloned(),
                ..Default::default()
            })
            .unwrap();
        let b = d.tracking().outbox_take(10).unwrap().unwrap();
        serde_json::from_value(b.events[0].clone()).unwrap()
    }

    pub fn sum(l: &Line, sql: &str) -> i64 {
        l.parts.iter().map(|e| q(e, sql)).sum()
    }

    pub fn bytes_hold(l: &Line, needle: &str) -> Vec<usize> {
        l.parts
            .iter()
            .enumerate()
            .filter(|(_, e)| contains(&e.export().unwrap(), needle.as_bytes()))
            .map(|(i, _)| i)
            .collect()
    }

    /// F-K: (was) bob's device's event produced before his erasure arrives late,
    /// after the device was identified to carol: it is stamped carol's and
    /// kept (without the device id) instead of dropped.
    #[test]
    fn a_late_device_event_of_an_erased_user_goes_even_after_a_relink() {
        let l = line(4);
        let pl = Pipeline::new(&l.collector).unwrap();
        block_on(pl.collect(vec![Ok(device(None, Some("dvc-k4"), T0, "mk-first"))])).unwrap();
        drain(&l);
        block_on(pl.identify("dvc-k4", "bob-k4")).unwrap();
        drain(&l);
        l.clock.advance(60_000);
        let late = device(None, Some("dvc-k4"), T0 + 30_000, "mk-bobs-late");
        block_on(pl.erase("bob-k4", "user request")).unwrap();
        drain(&l);
        l.clock.advance(60_000);
        block_on(pl.identify("dvc-k4", "carol-k4")).unwrap();
        drain(&l);
        block_on(pl.collect(vec![Ok(late)])).unwrap();
        drain(&l);
        assert_eq!(
            bytes_hold(&l, "mk-bobs-late"),
            Vec::<usize>::new(),
            "bob's device's pre-erasure event is kept"
        );
    }

    /// Regression check: late events of an erased user and of his linked
    /// device ids are dropped; another user's in-flight event is kept;
    /// alice (a user, linked) keeps her late events.
    #[test]
    fn holds_pipeline_drops_late_events_of_erased_user_and_devices() {
        let l = line(4);
        let pl = Pipeline::new(&l.collector).unwrap();
        block_on(pl.collect(vec![
            Ok(device(None, Some("dvc-h1"), T0, "mk-d1")),
            Ok(device(None, Some("dvc-h2"), T0, "mk-d2")),
            Ok(device(Some("alice-h"), None, T0, "mk-alice")),
            Ok(device(None, Some("alice-h"), T0, "mk-bobs-alice-device")),
        ]))
        .unwrap();
        drain(&l);
        for d in ["dvc-h1", "dvc-h2", "alice-h"] {
            block_on(pl.identify(d, "bob-h")).unwrap();
        }
        drain(&l);
        l.clock.advance(60_000);
        let late = vec![
            Ok(device(Some("bob-h"), None, T0 + 1000, "mk-late-bob")),
            Ok(device(None, Some("dvc-h1"), T0 + 1000, "mk-late-d1")),
            Ok(device(None, Some("dvc-h2"), T0 + 1000, "mk-late-d2")),
            Ok(device(
                None,
                Some("alice-h"),
                T0 + 1000,
                "mk-late-alice-device",
            )),
            Ok(device(Some("alice-h"), None, T0 + 1000, "mk-late-alice")),
            Ok(device(
                Some("walt-h"),
                Some("dvc-h1"),
                T0 + 1000,
                "mk-late-walt",
            )),
        ];
        block_on(pl.erase("bob-h", "user request")).unwrap();
        drain(&l);
        block_on(pl.collect(late)).unwrap();
        drain(&l);
        assert_eq!(
            sum(&l, "SELECT count(*) FROM events WHERE user_id = 'alice-h'"),
            2
        );
        assert_eq!(
            sum(
                &l,
                "SELECT count(*) FROM events WHERE user_id = 'walt-h' AND anonymous_id IS NULL"
            ),
            1
        );
        for n in [
            "bob-h",
            "dvc-h1",
            "dvc-h2",
            "mk-late-bob",
            "mk-late-d",
            "mk-d1",
            "mk-bobs-alice",
            "mk-late-alice-device",
        ] {
            assert_eq!(bytes_hold(&l, n), Vec::<usize>::new(), "{n}");
        }
    }
}

/// A rename the log could not finish (its new name erased before a lagging
/// engine caught up) and the erasure that follows, in one read or two.
mod rights_aliases {

    use crate::common;

    use common::people::*;
    use common::redis as r;
    use common::shared::{sibling, Deployment, Standalone};
    use common::*;
    use serde_json::json;
    use usertrail::privacy::{EraseOptions, RectifyOptions};
    use usertrail::{block_on, Storage, UserTrail};

    fn q(trail: &UserTrail, sql: &str) -> i64 {
        trail
            .store()
            .conn()
            .query_row(sql, [], |r| r.get(0))
            .unwrap()
    }

    fn run(with_device: bool, filler: usize) -> (i64, i64) {
        let remote = r::remote(Standalone::transport());
        let (a, clock) = open_at(T0, people_options(Storage::Memory).shared(remote));
        let b = sibling::<Standalone>(&a, people_options(Storage::Memory).clock(clock.clone()));
        block_on(async {
            let anon = if with_device { Some("dvc-b1") } else { None };
            b.track(event(
                Some("bobbo"),
                anon,
                "click",
                json!({ "m": "mk-bob" }),
            ))
            .await
            .unwrap();
            if with_device {
                b.identify("dvc-b1", "bobbo").await.unwrap();
            }
            a.privacy()
                .rectify(
                    "bobbo",
                    &RectifyOptions {
                        user_id: "robbo".into(),
                        ..Default::default()
                    },
                )
                .await
                .unwrap();
            for i in 0..filler {
                a.privacy()
                    .erase(&format!("nobody-{i}"), &EraseOptions::default())
                    .await
                    .unwrap();
            }
            a.privacy()
                .erase("robbo", &EraseOptions::default())
                .await
                .unwrap();
            b.privacy().follow().await.unwrap();
        });
        (
            q(&b, "SELECT count(*) FROM events"),
            q(&b, "SELECT count(*) FROM identities"),
        )
    }

    /// A lagging engine applies rectify(bobbo -> robbo) and erase(robbo) in
    /// one read of the log: the erasure must reach bobbo's rows there.
    #[test]
    fn rename_then_erase_in_one_read_reaches_the_old_name() {
        assert_eq!(
            run(false, 0),
            (0, 0),
            "(events, links) left on the lagging engine"
        );
    }

    #[test]
    fn rename_then_erase_in_one_read_reaches_the_old_name_and_its_device() {
        assert_eq!(
            run(true, 0),
            (0, 0),
            "(events, links) left on the lagging engine"
        );
    }

    /// The same with the two entries in different reads (300 entries apart).
    #[test]
    fn holds_alias_two_batches_with_device() {
        assert_eq!(
            run(true, 300),
            (0, 0),
            "(events, links) left on the lagging engine"
        );
    }
}
