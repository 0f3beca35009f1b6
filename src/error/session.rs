//! The sessions' errors.

use super::ErrorCode;

/// A session operation failed. Nothing was written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The token is malformed, was never issued, or its session was destroyed.
    /// Code `SESSION_NOT_FOUND`.
    #[error("no such session")]
    NotFound,
    /// The session's idle or absolute deadline has passed; it has been deleted.
    /// Code `SESSION_EXPIRED`.
    #[error("the session has expired")]
    Expired,
    /// `expectedVersion` did not match the state's version. Code `CONFLICT`.
    #[error("the session state changed: expected version {expected}, found {found}")]
    Conflict {
        /// The version the caller expected.
        expected: i64,
        /// The version the state has.
        found: i64,
    },
    /// The session state would exceed its size limit. Code `PAYLOAD_TOO_LARGE`.
    #[error("the session state would be {size} bytes, over the limit of {limit} (`sessions.maxStateBytes`)")]
    PayloadTooLarge {
        /// The size the state would have had.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The state is sealed with a key this engine was not given.
    /// Code `KEY_MISSING`.
    #[error("the session state is sealed with key {key_id:?}, which this engine was not given")]
    KeyMissing {
        /// The id of the key the state is sealed with (empty for no key at all).
        key_id: String,
    },
    /// The sealed state did not decrypt: a wrong key or tampered bytes.
    /// Code `DECRYPTION_FAILED`.
    #[error("the session state did not decrypt with key {key_id:?} (wrong key or tampered data)")]
    DecryptionFailed {
        /// The key tried.
        key_id: String,
    },
}

impl ErrorCode for SessionError {
    fn code(&self) -> &'static str {
        match self {
            Self::NotFound => "SESSION_NOT_FOUND",
            Self::Expired => "SESSION_EXPIRED",
            Self::Conflict { .. } => "CONFLICT",
            Self::PayloadTooLarge { .. } => "PAYLOAD_TOO_LARGE",
            Self::KeyMissing { .. } => "KEY_MISSING",
            Self::DecryptionFailed { .. } => "DECRYPTION_FAILED",
        }
    }
}
