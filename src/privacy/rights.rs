//! Rights that hold across a deployment: the rights log.
//!
//! With a shared store, several engines (app processes, each with its own
//! file; a collector; pipeline partitions) hold data about the same
//! subjects. A right exercised on one of them (`erase`, `anonymize`,
//! `rectify`, `withdraw` with `erase`, `export`) is appended to one log in
//! the store, `<P>:{r}:log` (a Redis stream), and every engine sharing the
//! store follows that log: it reads what it has not applied yet and applies
//! it to its own database, in one transaction with the position it reached
//! (kept in its `meta`), so a crash replays and a replay is a no-op. An
//! engine that was down, or a snapshot restored later, catches up when it
//! opens.
//!
//! The log never holds a subject's id: entries name ids by their hash under
//! the store's salt (the same salt the shared ledger's pseudonyms use), and
//! each engine finds the ids those hashes stand for among its own. A
//! rectification's new id, which engines must write, travels sealed under a
//! key kept beside the log for that id; erasing or anonymising the id
//! destroys the key, so no entry can tell the id after that (an engine that
//! applies the rename later still finds the old name's rows, by hash, for
//! the erasure that follows it). Free text (reasons, actors) stays in the
//! audit log of the engine that took the request. With a chain key
//! (`privacy.chainKey`), entries are signed, and an engine that has the key
//! refuses entries without a good signature.
//!
//! Engines register as *places* in `<P>:{r}:places` with the position
//! they applied and a heartbeat: durable ones (a file, OPFS) stay until
//! retired, since they may come back; ephemeral ones (memory) are forgotten
//! once silent, since their data died with them. A receipt says which
//! places have applied an entry. Two opens of one place (a copied database
//! file) are told apart: the later takes a new id.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap, HashSet};

use rusqlite::types::Value as Sql;
use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::subject::{self, Scope};
use super::Privacy;
use crate::error::{Error, Result, StoreError};
use crate::kernel::ids::{hex, random_bytes};
use crate::store::remote::{Remote, Reply, Script};
use crate::tracking::Registry;

macro_rules! script {
    ($name:literal) => {
        Script::new(
            concat!("rights_", $name),
            include_str!(concat!("lua/", $name, ".lua")),
        )
    };
}

static APPEND: Script = script!("append").durable();
static READ: Script = script!("read");
static BEAT: Script = script!("beat");
static PLACES: Script = script!("places");
static RECEIPT: Script = script!("receipt");
static RETIRE: Script = script!("retire");
static REPLY: Script = script!("reply");
static REPLIES: Script = script!("replies");
static ASK: Script = script!("ask");
static SEAL: Script = script!("seal").durable();
static SEALS: Script = script!("seals");

/// The slot of every key of the rights log.
const SLOT: &str = "r";
/// Entries read and applied in one step at most.
const READ_MAX: u32 = 256;
/// A place records its heartbeat at least this often while it follows.
const BEAT_MS: i64 = 10_000;
/// A place silent for longer is not live: an ephemeral one is forgotten, a
/// durable one is waited for (it applies what it missed when it opens).
pub const LIVE_MS: i64 = 30_000;
/// The first position of a log.
const START: &str = "0-0";

/// What an engine remembers about its part in the rights log, across
/// calls. The engine holds one.
#[derive(Debug, Default)]
pub struct RightsState {
    /// Whether the engine's data outlives its process (a file, OPFS).
    pub durable: bool,
    /// A label for operators: the file's name, or `memory`.
    pub label: String,
    /// The pipeline's partition count, so that a pseudonym lands in the
    /// partition of the id it replaces.
    pub partitions: u32,
    /// An ephemeral place's id (a durable one's is in `meta`).
    place: RefCell<Option<String>>,
    /// This open's token, told apart from another open of the same place.
    token: RefCell<Option<String>>,
    /// The token of another open of this place that this one displaced
    /// from the place's record (a restart's dead open, or the original of
    /// a copy, which would write it back).
    displaced: RefCell<String>,
    /// The store's time (ms) of the last heartbeat.
    last_beat: Cell<i64>,
    /// What this engine did for the entries it appended, by entry id, for
    /// the caller waiting on its own right.
    mine: RefCell<HashMap<String, Applied>>,
    /// Each entry this engine appended and has not applied yet: the
    /// subject, reason and actor its own audit names (they never travel).
    subjects: RefCell<HashMap<String, Own>>,
}

/// What the engine that appended an entry knows of it, and no other does.
#[derive(Debug, Clone, Default)]
pub(super) struct Own {
    /// The subject, as asked.
    pub(super) subject: String,
    /// Why, for the audit log.
    pub(super) reason: Option<String>,
    /// Who asked.
    pub(super) actor: Option<String>,
}

impl Own {
    /// The request about `subject`, from `actor`, for `reason`.
    pub(super) fn new(subject: &str, reason: Option<&str>, actor: Option<&str>) -> Self {
        Self {
            subject: subject.to_owned(),
            reason: reason.map(str::to_owned),
            actor: actor.map(str::to_owned),
        }
    }
}

impl RightsState {
    /// The state of an engine on durable (or not) storage labelled `label`.
    pub fn new(durable: bool, label: String, partitions: u32) -> Self {
        Self {
            durable,
            label,
            partitions,
            ..Self::default()
        }
    }
}

/// What applying one entry did here.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Applied {
    /// Rows deleted, cleared or changed per table.
    pub counts: BTreeMap<String, u64>,
    /// The audit entry written, if any.
    pub audit_seq: Option<i64>,
    /// The ids it covered here.
    pub ids: usize,
    /// The local salted hash of the subject, as the audit tombstone keeps it.
    #[serde(skip)]
    pub subject_hash: Option<String>,
}

/// One entry's data, as it travels through the log: ids only as hashes
/// under the store's salt; no free text. Fields a newer version adds are
/// ignored.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Data {
    /// The hashes of the ids the entry is about.
    pub(super) h: Vec<String>,
    /// When the right was exercised, by the engine's clock, ms (for
    /// people; tombstones use the entry's id, the store's clock).
    pub(super) at: i64,
    /// The place that appended it.
    pub(super) by: String,
    /// A rectification's new id: its hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) to_hash: Option<String>,
    /// A rectification's new id, sealed under the key kept for `to_hash`:
    /// base64 of the nonce and the ciphertext.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) to_sealed: Option<String>,
    /// A withdrawal's purposes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) purposes: Option<Vec<String>>,
    /// An export request's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) req: Option<String>,
    /// An export request's deadline (the store's clock, ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) until: Option<i64>,
}

/// One entry read from the log.
struct Entry {
    id: String,
    kind: String,
    /// Its data as written.
    text: String,
    /// Its signature, `""` for none.
    sig: String,
}

/// The kinds of entries this build applies.
const KINDS: &[&str] = &["erase", "anonymize", "rectify", "withdraw", "export"];

