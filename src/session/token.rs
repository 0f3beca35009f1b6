//! Session tokens and handles.
//!
//! A token is `<slot>.<session id>.<secret>`:
//! - the secret is 32 bytes from the OS CSPRNG (drawn 128 secrets at a
//!   time, [`pooled_secret`]), written as 43 characters of
//!   base64url without padding; only its SHA-256 is stored, so a copy of the
//!   database does not let anyone take over a session;
//! - the session id is a separate, non-secret handle of 16 random bytes (22
//!   characters), for listing and revoking, and what a shared store looks the
//!   session up by (one lookup, no scan);
//! - the slot names where a shared store keeps the session: `u` and 16 hex
//!   digits of a hash of the user id for a user's session (all of a user's
//!   sessions, preferences and consent share one Redis Cluster hash slot), or
//!   `a` and the session id's first 8 characters for an anonymous one. It
//!   reveals nothing about the user.
//!
//! Tokens of the first format (43 characters, the secret alone) are still
//! understood by the SQLite store, which finds them by their hash.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::kernel::ids::{pooled_random, pooled_secret};

/// The length of a secret's text, and of a first-format token.
pub const SECRET_LEN: usize = 43;
/// The length of a session id's text.
pub const SESSION_ID_LEN: usize = 22;
/// The longest token accepted (a user's slot is the longest).
pub const MAX_TOKEN_LEN: usize = 17 + 1 + SESSION_ID_LEN + 1 + SECRET_LEN;

/// SHA-256 of a token's secret: what a store keeps.
pub type TokenHash = [u8; 32];

/// Where a token says its session is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Locator {
    /// The slot; `None` for a first-format token.
    pub slot: Option<String>,
    /// The session id; `None` for a first-format token.
    pub session_id: Option<String>,
    /// SHA-256 of the secret.
    pub hash: TokenHash,
}

impl Locator {
    /// Whether the session with `session_id`, of `user_id`, is where this
    /// locator says (its id, and the slot its user puts it in). The hash is
    /// checked by the store's lookup.
    pub fn names(&self, session_id: &str, user_id: Option<&str>) -> bool {
        self.session_id.as_deref().is_none_or(|s| s == session_id)
            && self
                .slot
                .as_deref()
                .is_none_or(|s| is_slot_of(s, user_id, session_id))
    }
}

/// Whether `slot` is [`slot`]`(user_id, session_id)`, without building it:
/// a validate checks this twice (store and manager), and building the text
/// cost more than the lookup's hash of the secret.
fn is_slot_of(slot: &str, user_id: Option<&str>, session_id: &str) -> bool {
    match (user_id, slot.as_bytes().split_first()) {
        (Some(user), Some((b'u', digits))) => {
            crate::store::remote::subject_slot_matches(user, digits)
        }
        (None, Some((b'a', prefix))) => prefix == anonymous_prefix(session_id).as_bytes(),
        _ => false,
    }
}

/// The slot of a session: `u<hex>` for a user's, `a<8 chars>` for an
/// anonymous one. Also the slot of a subject's preferences and consent
/// ([`subject_slot`]), so that a user's data shares one hash slot.
pub fn slot(user_id: Option<&str>, session_id: &str) -> String {
    match user_id {
        Some(user) => subject_slot(user),
        None => format!("a{}", anonymous_prefix(session_id)),
    }
}

/// The part of an anonymous session's id its slot holds: its first 8
/// characters (all of it if shorter). Ids this engine draws are ASCII; one
/// a hand-made database holds may not be, so characters, not bytes, as
/// SQL's `substr` counts them (migration 17).
pub fn anonymous_prefix(session_id: &str) -> &str {
    let end = session_id
        .char_indices()
        .nth(8)
        .map_or(session_id.len(), |(i, _)| i);
    &session_id[..end]
}

pub use crate::store::remote::subject_slot;

/// A new token for session `session_id` in `slot`, and its hash.
pub fn new_token(slot: &str, session_id: &str) -> (String, TokenHash) {
    let bytes = pooled_secret();
    (
        format!("{slot}.{session_id}.{}", URL_SAFE_NO_PAD.encode(bytes)),
        hash(&bytes),
    )
}

/// A new session id: not a secret (the token's secret is drawn apart),
/// so from the pool of id bytes, one call out to the OS source fewer.
pub fn new_session_id() -> String {
    URL_SAFE_NO_PAD.encode(pooled_random())
}

/// Where a well-formed token says its session is, or `None` for anything
/// that is not one of ours: wrong shape or length, characters outside
/// base64url, non-canonical encodings. Looks nothing up.
pub fn parse(token: &str) -> Option<Locator> {
    if token.len() > MAX_TOKEN_LEN {
        return None;
    }
    let mut parts = token.split('.');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(secret), None, None, None) => Some(Locator {
            slot: None,
            session_id: None,
            hash: secret_hash(secret)?,
        }),
        (Some(slot), Some(sid), Some(secret), None) if is_slot(slot) && is_session_id(sid) => {
            Some(Locator {
                slot: Some(slot.to_owned()),
                session_id: Some(sid.to_owned()),
                hash: secret_hash(secret)?,
            })
        }
        _ => None,
    }
}

