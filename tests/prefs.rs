//! User preferences. Native and wasm.

#[cfg(all(target_family = "wasm", target_os = "unknown"))]
use wasm_bindgen_test::wasm_bindgen_test as test;

use crate::common;

use common::*;
use serde_json::{json, Map, Value};
use usertrail::error::ErrorCode;
use usertrail::prefs::{PrefDefinition, PrefType};
use usertrail::session::SessionConfig;
use usertrail::tracking::EventInput;

fn def(key: &str, category: &str, pref_type: PrefType, default: Value) -> PrefDefinition {
    PrefDefinition {
        key: key.into(),
        category: category.into(),
        pref_type,
        default,
        values: None,
        min: None,
        max: None,
        max_length: None,
        max_bytes: None,
        format: None,
        description: None,
        purpose: None,
    }
}

fn map(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => panic!("not an object"),
    }
}

#[test]
fn built_in_definitions_and_their_defaults() {
    let (trail, _) = engine(SessionConfig::default());
    let p = trail.prefs();
    let all = p.get_all("alice", None).now().unwrap();
    let keys: Vec<&str> = all.iter().map(|v| v.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "appearance.theme",
            "locale.language",
            "locale.timezone",
            "notifications.digest",
            "notifications.email",
            "notifications.push",
            "privacy.analytics",
            "privacy.marketing",
            "privacy.personalization",
        ]
    );
    assert!(all.iter().all(|v| v.is_default && v.updated_at.is_none()));
    assert_eq!(
        p.get("alice", "appearance.theme").now().unwrap().value,
        json!("system")
    );
    assert_eq!(
        p.get("alice", "notifications.digest").now().unwrap().value,
        json!("weekly")
    );
    let notifications = p.get_all("alice", Some("notifications")).now().unwrap();
    assert_eq!(notifications.len(), 3);
    assert_eq!(
        code(p.get("alice", "no.such.key").now()),
        "UNKNOWN_PREFERENCE"
    );
}

#[test]
fn overrides_reset_and_redefinition() {
    let (trail, clock) = engine(SessionConfig::default());
    let p = trail.prefs();
    p.define(&def(
        "editor.font_size",
        "editor",
        PrefType::Number,
        json!(14),
    ))
    .unwrap();
    clock.advance(MIN);
    let v = p
        .set("alice", "editor.font_size", &json!(16), "settings")
        .now()
        .unwrap();
    assert_eq!(
        (v.value, v.is_default, v.updated_at),
        (json!(16), false, Some(T0 + MIN))
    );

    // A new default reaches only those who never set the preference.
    p.define(&def(
        "editor.font_size",
        "editor",
        PrefType::Number,
        json!(12),
    ))
    .unwrap();
    assert_eq!(
        p.get("alice", "editor.font_size").now().unwrap().value,
        json!(16)
    );
    assert_eq!(
        p.get("bob", "editor.font_size").now().unwrap().value,
        json!(12)
    );

    assert_eq!(
        p.reset("alice", Some("editor.font_size"), "settings")
            .now()
            .unwrap(),
        1
    );
    let v = p.get("alice", "editor.font_size").now().unwrap();
    assert_eq!((v.value, v.is_default), (json!(12), true));
    p.set("alice", "appearance.theme", &json!("dark"), "settings")
        .now()
        .unwrap();
    p.set("alice", "notifications.push", &json!(true), "settings")
        .now()
        .unwrap();
    assert_eq!(p.reset("alice", None, "settings").now().unwrap(), 2);
    assert!(p
        .get_all("alice", None)
        .now()
        .unwrap()
        .iter()
        .all(|v| v.is_default));
}

