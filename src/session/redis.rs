//! Sessions in a shared Redis, seen by every process of an app.
//!
//! The data model (keys under the store's prefix `P`, in the session's
//! slot `S`, so one `{S}` hash tag: one Redis Cluster hash slot):
//! - `P:{S}:s:<session id>`: one hash per session. Its fields are text:
//!   `f` (the format, `ut1`), `s` (the id), `h` (SHA-256 of the token's
//!   secret, hex: never the secret), `u` (the user, or empty), `c`, `l`,
//!   `it`, `ie`, `ae` (created, last seen, idle timeout, idle and absolute
//!   deadlines, ms), `ip`, `br`, `os`, `dv` (the minimised client), `fp`
//!   (the fingerprint's hash), `v` (the state's version), `k` (a checksum
//!   of the fields that never change) and one field `d:<key>` per
//!   top-level state key holding `<seq>:<json>` (seq, from the counter `q`,
//!   keeps the keys in the order they were first set), or `sk`/`sb` for a
//!   sealed state (the key id and the base64 of nonce and ciphertext); `z`
//!   and `n`, the state's size as JSON and its key count, so that a write
//!   reads only the keys it touches.
//! - `P:{S}:i`: for a user's slot, a sorted set of the user's session ids
//!   scored by last seen: the devices list, sign-out-everywhere and LRU
//!   eviction. Scripts that read it prune ids whose session is gone.
//!
//! Every operation is one Lua script (one round trip) that changes single
//! fields, never a whole record from a stale read. Lua never decodes a
//! user's JSON. Redis TTLs (the idle deadline plus a grace) only collect
//! garbage: the rules in [`Sessions`](super::Sessions) decide expiry by the
//! engine's clock, so a skewed Redis clock never ends a live session early.
//!
//! Scripts reach the sessions of a user's index by a key they build from
//! the index's own prefix; those keys are always in the script's hash slot,
//! which Redis Cluster serves on the same node.

use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine as _;
use serde_json::{Map, Value};

use super::record::{Client, SessionRecord, StoredState};
use super::store::{Rotated, SessionStore, StateWrite, Written};
use super::token::{self, Locator, TokenHash};
use super::SessionError;
use crate::error::{Error, Result, StoreError};
use crate::kernel::ids::{hex, random_bytes};
use crate::kernel::useragent::DeviceClass;
use crate::store::remote::{Remote, Reply, Script};

/// The record format this build writes and reads.
const FORMAT: &str = "ut1";
/// Garbage collection waits at least this long past a deadline, in ms.
const MIN_GRACE_MS: i64 = 3_600_000;

macro_rules! script {
    ($name:literal) => {
        Script::new(
            $name,
            concat!(
                include_str!("lua/prelude.lua"),
                include_str!(concat!("lua/", $name, ".lua"))
            ),
        )
    };
}

static META: Script = script!("meta");
static READ: Script = script!("read");
static INSERT: Script = script!("insert");
static TOUCH: Script = script!("touch");
static ROTATE: Script = script!("rotate").durable();
static CLAIM: Script = script!("claim");
static DELETE: Script = script!("delete");
static DELETE_TOKEN: Script = script!("delete_token").durable();
static DELETE_USER_SESSION: Script = script!("delete_user_session").durable();
static DELETE_ALL: Script = script!("delete_all").durable();
static LIST: Script = script!("list");
static EVICT: Script = script!("evict").durable();
static WRITE: Script = script!("write");
static RELIFE: Script = script!("relife");

/// Every script of the session store, to preload or list.
pub fn scripts() -> [&'static Script; 14] {
    [
        &META,
        &READ,
        &INSERT,
        &TOUCH,
        &ROTATE,
        &CLAIM,
        &DELETE,
        &DELETE_TOKEN,
        &DELETE_USER_SESSION,
        &DELETE_ALL,
        &LIST,
        &EVICT,
        &WRITE,
        &RELIFE,
    ]
}

/// Sessions in a shared Redis store.
#[derive(Debug, Clone, Copy)]
pub struct RedisSessionStore<'a> {
    remote: &'a Remote,
    key: Option<&'a [u8]>,
}

