//! Preferences in a shared Redis, seen by every process.
//!
//! Keys, under the prefix `P`, in the subject's slot `S` (the slot of its
//! sessions and consent): `P:{S}:p`, a hash of each set key's
//! `updated_at|json`; `P:{S}:ph`, a list of every change as JSON text. The
//! definitions (types, defaults, checks) stay in each engine: they are code.
//! Every write is one script, so `setMany` stays atomic.

use super::PrefChange;
use crate::error::{Result, StoreError};
use crate::store::remote::{subject_slot, Remote, Reply, Script};

macro_rules! script {
    ($name:literal) => {
        Script::new(
            concat!("prefs_", $name),
            include_str!(concat!("lua/", $name, ".lua")),
        )
    };
}

static ALL: Script = script!("all");
static SET: Script = script!("set");
static RESET: Script = script!("reset");
static HISTORY: Script = script!("history");
static TAKE: Script = script!("take");
static PUT: Script = script!("put");
static DELETE: Script = script!("delete").durable();
static FORGET: Script = script!("forget").durable();

/// A set value: its key, its JSON text, when it was set.
pub type SetValue = (String, String, i64);

/// Preferences in a shared store.
#[derive(Debug, Clone, Copy)]
pub struct RedisPrefs<'a> {
    remote: &'a Remote,
}

fn garbled(detail: impl Into<String>) -> crate::error::Error {
    StoreError::Garbled {
        detail: detail.into(),
    }
    .into()
}

fn values_of(all: &[Reply]) -> Result<Vec<SetValue>> {
    let mut out = Vec::with_capacity(all.len() / 2);
    for pair in all.chunks(2) {
        let [k, v] = pair else {
            return Err(garbled("preferences with an odd number of fields"));
        };
        let (k, v) = (k.text()?, v.text()?);
        let bad = || garbled(format!("the preference {k:?} is damaged"));
        let (at, json) = v.split_once('|').ok_or_else(bad)?;
        serde_json::from_str::<serde_json::Value>(json).map_err(|_| bad())?;
        out.push((
            k.to_owned(),
            json.to_owned(),
            at.parse().map_err(|_| bad())?,
        ));
    }
    Ok(out)
}

fn changes_of(list: &[Reply]) -> Result<Vec<PrefChange>> {
    list.iter()
        .map(|e| {
            serde_json::from_str(e.text()?)
                .map_err(|_| garbled("a preference history entry that does not parse"))
        })
        .collect()
}

fn texts(reply: &Reply) -> Result<Vec<String>> {
    reply
        .list()?
        .iter()
        .map(|x| Ok(x.text()?.to_owned()))
        .collect()
}

impl<'a> RedisPrefs<'a> {
    /// Preferences in `remote`.
    pub fn new(remote: &'a Remote) -> Self {
        Self { remote }
    }

    fn keys(&self, subject: &str) -> Vec<String> {
        let slot = subject_slot(subject);
        vec![self.remote.key(&slot, "p"), self.remote.key(&slot, "ph")]
    }

    /// `subject`'s set values: one round trip.
    pub async fn values(&self, subject: &str) -> Result<Vec<SetValue>> {
        let mut keys = self.keys(subject);
        keys.truncate(1);
        let reply = self.remote.run(&ALL, keys, vec![]).await?;
        values_of(reply.list()?)
    }

    /// Sets `pairs` (key, JSON text) in one step, with their history.
    /// Returns the keys that changed.
    pub async fn set(
        &self,
        subject: &str,
        pairs: &[(String, String)],
        now: i64,
        source: &str,
    ) -> Result<Vec<String>> {
        let mut args = vec![now.to_string(), serde_json::Value::from(source).to_string()];
        for (k, v) in pairs {
            args.push(k.clone());
            args.push(v.clone());
        }
        texts(&self.remote.run(&SET, self.keys(subject), args).await?)
    }

