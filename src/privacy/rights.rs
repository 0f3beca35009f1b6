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
//! each engine finds the ids those hashes stand for among its own. Only a
//! rectification carries an id in clear (the new one, which engines must
//! write); when that id is later erased or anonymised, the entries that
//! carry it are deleted from the log.
//!
//! Engines register as *places* in `<P>:{r}:places` with the position
//! they applied and a heartbeat: durable ones (a file, OPFS) stay until
//! retired, since they may come back; ephemeral ones (memory) are forgotten
//! once silent, since their data died with them. A receipt says which
//! places have applied an entry.

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

static APPEND: Script = script!("append");
static READ: Script = script!("read");
static BEAT: Script = script!("beat");
static PLACES: Script = script!("places");
static RECEIPT: Script = script!("receipt");
static RETIRE: Script = script!("retire");
static REPLY: Script = script!("reply");
static REPLIES: Script = script!("replies");
static WAS: Script = script!("was");

/// The slot of every key of the rights log.
const SLOT: &str = "r";
/// Entries read and applied in one step at most.
const READ_MAX: u32 = 256;
/// A place records its heartbeat at least this often while it follows.
const BEAT_MS: i64 = 10_000;
/// A place silent for longer is not live: an ephemeral one is forgotten, a
/// durable one is waited for (it applies what it missed when it opens).
pub const LIVE_MS: i64 = 30_000;
/// Export replies nobody collects go after this long.
const REPLY_TTL_MS: i64 = 300_000;
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
    /// The store's time (ms) of the last heartbeat.
    last_beat: Cell<i64>,
    /// What this engine did for the entries it appended, by entry id, for
    /// the caller waiting on its own right.
    mine: RefCell<HashMap<String, Applied>>,
    /// The subject of each entry this engine appended and has not applied
    /// yet: its own audit tombstone names it.
    subjects: RefCell<HashMap<String, String>>,
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

/// One entry's data, as it travels through the log. Ids appear only as
/// store-salted hashes, except a rectification's new id.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct Data {
    /// The hashes of the ids the entry is about.
    pub(super) h: Vec<String>,
    /// When the right was exercised, ms.
    pub(super) at: i64,
    /// The place that appended it.
    pub(super) by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) actor: Option<String>,
    /// An anonymisation's pseudonym per hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) pseudonyms: Option<BTreeMap<String, String>>,
    /// A rectification's new id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) to: Option<String>,
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
    data: Option<Data>,
}

/// What [`Privacy::follow`] did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Followed {
    /// Entries applied in this call.
    pub applied: u64,
    /// Export requests answered.
    pub answered: u64,
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

