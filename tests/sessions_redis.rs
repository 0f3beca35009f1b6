//! Session rules on a real Redis (native): the shared suite
//! (`tests/common/session_suite.rs`) on a standalone server and on a
//! 3-master cluster, then what only a shared store has: round trips,
//! processes seeing each other's sessions, records spread over the cluster,
//! damaged records refused, and an outage as a typed error.
#![cfg(not(target_family = "wasm"))]

use crate::common;

use common::session_suite::*;
use common::shared::{Clustered, Redis, Standalone};
use common::*;
use serde_json::{json, Map};
use usertrail::session::{ClientContext, CreateOptions, FingerprintPolicy, SessionConfig};

mod standalone {
    use super::*;
    type Backend = Redis<Standalone>;
    crate::session_suite!(Backend);
}

mod cluster {
    use super::*;
    type Backend = Redis<Clustered>;
    crate::session_suite!(Backend);
}

use std::sync::Arc;
use std::time::Duration;

use common::redis::{self as r, RedisTransport};
use common::shared::{options_on, sibling, Deployment};
use usertrail::error::ErrorCode;
use usertrail::store::remote::{LocalBoxFuture, Op, Remote, Reply, Transport};
use usertrail::{OpenOptions, Storage, UserTrail};

/// An engine on the standalone server, its transport (to count round
/// trips) and clock.
fn counted(
    config: SessionConfig,
) -> (
    UserTrail,
    Arc<RedisTransport>,
    Arc<usertrail::clock::ManualClock>,
) {
    let t = Standalone::transport();
    let (trail, clock) = open_at(T0, options_on(r::remote(t.clone())).sessions(config));
    (trail, t, clock)
}

/// Round trips `f` took.
async fn trips<T>(t: &RedisTransport, f: impl std::future::Future<Output = T>) -> (T, u64) {
    let before = t.trips();
    let out = f.await;
    (out, t.trips() - before)
}

#[test]
fn each_operation_takes_the_round_trips_promised() {
    usertrail::block_on(async {
        let config = SessionConfig {
            max_sessions_per_user: Some(3),
            ..SessionConfig::default()
        };
        let (trail, t, clock) = counted(config);
        let s = trail.sessions();
        // Warm the script cache: a first run of each script is EVALSHA, NOSCRIPT, EVAL.
        let warm = s.create(user("warm")).await.unwrap();
        s.set(&warm.token, "k", &json!(1), None).await.unwrap();
        s.get(&warm.token, None).await.unwrap();
        s.validate(&warm.token, &NONE).await.unwrap();
        clock.advance(2 * MIN);
        s.validate(&warm.token, &NONE).await.unwrap();
        let w2 = s.rotate(&warm.token).await.unwrap();
        s.list("warm").await.unwrap();
        s.destroy(&w2.token).await.unwrap();
        s.destroy_all_for_user("warm", None).await.unwrap();
        let anon = s.create(CreateOptions::default()).await.unwrap();
        s.login(&anon.token, "warm").await.unwrap();

        let (created, n) = trips(&t, s.create(user("ann"))).await;
        assert_eq!(n, 1, "create, with the limit and eviction");
        let token = created.unwrap().token;
        let (_, n) = trips(&t, s.validate(&token, &NONE)).await;
        assert_eq!(n, 1, "validate");
        clock.advance(2 * MIN);
        let (v, n) = trips(&t, s.validate(&token, &NONE)).await;
        assert!(v.unwrap().unwrap().renewed);
        assert_eq!(n, 2, "validate, plus its touch once per interval");
        let (_, n) = trips(&t, s.set(&token, "cart", &json!([1, 2]), None)).await;
        assert_eq!(n, 1, "a per-key state write");
        let (_, n) = trips(
            &t,
            s.merge(&token, &obj(json!({"step": 2, "cart": null})), None),
        )
        .await;
        assert_eq!(n, 1, "a flat merge");
        let (got, n) = trips(&t, s.get(&token, Some("step"))).await;
        assert_eq!((got.unwrap(), n), (Some(json!(2)), 1), "get");
        let (rotated, n) = trips(&t, s.rotate(&token)).await;
        assert_eq!(n, 1, "rotate");
        let token = rotated.unwrap().token;
        let (_, n) = trips(&t, s.list("ann")).await;
        assert_eq!(n, 1, "list");
        let (_, n) = trips(&t, s.destroy(&token)).await;
        assert_eq!(n, 1, "destroy");
        s.create(user("ann")).await.unwrap();
        let (_, n) = trips(&t, s.destroy_all_for_user("ann", None)).await;
        assert_eq!(n, 1, "destroyAllForUser");
        let anon = s.create(CreateOptions::default()).await.unwrap();
        let (_, n) = trips(&t, s.login(&anon.token, "bea")).await;
        assert!(n <= 4, "login of an anonymous session: a bounded few ({n})");
    });
}

