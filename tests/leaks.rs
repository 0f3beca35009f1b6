//! What a privacy-first engine must not store, and where its proof must
//! hold (issue 16): personal data in URLs and dimensions, raw clients in the
//! quarantine, third-party shipping after a CCPA opt-out, consent under an
//! old policy, the audit of logins and preference changes, chains anchored
//! outside the database and keyed, CSV cells that would run as formulas,
//! and the engine's own session events. Native and wasm.

#[cfg(all(target_family = "wasm", target_os = "unknown"))]
use wasm_bindgen_test::wasm_bindgen_test as test;

use crate::common;

use std::sync::Arc;

use common::*;
use serde_json::{json, Value};
use usertrail::clock::ManualClock;
use usertrail::consent::PrivacyConfig;
use usertrail::kernel::bytes::Bytes;
use usertrail::privacy::{AuditFilter, ExportFormat, GrantOptions, Mark, WithdrawOptions};
use usertrail::session::{ClientContext, CreateOptions};
use usertrail::tracking::{
    EventInput, EventSchema, EventType, HistoryFilter, OutboxConfig, SimpleType, TrackStatus,
    TrackingConfig, ValidationMode,
};
use usertrail::{OpenOptions, Storage, UserTrail};

const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";

fn with(tracking: TrackingConfig, privacy: PrivacyConfig) -> (UserTrail, Arc<ManualClock>) {
    open_at(
        T0,
        OpenOptions::new(Storage::Memory)
            .tracking(tracking)
            .privacy(privacy),
    )
}

fn user(id: &str) -> HistoryFilter {
    HistoryFilter {
        user_id: Some(id.into()),
        ..HistoryFilter::default()
    }
}

fn grant(purposes: &[&str]) -> GrantOptions {
    GrantOptions {
        purposes: purposes.iter().map(|p| p.to_string()).collect(),
        source: "banner".into(),
        ..GrantOptions::default()
    }
}

#[test]
fn urls_paths_referrers_and_dimensions_lose_their_personal_data() {
    let (trail, _) = with(TrackingConfig::default(), PrivacyConfig::default());
    let t = trail.tracking();
    t.define_dimension("contact", SimpleType::String).unwrap();
    let mut dims = serde_json::Map::new();
    dims.insert("contact".into(), json!("write to someone@example.com"));
    t.track(EventInput {
        name: "page_view".into(),
        user_id: Some("u".into()),
        url: Some("https://x.test/reset?email=someone@example.com&utm_source=mail&utm_term=someone@example.com".into()),
        path: Some("/reset/someone@example.com?token=s3cret".into()),
        referrer: Some("https://mail.test/?to=someone%40example.com#inbox".into()),
        dimensions: Some(dims),
        ..EventInput::default()
    })
    .unwrap();
    let e = &t.history(&user("u"), None, None).unwrap().events[0];
    assert_eq!(
        e.url.as_deref(),
        Some("https://x.test/reset?email=[email]&utm_source=mail&utm_term=someone@example.com"),
        "values redacted, names kept, utm_* kept verbatim"
    );
    assert_eq!(e.path.as_deref(), Some("/reset/[email]?token=[redacted]"));
    assert_eq!(
        e.referrer.as_deref(),
        Some("https://mail.test/?to=[email]#inbox")
    );
    assert_eq!(e.dimensions, Some(json!({ "contact": "write to [email]" })));
    // Only the allowed parameter still holds the address.
    let bytes = trail.export().unwrap();
    let hits = bytes
        .windows(b"someone@example.com".len())
        .filter(|w| *w == b"someone@example.com")
        .count();
    assert_eq!(hits, 1, "only in utm_term, which the allow-list keeps");

    // The allow-list is the app's: with none, nothing is kept verbatim.
    let (trail, _) = with(
        TrackingConfig::default(),
        PrivacyConfig {
            keep_url_params: vec![],
            ..PrivacyConfig::default()
        },
    );
    let (id, _) = trail
        .tracking()
        .track(EventInput {
            name: "page_view".into(),
            user_id: Some("u".into()),
            url: Some("/?utm_term=someone@example.com".into()),
            ..EventInput::default()
        })
        .unwrap();
    let page = trail.tracking().history(&user("u"), None, None).unwrap();
    assert_eq!(page.events[0].event_id, id);
    assert_eq!(page.events[0].url.as_deref(), Some("/?utm_term=[email]"));

    // redactPii off: stored as sent.
    let (trail, _) = with(
        TrackingConfig::default(),
        PrivacyConfig {
            redact_pii: false,
            ..PrivacyConfig::default()
        },
    );
    trail
        .tracking()
        .track(EventInput {
            name: "page_view".into(),
            user_id: Some("u".into()),
            url: Some("/?email=someone@example.com".into()),
            ..EventInput::default()
        })
        .unwrap();
    let page = trail.tracking().history(&user("u"), None, None).unwrap();
    assert_eq!(
        page.events[0].url.as_deref(),
        Some("/?email=someone@example.com")
    );
}

