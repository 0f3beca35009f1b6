//! User preferences: a registry of definitions with defaults, typed values
//! per subject (a user id or an anonymous id), and the history of every
//! change (the GDPR rectification trail).
//!
//! A subject that never set a preference has its definition's *current*
//! default, so redefining a default reaches exactly those subjects.
//!
//! ```
//! use serde_json::json;
//! use std::sync::Arc;
//! use usertrail::clock::ManualClock;
//! use usertrail::{OpenOptions, Storage, UserTrail};
//!
//! let trail = UserTrail::open(
//!     OpenOptions::new(Storage::Memory).clock(Arc::new(ManualClock::new(1_000))),
//! ).unwrap();
//! let prefs = trail.prefs();
//! // Async, since values may live in a shared store; ready at once on SQLite.
//! usertrail::block_on(async {
//!     assert_eq!(prefs.get("alice", "appearance.theme").await.unwrap().value, json!("system"));
//!     prefs.set("alice", "appearance.theme", &json!("dark"), "settings").await.unwrap();
//!     let theme = prefs.get("alice", "appearance.theme").await.unwrap();
//!     assert_eq!((theme.value, theme.is_default), (json!("dark"), false));
//!     assert!(prefs.set("alice", "appearance.theme", &json!("neon"), "settings").await.is_err());
//! });
//! ```

mod definition;
pub mod redis;

use std::cell::RefCell;
use std::sync::Arc;

use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use definition::{is_bcp47, is_timezone, PrefDefinition, PrefType, StringFormat};

pub use crate::error::PrefsError;

use crate::consent::{self, PrivacyConfig};
use crate::error::{Error, PrivacyError, Result, StoreError};
use crate::kernel::clock::Clock;

/// A subject's effective value for one preference.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PrefValue {
    /// The key.
    pub key: String,
    /// The category.
    pub category: String,
    /// The value set, or else the default.
    pub value: Value,
    /// Whether `value` is the default (the subject never set it, or reset it).
    pub is_default: bool,
    /// When the subject set it.
    pub updated_at: Option<i64>,
}

/// One change, as the history keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrefChange {
    /// The key.
    pub key: String,
    /// The value before; `None` when it was the default.
    pub old_value: Option<Value>,
    /// The value after; `None` when reset to the default.
    pub new_value: Option<Value>,
    /// When.
    pub at: i64,
    /// Who or what changed it, as the caller said (`"settings"`, `"admin"`...).
    pub source: String,
}

/// The preference operations of one engine.
pub struct Prefs<'a> {
    conn: &'a Connection,
    clock: &'a dyn Clock,
    defaults: &'a DefaultsCache,
    privacy: &'a PrivacyConfig,
    shared: Option<Shared<'a>>,
}

/// A shared store, for values and for the consent a purpose needs.
#[derive(Clone, Copy)]
struct Shared<'a> {
    remote: &'a crate::store::remote::Remote,
    salt: &'a RefCell<Option<String>>,
}

/// Each definition's key, category and default, by key: read on first use
/// and kept until a definition changes.
pub type DefaultsCache = RefCell<Option<Arc<Vec<(String, String, Value)>>>>;

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

/// `UNKNOWN_PREFERENCE` for `key`, clipped to a key's most length: a key
/// longer than any definition's is unknown all the same, and its message
/// need not repeat megabytes.
fn unknown(key: &str) -> Error {
    const MOST: usize = 128;
    let key = match key.char_indices().nth(MOST) {
        Some((at, _)) => format!("{}…", &key[..at]),
        None => key.to_owned(),
    };
    PrefsError::Unknown { key }.into()
}

/// A value's JSON text read; a fault in it is `INVALID_INPUT` on the key
/// and the path inside the value (`layout.panels[2]`, for a lone
/// surrogate), as the bindings name a value they cannot read, or on the key
/// alone for nesting past the reader's 127 levels.
fn read_value(key: &str, text: &str) -> Result<Value> {
    let de = &mut serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let reason = crate::error::serde_reason(&e.into_inner().to_string());
        // Too deep: the value as a whole, not the 128th `[0]` inside it.
        if reason.starts_with("recursion limit exceeded") {
            return Error::invalid(key, "must be nested at most 127 levels deep");
        }
        Error::invalid(crate::error::field_at(key, &path), reason)
    })
}

