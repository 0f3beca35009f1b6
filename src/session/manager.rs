//! The session rules, on top of any [`SessionStore`].

use std::cell::Cell;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::config::{check_timeout, FingerprintPolicy, SessionConfig};
use super::input;
use super::record::{Client, Issued, Session, SessionRecord, StoredState};
use super::store::{Rotated, SessionStore, StateWrite, Written};
use super::token::{self, TokenHash};
use super::SessionError;
use crate::error::{Error, Result, StoreError};
use crate::kernel::clock::Clock;
use crate::kernel::net::{self as ip, IpMask};
use crate::kernel::useragent;
use crate::store::remote::LocalBoxFuture;

/// How often creating a session also sweeps expired ones, in ms.
const SWEEP_EVERY_MS: i64 = 60_000;
/// How many expired sessions one sweep deletes at most.
const SWEEP_LIMIT: u32 = 500;
/// How many sessions one sweep looks at, at most, from where the last one
/// stopped (the SQLite table has no index by expiry: a create writes one
/// B-tree): about a millisecond once a minute (more for sessions with large
/// states, whose rows fill more pages), and the whole of a table of a
/// million sessions in under a day of creates.
const SWEEP_VISIT: u32 = 2_000;
/// Attempts at drawing an unused id and token before giving up.
const INSERT_ATTEMPTS: usize = 4;
/// Attempts at a read-modify-write of sealed state that raced another write.
const SEALED_ATTEMPTS: usize = 4;

/// What the request says about the client. Both fields are optional.
#[derive(Debug, Clone, Default)]
pub struct ClientContext<'a> {
    /// The client's IP address.
    pub ip: Option<&'a str>,
    /// The client's `User-Agent` header.
    pub user_agent: Option<&'a str>,
}

impl<'a> ClientContext<'a> {
    /// The parts of this client the engine accepts: an IP address that does
    /// not parse, or a user agent over the size limit (a malformed or hostile
    /// header), is left out rather than failing the request. Servers call
    /// it on what they read from a request before they create a session.
    pub fn accepted(&self) -> ClientContext<'a> {
        ClientContext {
            ip: self.ip.filter(|ip| ip::parse("ip", ip).is_ok()),
            user_agent: self.user_agent.filter(|ua| input::user_agent(ua).is_ok()),
        }
    }

    pub(crate) fn check(&self) -> Result<()> {
        if let Some(ip) = self.ip {
            ip::parse("ip", ip)?;
        }
        if let Some(ua) = self.user_agent {
            input::user_agent(ua)?;
        }
        Ok(())
    }

    /// SHA-256 of the user agent and the IP's network, if either is given.
    fn fingerprint(&self) -> Result<Option<TokenHash>> {
        if self.ip.is_none() && self.user_agent.is_none() {
            return Ok(None);
        }
        let network = match self.ip {
            Some(text) => ip::network(ip::parse("ip", text)?).to_string(),
            None => String::new(),
        };
        let mut h = Sha256::new();
        h.update(b"usertrail fingerprint v1\n");
        h.update(self.user_agent.unwrap_or_default().as_bytes());
        h.update(b"\n");
        h.update(network.as_bytes());
        Ok(Some(h.finalize().into()))
    }
}

/// Options for [`Sessions::create`].
#[derive(Debug, Clone, Default)]
pub struct CreateOptions<'a> {
    /// The user; `None` for an anonymous session, bound later by `login`.
    pub user_id: Option<&'a str>,
    /// The client.
    pub client: ClientContext<'a>,
    /// Initial state: a JSON object.
    pub data: Option<Map<String, Value>>,
    /// Overrides the engine's idle timeout for this session.
    pub idle_timeout_secs: Option<u32>,
    /// Overrides the engine's absolute timeout for this session.
    pub absolute_timeout_secs: Option<u32>,
}

/// What a login (or [`Sessions::extend`]) asks of the session's lifetime:
/// "remember me". Read from JS as `{ remember, idleTimeoutSecs,
/// absoluteTimeoutSecs }`.
#[derive(Debug, Clone, Copy, Default, serde::Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct LoginOptions {
    /// The engine's remember-me timeouts (`sessions.rememberIdleTimeoutSecs`
    /// and `rememberAbsoluteTimeoutSecs`), unless given below.
    pub remember: bool,
    /// This session's idle timeout, in seconds.
    pub idle_timeout_secs: Option<u32>,
    /// This session's absolute lifetime, in seconds from the login.
    pub absolute_timeout_secs: Option<u32>,
}

