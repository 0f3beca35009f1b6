//! The preferences' errors.

use super::ErrorCode;

/// A preferences error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PrefsError {
    /// No preference is defined with this key. Code `UNKNOWN_PREFERENCE`.
    #[error("no preference {key:?} is defined")]
    Unknown {
        /// The key asked for.
        key: String,
    },
}

impl ErrorCode for PrefsError {
    fn code(&self) -> &'static str {
        match self {
            Self::Unknown { .. } => "UNKNOWN_PREFERENCE",
        }
    }
}