    /// Returns `key` (or every key) to its default, with history. Returns
    /// the keys reset.
    pub async fn reset(
        &self,
        subject: &str,
        key: Option<&str>,
        now: i64,
        source: &str,
    ) -> Result<Vec<String>> {
        let args = vec![
            now.to_string(),
            serde_json::Value::from(source).to_string(),
            key.unwrap_or_default().to_owned(),
        ];
        texts(&self.remote.run(&RESET, self.keys(subject), args).await?)
    }

    /// Every change of `subject`'s preferences, oldest first.
    pub async fn history(&self, subject: &str) -> Result<Vec<PrefChange>> {
        let keys = self.keys(subject)[1..].to_vec();
        let reply = self.remote.run(&HISTORY, keys, vec![]).await?;
        changes_of(reply.list()?)
    }

    /// Everything kept about `subject`: its values and its history.
    pub async fn export(&self, subject: &str) -> Result<(Vec<SetValue>, Vec<PrefChange>)> {
        let reply = self.remote.run(&TAKE, self.keys(subject), vec![]).await?;
        let items = reply.tuple(2)?;
        Ok((values_of(items[0].list()?)?, changes_of(items[1].list()?)?))
    }

    /// Moves an anonymous id's values and history to a user (part of
    /// `identify`); where the user set a key, the user's value stays.
    /// Three round trips (the two subjects are in different slots): read,
    /// add to the user, delete from the anonymous id. Returns how many
    /// values moved.
    pub async fn move_subject(&self, from: &str, to: &str) -> Result<u64> {
        let reply = self.remote.run(&TAKE, self.keys(from), vec![]).await?;
        let items = reply.tuple(2)?;
        let (values, history) = (items[0].list()?, items[1].list()?);
        if values.is_empty() && history.is_empty() {
            return Ok(0);
        }
        let mut args = vec![(values.len() / 2).to_string()];
        for v in values {
            args.push(v.text()?.to_owned());
        }
        for h in history {
            args.push(h.text()?.to_owned());
        }
        let added = self.remote.run(&PUT, self.keys(to), args).await?.int()?;
        self.remote
            .run(&DELETE, self.keys(from), vec![])
            .await?
            .tuple(2)?;
        Ok(added.max(0) as u64)
    }

    /// Deletes `subject`'s values of `keys` and their history (a withdrawn
    /// purpose's preferences), in one step; if the history changed
    /// meanwhile, reads it again. Returns how many values were deleted.
    pub async fn forget(&self, subject: &str, keys: &[String]) -> Result<u64> {
        if keys.is_empty() {
            return Ok(0);
        }
        for _ in 0..16 {
            let reply = self.remote.run(&TAKE, self.keys(subject), vec![]).await?;
            let items = reply.tuple(2)?;
            let history = items[1].list()?;
            let mut args = vec![history.len().to_string(), keys.len().to_string()];
            args.extend(keys.iter().cloned());
            for h in history {
                let text = h.text()?;
                let key = serde_json::from_str::<serde_json::Value>(text)
                    .ok()
                    .and_then(|v| v.get("key").and_then(|k| k.as_str()).map(str::to_owned));
                if !key.is_some_and(|k| keys.contains(&k)) {
                    args.push(text.to_owned());
                }
            }
            let n = self
                .remote
                .run(&FORGET, self.keys(subject), args)
                .await?
                .int()?;
            if n >= 0 {
                return Ok(n as u64);
            }
        }
        Err(crate::error::StoreError::Contended {
            detail: "the preference history kept changing".into(),
        }
        .into())
    }

    /// Deletes `subject`'s values and history. Returns how many values
    /// and how many history entries there were.
    pub async fn delete(&self, subject: &str) -> Result<(u64, u64)> {
        let reply = self.remote.run(&DELETE, self.keys(subject), vec![]).await?;
        let both = reply.tuple(2)?;
        Ok((both[0].int()?.max(0) as u64, both[1].int()?.max(0) as u64))
    }
}
