//! Stores the engine reaches through its host: an operation is data (a Lua
//! script, with its SHA-1, the keys it touches and its arguments), and a
//! [`Transport`] the host gives runs it on its own Redis client (`EVALSHA`,
//! falling back to `EVAL` when the server does not know the script yet).
//!
//! The engine never opens a socket: in a JS host the transport is
//! `redisStore(client)` from `usertrail/redis` over the app's node-redis or
//! ioredis client; natively, the tests give one over the `redis` crate. Every
//! script touches keys of one Redis Cluster hash slot (they share a `{...}`
//! hash tag), so it works on a single server, with replicas, and on a cluster.
//!
//! Replies are plain: nil, integers, text and lists. Values are text, never
//! decoded by Lua (no `cjson`, which loses integers above 2^53 and turns
//! `[]` into `{}`): the engine writes and reads the JSON itself.

use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;

use sha1::{Digest, Sha1};

use crate::error::{Result, StoreError};
use crate::kernel::ids::hex;

/// The slot of everything a shared store keeps about a subject (a user id
/// or an anonymous id): its sessions, preferences and consent. `u` and 16
/// hex digits of a hash of the id, so keys reveal nothing about the user.
pub fn subject_slot(subject: &str) -> String {
    slot_of_bytes(subject.as_bytes())
}

/// [`subject_slot`] of an id's bytes.
pub fn slot_of_bytes(subject: &[u8]) -> String {
    format!("u{}", hex(&slot_hash(subject)))
}

/// Whether `digits` (a slot after its `u`) are [`subject_slot`]'s for
/// `subject`, without building the text.
pub fn subject_slot_matches(subject: &str, digits: &[u8]) -> bool {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    digits.len() == 16
        && slot_hash(subject.as_bytes())
            .iter()
            .zip(digits.chunks(2))
            .all(|(b, pair)| pair == [DIGITS[usize::from(b >> 4)], DIGITS[usize::from(b & 0x0F)]])
}

fn slot_hash(subject: &[u8]) -> [u8; 8] {
    use sha2::Sha256;
    let mut h = Sha256::new();
    h.update(b"usertrail slot\0");
    h.update(subject);
    let mut out = [0u8; 8];
    out.copy_from_slice(&h.finalize()[..8]);
    out
}

/// A future that does not need to be `Send` (a JS Promise is not).
pub type LocalBoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// A Lua script the engine runs in a shared store.
#[derive(Debug)]
pub struct Script {
    /// A name, for messages.
    pub name: &'static str,
    /// The Lua source.
    pub source: &'static str,
    /// Whether its writes must survive a failover (a login, a revocation, a
    /// consent decision, an erasure): with [`ReplicaWait`] set, each run
    /// waits for replicas to acknowledge it.
    pub durable: bool,
    sha1: OnceLock<String>,
}

impl Script {
    /// A script named `name` with `source`.
    pub const fn new(name: &'static str, source: &'static str) -> Self {
        Self {
            name,
            source,
            durable: false,
            sha1: OnceLock::new(),
        }
    }

    /// This script, marked as one whose writes must survive a failover.
    pub const fn durable(mut self) -> Self {
        self.durable = true;
        self
    }

    /// The SHA-1 of the source, hex, as `EVALSHA` wants it.
    pub fn sha1(&self) -> &str {
        self.sha1
            .get_or_init(|| hex(&Sha1::digest(self.source.as_bytes())))
    }
}

/// One script run: the script, the keys it touches (all of one hash slot),
/// and its arguments, as text.
#[derive(Debug, Clone)]
pub struct Op<'s> {
    /// The script.
    pub script: &'s Script,
    /// The keys, `KEYS` in Lua.
    pub keys: Vec<String>,
    /// The arguments, `ARGV` in Lua.
    pub args: Vec<String>,
    /// After the script, wait for this many replicas to acknowledge its
    /// writes (Redis `WAIT` on the same connection); `None` for a script
    /// that is not [`Script::durable`] or a store without [`ReplicaWait`].
    pub wait: Option<ReplicaWait>,
}

