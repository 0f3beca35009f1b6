//! Session lifecycle rules, with the manual clock. Native and wasm.

#[cfg(all(target_family = "wasm", target_os = "unknown"))]
use wasm_bindgen_test::wasm_bindgen_test as test;

mod common;

use common::*;
use usertrail::session::{ClientContext, CreateOptions, FingerprintPolicy, SessionConfig};
use usertrail::UserTrail;

const NONE: ClientContext<'static> = ClientContext {
    ip: None,
    user_agent: None,
};
const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0";

fn user(id: &str) -> CreateOptions<'_> {
    CreateOptions {
        user_id: Some(id),
        ..CreateOptions::default()
    }
}

#[test]
fn create_issues_a_token_with_default_deadlines() {
    let (trail, _) = engine(SessionConfig::default());
    let s = trail.sessions().create(CreateOptions::default()).unwrap();
    assert_eq!(s.token.len(), 43);
    assert_eq!(s.session.session_id.len(), 22);
    assert_eq!(s.session.user_id, None);
    assert_eq!(s.session.created_at, T0);
    assert_eq!(s.session.last_seen_at, T0);
    assert_eq!(s.session.idle_expires_at, T0 + 30 * MIN);
    assert_eq!(s.session.absolute_expires_at, T0 + 12 * 60 * MIN);
    let again = trail.sessions().validate(&s.token, &NONE).unwrap().unwrap();
    assert_eq!(again.session_id, s.session.session_id);
}

#[test]
fn the_database_never_holds_the_token() {
    let (mut trail, _) = engine(SessionConfig::default());
    let s = trail.sessions().create(user("alice")).unwrap();
    let bytes = trail.export().unwrap();
    assert!(
        !contains(&bytes, s.token.as_bytes()),
        "token text found in the database"
    );
    use base64::Engine as _;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(&s.token)
        .unwrap();
    assert!(!contains(&bytes, &raw), "token bytes found in the database");
    assert!(
        contains(&bytes, s.session.session_id.as_bytes()),
        "the scan itself works"
    );
}

/// Tokens that were never issued, in every shape, are refused without a write.
#[test]
fn bogus_tokens_give_none_and_write_nothing() {
    let (mut trail, clock) = engine(SessionConfig::default());
    let live = trail.sessions().create(user("alice")).unwrap();
    let gone = trail.sessions().create(user("bob")).unwrap();
    assert!(trail.sessions().destroy(&gone.token).unwrap());
    clock.advance(5 * MIN); // so that a validate of a live token would touch
    let before = trail.export().unwrap();
    let mut tampered = live.token.clone().into_bytes();
    tampered[10] = if tampered[10] == b'a' { b'b' } else { b'a' };
    let tampered = String::from_utf8(tampered).unwrap();
    let bogus = [
        String::new(),
        "x".into(),
        live.token[..42].to_string(),
        format!("{}A", live.token),
        "A".repeat(100_000),
        "not base64 at all, but exactly 43 chars!!!!".into(),
        format!("{}=", &live.token[..42]),
        format!("+{}", &live.token[1..]),
        "' OR '1'='1'; DROP TABLE sessions; --------".into(),
        "ééééééééééééééééééééé".into(),
        tampered,
        gone.token.clone(),
        live.session.session_id.clone(),
    ];
    for token in &bogus {
        assert_eq!(
            trail.sessions().validate(token, &NONE).unwrap(),
            None,
            "{token:?}"
        );
        assert!(!trail.sessions().destroy(token).unwrap(), "{token:?}");
        assert_eq!(
            code(trail.sessions().rotate(token)),
            "SESSION_NOT_FOUND",
            "{token:?}"
        );
        assert_eq!(
            code(trail.sessions().get(token, None)),
            "SESSION_NOT_FOUND",
            "{token:?}"
        );
    }
    assert_eq!(
        trail.export().unwrap(),
        before,
        "a bogus token caused a write"
    );
}