/// The session operations of one engine.
pub struct Sessions<'a, S: SessionStore> {
    store: S,
    config: &'a SessionConfig,
    ip_mask: IpMask,
    clock: &'a dyn Clock,
    last_sweep: &'a Cell<i64>,
    observer: Option<&'a dyn SessionObserver>,
}

/// Told of what happens to sessions, so that the engine can record it
/// (audit entries, tracking events). Async, since recording an event may
/// read consent from a shared store.
pub trait SessionObserver {
    /// Under the `warn` fingerprint policy, a request's client differed from
    /// the session's. Called at most once per touch interval per session.
    fn fingerprint_mismatch<'s>(
        &'s self,
        session: &'s Session,
        client: &'s ClientContext<'s>,
    ) -> LocalBoxFuture<'s, Result<()>>;

    /// Something happened to a session: a login, a logout, an expiry.
    fn changed<'s>(&'s self, _change: &'s Change<'s>) -> LocalBoxFuture<'s, Result<()>> {
        Box::pin(async { Ok(()) })
    }
}

/// What happened to a session, as a [`SessionObserver`] hears of it. Never
/// carries a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change<'a> {
    /// `login` bound a session to `user_id`. `replaced` is the session of
    /// another user it ended (a fresh session was started instead), if any.
    LoggedIn {
        /// The user.
        user_id: &'a str,
        /// The session, after the login.
        session_id: &'a str,
        /// The other user's session the login ended, if it was bound to one.
        replaced: Option<&'a str>,
    },
    /// `destroy` ended a session (a logout).
    LoggedOut {
        /// The session.
        session_id: &'a str,
        /// Its user, if it was bound to one.
        user_id: Option<&'a str>,
    },
    /// `destroy_by_session_id` signed one of a user's devices out.
    SignedOut {
        /// The user.
        user_id: &'a str,
        /// The session.
        session_id: &'a str,
    },
    /// `destroy_all_for_user` ended `count` of a user's sessions.
    LoggedOutEverywhere {
        /// The user.
        user_id: &'a str,
        /// How many sessions ended.
        count: u64,
    },
    /// A call found a session past its deadline, and deleted it.
    Expired {
        /// The session.
        session_id: &'a str,
        /// Its user, if it was bound to one.
        user_id: Option<&'a str>,
    },
}

impl<'a, S: SessionStore> Sessions<'a, S> {
    /// Sessions on `store`, with `config` and `clock`; `ip_mask` masks the
    /// client addresses kept. `last_sweep` remembers when expired sessions
    /// were last swept, across calls.
    pub fn new(
        store: S,
        config: &'a SessionConfig,
        ip_mask: IpMask,
        clock: &'a dyn Clock,
        last_sweep: &'a Cell<i64>,
    ) -> Self {
        Self {
            store,
            config,
            ip_mask,
            clock,
            last_sweep,
            observer: None,
        }
    }

