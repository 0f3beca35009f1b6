//! Tracking's errors.

use super::ErrorCode;

/// A tracking operation failed. Nothing was written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrackingError {
    /// The event does not match the schema declared for its name, or
    /// sets a dimension to a value of another type than its own.
    /// Code `SCHEMA_VIOLATION`.
    #[error("event {event:?}: {field} {reason}")]
    SchemaViolation {
        /// The event's name.
        event: String,
        /// The property at fault.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An event sets a dimension that was never defined (strict mode), or
    /// an analytics filter, breakdown or segment names one.
    /// Code `UNKNOWN_DIMENSION`.
    #[error("dimension {name:?} is not defined; call defineDimension first")]
    UnknownDimension {
        /// The dimension's name.
        name: String,
        /// Where it was named: `dimensions.<name>` in an event, the
        /// option of a query (`dimension.name`, `by`, `breakdown`,
        /// `segment.property`).
        field: String,
    },
    /// No such quarantined event or outbox batch. Code `NOT_FOUND`.
    #[error("{what} not found")]
    NotFound {
        /// What was looked for.
        what: String,
    },
}

impl TrackingError {
    /// The field at fault, for the errors that name one.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::SchemaViolation { field, .. } | Self::UnknownDimension { field, .. } => {
                Some(field)
            }
            Self::NotFound { .. } => None,
        }
    }

    /// The field at fault, to be rewritten in place.
    pub(super) fn field_mut(&mut self) -> Option<&mut String> {
        match self {
            Self::SchemaViolation { field, .. } | Self::UnknownDimension { field, .. } => {
                Some(field)
            }
            Self::NotFound { .. } => None,
        }
    }
}

impl ErrorCode for TrackingError {
    fn code(&self) -> &'static str {
        match self {
            Self::SchemaViolation { .. } => "SCHEMA_VIOLATION",
            Self::UnknownDimension { .. } => "UNKNOWN_DIMENSION",
            Self::NotFound { .. } => "NOT_FOUND",
        }
    }
}