fn check_subject(subject: &str) -> Result<()> {
    Ok(crate::kernel::text::check("userId", subject, 256)?)
}

impl<'a> Prefs<'a> {
    /// Preferences on `conn`, timestamped by `clock`, with the engine's
    /// cache of defaults. `privacy` says which purposes need consent before
    /// a preference declared with that purpose is stored.
    pub fn new(
        conn: &'a Connection,
        clock: &'a dyn Clock,
        defaults: &'a DefaultsCache,
        privacy: &'a PrivacyConfig,
    ) -> Self {
        Self {
            conn,
            clock,
            defaults,
            privacy,
            shared: None,
        }
    }

    /// Keeps values and history in `remote` (shared by every process) and
    /// reads the consent a purpose needs there; `salt` caches the store's
    /// subject-hash salt.
    pub fn with_shared(
        mut self,
        remote: &'a crate::store::remote::Remote,
        salt: &'a RefCell<Option<String>>,
    ) -> Self {
        self.shared = Some(Shared { remote, salt });
        self
    }

    fn remote(&self) -> Option<redis::RedisPrefs<'a>> {
        self.shared.map(|s| redis::RedisPrefs::new(s.remote))
    }

    /// Whether `subject` consents to `purpose`, where the decisions are.
    async fn consents(&self, subject: &str, purpose: &str) -> Result<bool> {
        match self.shared {
            None => consent::allows(self.conn, self.privacy, &[subject], purpose),
            Some(s) => {
                let c =
                    consent::Consent::new(self.conn, self.clock, self.privacy, Default::default());
                let shared = consent::redis::RedisConsent::new(c, s.remote, s.salt);
                let snapshot = consent::redis::Snapshot::fetch(&shared, [subject]).await?;
                consent::Source::Shared(&snapshot).allows(self.privacy, &[subject], purpose)
            }
        }
    }

    fn defaults(&self) -> Result<Arc<Vec<(String, String, Value)>>> {
        if let Some(d) = self.defaults.borrow().as_ref() {
            return Ok(d.clone());
        }
        let loaded: Vec<(String, String, Value)> = self
            .conn
            .prepare_cached(
                "SELECT key, category, definition -> '$.default' FROM pref_definitions ORDER BY key",
            )?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, json(&r.get::<_, String>(2)?))))?
            .collect::<Result<_, _>>()?;
        let loaded = Arc::new(loaded);
        *self.defaults.borrow_mut() = Some(loaded.clone());
        Ok(loaded)
    }

    /// Defines (or redefines) a preference. A new default reaches the
    /// subjects who never set the preference; set values stay.
    pub fn define(&self, def: &PrefDefinition) -> Result<()> {
        def.check()?;
        if let Some(p) = &def.purpose {
            self.privacy.check_purpose(p)?;
        }
        let json =
            serde_json::to_string(def).map_err(|e| Error::invalid("definition", e.to_string()))?;
        self.conn.execute(
            "INSERT INTO pref_definitions (key, category, definition) VALUES (?1, ?2, ?3) \
             ON CONFLICT (key) DO UPDATE SET category = excluded.category, definition = excluded.definition",
            (&def.key, &def.category, json),
        )?;
        *self.defaults.borrow_mut() = None;
        Ok(())
    }

    /// The definitions, by key, of one category or all.
    pub fn definitions(&self, category: Option<&str>) -> Result<Vec<PrefDefinition>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT key, category, definition FROM pref_definitions \
             WHERE ?1 IS NULL OR category = ?1 ORDER BY key",
        )?;
        let rows = stmt.query_map([category], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        let mut defs = Vec::new();
        for row in rows {
            let (key, category, text) = row?;
            defs.push(parse_definition(key, category, &text)?);
        }
        Ok(defs)
    }

    fn definition(&self, key: &str) -> Result<PrefDefinition> {
        let row: Option<(String, String)> = self
            .conn
            .prepare_cached("SELECT category, definition FROM pref_definitions WHERE key = ?1")?
            .query_row([key], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let (category, text) = row.ok_or_else(|| unknown(key))?;
        parse_definition(key.to_owned(), category, &text)
    }

    /// A subject's effective value for `key`: its row alone, so that other
    /// large values of the subject are not read.
    pub async fn get(&self, subject: &str, key: &str) -> Result<PrefValue> {
        check_subject(subject)?;
        if self.remote().is_some() {
            return self
                .get_all(subject, None)
                .await?
                .into_iter()
                .find(|p| p.key == key)
                .ok_or_else(|| unknown(key));
        }
        let def = self.definition(key)?;
        let set: Option<(String, i64)> = self
            .conn
            .prepare_cached("SELECT value, updated_at FROM prefs WHERE subject = ?1 AND key = ?2")?
            .query_row([subject, key], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let (value, updated_at) = match set {
            Some((v, at)) => (json(&v), Some(at)),
            None => (def.default, None),
        };
        Ok(PrefValue {
            key: def.key,
            category: def.category,
            value,
            is_default: updated_at.is_none(),
            updated_at,
        })
    }

    /// A subject's effective values, by key, of one category or all.
    pub async fn get_all(&self, subject: &str, category: Option<&str>) -> Result<Vec<PrefValue>> {
        check_subject(subject)?;
        // Two plain queries, merged and sorted here: SQLite re-prepares a
        // statement at every run when its plan depends on a bound value, as
        // `subject = ?1 ... ORDER BY key` or a join on `subject = ?1` do.
        let mut set: Vec<(String, String, i64)> = match self.remote() {
            Some(r) => r.values(subject).await?,
            None => self
                .conn
                .prepare_cached("SELECT key, value, updated_at FROM prefs WHERE subject = ?1")?
                .query_map([subject], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<Result<_, _>>()?,
        };
        // Descending, so that pop() yields keys in ascending order.
        set.sort_unstable_by(|a, b| b.0.cmp(&a.0));
        let mut out = Vec::new();
        for (key, cat, default) in self.defaults()?.iter() {
            while set.last().is_some_and(|(k, _, _)| k < key) {
                set.pop(); // a value whose definition is gone
            }
            let mine = set.last().is_some_and(|(k, _, _)| k == key);
            let value = if mine { set.pop() } else { None };
            if category.is_some_and(|c| c != cat) {
                continue;
            }
            let (value, updated_at) = match value {
                Some((_, v, at)) => (json(&v), Some(at)),
                None => (default.clone(), None),
            };
            out.push(PrefValue {
                key: key.clone(),
                category: cat.clone(),
                value,
                is_default: updated_at.is_none(),
                updated_at,
            });
        }
        Ok(out)
    }

    /// Sets one preference, checked against its definition.
    pub async fn set(
        &self,
        subject: &str,
        key: &str,
        value: &Value,
        source: &str,
    ) -> Result<PrefValue> {
        let mut one = Map::new();
        one.insert(key.to_owned(), value.clone());
        self.set_many(subject, &one, source).await?;
        self.get(subject, key).await
    }

    /// [`Prefs::set`] of a value given as JSON text (as a host writes it):
    /// the key is looked up and the text checked against its definition
    /// before the text is read, so a value no definition could take costs
    /// no more than its length.
    pub async fn set_json(
        &self,
        subject: &str,
        key: &str,
        text: &str,
        source: &str,
    ) -> Result<PrefValue> {
        self.set_many_json(subject, &[(key.to_owned(), text)], source)
            .await?;
        self.get(subject, key).await
    }

    /// [`Prefs::set_many`] of values given as JSON text, each checked as
    /// [`Prefs::set_json`] checks its one, in order: the first bad key is
    /// the one named.
    pub async fn set_many_json(
        &self,
        subject: &str,
        values: &[(String, &str)],
        source: &str,
    ) -> Result<()> {
        check_subject(subject)?;
        definition::check_name("source", source, 64)?;
        let mut map = Map::new();
        for (key, text) in values {
            let def = self.definition(key)?;
            def.check_text(text)?;
            let value = read_value(key, text)?;
            self.check_one(subject, key, &def, &value).await?;
            map.insert(key.clone(), value);
        }
        self.write_many(subject, &map, source).await
    }

    /// Sets several preferences: all are checked first, then written in one
    /// transaction. One bad value and nothing is written.
    pub async fn set_many(
        &self,
        subject: &str,
        values: &Map<String, Value>,
        source: &str,
    ) -> Result<()> {
        check_subject(subject)?;
        definition::check_name("source", source, 64)?;
        for (key, value) in values {
            let def = self.definition(key)?;
            self.check_one(subject, key, &def, value).await?;
        }
        self.write_many(subject, values, source).await
    }

    /// Checks one value against its key's definition `def`, and the
    /// subject's consent when the key's purpose needs it.
    async fn check_one(
        &self,
        subject: &str,
        key: &str,
        def: &PrefDefinition,
        value: &Value,
    ) -> Result<()> {
        def.check_value(value)?;
        if let Some(purpose) = def.purpose.as_deref().filter(|p| self.privacy.requires(p)) {
            if !self.consents(subject, purpose).await? {
                return Err(PrivacyError::ConsentRequired {
                    purpose: purpose.to_owned(),
                    key: key.to_owned(),
                }
                .into());
            }
        }
        Ok(())
    }

    /// Writes values already checked, in one transaction.
    async fn write_many(
        &self,
        subject: &str,
        values: &Map<String, Value>,
        source: &str,
    ) -> Result<()> {
        let now = self.clock.now_ms();
        if let Some(remote) = self.remote() {
            let pairs: Vec<(String, String)> = values
                .iter()
                .map(|(k, v)| (k.clone(), v.to_string()))
                .collect();
            let changed = remote.set(subject, &pairs, now, source).await?;
            let changed: Vec<&str> = changed.iter().map(String::as_str).collect();
            let tx = Transaction::new_unchecked(self.conn, TransactionBehavior::Immediate)?;
            let log = crate::store::audit::Log::new(&tx, self.privacy.chain_key());
            audit_change(log, now, "prefs.set", subject, &changed, source)?;
            return Ok(tx.commit()?);
        }
        let tx = Transaction::new_unchecked(self.conn, TransactionBehavior::Immediate)?;
        let mut changed: Vec<&str> = Vec::new();
        for (key, value) in values {
            let new = value.to_string();
            let old: Option<String> = tx
                .prepare_cached("SELECT value FROM prefs WHERE subject = ?1 AND key = ?2")?
                .query_row([subject, key], |r| r.get(0))
                .optional()?;
            if old.as_deref().is_some_and(|o| json(o) == *value) {
                continue;
            }
            tx.prepare_cached(
                "INSERT INTO prefs (subject, key, value, updated_at) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (subject, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            )?
            .execute(params![subject, key, new, now])?;
            record(&tx, subject, key, old.as_deref(), Some(&new), now, source)?;
            changed.push(key);
        }
        let log = crate::store::audit::Log::new(&tx, self.privacy.chain_key());
        audit_change(log, now, "prefs.set", subject, &changed, source)?;
        tx.commit()?;
        Ok(())
    }

    /// Returns one preference (or, with `None`, all of them) to the default.
    /// Returns how many were reset.
    pub async fn reset(&self, subject: &str, key: Option<&str>, source: &str) -> Result<u64> {
        check_subject(subject)?;
        definition::check_name("source", source, 64)?;
        if let Some(key) = key {
            self.definition(key)?;
        }
        let now = self.clock.now_ms();
        if let Some(remote) = self.remote() {
            let reset = remote.reset(subject, key, now, source).await?;
            let keys: Vec<&str> = reset.iter().map(String::as_str).collect();
            let tx = Transaction::new_unchecked(self.conn, TransactionBehavior::Immediate)?;
            let log = crate::store::audit::Log::new(&tx, self.privacy.chain_key());
            audit_change(log, now, "prefs.reset", subject, &keys, source)?;
            tx.commit()?;
            return Ok(reset.len() as u64);
        }
        let tx = Transaction::new_unchecked(self.conn, TransactionBehavior::Immediate)?;
        let rows: Vec<(String, String)> = tx
            .prepare_cached(
                "SELECT key, value FROM prefs WHERE subject = ?1 AND (?2 IS NULL OR key = ?2)",
            )?
            .query_map(params![subject, key], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        for (k, old) in &rows {
            tx.prepare_cached("DELETE FROM prefs WHERE subject = ?1 AND key = ?2")?
                .execute([subject, k])?;
            record(&tx, subject, k, Some(old), None, now, source)?;
        }
        let keys: Vec<&str> = rows.iter().map(|(k, _)| k.as_str()).collect();
        let log = crate::store::audit::Log::new(&tx, self.privacy.chain_key());
        audit_change(log, now, "prefs.reset", subject, &keys, source)?;
        tx.commit()?;
        Ok(rows.len() as u64)
    }

    /// Every change of a subject's preferences, oldest first.
    pub async fn history(&self, subject: &str) -> Result<Vec<PrefChange>> {
        check_subject(subject)?;
        if let Some(remote) = self.remote() {
            return remote.history(subject).await;
        }
        let mut stmt = self.conn.prepare_cached(
            "SELECT key, old_value, new_value, at, source FROM pref_history WHERE subject = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map([subject], |r| {
            Ok(PrefChange {
                key: r.get(0)?,
                old_value: r.get::<_, Option<String>>(1)?.map(|t| json(&t)),
                new_value: r.get::<_, Option<String>>(2)?.map(|t| json(&t)),
                at: r.get(3)?,
                source: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

/// Audits a change of `subject`'s preferences: which keys, and from where;
/// never the values (they may be personal, and the history keeps them for
/// the subject's own export).
fn audit_change(
    log: crate::store::audit::Log<'_>,
    now: i64,
    action: &str,
    subject: &str,
    keys: &[&str],
    source: &str,
) -> Result<()> {
    if keys.is_empty() {
        return Ok(());
    }
    let details = serde_json::json!({ "keys": keys, "source": source });
    log.append(now, "host", action, Some(subject), true, &details)?;
    Ok(())
}

fn parse_definition(key: String, category: String, text: &str) -> Result<PrefDefinition> {
    let mut def: PrefDefinition = serde_json::from_str(text).map_err(|e| {
        Error::from(StoreError::Corrupt {
            detail: format!("the definition of preference {key:?} does not parse: {e}"),
        })
    })?;
    def.key = key;
    def.category = category;
    Ok(def)
}

fn record(
    tx: &Connection,
    subject: &str,
    key: &str,
    old: Option<&str>,
    new: Option<&str>,
    at: i64,
    source: &str,
) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO pref_history (subject, key, old_value, new_value, at, source) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![subject, key, old, new, at, source])?;
    Ok(())
}

/// Moves an anonymous id's preferences, and their history, to a user (part of
/// `identify`). Where the user already set a key, the user's value stays.
/// Returns how many values moved.
pub fn move_subject(tx: &Connection, anonymous_id: &str, user_id: &str) -> Result<u64> {
    let moved = tx.execute(
        "UPDATE OR IGNORE prefs SET subject = ?2 WHERE subject = ?1",
        [anonymous_id, user_id],
    )?;
    tx.execute("DELETE FROM prefs WHERE subject = ?1", [anonymous_id])?;
    tx.execute(
        "UPDATE pref_history SET subject = ?2 WHERE subject = ?1",
        [anonymous_id, user_id],
    )?;
    Ok(moved as u64)
}
