//! What operators read: `info()` (size, rows per table, the events' span,
//! retention and its schedule), consent rates per purpose and policy
//! version, and `vacuum_into`'s compacted copy. Native and wasm (the copy
//! to a file, natively).

#[cfg(all(target_family = "wasm", target_os = "unknown"))]
use wasm_bindgen_test::wasm_bindgen_test as test;

use crate::common;

use common::dataset::*;
use common::Now;
use usertrail::privacy::{GrantOptions, PrivacyConfig, WithdrawOptions};
use usertrail::{OpenOptions, Storage, UserTrail};

#[test]
fn info_counts_rows_and_spans_events_and_tells_when_retention_runs() {
    let (trail, _clock) = open();
    let empty = trail.info().unwrap();
    assert_eq!(empty.store.tables["events"], 0);
    assert_eq!(empty.store.events_from, None);
    assert_eq!(empty.store.page_size, 4096);
    assert_eq!(
        empty.store.bytes,
        empty.store.page_size * empty.store.page_count
    );
    assert_eq!(empty.schema_version, trail.schema_version());
    // Retention ran when the engine opened; the next run is a day later.
    let t0 = empty.schedule.last_run.expect("ran at open");
    assert_eq!(empty.schedule.next_run, t0 + DAY);
    assert_eq!(empty.schedule.interval_ms, DAY);
    assert_eq!(empty.retention.events.as_deref(), Some("13mo"));

    let start = D0 + 30 * DAY;
    track(
        &trail,
        vec![
            ev(start - 3 * DAY, "ann", "s1", "page", "/"),
            ev(start - DAY, "bob", "s2", "page", "/a"),
            ev(start - 2 * DAY, "ann", "s1", "action", "buy"),
        ],
    );
    let info = trail.info().unwrap();
    assert_eq!(info.store.tables["events"], 3);
    assert_eq!(info.store.events_from, Some(start - 3 * DAY));
    assert_eq!(info.store.events_to, Some(start - DAY));
    assert!(info.store.tables.contains_key("audit_log"));
    assert_eq!(info.blocks_to_pack, 0, "3 events fill no block");
    assert!(!info.shared);
}

#[test]
fn consent_rates_count_current_decisions_per_purpose_and_version() {
    let (trail, _clock) = open();
    let p = trail.privacy();
    assert!(p.consent_rates().unwrap().is_empty());
    let grant = |who: &str, purposes: &[&str], version: Option<&str>| {
        p.grant(
            who,
            &GrantOptions {
                purposes: purposes.iter().map(|s| s.to_string()).collect(),
                source: "test".into(),
                policy_version: version.map(str::to_owned),
                ..GrantOptions::default()
            },
        )
        .now()
        .unwrap();
    };
    grant("ann", &["analytics", "marketing"], None);
    grant("bob", &["analytics"], None);
    grant("cy", &["analytics", "marketing"], None);
    p.withdraw(
        "cy",
        &WithdrawOptions {
            purposes: vec!["marketing".into()],
            source: "settings".into(),
            ..WithdrawOptions::default()
        },
    )
    .now()
    .unwrap();
    let rates = p.consent_rates().unwrap();
    let find = |purpose: &str| rates.iter().find(|r| r.purpose == purpose).unwrap();
    assert_eq!(
        (find("analytics").granted, find("analytics").refused),
        (3, 0)
    );
    assert_eq!(find("analytics").rate, 1.0);
    // ann granted marketing; cy withdrew it: one of two.
    assert_eq!(
        (find("marketing").granted, find("marketing").refused),
        (1, 1)
    );
    assert_eq!(find("marketing").rate, 0.5);
    assert!(rates.iter().all(|r| r.policy_version == "1"));
}

#[test]
fn consent_rates_split_by_policy_version() {
    let (trail, _clock) = open_at_policy("2");
    let p = trail.privacy();
    for (who, version) in [("ann", "1"), ("bob", "2"), ("cy", "2")] {
        p.grant(
            who,
            &GrantOptions {
                purposes: vec!["analytics".into()],
                source: "test".into(),
                policy_version: Some(version.into()),
                ..GrantOptions::default()
            },
        )
        .now()
        .unwrap();
    }
    let rates = p.consent_rates().unwrap();
    let versions: Vec<(&str, u64)> = rates
        .iter()
        .filter(|r| r.purpose == "analytics")
        .map(|r| (r.policy_version.as_str(), r.granted))
        .collect();
    assert_eq!(versions, vec![("1", 1), ("2", 2)]);
}

fn open_at_policy(version: &str) -> (UserTrail, std::sync::Arc<usertrail::clock::ManualClock>) {
    common::open_at(
        1_700_000_000_000,
        OpenOptions::new(Storage::Memory).privacy(PrivacyConfig {
            policy_version: version.into(),
            ..PrivacyConfig::default()
        }),
    )
}

#[cfg(not(all(target_family = "wasm", target_os = "unknown")))]
#[test]
fn vacuum_into_writes_a_compacted_copy_and_leaves_the_database_as_it_is() {
    let dir = std::env::temp_dir().join(format!("ut-vacuum-into-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (trail, _clock) = common::open_at(
        D0 + 30 * DAY,
        OpenOptions::new(Storage::File(dir.join("app.db"))),
    );
    let start = D0 + 30 * DAY;
    let events: Vec<_> = (0..2000)
        .map(|i| {
            ev(
                start - i,
                &format!("u{}", i % 50),
                "s",
                "page",
                &format!("/{i}"),
            )
        })
        .collect();
    track(&trail, events);
    assert_eq!(trail.info().unwrap().store.tables["events"], 2000);
    let before = trail.export().unwrap();
    let copy = dir.join("copy.db");
    trail.privacy().vacuum_into(copy.to_str().unwrap()).unwrap();
    assert_eq!(trail.export().unwrap(), before, "the database is unchanged");
    // On the test's clock: the system's would find the events past retention.
    let (reopened, _) = common::open_at(
        D0 + 30 * DAY,
        OpenOptions::new(Storage::Bytes(std::fs::read(&copy).unwrap())),
    );
    assert_eq!(reopened.info().unwrap().store.tables["events"], 2000);
    // A path that exists with content, or that is not a path: refused.
    assert_eq!(
        err_code(trail.privacy().vacuum_into(copy.to_str().unwrap())),
        "STORAGE_ERROR"
    );
    assert_eq!(err_code(trail.privacy().vacuum_into("")), "INVALID_INPUT");
    assert_eq!(
        err_code(trail.privacy().vacuum_into("a\0b")),
        "INVALID_INPUT"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
