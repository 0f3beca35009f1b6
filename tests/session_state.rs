//! Session state: per-key updates, merge, compare-and-swap, size limits, and
//! encryption at rest with key rotation. Native and wasm.

#[cfg(all(target_family = "wasm", target_os = "unknown"))]
use wasm_bindgen_test::wasm_bindgen_test as test;

mod common;

use common::*;
use serde_json::{json, Map, Value};
use usertrail::session::{CreateOptions, Keyring, SessionConfig};

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => panic!("not an object"),
    }
}

fn keys(list: &[(&str, u8)]) -> SessionConfig {
    SessionConfig {
        keys: Keyring::new(list.iter().map(|(id, b)| (id.to_string(), [*b; 32]))).unwrap(),
        ..SessionConfig::default()
    }
}

/// Every state test runs twice: plaintext, and sealed with a key.
fn both() -> [SessionConfig; 2] {
    [SessionConfig::default(), keys(&[("k1", 7)])]
}

#[test]
fn set_get_merge_remove_clear() {
    for config in both() {
        let (trail, _) = engine(config);
        let s = trail.sessions();
        let t = s
            .create(CreateOptions {
                data: Some(obj(json!({ "theme": "dark" }))),
                ..CreateOptions::default()
            })
            .unwrap()
            .token;
        assert_eq!(s.get(&t, None).unwrap(), Some(json!({ "theme": "dark" })));
        assert_eq!(
            s.set(&t, "cart", &json!([{ "sku": "A1", "qty": 2 }]), None)
                .unwrap(),
            1
        );
        assert_eq!(
            s.get(&t, Some("cart")).unwrap(),
            Some(json!([{ "sku": "A1", "qty": 2 }]))
        );
        assert_eq!(s.get(&t, Some("missing")).unwrap(), None);
        let v = s
            .merge(
                &t,
                &obj(json!({ "theme": null, "form": { "step": 2 } })),
                None,
            )
            .unwrap();
        assert_eq!(v, 2);
        assert_eq!(
            s.get(&t, None).unwrap(),
            Some(json!({ "cart": [{ "sku": "A1", "qty": 2 }], "form": { "step": 2 } }))
        );
        s.merge(&t, &obj(json!({ "form": { "name": "Ada" } })), None)
            .unwrap();
        assert_eq!(
            s.get(&t, Some("form")).unwrap(),
            Some(json!({ "step": 2, "name": "Ada" }))
        );
        assert_eq!(s.remove(&t, "cart", None).unwrap(), 4);
        assert_eq!(s.get(&t, Some("cart")).unwrap(), None);
        assert_eq!(s.clear(&t, None).unwrap(), 5);
        assert_eq!(s.get(&t, None).unwrap(), Some(json!({})));
        // Keys that look like paths or SQL are just keys.
        s.set(&t, "a.b[0]", &json!(1), None).unwrap();
        s.set(&t, "'; DROP TABLE sessions; --", &json!(2), None)
            .unwrap();
        assert_eq!(
            s.get(&t, None).unwrap(),
            Some(json!({ "a.b[0]": 1, "'; DROP TABLE sessions; --": 2 }))
        );
    }
}

#[test]
fn writers_of_different_keys_never_lose_each_others_updates() {
    for config in both() {
        let (trail, _) = engine(config);
        let s = trail.sessions();
        let t = s.create(CreateOptions::default()).unwrap().token;
        // Two request handlers read the same version, then each sets its own key.
        let seen = s
            .validate(&t, &Default::default())
            .unwrap()
            .unwrap()
            .version;
        s.set(&t, "from_a", &json!("a"), None).unwrap();
        s.set(&t, "from_b", &json!("b"), None).unwrap();
        assert_eq!(
            s.get(&t, None).unwrap(),
            Some(json!({ "from_a": "a", "from_b": "b" }))
        );
        assert_eq!(seen, 0);
    }
}

