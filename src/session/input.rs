//! Checks on what callers pass in, before anything is looked up or written.

use crate::error::Error;

/// The longest user id accepted, in bytes.
pub const MAX_USER_ID: usize = 256;
/// The longest state key accepted, in bytes.
pub const MAX_KEY: usize = 256;

/// A user id: 1 to 256 bytes, no control characters.
pub fn user_id(field: &str, id: &str) -> Result<(), Error> {
    Ok(crate::kernel::text::check(field, id, MAX_USER_ID)?)
}

/// A user agent: see [`crate::kernel::useragent::check`].
pub fn user_agent(ua: &str) -> Result<(), Error> {
    Ok(crate::kernel::useragent::check(ua)?)
}

/// A top-level state key: 1 to 256 bytes, and none of `"`, `\` or control
/// characters, so that it quotes safely into a JSON path.
pub fn state_key(key: &str) -> Result<(), Error> {
    if key.is_empty() || key.len() > MAX_KEY {
        return Err(Error::invalid(
            "key",
            format!("must be 1 to {MAX_KEY} bytes"),
        ));
    }
    if key.chars().any(|c| c == '"' || c == '\\' || c.is_control()) {
        return Err(Error::invalid(
            "key",
            "must not contain '\"', '\\' or control characters",
        ));
    }
    Ok(())
}

/// The top-level keys of a state (a session's initial `data`, a merge
/// patch): the rules of `set`'s key, so that every store measures and
/// keeps the same keys (`field` names the argument).
pub fn state_keys(
    field: &str,
    state: &serde_json::Map<String, serde_json::Value>,
) -> Result<(), Error> {
    for key in state.keys() {
        state_key(key).map_err(|e| match e {
            Error::InvalidInput { reason, .. } => Error::invalid(
                field,
                format!(
                    "key {:?} {reason}",
                    key.chars().take(40).collect::<String>()
                ),
            ),
            other => other,
        })?;
    }
    Ok(())
}

/// Object keys at any depth of a state value: no NUL. SQLite's JSON
/// functions end a key at `\u0000`, so a patch's `"b\u0000"` would merge
/// into the state's `"b"` (found by fuzzing the merge patch against its
/// Rust twin). `field` names the argument.
pub fn state_value(field: &str, value: &serde_json::Value) -> Result<(), Error> {
    use serde_json::Value;
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        match v {
            Value::Object(m) => {
                if m.keys().any(|k| k.contains('\0')) {
                    return Err(Error::invalid(field, "object keys must not contain NUL"));
                }
                stack.extend(m.values());
            }
            Value::Array(a) => stack.extend(a.iter()),
            _ => {}
        }
    }
    Ok(())
}

/// The JSON path of a top-level key checked by [`state_key`].
pub fn key_path(key: &str) -> String {
    format!("$.\"{key}\"")
}

#[cfg(test)]
mod tests {
    #[cfg(all(target_family = "wasm", target_os = "unknown"))]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn rejects_empty_huge_and_control_text() {
        assert!(user_id("userId", "alice@example.com").is_ok());
        assert!(
            user_id("userId", "'; DROP TABLE sessions; --").is_ok(),
            "SQL-looking text is just text"
        );
        assert!(user_id("userId", "").is_err());
        assert!(user_id("userId", &"a".repeat(257)).is_err());
        assert!(user_id("userId", "a\nb").is_err());
        assert!(state_key("cart").is_ok());
        assert!(state_key("a.b[0]").is_ok());
        assert!(state_key("a\"b").is_err());
        assert!(state_key("").is_err());
        assert!(user_agent(&"x".repeat(5000)).is_err());
    }
}
