//! The one check on text a caller supplies: ids, names, labels, reasons.
//!
//! ```
//! use usertrail::kernel::text;
//!
//! assert!(text::check("userId", "alice@example.com", 256).is_ok());
//! assert!(text::check("userId", "'; DROP TABLE sessions; --", 256).is_ok()); // just text
//! let err = text::check("userId", "a\nb", 256).unwrap_err();
//! assert_eq!(err.reason, "must be 1 to 256 bytes without control characters");
//! ```

use super::Invalid;

/// Refuses text that is empty, longer than `max` bytes, or holds a control
/// character. Every concern uses this one message shape.
pub fn check(field: &str, value: &str, max: usize) -> Result<(), Invalid> {
    if value.is_empty() || value.len() > max || value.chars().any(char::is_control) {
        return Err(Invalid::new(
            field,
            format!("must be 1 to {max} bytes without control characters"),
        ));
    }
    Ok(())
}

/// [`check`] for a key that a quoted JSON path names (a dimension, a
/// property): also refuses quotes and backslashes, which such a path cannot
/// hold.
pub fn check_key(field: &str, key: &str, max: usize) -> Result<(), Invalid> {
    check(field, key, max)?;
    if key.contains(['"', '\\']) {
        return Err(Invalid::new(
            field,
            "must not contain quotes or backslashes",
        ));
    }
    Ok(())
}

/// [`check`] for an optional value: `None` passes.
pub fn check_opt(field: &str, value: Option<&str>, max: usize) -> Result<(), Invalid> {
    value.map_or(Ok(()), |v| check(field, v, max))
}

#[cfg(test)]
mod tests {
    #[cfg(all(target_family = "wasm", target_os = "unknown"))]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn refuses_empty_long_and_control_text() {
        assert!(check("f", "x", 1).is_ok());
        assert!(check("f", "", 1).is_err());
        assert!(check("f", "xx", 1).is_err());
        assert!(check("f", "a\u{0}b", 10).is_err());
        assert!(check("f", "a\u{7f}b", 10).is_err());
        assert!(check("f", "é", 2).is_ok(), "bytes, not characters");
        assert!(check("f", "é", 1).is_err());
        assert!(check_opt("f", None, 1).is_ok());
        assert_eq!(check("name", "", 3).unwrap_err().field, "name");
    }
}