/// The fields `meta.lua` returns, in its order.
const F: usize = 0; // format
const S: usize = 1;
const H: usize = 2;
const U: usize = 3;
const C: usize = 4;
const L: usize = 5;
const IT: usize = 6;
const IE: usize = 7;
const AE: usize = 8;
const IP: usize = 9;
const BR: usize = 10;
const OS: usize = 11;
const DV: usize = 12;
const FP: usize = 13;
const V: usize = 14;
const K: usize = 15;
const META_LEN: usize = 17;

fn garbled(detail: impl Into<String>) -> Error {
    StoreError::Garbled {
        detail: detail.into(),
    }
    .into()
}

fn unhex(text: &str) -> Option<TokenHash> {
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in text.as_bytes().chunks(2).enumerate() {
        let s = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(s, 16).ok()?;
    }
    Some(out)
}

impl<'a> RedisSessionStore<'a> {
    /// Deletes `r`'s record, waiting for replicas if `durable` (see
    /// [`ReplicaWait`](crate::store::remote::ReplicaWait)).
    async fn delete_as(&self, r: &SessionRecord, durable: bool) -> Result<bool> {
        let (key, index, _) = self.keys_of(r);
        let n = self
            .remote
            .run_as(
                &DELETE,
                vec![key, index],
                vec![r.session_id.clone()],
                durable,
            )
            .await?
            .int()?;
        Ok(n == 1)
    }

    /// Sessions in `remote`. With `key` (the engine's chain key), each
    /// record's checksum is an HMAC under it, so a record forged without
    /// the key is refused.
    pub fn new(remote: &'a Remote, key: Option<&'a [u8]>) -> Self {
        Self { remote, key }
    }

    fn session_key(&self, slot: &str, sid: &str) -> String {
        self.remote.key(slot, &format!("s:{sid}"))
    }

    fn index_key(&self, slot: &str) -> String {
        self.remote.key(slot, "i")
    }

    fn prefix(&self, slot: &str) -> String {
        self.remote.key(slot, "s:")
    }

    fn keys_of(&self, r: &SessionRecord) -> (String, String, String) {
        let slot = token::slot(r.user_id.as_deref(), &r.session_id);
        (
            self.session_key(&slot, &r.session_id),
            self.index_key(&slot),
            slot,
        )
    }

    /// The checksum of a record's fields that never change, under its slot.
    fn checksum(&self, slot: &str, r: &SessionRecord) -> String {
        let fields = [
            slot.to_owned(),
            r.session_id.clone(),
            r.user_id.clone().unwrap_or_default(),
            r.created_at.to_string(),
            r.idle_timeout_ms.to_string(),
            r.absolute_expires_at.to_string(),
            r.client.ip.clone().unwrap_or_default(),
            r.client.browser.clone(),
            r.client.os.clone(),
            r.client.device.as_str().to_owned(),
            r.fingerprint.map(|f| hex(&f)).unwrap_or_default(),
        ];
        let refs: Vec<&str> = fields.iter().map(String::as_str).collect();
        let mut sum = crate::store::chain::link(self.key, "usertrail session record", &refs);
        sum.truncate(32);
        sum
    }

    /// The field/value pairs of a new record, state excluded.
    fn fields(&self, slot: &str, r: &SessionRecord) -> Vec<String> {
        let mut f = vec![
            "f".into(),
            FORMAT.into(),
            "s".into(),
            r.session_id.clone(),
            "h".into(),
            hex(&r.token_hash),
            "u".into(),
            r.user_id.clone().unwrap_or_default(),
            "c".into(),
            r.created_at.to_string(),
            "l".into(),
            r.last_seen_at.to_string(),
            "it".into(),
            r.idle_timeout_ms.to_string(),
            "ie".into(),
            r.idle_expires_at.to_string(),
            "ae".into(),
            r.absolute_expires_at.to_string(),
            "ip".into(),
            r.client.ip.clone().unwrap_or_default(),
            "br".into(),
            r.client.browser.clone(),
            "os".into(),
            r.client.os.clone(),
            "dv".into(),
            r.client.device.as_str().into(),
            "fp".into(),
            r.fingerprint.map(|f| hex(&f)).unwrap_or_default(),
            "v".into(),
            r.version.to_string(),
        ];
        f.push("k".into());
        f.push(self.checksum(slot, r));
        f
    }