#[test]
fn another_process_sees_a_session_at_once_and_a_logout_too() {
    usertrail::block_on(async {
        let (a, clock) = open_at(T0, options_on(r::remote(Standalone::transport())));
        let b = sibling::<Standalone>(&a, OpenOptions::new(Storage::Memory).clock(clock.clone()));
        let c = sibling::<Standalone>(&a, OpenOptions::new(Storage::Memory).clock(clock.clone()));
        let issued = a.sessions().create(user("ann")).await.unwrap();
        a.sessions()
            .set(&issued.token, "cart", &json!(["tea"]), None)
            .await
            .unwrap();
        assert_eq!(
            b.sessions().get(&issued.token, Some("cart")).await.unwrap(),
            Some(json!(["tea"]))
        );
        assert!(c
            .sessions()
            .validate(&issued.token, &NONE)
            .await
            .unwrap()
            .is_some());
        assert!(b.sessions().destroy(&issued.token).await.unwrap());
        assert!(c
            .sessions()
            .validate(&issued.token, &NONE)
            .await
            .unwrap()
            .is_none());
        assert!(a
            .sessions()
            .validate(&issued.token, &NONE)
            .await
            .unwrap()
            .is_none());
    });
}

#[test]
fn cluster_keys_spread_over_every_master_without_crossslot() {
    usertrail::block_on(async {
        let cluster = r::cluster();
        let (trail, _) = open_at(
            T0,
            options_on(r::remote(common::shared::Clustered::transport())),
        );
        let s = trail.sessions();
        for i in 0..60 {
            let issued = s.create(user(&format!("user-{i}"))).await.unwrap();
            s.set(&issued.token, "n", &json!(i), None).await.unwrap();
            let anon = s.create(CreateOptions::default()).await.unwrap();
            s.login(&anon.token, &format!("user-{i}")).await.unwrap();
            assert_eq!(s.list(&format!("user-{i}")).await.unwrap().len(), 2);
        }
        let prefix = trail.shared().unwrap().prefix().to_owned();
        for node in &cluster.nodes {
            let n = r::keys(&[node.url()], &prefix).len();
            assert!(n > 10, "node {} holds only {n} of the keys", node.port);
        }
    });
}

#[test]
fn keys_expire_by_ttl_as_garbage_collection_only() {
    usertrail::block_on(async {
        let (trail, clock) = open_at(T0, options_on(r::remote(Standalone::transport())));
        let issued = trail.sessions().create(user("ann")).await.unwrap();
        let prefix = trail.shared().unwrap().prefix().to_owned();
        let urls = Standalone::urls();
        for key in r::keys(&urls, &prefix) {
            let ttl: i64 = ::redis::cmd("PTTL")
                .arg(&key)
                .query(&mut r::node_for(&urls, &key))
                .unwrap();
            // 30 min idle + at least an hour's grace.
            assert!(ttl > 80 * MIN && ttl <= 90 * MIN, "{key}: {ttl}");
        }
        // The engine's clock, not Redis's, decides: past the idle deadline
        // by the engine's clock the session is gone though its key is not.
        clock.advance(31 * MIN);
        assert!(trail
            .sessions()
            .validate(&issued.token, &NONE)
            .await
            .unwrap()
            .is_none());
    });
}

/// Sets `field` of the only session hash under `prefix` to `value`.
fn tamper(prefix: &str, field: &str, value: &str) {
    let urls = Standalone::urls();
    let key = r::keys(&urls, prefix)
        .into_iter()
        .find(|k| k.contains("}:s:"))
        .unwrap();
    let _: () = ::redis::cmd("HSET")
        .arg(&key)
        .arg(field)
        .arg(value)
        .query(&mut r::node_for(&urls, &key))
        .unwrap();
}

