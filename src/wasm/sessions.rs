//! The `Sessions` JS class (`trail.sessions`): a thin shell over
//! [`crate::session::Sessions`].
//!
//! Every method returns a Promise, on every host and every store: the
//! engine's own SQLite answers at once, a shared store (Redis) through the
//! host.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use wasm_bindgen::prelude::*;

use super::input::{self, to_js};
use super::output;
use super::user_trail::{promise, Handle};
use crate::session::{ClientContext, CreateOptions};
use js_sys::Promise;

/// `{ ip, userAgent }`.
#[derive(Deserialize, Serialize, Default)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
struct ClientJs {
    #[serde(skip_serializing_if = "Option::is_none")]
    ip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_agent: Option<String>,
}

impl ClientJs {
    fn context(&self) -> ClientContext<'_> {
        ClientContext {
            ip: self.ip.as_deref(),
            user_agent: self.user_agent.as_deref(),
        }
    }
}

/// The options of `create`.
#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
struct CreateJs {
    user_id: Option<String>,
    ip: Option<String>,
    user_agent: Option<String>,
    data: Option<Value>,
    idle_timeout_secs: Option<u32>,
    absolute_timeout_secs: Option<u32>,
}

/// `{ expectedVersion }`.
#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
struct WriteJs {
    expected_version: Option<i64>,
}

/// `{ exceptSessionId }`.
#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
struct DestroyAllJs {
    except_session_id: Option<String>,
}

/// `{ limit }`.
#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct CleanupJs {
    limit: Option<u32>,
    visit: Option<u32>,
}

/// The sessions of an engine: `trail.sessions`.
#[wasm_bindgen(js_name = Sessions)]
pub struct JsSessions(Handle);

impl JsSessions {
    pub(crate) fn new(handle: Handle) -> Self {
        Self(handle)
    }
}

/// The token and `{ expectedVersion }` of a state write.
fn write_args(token: &JsValue, options: &JsValue) -> crate::Result<(String, Option<i64>)> {
    let token = input::string(token, "token")?;
    let o: WriteJs = input::options(options, "options")?;
    Ok((token, o.expected_version))
}