    /// A record from `meta.lua`'s fields, `None` if there is none; a record
    /// that is not ours, damaged, or not the one its key names is refused
    /// (`STORAGE_ERROR`).
    fn decode(&self, reply: &Reply, slot: &str, sid: &str) -> Result<Option<SessionRecord>> {
        let items = reply.tuple(META_LEN)?;
        let field = |i: usize| items[i].opt_text();
        let Some(format) = field(F)? else {
            return Ok(None);
        };
        let what = || format!("the shared session record {slot}/{sid}");
        if format != FORMAT {
            return Err(garbled(format!(
                "{} is not a usertrail session (format {format:?})",
                what()
            )));
        }
        let text = |i: usize| -> Result<String> {
            Ok(field(i)?
                .ok_or_else(|| garbled(format!("{} lacks a field", what())))?
                .to_owned())
        };
        let int = |i: usize| -> Result<i64> {
            text(i)?
                .parse()
                .map_err(|_| garbled(format!("{} has a field that is not a number", what())))
        };
        let opt =
            |i: usize| -> Result<Option<String>> { Ok(Some(text(i)?).filter(|s| !s.is_empty())) };
        let fingerprint = match opt(FP)? {
            None => None,
            Some(h) => Some(
                unhex(&h).ok_or_else(|| garbled(format!("{} has a bad fingerprint", what())))?,
            ),
        };
        let record = SessionRecord {
            session_id: text(S)?,
            token_hash: unhex(&text(H)?).unwrap_or([0; 32]),
            user_id: opt(U)?,
            created_at: int(C)?,
            last_seen_at: int(L)?,
            idle_timeout_ms: int(IT)?,
            idle_expires_at: int(IE)?,
            absolute_expires_at: int(AE)?,
            client: Client {
                ip: opt(IP)?,
                browser: text(BR)?,
                os: text(OS)?,
                device: DeviceClass::from_name(&text(DV)?),
            },
            fingerprint,
            version: int(V)?,
        };
        let sane = record.session_id == sid
            && token::slot(record.user_id.as_deref(), sid) == slot
            && record.idle_expires_at <= record.absolute_expires_at
            && record.last_seen_at >= record.created_at
            && record.version >= 0
            && text(K)? == self.checksum(slot, &record);
        if !sane {
            return Err(garbled(format!(
                "{} was altered or moved (its checksum or deadlines do not hold)",
                what()
            )));
        }
        Ok(Some(record))
    }

    /// The anonymous session whose id is `session_id`, expired or not: the
    /// id the middleware uses as an anonymous visitor's id, so that a
    /// request about that visitor finds their session. `None` if there is
    /// none, or if the id is not a session id.
    pub async fn anonymous(&self, session_id: &str) -> Result<Option<SessionRecord>> {
        if !token::is_session_id(session_id) {
            return Ok(None);
        }
        let slot = token::slot(None, session_id);
        let reply = self
            .remote
            .run(&META, vec![self.session_key(&slot, session_id)], vec![])
            .await?;
        Ok(self
            .decode(&reply, &slot, session_id)?
            .filter(|r| r.user_id.is_none()))
    }

    /// Deletes the anonymous session whose id is `session_id` (see
    /// [`RedisSessionStore::anonymous`]). Returns whether it existed.
    pub async fn delete_anonymous(&self, session_id: &str) -> Result<bool> {
        match self.anonymous(session_id).await? {
            Some(r) => SessionStore::delete(self, &r).await,
            None => Ok(false),
        }
    }

    /// The slot and session id a locator names; `None` for a first-format
    /// token, which only the SQLite store knows.
    fn place(at: &Locator) -> Option<(&str, &str)> {
        Some((at.slot.as_deref()?, at.session_id.as_deref()?))
    }

    /// TTL of a session's keys: to its idle deadline, plus a grace.
    fn ttl(r: &SessionRecord, now: i64) -> String {
        let grace = r.idle_timeout_ms.max(MIN_GRACE_MS);
        (r.idle_expires_at - now)
            .max(0)
            .saturating_add(grace)
            .to_string()
    }

