//! Experiments: deterministic assignment, exposures, results. Native and
//! wasm.

#[cfg(all(target_family = "wasm", target_os = "unknown"))]
use wasm_bindgen_test::wasm_bindgen_test as test;

use crate::common;

use std::collections::HashMap;

use common::dataset::*;
use usertrail::clock::Clock;
use usertrail::experiments::*;
use usertrail::{OpenOptions, Storage, UserTrail};
#[test]
fn experiments_assign_once_stably_and_test_results() {
    let (trail, clock) = open();
    let ex = trail.experiments();
    let exp = Experiment {
        key: "buy_button".into(),
        variants: vec![
            Variant {
                name: "blue".into(),
                weight: 1.0,
            },
            Variant {
                name: "green".into(),
                weight: 1.0,
            },
        ],
    };
    ex.define(&exp).unwrap();
    let v = ex.assign("buy_button", "ann").unwrap();
    assert_eq!(ex.assign("buy_button", "ann").unwrap(), v);
    let exposures: i64 = trail
        .store()
        .conn()
        .query_row(
            "SELECT count(*) FROM events WHERE name = ?1",
            [EXPOSURE_EVENT],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(exposures, 1);
    // Stable across a restart, and the same as the pure function.
    let bytes = trail.export().unwrap();
    let ex = trail.experiments();
    let again =
        UserTrail::open(OpenOptions::new(Storage::Bytes(bytes)).clock(clock.clone())).unwrap();
    assert_eq!(again.experiments().assign("buy_button", "ann").unwrap(), v);
    assert_eq!(
        exp.variants[variant_for("buy_button", "ann", &exp.variants)].name,
        v
    );
    assert_eq!(err_code(ex.assign("nope", "ann")), "EXPERIMENT_NOT_FOUND");

    // 40 users: count per variant, let every second of them buy.
    let mut n = HashMap::<String, (u64, u64)>::new();
    for i in 0..40 {
        let user = format!("user-{i}");
        let variant = ex.assign("buy_button", &user).unwrap();
        let e = n.entry(variant).or_default();
        e.0 += 1;
        if i % 2 == 0 {
            track(
                &trail,
                vec![ev(clock.now_ms(), &user, "", "action", "purchase")],
            );
            e.1 += 1;
        }
    }
    let ann = n.entry(v.clone()).or_default();
    ann.0 += 1;
    let r = ex
        .results(
            "buy_button",
            &ResultsOptions {
                goal: "purchase".into(),
                ..ResultsOptions::default()
            },
        )
        .unwrap();
    assert_eq!(r.variants.len(), 2);
    for vr in &r.variants {
        let (exp_n, exp_x) = n.get(&vr.name).copied().unwrap_or_default();
        assert_eq!(
            (vr.exposures, vr.conversions),
            (exp_n, exp_x),
            "{}",
            vr.name
        );
    }
    let (c, t) = (&r.variants[0], &r.variants[1]);
    assert!(c.is_control && c.vs_control.is_none());
    let cmp = t.vs_control.unwrap();
    let (p1, p0) = (t.rate, c.rate);
    let pooled = (t.conversions + c.conversions) as f64 / (t.exposures + c.exposures) as f64;
    let se =
        (pooled * (1.0 - pooled) * (1.0 / t.exposures as f64 + 1.0 / c.exposures as f64)).sqrt();
    assert!((cmp.z - (p1 - p0) / se).abs() < 1e-9);
    assert!(cmp.p_value > 0.0 && cmp.p_value <= 1.0);
    assert!(cmp.ci95[0] < cmp.diff && cmp.diff < cmp.ci95[1]);

    for bad in [
        Experiment {
            key: "".into(),
            variants: exp.variants.clone(),
        },
        Experiment {
            key: "k".into(),
            variants: exp.variants[..1].to_vec(),
        },
        Experiment {
            key: "k".into(),
            variants: vec![exp.variants[0].clone(), exp.variants[0].clone()],
        },
        Experiment {
            key: "k".into(),
            variants: vec![
                exp.variants[0].clone(),
                Variant {
                    name: "x".into(),
                    weight: -1.0,
                },
            ],
        },
    ] {
        assert_eq!(err_code(ex.define(&bad)), "INVALID_INPUT");
    }
    assert_eq!(err_code(ex.get("k")), "EXPERIMENT_NOT_FOUND");
}

#[test]
fn experiment_assignment_follows_the_weights_within_two_points() {
    let variants = vec![
        Variant {
            name: "a".into(),
            weight: 6.0,
        },
        Variant {
            name: "b".into(),
            weight: 3.0,
        },
        Variant {
            name: "c".into(),
            weight: 1.0,
        },
    ];
    let mut counts = [0u32; 3];
    for i in 0..100_000 {
        counts[variant_for("exp", &format!("user-{i}"), &variants)] += 1;
    }
    for (count, want) in counts.iter().zip([0.6, 0.3, 0.1]) {
        let share = f64::from(*count) / 100_000.0;
        assert!((share - want).abs() < 0.02, "{counts:?}");
    }
}

#[test]
fn identify_moves_experiment_assignments() {
    let (trail, _) = open();
    let ex = trail.experiments();
    ex.define(&Experiment {
        key: "e".into(),
        variants: vec![
            Variant {
                name: "a".into(),
                weight: 1.0,
            },
            Variant {
                name: "b".into(),
                weight: 1.0,
            },
        ],
    })
    .unwrap();
    let v = ex.assign("e", "anon-1").unwrap();
    trail.tracking().identify("anon-1", "ann").unwrap();
    assert_eq!(ex.assign("e", "ann").unwrap(), v);
}
