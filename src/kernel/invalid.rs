//! The kernel's one error: an argument that fails a check.

/// An argument or option that failed a check; nothing was done with it.
/// The error layer turns it into `INVALID_INPUT` with the same field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// The argument or option at fault, as the caller spelled it.
    pub field: String,
    /// What is wrong with it.
    pub reason: String,
}

impl Invalid {
    /// An [`Invalid`] naming `field`.
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid input: {}: {}", self.field, self.reason)
    }
}

impl std::error::Error for Invalid {}