/// A place's record: `position|seen|durable|label`.
fn place_of(id: &str, value: &str, now: i64, me: &str) -> Result<Place> {
    let mut parts = value.splitn(4, '|');
    let bad = || {
        garbled(format!(
            "the rights log's record of place {id:?} is damaged"
        ))
    };
    let position = parts.next().ok_or_else(bad)?.to_owned();
    let last_seen: i64 = parts.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
    let durable = parts.next().ok_or_else(bad)? == "1";
    let label = parts.next().unwrap_or("").to_owned();
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
        let (mut kind, mut data) = (String::new(), None);
        for f in pair[1].list()?.chunks(2) {
            match (f.first().map(Reply::text), f.get(1).map(Reply::text)) {
                (Some(Ok("k")), Some(Ok(v))) => kind = v.to_owned(),
                (Some(Ok("d")), Some(Ok(v))) => data = serde_json::from_str::<Data>(v).ok(),
                _ => {}
            }
        }
        out.push(Entry { id, kind, data });
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
    UNION SELECT user_id FROM sessions WHERE user_id IS NOT NULL \
    UNION SELECT session_id FROM sessions WHERE user_id IS NULL \
    UNION SELECT subject FROM prefs UNION SELECT subject FROM pref_history \
    UNION SELECT subject FROM consents \
    UNION SELECT subject FROM consent_ledger WHERE subject IS NOT NULL \
    UNION SELECT user_id FROM experiment_assignments \
    UNION SELECT user_key FROM rollup_user_hours \
    UNION SELECT json_extract(event, '$.userId') FROM outbox \
    UNION SELECT json_extract(event, '$.anonymousId') FROM outbox \
    UNION SELECT json_extract(event, '$.userId') FROM quarantine \
    UNION SELECT json_extract(event, '$.anonymousId') FROM quarantine \
    UNION SELECT subject FROM audit_log WHERE subject IS NOT NULL";

/// The ids of this database whose store hash is in `wanted`, by hash. It
/// reads every distinct id once: the cost of a step that has entries to
/// apply is the number of ids the engine holds, not its events.
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

    fn position_key(&self) -> Result<String> {
        let (remote, _) = self.rights_remote().ok_or_else(no_shared)?;
        Ok(format!("rights.position.{}", remote.prefix()))
    }

    /// Whether this database holds nothing about anyone yet.
    fn holds_nobody(&self) -> Result<bool> {
        Ok(self
            .conn
            .prepare_cached(&format!("SELECT NOT EXISTS ({LOCAL_IDS} LIMIT 1)"))?
            .query_row([], |r| r.get(0))?)
    }

    /// The position this engine applied; at its first follow, the log's
    /// end for a database that holds nobody yet (nothing in the log is
    /// about it), else the log's start.
    async fn position(&self) -> Result<String> {
        let key = self.position_key()?;
        if let Some(p) = self.meta(self.conn, &key)? {
            return Ok(p);
        }
        let start = if self.holds_nobody()? {
            let (_, _, tail) = self.read_places(&[]).await?;
            if tail.is_empty() {
                START.to_owned()
            } else {
                tail
            }
        } else {
            START.to_owned()
        };
        self.set_meta(self.conn, &key, &start)?;
        Ok(start)
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
            places.push(place_of(id.text()?, value.text()?, now, &me)?);
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
    /// good): receipts stop waiting for it. Returns whether it was known.
    pub async fn retire_place(&self, id: &str) -> Result<bool> {
        crate::kernel::text::check("place", id, 64)?;
        let (remote, _) = self.rights_remote().ok_or_else(no_shared)?;
        let n = remote
            .run(&RETIRE, vec![self.key("places")?], vec![id.to_owned()])
            .await?
            .int()?;
        Ok(n == 1)
    }

    /// Records this place's position and heartbeat, with what it did for
    /// the entries in `done`.
    async fn beat(&self, position: &str, done: &[(String, Value)]) -> Result<i64> {
        let (remote, state) = self.rights_remote().ok_or_else(no_shared)?;
        let mut args = vec![
            self.place_id()?,
            position.to_owned(),
            if state.durable { "1" } else { "0" }.to_owned(),
            state.label.replace('|', "/"),
            self.key_prefix()?,
        ];
        for (id, counts) in done {
            args.push(id.clone());
            args.push(counts.to_string());
        }
        let now = remote
            .run(&BEAT, vec![self.key("places")?], args)
            .await?
            .int()?;
        state.last_beat.set(now);
        Ok(now)
    }

    /// The store hashes of `ids` and of the names they had before
    /// rectifications.
    pub(super) async fn store_hashes(&self, ids: &[String]) -> Result<Vec<String>> {
        let (remote, _) = self.rights_remote().ok_or_else(no_shared)?;
        let salt = self.store_salt().await?;
        let mut out: Vec<String> = Vec::new();
        for id in ids {
            let h = subject::hash(&salt, id);
            let was = remote
                .run(&WAS, vec![self.key(&format!("was:{h}"))?], vec![])
                .await?;
            if !out.contains(&h) {
                out.push(h);
            }
            for old in was.list()? {
                let old = old.text()?.to_owned();
                if !out.contains(&old) {
                    out.push(old);
                }
            }
        }
        Ok(out)
    }

    /// The store's salt for subject hashes.
    pub(super) async fn store_salt(&self) -> Result<String> {
        self.shared_consent().ok_or_else(no_shared)?.salt().await
    }

    /// Appends an entry of `kind` to the rights log. `forget`: hashes whose
    /// clear ids must leave the log; `carried`: the clear id this entry
    /// carries (a rectification's new id); `renamed`: the new and old
    /// hashes of a rectification. Returns the entry's id.
    pub(super) async fn publish(
        &self,
        kind: &str,
        subject: &str,
        data: &Data,
        forget: &[String],
        carried: Option<&str>,
        renamed: Option<(&str, &str)>,
    ) -> Result<String> {
        let (remote, state) = self.rights_remote().ok_or_else(no_shared)?;
        let salt = self.store_salt().await?;
        let mut args = vec![
            kind.to_owned(),
            serde_json::to_string(data).unwrap_or_default(),
            self.key_prefix()?,
            forget.len().to_string(),
        ];
        args.extend(forget.iter().cloned());
        args.push(carried.map(|c| subject::hash(&salt, c)).unwrap_or_default());
        let (new, old) = renamed.unwrap_or(("", ""));
        args.push(new.to_owned());
        args.push(old.to_owned());
        let id = remote
            .run(&APPEND, vec![self.key("log")?], args)
            .await?
            .text()?
            .to_owned();
        state
            .subjects
            .borrow_mut()
            .insert(id.clone(), subject.to_owned());
        Ok(id)
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
    /// (250 ms by default); an engine that was down catches up here.
    pub async fn follow(&self) -> Result<Followed> {
        let mut out = Followed::default();
        let Some((remote, state)) = self.rights_remote() else {
            return Ok(out);
        };
        let salt = self.store_salt().await?;
        let me = self.place_id()?;
        let log = self.key("log")?;
        let key = self.position_key()?;
        let registry = Registry::cached(self.conn, self.registry)?;
        loop {
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
            // The ids each entry's hashes stand for here, read once.
            let mut wanted: HashSet<String> = HashSet::new();
            for e in &read {
                if let Some(d) = &e.data {
                    wanted.extend(d.h.iter().cloned());
                }
            }
            let found = local_ids(self.conn, &salt, &wanted)?;
            let ids_of = |d: &Data| -> Vec<String> {
                let mut ids: Vec<String> = Vec::new();
                for h in &d.h {
                    for id in found.get(h).into_iter().flatten() {
                        if !ids.contains(id) {
                            ids.push(id.clone());
                        }
                    }
                }
                ids
            };

            let tx = Transaction::new_unchecked(self.conn, TransactionBehavior::Immediate)?;
            if self.meta(&tx, &key)?.as_deref() != Some(position.as_str()) {
                // Another call applied these meanwhile: read again.
                drop(tx);
                continue;
            }
            let mut done: Vec<(String, Value)> = Vec::new();
            let mut exports: Vec<(String, Vec<String>)> = Vec::new();
            let mut deleted = false;
            for e in &read {
                let Some(d) = &e.data else { continue };
                let own = state.subjects.borrow_mut().remove(&e.id);
                let mut ids = ids_of(d);
                if let Some(s) = &own {
                    if !ids.contains(s) {
                        ids.insert(0, s.clone());
                    }
                }
                let applied = match e.kind.as_str() {
                    "erase" => {
                        let a = self.apply_erase(&tx, &e.id, d, &ids, &salt)?;
                        deleted = true;
                        Some(a)
                    }
                    "anonymize" => {
                        let a = self.apply_anonymize(&tx, &e.id, d, &ids, &salt, &registry)?;
                        deleted |= a.ids > 0;
                        Some(a)
                    }
                    "rectify" => {
                        let a = self.apply_rectify(&tx, &e.id, d, &ids)?;
                        if a.ids > 0 {
                            out.renamed.extend(d.to.clone());
                        }
                        Some(a)
                    }
                    "withdraw" => {
                        let a = self.apply_withdraw(&tx, &e.id, d, &ids)?;
                        deleted |= a.ids > 0;
                        Some(a)
                    }
                    "export" => {
                        let live = d.until.is_some_and(|u| u > now);
                        if d.by != me && live {
                            if let Some(req) = &d.req {
                                exports.push((req.clone(), ids));
                            }
                        }
                        None
                    }
                    _ => None,
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
                return Ok(out);
            }
        }
    }

    /// A scope over `ids` found here: each with the anonymous ids linked to
    /// it in this database.
    fn scope_of(&self, tx: &Connection, ids: &[String]) -> Result<Scope> {
        let mut all: Vec<String> = Vec::new();
        for id in ids {
            for linked in subject::linked_ids(tx, id)? {
                if !all.contains(&linked) {
                    all.push(linked);
                }
            }
        }
        Scope::of_ids(tx, all)
    }

    fn apply_erase(
        &self,
        tx: &Connection,
        entry: &str,
        d: &Data,
        ids: &[String],
        salt: &str,
    ) -> Result<Applied> {
        let mut tomb = tx.prepare_cached(
            "INSERT INTO rights_tombstones (store_hash, erased_at) VALUES (?1, ?2) \
             ON CONFLICT (store_hash) DO UPDATE SET erased_at = max(erased_at, excluded.erased_at)",
        )?;
        for h in &d.h {
            tomb.execute(params![h, d.at])?;
        }
        if ids.is_empty() {
            return Ok(Applied::default());
        }
        let scope = self.scope_of(tx, ids)?;
        // The ids linked here are erased too: their late events go as well.
        for id in &scope.ids {
            tomb.execute(params![subject::hash(salt, id), d.at])?;
        }
        let report = self.erase_scope_in(
            tx,
            &scope,
            d.reason.as_deref().unwrap_or(""),
            d.actor.as_deref().unwrap_or("host"),
            BTreeMap::new(),
            Some(entry),
        )?;
        Ok(Applied {
            counts: report.counts,
            audit_seq: Some(report.audit_seq),
            ids: scope.ids.len(),
            subject_hash: Some(report.subject_hash),
        })
    }

    fn apply_anonymize(
        &self,
        tx: &Connection,
        entry: &str,
        d: &Data,
        ids: &[String],
        salt: &str,
        registry: &Registry,
    ) -> Result<Applied> {
        if ids.is_empty() {
            return Ok(Applied::default());
        }
        let scope = self.scope_of(tx, ids)?;
        let given = d.pseudonyms.clone().unwrap_or_default();
        let partitions = self.rights_remote().map_or(1, |(_, s)| s.partitions.max(1));
        let mut pick = |id: &str| {
            given
                .get(&subject::hash(salt, id))
                .cloned()
                .unwrap_or_else(|| pseudonym_for(id, partitions))
        };
        let report = self.anonymize_scope_in(
            tx,
            &scope,
            d.actor.as_deref().unwrap_or("host"),
            registry,
            &mut pick,
            Some(entry),
        )?;
        Ok(Applied {
            counts: report.counts,
            audit_seq: Some(report.audit_seq),
            ids: scope.ids.len(),
            subject_hash: Some(scope.subject_hash),
        })
    }

    fn apply_rectify(
        &self,
        tx: &Connection,
        entry: &str,
        d: &Data,
        ids: &[String],
    ) -> Result<Applied> {
        let Some(to) = d.to.as_deref() else {
            return Ok(Applied::default());
        };
        let mut out = Applied::default();
        for from in ids.iter().filter(|i| i.as_str() != to) {
            let counts = self.rectify_in(
                tx,
                from,
                to,
                d.reason.as_deref(),
                d.actor.as_deref().unwrap_or("host"),
                Some(entry),
            )?;
            for (t, n) in counts {
                *out.counts.entry(t).or_insert(0) += n;
            }
            out.ids += 1;
        }
        Ok(out)
    }

    fn apply_withdraw(
        &self,
        tx: &Connection,
        entry: &str,
        d: &Data,
        ids: &[String],
    ) -> Result<Applied> {
        if ids.is_empty() {
            return Ok(Applied::default());
        }
        let scope = self.scope_of(tx, ids)?;
        let purposes = d.purposes.clone().unwrap_or_default();
        let counts = super::erase::purpose_data(tx, &scope, &purposes)?;
        let seq = crate::store::audit::Log::new(tx, self.config.chain_key()).append_hashed(
            self.clock.now_ms(),
            d.actor.as_deref().unwrap_or("subject"),
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
    async fn answer(&self, remote: &Remote, req: &str, ids: &[String], me: &str) -> Result<()> {
        let tables = if ids.is_empty() {
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
        remote
            .run(
                &REPLY,
                vec![self.key(&format!("reply:{req}"))?],
                vec![
                    me.to_owned(),
                    Value::Array(body).to_string(),
                    REPLY_TTL_MS.to_string(),
                ],
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
        let mut data = self.entry(hashes)?;
        data.req = Some(req.clone());
        data.until = Some(now + i64::from(timeout_ms));
        self.publish("export", subject, &data, &[], None, None)
            .await?;
        let replies = self.key(&format!("reply:{req}"))?;
        let waiting: Vec<&Place> = others.iter().filter(|p| p.live).collect();
        let mut got: HashMap<String, String> = HashMap::new();
        // Poll until every live place answered or the time is up; at most
        // 600 polls, whatever the transport's sleep does.
        let step = 50u32;
        let mut waited = 0u32;
        for _ in 0..600 {
            let reply = remote
                .run(&REPLIES, vec![replies.clone()], vec!["0".into()])
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
        remote
            .run(&REPLIES, vec![replies], vec!["1".into()])
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
            at: entry.data.as_ref().map_or(0, |d| d.at),
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
        let p = place_of("x", "5-0|1000|1|a|b", 2000, "x").unwrap();
        assert_eq!(
            (p.durable, p.label.as_str(), p.live, p.this),
            (true, "a|b", true, true)
        );
        assert!(place_of("x", "5-0|soon|1|a", 0, "y").is_err());
        let old = place_of("x", "5-0|1000|0|", 1000 + LIVE_MS + 1, "y").unwrap();
        assert!(!old.live);
    }
}