#[test]
fn every_type_refuses_bad_values_naming_the_key() {
    let (trail, _) = engine(SessionConfig::default());
    let p = trail.prefs();
    let mut volume = def("audio.volume", "audio", PrefType::Number, json!(5));
    volume.min = Some(0.0);
    volume.max = Some(10.0);
    p.define(&volume).unwrap();
    let mut nick = def("profile.nickname", "profile", PrefType::String, json!(""));
    nick.max_length = Some(8);
    p.define(&nick).unwrap();
    let mut layout = def("ui.layout", "ui", PrefType::Json, json!({}));
    layout.max_bytes = Some(64);
    p.define(&layout).unwrap();
    let cases = [
        ("appearance.theme", json!("neon")),
        ("appearance.theme", json!(1)),
        ("audio.volume", json!(11)),
        ("audio.volume", json!(-1)),
        ("audio.volume", json!("5")),
        ("profile.nickname", json!("far too long")),
        ("locale.language", json!("english!")),
        ("locale.language", json!("en_GB")),
        ("locale.timezone", json!("Mars/Olympus Mons")),
        ("notifications.email", json!("yes")),
        ("ui.layout", json!({ "panels": "x".repeat(100) })),
    ];
    for (key, value) in cases {
        match trail.prefs().set("alice", key, &value, "settings").now() {
            Err(usertrail::Error::InvalidInput { field, .. }) => assert_eq!(field, key, "{value}"),
            other => panic!("{key} = {value}: {other:?}"),
        }
    }
    assert!(trail.prefs().history("alice").now().unwrap().is_empty());
    p.set("alice", "locale.language", &json!("zh-Hant-TW"), "settings")
        .now()
        .unwrap();
    p.set(
        "alice",
        "locale.timezone",
        &json!("America/Argentina/Buenos_Aires"),
        "settings",
    )
    .now()
    .unwrap();
}

#[test]
fn set_many_is_all_or_nothing() {
    let (trail, _) = engine(SessionConfig::default());
    trail
        .prefs()
        .set("alice", "appearance.theme", &json!("dark"), "settings")
        .now()
        .unwrap();
    let before = trail.export().unwrap();
    let batch = map(json!({
        "appearance.theme": "light",
        "notifications.push": true,
        "notifications.digest": "hourly",
    }));
    assert_eq!(
        code(trail.prefs().set_many("alice", &batch, "settings").now()),
        "INVALID_INPUT"
    );
    let unknown = map(json!({ "appearance.theme": "light", "nope": 1 }));
    assert_eq!(
        code(trail.prefs().set_many("alice", &unknown, "settings").now()),
        "UNKNOWN_PREFERENCE"
    );
    assert_eq!(trail.export().unwrap(), before, "a refused set_many wrote");
    let good = map(json!({ "appearance.theme": "light", "notifications.push": true }));
    trail
        .prefs()
        .set_many("alice", &good, "settings")
        .now()
        .unwrap();
    assert_eq!(
        trail
            .prefs()
            .get("alice", "notifications.push")
            .now()
            .unwrap()
            .value,
        json!(true)
    );
}

