//! Deterministic sampling: the same subject always gets the same decision
//! for the same rule, so a user's journey is kept or dropped whole.

use super::config::SamplingRule;
use super::event::EventInput;
use crate::kernel::ids::fnv1a;

/// The sample rate an event is kept at (1.0 when no rule matches), or
/// `None` if it is sampled out. `subject` is the user or anonymous id (or,
/// for events with neither, the event id).
pub fn decide(rules: &[SamplingRule], event: &EventInput, subject: &str) -> Option<f64> {
    let Some((i, rule)) = rules.iter().enumerate().find(|(_, r)| {
        r.name.as_deref().is_none_or(|n| n == event.name)
            && r.event_type.is_none_or(|t| Some(t) == event.event_type)
    }) else {
        return Some(1.0);
    };
    if rule.rate >= 1.0 {
        return Some(1.0);
    }
    // The rule's index and content salt the hash, so rules sample independently.
    let key = format!(
        "{i}:{}:{:?}",
        rule.name.as_deref().unwrap_or(""),
        rule.event_type
    );
    let h = fnv1a(&[key.as_bytes(), subject.as_bytes()]);
    let x = (h >> 11) as f64 / (1u64 << 53) as f64;
    (x < rule.rate).then_some(rule.rate)
}

#[cfg(test)]
mod tests {
    #[cfg(all(target_family = "wasm", target_os = "unknown"))]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use crate::tracking::event::EventType;

    fn event(name: &str) -> EventInput {
        EventInput {
            name: name.into(),
            event_type: Some(EventType::Page),
            ..EventInput::default()
        }
    }

    #[test]
    fn decisions_are_deterministic_per_subject_and_near_the_rate() {
        let rules = [SamplingRule {
            name: Some("page_view".into()),
            event_type: None,
            rate: 0.25,
        }];
        let kept = (0..10_000)
            .filter(|u| {
                let subject = format!("user-{u}");
                let first = decide(&rules, &event("page_view"), &subject);
                assert_eq!(first, decide(&rules, &event("page_view"), &subject));
                first.is_some()
            })
            .count();
        assert!(
            (2_250..2_750).contains(&kept),
            "kept {kept} of 10000 at 25%"
        );
        assert_eq!(
            decide(&rules, &event("click"), "anyone"),
            Some(1.0),
            "no rule matches"
        );
        assert_eq!(
            decide(&rules, &event("page_view"), "user-1").map(|r| r == 0.25),
            decide(&rules, &event("page_view"), "user-1").map(|_| true)
        );
    }
}