#[test]
fn idle_expiry_deletes_the_session() {
    let (trail, clock) = engine(SessionConfig::default());
    let sessions = trail.sessions();
    let used = sessions.create(CreateOptions::default()).unwrap();
    let idle = sessions.create(CreateOptions::default()).unwrap();
    clock.advance(30 * MIN - 1);
    assert!(
        sessions.validate(&used.token, &NONE).unwrap().is_some(),
        "expired a millisecond early"
    );
    clock.advance(1);
    assert_eq!(sessions.validate(&idle.token, &NONE).unwrap(), None);
    assert_eq!(rows(&trail), 1, "the expired session was not deleted");
    assert_eq!(code(sessions.get(&idle.token, None)), "SESSION_NOT_FOUND");
    assert!(
        sessions.validate(&used.token, &NONE).unwrap().is_some(),
        "activity did not slide"
    );
}

#[test]
fn state_calls_on_an_expired_session_say_so_and_delete_it() {
    let (trail, clock) = engine(SessionConfig::default());
    let sessions = trail.sessions();
    let s = sessions.create(CreateOptions::default()).unwrap();
    clock.advance(31 * MIN);
    assert_eq!(code(sessions.get(&s.token, None)), "SESSION_EXPIRED");
    assert_eq!(rows(&trail), 0);
    assert_eq!(code(sessions.get(&s.token, None)), "SESSION_NOT_FOUND");
}

#[test]
fn activity_slides_the_idle_deadline_but_not_the_absolute_one() {
    let (trail, clock) = engine(SessionConfig::default());
    let s = trail.sessions().create(CreateOptions::default()).unwrap();
    // Used every 20 minutes, it outlives the 30 min idle timeout...
    for step in 1..36 {
        clock.set(T0 + step * 20 * MIN);
        let v = trail.sessions().validate(&s.token, &NONE).unwrap();
        let v = v.unwrap_or_else(|| panic!("expired at step {step}"));
        assert_eq!(
            v.absolute_expires_at,
            T0 + 720 * MIN,
            "the absolute deadline moved"
        );
        assert!(v.idle_expires_at <= v.absolute_expires_at);
    }
    // ...but not the 12 h absolute timeout.
    clock.set(T0 + 720 * MIN);
    assert_eq!(trail.sessions().validate(&s.token, &NONE).unwrap(), None);
}

#[test]
fn touches_are_written_at_most_once_per_interval() {
    let (mut trail, clock) = engine(SessionConfig::default());
    let s = trail.sessions().create(CreateOptions::default()).unwrap();
    clock.advance(30_000);
    let before = trail.export().unwrap();
    let v = trail.sessions().validate(&s.token, &NONE).unwrap().unwrap();
    assert_eq!(v.last_seen_at, T0, "touched within the interval");
    assert!(!v.renewed);
    assert_eq!(
        trail.export().unwrap(),
        before,
        "a validate within the interval wrote"
    );
    clock.advance(30_000);
    let v = trail.sessions().validate(&s.token, &NONE).unwrap().unwrap();
    assert_eq!(v.last_seen_at, T0 + MIN);
    assert_eq!(v.idle_expires_at, T0 + 31 * MIN);
    assert!(v.renewed, "the deadline slid: the cookie should be renewed");
    assert_ne!(trail.export().unwrap(), before, "the touch was not written");
}

#[test]
fn per_session_timeouts_allow_remember_me() {
    let (trail, clock) = engine(SessionConfig::default());
    let s = trail
        .sessions()
        .create(CreateOptions {
            idle_timeout_secs: Some(30 * 24 * 3600),
            absolute_timeout_secs: Some(30 * 24 * 3600),
            ..user("alice")
        })
        .unwrap();
    clock.advance(29 * 24 * 60 * MIN);
    assert!(trail
        .sessions()
        .validate(&s.token, &NONE)
        .unwrap()
        .is_some());
    clock.advance(24 * 60 * MIN);
    assert!(trail
        .sessions()
        .validate(&s.token, &NONE)
        .unwrap()
        .is_none());
}

#[test]
fn engine_timeouts_are_configurable() {
    let config = SessionConfig {
        idle_timeout_secs: 120,
        absolute_timeout_secs: 600,
        ..SessionConfig::default()
    };
    let (trail, clock) = engine(config);
    let s = trail.sessions().create(CreateOptions::default()).unwrap();
    assert_eq!(s.session.idle_expires_at, T0 + 2 * MIN);
    clock.advance(2 * MIN);
    assert!(trail
        .sessions()
        .validate(&s.token, &NONE)
        .unwrap()
        .is_none());
}