/// What [`Privacy::follow`] did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Followed {
    /// Entries applied in this call.
    pub applied: u64,
    /// Export requests answered.
    pub answered: u64,
    /// Entries skipped because their signature did not hold (this engine
    /// has a chain key; someone who could write to the store but has not
    /// the key wrote them).
    pub refused: u64,
    /// The position applied: the id of the last entry.
    pub position: String,
    /// The new ids of the rectifications applied, for the pipeline (a
    /// renamed subject's events may belong to another partition now).
    #[serde(skip)]
    pub renamed: Vec<String>,
}

/// A place following the rights log, as operators see it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Place {
    /// Its id (random, kept in a durable engine's database).
    pub id: String,
    /// Its label: a file's name, or `memory`.
    pub label: String,
    /// Whether its data outlives its process: a durable place that stops
    /// is waited for; an ephemeral one is forgotten.
    pub durable: bool,
    /// The last entry it applied.
    pub position: String,
    /// When it last reported, on the store's clock (ms).
    pub last_seen: i64,
    /// Whether it reported within the last 30 s.
    pub live: bool,
    /// Whether it is the engine answering.
    pub this: bool,
}

/// Where one place stands on an entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlaceStatus {
    /// The place.
    #[serde(flatten)]
    pub place: Place,
    /// Whether it has applied the entry.
    pub applied: bool,
    /// What it did, as it reported (kept 30 days).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counts: Option<Value>,
}

/// Where a right exercised through the rights log stands: which places
/// have applied it and which are pending.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Receipt {
    /// The entry's id in the log: pass it to `receipt` later.
    pub id: String,
    /// `erase`, `anonymize`, `rectify` or `withdraw`.
    pub kind: String,
    /// When it was exercised (ms).
    pub at: i64,
    /// Whether every place has applied it: every durable place, and every
    /// ephemeral place still live (the shared store itself was done before
    /// the call returned).
    pub complete: bool,
    /// Each place's status.
    pub places: Vec<PlaceStatus>,
}

fn garbled(detail: impl Into<String>) -> Error {
    StoreError::Garbled {
        detail: detail.into(),
    }
    .into()
}

/// A stream id's parts, for ordering; `(0, 0)` for anything else.
fn id_key(id: &str) -> (u64, u64) {
    id.split_once('-')
        .and_then(|(m, s)| Some((m.parse().ok()?, s.parse().ok()?)))
        .unwrap_or((0, 0))
}

/// Whether a place at `position` has applied entry `id`.
fn reached(position: &str, id: &str) -> bool {
    id_key(position) >= id_key(id)
}

/// A place's record: `position|seen|durable|token|label`.
fn place_of(id: &str, value: &str, now: i64, me: &str) -> Result<Place> {
    let mut parts = value.splitn(5, '|');
    let bad = || {
        garbled(format!(
            "the rights log's record of place {id:?} is damaged"
        ))
    };
    let position = parts.next().ok_or_else(bad)?.to_owned();
    let last_seen: i64 = parts.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
    let durable = parts.next().ok_or_else(bad)? == "1";
    let _token = parts.next().ok_or_else(bad)?;
    let label = parts.next().unwrap_or("").to_owned();
    if id_key(&position) == (0, 0) && position != START {
        return Err(bad());
    }
    Ok(Place {
        id: id.to_owned(),
        label,
        durable,
        position,
        last_seen,
        live: now - last_seen <= LIVE_MS,
        this: id == me,
    })
}

/// The entries of a read.
fn entries(list: &Reply) -> Result<Vec<Entry>> {
    let mut out = Vec::new();
    for e in list.list()? {
        let pair = e.tuple(2)?;
        let id = pair[0].text()?.to_owned();
        let (mut kind, mut text, mut sig) = (String::new(), String::new(), String::new());
        for f in pair[1].list()?.chunks(2) {
            match (f.first().map(Reply::text), f.get(1).map(Reply::text)) {
                (Some(Ok("k")), Some(Ok(v))) => kind = v.to_owned(),
                (Some(Ok("d")), Some(Ok(v))) => text = v.to_owned(),
                (Some(Ok("s")), Some(Ok(v))) => sig = v.to_owned(),
                _ => {}
            }
        }
        out.push(Entry {
            id,
            kind,
            text,
            sig,
        });
    }
    Ok(out)
}

/// An entry's signature under `key`.
fn signature(key: &[u8], kind: &str, text: &str) -> String {
    crate::store::chain::link(Some(key), "usertrail rights log", &[kind, text])
}

/// The time of a stream id (the store's clock, ms).
fn id_ms(id: &str) -> i64 {
    id_key(id).0.min(i64::MAX as u64) as i64
}

/// Seals `to` under `key` (32 bytes, hex), for `to_hash`.
fn seal_to(key: &str, to_hash: &str, to: &str) -> Result<String> {
    use base64::Engine as _;
    use chacha20poly1305::aead::{Aead, KeyInit, Payload};
    use chacha20poly1305::{XChaCha20Poly1305, XNonce};
    let cipher = XChaCha20Poly1305::new_from_slice(&unhex32(key)?)
        .map_err(|_| garbled("a sealing key of the wrong length"))?;
    let nonce: [u8; 24] = random_bytes();
    let sealed = cipher
        .encrypt(
            &XNonce::from(nonce),
            Payload {
                msg: to.as_bytes(),
                aad: to_hash.as_bytes(),
            },
        )
        .map_err(|_| garbled("sealing failed"))?;
    let mut out = nonce.to_vec();
    out.extend(sealed);
    Ok(base64::engine::general_purpose::STANDARD_NO_PAD.encode(out))
}

/// Opens what [`seal_to`] sealed; `None` if it does not open.
fn open_to(key: &str, to_hash: &str, sealed: &str) -> Option<String> {
    use base64::Engine as _;
    use chacha20poly1305::aead::{Aead, KeyInit, Payload};
    use chacha20poly1305::{XChaCha20Poly1305, XNonce};
    let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(sealed)
        .ok()?;
    if bytes.len() < 24 {
        return None;
    }
    let cipher = XChaCha20Poly1305::new_from_slice(&unhex32(key).ok()?).ok()?;
    let nonce = XNonce::try_from(&bytes[..24]).ok()?;
    let plain = cipher
        .decrypt(
            &nonce,
            Payload {
                msg: &bytes[24..],
                aad: to_hash.as_bytes(),
            },
        )
        .ok()?;
    String::from_utf8(plain).ok()
}

fn unhex32(text: &str) -> Result<[u8; 32]> {
    let bad = || garbled("a sealing key that is not 64 hex digits");
    if text.len() != 64 {
        return Err(bad());
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(text.get(2 * i..2 * i + 2).ok_or_else(bad)?, 16)
            .map_err(|_| bad())?;
    }
    Ok(out)
}