#[test]
fn the_quarantine_keeps_a_masked_ip_and_a_reduced_user_agent() {
    let (trail, _) = with(
        TrackingConfig {
            validation: ValidationMode::Quarantine,
            ..TrackingConfig::default()
        },
        PrivacyConfig::default(),
    );
    let t = trail.tracking();
    t.define_event(
        "buy",
        &serde_json::from_value::<EventSchema>(json!({ "required": { "n": "number" } })).unwrap(),
    )
    .unwrap();
    let (_, status) = t
        .track(EventInput {
            name: "buy".into(),
            user_id: Some("u".into()),
            ip: Some("203.0.113.77".into()),
            user_agent: Some(CHROME.into()),
            ..EventInput::default()
        })
        .unwrap();
    assert_eq!(status, TrackStatus::Quarantined);
    let q = &t.quarantine_list(None).unwrap()[0];
    assert_eq!(q.event.get("ip"), None);
    assert_eq!(q.event.get("userAgent"), None);
    assert_eq!(
        q.event["client"],
        json!({ "ip": "203.0.0.0", "browser": "Chrome 120", "os": "Windows", "device": "desktop" })
    );
    let bytes = trail.export().unwrap();
    assert!(!contains(&bytes, b"203.0.113.77"), "raw IP in the database");
    assert!(
        !contains(&bytes, b"AppleWebKit"),
        "raw user agent in the database"
    );

    // Retried once the schema is fixed, it is stored as it would have been.
    let t = trail.tracking();
    t.define_event("buy", &EventSchema::default()).unwrap();
    assert_eq!(t.quarantine_retry(q.id).unwrap(), TrackStatus::Stored);
    let e = &t.history(&user("u"), None, None).unwrap().events[0];
    assert_eq!(e.client.ip.as_deref(), Some("203.0.0.0"));
    assert_eq!(e.client.browser.as_deref(), Some("Chrome 120"));
    assert_eq!(e.user_agent, None);
}

fn queued(trail: &UserTrail, who: &[(&str, &str)]) {
    for (user, anon) in who {
        trail
            .tracking()
            .track(EventInput {
                name: "click".into(),
                user_id: (!user.is_empty()).then(|| user.to_string()),
                anonymous_id: (!anon.is_empty()).then(|| anon.to_string()),
                ..EventInput::default()
            })
            .unwrap();
    }
}