#[test]
fn rotate_invalidates_the_old_token_at_once() {
    let (trail, _) = engine(SessionConfig::default());
    let sessions = trail.sessions();
    let s = sessions.create(user("alice")).unwrap();
    sessions
        .set(&s.token, "cart", &serde_json::json!([1, 2]), None)
        .unwrap();
    let r = sessions.rotate(&s.token).unwrap();
    assert_ne!(r.token, s.token);
    assert_eq!(r.session.session_id, s.session.session_id);
    assert_eq!(sessions.validate(&s.token, &NONE).unwrap(), None);
    assert_eq!(code(sessions.rotate(&s.token)), "SESSION_NOT_FOUND");
    assert!(sessions.validate(&r.token, &NONE).unwrap().is_some());
    assert_eq!(
        sessions.get(&r.token, Some("cart")).unwrap(),
        Some(serde_json::json!([1, 2]))
    );
}

#[test]
fn login_binds_an_anonymous_session_and_rotates() {
    let (trail, _) = engine(SessionConfig::default());
    let sessions = trail.sessions();
    let anon = sessions.create(CreateOptions::default()).unwrap();
    sessions
        .set(&anon.token, "draft", &serde_json::json!("hello"), None)
        .unwrap();
    let alice = sessions.login(&anon.token, "alice").unwrap();
    assert_eq!(alice.session.user_id.as_deref(), Some("alice"));
    assert_eq!(sessions.validate(&anon.token, &NONE).unwrap(), None);
    let v = sessions.validate(&alice.token, &NONE).unwrap().unwrap();
    assert_eq!(v.user_id.as_deref(), Some("alice"));
    assert_eq!(
        sessions.get(&alice.token, Some("draft")).unwrap(),
        Some(serde_json::json!("hello"))
    );
    assert_eq!(sessions.list("alice").unwrap().len(), 1);
}

#[test]
fn destroy_by_token_by_id_and_all_for_a_user() {
    let (trail, _) = engine(SessionConfig::default());
    let sessions = trail.sessions();
    let a1 = sessions.create(user("alice")).unwrap();
    let a2 = sessions.create(user("alice")).unwrap();
    let a3 = sessions.create(user("alice")).unwrap();
    let b1 = sessions.create(user("bob")).unwrap();

    assert!(sessions.destroy(&a1.token).unwrap());
    assert!(!sessions.destroy(&a1.token).unwrap());
    // Bob cannot revoke Alice's device by its id.
    assert!(!sessions
        .destroy_by_session_id("bob", &a2.session.session_id)
        .unwrap());
    assert!(sessions
        .destroy_by_session_id("alice", &a2.session.session_id)
        .unwrap());
    assert!(!sessions
        .destroy_by_session_id("alice", "malformed id")
        .unwrap());

    let a4 = sessions.create(user("alice")).unwrap();
    let n = sessions
        .destroy_all_for_user("alice", Some(&a4.session.session_id))
        .unwrap();
    assert_eq!(n, 1, "only a3 should go");
    assert!(sessions.validate(&a3.token, &NONE).unwrap().is_none());
    assert!(sessions.validate(&a4.token, &NONE).unwrap().is_some());
    assert_eq!(sessions.destroy_all_for_user("alice", None).unwrap(), 1);
    assert!(
        sessions.validate(&b1.token, &NONE).unwrap().is_some(),
        "bob was logged out"
    );
}

#[test]
fn list_shows_devices_most_recent_first_with_masked_ip() {
    let (trail, clock) = engine(SessionConfig::default());
    let sessions = trail.sessions();
    let laptop = sessions
        .create(CreateOptions {
            client: ClientContext {
                ip: Some("203.0.113.77"),
                user_agent: Some(CHROME),
            },
            ..user("alice")
        })
        .unwrap();
    clock.advance(MIN);
    let phone = sessions
        .create(CreateOptions {
            client: ClientContext {
                ip: Some("2001:db8:1:2:3:4:5:6"),
                user_agent: Some("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1"),
            },
            idle_timeout_secs: Some(120),
            ..user("alice")
        })
        .unwrap();
    let list = sessions.list("alice").unwrap();
    let ids: Vec<&str> = list.iter().map(|s| s.session_id.as_str()).collect();
    assert_eq!(
        ids,
        [
            phone.session.session_id.as_str(),
            laptop.session.session_id.as_str()
        ]
    );
    assert_eq!(list[1].client.ip.as_deref(), Some("203.0.0.0"));
    assert_eq!(list[1].client.browser, "Chrome 120");
    assert_eq!(list[1].client.os, "Windows");
    assert_eq!(list[0].client.ip.as_deref(), Some("2001:db8:1::"));
    assert_eq!(list[0].client.device.as_str(), "mobile");
    clock.advance(2 * MIN);
    assert_eq!(
        sessions.list("alice").unwrap().len(),
        1,
        "expired sessions are not devices"
    );
    assert!(sessions.list("nobody").unwrap().is_empty());
}

