//! The `Sessions` JS class (`trail.sessions`): a thin shell over
//! [`crate::session::Sessions`].
//!
//! Its methods are synchronous on SQLite. A remote store will return
//! Promises, so the examples `await` them: code written that way works
//! unchanged on both.

use serde::Deserialize;
use serde_json::Value;
use wasm_bindgen::prelude::*;

use super::json::{self, to_js};
use super::options::{read_opt, string, JsOptions};
use super::user_trail::Handle;
use crate::error::Result;
use crate::session::{ClientContext, CreateOptions};
use crate::UserTrail;

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ClientJs {
    ip: Option<String>,
    user_agent: Option<String>,
}

impl JsOptions for ClientJs {
    const KEYS: &'static [&'static str] = &["ip", "userAgent"];
}

impl ClientJs {
    fn context(&self) -> ClientContext<'_> {
        ClientContext {
            ip: self.ip.as_deref(),
            user_agent: self.user_agent.as_deref(),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct CreateJs {
    user_id: Option<String>,
    ip: Option<String>,
    user_agent: Option<String>,
    #[serde(default, with = "serde_wasm_bindgen::preserve")]
    data: JsValue,
    idle_timeout_secs: Option<u32>,
    absolute_timeout_secs: Option<u32>,
}

impl JsOptions for CreateJs {
    const KEYS: &'static [&'static str] = &[
        "userId",
        "ip",
        "userAgent",
        "data",
        "idleTimeoutSecs",
        "absoluteTimeoutSecs",
    ];
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct WriteJs {
    expected_version: Option<i64>,
}

impl JsOptions for WriteJs {
    const KEYS: &'static [&'static str] = &["expectedVersion"];
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct DestroyAllJs {
    except_session_id: Option<String>,
}

impl JsOptions for DestroyAllJs {
    const KEYS: &'static [&'static str] = &["exceptSessionId"];
}

#[derive(Deserialize, Default)]
struct CleanupJs {
    limit: Option<u32>,
}

impl JsOptions for CleanupJs {
    const KEYS: &'static [&'static str] = &["limit"];
}

/// The sessions of an engine: `trail.sessions`.
#[wasm_bindgen(js_name = Sessions)]
pub struct JsSessions(Handle);

impl JsSessions {
    pub(crate) fn new(handle: Handle) -> Self {
        Self(handle)
    }

    /// A state write: reads the token and `{ expectedVersion }`, runs `f`,
    /// and returns the new version as a JS number.
    fn write(
        &self,
        token: JsValue,
        options: Option<JsValue>,
        f: impl FnOnce(&UserTrail, &str, Option<i64>) -> Result<i64>,
    ) -> Result<f64, JsValue> {
        self.0.with(|t| {
            let o: WriteJs = read_opt(options, "options")?;
            Ok(f(t, &string(&token, "token")?, o.expected_version)? as f64)
        })
    }
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
        self.0.with(|t| {
            let o: CreateJs = read_opt(options, "options")?;
            let data = if o.data.is_undefined() || o.data.is_null() {
                None
            } else {
                Some(json::object(&o.data, "data")?)
            };
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
        self.0.with(|t| {
            let token = string(&token, "token")?;
            let c: ClientJs = read_opt(client, "client")?;
            match t.sessions().validate(&token, &c.context())? {
                Some(session) => to_js(&session),
                None => Ok(JsValue::NULL),
            }
        })
    }

    /// Issues a new token for the same session and state; the old one stops
    /// working at once. Call it whenever privileges change.
    #[wasm_bindgen(unchecked_return_type = "CreatedSession")]
    pub fn rotate(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] token: JsValue,
    ) -> Result<JsValue, JsValue> {
        self.0
            .with(|t| to_js(&t.sessions().rotate(&string(&token, "token")?)?))
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
        self.0.with(|t| {
            let issued = t
                .sessions()
                .login(&string(&token, "token")?, &string(&user_id, "userId")?)?;
            to_js(&issued)
        })
    }