#[test]
fn a_ccpa_opt_out_stops_events_leaving_for_a_third_party_collector() {
    let third = TrackingConfig {
        outbox: Some(OutboxConfig {
            third_party: true,
            ..OutboxConfig::default()
        }),
        ..TrackingConfig::default()
    };
    let (trail, _) = with(third, PrivacyConfig::default());
    let p = trail.privacy();
    p.withdraw(
        "out",
        &WithdrawOptions {
            purposes: vec!["sale_share".into()],
            source: "settings".into(),
            ..WithdrawOptions::default()
        },
    )
    .now()
    .unwrap();
    p.apply_global_privacy_control("gpc", None).now().unwrap();
    p.grant("yes", &grant(&["sale_share"])).now().unwrap();
    // An anonymous visitor who opted out, later identified: still out.
    p.apply_global_privacy_control("anon-1", None)
        .now()
        .unwrap();
    trail.tracking().identify("anon-1", "later").unwrap();
    queued(
        &trail,
        &[
            ("out", ""),
            ("gpc", ""),
            ("yes", ""),
            ("", "undecided"),
            ("later", ""),
            ("", "anon-1"),
        ],
    );
    let batch = trail.tracking().outbox_take(100).unwrap().unwrap();
    let who: Vec<&str> = batch
        .events
        .iter()
        .map(|e| e["userId"].as_str().or(e["anonymousId"].as_str()).unwrap())
        .collect();
    assert_eq!(
        who,
        ["yes", "undecided"],
        "opted-out subjects' events never leave"
    );
    let stats = trail.tracking().outbox_stats().unwrap();
    assert_eq!((stats.withheld, stats.queued), (4, 2));

    // The app's own collector is not a sale: everything is shipped.
    let own = TrackingConfig {
        outbox: Some(OutboxConfig::default()),
        ..TrackingConfig::default()
    };
    let (trail, _) = with(own, PrivacyConfig::default());
    trail
        .privacy()
        .apply_global_privacy_control("gpc", None)
        .now()
        .unwrap();
    queued(&trail, &[("gpc", "")]);
    assert_eq!(
        trail
            .tracking()
            .outbox_take(10)
            .unwrap()
            .unwrap()
            .events
            .len(),
        1
    );

    // Where sale_share needs opt-in, the undecided are withheld too.
    let third = TrackingConfig {
        outbox: Some(OutboxConfig {
            third_party: true,
            ..OutboxConfig::default()
        }),
        ..TrackingConfig::default()
    };
    let optin = PrivacyConfig {
        require_consent: vec!["sale_share".into()],
        ..PrivacyConfig::default()
    };
    let (trail, _) = with(third, optin);
    queued(&trail, &[("", "undecided")]);
    assert!(trail.tracking().outbox_take(10).unwrap().is_none());
}

#[test]
fn consent_under_an_old_policy_counts_only_when_the_engine_allows_it() {
    let gated = |version: &str, current: bool| PrivacyConfig {
        policy_version: version.into(),
        require_consent: vec!["analytics".into()],
        require_current_policy: current,
        ..PrivacyConfig::default()
    };
    let (v1, clock) = with(TrackingConfig::default(), gated("1", false));
    v1.privacy()
        .grant("ann", &grant(&["analytics"]))
        .now()
        .unwrap();
    let bytes = v1.export().unwrap();
    let reopen = |config: PrivacyConfig| {
        UserTrail::open(
            OpenOptions::new(Storage::Bytes(bytes.clone()))
                .clock(clock.clone())
                .privacy(config),
        )
        .unwrap()
    };
    let page = || EventInput {
        name: "page_view".into(),
        event_type: Some(EventType::Page),
        user_id: Some("ann".into()),
        ..EventInput::default()
    };

    // Policy 2, advisory: reported, still granted.
    let advisory = reopen(gated("2", false));
    let status = advisory.privacy().status("ann").now().unwrap();
    assert!(status.needs_reconsent && status.purposes["analytics"].granted);
    assert_eq!(
        advisory.tracking().track(page()).unwrap().1,
        TrackStatus::Stored
    );

    // Policy 2, required: not granted until re-consent.
    let strict = reopen(gated("2", true));
    let status = strict.privacy().status("ann").now().unwrap();
    assert!(status.needs_reconsent && !status.purposes["analytics"].granted);
    assert_eq!(
        strict.tracking().track(page()).unwrap().1,
        TrackStatus::NoConsent
    );
    strict
        .privacy()
        .grant("ann", &grant(&["analytics"]))
        .now()
        .unwrap();
    assert!(strict.privacy().status("ann").now().unwrap().purposes["analytics"].granted);
    assert_eq!(
        strict.tracking().track(page()).unwrap().1,
        TrackStatus::Stored
    );
}

