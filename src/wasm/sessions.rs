//! The `Sessions` JS class (`trail.sessions`): a thin shell over
//! [`crate::session::Sessions`].
//!
//! Its methods are synchronous on SQLite. A remote store will return
//! Promises, so the examples `await` them: code written that way works
//! unchanged on both.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use wasm_bindgen::prelude::*;

use super::input::{self, to_js};
use super::user_trail::Handle;
use crate::session::{ClientContext, CreateOptions};

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
    /// here: the database keeps its hash.
    ///
    /// ```javascript
    /// const { token, sessionId } = await trail.sessions.create({
    ///   ip: req.ip, userAgent: req.headers['user-agent'], data: { cart: [] },
    /// });
    /// res.setHeader('Set-Cookie', `sid=${token}; HttpOnly; Secure; SameSite=Lax; Path=/`);
    /// ```
    #[wasm_bindgen(unchecked_return_type = "CreatedSession")]
    pub fn create(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "CreateSessionOptions")] options: Option<
            JsValue,
        >,
    ) -> Result<JsValue, JsValue> {
        let o: CreateJs = input::options(&options.unwrap_or_default(), "options")?;
        let data: Option<Map<String, Value>> = match o.data {
            None | Some(Value::Null) => None,
            Some(Value::Object(map)) => Some(map),
            Some(_) => return Err(crate::Error::invalid("data", "must be a plain object").into()),
        };
        self.0.with(|t| {
            let issued = t.sessions().create(CreateOptions {
                user_id: o.user_id.as_deref(),
                client: ClientContext {
                    ip: o.ip.as_deref(),
                    user_agent: o.user_agent.as_deref(),
                },
                data,
                idle_timeout_secs: o.idle_timeout_secs,
                absolute_timeout_secs: o.absolute_timeout_secs,
            })?;
            to_js(&issued)
        })
    }

    /// The session a token belongs to, or `null` for an unknown, malformed,
    /// expired or destroyed token. Slides the idle deadline.
    ///
    /// ```javascript
    /// const session = await trail.sessions.validate(cookies.sid, { ip, userAgent });
    /// if (!session) return redirectToLogin();
    /// ```
    #[wasm_bindgen(unchecked_return_type = "Session | null")]
    pub fn validate(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] token: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "ClientContext")] client: Option<JsValue>,
    ) -> Result<JsValue, JsValue> {
        let token = input::string(&token, "token")?;
        let c: ClientJs = input::options(&client.unwrap_or_default(), "client")?;
        self.0
            .with(|t| match t.sessions().validate(&token, &c.context())? {
                Some(session) => to_js(&session),
                None => Ok(JsValue::NULL),
            })
    }

    /// Issues a new token for the same session and state; the old one stops
    /// working at once. Call it whenever privileges change.
    #[wasm_bindgen(unchecked_return_type = "CreatedSession")]
    pub fn rotate(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] token: JsValue,
    ) -> Result<JsValue, JsValue> {
        let token = input::string(&token, "token")?;
        self.0.with(|t| to_js(&t.sessions().rotate(&token)?))
    }

    /// Binds the session to a user and rotates its token, in one step.
    ///
    /// ```javascript
    /// const { token } = await trail.sessions.login(cookies.sid, user.id);
    /// // send the new token: the old one no longer works
    /// ```
    #[wasm_bindgen(unchecked_return_type = "CreatedSession")]
    pub fn login(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] token: JsValue,
        #[wasm_bindgen(js_name = userId, unchecked_param_type = "string")] user_id: JsValue,
    ) -> Result<JsValue, JsValue> {
        let token = input::string(&token, "token")?;
        let user_id = input::string(&user_id, "userId")?;
        self.0
            .with(|t| to_js(&t.sessions().login(&token, &user_id)?))
    }

    /// Ends the session a token belongs to. Returns whether there was one.
    pub fn destroy(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] token: JsValue,
    ) -> Result<bool, JsValue> {
        let token = input::string(&token, "token")?;
        self.0.with(|t| t.sessions().destroy(&token))
    }

    /// Ends one of a user's sessions by its `sessionId` ("sign out that
    /// device"). Returns whether the user had it.
    #[wasm_bindgen(js_name = destroyBySessionId)]
    pub fn destroy_by_session_id(
        &self,
        #[wasm_bindgen(js_name = userId, unchecked_param_type = "string")] user_id: JsValue,
        #[wasm_bindgen(js_name = sessionId, unchecked_param_type = "string")] session_id: JsValue,
    ) -> Result<bool, JsValue> {
        let user_id = input::string(&user_id, "userId")?;
        let session_id = input::string(&session_id, "sessionId")?;
        self.0
            .with(|t| t.sessions().destroy_by_session_id(&user_id, &session_id))
    }

    /// Ends all of a user's sessions ("log out everywhere"), except
    /// `exceptSessionId` if given. Returns how many ended.
    ///
    /// ```javascript
    /// await trail.sessions.destroyAllForUser(user.id, { exceptSessionId: current.sessionId });
    /// ```
    #[wasm_bindgen(js_name = destroyAllForUser)]
    pub fn destroy_all_for_user(
        &self,
        #[wasm_bindgen(js_name = userId, unchecked_param_type = "string")] user_id: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "{ exceptSessionId?: string }")]
        options: Option<JsValue>,
    ) -> Result<f64, JsValue> {
        let user_id = input::string(&user_id, "userId")?;
        let o: DestroyAllJs = input::options(&options.unwrap_or_default(), "options")?;
        self.0.with(|t| {
            let n = t
                .sessions()
                .destroy_all_for_user(&user_id, o.except_session_id.as_deref())?;
            Ok(n as f64)
        })
    }

    /// A user's live sessions (devices), most recently used first.
    #[wasm_bindgen(unchecked_return_type = "Session[]")]
    pub fn list(
        &self,
        #[wasm_bindgen(js_name = userId, unchecked_param_type = "string")] user_id: JsValue,
    ) -> Result<JsValue, JsValue> {
        let user_id = input::string(&user_id, "userId")?;
        self.0.with(|t| to_js(&t.sessions().list(&user_id)?))
    }

    /// The whole state, or one top-level key's value (`undefined` if unset).
    /// Throws `SESSION_NOT_FOUND` or `SESSION_EXPIRED` for a dead token.
    pub fn get(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] token: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "string")] key: Option<JsValue>,
    ) -> Result<JsValue, JsValue> {
        let token = input::string(&token, "token")?;
        let key = input::opt_string(&key.unwrap_or_default(), "key")?;
        self.0
            .with(|t| match t.sessions().get(&token, key.as_deref())? {
                Some(v) => to_js(&v),
                None => Ok(JsValue::UNDEFINED),
            })
    }

    /// Sets one top-level key of the state; writers of different keys never
    /// lose each other's updates. Returns the state's new version.
    ///
    /// ```javascript
    /// await trail.sessions.set(token, 'cart', [{ sku: 'A1', qty: 2 }]);
    /// ```
    pub fn set(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] token: JsValue,
        #[wasm_bindgen(unchecked_param_type = "string")] key: JsValue,
        #[wasm_bindgen(unchecked_param_type = "unknown")] value: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "WriteOptions")] options: Option<JsValue>,
    ) -> Result<f64, JsValue> {
        let (token, expected) = write_args(&token, &options.unwrap_or_default())?;
        let key = input::string(&key, "key")?;
        let value = input::value(&value, "value")?;
        self.0
            .with(|t| Ok(t.sessions().set(&token, &key, &value, expected)? as f64))
    }

    /// Applies a JSON Merge Patch (keys set to `null` are removed). With
    /// `expectedVersion`, fails with `CONFLICT` if the state changed since.
    ///
    /// ```javascript
    /// const s = await trail.sessions.validate(token);
    /// await trail.sessions.merge(token, { step: 2 }, { expectedVersion: s.version });
    /// ```
    pub fn merge(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] token: JsValue,
        #[wasm_bindgen(unchecked_param_type = "Record<string, unknown>")] patch: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "WriteOptions")] options: Option<JsValue>,
    ) -> Result<f64, JsValue> {
        let (token, expected) = write_args(&token, &options.unwrap_or_default())?;
        let patch = input::object(&patch, "patch")?;
        self.0
            .with(|t| Ok(t.sessions().merge(&token, &patch, expected)? as f64))
    }

    /// Removes one top-level key. Returns the new version.
    pub fn remove(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] token: JsValue,
        #[wasm_bindgen(unchecked_param_type = "string")] key: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "WriteOptions")] options: Option<JsValue>,
    ) -> Result<f64, JsValue> {
        let (token, expected) = write_args(&token, &options.unwrap_or_default())?;
        let key = input::string(&key, "key")?;
        self.0
            .with(|t| Ok(t.sessions().remove(&token, &key, expected)? as f64))
    }

    /// Empties the state. Returns the new version.
    pub fn clear(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] token: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "WriteOptions")] options: Option<JsValue>,
    ) -> Result<f64, JsValue> {
        let (token, expected) = write_args(&token, &options.unwrap_or_default())?;
        self.0
            .with(|t| Ok(t.sessions().clear(&token, expected)? as f64))
    }

    /// The parts of a client the engine accepts: an `ip` that is not an IP
    /// address, or a `userAgent` over 4 KiB (a malformed or hostile header),
    /// is left out. Servers pass what they read from a request through it
    /// rather than failing the request.
    ///
    /// ```javascript
    /// const client = trail.sessions.acceptedClient({ ip: req.ip, userAgent: req.headers['user-agent'] });
    /// ```
    #[wasm_bindgen(js_name = acceptedClient, unchecked_return_type = "ClientContext")]
    pub fn accepted_client(
        &self,
        #[wasm_bindgen(unchecked_param_type = "ClientContext")] client: JsValue,
    ) -> Result<JsValue, JsValue> {
        let c: ClientJs = input::options(&client, "client")?;
        let accepted = c.context().accepted();
        Ok(to_js(&ClientJs {
            ip: accepted.ip.map(str::to_owned),
            user_agent: accepted.user_agent.map(str::to_owned),
        })?)
    }

    /// Deletes up to `limit` (default 500) expired sessions. The engine does
    /// this lazily; hosts may also call it on a timer. Returns how many.
    pub fn cleanup(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "{ limit?: number }")] options: Option<
            JsValue,
        >,
    ) -> Result<f64, JsValue> {
        let o: CleanupJs = input::options(&options.unwrap_or_default(), "options")?;
        self.0.with(|t| Ok(t.sessions().cleanup(o.limit)? as f64))
    }
}
