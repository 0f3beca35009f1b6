//! Consent in a shared Redis: every process records and reads a subject's
//! decisions in one place.
//!
//! Keys, under the prefix `P`, in the subject's slot `S` (one hash slot):
//! - `P:{S}:c`: a hash, the latest decision per purpose as
//!   `granted|at|seq|policy version|source`, and `@head`, the ledger's head
//!   (`seq|hash`);
//! - `P:{S}:cl`: a list, the subject's ledger: each entry is JSON text
//!   hash-chained to the one before it (SHA-256, or HMAC-SHA-256 under the
//!   engine's chain key), as the engine's own ledger is, one chain per
//!   subject so that an append is one atomic script;
//! - `P:{S}:l`: a set, the ids linked to the subject: the anonymous ids
//!   `identify` linked to it and the names it had before a rectification,
//!   for gating, export and erasure;
//! - `P:{S}:u`: for an anonymous id (or an old name), the user it is
//!   linked to: the other direction of the link, so that a gate asked
//!   about the anonymous id reads its user's decisions too.
//!
//! An append names the head it links to; if another process appended
//! first, the engine links again and retries. Subject hashes use one salt
//! for the whole store (`P:{g}:salt`), so that every process computes the
//! same pseudonym.

use std::cell::RefCell;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::ledger::{ledger_fields, sha_hex, Prepared};
use super::{Consent, ConsentStatus, Decision, LedgerEntry};
use crate::error::{Error, Result, StoreError};
use crate::kernel::ids::{hex, random_bytes};
use crate::store::chain::{self, ChainReport, Mark, Problem};
use crate::store::remote::{subject_slot, Remote, Reply, Script};

macro_rules! script {
    ($name:literal) => {
        Script::new(
            concat!("consent_", $name),
            include_str!(concat!("lua/", $name, ".lua")),
        )
    };
}

static STATE: Script = script!("state");
static APPEND: Script = script!("append").durable();
static LEDGER: Script = script!("ledger");
static MERGE: Script = script!("merge").durable();
static ERASE: Script = script!("erase").durable();
static SALT: Script = script!("salt").durable();
static LINKS: Script = script!("links");
static HEAD: Script = script!("head");
static GATE: Script = script!("gate");
static LINK_USER: Script = script!("link_user").durable();
static UNLINK: Script = script!("unlink").durable();
static UNLINK_USER: Script = script!("unlink_user").durable();

/// Attempts at appending while other processes append for the subject.
const APPEND_ATTEMPTS: usize = 64;

/// One purpose's latest decision, as the shared store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// Granted, or withdrawn.
    pub granted: bool,
    /// When.
    pub at: i64,
    /// Its entry in the subject's ledger.
    pub seq: i64,
    /// The policy version decided under.
    pub policy_version: String,
    /// Where.
    pub source: String,
}

impl Stored {
    fn encode(&self) -> String {
        format!(
            "{}|{}|{}|{}|{}",
            u8::from(self.granted),
            self.at,
            self.seq,
            self.policy_version,
            self.source
        )
    }

    fn decode(text: &str) -> Option<Self> {
        let mut parts = text.splitn(5, '|');
        let granted = match parts.next()? {
            "1" => true,
            "0" => false,
            _ => return None,
        };
        Some(Self {
            granted,
            at: parts.next()?.parse().ok()?,
            seq: parts.next()?.parse().ok()?,
            policy_version: parts.next()?.to_owned(),
            source: parts.next()?.to_owned(),
        })
    }
}

/// A subject's decisions per purpose.
pub type Decisions = BTreeMap<String, Stored>;

/// One entry of a subject's shared ledger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SharedEntry {
    seq: i64,
    at: i64,
    subject: Option<String>,
    subject_hash: String,
    action: String,
    purposes: Vec<String>,
    policy_version: String,
    source: String,
    text_hash: Option<String>,
    ip_masked: Option<String>,
    user_agent: Option<String>,
    details_hash: String,
    prev: String,
    hash: String,
    keyed: bool,
}