/// What a durable write waits for: `replicas` replicas acknowledging it
/// within `timeout_ms`. Redis replicates asynchronously, so a write a
/// primary acknowledged can be lost when a replica is promoted before it
/// arrived; `WAIT` closes that window for the writes that matter, at the
/// cost of a round trip to the replicas. Fewer acknowledgements in time
/// fail the call with `STORE_UNAVAILABLE`: the write is on the primary and
/// may or may not survive a failover, so the caller retries or reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicaWait {
    /// Replicas that must acknowledge, 1 to [`ReplicaWait::MAX_REPLICAS`].
    pub replicas: u32,
    /// How long to wait for them, 1 to [`ReplicaWait::MAX_TIMEOUT_MS`] ms.
    pub timeout_ms: u32,
}

impl ReplicaWait {
    /// The most replicas a write can wait for.
    pub const MAX_REPLICAS: u32 = 16;
    /// The longest a write can wait, in ms.
    pub const MAX_TIMEOUT_MS: u32 = 60_000;

    /// A wait for `replicas` within `timeout_ms`, checked (`INVALID_INPUT`
    /// naming `shared.durableWrites.*`).
    pub fn new(replicas: u32, timeout_ms: u32) -> Result<Self> {
        for (value, max, field) in [
            (
                replicas,
                Self::MAX_REPLICAS,
                "shared.durableWrites.replicas",
            ),
            (
                timeout_ms,
                Self::MAX_TIMEOUT_MS,
                "shared.durableWrites.timeoutMs",
            ),
        ] {
            if !(1..=max).contains(&value) {
                return Err(crate::error::Error::invalid(
                    field,
                    format!("must be an integer from 1 to {max}"),
                ));
            }
        }
        Ok(Self {
            replicas,
            timeout_ms,
        })
    }
}

/// What a script returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `nil` (or Lua `false`).
    Nil,
    /// An integer.
    Int(i64),
    /// A string.
    Text(String),
    /// An array.
    List(Vec<Reply>),
}

impl Reply {
    fn garbled(&self, what: &str) -> crate::error::Error {
        let mut shown = format!("{self:?}");
        shown.truncate(120);
        StoreError::Garbled {
            detail: format!("expected {what}, got {shown}"),
        }
        .into()
    }

    /// The integer, or `STORAGE_ERROR`.
    pub fn int(&self) -> Result<i64> {
        match self {
            Self::Int(n) => Ok(*n),
            Self::Text(t) => t.parse().map_err(|_| self.garbled("an integer")),
            _ => Err(self.garbled("an integer")),
        }
    }

    /// The text, or `STORAGE_ERROR`.
    pub fn text(&self) -> Result<&str> {
        match self {
            Self::Text(t) => Ok(t),
            _ => Err(self.garbled("a string")),
        }
    }

    /// The text, `None` for nil, or `STORAGE_ERROR`.
    pub fn opt_text(&self) -> Result<Option<&str>> {
        match self {
            Self::Nil => Ok(None),
            Self::Text(t) => Ok(Some(t)),
            _ => Err(self.garbled("a string or nil")),
        }
    }

    /// The list, or `STORAGE_ERROR`.
    pub fn list(&self) -> Result<&[Reply]> {
        match self {
            Self::List(l) => Ok(l),
            _ => Err(self.garbled("a list")),
        }
    }

    /// The list of exactly `n` items, or `STORAGE_ERROR`.
    pub fn tuple(&self, n: usize) -> Result<&[Reply]> {
        let l = self.list()?;
        if l.len() == n {
            Ok(l)
        } else {
            Err(self.garbled(&format!("a list of {n}")))
        }
    }
}