#[test]
fn the_least_recently_used_session_is_evicted_over_the_limit() {
    let config = SessionConfig {
        max_sessions_per_user: Some(2),
        ..SessionConfig::default()
    };
    let (trail, clock) = engine(config);
    let sessions = trail.sessions();
    let first = sessions.create(user("alice")).unwrap();
    clock.advance(MIN);
    let second = sessions.create(user("alice")).unwrap();
    clock.advance(MIN);
    // Using the first makes the second the least recently used.
    assert!(sessions.validate(&first.token, &NONE).unwrap().is_some());
    clock.advance(MIN);
    let third = sessions.create(user("alice")).unwrap();
    assert!(
        sessions.validate(&second.token, &NONE).unwrap().is_none(),
        "the LRU one stayed"
    );
    assert!(sessions.validate(&first.token, &NONE).unwrap().is_some());
    assert!(sessions.validate(&third.token, &NONE).unwrap().is_some());
    // Logging an anonymous session in counts too.
    let anon = sessions.create(CreateOptions::default()).unwrap();
    clock.advance(MIN);
    let fourth = sessions.login(&anon.token, "alice").unwrap();
    assert_eq!(sessions.list("alice").unwrap().len(), 2);
    assert!(sessions.validate(&fourth.token, &NONE).unwrap().is_some());
}

#[test]
fn fingerprint_policies() {
    let same_net = ClientContext {
        ip: Some("198.51.100.99"),
        user_agent: Some(CHROME),
    };
    let created_from = ClientContext {
        ip: Some("198.51.100.7"),
        user_agent: Some(CHROME),
    };
    let other_browser = ClientContext {
        ip: Some("198.51.100.7"),
        user_agent: Some(FIREFOX),
    };
    let other_net = ClientContext {
        ip: Some("192.0.2.7"),
        user_agent: Some(CHROME),
    };
    for (policy, mismatch_kept) in [
        (FingerprintPolicy::Off, true),
        (FingerprintPolicy::Warn, true),
        (FingerprintPolicy::Strict, false),
    ] {
        let (trail, _) = engine(SessionConfig {
            fingerprint: policy,
            ..SessionConfig::default()
        });
        let sessions = trail.sessions();
        let s = sessions
            .create(CreateOptions {
                client: created_from.clone(),
                ..user("alice")
            })
            .unwrap();
        let v = sessions.validate(&s.token, &same_net).unwrap().unwrap();
        assert!(!v.fingerprint_mismatch, "{policy:?}: same /24 and browser");
        assert!(
            !sessions
                .validate(&s.token, &NONE)
                .unwrap()
                .unwrap()
                .fingerprint_mismatch
        );
        for other in [&other_browser, &other_net] {
            let v = sessions.validate(&s.token, other).unwrap();
            if !mismatch_kept {
                assert_eq!(v, None, "strict kept a mismatched session");
                assert_eq!(
                    sessions.validate(&s.token, &created_from).unwrap(),
                    None,
                    "strict did not destroy it"
                );
                break;
            }
            assert_eq!(
                v.unwrap().fingerprint_mismatch,
                policy == FingerprintPolicy::Warn,
                "{policy:?}"
            );
        }
    }
}

#[test]
fn cleanup_deletes_expired_sessions_in_bounded_batches() {
    let (trail, clock) = engine(SessionConfig::default());
    let sessions = trail.sessions();
    for _ in 0..5 {
        sessions
            .create(CreateOptions {
                idle_timeout_secs: Some(60),
                ..CreateOptions::default()
            })
            .unwrap();
    }
    let keeper = sessions.create(CreateOptions::default()).unwrap();
    clock.advance(2 * MIN);
    assert_eq!(sessions.cleanup(Some(2)).unwrap(), 2);
    assert_eq!(sessions.cleanup(Some(2)).unwrap(), 2);
    assert_eq!(sessions.cleanup(Some(2)).unwrap(), 1);
    assert_eq!(sessions.cleanup(None).unwrap(), 0);
    assert_eq!(rows(&trail), 1);
    assert!(sessions.validate(&keeper.token, &NONE).unwrap().is_some());
}