#[test]
fn a_tampered_or_foreign_record_is_refused_with_a_typed_error() {
    usertrail::block_on(async {
        for (field, value) in [
            ("u", "mallory"),        // another user, checksum unchanged
            ("ae", "9999999999999"), // a later absolute deadline
            ("f", "something-else"), // not ours
            ("k", "00000000000000000000000000000000"),
            ("ie", "not a number"),
            ("d:cart", "{not json"),
        ] {
            let (trail, _) = open_at(T0, options_on(r::remote(Standalone::transport())));
            let issued = trail.sessions().create(user("ann")).await.unwrap();
            trail
                .sessions()
                .set(&issued.token, "cart", &json!([1]), None)
                .await
                .unwrap();
            tamper(trail.shared().unwrap().prefix(), field, value);
            let validate = trail.sessions().validate(&issued.token, &NONE).await;
            let get = trail.sessions().get(&issued.token, None).await;
            let refused = validate
                .as_ref()
                .is_err_and(|e| e.code() == "STORAGE_ERROR")
                || get.as_ref().is_err_and(|e| e.code() == "STORAGE_ERROR");
            assert!(refused, "{field}={value}: {validate:?} {get:?}");
            assert!(
                !matches!(validate, Ok(Some(ref s)) if s.user_id.as_deref() == Some("mallory")),
                "{field}: a tampered user was believed"
            );
        }
    });
}

#[test]
fn an_unreachable_or_silent_redis_is_store_unavailable_never_a_logout() {
    usertrail::block_on(async {
        // A session made while Redis was up...
        let mut server = r::Server::start(&[]);
        let t = RedisTransport::single_with_timeout(&server.url(), Duration::from_millis(500));
        let (trail, _) = open_at(T0, options_on(Remote::new(t, "ut").unwrap()));
        let issued = trail.sessions().create(user("ann")).await.unwrap();
        trail
            .sessions()
            .set(&issued.token, "cart", &json!(["tea"]), None)
            .await
            .unwrap();
        // ...then Redis dies: errors, never "no session".
        server.kill9();
        assert_eq!(
            code(trail.sessions().validate(&issued.token, &NONE).await),
            "STORE_UNAVAILABLE"
        );
        assert_eq!(
            code(trail.sessions().get(&issued.token, None).await),
            "STORE_UNAVAILABLE"
        );
        assert_eq!(
            code(trail.sessions().create(user("bob")).await),
            "STORE_UNAVAILABLE"
        );
        // Restarted on its AOF: the session, and its state, are still there.
        server.restart();
        let back = trail
            .sessions()
            .validate(&issued.token, &NONE)
            .await
            .unwrap();
        assert_eq!(back.unwrap().user_id.as_deref(), Some("ann"));
        assert_eq!(
            trail
                .sessions()
                .get(&issued.token, Some("cart"))
                .await
                .unwrap(),
            Some(json!(["tea"]))
        );

        // A server that accepts and never answers: a timeout, typed.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("redis://{}/", silent.local_addr().unwrap());
        let t = RedisTransport::single_with_timeout(&url, Duration::from_millis(300));
        let (trail, _) = open_at(T0, options_on(Remote::new(t, "ut").unwrap()));
        assert_eq!(
            code(trail.sessions().validate(&issued.token, &NONE).await),
            "STORE_UNAVAILABLE"
        );
        drop(silent);
    });
}

/// A transport that answers every script with one reply.
struct Garbage(Reply);
impl Transport for Garbage {
    fn run<'a>(&'a self, _op: Op<'a>) -> LocalBoxFuture<'a, usertrail::Result<Reply>> {
        Box::pin(std::future::ready(Ok(self.0.clone())))
    }
}

#[test]
fn garbage_answers_give_storage_error_never_a_wrong_answer() {
    usertrail::block_on(async {
        // A real token, so that every call reaches the store.
        let (real, _) = open_at(T0, options_on(r::remote(Standalone::transport())));
        let token = real.sessions().create(user("ann")).await.unwrap().token;
        let garbage = [
            Reply::Nil,
            Reply::Int(1),
            Reply::Text("OK".into()),
            Reply::List(vec![]),
            Reply::List(vec![Reply::Int(1)]),
            Reply::List(vec![Reply::Int(1), Reply::Text("x".into())]),
            Reply::List(vec![Reply::Text("ut1".into()); 17]),
            Reply::List(vec![
                Reply::Int(1),
                Reply::List(vec![Reply::Text("ut1".into()); 17]),
            ]),
        ];
        for g in garbage {
            let remote = Remote::new(Arc::new(Garbage(g.clone())), "ut").unwrap();
            let (trail, _) = open_at(T0, options_on(remote));
            let s = trail.sessions();
            let v = s.validate(&token, &NONE).await;
            assert!(
                matches!(v, Ok(None)) || v.as_ref().is_err_and(|e| e.code() == "STORAGE_ERROR"),
                "{g:?}: validate {v:?}"
            );
            assert!(!matches!(v, Ok(Some(_))), "{g:?}: a session out of garbage");
            for r in [
                code(s.get(&token, None).await),
                code(s.set(&token, "k", &json!(1), None).await),
                code(s.rotate(&token).await),
                code(s.list("ann").await),
                code(s.create(user("ann")).await),
            ] {
                assert!(
                    ["STORAGE_ERROR", "SESSION_NOT_FOUND", "OK"].contains(&r),
                    "{g:?}: {r}"
                );
            }
        }
    });
}

