//! Errors, each with a stable string code.
//!
//! Every concern has its own `thiserror` enum (for example
//! [`StoreError`](crate::store::StoreError)); [`Error`] gathers them for the
//! engine's API. Match on [`ErrorCode::code`], never on the message: codes are
//! part of the public API (they reach JavaScript as `err.code`) and never
//! change meaning, while messages may be reworded.

use crate::analytics::AnalyticsError;
use crate::prefs::PrefsError;
use crate::privacy::PrivacyError;
use crate::session::SessionError;
use crate::store::StoreError;
use crate::tracking::TrackingError;

/// A stable, machine-readable code for an error, such as `"SCHEMA_TOO_NEW"`.
pub trait ErrorCode {
    /// The code: upper snake case, stable across releases.
    fn code(&self) -> &'static str;
}

/// Any error the engine returns.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Opening, migrating, importing or exporting the database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A session operation failed.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// A tracking operation failed.
    #[error(transparent)]
    Tracking(TrackingError),
    /// A preferences operation failed.
    #[error(transparent)]
    Prefs(PrefsError),
    /// An analytics query or experiment call failed.
    #[error(transparent)]
    Analytics(AnalyticsError),
    /// A consent, export, erasure or retention call failed.
    #[error(transparent)]
    Privacy(PrivacyError),
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

impl Error {
    /// An [`Error::InvalidInput`] naming `field`.
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::InvalidInput {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl ErrorCode for Error {
    fn code(&self) -> &'static str {
        match self {
            Self::Store(e) => e.code(),
            Self::Session(e) => e.code(),
            Self::Tracking(e) => e.code(),
            Self::Prefs(e) => e.code(),
            Self::Analytics(e) => e.code(),
            Self::Privacy(e) => e.code(),
            Self::InvalidInput { .. } => "INVALID_INPUT",
            Self::Closed => "CLOSED",
        }
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Self::Store(e.into())
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
    }
}
