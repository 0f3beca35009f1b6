//! Privacy's errors.

use super::ErrorCode;

/// A privacy call was refused. Nothing was written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PrivacyError {
    /// A purpose that is neither built in nor declared in
    /// `privacy.purposes`. Code `UNKNOWN_PURPOSE`.
    #[error("purpose {purpose:?} is not known; declare custom purposes in privacy.purposes")]
    UnknownPurpose {
        /// The purpose as given.
        purpose: String,
    },
    /// The subject has not consented to a purpose this write needs, and the
    /// engine requires that consent. Code `CONSENT_REQUIRED`.
    #[error(
        "the subject has no {purpose:?} consent, which this engine requires to store the \
         preference {key:?}"
    )]
    ConsentRequired {
        /// The purpose.
        purpose: String,
        /// The preference that serves it.
        key: String,
    },
    /// A hash chain (consent ledger, audit log) is keyed with a chain key
    /// this engine was not given. Code `KEY_MISSING`.
    #[error(
        "the {table} hash chain is keyed; open the engine with privacy.chainKey to append to it"
    )]
    ChainKeyMissing {
        /// The chain's table.
        table: String,
    },
    /// An export format this build does not write. Code `UNSUPPORTED_FORMAT`.
    #[error("export format {format:?} is not supported; use json, ndjson, csv or sqlite")]
    UnsupportedFormat {
        /// The format as given.
        format: String,
    },
    /// No rights-log entry has that id (a receipt asked for). Code
    /// `NOT_FOUND`.
    #[error("the rights log has no entry {id:?}")]
    UnknownReceipt {
        /// The id as given.
        id: String,
    },
}

impl ErrorCode for PrivacyError {
    fn code(&self) -> &'static str {
        match self {
            Self::UnknownPurpose { .. } => "UNKNOWN_PURPOSE",
            Self::ConsentRequired { .. } => "CONSENT_REQUIRED",
            Self::ChainKeyMissing { .. } => "KEY_MISSING",
            Self::UnsupportedFormat { .. } => "UNSUPPORTED_FORMAT",
            Self::UnknownReceipt { .. } => "NOT_FOUND",
        }
    }
}