#[test]
fn racing_logins_on_three_processes_never_exceed_the_limit() {
    let config = SessionConfig {
        max_sessions_per_user: Some(3),
        ..SessionConfig::default()
    };
    let prefix = r::unique_prefix();
    std::thread::scope(|scope| {
        for p in 0..3 {
            let (prefix, config) = (prefix.clone(), config.clone());
            scope.spawn(move || {
                let remote = Remote::new(Standalone::transport(), &prefix).unwrap();
                let (trail, clock) = open_at(T0, options_on(remote).sessions(config));
                for i in 0..20 {
                    clock.set(T0 + (i * 3 + p) * 1000);
                    let anon =
                        usertrail::block_on(trail.sessions().create(CreateOptions::default()))
                            .unwrap();
                    usertrail::block_on(trail.sessions().login(&anon.token, "ann")).unwrap();
                }
            });
        }
    });
    let remote = Remote::new(Standalone::transport(), &prefix).unwrap();
    let (trail, _) = open_at(T0 + 100_000, options_on(remote));
    let list = usertrail::block_on(trail.sessions().list("ann")).unwrap();
    assert_eq!(list.len(), 3, "{list:?}");
    let stored = r::keys(&Standalone::urls(), &prefix)
        .iter()
        .filter(|k| k.contains("}:s:"))
        .count();
    assert_eq!(stored, 3, "sessions past the limit were left behind");
}

