//! Helpers for the analytics tests: an engine at a fixed date and a
//! compact way to write events.

use std::sync::Arc;

use usertrail::analytics::Query;
use usertrail::clock::ManualClock;
use usertrail::tracking::{EventInput, EventType, TrackingConfig};
use usertrail::{OpenOptions, Storage, UserTrail};

/// One second, in ms.
pub const SEC: i64 = 1000;
/// One hour, in ms.
pub const HOUR: i64 = 3_600_000;
/// One day, in ms.
pub const DAY: i64 = 86_400_000;
/// Midnight UTC, Tuesday 2023-11-14.
pub const D0: i64 = 1_699_920_000_000;

/// A memory engine with `config`, its clock 30 days after [`D0`].
pub fn open_with(config: TrackingConfig) -> (UserTrail, Arc<ManualClock>) {
    super::open_at(
        D0 + 30 * DAY,
        OpenOptions::new(Storage::Memory).tracking(config),
    )
}

/// [`open_with`] the default tracking settings.
pub fn open() -> (UserTrail, Arc<ManualClock>) {
    open_with(TrackingConfig::default())
}

/// An event: `kind` "page" takes `what` as the path, anything else as the name.
pub fn ev(ts: i64, user: &str, session: &str, kind: &str, what: &str) -> EventInput {
    let page = kind == "page";
    EventInput {
        event_type: Some(if page {
            EventType::Page
        } else {
            EventType::Action
        }),
        name: if page {
            "page_view".into()
        } else {
            what.into()
        },
        path: page.then(|| what.into()),
        user_id: (!user.is_empty()).then(|| user.into()),
        session_id: (!session.is_empty()).then(|| session.into()),
        ts: Some(ts),
        ..EventInput::default()
    }
}

/// Stores `events` in one all-or-nothing batch.
pub fn track(trail: &UserTrail, events: Vec<EventInput>) {
    trail.tracking().track_batch(events, false).unwrap();
}

/// A query over `[since, until)`.
pub fn range(since: i64, until: i64) -> Query {
    Query {
        since: Some(since),
        until: Some(until),
        ..Query::default()
    }
}

/// The code of a result's error, or "OK".
pub fn err_code<T>(r: usertrail::Result<T>) -> &'static str {
    super::code(r)
}