/// Every distinct id this database holds anything about, in every table
/// `privacy::TABLES` lists (the anonymous session ids too: the middleware
/// uses them as visitors' anonymous ids).
const LOCAL_IDS: &str = "\
    SELECT user_id FROM events WHERE user_id IS NOT NULL \
    UNION SELECT anonymous_id FROM events WHERE anonymous_id IS NOT NULL \
    UNION SELECT anonymous_id FROM identities UNION SELECT user_id FROM identities \
    UNION SELECT coalesce(user_id, session_id) FROM sessions \
    UNION SELECT subject FROM prefs UNION SELECT subject FROM pref_history \
    UNION SELECT subject FROM consents \
    UNION SELECT subject FROM consent_ledger WHERE subject IS NOT NULL \
    UNION SELECT user_id FROM experiment_assignments \
    UNION SELECT user_key FROM rollup_user_hours \
    UNION SELECT json_extract(event, '$.userId') FROM outbox \
    UNION SELECT json_extract(event, '$.anonymousId') FROM outbox \
    UNION SELECT json_extract(event, '$.userId') FROM quarantine \
    UNION SELECT json_extract(event, '$.anonymousId') FROM quarantine \
    UNION SELECT subject FROM audit_log WHERE subject IS NOT NULL \
    UNION SELECT id FROM rights_aliases";

/// The ids of this database whose store hash is in `wanted`, by hash. It
/// reads every distinct id once: the cost of a step that has entries to
/// apply is the number of ids the engine holds, not its events. The ids
/// kept as aliases of a hash are read as each entry is applied (an entry
/// before it in the same read may have written them).
pub(super) fn local_ids(
    conn: &Connection,
    salt: &str,
    wanted: &HashSet<String>,
) -> Result<HashMap<String, Vec<String>>> {
    let mut found: HashMap<String, Vec<String>> = HashMap::new();
    if wanted.is_empty() {
        return Ok(found);
    }
    let mut stmt = conn.prepare_cached(LOCAL_IDS)?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let Ok(Some(id)) = r.get::<_, Option<String>>(0) else {
            continue;
        };
        let h = subject::hash(salt, &id);
        if wanted.contains(&h) {
            found.entry(h).or_default().push(id);
        }
    }
    Ok(found)
}

/// A value of an export reply: SQLite's types in JSON.
fn sql_json(v: &Sql) -> Value {
    match v {
        Sql::Null => Value::Null,
        Sql::Integer(i) => json!(i),
        Sql::Real(f) => json!({ "f": f }),
        Sql::Text(t) => json!(t),
        Sql::Blob(b) => json!({ "b": hex(b) }),
    }
}

/// An export reply's value back as SQLite's.
fn json_sql(v: &Value) -> Sql {
    match v {
        Value::Null => Sql::Null,
        Value::Number(n) => n.as_i64().map_or(Sql::Null, Sql::Integer),
        Value::String(s) => Sql::Text(s.clone()),
        Value::Object(m) => match (m.get("f"), m.get("b")) {
            (Some(f), _) => f.as_f64().map_or(Sql::Null, Sql::Real),
            (_, Some(Value::String(h))) => Sql::Blob(
                (0..h.len() / 2)
                    .filter_map(|i| u8::from_str_radix(h.get(2 * i..2 * i + 2)?, 16).ok())
                    .collect(),
            ),
            _ => Sql::Null,
        },
        _ => Sql::Null,
    }
}

/// The ids a rights-log entry's hashes name here: the first `users` are
/// the subject's names as a user (found under its first hash, or the
/// subject itself on the engine that appended it), the rest the
/// anonymous ids linked to it.
#[derive(Debug, Clone, Default)]
pub(super) struct EntryIds {
    /// The ids.
    pub(super) ids: Vec<String>,
    /// How many of them, from the first, are the subject's names.
    pub(super) users: usize,
}

/// What another place answered to an export request.
#[derive(Debug, Clone)]
pub(super) struct Answer {
    /// The place.
    pub place: Place,
    /// Its rows per table, or `None` if it did not answer in time.
    pub tables: Option<Vec<(String, Vec<Vec<Sql>>)>>,
}

