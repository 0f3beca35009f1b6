//! Errors, each with a stable string code: the crate's one error leaf.
//!
//! Every concern's error enum lives here ([`StoreError`], [`SessionError`],
//! [`TrackingError`], [`PrefsError`], [`ExperimentError`],
//! [`PrivacyError`]), and [`Error`] gathers them for the engine's API. This
//! module imports only the kernel, so every concern can import it. Match on
//! [`ErrorCode::code`], never on the message: codes are part of the public
//! API (they reach JavaScript as `err.code`) and never change meaning, while
//! messages may be reworded. `docs/ERRORS.md` lists every code; a test keeps
//! that list equal to [`CODES`] and to what `code()` can return.

mod experiment;
mod prefs;
mod privacy;
mod session;
mod store;
mod tracking;

pub use experiment::ExperimentError;
pub use prefs::PrefsError;
pub use privacy::PrivacyError;
pub use session::SessionError;
pub use store::{forget_medium, note_medium, note_open, StoreError};
pub use tracking::TrackingError;

use crate::kernel::Invalid;

/// A stable, machine-readable code for an error, such as `"SCHEMA_TOO_NEW"`.
pub trait ErrorCode {
    /// The code: upper snake case, stable across releases.
    fn code(&self) -> &'static str;
}

/// Every code [`ErrorCode::code`] can return, in the order `docs/ERRORS.md`
/// lists them.
pub const CODES: &[&str] = &[
    "INVALID_INPUT",
    "CLOSED",
    "NOT_A_DATABASE",
    "CORRUPT",
    "SCHEMA_TOO_NEW",
    "FOREIGN_DATABASE",
    "BUSY",
    "STORAGE_FULL",
    "CANNOT_OPEN",
    "UNSUPPORTED",
    "MIGRATION_FAILED",
    "STORAGE_ERROR",
    "STORE_UNAVAILABLE",
    "FENCED",
    "REPLICA_BEHIND",
    "SESSION_NOT_FOUND",
    "SESSION_EXPIRED",
    "CONFLICT",
    "PAYLOAD_TOO_LARGE",
    "KEY_MISSING",
    "DECRYPTION_FAILED",
    "SCHEMA_VIOLATION",
    "UNKNOWN_DIMENSION",
    "UNKNOWN_PREFERENCE",
    "EXPERIMENT_NOT_FOUND",
    "UNKNOWN_PURPOSE",
    "CONSENT_REQUIRED",
    "UNSUPPORTED_FORMAT",
    "NOT_FOUND",
];