#[test]
fn logins_device_sign_outs_and_preference_changes_are_audited_without_secrets() {
    let (trail, _) = with(TrackingConfig::default(), PrivacyConfig::default());
    let s = trail.sessions();
    let anon = s.create(CreateOptions::default()).now().unwrap();
    let ann = s.login(&anon.token, "ann").now().unwrap();
    let other = s
        .create(CreateOptions {
            user_id: Some("ann"),
            ..CreateOptions::default()
        })
        .now()
        .unwrap();
    assert!(s
        .destroy_by_session_id("ann", &other.session.session_id)
        .now()
        .unwrap());
    let prefs = trail.prefs();
    prefs
        .set(
            "ann",
            "locale.timezone",
            &json!("Europe/Lisbon"),
            "settings",
        )
        .now()
        .unwrap();
    prefs.reset("ann", None, "settings").now().unwrap();
    let entries = trail
        .privacy()
        .audit(&AuditFilter {
            subject: Some("ann".into()),
            ..AuditFilter::default()
        })
        .unwrap();
    let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "sessions.login",
            "sessions.destroy_by_session_id",
            "prefs.set",
            "prefs.reset"
        ]
    );
    assert_eq!(
        entries[0].details["sessionId"],
        json!(ann.session.session_id)
    );
    assert_eq!(
        entries[2].details,
        json!({ "keys": ["locale.timezone"], "source": "settings" })
    );
    let all = serde_json::to_string(&entries).unwrap();
    for secret in [
        &ann.token,
        &anon.token,
        &other.token,
        &"Europe/Lisbon".to_string(),
    ] {
        assert!(!all.contains(secret.as_str()), "{secret} in the audit log");
    }
    assert!(trail.privacy().verify_audit().unwrap().ok);
    let _ = trail.export().unwrap();
}

/// What someone holding only the database file could do: rewrite the audit
/// log's details and recompute every hash and the head mark, unkeyed.
fn forge_audit(bytes: Vec<u8>) -> Vec<u8> {
    use usertrail::store::chain::{link, GENESIS};
    let mut conn = rusqlite::Connection::open_in_memory().unwrap();
    conn.deserialize_read_exact(rusqlite::MAIN_DB, bytes.as_slice(), bytes.len(), false)
        .unwrap();
    let rows: Vec<(i64, i64, String, String, Option<String>, String)> = conn
        .prepare("SELECT seq, at, actor, action, subject_hash, details FROM audit_log ORDER BY seq")
        .unwrap()
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut prev = GENESIS.to_string();
    for (seq, at, actor, action, subject_hash, details) in rows {
        let details = details.replace("user request", "forged");
        let fields = [
            seq.to_string(),
            at.to_string(),
            actor,
            action,
            subject_hash.unwrap_or_default(),
            details.clone(),
        ];
        let refs: Vec<&str> = fields.iter().map(String::as_str).collect();
        let hash = link(None, &prev, &refs);
        conn.execute(
            "UPDATE audit_log SET details = ?2, prev_hash = ?3, hash = ?4 WHERE seq = ?1",
            rusqlite::params![seq, details, prev, hash],
        )
        .unwrap();
        conn.execute(
            "UPDATE meta SET value = ?1 WHERE key = 'audit_log.head'",
            [format!("{seq}:{hash}")],
        )
        .unwrap();
        prev = hash;
    }
    conn.execute("DELETE FROM meta WHERE key = 'audit_log.keyed_from'", [])
        .unwrap();
    conn.serialize(rusqlite::MAIN_DB).unwrap().to_vec()
}

fn erase_someone(trail: &UserTrail) {
    trail
        .privacy()
        .grant("bob", &grant(&["analytics"]))
        .now()
        .unwrap();
    let options = usertrail::privacy::EraseOptions {
        reason: "user request".into(),
        ..Default::default()
    };
    trail.privacy().erase("bob", &options).now().unwrap();
}