impl SharedEntry {
    fn fields(&self) -> [String; 9] {
        ledger_fields(
            self.seq,
            self.at,
            &self.subject_hash,
            &self.action,
            &serde_json::to_string(&self.purposes).unwrap_or_default(),
            &self.policy_version,
            &self.source,
            self.text_hash.as_deref(),
            &self.details_hash,
        )
    }

    /// As the ledger API shows it.
    pub fn view(&self) -> LedgerEntry {
        LedgerEntry {
            seq: self.seq,
            at: self.at,
            subject: self.subject.clone(),
            subject_hash: self.subject_hash.clone(),
            action: self.action.clone(),
            purposes: self.purposes.clone(),
            policy_version: self.policy_version.clone(),
            source: self.source.clone(),
            text_hash: self.text_hash.clone(),
            ip_masked: self.ip_masked.clone(),
            user_agent: self.user_agent.clone(),
        }
    }
}

fn garbled(detail: impl Into<String>) -> Error {
    StoreError::Garbled {
        detail: detail.into(),
    }
    .into()
}

/// A head as stored: `seq|hash`.
fn parse_head(text: &str) -> Result<Mark> {
    if text.is_empty() {
        return Ok(Mark {
            seq: 0,
            hash: chain::GENESIS.into(),
        });
    }
    let (seq, hash) = text
        .split_once('|')
        .ok_or_else(|| garbled("a consent ledger head that is not seq|hash"))?;
    Ok(Mark {
        seq: seq
            .parse()
            .map_err(|_| garbled("a consent ledger head whose seq is not a number"))?,
        hash: hash.to_owned(),
    })
}

/// The decisions out of a state hash's fields (`@head` and unknown fields
/// aside); a damaged value is refused.
fn decisions_of(all: &[Reply]) -> Result<Decisions> {
    let mut out = Decisions::new();
    for pair in all.chunks(2) {
        let [name, value] = pair else {
            return Err(garbled("a consent state with an odd number of fields"));
        };
        let name = name.text()?;
        if name.starts_with('@') {
            continue;
        }
        let stored = Stored::decode(value.text()?)
            .ok_or_else(|| garbled(format!("the consent decision for {name:?} is damaged")))?;
        out.insert(name.to_owned(), stored);
    }
    Ok(out)
}

/// The latest decision about `purpose` across several subjects' decisions.
pub fn latest<'d>(
    sets: impl IntoIterator<Item = &'d Decisions>,
    purpose: &str,
) -> Option<&'d Stored> {
    sets.into_iter()
        .filter_map(|d| d.get(purpose))
        .max_by_key(|s| (s.at, s.seq))
}

/// Consent in a shared store, on top of the engine's own [`Consent`] (its
/// settings, clock and checks; its database keeps the audit).
pub struct RedisConsent<'a> {
    consent: Consent<'a>,
    remote: &'a Remote,
    salt: &'a RefCell<Option<String>>,
}

impl<'a> RedisConsent<'a> {
    /// Consent in `remote`; `salt` caches the store's subject-hash salt.
    pub fn new(
        consent: Consent<'a>,
        remote: &'a Remote,
        salt: &'a RefCell<Option<String>>,
    ) -> Self {
        Self {
            consent,
            remote,
            salt,
        }
    }

    fn keys(&self, subject: &str) -> (String, String, String) {
        let slot = subject_slot(subject);
        (
            self.remote.key(&slot, "c"),
            self.remote.key(&slot, "cl"),
            self.remote.key(&slot, "l"),
        )
    }

    /// The key holding the user `subject` (an anonymous id) is linked to.
    fn user_key(&self, subject: &str) -> String {
        self.remote.key(&subject_slot(subject), "u")
    }

    /// The store's salt for subject hashes, made by the first process that
    /// needs one.
    pub async fn salt(&self) -> Result<String> {
        if let Some(s) = self.salt.borrow().as_ref() {
            return Ok(s.clone());
        }
        let fresh = hex(&random_bytes::<32>());
        let reply = self
            .remote
            .run(&SALT, vec![self.remote.key("g", "salt")], vec![fresh])
            .await?;
        let salt = reply.text()?.to_owned();
        if salt.len() != 64 {
            return Err(garbled("the store's subject salt is damaged"));
        }
        *self.salt.borrow_mut() = Some(salt.clone());
        Ok(salt)
    }