#[test]
fn of_two_concurrent_rotations_exactly_one_wins_and_writers_lose_nothing() {
    let prefix = r::unique_prefix();
    let remote = Remote::new(Standalone::transport(), &prefix).unwrap();
    let (trail, _) = open_at(T0, options_on(remote));
    let token = usertrail::block_on(trail.sessions().create(user("ann")))
        .unwrap()
        .token;
    let mut token = token;
    for round in 0..10 {
        let results: Vec<Option<String>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..2)
                .map(|_| {
                    let (prefix, token) = (prefix.clone(), token.clone());
                    scope.spawn(move || {
                        let remote = Remote::new(Standalone::transport(), &prefix).unwrap();
                        let (t, _) = open_at(T0, options_on(remote));
                        usertrail::block_on(t.sessions().rotate(&token))
                            .ok()
                            .map(|i| i.token)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let winners: Vec<String> = results.into_iter().flatten().collect();
        assert_eq!(winners.len(), 1, "round {round}: {winners:?}");
        token = winners.into_iter().next().unwrap();
    }
    assert!(
        usertrail::block_on(trail.sessions().validate(&token, &NONE))
            .unwrap()
            .is_some()
    );
    // Four writers of different keys, 25 writes each, on four connections.
    let token = usertrail::block_on(trail.sessions().create(user("bea")))
        .unwrap()
        .token;
    std::thread::scope(|scope| {
        for w in 0..4 {
            let (prefix, token) = (prefix.clone(), token.clone());
            scope.spawn(move || {
                let remote = Remote::new(Standalone::transport(), &prefix).unwrap();
                let (t, _) = open_at(T0, options_on(remote));
                for i in 0..25 {
                    usertrail::block_on(t.sessions().set(
                        &token,
                        &format!("w{w}"),
                        &json!(i),
                        None,
                    ))
                    .unwrap();
                }
            });
        }
    });
    let state = usertrail::block_on(trail.sessions().get(&token, None))
        .unwrap()
        .unwrap();
    assert_eq!(state, json!({"w0": 24, "w1": 24, "w2": 24, "w3": 24}));
    let version = usertrail::block_on(trail.sessions().validate(&token, &NONE))
        .unwrap()
        .unwrap()
        .version;
    assert_eq!(version, 100, "every write counted");
}

#[test]
fn revoke_all_racing_new_logins_leaves_only_sessions_made_after_it() {
    let prefix = r::unique_prefix();
    let remote = Remote::new(Standalone::transport(), &prefix).unwrap();
    let (trail, _) = open_at(T0, options_on(remote));
    let before: Vec<String> = (0..5)
        .map(|_| {
            usertrail::block_on(trail.sessions().create(user("ann")))
                .unwrap()
                .token
        })
        .collect();
    let made: Vec<String> = std::thread::scope(|scope| {
        let logins = scope.spawn(|| {
            let remote = Remote::new(Standalone::transport(), &prefix).unwrap();
            let (t, _) = open_at(T0, options_on(remote));
            (0..10)
                .map(|_| {
                    usertrail::block_on(t.sessions().create(user("ann")))
                        .unwrap()
                        .token
                })
                .collect::<Vec<_>>()
        });
        let remote = Remote::new(Standalone::transport(), &prefix).unwrap();
        let (t, _) = open_at(T0, options_on(remote));
        usertrail::block_on(t.sessions().destroy_all_for_user("ann", None)).unwrap();
        logins.join().unwrap()
    });
    for token in &before {
        assert!(usertrail::block_on(trail.sessions().validate(token, &NONE))
            .unwrap()
            .is_none());
    }
    // Each login made during the revoke is either gone or listed: never a
    // live session the list does not show.
    let listed: Vec<String> = usertrail::block_on(trail.sessions().list("ann"))
        .unwrap()
        .into_iter()
        .map(|s| s.session_id)
        .collect();
    for token in &made {
        if let Some(s) = usertrail::block_on(trail.sessions().validate(token, &NONE)).unwrap() {
            assert!(listed.contains(&s.session_id));
        }
    }
}

#[test]
fn fingerprint_and_sealed_state_work_across_processes() {
    usertrail::block_on(async {
        let config = SessionConfig {
            fingerprint: FingerprintPolicy::Strict,
            ..keys(&[("k1", 7)])
        };
        let (a, clock) = open_at(
            T0,
            options_on(r::remote(Standalone::transport())).sessions(config.clone()),
        );
        let b = sibling::<Standalone>(
            &a,
            OpenOptions::new(Storage::Memory)
                .clock(clock)
                .sessions(config),
        );
        let client = ClientContext {
            ip: Some("203.0.113.9"),
            user_agent: Some(CHROME),
        };
        let issued = a
            .sessions()
            .create(CreateOptions {
                client: client.clone(),
                ..user("ann")
            })
            .await
            .unwrap();
        a.sessions()
            .set(&issued.token, "secret", &json!("tea"), None)
            .await
            .unwrap();
        assert_eq!(
            b.sessions()
                .get(&issued.token, Some("secret"))
                .await
                .unwrap(),
            Some(json!("tea"))
        );
        let elsewhere = ClientContext {
            ip: Some("198.51.100.1"),
            user_agent: Some(FIREFOX),
        };
        assert!(b
            .sessions()
            .validate(&issued.token, &elsewhere)
            .await
            .unwrap()
            .is_none());
        assert!(
            a.sessions()
                .validate(&issued.token, &client)
                .await
                .unwrap()
                .is_none(),
            "strict: gone for all"
        );
    });
}

#[test]
fn the_size_kept_beside_the_state_is_the_size_of_its_json() {
    usertrail::block_on(async {
        let (trail, _) = open_at(T0, options_on(r::remote(Standalone::transport())));
        let s = trail.sessions();
        let token = s
            .create(CreateOptions {
                data: Some(obj(json!({ "a": 1, "é": "ü", "list": [1, 2, 3] }))),
                ..CreateOptions::default()
            })
            .await
            .unwrap()
            .token;
        let prefix = trail.shared().unwrap().prefix().to_owned();
        let size = || {
            let urls = Standalone::urls();
            let key = r::keys(&urls, &prefix)
                .into_iter()
                .find(|k| k.contains("}:s:"))
                .unwrap();
            let z: usize = ::redis::cmd("HGET")
                .arg(&key)
                .arg("z")
                .query(&mut r::node_for(&urls, &key))
                .unwrap();
            z
        };
        for i in 0..30u32 {
            match i % 5 {
                0 => s
                    .set(
                        &token,
                        &format!("k{i}"),
                        &json!("x".repeat(i as usize)),
                        None,
                    )
                    .await
                    .map(|_| ()),
                1 => s
                    .remove(&token, &format!("k{}", i - 1), None)
                    .await
                    .map(|_| ()),
                2 => s
                    .merge(
                        &token,
                        &obj(json!({ "a": i, "list": null, "nested": { "n": i } })),
                        None,
                    )
                    .await
                    .map(|_| ()),
                3 => s
                    .set(&token, "a", &json!({ "deep": [i, "ü"] }), None)
                    .await
                    .map(|_| ()),
                _ if i == 24 => s.clear(&token, None).await.map(|_| ()),
                _ => s.set(&token, "list", &json!([i]), None).await.map(|_| ()),
            }
            .unwrap();
            let state = s.get(&token, None).await.unwrap().unwrap();
            assert_eq!(
                size(),
                serde_json::to_string(&state).unwrap().len(),
                "after step {i}: {state}"
            );
        }
    });
}