#[test]
fn a_chain_rewritten_from_inside_is_caught_by_its_anchor_and_by_its_key() {
    // Unkeyed: a full rewrite verifies from inside, but not against the
    // head the app kept elsewhere.
    let (trail, clock) = with(TrackingConfig::default(), PrivacyConfig::default());
    erase_someone(&trail);
    let anchor: Mark = trail.privacy().audit_head().unwrap();
    assert!(anchor.seq >= 2);
    let ledger_anchor = trail.privacy().ledger_head(None).now().unwrap();
    assert_eq!(ledger_anchor.seq, 1);
    assert!(trail.privacy().verify_audit_against(&anchor).unwrap().ok);
    assert!(
        trail
            .privacy()
            .verify_ledger(None, Some(&ledger_anchor))
            .now()
            .unwrap()
            .ok
    );
    let forged = forge_audit(trail.export().unwrap());
    let reopen = |bytes: Vec<u8>, privacy: PrivacyConfig| {
        UserTrail::open(
            OpenOptions::new(Storage::Bytes(bytes))
                .clock(clock.clone())
                .privacy(privacy),
        )
        .unwrap()
    };
    let victim = reopen(forged.clone(), PrivacyConfig::default());
    assert!(
        victim.privacy().verify_audit().unwrap().ok,
        "undetectable from inside"
    );
    let against = victim.privacy().verify_audit_against(&anchor).unwrap();
    assert!(!against.ok);
    assert!(
        against.problems[0].problem.contains("rewritten"),
        "{against:?}"
    );
    // A chain cut back behind its anchor is caught too.
    let later = Mark {
        seq: anchor.seq + 5,
        hash: anchor.hash.clone(),
    };
    let cut = victim.privacy().verify_audit_against(&later).unwrap();
    assert!(
        cut.problems.iter().any(|p| p.problem.contains("cut back")),
        "{cut:?}"
    );

    // Keyed: a rewrite recomputed without the key fails verification.
    let key = || PrivacyConfig {
        chain_key: Some(Bytes(vec![7; 32])),
        ..PrivacyConfig::default()
    };
    let (keyed, clock) = with(TrackingConfig::default(), key());
    erase_someone(&keyed);
    assert!(keyed.privacy().verify_audit().unwrap().ok);
    assert!(keyed.privacy().verify_ledger(None, None).now().unwrap().ok);
    let bytes = keyed.export().unwrap();
    let forged = forge_audit(bytes.clone());
    let reopen = |bytes: Vec<u8>, privacy: PrivacyConfig| {
        UserTrail::open(
            OpenOptions::new(Storage::Bytes(bytes))
                .clock(clock.clone())
                .privacy(privacy),
        )
        .unwrap()
    };
    // (forge_audit also removed the keyed mark, so we restore it as the
    // app's own record of which chains are keyed would.)
    let victim = reopen(forged, key());
    victim
        .store()
        .conn()
        .execute(
            "INSERT INTO meta (key, value) VALUES ('audit_log.keyed_from', '1')",
            [],
        )
        .unwrap();
    let report = victim.privacy().verify_audit().unwrap();
    assert!(!report.ok, "a keyless rewrite of a keyed chain verifies");

    // A wrong key fails; no key cannot check nor append.
    let wrong = reopen(
        bytes.clone(),
        PrivacyConfig {
            chain_key: Some(Bytes(vec![8; 32])),
            ..PrivacyConfig::default()
        },
    );
    assert!(!wrong.privacy().verify_audit().unwrap().ok);
    let keyless = reopen(bytes, PrivacyConfig::default());
    let r = keyless.privacy().verify_audit().unwrap();
    assert!(!r.ok && r.problems.iter().any(|p| p.problem.contains("chainKey")));
    assert_eq!(
        code(keyless.privacy().grant("ann", &grant(&["analytics"])).now()),
        "KEY_MISSING"
    );
    // A short key is refused at open.
    let short = UserTrail::open(OpenOptions::new(Storage::Memory).clock(clock).privacy(
        PrivacyConfig {
            chain_key: Some(Bytes(vec![1; 8])),
            ..PrivacyConfig::default()
        },
    ));
    assert_eq!(code(short), "INVALID_INPUT");
}

/// Reads RFC 4180 CSV: fields in quotes may hold commas, quotes (doubled)
/// and line breaks.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = vec![];
    let mut row = vec![];
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    rows
}

/// The files of a stored (uncompressed) ZIP archive, by name.
fn unzip(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out = vec![];
    let mut at = 0;
    while bytes[at..].starts_with(&[0x50, 0x4b, 0x03, 0x04]) {
        let u16_at = |i: usize| u16::from_le_bytes([bytes[at + i], bytes[at + i + 1]]) as usize;
        let size = u32::from_le_bytes(bytes[at + 18..at + 22].try_into().unwrap()) as usize;
        let (name_len, extra) = (u16_at(26), u16_at(28));
        let name = String::from_utf8(bytes[at + 30..at + 30 + name_len].to_vec()).unwrap();
        let start = at + 30 + name_len + extra;
        out.push((name, bytes[start..start + size].to_vec()));
        at = start + size;
    }
    out
}

