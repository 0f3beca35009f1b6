//! The shared store's transport in JS hosts: the engine builds each
//! operation (a Lua script, its SHA-1, keys and arguments) and hands it to
//! the `run` function of the object `redisStore(client)` from
//! `usertrail/redis` made, which runs it on the app's Redis client.
//!
//! What comes back is read strictly: `null`, integers, strings and arrays
//! of them; anything else is `STORAGE_ERROR`. A rejection carries the glue's
//! classification: `STORE_UNAVAILABLE` (no connection, a timeout, a server
//! loading or failing over) or `STORAGE_ERROR` (an error reply).

use std::sync::Arc;

use js_sys::{Array, Function, Promise, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use super::input;
use crate::error::{Error, Result, StoreError};
use crate::store::remote::{LocalBoxFuture, Op, Remote, ReplicaWait, Reply, Transport};

/// Calls the glue's `run(sha1, source, keys, args, wait)`; `wait` is
/// `[replicas, timeoutMs]` for a durable write (see [`ReplicaWait`]).
struct JsTransport {
    run: Function,
}

/// The deepest reply accepted (scripts return lists of lists at most).
const MAX_DEPTH: u32 = 4;

fn garbled(shown: &str) -> Error {
    let mut end = shown.len().min(80);
    while !shown.is_char_boundary(end) {
        end -= 1;
    }
    StoreError::Garbled {
        detail: format!("the Redis client answered {}", &shown[..end]),
    }
    .into()
}

fn reply(value: &JsValue, depth: u32) -> Result<Reply> {
    if value.is_null() || value.is_undefined() {
        return Ok(Reply::Nil);
    }
    if let Some(s) = value.as_string() {
        return Ok(Reply::Text(s));
    }
    if let Some(n) = value.as_f64() {
        if n.fract() == 0.0 && n.abs() <= 9_007_199_254_740_991.0 {
            return Ok(Reply::Int(n as i64));
        }
    }
    if Array::is_array(value) && depth < MAX_DEPTH {
        let items: Array = value.clone().unchecked_into();
        return items
            .iter()
            .map(|v| reply(&v, depth + 1))
            .collect::<Result<_>>()
            .map(Reply::List);
    }
    // A BigInt, a Buffer, an object: not one of a script's reply shapes.
    let shown = js_sys::JSON::stringify(value)
        .ok()
        .and_then(|s| s.as_string())
        .unwrap_or_else(|| "a value that is not JSON".into());
    Err(garbled(&shown))
}

thread_local! {
    /// Each script's SHA-1 and source as JS strings, made once.
    static SCRIPTS: std::cell::RefCell<std::collections::HashMap<&'static str, (JsValue, JsValue)>> =
        Default::default();
}

fn failure(err: JsValue) -> Error {
    let code = Reflect::get(&err, &"code".into())
        .ok()
        .and_then(|c| c.as_string());
    let detail = Reflect::get(&err, &"message".into())
        .ok()
        .and_then(|m| m.as_string())
        .or_else(|| err.as_string())
        .unwrap_or_else(|| "the Redis client failed".into());
    match code.as_deref() {
        Some("STORAGE_ERROR") => StoreError::Garbled { detail }.into(),
        _ => StoreError::Unavailable { detail }.into(),
    }
}

impl Transport for JsTransport {
    fn run<'a>(&'a self, op: Op<'a>) -> LocalBoxFuture<'a, Result<Reply>> {
        Box::pin(async move {
            let (sha1, source) = SCRIPTS.with(|s| {
                s.borrow_mut()
                    .entry(op.script.source)
                    .or_insert_with(|| (op.script.sha1().into(), op.script.source.into()))
                    .clone()
            });
            let keys: Array = op.keys.iter().map(|k| JsValue::from_str(k)).collect();
            let args: Array = op.args.iter().map(|a| JsValue::from_str(a)).collect();
            // The fifth argument, for a durable write only: [replicas, ms].
            let wait = match op.wait {
                Some(w) => Array::of2(&w.replicas.into(), &w.timeout_ms.into()).into(),
                None => JsValue::UNDEFINED,
            };
            let call = Array::of5(&sha1, &source, &keys, &args, &wait);
            let returned =
                Reflect::apply(&self.run, &JsValue::UNDEFINED, &call).map_err(failure)?;
            let value = JsFuture::from(Promise::resolve(&returned))
                .await
                .map_err(failure)?;
            reply(&value, 0)
        })
    }

    fn sleep(&self, ms: u32) -> LocalBoxFuture<'_, ()> {
        Box::pin(async move {
            // setTimeout exists in every host the package runs in.
            let promise = Promise::new(&mut |resolve, _| {
                let set = Reflect::get(&js_sys::global(), &"setTimeout".into())
                    .ok()
                    .and_then(|f| f.dyn_into::<Function>().ok());
                match set {
                    Some(set) => {
                        let _ = set.call2(&JsValue::UNDEFINED, &resolve, &JsValue::from(ms));
                    }
                    None => {
                        let _ = resolve.call0(&JsValue::UNDEFINED);
                    }
                }
            });
            let _ = JsFuture::from(promise).await;
        })
    }
}

/// Reads `shared`: what `redisStore(client, { prefix })` returns, an
/// object with a `prefix`, a `run` function and, when asked for,
/// `durableWrites`.
pub(crate) fn parse(value: &JsValue) -> Result<Option<Remote>> {
    if value.is_undefined() || value.is_null() {
        return Ok(None);
    }
    let hint = "must be what redisStore(client) from 'usertrail/redis' returns";
    if !value.is_object() {
        return Err(Error::invalid("shared", hint));
    }
    let run = input::get(value, "run", "shared.run")?;
    let run =
        input::opt_function(run, "shared.run")?.ok_or_else(|| Error::invalid("shared", hint))?;
    let prefix = input::get(value, "prefix", "shared.prefix")?;
    let prefix = if prefix.is_undefined() {
        "ut".to_owned()
    } else {
        input::string(&prefix, "shared.prefix")?
    };
    let durable = input::get(value, "durableWrites", "shared.durableWrites")?;
    let wait = if durable.is_undefined() || durable.is_null() {
        None
    } else {
        if !durable.is_object() || Array::is_array(&durable) {
            return Err(Error::invalid(
                "shared.durableWrites",
                "must be an object: { replicas, timeoutMs }",
            ));
        }
        let d: DurableWritesJs = input::parse(&durable, "shared.durableWrites")?;
        Some(ReplicaWait::new(d.replicas, d.timeout_ms)?)
    };
    #[allow(clippy::arc_with_non_send_sync)] // wasm is single-threaded
    let transport = Arc::new(JsTransport { run });
    Ok(Some(
        Remote::new(transport, &prefix)?.with_replica_wait(wait),
    ))
}

/// `redisStore(client, { durableWrites: { replicas, timeoutMs } })`.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DurableWritesJs {
    replicas: u32,
    timeout_ms: u32,
}