#[test]
fn expected_version_gives_compare_and_swap() {
    for config in both() {
        let (trail, _) = engine(config);
        let s = trail.sessions();
        let t = s.create(CreateOptions::default()).unwrap().token;
        let v0 = s
            .validate(&t, &Default::default())
            .unwrap()
            .unwrap()
            .version;
        let v1 = s.merge(&t, &obj(json!({ "step": 1 })), Some(v0)).unwrap();
        assert_eq!(v1, v0 + 1);
        // A writer still holding v0 conflicts, and changes nothing.
        let err = s
            .merge(&t, &obj(json!({ "step": 99 })), Some(v0))
            .unwrap_err();
        assert_eq!(usertrail::error::ErrorCode::code(&err), "CONFLICT");
        assert_eq!(code(s.set(&t, "x", &json!(1), Some(v0))), "CONFLICT");
        assert_eq!(code(s.clear(&t, Some(v0))), "CONFLICT");
        assert_eq!(s.get(&t, None).unwrap(), Some(json!({ "step": 1 })));
        assert_eq!(
            s.validate(&t, &Default::default())
                .unwrap()
                .unwrap()
                .version,
            v1
        );
    }
}

#[test]
fn oversized_state_is_refused_and_leaves_the_old_state() {
    for mut config in both() {
        config.max_state_bytes = 1024;
        let (trail, _) = engine(config);
        let s = trail.sessions();
        let t = s.create(CreateOptions::default()).unwrap().token;
        s.set(&t, "a", &json!("x".repeat(600)), None).unwrap();
        // Each value fits alone; together they would not.
        assert_eq!(
            code(s.set(&t, "b", &json!("y".repeat(600)), None)),
            "PAYLOAD_TOO_LARGE"
        );
        assert_eq!(
            code(s.merge(&t, &obj(json!({ "b": "y".repeat(600) })), None)),
            "PAYLOAD_TOO_LARGE"
        );
        assert_eq!(
            code(s.set(&t, "c", &json!("z".repeat(5000)), None)),
            "PAYLOAD_TOO_LARGE"
        );
        assert_eq!(
            s.get(&t, None).unwrap(),
            Some(json!({ "a": "x".repeat(600) }))
        );
        assert_eq!(
            s.validate(&t, &Default::default())
                .unwrap()
                .unwrap()
                .version,
            1
        );
    }
}

#[test]
fn the_default_limit_is_64_kib() {
    let (trail, _) = engine(SessionConfig::default());
    let s = trail.sessions();
    let t = s.create(CreateOptions::default()).unwrap().token;
    s.set(&t, "ok", &json!("x".repeat(60 * 1024)), None)
        .unwrap();
    assert_eq!(
        code(s.set(&t, "more", &json!("y".repeat(8 * 1024)), None)),
        "PAYLOAD_TOO_LARGE"
    );
}

#[test]
fn bad_keys_are_refused() {
    let (trail, _) = engine(SessionConfig::default());
    let s = trail.sessions();
    let t = s.create(CreateOptions::default()).unwrap().token;
    for key in ["", "a\"b", "back\\slash", "new\nline", &"k".repeat(300)] {
        assert_eq!(
            code(s.set(&t, key, &json!(1), None)),
            "INVALID_INPUT",
            "{key:?}"
        );
        assert_eq!(code(s.get(&t, Some(key))), "INVALID_INPUT", "{key:?}");
        assert_eq!(code(s.remove(&t, key, None)), "INVALID_INPUT", "{key:?}");
    }
    assert_eq!(s.get(&t, None).unwrap(), Some(json!({})));
}

#[test]
fn sealed_state_never_reaches_the_database_in_plaintext() {
    let (mut trail, _) = engine(keys(&[("k1", 7)]));
    let t = trail
        .sessions()
        .create(CreateOptions {
            data: Some(obj(json!({ "secret": "correct horse battery staple" }))),
            ..CreateOptions::default()
        })
        .unwrap()
        .token;
    trail
        .sessions()
        .set(&t, "card", &json!("4111-1111-1111-1111"), None)
        .unwrap();
    let bytes = trail.export().unwrap();
    assert!(
        !contains(&bytes, b"correct horse"),
        "plaintext state in the database"
    );
    assert!(
        !contains(&bytes, b"4111-1111"),
        "plaintext state in the database"
    );
    assert!(
        !contains(&bytes, b"secret"),
        "plaintext key in the database"
    );
}