#[test]
fn creating_sessions_sweeps_expired_ones_lazily() {
    let (trail, clock) = engine(SessionConfig::default());
    let sessions = trail.sessions();
    for _ in 0..3 {
        sessions
            .create(CreateOptions {
                idle_timeout_secs: Some(60),
                ..CreateOptions::default()
            })
            .unwrap();
    }
    clock.advance(2 * MIN);
    sessions.create(CreateOptions::default()).unwrap();
    assert_eq!(rows(&trail), 1, "the expired sessions were not swept");
}

fn assert_refused(trail: &UserTrail, what: &str, r: usertrail::Result<impl std::fmt::Debug>) {
    assert_eq!(code(r), "INVALID_INPUT", "{what}");
    assert_eq!(rows(trail), 0, "{what} wrote a row");
}

#[test]
fn bad_input_is_refused_and_writes_nothing() {
    let (trail, _) = engine(SessionConfig::default());
    let s = trail.sessions();
    let huge = "u".repeat(100_000);
    assert_refused(&trail, "empty user", s.create(user("")));
    assert_refused(&trail, "huge user", s.create(user(&huge)));
    assert_refused(&trail, "control chars", s.create(user("al\u{0}ice")));
    for ip in ["", "300.1.1.1", "localhost", "1.2.3.4; DROP TABLE sessions"] {
        let opts = CreateOptions {
            client: ClientContext {
                ip: Some(ip),
                user_agent: None,
            },
            ..CreateOptions::default()
        };
        assert_refused(&trail, ip, s.create(opts));
    }
    let long_ua = CreateOptions {
        client: ClientContext {
            ip: None,
            user_agent: Some(&huge),
        },
        ..CreateOptions::default()
    };
    assert_refused(&trail, "huge user agent", s.create(long_ua));
    for (idle, absolute) in [(Some(0), None), (None, Some(0)), (Some(u32::MAX), None)] {
        let opts = CreateOptions {
            idle_timeout_secs: idle,
            absolute_timeout_secs: absolute,
            ..CreateOptions::default()
        };
        assert_refused(&trail, "timeouts", s.create(opts));
    }
    let big =
        serde_json::Map::from_iter([("blob".to_string(), serde_json::json!("x".repeat(70_000)))]);
    let opts = CreateOptions {
        data: Some(big),
        ..CreateOptions::default()
    };
    assert_eq!(code(s.create(opts)), "PAYLOAD_TOO_LARGE");
    assert_eq!(rows(&trail), 0);
    assert_eq!(
        code(s.validate(
            "x",
            &ClientContext {
                ip: Some("nope"),
                user_agent: None
            }
        )),
        "INVALID_INPUT"
    );
    assert_eq!(code(s.list("")), "INVALID_INPUT");
    assert_eq!(code(s.login("x", "")), "INVALID_INPUT");
}

#[test]
fn bad_engine_settings_are_refused_at_open() {
    use std::sync::Arc;
    use usertrail::clock::ManualClock;
    use usertrail::{OpenOptions, Storage};
    let open = |config: SessionConfig| {
        code(UserTrail::open(
            OpenOptions::new(Storage::Memory)
                .clock(Arc::new(ManualClock::new(0)))
                .sessions(config),
        ))
    };
    let d = SessionConfig::default;
    assert_eq!(
        open(SessionConfig {
            idle_timeout_secs: 0,
            ..d()
        }),
        "INVALID_INPUT"
    );
    assert_eq!(
        open(SessionConfig {
            touch_interval_secs: 4000,
            ..d()
        }),
        "INVALID_INPUT"
    );
    assert_eq!(
        open(SessionConfig {
            max_sessions_per_user: Some(0),
            ..d()
        }),
        "INVALID_INPUT"
    );
    assert_eq!(
        open(SessionConfig {
            max_state_bytes: 1,
            ..d()
        }),
        "INVALID_INPUT"
    );
    assert_eq!(open(d()), "OK");
}
