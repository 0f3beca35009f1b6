//! Session tokens and handles.
//!
//! A token is 32 bytes from the OS CSPRNG, written as 43 characters of
//! base64url without padding. Only its SHA-256 is stored, so a copy of the
//! database does not let anyone take over a session. A session id is a
//! separate, non-secret handle of 16 random bytes (22 characters), for
//! listing and revoking.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::kernel::ids::random_bytes;

/// The length of a token's text.
pub const TOKEN_LEN: usize = 43;
/// The length of a session id's text.
pub const SESSION_ID_LEN: usize = 22;

/// SHA-256 of a token's bytes: what the database stores.
pub type TokenHash = [u8; 32];

/// A new token and its hash.
pub fn new_token() -> (String, TokenHash) {
    let bytes: [u8; 32] = random_bytes();
    (URL_SAFE_NO_PAD.encode(bytes), hash(&bytes))
}

/// A new session id.
pub fn new_session_id() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<16>())
}

/// The hash of a well-formed token, or `None` for anything that is not one
/// of ours: wrong length, characters outside base64url, non-canonical
/// encodings. Looks nothing up.
pub fn parse(token: &str) -> Option<TokenHash> {
    if token.len() != TOKEN_LEN {
        return None;
    }
    let mut bytes = [0u8; 32];
    // Strict decoding: the trailing bits of the last character must be zero,
    // so exactly one text maps to each token.
    match URL_SAFE_NO_PAD.decode_slice(token, &mut bytes) {
        Ok(32) => Some(hash(&bytes)),
        _ => None,
    }
}

/// Whether `id` looks like a session id we issue (no lookup).
pub fn is_session_id(id: &str) -> bool {
    id.len() == SESSION_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn hash(bytes: &[u8]) -> TokenHash {
    Sha256::digest(bytes).into()
}

#[cfg(test)]
mod tests {
    #[cfg(all(target_family = "wasm", target_os = "unknown"))]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn tokens_are_43_base64url_chars_and_parse_back() {
        let (token, hash) = new_token();
        assert_eq!(token.len(), TOKEN_LEN);
        assert!(token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_eq!(parse(&token), Some(hash));
        assert_ne!(new_token().0, token, "two tokens collided");
    }

    #[test]
    fn malformed_tokens_do_not_parse() {
        let (token, _) = new_token();
        let mut non_canonical = token.clone().into_bytes();
        // The last character carries 4 spare bits; setting one gives a second
        // spelling of (nearly) the same bytes, which must be refused.
        let last = non_canonical[42];
        non_canonical[42] = if last == b'A' { b'B' } else { b'A' };
        let non_canonical = String::from_utf8(non_canonical).unwrap();
        for bad in [
            "",
            "short",
            &token[..42],
            &format!("{token}A"),
            &format!("{}=", &token[..42]),
            &token.replace(|c: char| c.is_ascii_alphabetic(), "+"),
            "' OR '1'='1' --                            ",
            "ééééééééééééééééééééé!",
            &"A".repeat(10_000),
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
        // Either refused, or a different token altogether: never the same hash.
        assert_ne!(parse(&non_canonical), parse(&token));
    }

    #[test]
    fn session_ids_are_recognised() {
        let id = new_session_id();
        assert!(is_session_id(&id));
        assert!(!is_session_id("not-an-id"));
        assert!(!is_session_id(&format!("{}'", &id[..21])));
    }
}