#[test]
fn history_keeps_every_change_in_order() {
    let (trail, clock) = engine(SessionConfig::default());
    let p = trail.prefs();
    p.set("alice", "appearance.theme", &json!("dark"), "settings")
        .now()
        .unwrap();
    clock.advance(MIN);
    p.set("alice", "appearance.theme", &json!("dark"), "settings")
        .now()
        .unwrap(); // no change, no entry
    p.set("alice", "appearance.theme", &json!("light"), "support")
        .now()
        .unwrap();
    clock.advance(MIN);
    p.reset("alice", None, "settings").now().unwrap();
    let h = p.history("alice").now().unwrap();
    let summary: Vec<_> = h
        .iter()
        .map(|c| {
            (
                c.old_value.clone(),
                c.new_value.clone(),
                c.at,
                c.source.as_str(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (None, Some(json!("dark")), T0, "settings"),
            (
                Some(json!("dark")),
                Some(json!("light")),
                T0 + MIN,
                "support"
            ),
            (Some(json!("light")), None, T0 + 2 * MIN, "settings"),
        ]
    );
}

#[test]
fn identify_moves_anonymous_preferences_to_the_user() {
    let (trail, _) = engine(SessionConfig::default());
    let p = trail.prefs();
    p.set("anon-1", "appearance.theme", &json!("dark"), "banner")
        .now()
        .unwrap();
    p.set("anon-1", "locale.language", &json!("fr"), "banner")
        .now()
        .unwrap();
    p.set("alice", "locale.language", &json!("de"), "settings")
        .now()
        .unwrap();
    trail
        .tracking()
        .track(EventInput {
            name: "visit".into(),
            anonymous_id: Some("anon-1".into()),
            ..EventInput::default()
        })
        .unwrap();
    trail.tracking().identify("anon-1", "alice").unwrap();
    assert_eq!(
        p.get("alice", "appearance.theme").now().unwrap().value,
        json!("dark")
    );
    assert_eq!(
        p.get("alice", "locale.language").now().unwrap().value,
        json!("de"),
        "the user's own value stays"
    );
    assert!(p
        .get_all("anon-1", None)
        .now()
        .unwrap()
        .iter()
        .all(|v| v.is_default));
    assert_eq!(p.history("alice").now().unwrap().len(), 3);
}

#[test]
fn bad_definitions_and_subjects_are_refused() {
    let (trail, _) = engine(SessionConfig::default());
    let p = trail.prefs();
    let mut bad_enum = def("x.mode", "x", PrefType::Enum, json!("a"));
    assert_eq!(code(p.define(&bad_enum)), "INVALID_INPUT");
    bad_enum.values = Some(vec!["b".into()]);
    assert_eq!(
        code(p.define(&bad_enum)),
        "INVALID_INPUT",
        "default outside values"
    );
    let mut range = def("x.n", "x", PrefType::Number, json!(5));
    range.min = Some(10.0);
    assert_eq!(code(p.define(&range)), "INVALID_INPUT");
    assert_eq!(
        code(p.define(&def("", "x", PrefType::Bool, json!(true)))),
        "INVALID_INPUT"
    );
    assert_eq!(
        code(p.define(&def("x.y", "x y", PrefType::Bool, json!(true)))),
        "INVALID_INPUT"
    );
    assert_eq!(
        code(p.define(&def("x.'); DROP", "x", PrefType::Bool, json!(true)))),
        "INVALID_INPUT"
    );
    assert_eq!(code(p.get_all("", None).now()), "INVALID_INPUT");
    assert_eq!(
        code(
            p.set("a\u{0}b", "appearance.theme", &json!("dark"), "x")
                .now()
        ),
        "INVALID_INPUT"
    );
    assert_eq!(
        code(p.set("alice", "appearance.theme", &json!("dark"), "").now()),
        "INVALID_INPUT"
    );
}

/// A value given as JSON text (as the JS bindings pass it) is refused by
/// its key and length before it is read, with the error its value would
/// get, and the looseness of that check leaves the exact answer to the
/// value read: nothing is written by a refusal.
#[test]
fn a_value_given_as_text_is_checked_before_it_is_read() {
    let (trail, _) = engine(SessionConfig::default());
    let p = trail.prefs();
    let mut layout = def("ui.layout", "ui", PrefType::Json, json!(null));
    layout.max_bytes = Some(16);
    p.define(&layout).unwrap();
    let mut nick = def("profile.nickname", "profile", PrefType::String, json!(""));
    nick.max_length = Some(8);
    p.define(&nick).unwrap();
    let mut deep = def("ui.deep", "ui", PrefType::Json, json!(null));
    deep.max_bytes = Some(1 << 20);
    p.define(&deep).unwrap();

    // Ten million bytes of small objects: never read.
    let huge = format!("[{}{{}}]", "{},".repeat(3_333_333));
    let refused = |key: &str, text: &str| match p.set_json("alice", key, text, "api").now() {
        Err(e) => (
            e.code().to_string(),
            e.field().unwrap_or("").to_string(),
            e.to_string(),
        ),
        Ok(v) => panic!("{key} = {} bytes accepted: {v:?}", text.len()),
    };
    assert_eq!(refused("nope.key", &huge).0, "UNKNOWN_PREFERENCE");
    let (c, field, message) = refused("ui.layout", &huge);
    assert_eq!((c.as_str(), field.as_str()), ("INVALID_INPUT", "ui.layout"));
    assert!(message.contains("at most 16 bytes of JSON"), "{message}");
    let (_, field, message) = refused("profile.nickname", &format!("\"{}\"", "x".repeat(100)));
    assert_eq!(field, "profile.nickname");
    assert!(message.contains("at most 8 characters"), "{message}");
    let (_, field, message) = refused("notifications.email", &huge);
    assert_eq!(field, "notifications.email");
    assert!(message.contains("true or false"), "{message}");
    let (_, field, message) = refused("appearance.theme", &huge);
    assert_eq!(field, "appearance.theme");
    assert!(message.contains("one of"), "{message}");
    // Past the check of its length, the value read decides: 17 bytes as
    // JSON writes them, too many; 23 bytes of text that are `[1e20]`, few
    // enough.
    assert!(refused("ui.layout", r#"{"a":"0123456789"}"#)
        .2
        .contains("at most 16 bytes"));
    let set = p
        .set_json("alice", "ui.layout", "[100000000000000000000]", "api")
        .now()
        .unwrap();
    assert_eq!(set.value, json!([1e20]));
    // A long value of the wrong type is named for its type, as a short
    // one is.
    for text in ["[0,0,0]".to_string(), format!("[{}0]", "0,".repeat(100))] {
        let (_, field, message) = refused("profile.nickname", &text);
        assert_eq!(field, "profile.nickname");
        assert!(message.contains("must be a string"), "{message}");
    }
    // Within six times the limit, the size is measured as the engine writes
    // it: 45 zeros are 91 bytes, refused without being built.
    let zeros = format!("[{}0]", "0,".repeat(44));
    assert!(refused("ui.layout", &zeros).2.contains("at most 16 bytes"));
    // A fault inside the value is named by its path in it.
    assert_eq!(
        refused("ui.deep", r#"{"a":{"b":"\ud800"}}"#).1,
        "ui.deep.a.b"
    );
    assert_eq!(
        refused("ui.deep", r#"[1,{"c":"\udc00"}]"#).1,
        "ui.deep[1].c"
    );
    // Nesting past what the reader takes: refused on the key, not a panic.
    let nested = format!("{}{}", "[".repeat(300), "]".repeat(300));
    assert_eq!(refused("ui.deep", &nested).1, "ui.deep");
    // A bad subject is named before the key is looked up.
    assert_eq!(
        p.set_json("", "nope.key", "1", "api")
            .now()
            .unwrap_err()
            .field(),
        Some("userId")
    );

    // Many at once: each key's text checked in order before any is read,
    // all or nothing.
    let many = |pairs: &[(&str, &str)]| {
        let pairs: Vec<(String, &str)> = pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        p.set_many_json("bob", &pairs, "api").now()
    };
    let r = many(&[
        ("appearance.theme", "\"dark\""),
        ("ui.layout", &huge),
        ("nope", "1"),
    ]);
    assert_eq!(r.as_ref().err().and_then(|e| e.field()), Some("ui.layout"));
    assert_eq!(code(r), "INVALID_INPUT");
    let r = many(&[
        ("appearance.theme", "\"dark\""),
        ("nope", "1"),
        ("ui.layout", &huge),
    ]);
    assert_eq!(code(r), "UNKNOWN_PREFERENCE");
    assert!(
        p.history("bob").now().unwrap().is_empty(),
        "a refused batch wrote"
    );
    assert!(
        p.history("alice").now().unwrap().len() == 1,
        "only [1e20] was written"
    );
    many(&[("appearance.theme", "\"dark\""), ("ui.layout", "{\"a\":1}")]).unwrap();
    assert_eq!(
        p.get("bob", "appearance.theme").now().unwrap().value,
        json!("dark")
    );
    assert_eq!(
        p.get("bob", "ui.layout").now().unwrap().value,
        json!({ "a": 1 })
    );
    // `get` reads one row: the same answer as `getAll`'s, set or default.
    for subject in ["alice", "bob", "nobody"] {
        for all in p.get_all(subject, None).now().unwrap() {
            assert_eq!(p.get(subject, &all.key).now().unwrap(), all, "{subject}");
        }
    }
    // A key longer than any definition's is unknown, and its message short.
    let long = "k".repeat(1 << 20);
    for r in [
        p.set_json("bob", &long, "1", "api").now().map(|_| ()),
        p.get("bob", &long).now().map(|_| ()),
    ] {
        let e = r.unwrap_err();
        assert_eq!(e.code(), "UNKNOWN_PREFERENCE");
        assert!(e.to_string().len() < 200, "{}", e.to_string().len());
    }
}