    async fn insert_fields(
        &self,
        key: String,
        index: String,
        record: &SessionRecord,
        mut fields: Vec<String>,
        keep: Option<u32>,
    ) -> Result<Option<u64>> {
        let mut args = vec![
            record.session_id.clone(),
            Self::ttl(record, record.last_seen_at),
            keep.map(|k| k.to_string()).unwrap_or_default(),
            record.last_seen_at.to_string(),
            if record.user_id.is_some() { "1" } else { "0" }.into(),
        ];
        args.append(&mut fields);
        // A user's session (a login) must survive a failover; an anonymous
        // visitor's is made again by the next request.
        let durable = record.user_id.is_some();
        let reply = self
            .remote
            .run_as(&INSERT, vec![key, index], args, durable)
            .await?;
        if reply == Reply::Int(-1) {
            return Ok(None);
        }
        let items = reply.tuple(2)?;
        if items[0].text()? != record.session_id {
            return Err(garbled("an insert answered for another session"));
        }
        Ok(Some(items[1].int()?.max(0) as u64))
    }

    /// Runs `write.lua` with operation triples `ops`.
    async fn run_write(
        &self,
        key: &str,
        at: &Locator,
        now: i64,
        ops: Vec<String>,
        expected: Option<i64>,
        limit: usize,
    ) -> Result<Written> {
        let (slot, sid) = Self::place(at).ok_or(SessionError::NotFound)?;
        let mut args = vec![
            hex(&at.hash),
            now.to_string(),
            expected.map(|e| e.to_string()).unwrap_or_default(),
            limit.to_string(),
        ];
        args.extend(ops);
        let reply = self.remote.run(&WRITE, vec![key.to_owned()], args).await?;
        let items = reply.list()?;
        let status = items
            .first()
            .ok_or_else(|| garbled("an empty reply"))?
            .int()?;
        let second = || {
            items
                .get(1)
                .ok_or_else(|| garbled("a reply without its value"))
        };
        Ok(match status {
            1 => Written::Version(second()?.int()?),
            -3 => Written::Sealed,
            -4 => {
                return Err(SessionError::Conflict {
                    expected: expected.unwrap_or_default(),
                    found: second()?.int()?,
                }
                .into())
            }
            -5 => {
                let size = usize::try_from(second()?.int()?).unwrap_or(usize::MAX);
                return Err(SessionError::PayloadTooLarge { size, limit }.into());
            }
            _ => match self.status(&reply, slot, sid)? {
                (-2, Some(r)) if r.token_hash == at.hash => Written::Expired(Box::new(r)),
                _ => Written::NotFound,
            },
        })
    }

    /// Status and record from a `{status, fields}` reply.
    fn status(&self, reply: &Reply, slot: &str, sid: &str) -> Result<(i64, Option<SessionRecord>)> {
        let items = reply.list()?;
        let status = items
            .first()
            .ok_or_else(|| garbled("an empty reply"))?
            .int()?;
        let record = match items.get(1) {
            Some(m @ Reply::List(_)) => self.decode(m, slot, sid)?,
            _ => None,
        };
        if status == -6 {
            return Err(garbled(format!(
                "the shared session record {slot}/{sid} has damaged deadlines"
            )));
        }
        Ok((status, record))
    }
}