    /// `subject`'s own decisions, per purpose: one round trip.
    pub async fn decisions(&self, subject: &str) -> Result<Decisions> {
        let (state, _, _) = self.keys(subject);
        let reply = self.remote.run(&STATE, vec![state], vec![]).await?;
        decisions_of(reply.list()?)
    }

    /// The status of `subject` from its decisions.
    pub fn status(&self, subject: &str, decisions: &Decisions) -> ConsentStatus {
        let latest = decisions
            .iter()
            .map(|(p, s)| {
                (
                    p.clone(),
                    (s.granted, s.policy_version.clone(), s.source.clone(), s.at),
                )
            })
            .collect();
        self.consent.status_from(subject, latest)
    }

    /// Appends a decision to `subject`'s ledger and updates its state, in
    /// one script; if another process appended first, links again. Returns
    /// the ledger seq and the subject's decisions after it.
    pub async fn record(&self, subject: &str, d: &Decision<'_>) -> Result<(i64, Decisions)> {
        let salt = self.salt().await?;
        let Prepared {
            at,
            subject_hash,
            purposes: _,
            text_hash,
            ip_masked,
            details_hash,
        } = self.consent.prepare(&salt, subject, d)?;
        let key = self.consent.config.chain_key();
        let (state, ledger, _) = self.keys(subject);
        let mut head = self.head(subject).await?;
        for _ in 0..APPEND_ATTEMPTS {
            let seq = head.seq + 1;
            let mut entry = SharedEntry {
                seq,
                at,
                subject: Some(subject.to_owned()),
                subject_hash: subject_hash.clone(),
                action: d.action.to_owned(),
                purposes: d.purposes.clone(),
                policy_version: d.policy_version.clone(),
                source: d.source.to_owned(),
                text_hash: text_hash.clone(),
                ip_masked: ip_masked.clone(),
                user_agent: d.user_agent.map(str::to_owned),
                details_hash: details_hash.clone(),
                prev: head.hash.clone(),
                hash: String::new(),
                keyed: key.is_some(),
            };
            let fields = entry.fields();
            let refs: Vec<&str> = fields.iter().map(String::as_str).collect();
            entry.hash = chain::link(key, &head.hash, &refs);
            let value = Stored {
                granted: d.action == "grant",
                at,
                seq,
                policy_version: d.policy_version.clone(),
                source: d.source.to_owned(),
            };
            let expected = if head.seq == 0 {
                String::new()
            } else {
                format!("{}|{}", head.seq, head.hash)
            };
            let mut args = vec![
                expected,
                format!("{seq}|{}", entry.hash),
                serde_json::to_string(&entry).unwrap_or_default(),
                value.encode(),
            ];
            args.extend(d.purposes.iter().cloned());
            let reply = self
                .remote
                .run(&APPEND, vec![state.clone(), ledger.clone()], args)
                .await?;
            let items = reply.list()?;
            match items.first().map(Reply::int).transpose()? {
                Some(1) => {
                    let all = items
                        .get(1)
                        .ok_or_else(|| garbled("an append without its state"))?;
                    return Ok((seq, decisions_of(all.list()?)?));
                }
                Some(0) => {
                    let moved = items
                        .get(1)
                        .ok_or_else(|| garbled("a refused append without the head"))?;
                    head = parse_head(moved.text()?)?;
                }
                _ => return Err(garbled("an append answered something else")),
            }
        }
        Err(StoreError::Contended {
            detail: format!("the consent ledger of {subject:?} kept moving"),
        }
        .into())
    }

    /// The head of `subject`'s ledger: one field, however long the ledger.
    async fn head(&self, subject: &str) -> Result<Mark> {
        let (state, _, _) = self.keys(subject);
        let reply = self.remote.run(&HEAD, vec![state], vec![]).await?;
        parse_head(reply.text()?)
    }