/// Runs operations in a shared store, for the engine. `Send + Sync` on
/// native targets, where an engine may move between threads.
pub trait Transport: crate::kernel::clock::MaybeSendSync {
    /// Runs `op`. A failure to reach the store (a closed connection, a
    /// timeout) is `STORE_UNAVAILABLE`; a reply that is not one of [`Reply`]'s
    /// shapes is `STORAGE_ERROR`.
    fn run<'a>(&'a self, op: Op<'a>) -> LocalBoxFuture<'a, Result<Reply>>;

    /// Waits about `ms` milliseconds, for a call that polls the store
    /// (an export waiting for other processes' replies). The default does
    /// not wait: such a call then polls a bounded number of times.
    fn sleep(&self, ms: u32) -> LocalBoxFuture<'_, ()> {
        let _ = ms;
        Box::pin(std::future::ready(()))
    }
}

/// A shared store: a transport and the prefix of every key the engine
/// writes there.
#[derive(Clone)]
pub struct Remote {
    transport: std::sync::Arc<dyn Transport>,
    prefix: String,
    wait: Option<ReplicaWait>,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl Remote {
    /// A store reached through `transport`, with keys under `prefix` (1 to
    /// 64 of letters, digits, `_`, `-`, `:` and `.`; default `ut`).
    pub fn new(transport: std::sync::Arc<dyn Transport>, prefix: &str) -> Result<Self> {
        let ok = !prefix.is_empty()
            && prefix.len() <= 64
            && prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-:.".contains(&b));
        if !ok {
            return Err(crate::error::Error::invalid(
                "shared.prefix",
                "must be 1 to 64 of letters, digits, '_', '-', ':' and '.'",
            ));
        }
        Ok(Self {
            transport,
            prefix: prefix.to_owned(),
            wait: None,
        })
    }

    /// This store, with its [`Script::durable`] writes waiting for
    /// replicas as `wait` says (`None`: no script waits, the default).
    pub fn with_replica_wait(mut self, wait: Option<ReplicaWait>) -> Self {
        self.wait = wait;
        self
    }

    /// The prefix of every key.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The key `name` in `slot`: `<prefix>:{<slot>}:<name>`. Keys of one
    /// slot share a Redis Cluster hash slot.
    pub fn key(&self, slot: &str, name: &str) -> String {
        format!("{}:{{{slot}}}:{name}", self.prefix)
    }

    /// Waits about `ms` milliseconds through the transport (see
    /// [`Transport::sleep`]).
    pub async fn sleep(&self, ms: u32) {
        self.transport.sleep(ms).await
    }

    /// Runs `script` with `keys` and `args`; a [`Script::durable`] one
    /// waits for replicas (see [`ReplicaWait`]).
    pub async fn run(
        &self,
        script: &Script,
        keys: Vec<String>,
        args: Vec<String>,
    ) -> Result<Reply> {
        self.run_as(script, keys, args, script.durable).await
    }

    /// [`Remote::run`], durable or not as `durable` says, for a script
    /// whose writes matter for some records only (a session's insert: a
    /// login's, not an anonymous visitor's).
    pub async fn run_as(
        &self,
        script: &Script,
        keys: Vec<String>,
        args: Vec<String>,
        durable: bool,
    ) -> Result<Reply> {
        let wait = self.wait.filter(|_| durable);
        self.transport
            .run(Op {
                script,
                keys,
                args,
                wait,
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    #[cfg(all(target_family = "wasm", target_os = "unknown"))]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn scripts_know_their_sha1() {
        static S: Script = Script::new("x", "return 1");
        // sha1("return 1"), as redis-cli SCRIPT LOAD prints it.
        assert_eq!(S.sha1(), "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
    }

    #[test]
    fn replies_are_checked_for_shape() {
        assert_eq!(Reply::Int(3).int().unwrap(), 3);
        assert_eq!(Reply::Text("4".into()).int().unwrap(), 4);
        assert!(Reply::Nil.int().is_err());
        assert_eq!(Reply::Nil.opt_text().unwrap(), None);
        let err = Reply::List(vec![]).tuple(2).unwrap_err();
        assert_eq!(crate::error::ErrorCode::code(&err), "STORAGE_ERROR");
    }
}