    /// Ends the session a token belongs to. Returns whether there was one.
    pub fn destroy(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] token: JsValue,
    ) -> Result<bool, JsValue> {
        self.0
            .with(|t| t.sessions().destroy(&string(&token, "token")?))
    }

    /// Ends one of a user's sessions by its `sessionId` ("sign out that
    /// device"). Returns whether the user had it.
    #[wasm_bindgen(js_name = destroyBySessionId)]
    pub fn destroy_by_session_id(
        &self,
        #[wasm_bindgen(js_name = userId, unchecked_param_type = "string")] user_id: JsValue,
        #[wasm_bindgen(js_name = sessionId, unchecked_param_type = "string")] session_id: JsValue,
    ) -> Result<bool, JsValue> {
        self.0.with(|t| {
            t.sessions().destroy_by_session_id(
                &string(&user_id, "userId")?,
                &string(&session_id, "sessionId")?,
            )
        })
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
        self.0.with(|t| {
            let o: DestroyAllJs = read_opt(options, "options")?;
            let n = t.sessions().destroy_all_for_user(
                &string(&user_id, "userId")?,
                o.except_session_id.as_deref(),
            )?;
            Ok(n as f64)
        })
    }

    /// A user's live sessions (devices), most recently used first.
    #[wasm_bindgen(unchecked_return_type = "Session[]")]
    pub fn list(
        &self,
        #[wasm_bindgen(js_name = userId, unchecked_param_type = "string")] user_id: JsValue,
    ) -> Result<JsValue, JsValue> {
        self.0
            .with(|t| to_js(&t.sessions().list(&string(&user_id, "userId")?)?))
    }

    /// The whole state, or one top-level key's value (`undefined` if unset).
    /// Throws `SESSION_NOT_FOUND` or `SESSION_EXPIRED` for a dead token.
    pub fn get(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] token: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "string")] key: Option<JsValue>,
    ) -> Result<JsValue, JsValue> {
        self.0.with(|t| {
            let key = key
                .filter(|k| !k.is_undefined())
                .map(|k| string(&k, "key"))
                .transpose()?;
            match t
                .sessions()
                .get(&string(&token, "token")?, key.as_deref())?
            {
                Some(v) => to_js(&v),
                None => Ok(JsValue::UNDEFINED),
            }
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
        self.write(token, options, |t, token, expected| {
            let value: Value = json::from_js(&value, "value")?;
            t.sessions()
                .set(token, &string(&key, "key")?, &value, expected)
        })
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
        self.write(token, options, |t, token, expected| {
            let patch = json::object(&patch, "patch")?;
            t.sessions().merge(token, &patch, expected)
        })
    }

    /// Removes one top-level key. Returns the new version.
    pub fn remove(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] token: JsValue,
        #[wasm_bindgen(unchecked_param_type = "string")] key: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "WriteOptions")] options: Option<JsValue>,
    ) -> Result<f64, JsValue> {
        self.write(token, options, |t, token, expected| {
            t.sessions().remove(token, &string(&key, "key")?, expected)
        })
    }

    /// Empties the state. Returns the new version.
    pub fn clear(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] token: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "WriteOptions")] options: Option<JsValue>,
    ) -> Result<f64, JsValue> {
        self.write(token, options, |t, token, expected| {
            t.sessions().clear(token, expected)
        })
    }

    /// Deletes up to `limit` (default 500) expired sessions. The engine does
    /// this lazily; hosts may also call it on a timer. Returns how many.
    pub fn cleanup(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "{ limit?: number }")] options: Option<
            JsValue,
        >,
    ) -> Result<f64, JsValue> {
        self.0.with(|t| {
            let o: CleanupJs = read_opt(options, "options")?;
            Ok(t.sessions().cleanup(o.limit)? as f64)
        })
    }
}
