//! What is stored about a session, and what callers see of it.

use serde::Serialize;

use super::token::TokenHash;
use crate::kernel::useragent::DeviceClass;

/// A session as its store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// The non-secret handle.
    pub session_id: String,
    /// SHA-256 of the current token.
    pub token_hash: TokenHash,
    /// The user, or `None` for an anonymous session.
    pub user_id: Option<String>,
    /// Creation time, ms since the epoch.
    pub created_at: i64,
    /// Last recorded activity (written at most once per touch interval).
    pub last_seen_at: i64,
    /// The idle timeout this session slides by, in ms.
    pub idle_timeout_ms: i64,
    /// When the session expires unless used again; never after
    /// `absolute_expires_at`.
    pub idle_expires_at: i64,
    /// When the session expires whatever happens.
    pub absolute_expires_at: i64,
    /// The client, minimised.
    pub client: Client,
    /// SHA-256 of the user agent and network at creation, if either was given.
    pub fingerprint: Option<TokenHash>,
    /// The state's version, bumped by every write.
    pub version: i64,
}

impl SessionRecord {
    /// Whether either deadline has passed at `now`.
    pub fn is_expired(&self, now: i64) -> bool {
        now >= self.idle_expires_at || now >= self.absolute_expires_at
    }

    /// What callers see.
    pub fn view(&self) -> Session {
        Session {
            session_id: self.session_id.clone(),
            user_id: self.user_id.clone(),
            created_at: self.created_at,
            last_seen_at: self.last_seen_at,
            idle_expires_at: self.idle_expires_at,
            absolute_expires_at: self.absolute_expires_at,
            idle_timeout_ms: self.idle_timeout_ms,
            version: self.version,
            client: self.client.clone(),
            fingerprint_mismatch: false,
            renewed: false,
        }
    }
}

/// The client a session was created from, minimised: a masked IP and the
/// parsed user agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Client {
    /// The IP address with its host part zeroed, if one was given.
    pub ip: Option<String>,
    /// Browser family and major version, or `"Other"`.
    pub browser: String,
    /// Operating system family, or `"Other"`.
    pub os: String,
    /// Device class.
    pub device: DeviceClass,
}

/// A live session, as `validate`, `list` and friends return it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    /// The non-secret handle, for listing and revoking.
    pub session_id: String,
    /// The user, or `None` while anonymous.
    pub user_id: Option<String>,
    /// Creation time, ms since the epoch.
    pub created_at: i64,
    /// Last recorded activity.
    pub last_seen_at: i64,
    /// When the session expires unless used again.
    pub idle_expires_at: i64,
    /// When the session expires whatever happens.
    pub absolute_expires_at: i64,
    /// How long the session may stay unused, in ms (its own, for a session
    /// given a lifetime at creation or login: "remember me").
    pub idle_timeout_ms: i64,
    /// The state's version, for `expectedVersion`.
    pub version: i64,
    /// The device the session was created from.
    pub client: Client,
    /// Under the `warn` fingerprint policy: this request's user agent or
    /// network differs from the session's.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub fingerprint_mismatch: bool,
    /// `validate` slid the idle deadline on this call: a cookie carrying the
    /// deadline should be sent again.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub renewed: bool,
}

/// A session with its token: what `create`, `rotate` and `login` return.
/// The token is shown once; only its hash is stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Issued {
    /// The secret token to hand to the client (for example in a cookie).
    pub token: String,
    /// The session.
    #[serde(flatten)]
    pub session: Session,
}

/// Session state as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredState {
    /// A JSON object, as text.
    Plain(String),
    /// A JSON object sealed with key `key_id`.
    Sealed {
        /// The id of the key that sealed it.
        key_id: String,
        /// `nonce || ciphertext`.
        blob: Vec<u8>,
    },
}