/// Any error the engine returns.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Opening, migrating, importing, exporting or querying the database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A session operation failed.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// A tracking operation failed.
    #[error(transparent)]
    Tracking(#[from] TrackingError),
    /// A preferences operation failed.
    #[error(transparent)]
    Prefs(#[from] PrefsError),
    /// An experiment call failed.
    #[error(transparent)]
    Experiment(#[from] ExperimentError),
    /// A consent, export, erasure or retention call failed.
    #[error(transparent)]
    Privacy(#[from] PrivacyError),
    /// An argument was rejected before anything was written.
    /// Code `INVALID_INPUT`.
    #[error("invalid input: {field}: {reason}")]
    InvalidInput {
        /// The argument or option at fault, as the caller spelled it.
        field: String,
        /// What was wrong with it.
        reason: String,
    },
    /// The engine was closed. Code `CLOSED`.
    #[error("the engine is closed")]
    Closed,
}

/// The field of a value at `path` inside the value named `field`, as serde
/// writes paths: `field` itself for the whole value (`""` or `"."`), an
/// index after it (`steps[1]`), a key after a dot (`layout.panels`).
pub fn field_at(field: &str, path: &str) -> String {
    match path {
        "" | "." => field.to_owned(),
        p if p.starts_with('[') => format!("{field}{p}"),
        p => format!("{field}.{p}"),
    }
}

/// serde's message about a value, in the words of the JS caller: the Rust
/// types it names (`i64`, `u32`, `struct DimensionFilter`, `untagged enum
/// Names`) said as JSON ones, and without "at line 1 column 17" (the input
/// was an object, not text the caller wrote).
pub fn serde_reason(message: &str) -> String {
    let mut m = match message.rfind(" at line ") {
        Some(i) => &message[..i],
        None => message,
    }
    .to_owned();
    if let Some(name) = m.strip_prefix("data did not match any variant of untagged enum ") {
        return match name.trim() {
            "Scalar" => "must be a string, a number or a boolean",
            "Names" => "must be a name or an array of names",
            _ => "is none of the forms this option takes",
        }
        .into();
    }
    if let Some(range) = unsigned_range(&m) {
        return range;
    }
    // A lone UTF-16 surrogate, which JSON.stringify writes as an escape.
    if m.contains("surrogate") || m.contains("hex escape") {
        return "must be well-formed Unicode text (it holds a lone UTF-16 surrogate)".into();
    }
    for (rust, js) in [
        ("expected i64", "expected an integer"),
        ("expected i32", "expected an integer"),
        ("expected u64", "expected an integer of 0 or more"),
        ("expected u32", "expected an integer of 0 or more"),
        ("expected u16", "expected an integer of 0 or more"),
        ("expected u8", "expected an integer of 0 or more"),
        ("expected usize", "expected an integer of 0 or more"),
        ("expected f64", "expected a number"),
        ("expected f32", "expected a number"),
        ("expected a borrowed string", "expected a string"),
    ] {
        if let Some(at) = m.find(rust) {
            if !m[at + rust.len()..].starts_with(|c: char| c.is_ascii_alphanumeric()) {
                m.replace_range(at..at + rust.len(), js);
            }
        }
    }
    if let Some(at) = m.find("expected struct ") {
        m.replace_range(at.., "expected an object");
    }
    // serde's names for JSON's kinds of value, as JS says them.
    for (serde, js) in [
        ("invalid type: sequence", "invalid type: an array"),
        ("invalid type: map", "invalid type: an object"),
        ("invalid type: unit value", "invalid type: null"),
        ("expected a map", "expected an object"),
        ("expected a sequence", "expected an array"),
    ] {
        if let Some(at) = m.find(serde) {
            m.replace_range(at..at + serde.len(), js);
        }
    }
    m
}

/// An integer out of an unsigned type's range ("invalid value: integer
/// `-5`, expected u32"), said as the range: "expected an integer of 0 or
/// more" would be wrong for one too large.
fn unsigned_range(m: &str) -> Option<String> {
    let rest = m.strip_prefix("invalid value: integer `")?;
    let (n, rest) = rest.split_once('`')?;
    let max = match rest.strip_prefix(", expected ")? {
        "u8" => u64::from(u8::MAX),
        "u16" => u64::from(u16::MAX),
        "u32" => u64::from(u32::MAX),
        "u64" => u64::MAX,
        // usize is 32 bits on wasm and 64 natively: no number that would
        // differ between them.
        "usize" if !n.starts_with('-') => return Some("is too large".into()),
        "usize" => 0,
        _ => return None,
    };
    Some(if n.starts_with('-') {
        "must be 0 or more".into()
    } else {
        format!("must be at most {max}")
    })
}

/// The key serde's message names after `what` (`"unknown field"`,
/// `"missing field"`): `x` in "unknown field `x`, expected ...".
pub fn serde_key<'m>(message: &'m str, what: &str) -> Option<&'m str> {
    let rest = message.strip_prefix(what)?.strip_prefix(" `")?;
    rest.split_once('`').map(|(key, _)| key)
}

impl Error {
    /// An [`Error::InvalidInput`] naming `field`.
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::InvalidInput {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// The argument or option at fault: for `INVALID_INPUT`, and for
    /// `SCHEMA_VIOLATION` and `UNKNOWN_DIMENSION` the event's field or the
    /// query's option that names the dimension.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::InvalidInput { field, .. } => Some(field),
            Self::Tracking(e) => e.field(),
            _ => None,
        }
    }

    /// The field [`Error::field`] names, to be rewritten in place.
    fn field_mut(&mut self) -> Option<&mut String> {
        match self {
            Self::InvalidInput { field, .. } => Some(field),
            Self::Tracking(e) => e.field_mut(),
            _ => None,
        }
    }

    /// `self`, with its field (see [`Error::field`]) prefixed by `prefix`
    /// (for example the place of an event in a batch).
    pub fn within(mut self, prefix: &str) -> Self {
        if let Some(field) = self.field_mut() {
            *field = format!("{prefix}.{field}");
        }
        self
    }

    /// `self`, for an element of an array argument at `place` (such as
    /// `events[3]`): a field naming the whole element by `item` (`event`,
    /// as a single `track` names its argument) becomes `place`, a path
    /// inside it (`event[0]`, `event.ts`) continues `place`, and any other
    /// field (`name`) is prefixed as by [`Error::within`].
    pub fn in_element(mut self, place: &str, item: &str) -> Self {
        if let Some(field) = self.field_mut() {
            *field = match field.strip_prefix(item) {
                Some(rest) if rest.is_empty() || rest.starts_with(['.', '[']) => {
                    format!("{place}{rest}")
                }
                _ => format!("{place}.{field}"),
            };
        }
        self
    }
}