/// The hash of a secret's text, if it is one: 43 characters of canonical
/// base64url. Strict decoding: the trailing bits of the last character must
/// be zero, so exactly one text maps to each secret.
fn secret_hash(text: &str) -> Option<TokenHash> {
    if text.len() != SECRET_LEN {
        return None;
    }
    let mut bytes = [0u8; 32];
    match URL_SAFE_NO_PAD.decode_slice(text, &mut bytes) {
        Ok(32) => Some(hash(&bytes)),
        _ => None,
    }
}

fn is_slot(s: &str) -> bool {
    match s.as_bytes().split_first() {
        Some((b'u', rest)) => rest.len() == 16 && rest.iter().all(|b| b.is_ascii_hexdigit()),
        Some((b'a', rest)) => rest.len() == 8 && rest.iter().all(|b| is_id_char(*b)),
        _ => false,
    }
}

fn is_id_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// Whether `id` looks like a session id we issue (no lookup).
pub fn is_session_id(id: &str) -> bool {
    id.len() == SESSION_ID_LEN && id.bytes().all(is_id_char)
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
    fn tokens_carry_their_slot_and_session_and_parse_back() {
        let sid = new_session_id();
        for user in [None, Some("alice")] {
            let slot = slot(user, &sid);
            let (token, hash) = new_token(&slot, &sid);
            let loc = parse(&token).unwrap();
            assert_eq!(loc.slot.as_deref(), Some(slot.as_str()));
            assert_eq!(loc.session_id.as_deref(), Some(sid.as_str()));
            assert_eq!(loc.hash, hash);
            assert!(token.bytes().all(|b| is_id_char(b) || b == b'.'));
        }
        assert_ne!(new_token("ax", &sid).0, new_token("ax", &sid).0);
        assert_eq!(slot(Some("alice"), &sid), subject_slot("alice"));
        assert!(!subject_slot("alice").contains("alice"));
    }

    #[test]
    fn a_locator_names_only_the_session_and_slot_it_was_issued_for() {
        let sid = new_session_id();
        let other = new_session_id();
        for user in [None, Some("alice"), Some("")] {
            let (token, _) = new_token(&slot(user, &sid), &sid);
            let at = parse(&token).unwrap();
            assert!(at.names(&sid, user), "{user:?}");
            assert!(!at.names(&other, user), "{user:?}: another session");
            // The slot of another subject, or of no subject, is not this one.
            for wrong in [None, Some("bob"), Some("alice "), Some("ALICE")] {
                if wrong != user {
                    assert!(!at.names(&sid, wrong), "{user:?} as {wrong:?}");
                }
            }
        }
        // A slot that differs in one hex digit, or in case, names nothing.
        let real = subject_slot("alice");
        let mut flipped = real.clone().into_bytes();
        flipped[16] = if flipped[16] == b'0' { b'1' } else { b'0' };
        for s in [
            String::from_utf8(flipped).unwrap(),
            real.to_uppercase().replacen('U', "u", 1),
        ] {
            if s != real {
                let (token, _) = new_token(&s, &sid);
                assert!(!parse(&token).unwrap().names(&sid, Some("alice")), "{s}");
            }
        }
    }

    #[test]
    fn first_format_tokens_still_parse_by_hash() {
        let secret = URL_SAFE_NO_PAD.encode([7u8; 32]);
        let loc = parse(&secret).unwrap();
        assert_eq!((loc.slot, loc.session_id), (None, None));
        assert_eq!(loc.hash, hash(&[7u8; 32]));
    }

    #[test]
    fn malformed_tokens_do_not_parse() {
        let sid = new_session_id();
        let (token, _) = new_token(&slot(None, &sid), &sid);
        let secret = token.rsplit('.').next().unwrap().to_owned();
        let mut non_canonical = secret.clone().into_bytes();
        // The last character carries 4 spare bits; setting one gives a second
        // spelling of (nearly) the same bytes, which must be refused.
        let last = non_canonical[42];
        non_canonical[42] = if last == b'A' { b'B' } else { b'A' };
        let non_canonical = String::from_utf8(non_canonical).unwrap();
        for bad in [
            "",
            "short",
            &secret[..42],
            &format!("{secret}A"),
            &format!("{}=", &secret[..42]),
            &secret.replace(|c: char| c.is_ascii_alphabetic(), "+"),
            "' OR '1'='1' --                            ",
            "ééééééééééééééééééééé!",
            &"A".repeat(10_000),
            &format!("x.{sid}.{secret}"),
            &format!("a1234567.{sid}.{secret}.x"),
            &format!("a1234567.short.{secret}"),
            &format!("u0123.{sid}.{secret}"),
            &format!("a1234567..{secret}"),
            "..",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
        // Either refused, or a different secret altogether: never the same hash.
        assert_ne!(
            parse(&non_canonical).map(|l| l.hash),
            parse(&secret).map(|l| l.hash)
        );
    }

    #[test]
    fn session_ids_are_recognised() {
        let id = new_session_id();
        assert!(is_session_id(&id));
        assert!(!is_session_id("not-an-id"));
        assert!(!is_session_id(&format!("{}'", &id[..21])));
    }
}