    /// Reports what happens to sessions to `observer`.
    pub fn with_observer(mut self, observer: &'a dyn SessionObserver) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Creates a session and returns it with its token.
    pub async fn create(&self, options: CreateOptions<'_>) -> Result<Issued> {
        if let Some(user) = options.user_id {
            input::user_id("userId", user)?;
        }
        options.client.check()?;
        let idle_secs = options
            .idle_timeout_secs
            .unwrap_or(self.config.idle_timeout_secs);
        let absolute_secs = options
            .absolute_timeout_secs
            .unwrap_or(self.config.absolute_timeout_secs);
        check_timeout("idleTimeoutSecs", idle_secs)?;
        check_timeout("absoluteTimeoutSecs", absolute_secs)?;
        let data = options.data.unwrap_or_default();
        input::state_keys("data", &data)?;
        let data = Value::Object(data);
        input::state_value("data", &data)?;
        let data = data.to_string();
        self.check_size(data.len())?;

        let now = self.clock.now_ms();
        self.sweep(now).await?;
        let ua = useragent::parse(options.client.user_agent.unwrap_or_default());
        let ip = options
            .client
            .ip
            .map(|text| ip::mask(text, self.ip_mask))
            .transpose()?;
        let client = Client {
            ip,
            browser: ua.browser,
            os: ua.os,
            device: ua.device,
        };
        let fingerprint = options.client.fingerprint()?;
        let fresh = Fresh {
            user_id: options.user_id,
            idle_ms: i64::from(idle_secs) * 1000,
            absolute_ms: i64::from(absolute_secs) * 1000,
            client: &client,
            fingerprint,
            data: &data,
        };
        self.insert_fresh(now, &fresh).await
    }

    /// Inserts a new session with fresh ids, drawing again on a collision.
    async fn insert_fresh(&self, now: i64, f: &Fresh<'_>) -> Result<Issued> {
        let absolute_expires_at = now + f.absolute_ms;
        for _ in 0..INSERT_ATTEMPTS {
            let session_id = token::new_session_id();
            let (token, token_hash) =
                token::new_token(&token::slot(f.user_id, &session_id), &session_id);
            let record = SessionRecord {
                session_id,
                token_hash,
                user_id: f.user_id.map(str::to_owned),
                created_at: now,
                last_seen_at: now,
                idle_timeout_ms: f.idle_ms,
                idle_expires_at: (now + f.idle_ms).min(absolute_expires_at),
                absolute_expires_at,
                client: f.client.clone(),
                fingerprint: f.fingerprint,
                version: 0,
            };
            let state = self.seal(&record.session_id, f.data.to_owned());
            let keep = f.user_id.and(self.config.max_sessions_per_user);
            if self.store.insert(&record, &state, keep).await?.is_some() {
                return Ok(Issued {
                    token,
                    session: record.view(),
                });
            }
        }
        Err(StoreError::Contended {
            detail: "could not draw an unused session id".into(),
        }
        .into())
    }

    /// The record a token names, as the store has it (expired or not), if
    /// the token is well formed and says where it is.
    async fn find(&self, token: &str) -> Result<Option<SessionRecord>> {
        let Some(at) = token::parse(token) else {
            return Ok(None);
        };
        let Some(record) = self.store.load(&at).await? else {
            return Ok(None);
        };
        Ok(Self::in_place(&at, &record).then_some(record))
    }

    /// Whether the token's slot is the one the session lives in.
    fn in_place(at: &token::Locator, record: &SessionRecord) -> bool {
        at.names(&record.session_id, record.user_id.as_deref())
    }

    /// The session a token belongs to, or `None` for an unknown, malformed,
    /// expired or destroyed token. Slides the idle deadline (writing at most
    /// once per touch interval) and applies the fingerprint policy. An
    /// expired session found here is deleted.
    pub async fn validate(
        &self,
        token: &str,
        client: &ClientContext<'_>,
    ) -> Result<Option<Session>> {
        client.check()?;
        let Some(record) = self.find(token).await? else {
            return Ok(None);
        };
        self.admit(record, client).await
    }

    /// [`Sessions::validate`], and the session's state with it: one lookup
    /// in a shared store (Redis) instead of two. For a server that reads
    /// the state on most requests (the middleware).
    pub async fn validate_with_state(
        &self,
        token: &str,
        client: &ClientContext<'_>,
    ) -> Result<Option<(Session, Map<String, Value>)>> {
        client.check()?;
        let Some(at) = token::parse(token) else {
            return Ok(None);
        };
        let Some((record, state, _)) = self
            .store
            .load_with_state(&at)
            .await?
            .filter(|(r, _, _)| Self::in_place(&at, r))
        else {
            return Ok(None);
        };
        let session_id = record.session_id.clone();
        let Some(session) = self.admit(record, client).await? else {
            return Ok(None);
        };
        Ok(Some((session, self.open(&session_id, state)?)))
    }

    /// The rules of `validate` for a record found by its token: expiry,
    /// the fingerprint policy, the throttled touch.
    async fn admit(
        &self,
        mut record: SessionRecord,
        client: &ClientContext<'_>,
    ) -> Result<Option<Session>> {
        let now = self.clock.now_ms();
        if record.is_expired(now) {
            self.expire(&record).await?;
            return Ok(None);
        }
        let mismatch = self.config.fingerprint != FingerprintPolicy::Off
            && record.fingerprint.is_some()
            && client
                .fingerprint()?
                .is_some_and(|fp| Some(fp) != record.fingerprint);
        if mismatch && self.config.fingerprint == FingerprintPolicy::Strict {
            self.store.delete(&record).await?;
            return Ok(None);
        }
        // At most once per touch interval, or per half the session's own
        // idle timeout if that is shorter: a session created or extended
        // with an idle timeout below the interval (which only the engine's
        // default is checked against) still slides with use (found by a
        // new user: one validated every 5 s with a 10 s timeout ended).
        let interval =
            (i64::from(self.config.touch_interval_secs) * 1000).min(record.idle_timeout_ms / 2);
        let touch = now - record.last_seen_at >= interval;
        if touch {
            record.last_seen_at = now;
            record.idle_expires_at = (now + record.idle_timeout_ms).min(record.absolute_expires_at);
            self.store.touch(&record).await?;
        }
        let mut session = record.view();
        session.fingerprint_mismatch = mismatch;
        session.renewed = touch;
        if mismatch && touch {
            if let Some(observer) = self.observer {
                observer.fingerprint_mismatch(&session, client).await?;
            }
        }
        Ok(Some(session))
    }

    /// Issues a new token for the same session and state; the old token stops
    /// working at once. Call it at any privilege change.
    pub async fn rotate(&self, token: &str) -> Result<Issued> {
        let at = token::parse(token).ok_or(SessionError::NotFound)?;
        let (Some(slot), Some(sid)) = (&at.slot, &at.session_id) else {
            // A first-format token says nothing of where it is: find it first.
            let record = self.live(token).await?;
            return self.rotate_record(&record).await;
        };
        // The new token is in the same place: one step in the store.
        let (new_token, new_hash) = token::new_token(slot, sid);
        match self
            .store
            .rotate(&at, self.clock.now_ms(), &new_hash)
            .await?
        {
            Rotated::Done(record) if *slot == token::slot(record.user_id.as_deref(), sid) => {
                Ok(Issued {
                    token: new_token,
                    session: record.view(),
                })
            }
            Rotated::Done(_) | Rotated::NotFound => Err(SessionError::NotFound.into()),
            Rotated::Expired(record) => {
                self.expire(&record).await?;
                Err(SessionError::Expired.into())
            }
        }
    }

    /// [`Sessions::login_with`] without options.
    pub async fn login(&self, token: &str, user_id: &str) -> Result<Issued> {
        self.login_with(token, user_id, &LoginOptions::default())
            .await
    }

    /// The timeouts a login asks for: `(idle ms, absolute ms from now)`,
    /// or `None` to keep the session's.
    fn lifetime(&self, options: &LoginOptions) -> Result<Option<(i64, i64)>> {
        let (idle, absolute) = if options.remember {
            (
                options
                    .idle_timeout_secs
                    .unwrap_or(self.config.remember_idle_timeout_secs),
                options
                    .absolute_timeout_secs
                    .unwrap_or(self.config.remember_absolute_timeout_secs),
            )
        } else {
            match (options.idle_timeout_secs, options.absolute_timeout_secs) {
                (None, None) => return Ok(None),
                (idle, absolute) => (
                    idle.unwrap_or(self.config.idle_timeout_secs),
                    absolute.unwrap_or(self.config.absolute_timeout_secs),
                ),
            }
        };
        super::config::check_timeout("idleTimeoutSecs", idle)?;
        super::config::check_timeout("absoluteTimeoutSecs", absolute)?;
        Ok(Some((i64::from(idle) * 1000, i64::from(absolute) * 1000)))
    }

    /// Gives the live session `token` names a new lifetime ("remember
    /// me"): with `remember`, the engine's remember-me timeouts; or the
    /// idle timeout and the absolute lifetime given. The token stays.
    /// Returns the session.
    ///
    /// Only a login (an authentication) starts a new absolute lifetime: here
    /// the absolute deadline is at most the later of the session's current
    /// one and its creation plus the lifetime asked, so extending on every
    /// request cannot keep a session alive past it (it can shorten it).
    pub async fn extend(&self, token: &str, options: &LoginOptions) -> Result<Session> {
        let Some((idle_ms, absolute_ms)) = self.lifetime(options)? else {
            return Err(Error::invalid(
                "options",
                "give remember, idleTimeoutSecs or absoluteTimeoutSecs",
            ));
        };
        let record = self.live(token).await?;
        let now = self.clock.now_ms();
        let cap = record
            .absolute_expires_at
            .max(record.created_at.saturating_add(absolute_ms));
        let absolute = now.saturating_add(absolute_ms).min(cap);
        self.relife(&record, Some((idle_ms, absolute - now))).await
    }

    /// Binds the session to `user_id` and rotates its token, in one step.
    /// An anonymous session keeps its state; so does a session of the same
    /// user logging in again. A session bound to another user is never
    /// handed over (on a shared computer, the next user would get the first
    /// one's cart): it is destroyed, and a fresh, empty session is started
    /// for `user_id` on the same device. With `options` ("remember me"),
    /// the logged-in session gets a lifetime of its own, counted from the
    /// login.
    pub async fn login_with(
        &self,
        token: &str,
        user_id: &str,
        options: &LoginOptions,
    ) -> Result<Issued> {
        input::user_id("userId", user_id)?;
        let lifetime = self.lifetime(options)?;
        let record = self.live(token).await?;
        let keep = self.config.max_sessions_per_user;
        let (issued, replaced) = match record.user_id.as_deref() {
            Some(same) if same == user_id => {
                let mut issued = self.rotate_record(&record).await?;
                if lifetime.is_some() {
                    let rotated = self.live(&issued.token).await?;
                    issued.session = self.relife(&rotated, lifetime).await?;
                }
                self.enforce_limit(user_id).await?;
                (issued, None)
            }
            Some(_) => (
                self.replace(&record, user_id, lifetime).await?,
                Some(record.session_id.as_str()),
            ),
            None => {
                let slot = token::slot(Some(user_id), &record.session_id);
                let (new_token, new_hash) = token::new_token(&slot, &record.session_id);
                // A login is activity: it slides the idle deadline too.
                let now = self.clock.now_ms();
                let (idle_ms, absolute) = match lifetime {
                    Some((idle, absolute)) => (idle, now + absolute),
                    None => (record.idle_timeout_ms, record.absolute_expires_at),
                };
                let bound = SessionRecord {
                    token_hash: new_hash,
                    user_id: Some(user_id.to_owned()),
                    last_seen_at: now,
                    idle_timeout_ms: idle_ms,
                    idle_expires_at: (now + idle_ms).min(absolute),
                    absolute_expires_at: absolute,
                    ..record.clone()
                };
                if !self.store.bind(&record, &bound, keep).await? {
                    return Err(SessionError::NotFound.into());
                }
                (
                    Issued {
                        token: new_token,
                        session: bound.view(),
                    },
                    None,
                )
            }
        };
        self.tell(&Change::LoggedIn {
            user_id,
            session_id: &issued.session.session_id,
            replaced,
        })
        .await?;
        Ok(issued)
    }

    async fn rotate_record(&self, record: &SessionRecord) -> Result<Issued> {
        let slot = token::slot(record.user_id.as_deref(), &record.session_id);
        let (new_token, new_hash) = token::new_token(&slot, &record.session_id);
        if !self.store.rehash(record, &new_hash).await? {
            return Err(SessionError::NotFound.into());
        }
        Ok(Issued {
            token: new_token,
            session: record.view(),
        })
    }

    /// The live `record` with a new lifetime (`(idle ms, absolute ms)`
    /// from now); as it is without one.
    async fn relife(
        &self,
        record: &SessionRecord,
        lifetime: Option<(i64, i64)>,
    ) -> Result<Session> {
        let Some((idle_ms, absolute_ms)) = lifetime else {
            return Ok(record.view());
        };
        let now = self.clock.now_ms();
        let absolute = now + absolute_ms;
        let updated = SessionRecord {
            idle_timeout_ms: idle_ms,
            idle_expires_at: (now + idle_ms).min(absolute),
            absolute_expires_at: absolute,
            ..record.clone()
        };
        if !self.store.relife(record, &updated).await? {
            return Err(SessionError::NotFound.into());
        }
        Ok(updated.view())
    }

    /// A fresh session for `user_id` on `old`'s device (its client and
    /// fingerprint, no state), then `old` destroyed.
    async fn replace(
        &self,
        old: &SessionRecord,
        user_id: &str,
        lifetime: Option<(i64, i64)>,
    ) -> Result<Issued> {
        let now = self.clock.now_ms();
        let (idle_ms, absolute_ms) = lifetime.unwrap_or((
            i64::from(self.config.idle_timeout_secs) * 1000,
            i64::from(self.config.absolute_timeout_secs) * 1000,
        ));
        let fresh = Fresh {
            user_id: Some(user_id),
            idle_ms,
            absolute_ms,
            client: &old.client,
            fingerprint: old.fingerprint,
            data: "{}",
        };
        let issued = self.insert_fresh(now, &fresh).await?;
        self.store.delete(old).await?;
        Ok(issued)
    }

    /// The id of the session `token` names, read from the token itself (no
    /// lookup), or `None` for a malformed token. A first-format token,
    /// which carries no id, is looked up, and counts only while live.
    pub async fn session_id_of(&self, token: &str) -> Result<Option<String>> {
        let Some(at) = token::parse(token) else {
            return Ok(None);
        };
        if let Some(sid) = at.session_id {
            return Ok(Some(sid));
        }
        let now = self.clock.now_ms();
        Ok(self
            .store
            .load(&at)
            .await?
            .filter(|r| !r.is_expired(now))
            .map(|r| r.session_id))
    }

    /// Ends the session a token belongs to. Returns whether there was one.
    pub async fn destroy(&self, token: &str) -> Result<bool> {
        let Some(at) = token::parse(token) else {
            return Ok(false);
        };
        let Some(record) = self.store.delete_token(&at).await? else {
            return Ok(false);
        };
        self.tell(&Change::LoggedOut {
            session_id: &record.session_id,
            user_id: record.user_id.as_deref(),
        })
        .await?;
        Ok(true)
    }

    /// Ends one of a user's sessions by its id ("sign out that device").
    /// Returns whether the user had it.
    pub async fn destroy_by_session_id(&self, user_id: &str, session_id: &str) -> Result<bool> {
        input::user_id("userId", user_id)?;
        if !token::is_session_id(session_id) {
            return Ok(false);
        }
        let existed = self
            .store
            .delete_for_user_by_id(user_id, session_id)
            .await?;
        if existed {
            self.tell(&Change::SignedOut {
                user_id,
                session_id,
            })
            .await?;
        }
        Ok(existed)
    }

    /// Ends all of a user's sessions, except `except` if given ("log out
    /// everywhere else"), and tells the observer (the engine audits it).
    /// Returns how many ended.
    pub async fn destroy_all_for_user(&self, user_id: &str, except: Option<&str>) -> Result<u64> {
        input::user_id("userId", user_id)?;
        let n = self.store.delete_all_for_user(user_id, except).await?;
        self.tell(&Change::LoggedOutEverywhere { user_id, count: n })
            .await?;
        Ok(n)
    }

    /// A user's live sessions (devices), most recently used first.
    pub async fn list(&self, user_id: &str) -> Result<Vec<Session>> {
        input::user_id("userId", user_id)?;
        let now = self.clock.now_ms();
        Ok(self
            .store
            .list_for_user(user_id, now)
            .await?
            .iter()
            .map(SessionRecord::view)
            .collect())
    }

    /// Deletes up to `limit` expired sessions (default 500), looking at no
    /// more than `visit` sessions (`None`: all of them once). Returns how
    /// many it deleted. The engine's own table is looked through from where
    /// the last sweep stopped (it has no index by expiry), so without
    /// `visit` a call on a large table with few expired sessions reads all
    /// of it. A store whose sessions expire by themselves (Redis TTLs)
    /// deletes none here.
    pub async fn cleanup(&self, limit: Option<u32>, visit: Option<u32>) -> Result<u64> {
        let now = self.clock.now_ms();
        self.last_sweep.set(now);
        self.store
            .delete_expired(now, limit.unwrap_or(SWEEP_LIMIT), visit)
            .await
    }

    /// The whole state (`key` = `None`) or one top-level key's value
    /// (`None` if unset).
    pub async fn get(&self, token: &str, key: Option<&str>) -> Result<Option<Value>> {
        if let Some(key) = key {
            input::state_key(key)?;
        }
        let at = token::parse(token).ok_or(SessionError::NotFound)?;
        let (record, state, _) = self
            .store
            .load_with_state(&at)
            .await?
            .filter(|(r, _, _)| Self::in_place(&at, r))
            .ok_or(SessionError::NotFound)?;
        if record.is_expired(self.clock.now_ms()) {
            self.expire(&record).await?;
            return Err(SessionError::Expired.into());
        }
        let mut doc = self.open(&record.session_id, state)?;
        Ok(match key {
            None => Some(Value::Object(doc)),
            Some(key) => doc.remove(key),
        })
    }

    /// Sets one top-level key. Writers of different keys never lose each
    /// other's updates. Returns the state's new version.
    pub async fn set(
        &self,
        token: &str,
        key: &str,
        value: &Value,
        expected: Option<i64>,
    ) -> Result<i64> {
        input::state_key(key)?;
        input::state_value("value", value)?;
        let json = value.to_string();
        self.check_size(json.len())?;
        self.write(
            token,
            expected,
            StateWrite::SetKey { key, json: &json },
            |doc| {
                doc.insert(key.to_owned(), value.clone());
            },
        )
        .await
    }

    /// Checks `key` and the size of a value given as JSON text before the
    /// value is built: a value whose text alone is over the state's limit,
    /// as [`Sessions::set`] would write it, is refused with
    /// `PAYLOAD_TOO_LARGE` without reading it (twelve megabytes of small
    /// objects took a second to build, then were refused).
    pub fn check_value_text(&self, key: &str, text: &str) -> Result<()> {
        input::state_key(key)?;
        if let Some(size) = crate::kernel::json_len::written_len(text) {
            self.check_size(size)?;
        }
        Ok(())
    }

    /// Applies a JSON Merge Patch: keys set to `null` are removed, objects
    /// merge recursively, everything else replaces. Returns the new version.
    pub async fn merge(
        &self,
        token: &str,
        patch: &Map<String, Value>,
        expected: Option<i64>,
    ) -> Result<i64> {
        input::state_keys("patch", patch)?;
        let patch_value = Value::Object(patch.clone());
        input::state_value("patch", &patch_value)?;
        let json = patch_value.to_string();
        self.check_size(json.len())?;
        self.write(token, expected, StateWrite::MergePatch(&json), |doc| {
            let mut merged = Value::Object(std::mem::take(doc));
            merge_patch(&mut merged, &Value::Object(patch.clone()));
            if let Value::Object(m) = merged {
                *doc = m;
            }
        })
        .await
    }

    /// Removes one top-level key. Returns the new version.
    pub async fn remove(&self, token: &str, key: &str, expected: Option<i64>) -> Result<i64> {
        input::state_key(key)?;
        self.write(token, expected, StateWrite::RemoveKey(key), |doc| {
            doc.remove(key);
        })
        .await
    }

    /// Empties the state. Returns the new version.
    pub async fn clear(&self, token: &str, expected: Option<i64>) -> Result<i64> {
        let at = token::parse(token).ok_or(SessionError::NotFound)?;
        let now = self.clock.now_ms();
        // Sealed or not, an empty state is sealed afresh under the session
        // id (known only once the session is found): look it up first.
        let record = self.live(token).await?;
        let state = self.seal(&record.session_id, "{}".into());
        let limit = self.config.max_state_bytes + SEAL_OVERHEAD;
        let written = self
            .store
            .write_state(&at, now, StateWrite::Replace(state), expected, limit)
            .await?;
        self.written(written).await
    }

    /// What a store's answer to a state write means for the caller.
    async fn written(&self, written: Written) -> Result<i64> {
        match written {
            Written::Version(v) => Ok(v),
            Written::NotFound | Written::Sealed => Err(SessionError::NotFound.into()),
            Written::Expired(record) => {
                self.expire(&record).await?;
                Err(SessionError::Expired.into())
            }
        }
    }

    /// Applies `write` in the store, in one step, when the state is
    /// plaintext; when it is sealed, opens it, applies `edit`, and seals it
    /// again under the version it read (retrying if another write came
    /// between).
    async fn write(
        &self,
        token: &str,
        expected: Option<i64>,
        write: StateWrite<'_>,
        edit: impl Fn(&mut Map<String, Value>),
    ) -> Result<i64> {
        let at = token::parse(token).ok_or(SessionError::NotFound)?;
        let limit = self.config.max_state_bytes;
        if self.config.keys.is_empty() {
            let now = self.clock.now_ms();
            match self
                .store
                .write_state(&at, now, write, expected, limit)
                .await?
            {
                Written::Sealed => {} // sealed by an engine with keys: open it below
                other => return self.written(other).await,
            }
        }
        for _ in 0..SEALED_ATTEMPTS {
            let record = self.live(token).await?;
            let (state, version) = self.store.load_state(&record).await?;
            if let Some(expected) = expected.filter(|e| *e != version) {
                return Err(SessionError::Conflict {
                    expected,
                    found: version,
                }
                .into());
            }
            let mut doc = self.open(&record.session_id, state)?;
            edit(&mut doc);
            let json = Value::Object(doc).to_string();
            self.check_size(json.len())?;
            let sealed = self.seal(&record.session_id, json);
            let now = self.clock.now_ms();
            match self
                .store
                .write_state(
                    &at,
                    now,
                    StateWrite::Replace(sealed),
                    Some(version),
                    limit + SEAL_OVERHEAD,
                )
                .await
            {
                Err(Error::Session(SessionError::Conflict { .. })) if expected.is_none() => {
                    continue
                }
                Err(e) => return Err(e),
                Ok(written) => return self.written(written).await,
            }
        }
        Err(StoreError::Contended {
            detail: "the session state kept changing".into(),
        }
        .into())
    }

    /// The live record for a token, deleting it if it has expired.
    async fn live(&self, token: &str) -> Result<SessionRecord> {
        let record = self.find(token).await?.ok_or(SessionError::NotFound)?;
        if record.is_expired(self.clock.now_ms()) {
            self.expire(&record).await?;
            return Err(SessionError::Expired.into());
        }
        Ok(record)
    }

    /// Deletes a session found past its deadline, and says so.
    async fn expire(&self, record: &SessionRecord) -> Result<()> {
        if self.store.delete_expired_one(record).await? {
            self.tell(&Change::Expired {
                session_id: &record.session_id,
                user_id: record.user_id.as_deref(),
            })
            .await?;
        }
        Ok(())
    }

    async fn tell(&self, change: &Change<'_>) -> Result<()> {
        match self.observer {
            Some(observer) => observer.changed(change).await,
            None => Ok(()),
        }
    }

    /// Seals `json` with the newest key, or keeps it plaintext without keys.
    fn seal(&self, session_id: &str, json: String) -> StoredState {
        match self
            .config
            .keys
            .seal(json.as_bytes(), session_id.as_bytes())
        {
            Some((key_id, blob)) => StoredState::Sealed { key_id, blob },
            None => StoredState::Plain(json),
        }
    }

    /// The state as a JSON object, opened if sealed.
    fn open(&self, session_id: &str, state: StoredState) -> Result<Map<String, Value>> {
        let json = match state {
            StoredState::Plain(json) => json,
            StoredState::Sealed { key_id, blob } => {
                let bytes = self
                    .config
                    .keys
                    .open(&key_id, &blob, session_id.as_bytes())?;
                String::from_utf8(bytes).map_err(|_| SessionError::DecryptionFailed { key_id })?
            }
        };
        match serde_json::from_str(&json) {
            Ok(Value::Object(doc)) => Ok(doc),
            _ => Err(StoreError::Corrupt {
                detail: format!("session {session_id} has state that is not a JSON object"),
            }
            .into()),
        }
    }

    fn check_size(&self, size: usize) -> Result<()> {
        let limit = self.config.max_state_bytes;
        if size > limit {
            return Err(SessionError::PayloadTooLarge { size, limit }.into());
        }
        Ok(())
    }

    async fn enforce_limit(&self, user_id: &str) -> Result<()> {
        if let Some(max) = self.config.max_sessions_per_user {
            self.store.evict_least_recent(user_id, max).await?;
        }
        Ok(())
    }

    /// Deletes expired sessions if the last sweep was a while ago.
    async fn sweep(&self, now: i64) -> Result<()> {
        if !self.store.expires_by_itself() && now - self.last_sweep.get() >= SWEEP_EVERY_MS {
            self.last_sweep.set(now);
            self.store
                .delete_expired(now, SWEEP_LIMIT, Some(SWEEP_VISIT))
                .await?;
        }
        Ok(())
    }
}

/// What a new session is made of.
struct Fresh<'a> {
    user_id: Option<&'a str>,
    idle_ms: i64,
    absolute_ms: i64,
    client: &'a Client,
    fingerprint: Option<TokenHash>,
    data: &'a str,
}

/// Bytes sealing adds to a state: a 24-byte nonce and a 16-byte tag.
const SEAL_OVERHEAD: usize = 40;

/// RFC 7396 JSON Merge Patch, as SQLite's `json_patch` applies it.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(doc) = target else { return };
    for (k, v) in patch {
        if v.is_null() {
            doc.remove(k);
        } else {
            merge_patch(doc.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}