impl ErrorCode for Error {
    fn code(&self) -> &'static str {
        match self {
            Self::Store(e) => e.code(),
            Self::Session(e) => e.code(),
            Self::Tracking(e) => e.code(),
            Self::Prefs(e) => e.code(),
            Self::Experiment(e) => e.code(),
            Self::Privacy(e) => e.code(),
            Self::InvalidInput { .. } => "INVALID_INPUT",
            Self::Closed => "CLOSED",
        }
    }
}

/// The one conversion from SQLite's errors: classified by their result code
/// ([`StoreError::classify`]).
impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Self::Store(StoreError::classify(e))
    }
}

impl From<Invalid> for Error {
    fn from(e: Invalid) -> Self {
        Self::InvalidInput {
            field: e.field,
            reason: e.reason,
        }
    }
}

/// The engine's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    #[cfg(all(target_family = "wasm", target_os = "unknown"))]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn serde_names_of_kinds_are_said_as_js_says_them() {
        for (serde, js) in [
            (
                "invalid type: sequence, expected a map at line 1 column 1",
                "invalid type: an array, expected an object",
            ),
            (
                "invalid type: string \"s\", expected a map",
                "invalid type: string \"s\", expected an object",
            ),
            (
                "invalid type: map, expected a sequence",
                "invalid type: an object, expected an array",
            ),
            (
                "invalid type: unit value, expected i64",
                "invalid type: null, expected an integer",
            ),
            (
                "invalid value: integer `1000000000000`, expected u32",
                "must be at most 4294967295",
            ),
            (
                "invalid value: integer `-5`, expected u32",
                "must be 0 or more",
            ),
            (
                "invalid value: integer `-5`, expected usize",
                "must be 0 or more",
            ),
            (
                "invalid value: integer `300`, expected u8",
                "must be at most 255",
            ),
            (
                "invalid value: integer `99999999999999999999`, expected usize",
                "is too large",
            ),
            (
                "lone leading surrogate in hex escape at line 1 column 9",
                "must be well-formed Unicode text (it holds a lone UTF-16 surrogate)",
            ),
            (
                "unexpected end of hex escape at line 1 column 20",
                "must be well-formed Unicode text (it holds a lone UTF-16 surrogate)",
            ),
        ] {
            assert_eq!(serde_reason(serde), js);
        }
    }

    #[test]
    fn codes_are_stable_strings() {
        assert_eq!(
            Error::invalid("storage", "unknown kind").code(),
            "INVALID_INPUT"
        );
        assert_eq!(Error::Closed.code(), "CLOSED");
        let store: Error = StoreError::NotADatabase.into();
        assert_eq!(store.code(), "NOT_A_DATABASE");
        assert!(Error::invalid("storage", "unknown kind")
            .to_string()
            .contains("storage"));
        let kernel: Error = Invalid::new("ip", "is not an IP address").into();
        assert_eq!(
            (kernel.code(), kernel.field()),
            ("INVALID_INPUT", Some("ip"))
        );
        assert_eq!(
            Error::invalid("name", "bad").within("events[3]").field(),
            Some("events[3].name")
        );
        for (field, named) in [
            ("event", "events[3]"),
            ("event[0]", "events[3][0]"),
            ("event.ts", "events[3].ts"),
            ("name", "events[3].name"),
            ("events", "events[3].events"),
            ("eventId", "events[3].eventId"),
        ] {
            assert_eq!(
                Error::invalid(field, "bad")
                    .in_element("events[3]", "event")
                    .field(),
                Some(named)
            );
        }
    }
}