/// The state fields of an `HGETALL` reply: the JSON of each `d:` field, or
/// a sealed blob; and the version.
fn state_of(all: &[Reply]) -> Result<StoredState> {
    let mut entries: Vec<(u64, String, Value)> = Vec::new();
    let (mut sk, mut sb) = (None, None);
    for pair in all.chunks(2) {
        let [name, value] = pair else {
            return Err(garbled("a record with an odd number of fields"));
        };
        let (name, value) = (name.text()?, value.text()?);
        if let Some(key) = name.strip_prefix("d:") {
            let bad = || garbled(format!("state key {key:?} does not hold '<seq>:<json>'"));
            let (seq, json) = value.split_once(':').ok_or_else(bad)?;
            let seq: u64 = seq.parse().map_err(|_| bad())?;
            let v: Value = serde_json::from_str(json).map_err(|_| bad())?;
            entries.push((seq, key.to_owned(), v));
        } else if name == "sk" {
            sk = Some(value.to_owned());
        } else if name == "sb" {
            sb = Some(value.to_owned());
        }
    }
    match (sk, sb) {
        (Some(key_id), Some(blob)) => Ok(StoredState::Sealed {
            key_id,
            blob: STANDARD_NO_PAD
                .decode(blob)
                .map_err(|_| garbled("a sealed state that is not base64"))?,
        }),
        _ => {
            entries.sort_by_key(|e| e.0);
            let doc: Map<String, Value> = entries.into_iter().map(|(_, k, v)| (k, v)).collect();
            Ok(StoredState::Plain(Value::Object(doc).to_string()))
        }
    }
}

/// The `meta.lua` fields out of an `HGETALL` reply: text names and values
/// in pairs, or `STORAGE_ERROR`.
fn meta_of(all: &[Reply]) -> Result<Reply> {
    const NAMES: [&str; META_LEN] = [
        "f", "s", "h", "u", "c", "l", "it", "ie", "ae", "ip", "br", "os", "dv", "fp", "v", "k",
        "sk",
    ];
    let mut out = vec![Reply::Nil; META_LEN];
    for pair in all.chunks(2) {
        let [Reply::Text(name), value @ Reply::Text(_)] = pair else {
            return Err(garbled("a session record whose fields are not text pairs"));
        };
        if let Some(i) = NAMES.iter().position(|n| n == name) {
            out[i] = value.clone();
        }
    }
    Ok(Reply::List(out))
}

/// The state's `d:`/`sk`/`sb` field-value pairs, for a copy.
fn state_fields(all: &[Reply]) -> Vec<String> {
    let mut out = Vec::new();
    for pair in all.chunks(2) {
        if let [Reply::Text(name), Reply::Text(value)] = pair {
            if name.starts_with("d:") || ["q", "n", "z", "sk", "sb"].contains(&name.as_str()) {
                out.push(name.clone());
                out.push(value.clone());
            }
        }
    }
    out
}

/// The initial state's fields.
fn initial_state(state: &StoredState) -> Result<Vec<String>> {
    Ok(match state {
        StoredState::Plain(json) => {
            let Ok(Value::Object(doc)) = serde_json::from_str::<Value>(json) else {
                return Err(Error::invalid("data", "must be a JSON object"));
            };
            let n = doc.len();
            // The state's size as a JSON object, as write.lua keeps it.
            let mut size = 2 + n.saturating_sub(1);
            let mut fields: Vec<String> = Vec::with_capacity(2 * n + 6);
            for (i, (k, v)) in doc.into_iter().enumerate() {
                let json = v.to_string();
                // The key as JSON writes it (escapes included).
                size += serde_json::to_string(&k).map_or(k.len(), |q| q.len() - 2) + 3 + json.len();
                fields.push(format!("d:{k}"));
                fields.push(format!("{}:{json}", i + 1));
            }
            for (name, value) in [("q", n), ("n", n), ("z", size)] {
                fields.extend([name.to_owned(), value.to_string()]);
            }
            fields
        }
        StoredState::Sealed { key_id, blob } => vec![
            "sk".into(),
            key_id.clone(),
            "sb".into(),
            STANDARD_NO_PAD.encode(blob),
            "q".into(),
            "0".into(),
            "n".into(),
            "0".into(),
            "z".into(),
            "2".into(),
        ],
    })
}

/// A merge patch's top-level keys as operation triples, merged into
/// `current`'s values where the patch holds objects.
fn patch_operations(patch: &Map<String, Value>, current: &Map<String, Value>) -> Vec<String> {
    let mut ops = Vec::new();
    for (k, v) in patch {
        if v.is_null() {
            ops.extend(["d".to_owned(), k.clone(), String::new()]);
        } else {
            let mut merged = current.get(k).cloned().unwrap_or(Value::Null);
            super::manager::merge_patch(&mut merged, v);
            ops.extend(["s".to_owned(), k.clone(), merged.to_string()]);
        }
    }
    ops
}