    async fn read_ledger(&self, subject: &str) -> Result<(Mark, Vec<SharedEntry>)> {
        let (state, ledger, _) = self.keys(subject);
        let reply = self
            .remote
            .run(&LEDGER, vec![state, ledger], vec![])
            .await?;
        let items = reply.tuple(2)?;
        let head = parse_head(items[0].text()?)?;
        let entries = items[1]
            .list()?
            .iter()
            .map(|e| {
                serde_json::from_str::<SharedEntry>(e.text()?)
                    .map_err(|_| garbled("a consent ledger entry that does not parse"))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok((head, entries))
    }

    /// `subject`'s ledger, oldest first, and its head.
    pub async fn ledger(&self, subject: &str) -> Result<(Mark, Vec<SharedEntry>)> {
        self.read_ledger(subject).await
    }

    /// Checks `subject`'s ledger: the links, each entry's hash (under the
    /// chain key for keyed entries), the head, that each entry's subject
    /// still matches its hash, and with `anchor`, that it still holds a
    /// head recorded outside the store.
    pub async fn verify(&self, subject: &str, anchor: Option<&Mark>) -> Result<ChainReport> {
        let salt = self.salt().await?;
        let (head, entries) = self.read_ledger(subject).await?;
        let key = self.consent.config.chain_key();
        let mut problems = Vec::new();
        let mut prev = Mark {
            seq: 0,
            hash: chain::GENESIS.into(),
        };
        let mut anchored = anchor.is_none_or(|a| a.seq == 0);
        for e in &entries {
            let problem = |p: &str| Problem {
                seq: e.seq,
                problem: p.into(),
            };
            if e.seq != prev.seq + 1 || e.prev != prev.hash {
                problems.push(problem("the entry does not follow the one before it"));
            }
            let fields = e.fields();
            let refs: Vec<&str> = fields.iter().map(String::as_str).collect();
            match (e.keyed, key) {
                (true, None) => {
                    problems.push(problem("linked under a chain key this engine lacks"))
                }
                (k, key) if chain::link(if k { key } else { None }, &e.prev, &refs) != e.hash => {
                    problems.push(problem(
                        "the entry was edited: its hash does not match its fields",
                    ))
                }
                _ => {}
            }
            if let Some(s) = &e.subject {
                if crate::store::subject_hash::hash(&salt, s) != e.subject_hash {
                    problems.push(problem("the subject does not match its hash"));
                } else if sha_hex(&[Some(s), e.ip_masked.as_deref(), e.user_agent.as_deref()])
                    != e.details_hash
                {
                    problems.push(problem("the IP address or user agent was edited"));
                }
            }
            if anchor.is_some_and(|a| a.seq == e.seq && a.hash == e.hash) {
                anchored = true;
            }
            prev = Mark {
                seq: e.seq,
                hash: e.hash.clone(),
            };
        }
        if prev != head {
            problems.push(Problem {
                seq: head.seq,
                problem: "the head does not match the last entry: entries were removed".into(),
            });
        }
        if !anchored {
            problems.push(Problem {
                seq: anchor.map_or(0, |a| a.seq),
                problem: "the ledger no longer holds the head recorded outside the store".into(),
            });
        }
        Ok(ChainReport {
            ok: problems.is_empty(),
            checked: entries.len() as u64,
            problems,
        })
    }

    /// A rename of `from` to `to` (a rectification): `from`'s decisions
    /// count for `to` where newer than its own, the anonymous ids linked to
    /// `from` are linked to `to`, and `from` is erased from the store as
    /// [`RedisConsent::erase`] does (its ledger stays, as proof, without
    /// the name, IP and user agent). No link is kept from `from` to `to`:
    /// someone who takes the old name later is someone else. A linked id
    /// among `users` (also a user's id) is linked to `to` without carrying
    /// its decisions. Returns how many decisions now count for `to`.
    pub async fn rename(&self, from: &str, to: &str, users: &[String]) -> Result<u64> {
        let theirs = self.decisions(from).await?;
        let (state, _, links) = self.keys(to);
        let mut args = vec![String::new()];
        for (purpose, stored) in &theirs {
            args.push(purpose.clone());
            args.push(stored.encode());
        }
        let n = self
            .remote
            .run(&MERGE, vec![state, links], args)
            .await?
            .int()?;
        for anon in self.links(from).await? {
            if anon != to {
                // A linked id that is also a user's id is only linked: its
                // decisions are that user's.
                if users.contains(&anon) {
                    self.link(&anon, to).await?;
                } else {
                    self.merge(&anon, to).await?;
                }
            }
        }
        self.erase(from).await?;
        Ok(n.max(0) as u64)
    }

    /// After `identify(anonymous_id, user_id)`: the anonymous id's
    /// decisions count for the user where newer than the user's own, and
    /// the link is kept in both directions, for gating, export and erasure.
    /// Three round trips.
    pub async fn merge(&self, anonymous_id: &str, user_id: &str) -> Result<u64> {
        self.link_as(anonymous_id, user_id, true).await
    }

    /// [`RedisConsent::merge`]'s link alone, both ways, without carrying
    /// the anonymous id's decisions: for an anonymous id that is also
    /// another user's user id (ids are free text), whose decisions are that
    /// user's.
    pub async fn link(&self, anonymous_id: &str, user_id: &str) -> Result<u64> {
        self.link_as(anonymous_id, user_id, false).await
    }

    async fn link_as(&self, anonymous_id: &str, user_id: &str, decisions: bool) -> Result<u64> {
        self.remote
            .run(
                &LINK_USER,
                vec![self.user_key(anonymous_id)],
                vec![user_id.to_owned()],
            )
            .await?;
        let theirs = if decisions {
            self.decisions(anonymous_id).await?
        } else {
            Default::default()
        };
        let (state, _, links) = self.keys(user_id);
        let mut args = vec![anonymous_id.to_owned()];
        for (purpose, stored) in &theirs {
            args.push(purpose.clone());
            args.push(stored.encode());
        }
        let n = self
            .remote
            .run(&MERGE, vec![state, links], args)
            .await?
            .int()?;
        Ok(n.max(0) as u64)
    }

    /// Erases `subject` from the store: its decisions and links go (the
    /// link from its user's side too); its ledger entries stay as proof,
    /// without the subject, IP and user agent (their hashes still verify
    /// the chain). Returns the entries kept and the ids that were linked to
    /// it (to erase too).
    pub async fn erase(&self, subject: &str) -> Result<(u64, Vec<String>)> {
        // The user it is linked to, read first (the erasure deletes the
        // link) and unlinked last: a failure between leaves the user's side
        // of the link, so that a retry of the user's erasure still finds it.
        let user = self.user_of(subject).await?;
        let erased = self.erase_own(subject).await?;
        if let Some(user) = user {
            let (_, _, theirs) = self.keys(&user);
            self.remote
                .run(&UNLINK, vec![theirs], vec![subject.to_owned()])
                .await?;
        }
        Ok(erased)
    }

    /// Removes the link from `anonymous_id` to `user` (both sides), and
    /// nothing else of the id: for an erased user's linked id that is also
    /// another user's user id, whose decisions, ledger and own links stay.
    pub async fn unlink(&self, anonymous_id: &str, user: &str) -> Result<()> {
        self.remote
            .run(
                &UNLINK_USER,
                vec![self.user_key(anonymous_id)],
                vec![user.to_owned()],
            )
            .await?;
        let (_, _, theirs) = self.keys(user);
        self.remote
            .run(&UNLINK, vec![theirs], vec![anonymous_id.to_owned()])
            .await?;
        Ok(())
    }

    /// `subject`'s part of [`RedisConsent::erase`], in its own slot.
    async fn erase_own(&self, subject: &str) -> Result<(u64, Vec<String>)> {
        let (state, ledger, links) = self.keys(subject);
        for _ in 0..APPEND_ATTEMPTS {
            let (head, entries) = self.read_ledger(subject).await?;
            let expected = if head.seq == 0 {
                String::new()
            } else {
                format!("{}|{}", head.seq, head.hash)
            };
            let mut args = vec![expected];
            for mut e in entries.iter().cloned() {
                e.subject = None;
                e.ip_masked = None;
                e.user_agent = None;
                args.push(serde_json::to_string(&e).unwrap_or_default());
            }
            let reply = self
                .remote
                .run(
                    &ERASE,
                    vec![
                        state.clone(),
                        ledger.clone(),
                        links.clone(),
                        self.user_key(subject),
                    ],
                    args,
                )
                .await?;
            let items = reply.list()?;
            if items.first().map(Reply::int).transpose()? == Some(1) {
                let linked = items
                    .get(1)
                    .map(|l| -> Result<Vec<String>> {
                        l.list()?.iter().map(|x| Ok(x.text()?.to_owned())).collect()
                    })
                    .transpose()?
                    .unwrap_or_default();
                return Ok((entries.len() as u64, linked));
            }
        }
        Err(StoreError::Contended {
            detail: format!("the consent ledger of {subject:?} kept moving"),
        }
        .into())
    }

    /// The user `subject` (an anonymous id, or a name before a
    /// rectification) is linked to, if any.
    pub async fn user_of(&self, subject: &str) -> Result<Option<String>> {
        Ok(self.gate(subject).await?.1)
    }

    /// `subject`'s own decisions and the user it is linked to: one round
    /// trip.
    async fn gate(&self, subject: &str) -> Result<(Decisions, Option<String>)> {
        let (state, _, _) = self.keys(subject);
        let reply = self
            .remote
            .run(&GATE, vec![state, self.user_key(subject)], vec![])
            .await?;
        let both = reply.tuple(2)?;
        Ok((
            decisions_of(both[0].list()?)?,
            both[1].opt_text()?.map(str::to_owned),
        ))
    }

    /// The decisions that count for `subject`: its own and, for an
    /// anonymous id linked to a user, the user's (per purpose, the latest
    /// wins), as the engine's own database answers through its identity
    /// links. One round trip, two for a linked id.
    pub async fn effective(&self, subject: &str) -> Result<Decisions> {
        let (mut own, user) = self.gate(subject).await?;
        if let Some(user) = user.filter(|u| u != subject) {
            for (purpose, theirs) in self.decisions(&user).await? {
                let newer = own
                    .get(&purpose)
                    .is_none_or(|mine| (theirs.at, theirs.seq) > (mine.at, mine.seq));
                if newer {
                    own.insert(purpose, theirs);
                }
            }
        }
        Ok(own)
    }

    /// The ids linked to `subject`.
    pub async fn links(&self, subject: &str) -> Result<Vec<String>> {
        let (_, _, links) = self.keys(subject);
        let reply = self.remote.run(&LINKS, vec![links], vec![]).await?;
        reply
            .list()?
            .iter()
            .map(|x| Ok(x.text()?.to_owned()))
            .collect()
    }
}

/// Decisions fetched from a shared store for one batch (one round trip per
/// subject), for the checks that run inside the engine's transactions.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    by_subject: BTreeMap<String, Decisions>,
}

impl Snapshot {
    /// Fetches the decisions that count for each of `subjects`: its own
    /// and, for an id linked to a user, the user's (see
    /// [`RedisConsent::effective`]).
    pub async fn fetch<'s>(
        consent: &RedisConsent<'_>,
        subjects: impl IntoIterator<Item = &'s str>,
    ) -> Result<Self> {
        let mut by_subject = BTreeMap::new();
        for s in subjects {
            if !by_subject.contains_key(s) {
                by_subject.insert(s.to_owned(), consent.effective(s).await?);
            }
        }
        Ok(Self { by_subject })
    }

    /// The latest decision about `purpose` across `ids`: granted, and under
    /// which policy version. An id not fetched has none.
    pub fn decision(&self, ids: &[&str], purpose: &str) -> Option<(bool, String)> {
        latest(
            ids.iter().filter_map(|id| self.by_subject.get(*id)),
            purpose,
        )
        .map(|s| (s.granted, s.policy_version.clone()))
    }
}