impl Privacy<'_> {
    fn rights_remote(&self) -> Option<(&Remote, &RightsState)> {
        self.shared.map(|s| (s.remote, s.rights))
    }

    fn key(&self, name: &str) -> Result<String> {
        let (remote, _) = self.rights_remote().ok_or_else(no_shared)?;
        Ok(remote.key(SLOT, name))
    }

    /// The prefix of the rights log's keys built inside scripts.
    fn key_prefix(&self) -> Result<String> {
        self.key("")
    }

    fn meta(&self, conn: &Connection, key: &str) -> Result<Option<String>> {
        Ok(conn
            .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
            .query_row([key], |r| r.get(0))
            .optional()?)
    }

    fn set_meta(&self, conn: &Connection, key: &str, value: &str) -> Result<()> {
        conn.prepare_cached(
            "INSERT INTO meta (key, value) VALUES (?1, ?2) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )?
        .execute([key, value])?;
        Ok(())
    }

    /// This engine's id as a place: kept in the database for a durable
    /// engine (a restored copy is the same place), new at each open for an
    /// ephemeral one.
    pub fn place_id(&self) -> Result<String> {
        let (_, state) = self.rights_remote().ok_or_else(no_shared)?;
        if !state.durable {
            let mut place = state.place.borrow_mut();
            return Ok(place
                .get_or_insert_with(|| hex(&random_bytes::<12>()))
                .clone());
        }
        if let Some(id) = self.meta(self.conn, "rights.place")? {
            return Ok(id);
        }
        let id = hex(&random_bytes::<12>());
        self.set_meta(self.conn, "rights.place", &id)?;
        Ok(id)
    }

    /// Gives this engine a new place id: another open of the same database
    /// (a copy of its file) is live under the old one.
    fn new_place_id(&self) -> Result<String> {
        let (_, state) = self.rights_remote().ok_or_else(no_shared)?;
        let id = hex(&random_bytes::<12>());
        if state.durable {
            self.set_meta(self.conn, "rights.place", &id)?;
        } else {
            *state.place.borrow_mut() = Some(id.clone());
        }
        Ok(id)
    }

    /// This open's token.
    fn token(&self) -> Result<String> {
        let (_, state) = self.rights_remote().ok_or_else(no_shared)?;
        Ok(state
            .token
            .borrow_mut()
            .get_or_insert_with(|| hex(&random_bytes::<8>()))
            .clone())
    }

    fn position_key(&self) -> Result<String> {
        let (remote, _) = self.rights_remote().ok_or_else(no_shared)?;
        Ok(format!("rights.position.{}", remote.prefix()))
    }

    /// The position this engine applied; at its first follow, the log's
    /// start: even an engine that holds nobody yet keeps every erasure's
    /// tombstone (a new partition's stream may still hold events of
    /// subjects erased before it existed). Entries are small (hashes), and
    /// applying one about nobody here costs a tombstone row.
    async fn position(&self) -> Result<String> {
        let key = self.position_key()?;
        if let Some(p) = self.meta(self.conn, &key)? {
            return Ok(p);
        }
        self.set_meta(self.conn, &key, START)?;
        Ok(START.to_owned())
    }

    /// Every place, the store's time, and the log's last id; forgets the
    /// ephemeral places in `gone` first.
    async fn read_places(&self, gone: &[String]) -> Result<(Vec<Place>, i64, String)> {
        let (remote, _) = self.rights_remote().ok_or_else(no_shared)?;
        let me = self.place_id()?;
        let reply = remote
            .run(
                &PLACES,
                vec![self.key("places")?, self.key("log")?],
                gone.to_vec(),
            )
            .await?;
        let items = reply.tuple(3)?;
        let now = items[1].int()?;
        let mut places = Vec::new();
        for pair in items[0].list()?.chunks(2) {
            let [id, value] = pair else {
                return Err(garbled("the rights log's places have an odd length"));
            };
            // A damaged record (not written by an engine) names no place:
            // it is left out rather than failing every receipt and export.
            if let Ok(place) = place_of(id.text()?, value.text()?, now, &me) {
                places.push(place);
            }
        }
        places.sort_by(|a, b| a.label.cmp(&b.label).then(a.id.cmp(&b.id)));
        Ok((places, now, items[2].text()?.to_owned()))
    }

    /// The places following the rights log: durable ones until retired,
    /// ephemeral ones while live (silent ones are forgotten here).
    pub async fn places(&self) -> Result<Vec<Place>> {
        let (places, _, _) = self.read_places(&[]).await?;
        let gone: Vec<String> = places
            .iter()
            .filter(|p| !p.durable && !p.live && !p.this)
            .map(|p| p.id.clone())
            .collect();
        if gone.is_empty() {
            return Ok(places);
        }
        Ok(self.read_places(&gone).await?.0)
    }

    /// Forgets a durable place that will not come back (a machine gone for
    /// good): receipts stop waiting for it. A place that reported within
    /// the last 30 s is refused unless `force` (it may be running: a
    /// receipt would say complete without it). Returns whether it was known.
    pub async fn retire_place(&self, id: &str, force: bool) -> Result<bool> {
        crate::kernel::text::check("place", id, 64)?;
        let (remote, _) = self.rights_remote().ok_or_else(no_shared)?;
        let (places, _, _) = self.read_places(&[]).await?;
        if !force && places.iter().any(|p| p.id == id && p.live) {
            return Err(Error::invalid(
                "id",
                "is a live place (it reported within the last 30 s): stop it first, or pass force",
            ));
        }
        let n = remote
            .run(&RETIRE, vec![self.key("places")?], vec![id.to_owned()])
            .await?
            .int()?;
        Ok(n == 1)
    }

    /// Records this place's position and heartbeat, with what it did for
    /// the entries in `done`. If another open of the same place is alive (a
    /// copy of this database opened after it), the later open takes a new
    /// place id.
    async fn beat(&self, position: &str, done: &[(String, Value)]) -> Result<i64> {
        let (remote, state) = self.rights_remote().ok_or_else(no_shared)?;
        for _ in 0..3 {
            let mut args = vec![
                self.place_id()?,
                position.to_owned(),
                if state.durable { "1" } else { "0" }.to_owned(),
                state.label.replace('|', "/"),
                self.token()?,
                state.displaced.borrow().clone(),
                self.key_prefix()?,
            ];
            for (id, counts) in done {
                args.push(id.clone());
                args.push(counts.to_string());
            }
            let reply = remote.run(&BEAT, vec![self.key("places")?], args).await?;
            let items = reply.tuple(2)?;
            let now = items[0].int()?;
            if now >= 0 {
                let displaced = items[1].text()?;
                if !displaced.is_empty() {
                    *state.displaced.borrow_mut() = displaced.to_owned();
                }
                state.last_beat.set(now);
                return Ok(now);
            }
            // The open this one displaced is alive: this one is the copy.
            self.new_place_id()?;
            state.displaced.borrow_mut().clear();
        }
        Err(StoreError::Contended {
            detail: "another engine kept taking this place's id".into(),
        }
        .into())
    }

    /// The store hashes of `ids`.
    pub(super) async fn store_hashes(&self, ids: &[String]) -> Result<Vec<String>> {
        let salt = self.store_salt().await?;
        let mut out: Vec<String> = Vec::new();
        for id in ids {
            let h = subject::hash(&salt, id);
            if !out.contains(&h) {
                out.push(h);
            }
        }
        Ok(out)
    }

    /// The store's salt for subject hashes.
    pub(super) async fn store_salt(&self) -> Result<String> {
        self.shared_consent().ok_or_else(no_shared)?.salt().await
    }

    /// Appends an entry of `kind` about `subject` to the rights log, signed
    /// under the chain key if there is one. `forget`: hashes whose sealing
    /// keys are destroyed (an erasure or anonymisation of those ids).
    /// Returns the entry's id.
    pub(super) async fn publish(
        &self,
        kind: &str,
        own: Own,
        data: &Data,
        forget: &[String],
    ) -> Result<String> {
        let (remote, state) = self.rights_remote().ok_or_else(no_shared)?;
        let text = serde_json::to_string(data).unwrap_or_default();
        let sig = match self.config.chain_key() {
            Some(key) => signature(key, kind, &text),
            None => String::new(),
        };
        let mut args = vec![kind.to_owned(), text, sig, self.key_prefix()?];
        args.extend(forget.iter().cloned());
        let id = remote
            .run(&APPEND, vec![self.key("log")?], args)
            .await?
            .text()?
            .to_owned();
        state.subjects.borrow_mut().insert(id.clone(), own);
        Ok(id)
    }

    /// A rename's data: `to`'s hash, and `to` sealed under the key kept for
    /// it (made by the first rename to it).
    pub(super) async fn seal_rename(&self, data: &mut Data, to: &str) -> Result<()> {
        let (remote, _) = self.rights_remote().ok_or_else(no_shared)?;
        let salt = self.store_salt().await?;
        let to_hash = subject::hash(&salt, to);
        let key = remote
            .run(
                &SEAL,
                vec![self.key(&format!("seal:{to_hash}"))?],
                vec![hex(&random_bytes::<32>())],
            )
            .await?
            .text()?
            .to_owned();
        data.to_sealed = Some(seal_to(&key, &to_hash, to)?);
        data.to_hash = Some(to_hash);
        Ok(())
    }

    /// A new entry's data.
    pub(super) fn entry(&self, hashes: Vec<String>) -> Result<Data> {
        Ok(Data {
            h: hashes,
            at: self.clock.now_ms(),
            by: self.place_id()?,
            ..Data::default()
        })
    }

    /// What this engine did for its own entry `id` (applied by a follow).
    pub(super) fn take_mine(&self, id: &str) -> Option<Applied> {
        let (_, state) = self.rights_remote()?;
        state.mine.borrow_mut().remove(id)
    }

    /// Applies what the rights log holds that this engine has not applied
    /// yet: erasures, anonymisations, rectifications and withdrawals
    /// exercised on any engine sharing the store, to this engine's own
    /// database, each step in one transaction with the position reached;
    /// and answers export requests. Without a shared store it does nothing.
    /// The package calls it when an engine opens and then every `followMs`
    /// (250 ms by default); an engine that was down catches up here. An
    /// entry this build cannot read (a newer version's kind, or damaged
    /// data) stops it there with `STORAGE_ERROR`, rather than being passed
    /// over unapplied.
    pub async fn follow(&self) -> Result<Followed> {
        let mut out = Followed::default();
        let Some((remote, state)) = self.rights_remote() else {
            return Ok(out);
        };
        let salt = self.store_salt().await?;
        let log = self.key("log")?;
        let key = self.position_key()?;
        let registry = Registry::cached(self.conn, self.registry)?;
        let chain_key = self.config.chain_key();
        loop {
            let me = self.place_id()?;
            let position = self.position().await?;
            out.position = position.clone();
            let reply = remote
                .run(
                    &READ,
                    vec![log.clone()],
                    vec![position.clone(), READ_MAX.to_string()],
                )
                .await?;
            let items = reply.tuple(2)?;
            let read = entries(&items[0])?;
            let now = items[1].int()?;
            let Some(last) = read.last().map(|e| e.id.clone()) else {
                if now - state.last_beat.get() >= BEAT_MS {
                    self.beat(&position, &[]).await?;
                }
                return Ok(out);
            };
            // Each entry checked: its kind known, its data whole, its
            // signature good (with a chain key).
            let mut parsed: Vec<(&Entry, Option<Data>)> = Vec::with_capacity(read.len());
            for e in &read {
                if !KINDS.contains(&e.kind.as_str()) {
                    return Err(garbled(format!(
                        "rights-log entry {} is of a kind this engine does not know ({:?}): \
                         upgrade usertrail",
                        e.id,
                        e.kind.chars().take(32).collect::<String>()
                    )));
                }
                let data: Data = serde_json::from_str(&e.text).map_err(|err| {
                    garbled(format!("rights-log entry {} is damaged: {err}", e.id))
                })?;
                let signed = chain_key.is_none_or(|k| signature(k, &e.kind, &e.text) == e.sig);
                if signed {
                    parsed.push((e, Some(data)));
                } else {
                    out.refused += 1;
                    parsed.push((e, None));
                }
            }
            // The ids each entry's hashes stand for here, read once; and
            // the sealing keys of the renames.
            let mut wanted: HashSet<String> = HashSet::new();
            let mut seal_hashes: Vec<String> = Vec::new();
            for (_, d) in &parsed {
                if let Some(d) = d {
                    wanted.extend(d.h.iter().cloned());
                    wanted.extend(d.to_hash.iter().cloned());
                    if let Some(h) = &d.to_hash {
                        if !seal_hashes.contains(h) {
                            seal_hashes.push(h.clone());
                        }
                    }
                }
            }
            let mut seals: HashMap<String, String> = HashMap::new();
            if !seal_hashes.is_empty() {
                let keys = seal_hashes
                    .iter()
                    .map(|h| self.key(&format!("seal:{h}")))
                    .collect::<Result<Vec<_>>>()?;
                let got = remote.run(&SEALS, keys, vec![]).await?;
                for (h, k) in seal_hashes.iter().zip(got.list()?) {
                    if let Some(k) = k.opt_text()? {
                        seals.insert(h.clone(), k.to_owned());
                    }
                }
            }
            let found = local_ids(self.conn, &salt, &wanted)?;
            // The ids found under the entry's first hash (its subject's)
            // first: they are the subject's names as a user; those found
            // under the others are the anonymous ids linked to it.
            // The ids a rename the log could no longer tell would have
            // moved, kept as aliases of the new name's hash: read inside the
            // transaction, as the entry is applied, since an entry earlier
            // in the same read may have written them.
            let ids_of = |tx: &Connection, d: &Data| -> Result<EntryIds> {
                let mut ids = EntryIds::default();
                let mut aliases =
                    tx.prepare_cached("SELECT id FROM rights_aliases WHERE store_hash = ?1")?;
                for (i, h) in d.h.iter().enumerate() {
                    let mut here: Vec<String> = found.get(h).cloned().unwrap_or_default();
                    for a in aliases.query_map([h], |r| r.get::<_, String>(0))? {
                        here.push(a?);
                    }
                    for id in here {
                        if !ids.ids.contains(&id) {
                            ids.ids.push(id);
                            ids.users += usize::from(i == 0);
                        }
                    }
                }
                Ok(ids)
            };

            let tx = Transaction::new_unchecked(self.conn, TransactionBehavior::Immediate)?;
            if self.meta(&tx, &key)?.as_deref() != Some(position.as_str()) {
                // Another call applied these meanwhile: read again.
                drop(tx);
                continue;
            }
            let mut done: Vec<(String, Value)> = Vec::new();
            let mut exports: Vec<(String, EntryIds)> = Vec::new();
            let mut deleted = false;
            for (e, d) in &parsed {
                let Some(d) = d else { continue };
                let own = state.subjects.borrow_mut().remove(&e.id);
                let mut ids = ids_of(&tx, d)?;
                if let Some(o) = &own {
                    if !ids.ids.contains(&o.subject) && e.kind != "export" {
                        ids.ids.insert(0, o.subject.clone());
                        ids.users += 1;
                    }
                }
                let who = own.clone().unwrap_or_default();
                let erased_at = id_ms(&e.id);
                let applied = match e.kind.as_str() {
                    "erase" => {
                        let a = self.apply_erase(&tx, &e.id, d, &ids, &salt, erased_at, &who)?;
                        deleted = true;
                        Some(a)
                    }
                    "anonymize" => {
                        let a = self.apply_anonymize(
                            &tx, &e.id, d, &ids, &salt, &registry, erased_at, &who,
                        )?;
                        deleted |= a.ids > 0;
                        Some(a)
                    }
                    "rectify" => {
                        let to = d
                            .to_hash
                            .as_ref()
                            .and_then(|h| open_to(seals.get(h)?, h, d.to_sealed.as_deref()?));
                        let a = self.apply_rectify(&tx, &e.id, d, &ids.ids, to.as_deref(), &who)?;
                        if a.ids > 0 {
                            if let Some(to) = &to {
                                self.queue_renamed(&tx, to)?;
                            }
                        }
                        Some(a)
                    }
                    "withdraw" => {
                        let a = self.apply_withdraw(&tx, &e.id, d, &ids, &salt, erased_at, &who)?;
                        deleted |= a.ids > 0;
                        Some(a)
                    }
                    _ => {
                        // An export request: answered after the commit.
                        let live = d.until.is_some_and(|u| u > now);
                        if d.by != me && live {
                            if let Some(req) = &d.req {
                                exports.push((req.clone(), ids));
                            }
                        }
                        None
                    }
                };
                if let Some(a) = applied {
                    done.push((e.id.clone(), json!({ "ids": a.ids, "counts": a.counts })));
                    if d.by == me {
                        state.mine.borrow_mut().insert(e.id.clone(), a);
                    }
                }
                out.applied += 1;
            }
            self.set_meta(&tx, &key, &last)?;
            tx.commit()?;
            if deleted {
                crate::store::scrub::after_delete(self.conn, None)?;
            }
            for (req, ids) in exports {
                self.answer(remote, &req, &ids, &me).await?;
                out.answered += 1;
            }
            self.beat(&last, &done).await?;
            out.position = last;
            if read.len() < READ_MAX as usize {
                out.renamed = self.renamed_pending()?;
                return Ok(out);
            }
        }
    }

    /// Records that `user`'s events were renamed here, for the pipeline to
    /// move them to the user's partition (kept until it has: a move that
    /// fails is tried again at the next step). Only on an engine that is a
    /// pipeline's partition ([`Privacy::track_renames`]).
    fn queue_renamed(&self, tx: &Connection, user: &str) -> Result<()> {
        if self.meta(tx, "rights.track_renames")?.is_none() {
            return Ok(());
        }
        let mut list = self.renamed_in(tx)?;
        if !list.iter().any(|u| u == user) {
            list.push(user.to_owned());
        }
        self.set_meta(
            tx,
            "rights.renamed",
            &serde_json::to_string(&list).unwrap_or_default(),
        )
    }

    fn renamed_in(&self, conn: &Connection) -> Result<Vec<String>> {
        Ok(self
            .meta(conn, "rights.renamed")?
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default())
    }

    /// Makes this engine keep the users renamed here until
    /// [`Privacy::renamed_done`]: a pipeline's partition, which moves their
    /// events to their new partition.
    pub fn track_renames(&self) -> Result<()> {
        if self.meta(self.conn, "rights.track_renames")?.is_none() {
            self.set_meta(self.conn, "rights.track_renames", "1")?;
        }
        Ok(())
    }

    /// The renamed users whose events this engine has not moved yet (see
    /// [`Followed::renamed`]).
    pub fn renamed_pending(&self) -> Result<Vec<String>> {
        self.renamed_in(self.conn)
    }

    /// Marks `user`'s renamed events as moved.
    pub fn renamed_done(&self, user: &str) -> Result<()> {
        let list: Vec<String> = self
            .renamed_in(self.conn)?
            .into_iter()
            .filter(|u| u != user)
            .collect();
        self.set_meta(
            self.conn,
            "rights.renamed",
            &serde_json::to_string(&list).unwrap_or_default(),
        )
    }

    /// A scope over `ids` found here: the subject's names as a user, each
    /// with the anonymous ids linked to it in this database, then the
    /// entry's linked ids. Only the subject's names are followed to their
    /// links: a linked id can be another user's user id, whose links are
    /// that user's devices (see `subject::Scope`).
    fn scope_of(&self, tx: &Connection, ids: &EntryIds) -> Result<Scope> {
        let users = &ids.ids[..ids.users.min(ids.ids.len())];
        let mut all: Vec<String> = users.to_vec();
        for id in users {
            for linked in subject::linked_ids(tx, id)?.into_iter().skip(1) {
                if !all.contains(&linked) {
                    all.push(linked);
                }
            }
        }
        for id in &ids.ids[users.len()..] {
            if !all.contains(id) {
                all.push(id.clone());
            }
        }
        Scope::of_ids(tx, all, users.len())
    }

    /// Keeps a tombstone for each of `hashes` and each id of `scope`: a
    /// partition drops events of those ids that arrive later but were
    /// produced before `d.at` (the erasing engine's clock) or appended to
    /// its stream before `logged` (the entry's time, the store's clock).
    fn tombstones(
        &self,
        tx: &Connection,
        d: &Data,
        scope: Option<&Scope>,
        salt: &str,
        logged: i64,
    ) -> Result<()> {
        // The subject's names reach its events as a user too; a linked id
        // only those without a user id (its text can be another user's id).
        let mut tomb = tx.prepare_cached(
            "INSERT INTO rights_tombstones (store_hash, erased_at, logged_at, as_user) \
             VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (store_hash) DO UPDATE SET erased_at = max(erased_at, excluded.erased_at), \
             logged_at = max(logged_at, excluded.logged_at), as_user = max(as_user, excluded.as_user)",
        )?;
        for (i, h) in d.h.iter().enumerate() {
            tomb.execute(params![h, d.at, logged, i == 0])?;
        }
        if let Some(scope) = scope {
            for (i, id) in scope.ids.iter().enumerate() {
                tomb.execute(params![
                    subject::hash(salt, id),
                    d.at,
                    logged,
                    i < scope.users
                ])?;
            }
        }
        Ok(())
    }

    /// Forgets the aliases of `hashes` (see `rights_aliases`), and the
    /// erased or anonymised `ids` among the renamed users still to move.
    fn drop_aliases(&self, tx: &Connection, hashes: &[String], ids: &[String]) -> Result<()> {
        let mut stmt = tx.prepare_cached("DELETE FROM rights_aliases WHERE store_hash = ?1")?;
        for h in hashes {
            stmt.execute([h])?;
        }
        let list = self.renamed_in(tx)?;
        if list.iter().any(|u| ids.contains(u)) {
            let kept: Vec<&String> = list.iter().filter(|u| !ids.contains(u)).collect();
            self.set_meta(
                tx,
                "rights.renamed",
                &serde_json::to_string(&kept).unwrap_or_default(),
            )?;
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn apply_erase(
        &self,
        tx: &Connection,
        entry: &str,
        d: &Data,
        ids: &EntryIds,
        salt: &str,
        at: i64,
        who: &Own,
    ) -> Result<Applied> {
        if ids.ids.is_empty() {
            self.tombstones(tx, d, None, salt, at)?;
            return Ok(Applied::default());
        }
        let scope = self.scope_of(tx, ids)?;
        self.tombstones(tx, d, Some(&scope), salt, at)?;
        let reason = who
            .reason
            .clone()
            .unwrap_or_else(|| format!("rights-log entry {entry}"));
        let report = self.erase_scope_in(
            tx,
            &scope,
            &reason,
            who.actor.as_deref().unwrap_or("rights-log"),
            BTreeMap::new(),
            Some(entry),
        )?;
        self.drop_aliases(tx, &d.h, &scope.ids)?;
        Ok(Applied {
            counts: report.counts,
            audit_seq: Some(report.audit_seq),
            ids: scope.ids.len(),
            subject_hash: Some(report.subject_hash),
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn apply_anonymize(
        &self,
        tx: &Connection,
        entry: &str,
        d: &Data,
        ids: &EntryIds,
        salt: &str,
        registry: &Registry,
        at: i64,
        who: &Own,
    ) -> Result<Applied> {
        if ids.ids.is_empty() {
            self.tombstones(tx, d, None, salt, at)?;
            return Ok(Applied::default());
        }
        let scope = self.scope_of(tx, ids)?;
        // Events of these ids still on their way are not the anonymised
        // data: they go as an erasure's would.
        self.tombstones(tx, d, Some(&scope), salt, at)?;
        // Each place draws its own pseudonyms (in the id's partition): no
        // entry maps an id to its pseudonym, so nothing can reverse it.
        let partitions = self.rights_remote().map_or(1, |(_, s)| s.partitions.max(1));
        let mut pick = |id: &str| pseudonym_for(id, partitions);
        let actor = who.actor.as_deref().unwrap_or("rights-log");
        let report =
            self.anonymize_scope_in(tx, &scope, actor, registry, &mut pick, Some(entry))?;
        self.drop_aliases(tx, &d.h, &scope.ids)?;
        Ok(Applied {
            counts: report.counts,
            audit_seq: Some(report.audit_seq),
            ids: scope.ids.len(),
            subject_hash: Some(scope.subject_hash),
        })
    }

    /// A rename here of the ids `ids` (found by the old name's hash) to
    /// `to`; with `to` unknown (its sealing key is gone: the new name was
    /// erased or anonymised before this engine caught up), the old name's
    /// ids are kept as aliases of the new name's hash, so that the erasure
    /// that follows in the log reaches them.
    fn apply_rectify(
        &self,
        tx: &Connection,
        entry: &str,
        d: &Data,
        ids: &[String],
        to: Option<&str>,
        who: &Own,
    ) -> Result<Applied> {
        let mut out = Applied::default();
        let Some(to) = to else {
            if let Some(h) = &d.to_hash {
                let mut stmt = tx.prepare_cached(
                    "INSERT INTO rights_aliases (store_hash, id) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                )?;
                for id in ids {
                    stmt.execute([h, id])?;
                }
            }
            return Ok(out);
        };
        subject::check("to", to)?;
        for from in ids.iter().filter(|i| i.as_str() != to) {
            let reason = who
                .reason
                .clone()
                .unwrap_or_else(|| format!("rights-log entry {entry}"));
            let counts = self.rectify_in(
                tx,
                from,
                to,
                Some(&reason),
                who.actor.as_deref().unwrap_or("rights-log"),
                Some(entry),
            )?;
            for (t, n) in counts {
                *out.counts.entry(t).or_insert(0) += n;
            }
            out.ids += 1;
        }
        Ok(out)
    }

    #[allow(clippy::too_many_arguments)]
    fn apply_withdraw(
        &self,
        tx: &Connection,
        entry: &str,
        d: &Data,
        ids: &EntryIds,
        salt: &str,
        at: i64,
        who: &Own,
    ) -> Result<Applied> {
        let purposes = d.purposes.clone().unwrap_or_default();
        let analytics = purposes.iter().any(|p| p == super::ANALYTICS);
        if ids.ids.is_empty() {
            if analytics {
                self.tombstones(tx, d, None, salt, at)?;
            }
            return Ok(Applied::default());
        }
        let scope = self.scope_of(tx, ids)?;
        if analytics {
            // What the subject withdrew from analytics is not to be stored
            // when it arrives late either.
            self.tombstones(tx, d, Some(&scope), salt, at)?;
        }
        let counts = super::erase::purpose_data(tx, &scope, &purposes)?;
        let seq = crate::store::audit::Log::new(tx, self.config.chain_key()).append_hashed(
            self.clock.now_ms(),
            who.actor.as_deref().unwrap_or("rights-log"),
            "consent.erase",
            None,
            Some(&scope.subject_hash),
            &json!({ "purposes": purposes, "counts": counts, "rights": entry }),
        )?;
        Ok(Applied {
            counts,
            audit_seq: Some(seq),
            ids: scope.ids.len(),
            subject_hash: Some(scope.subject_hash),
        })
    }

    /// Answers export request `req` with this engine's rows about `ids`.
    async fn answer(&self, remote: &Remote, req: &str, ids: &EntryIds, me: &str) -> Result<()> {
        let tables = if ids.ids.is_empty() {
            Vec::new()
        } else {
            let scope = self.scope_of(self.conn, ids)?;
            super::export::rows(self.conn, &scope)?
        };
        let body: Vec<Value> = tables
            .iter()
            .filter(|(_, rows)| !rows.is_empty())
            .map(|(name, rows)| {
                let rows: Vec<Value> = rows
                    .iter()
                    .map(|r| Value::Array(r.iter().map(sql_json).collect()))
                    .collect();
                json!([name, rows])
            })
            .collect();
        // Taken only while the request is open: a reply later than the
        // asker's wait is dropped, not left in the store.
        remote
            .run(
                &REPLY,
                vec![
                    self.key(&format!("req:{req}"))?,
                    self.key(&format!("reply:{req}"))?,
                ],
                vec![me.to_owned(), Value::Array(body).to_string()],
            )
            .await?;
        Ok(())
    }

    /// Asks every other place for its rows about `hashes` and waits for the
    /// live ones to answer, at most `timeout_ms`. Returns each place with
    /// its rows, or `None` for a place that did not answer (not live, or
    /// too slow).
    pub(super) async fn gather(
        &self,
        subject: &str,
        hashes: Vec<String>,
        timeout_ms: u32,
    ) -> Result<Vec<Answer>> {
        let (remote, _) = self.rights_remote().ok_or_else(no_shared)?;
        let (places, now, _) = self.read_places(&[]).await?;
        let others: Vec<Place> = places
            .into_iter()
            .filter(|p| !p.this && (p.durable || p.live))
            .collect();
        if others.is_empty() {
            return Ok(Vec::new());
        }
        let req = hex(&random_bytes::<12>());
        let marker = self.key(&format!("req:{req}"))?;
        let replies = self.key(&format!("reply:{req}"))?;
        remote
            .run(
                &ASK,
                vec![marker.clone()],
                vec![timeout_ms.max(1).to_string()],
            )
            .await?;
        let mut data = self.entry(hashes)?;
        data.req = Some(req.clone());
        data.until = Some(now + i64::from(timeout_ms));
        self.publish("export", Own::new(subject, None, None), &data, &[])
            .await?;
        let waiting: Vec<&Place> = others.iter().filter(|p| p.live).collect();
        let mut got: HashMap<String, String> = HashMap::new();
        // Poll until every live place answered or the time is up; at most
        // 600 polls, whatever the transport's sleep does.
        let step = 50u32;
        let mut waited = 0u32;
        for _ in 0..600 {
            let reply = remote
                .run(
                    &REPLIES,
                    vec![marker.clone(), replies.clone()],
                    vec!["0".into()],
                )
                .await?;
            for pair in reply.list()?.chunks(2) {
                if let [k, v] = pair {
                    got.insert(k.text()?.to_owned(), v.text()?.to_owned());
                }
            }
            if waiting.iter().all(|p| got.contains_key(&p.id)) || waited >= timeout_ms {
                break;
            }
            remote.sleep(step).await;
            waited += step;
        }
        // Closed: replies coming after this are dropped.
        remote
            .run(&REPLIES, vec![marker, replies], vec!["1".into()])
            .await?;
        let mut out = Vec::new();
        for place in others {
            let tables = match got.get(&place.id) {
                None => None,
                Some(text) => {
                    let v: Value = serde_json::from_str(text)
                        .map_err(|_| garbled("an export reply that is not JSON"))?;
                    let mut tables = Vec::new();
                    for t in v.as_array().into_iter().flatten() {
                        let (Some(name), Some(rows)) = (
                            t.get(0).and_then(Value::as_str),
                            t.get(1).and_then(Value::as_array),
                        ) else {
                            return Err(garbled("an export reply of another shape"));
                        };
                        let rows = rows
                            .iter()
                            .map(|r| {
                                r.as_array()
                                    .map(|cells| cells.iter().map(json_sql).collect())
                                    .unwrap_or_default()
                            })
                            .collect();
                        tables.push((name.to_owned(), rows));
                    }
                    Some(tables)
                }
            };
            out.push(Answer { place, tables });
        }
        Ok(out)
    }

    /// Where the rights-log entry `id` stands: which places have applied
    /// it. Silent ephemeral places are forgotten on the way.
    pub async fn receipt(&self, id: &str) -> Result<Receipt> {
        if id.len() > 64 || id_key(id) == (0, 0) {
            return Err(Error::invalid(
                "id",
                "must be a rights-log entry id such as '1700000000000-0'",
            ));
        }
        let (remote, _) = self.rights_remote().ok_or_else(no_shared)?;
        let places = self.places().await?;
        let reply = remote
            .run(
                &RECEIPT,
                vec![self.key("log")?, self.key(&format!("done:{id}"))?],
                vec![id.to_owned()],
            )
            .await?;
        let items = reply.tuple(2)?;
        let found = entries(&items[0])?;
        let entry = found.first().ok_or_else(|| {
            Error::from(crate::error::PrivacyError::UnknownReceipt { id: id.to_owned() })
        })?;
        let mut counts: HashMap<String, Value> = HashMap::new();
        for pair in items[1].list()?.chunks(2) {
            if let [k, v] = pair {
                if let Ok(v) = serde_json::from_str(v.text()?) {
                    counts.insert(k.text()?.to_owned(), v);
                }
            }
        }
        let statuses: Vec<PlaceStatus> = places
            .into_iter()
            .map(|p| PlaceStatus {
                applied: reached(&p.position, id),
                counts: counts.get(&p.id).cloned(),
                place: p,
            })
            .collect();
        let complete = statuses
            .iter()
            .all(|s| s.applied || (!s.place.durable && !s.place.live));
        Ok(Receipt {
            id: id.to_owned(),
            kind: entry.kind.clone(),
            at: serde_json::from_str::<Data>(&entry.text).map_or(0, |d| d.at),
            complete,
            places: statuses,
        })
    }

    /// [`Privacy::receipt`], waiting up to `wait_ms` for it to be complete.
    pub async fn receipt_after(&self, id: &str, wait_ms: u32) -> Result<Receipt> {
        let (remote, _) = self.rights_remote().ok_or_else(no_shared)?;
        let step = 50u32;
        let mut waited = 0u32;
        loop {
            let r = self.receipt(id).await?;
            if r.complete || waited >= wait_ms {
                return Ok(r);
            }
            remote.sleep(step).await;
            waited += step;
        }
    }
}

/// A random pseudonym for `id` that lands in `id`'s pipeline partition, so
/// that anonymised events stay where the partition's merges expect them.
pub(super) fn pseudonym_for(id: &str, partitions: u32) -> String {
    let want = crate::kernel::ids::partition_of(id, partitions);
    loop {
        let p = super::erase::pseudonym();
        if crate::kernel::ids::partition_of(&p, partitions) == want {
            return p;
        }
    }
}

fn no_shared() -> Error {
    Error::invalid(
        "shared",
        "the rights log needs a shared store: open with shared: redisStore(client)",
    )
}

#[cfg(test)]
mod tests {
    #[cfg(all(target_family = "wasm", target_os = "unknown"))]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn positions_order_as_stream_ids() {
        assert!(reached("5-1", "5-1"));
        assert!(reached("5-10", "5-9"));
        assert!(!reached("4-99", "5-0"));
        assert!(!reached("0-0", "1-0"));
    }

    #[test]
    fn reply_values_round_trip() {
        for v in [
            Sql::Null,
            Sql::Integer(-7),
            Sql::Integer(i64::MAX),
            Sql::Real(0.5),
            Sql::Real(1.0),
            Sql::Text("a \"b\"".into()),
            Sql::Blob(vec![0, 1, 255]),
        ] {
            assert_eq!(json_sql(&sql_json(&v)), v);
        }
    }

    #[test]
    fn pseudonyms_stay_in_their_partition() {
        for id in ["alice", "bob", "anon-7"] {
            let p = pseudonym_for(id, 4);
            assert_eq!(
                crate::kernel::ids::partition_of(&p, 4),
                crate::kernel::ids::partition_of(id, 4)
            );
            assert!(p.starts_with("anon-"));
        }
    }

    #[test]
    fn place_records_are_read_strictly() {
        let p = place_of("x", "5-0|1000|1|tok|a|b", 2000, "x").unwrap();
        assert_eq!(
            (p.durable, p.label.as_str(), p.live, p.this),
            (true, "a|b", true, true)
        );
        assert!(place_of("x", "5-0|soon|1|t|a", 0, "y").is_err());
        assert!(place_of("x", "garbage", 0, "y").is_err());
        assert!(place_of("x", "not-an-id|1|1|t|a", 0, "y").is_err());
        let old = place_of("x", "5-0|1000|0|t|", 1000 + LIVE_MS + 1, "y").unwrap();
        assert!(!old.live);
    }
}