#[wasm_bindgen(js_class = Sessions)]
impl JsSessions {
    /// Creates a session. Returns it with its `token`, which is shown only
    /// here: the store keeps its hash.
    ///
    /// ```javascript
    /// const { token, sessionId } = await trail.sessions.create({
    ///   ip: req.ip, userAgent: req.headers['user-agent'], data: { cart: [] },
    /// });
    /// res.setHeader('Set-Cookie', `sid=${token}; HttpOnly; Secure; SameSite=Lax; Path=/`);
    /// ```
    #[wasm_bindgen(unchecked_return_type = "Promise<CreatedSession>")]
    pub fn create(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "CreateSessionOptions")] options: Option<
            JsValue,
        >,
    ) -> Promise {
        promise(|| {
            let o: CreateJs = input::options(&options.unwrap_or_default(), "options")?;
            let data: Option<Map<String, Value>> = match o.data.clone() {
                None | Some(Value::Null) => None,
                Some(Value::Object(map)) if !crate::kernel::bytes::is_bytes(&map) => Some(map),
                Some(_) => return Err(crate::Error::invalid("data", "must be a plain object")),
            };
            Ok(self.0.run(move |t| async move {
                let issued = t
                    .trail
                    .sessions()
                    .create(CreateOptions {
                        user_id: o.user_id.as_deref(),
                        client: ClientContext {
                            ip: o.ip.as_deref(),
                            user_agent: o.user_agent.as_deref(),
                        },
                        data,
                        idle_timeout_secs: o.idle_timeout_secs,
                        absolute_timeout_secs: o.absolute_timeout_secs,
                    })
                    .await?;
                Ok(output::issued(&issued))
            }))
        })
    }

    /// The session a token belongs to, or `null` for an unknown, malformed,
    /// expired or destroyed token. Slides the idle deadline.
    ///
    /// ```javascript
    /// const session = await trail.sessions.validate(cookies.sid, { ip, userAgent });
    /// if (!session) return redirectToLogin();
    /// ```
    #[wasm_bindgen(unchecked_return_type = "Promise<Session | null>")]
    pub fn validate(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] token: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "ClientContext")] client: Option<JsValue>,
    ) -> Promise {
        promise(|| {
            let token = input::string(&token, "token")?;
            let c: ClientJs = input::options(&client.unwrap_or_default(), "client")?;
            Ok(self.0.run(move |t| async move {
                match t.trail.sessions().validate(&token, &c.context()).await? {
                    Some(session) => Ok(output::session(&session)),
                    None => Ok(JsValue::NULL),
                }
            }))
        })
    }

    /// `validate`, and the session's state with it (`state`): one lookup in
    /// a shared store instead of two, for servers that read the state on
    /// most requests.
    ///
    /// ```javascript
    /// const found = await trail.sessions.validateWithState(cookies.sid, { ip, userAgent });
    /// const cart = found?.state.cart ?? [];
    /// ```
    #[wasm_bindgen(js_name = validateWithState, unchecked_return_type = "Promise<(Session & { state: Record<string, unknown> }) | null>")]
    pub fn validate_with_state(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] token: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "ClientContext")] client: Option<JsValue>,
    ) -> Promise {
        promise(|| {
            let token = input::string(&token, "token")?;
            let c: ClientJs = input::options(&client.unwrap_or_default(), "client")?;
            Ok(self.0.run(move |t| async move {
                let sessions = t.trail.sessions();
                match sessions.validate_with_state(&token, &c.context()).await? {
                    Some((session, state)) => {
                        let out = output::session(&session);
                        let _ = js_sys::Reflect::set(&out, &"state".into(), &to_js(&state)?);
                        Ok(out)
                    }
                    None => Ok(JsValue::NULL),
                }
            }))
        })
    }

    /// Issues a new token for the same session and state; the old one stops
    /// working at once. Call it whenever privileges change.
    #[wasm_bindgen(unchecked_return_type = "Promise<CreatedSession>")]
    pub fn rotate(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] token: JsValue,
    ) -> Promise {
        promise(|| {
            let token = input::string(&token, "token")?;
            Ok(self.0.run(move |t| async move {
                Ok(output::issued(&t.trail.sessions().rotate(&token).await?))
            }))
        })
    }

    /// Binds the session to a user and rotates its token, in one step. A
    /// session bound to another user is never handed over: it ends, and a
    /// fresh, empty session starts for this user. With `{ remember: true }`
    /// (or explicit timeouts), the logged-in session gets a lifetime of its
    /// own, counted from the login ("remember me").
    ///
    /// ```javascript
    /// const { token } = await trail.sessions.login(cookies.sid, user.id, { remember: true });
    /// // send the new token: the old one no longer works
    /// ```
    #[wasm_bindgen(unchecked_return_type = "Promise<CreatedSession>")]
    pub fn login(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] token: JsValue,
        #[wasm_bindgen(js_name = userId, unchecked_param_type = "string")] user_id: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "LoginOptions")] options: JsValue,
    ) -> Promise {
        promise(|| {
            let token = input::string(&token, "token")?;
            let user_id = input::string(&user_id, "userId")?;
            let o: crate::session::LoginOptions = input::options(&options, "options")?;
            Ok(self.0.run(move |t| async move {
                Ok(output::issued(
                    &t.trail.sessions().login_with(&token, &user_id, &o).await?,
                ))
            }))
        })
    }

    /// Gives a live session a new lifetime ("remember me", after the
    /// login): `{ remember: true }` for the engine's remember-me timeouts,
    /// or `{ idleTimeoutSecs, absoluteTimeoutSecs }` (the absolute one
    /// counted from now). The token stays. Resolves to the session.
    ///
    /// ```javascript
    /// await trail.sessions.extend(token, { remember: true });
    /// ```
    #[wasm_bindgen(unchecked_return_type = "Promise<Session>")]
    pub fn extend(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] token: JsValue,
        #[wasm_bindgen(unchecked_param_type = "LoginOptions")] options: JsValue,
    ) -> Promise {
        promise(|| {
            let token = input::string(&token, "token")?;
            let o: crate::session::LoginOptions = input::parse(&options, "options")?;
            Ok(self.0.run(move |t| async move {
                Ok(output::session(
                    &t.trail.sessions().extend(&token, &o).await?,
                ))
            }))
        })
    }

    /// Ends the session a token belongs to. Resolves to whether there was one.
    #[wasm_bindgen(unchecked_return_type = "Promise<boolean>")]
    pub fn destroy(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] token: JsValue,
    ) -> Promise {
        promise(|| {
            let token = input::string(&token, "token")?;
            Ok(self
                .0
                .run(move |t| async move { Ok(t.trail.sessions().destroy(&token).await?.into()) }))
        })
    }

    /// Ends one of a user's sessions by its `sessionId` ("sign out that
    /// device"). Resolves to whether the user had it.
    #[wasm_bindgen(js_name = destroyBySessionId, unchecked_return_type = "Promise<boolean>")]
    pub fn destroy_by_session_id(
        &self,
        #[wasm_bindgen(js_name = userId, unchecked_param_type = "string")] user_id: JsValue,
        #[wasm_bindgen(js_name = sessionId, unchecked_param_type = "string")] session_id: JsValue,
    ) -> Promise {
        promise(|| {
            let user_id = input::string(&user_id, "userId")?;
            let session_id = input::string(&session_id, "sessionId")?;
            Ok(self.0.run(move |t| async move {
                let gone = t
                    .trail
                    .sessions()
                    .destroy_by_session_id(&user_id, &session_id)
                    .await?;
                Ok(gone.into())
            }))
        })
    }

    /// Ends all of a user's sessions ("log out everywhere"), except
    /// `exceptSessionId` if given. Resolves to how many ended.
    ///
    /// ```javascript
    /// await trail.sessions.destroyAllForUser(user.id, { exceptSessionId: current.sessionId });
    /// ```
    #[wasm_bindgen(js_name = destroyAllForUser, unchecked_return_type = "Promise<number>")]
    pub fn destroy_all_for_user(
        &self,
        #[wasm_bindgen(js_name = userId, unchecked_param_type = "string")] user_id: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "{ exceptSessionId?: string }")]
        options: Option<JsValue>,
    ) -> Promise {
        promise(|| {
            let user_id = input::string(&user_id, "userId")?;
            let o: DestroyAllJs = input::options(&options.unwrap_or_default(), "options")?;
            Ok(self.0.run(move |t| async move {
                let n = t
                    .trail
                    .sessions()
                    .destroy_all_for_user(&user_id, o.except_session_id.as_deref())
                    .await?;
                Ok((n as f64).into())
            }))
        })
    }

    /// A user's live sessions (devices), most recently used first.
    #[wasm_bindgen(unchecked_return_type = "Promise<Session[]>")]
    pub fn list(
        &self,
        #[wasm_bindgen(js_name = userId, unchecked_param_type = "string")] user_id: JsValue,
    ) -> Promise {
        promise(|| {
            let user_id = input::string(&user_id, "userId")?;
            Ok(self
                .0
                .run(move |t| async move { to_js(&t.trail.sessions().list(&user_id).await?) }))
        })
    }

    /// The whole state, or one top-level key's value (`undefined` if unset).
    /// Rejects with `SESSION_NOT_FOUND` or `SESSION_EXPIRED` for a dead token.
    #[wasm_bindgen(unchecked_return_type = "Promise<unknown>")]
    pub fn get(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] token: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "string")] key: Option<JsValue>,
    ) -> Promise {
        promise(|| {
            let token = input::string(&token, "token")?;
            let key = input::opt_string(&key.unwrap_or_default(), "key")?;
            Ok(self.0.run(move |t| async move {
                match t.trail.sessions().get(&token, key.as_deref()).await? {
                    Some(v) => to_js(&v),
                    None => Ok(JsValue::UNDEFINED),
                }
            }))
        })
    }

    /// Sets one top-level key of the state; writers of different keys never
    /// lose each other's updates. Resolves to the state's new version.
    ///
    /// ```javascript
    /// await trail.sessions.set(token, 'cart', [{ sku: 'A1', qty: 2 }]);
    /// ```
    #[wasm_bindgen(unchecked_return_type = "Promise<number>")]
    pub fn set(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] token: JsValue,
        #[wasm_bindgen(unchecked_param_type = "string")] key: JsValue,
        #[wasm_bindgen(unchecked_param_type = "{} | null")] value: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "WriteOptions")] options: Option<JsValue>,
    ) -> Promise {
        promise(|| {
            let (token, expected) = write_args(&token, &options.unwrap_or_default())?;
            let key = input::string(&key, "key")?;
            if value.is_undefined() {
                return Err(crate::Error::invalid(
                    "value",
                    "is required (to delete the key, call sessions.remove(token, key))",
                ));
            }
            let text = input::value_text(&value, "value")?;
            Ok(self.0.run(move |t| async move {
                let sessions = t.trail.sessions();
                sessions.check_value_text(&key, &text)?;
                let value = input::from_text(&text, "value")?;
                let v = sessions.set(&token, &key, &value, expected).await?;
                Ok((v as f64).into())
            }))
        })
    }

    /// Applies a JSON Merge Patch (keys set to `null` are removed). With
    /// `expectedVersion`, rejects with `CONFLICT` if the state changed since.
    ///
    /// ```javascript
    /// const s = await trail.sessions.validate(token);
    /// await trail.sessions.merge(token, { step: 2 }, { expectedVersion: s.version });
    /// ```
    #[wasm_bindgen(unchecked_return_type = "Promise<number>")]
    pub fn merge(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] token: JsValue,
        #[wasm_bindgen(unchecked_param_type = "Record<string, unknown>")] patch: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "WriteOptions")] options: Option<JsValue>,
    ) -> Promise {
        promise(|| {
            let (token, expected) = write_args(&token, &options.unwrap_or_default())?;
            let patch = input::object(&patch, "patch")?;
            Ok(self.0.run(move |t| async move {
                let v = t.trail.sessions().merge(&token, &patch, expected).await?;
                Ok((v as f64).into())
            }))
        })
    }

    /// Removes one top-level key. Resolves to the new version.
    #[wasm_bindgen(unchecked_return_type = "Promise<number>")]
    pub fn remove(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] token: JsValue,
        #[wasm_bindgen(unchecked_param_type = "string")] key: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "WriteOptions")] options: Option<JsValue>,
    ) -> Promise {
        promise(|| {
            let (token, expected) = write_args(&token, &options.unwrap_or_default())?;
            let key = input::string(&key, "key")?;
            Ok(self.0.run(move |t| async move {
                let v = t.trail.sessions().remove(&token, &key, expected).await?;
                Ok((v as f64).into())
            }))
        })
    }

    /// Empties the state. Resolves to the new version.
    #[wasm_bindgen(unchecked_return_type = "Promise<number>")]
    pub fn clear(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] token: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "WriteOptions")] options: Option<JsValue>,
    ) -> Promise {
        promise(|| {
            let (token, expected) = write_args(&token, &options.unwrap_or_default())?;
            Ok(self.0.run(move |t| async move {
                let v = t.trail.sessions().clear(&token, expected).await?;
                Ok((v as f64).into())
            }))
        })
    }

    /// The parts of a client the engine accepts: an `ip` that is not an IP
    /// address, or a `userAgent` over 4 KiB (a malformed or hostile header),
    /// is left out. Servers pass what they read from a request through it
    /// rather than failing the request.
    ///
    /// ```javascript
    /// const client = await trail.sessions.acceptedClient({ ip: req.ip, userAgent: req.headers['user-agent'] });
    /// ```
    #[wasm_bindgen(js_name = acceptedClient, unchecked_return_type = "Promise<ClientContext>")]
    pub fn accepted_client(
        &self,
        #[wasm_bindgen(unchecked_param_type = "ClientContext")] client: JsValue,
    ) -> Promise {
        promise(|| {
            let c: ClientJs = input::options(&client, "client")?;
            let accepted = c.context().accepted();
            let out = to_js(&ClientJs {
                ip: accepted.ip.map(str::to_owned),
                user_agent: accepted.user_agent.map(str::to_owned),
            })?;
            Ok(Promise::resolve(&out))
        })
    }

    /// Deletes up to `limit` (default 500) expired sessions, looking at no
    /// more than `visit` sessions (default: all of them once). Resolves to
    /// how many it deleted. The engine also sweeps by itself, a bounded
    /// stretch at a time. The engine's own table has no index by expiry:
    /// this call looks through it from where the last sweep stopped, so
    /// without `visit` a large table with few expired sessions is read
    /// whole; with it, calls on a timer go round the table a stretch at a
    /// time. A shared store expires sessions by itself (Redis TTLs) and
    /// deletes none here.
    #[wasm_bindgen(unchecked_return_type = "Promise<number>")]
    pub fn cleanup(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "{ limit?: number; visit?: number }")]
        options: Option<JsValue>,
    ) -> Promise {
        promise(|| {
            let o: CleanupJs = input::options(&options.unwrap_or_default(), "options")?;
            Ok(self.0.run(move |t| async move {
                Ok((t.trail.sessions().cleanup(o.limit, o.visit).await? as f64).into())
            }))
        })
    }
}