#[test]
fn csv_exports_parse_back_and_never_open_as_formulas() {
    let (trail, _) = with(
        TrackingConfig::default(),
        PrivacyConfig {
            redact_pii: false,
            ..PrivacyConfig::default()
        },
    );
    let nasty = [
        "=HYPERLINK(\"http://evil.test\",\"click\")",
        "+1+1",
        "-2+3",
        "@SUM(A1)",
        "\tTAB",
        "quote \" and, comma\nand a new line",
    ];
    for (i, text) in nasty.iter().enumerate() {
        let mut props = serde_json::Map::new();
        props.insert("note".into(), json!(text));
        trail
            .tracking()
            .track(EventInput {
                name: format!("e{i}"),
                user_id: Some("ann".into()),
                properties: Some(props),
                path: Some(text.replace(['\t', '\n'], " ")),
                ..EventInput::default()
            })
            .unwrap();
    }
    let file = trail
        .privacy()
        .export("ann", ExportFormat::Csv, None, &mut |_| {})
        .now()
        .unwrap();
    let files = unzip(&file.bytes);
    let events = &files.iter().find(|(n, _)| n == "events.csv").unwrap().1;
    let rows = parse_csv(std::str::from_utf8(events).unwrap());
    let header = &rows[0];
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let (props, path) = (col("properties"), col("path"));
    assert_eq!(
        rows.len(),
        1 + nasty.len(),
        "every event is one row: {rows:?}"
    );
    for (row, text) in rows[1..].iter().zip(nasty) {
        assert_eq!(row.len(), header.len(), "{row:?}");
        let note: Value = serde_json::from_str(&row[props]).unwrap();
        assert_eq!(note["note"], json!(text), "a JSON cell keeps the text");
        let cell = &row[path];
        assert!(
            !cell.starts_with(['=', '+', '-', '@', '\t']),
            "{cell:?} would run as a formula"
        );
        let expected = text.replace(['\t', '\n'], " ");
        let plain = cell.strip_prefix('\'').unwrap_or(cell);
        assert_eq!(plain, expected, "only a leading ' is added");
    }
}

#[test]
fn the_engine_records_logins_logouts_and_expiries_as_consent_gated_events() {
    let (trail, clock) = with(TrackingConfig::default(), PrivacyConfig::default());
    let s = trail.sessions();
    let anon = s.create(CreateOptions::default()).now().unwrap();
    let ann = s.login(&anon.token, "ann").now().unwrap();
    assert!(s.destroy(&ann.token).now().unwrap());
    let again = s
        .create(CreateOptions {
            user_id: Some("ann"),
            ..CreateOptions::default()
        })
        .now()
        .unwrap();
    clock.advance(31 * MIN);
    assert!(s
        .validate(&again.token, &ClientContext::default())
        .now()
        .unwrap()
        .is_none());
    let names: Vec<(String, String, Option<String>)> = trail
        .tracking()
        .history(&user("ann"), None, None)
        .unwrap()
        .events
        .into_iter()
        .rev()
        .map(|e| (e.event_type, e.name, e.session_id))
        .collect();
    assert_eq!(
        names,
        [
            (
                "session".into(),
                "login".into(),
                Some(ann.session.session_id.clone())
            ),
            (
                "session".into(),
                "logout".into(),
                Some(ann.session.session_id.clone())
            ),
            (
                "session".into(),
                "session_expired".into(),
                Some(again.session.session_id.clone())
            ),
        ]
    );
    let bytes = trail.export().unwrap();
    for token in [&anon.token, &ann.token, &again.token] {
        assert!(!contains(&bytes, token.as_bytes()), "a token in an event");
    }

    // Consent-gated: without analytics consent they are not stored.
    let gated = PrivacyConfig {
        require_consent: vec!["analytics".into()],
        ..PrivacyConfig::default()
    };
    let (trail, _) = with(TrackingConfig::default(), gated);
    let s = trail.sessions();
    let a = s.create(CreateOptions::default()).now().unwrap();
    s.login(&a.token, "bob").now().unwrap();
    assert_eq!(trail.tracking().count(&user("bob")).unwrap(), 0);
    assert_eq!(trail.privacy().dropped_without_consent().unwrap(), 1);

    // And they can be turned off.
    let quiet = TrackingConfig {
        session_events: false,
        ..TrackingConfig::default()
    };
    let (trail, _) = with(quiet, PrivacyConfig::default());
    let s = trail.sessions();
    let a = s.create(CreateOptions::default()).now().unwrap();
    s.login(&a.token, "cy").now().unwrap();
    assert_eq!(trail.tracking().count(&user("cy")).unwrap(), 0);
}