/// A state write as the script's operation triples.
fn operations(write: &StateWrite<'_>) -> Result<Vec<String>> {
    let op = |v: &str, a: &str, b: &str| [v.to_owned(), a.to_owned(), b.to_owned()];
    Ok(match write {
        StateWrite::SetKey { key, json } => op("s", key, json).to_vec(),
        StateWrite::RemoveKey(key) => op("d", key, "").to_vec(),
        StateWrite::MergePatch(_) => unreachable!("merge patches are resolved before"),
        StateWrite::Replace(StoredState::Plain(json)) => {
            let Ok(Value::Object(doc)) = serde_json::from_str::<Value>(json) else {
                return Err(Error::invalid("data", "must be a JSON object"));
            };
            let mut ops = op("c", "", "").to_vec();
            for (k, v) in doc {
                ops.extend(op("s", &k, &v.to_string()));
            }
            ops
        }
        StateWrite::Replace(StoredState::Sealed { key_id, blob }) => {
            let mut ops = op("c", "", "").to_vec();
            ops.extend(op("x", key_id, &STANDARD_NO_PAD.encode(blob)));
            ops
        }
    })
}

impl SessionStore for RedisSessionStore<'_> {
    async fn insert(
        &self,
        record: &SessionRecord,
        state: &StoredState,
        keep: Option<u32>,
    ) -> Result<Option<u64>> {
        let (key, index, slot) = self.keys_of(record);
        let mut fields = self.fields(&slot, record);
        fields.extend(initial_state(state)?);
        self.insert_fields(key, index, record, fields, keep).await
    }

    async fn load(&self, at: &Locator) -> Result<Option<SessionRecord>> {
        let Some((slot, sid)) = Self::place(at) else {
            return Ok(None);
        };
        let reply = self
            .remote
            .run(&META, vec![self.session_key(slot, sid)], vec![])
            .await?;
        Ok(self
            .decode(&reply, slot, sid)?
            .filter(|r| r.token_hash == at.hash))
    }

    async fn load_with_state(
        &self,
        at: &Locator,
    ) -> Result<Option<(SessionRecord, StoredState, i64)>> {
        let Some((slot, sid)) = Self::place(at) else {
            return Ok(None);
        };
        let reply = self
            .remote
            .run(&READ, vec![self.session_key(slot, sid)], vec![])
            .await?;
        let all = reply.list()?;
        let Some(record) = self.decode(&meta_of(all)?, slot, sid)? else {
            return Ok(None);
        };
        if record.token_hash != at.hash {
            return Ok(None);
        }
        let state = state_of(all)?;
        let version = record.version;
        Ok(Some((record, state, version)))
    }

    async fn touch(&self, r: &SessionRecord) -> Result<()> {
        let (key, index, _) = self.keys_of(r);
        self.remote
            .run(
                &TOUCH,
                vec![key, index],
                vec![
                    hex(&r.token_hash),
                    r.last_seen_at.to_string(),
                    r.idle_expires_at.to_string(),
                    Self::ttl(r, r.last_seen_at),
                    r.session_id.clone(),
                    if r.user_id.is_some() { "1" } else { "0" }.into(),
                ],
            )
            .await?
            .int()?;
        Ok(())
    }

    async fn rehash(&self, r: &SessionRecord, new: &TokenHash) -> Result<bool> {
        let (key, _, slot) = self.keys_of(r);
        let reply = self
            .remote
            .run(
                &ROTATE,
                vec![key],
                vec![hex(&r.token_hash), hex(new), String::new()],
            )
            .await?;
        Ok(self.status(&reply, &slot, &r.session_id)?.0 == 1)
    }

    async fn relife(&self, r: &SessionRecord, updated: &SessionRecord) -> Result<bool> {
        let (key, index, slot) = self.keys_of(r);
        let reply = self
            .remote
            .run(
                &RELIFE,
                vec![key, index],
                vec![
                    hex(&r.token_hash),
                    updated.idle_timeout_ms.to_string(),
                    updated.idle_expires_at.to_string(),
                    updated.absolute_expires_at.to_string(),
                    self.checksum(&slot, updated),
                    Self::ttl(updated, updated.last_seen_at),
                ],
            )
            .await?;
        Ok(self.status(&reply, &slot, &r.session_id)?.0 == 1)
    }

    async fn rotate(&self, at: &Locator, now: i64, new: &TokenHash) -> Result<Rotated> {
        let Some((slot, sid)) = Self::place(at) else {
            return Ok(Rotated::NotFound);
        };
        let reply = self
            .remote
            .run(
                &ROTATE,
                vec![self.session_key(slot, sid)],
                vec![hex(&at.hash), hex(new), now.to_string()],
            )
            .await?;
        Ok(match self.status(&reply, slot, sid)? {
            (1, Some(r)) => Rotated::Done(r),
            (-2, Some(r)) if r.token_hash == at.hash => Rotated::Expired(r),
            _ => Rotated::NotFound,
        })
    }

    async fn bind(
        &self,
        r: &SessionRecord,
        bound: &SessionRecord,
        keep: Option<u32>,
    ) -> Result<bool> {
        let (old_key, old_index, old_slot) = self.keys_of(r);
        // 1. The anonymous record stops answering to its token and is read
        //    whole (one script in its slot).
        let marker = hex(&random_bytes::<32>());
        let reply = self
            .remote
            .run(
                &CLAIM,
                vec![old_key.clone()],
                vec![hex(&r.token_hash), i64::MIN.to_string(), marker],
            )
            .await?;
        let items = reply.list()?;
        if self
            .status(
                &Reply::List(items.iter().take(2).cloned().collect()),
                &old_slot,
                &r.session_id,
            )?
            .0
            != 1
        {
            return Ok(false);
        }
        let all = items
            .get(2)
            .ok_or_else(|| garbled("a claim without its record"))?
            .list()?;
        // 2. A copy under the user's slot, with the new token and the same
        //    id, state and deadlines, evicting past the limit (one script).
        let (key, index, slot) = self.keys_of(bound);
        let mut fields = self.fields(&slot, bound);
        fields.extend(state_fields(all));
        let inserted = self.insert_fields(key, index, bound, fields, keep).await?;
        // 3. The anonymous record goes (one script).
        self.remote
            .run(
                &DELETE,
                vec![old_key, old_index],
                vec![r.session_id.clone()],
            )
            .await?
            .int()?;
        Ok(inserted.is_some())
    }

    async fn delete(&self, r: &SessionRecord) -> Result<bool> {
        // Ending a user's session (a logout, a revocation) must survive a
        // failover; an anonymous visitor's need not.
        self.delete_as(r, r.user_id.is_some()).await
    }

    async fn delete_expired_one(&self, r: &SessionRecord) -> Result<bool> {
        self.delete_as(r, false).await
    }

    async fn delete_token(&self, at: &Locator) -> Result<Option<SessionRecord>> {
        let Some((slot, sid)) = Self::place(at) else {
            return Ok(None);
        };
        let reply = self
            .remote
            .run(
                &DELETE_TOKEN,
                vec![self.session_key(slot, sid), self.index_key(slot)],
                vec![hex(&at.hash), sid.to_owned()],
            )
            .await?;
        Ok(match self.status(&reply, slot, sid)? {
            (1, record) => record,
            _ => None,
        })
    }

    async fn delete_for_user_by_id(&self, user_id: &str, session_id: &str) -> Result<bool> {
        let slot = token::subject_slot(user_id);
        let n = self
            .remote
            .run(
                &DELETE_USER_SESSION,
                vec![self.session_key(&slot, session_id), self.index_key(&slot)],
                vec![user_id.to_owned(), session_id.to_owned()],
            )
            .await?
            .int()?;
        Ok(n == 1)
    }

    async fn delete_all_for_user(&self, user_id: &str, except: Option<&str>) -> Result<u64> {
        let slot = token::subject_slot(user_id);
        let n = self
            .remote
            .run(
                &DELETE_ALL,
                vec![self.index_key(&slot)],
                vec![self.prefix(&slot), except.unwrap_or_default().to_owned()],
            )
            .await?
            .int()?;
        Ok(n.max(0) as u64)
    }

    async fn list_for_user(&self, user_id: &str, now: i64) -> Result<Vec<SessionRecord>> {
        let slot = token::subject_slot(user_id);
        let reply = self
            .remote
            .run(&LIST, vec![self.index_key(&slot)], vec![self.prefix(&slot)])
            .await?;
        let mut out = Vec::new();
        for m in reply.list()? {
            let sid = m.list()?.get(S).map(Reply::opt_text).transpose()?.flatten();
            let Some(sid) = sid else { continue };
            let sid = sid.to_owned();
            if let Some(r) = self.decode(m, &slot, &sid)? {
                if r.user_id.as_deref() == Some(user_id)
                    && r.idle_expires_at > now
                    && r.absolute_expires_at > now
                {
                    out.push(r);
                }
            }
        }
        out.sort_by(|a, b| {
            b.last_seen_at
                .cmp(&a.last_seen_at)
                .then(b.created_at.cmp(&a.created_at))
                .then(a.session_id.cmp(&b.session_id))
        });
        Ok(out)
    }

    async fn evict_least_recent(&self, user_id: &str, keep: u32) -> Result<u64> {
        let slot = token::subject_slot(user_id);
        let n = self
            .remote
            .run(
                &EVICT,
                vec![self.index_key(&slot)],
                vec![self.prefix(&slot), keep.to_string()],
            )
            .await?
            .int()?;
        Ok(n.max(0) as u64)
    }

    async fn delete_expired(&self, _now: i64, _limit: u32, _visit: Option<u32>) -> Result<u64> {
        // Redis TTLs collect expired sessions.
        Ok(0)
    }

    async fn load_state(&self, r: &SessionRecord) -> Result<(StoredState, i64)> {
        let (key, _, slot) = self.keys_of(r);
        let reply = self.remote.run(&READ, vec![key], vec![]).await?;
        let all = reply.list()?;
        let record = self
            .decode(&meta_of(all)?, &slot, &r.session_id)?
            .ok_or(SessionError::NotFound)?;
        Ok((state_of(all)?, record.version))
    }

    async fn write_state(
        &self,
        at: &Locator,
        now: i64,
        write: StateWrite<'_>,
        expected: Option<i64>,
        limit: usize,
    ) -> Result<Written> {
        let Some((slot, sid)) = Self::place(at) else {
            return Ok(Written::NotFound);
        };
        let key = self.session_key(slot, sid);
        let StateWrite::MergePatch(patch) = &write else {
            return self
                .run_write(&key, at, now, operations(&write)?, expected, limit)
                .await;
        };
        let patch: Map<String, Value> = serde_json::from_str(patch)
            .map_err(|_| Error::invalid("patch", "must be a JSON object"))?;
        if !patch.values().any(Value::is_object) {
            return self
                .run_write(
                    &key,
                    at,
                    now,
                    patch_operations(&patch, &Map::new()),
                    expected,
                    limit,
                )
                .await;
        }
        // Merging into objects needs their current values: read them, merge
        // here, and write under the version read (again if it moved).
        for _ in 0..4 {
            let Some((record, state, version)) = self.load_with_state(at).await? else {
                return Ok(Written::NotFound);
            };
            if record.is_expired(now) {
                return Ok(Written::Expired(Box::new(record)));
            }
            let StoredState::Plain(json) = state else {
                return Ok(Written::Sealed);
            };
            if let Some(e) = expected.filter(|e| *e != version) {
                return Err(SessionError::Conflict {
                    expected: e,
                    found: version,
                }
                .into());
            }
            let current: Map<String, Value> = serde_json::from_str(&json).unwrap_or_default();
            let ops = patch_operations(&patch, &current);
            match self
                .run_write(&key, at, now, ops, Some(version), limit)
                .await
            {
                Err(Error::Session(SessionError::Conflict { .. })) if expected.is_none() => {
                    continue
                }
                other => return other,
            }
        }
        Err(StoreError::Contended {
            detail: "the session state kept changing".into(),
        }
        .into())
    }

    fn expires_by_itself(&self) -> bool {
        true
    }
}
