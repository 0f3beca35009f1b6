//! Analytics' errors.

use crate::error::{Error, ErrorCode};
use crate::store::StoreError;

/// An analytics query or experiment call failed. Nothing was written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AnalyticsError {
    /// A filter or breakdown names a dimension that was never defined.
    /// Code `UNKNOWN_DIMENSION`.
    #[error("dimension {name:?} is not defined; call defineDimension first")]
    UnknownDimension {
        /// The dimension's name.
        name: String,
    },
    /// No experiment has this key. Code `EXPERIMENT_NOT_FOUND`.
    #[error("experiment {key:?} is not defined")]
    ExperimentNotFound {
        /// The experiment's key.
        key: String,
    },
    /// The storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ErrorCode for AnalyticsError {
    fn code(&self) -> &'static str {
        match self {
            Self::UnknownDimension { .. } => "UNKNOWN_DIMENSION",
            Self::ExperimentNotFound { .. } => "EXPERIMENT_NOT_FOUND",
            Self::Store(e) => e.code(),
        }
    }
}

impl From<AnalyticsError> for Error {
    fn from(e: AnalyticsError) -> Self {
        Error::Analytics(e)
    }
}