#[test]
fn old_keys_still_open_and_writes_use_the_newest() {
    let (mut trail, clock) = engine(keys(&[("k1", 1)]));
    let t = trail
        .sessions()
        .create(CreateOptions {
            data: Some(obj(json!({ "n": 1 }))),
            ..CreateOptions::default()
        })
        .unwrap()
        .token;
    let bytes = trail.export().unwrap();
    let key_id = |trail: &usertrail::UserTrail| -> String {
        trail
            .store()
            .conn()
            .query_row("SELECT key_id FROM sessions", [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(key_id(&trail), "k1");

    // Rotated: k2 is new, k1 still opens.
    let rotated = reopen(bytes.clone(), keys(&[("k2", 2), ("k1", 1)]), clock.clone());
    assert_eq!(
        rotated.sessions().get(&t, Some("n")).unwrap(),
        Some(json!(1))
    );
    rotated.sessions().set(&t, "m", &json!(2), None).unwrap();
    assert_eq!(key_id(&rotated), "k2");
    assert_eq!(
        rotated.sessions().get(&t, None).unwrap(),
        Some(json!({ "n": 1, "m": 2 }))
    );

    // Without the key, or with the wrong one: typed errors, never garbage.
    let keyless = reopen(bytes.clone(), SessionConfig::default(), clock.clone());
    assert_eq!(code(keyless.sessions().get(&t, None)), "KEY_MISSING");
    assert_eq!(
        code(keyless.sessions().set(&t, "x", &json!(1), None)),
        "KEY_MISSING"
    );
    assert!(keyless
        .sessions()
        .validate(&t, &Default::default())
        .unwrap()
        .is_some());
    let wrong = reopen(bytes, keys(&[("k1", 9)]), clock);
    assert_eq!(code(wrong.sessions().get(&t, None)), "DECRYPTION_FAILED");
    assert_eq!(
        code(wrong.sessions().merge(&t, &Map::new(), None)),
        "DECRYPTION_FAILED"
    );
    let _ = trail.export();
}

#[test]
fn turning_encryption_on_seals_existing_state_at_its_next_write() {
    let (mut trail, clock) = engine(SessionConfig::default());
    let t = trail
        .sessions()
        .create(CreateOptions {
            data: Some(obj(json!({ "plain": "text" }))),
            ..CreateOptions::default()
        })
        .unwrap()
        .token;
    let sealed = reopen(trail.export().unwrap(), keys(&[("k1", 1)]), clock);
    assert_eq!(
        sealed.sessions().get(&t, Some("plain")).unwrap(),
        Some(json!("text"))
    );
    sealed.sessions().set(&t, "more", &json!(1), None).unwrap();
    let mut sealed = sealed;
    assert!(!contains(&sealed.export().unwrap(), b"\"plain\""));
    assert_eq!(
        sealed.sessions().get(&t, Some("plain")).unwrap(),
        Some(json!("text"))
    );
}

#[test]
fn key_order_survives_a_round_trip() {
    for config in both() {
        let (trail, _) = engine(config);
        let s = trail.sessions();
        let t = s
            .create(CreateOptions {
                data: Some(obj(
                    json!({ "zebra": 1, "apple": { "sku": "A1", "qty": 2 } }),
                )),
                ..CreateOptions::default()
            })
            .unwrap()
            .token;
        s.set(&t, "mango", &json!(3), None).unwrap();
        let text = serde_json::to_string(&s.get(&t, None).unwrap().unwrap()).unwrap();
        assert_eq!(
            text,
            r#"{"zebra":1,"apple":{"sku":"A1","qty":2},"mango":3}"#
        );
    }
}
