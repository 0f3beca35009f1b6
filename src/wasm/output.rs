//! Core values built as JS objects directly, where [`super::input::to_js`]'s
//! JSON round trip would cost more than the call itself: the session a
//! server validates on every request.

use std::cell::RefCell;

use wasm_bindgen::prelude::*;

use crate::kernel::fastmap::FastMap;
use crate::session::{Issued, Session};

#[wasm_bindgen(module = "/src/wasm/output.js")]
extern "C" {
    #[wasm_bindgen(js_name = sessionOf)]
    #[allow(clippy::too_many_arguments)]
    fn session_of(
        token: Option<&str>,
        session_id: &str,
        user_id: Option<&str>,
        created_at: f64,
        last_seen_at: f64,
        idle_expires_at: f64,
        absolute_expires_at: f64,
        idle_timeout_ms: f64,
        version: f64,
        ip: Option<&str>,
        browser: &JsValue,
        os: &JsValue,
        device: &JsValue,
        fingerprint_mismatch: bool,
        renewed: bool,
    ) -> JsValue;

    /// `part`, its `free` and `Symbol.dispose` made harmless.
    pub(crate) fn kept(part: JsValue) -> JsValue;
}

/// How many distinct strings [`interned`] keeps; past it, it starts again.
const INTERNED: usize = 1024;

thread_local! {
    static STRINGS: RefCell<FastMap<String, JsValue>> = RefCell::new(FastMap::default());
}

/// `text` as a JS string, made once for the few values a field takes
/// (browser, OS, device class) instead of decoded at every call.
fn interned(text: &str) -> JsValue {
    STRINGS.with(|strings| {
        let mut strings = strings.borrow_mut();
        if let Some(v) = strings.get(text) {
            return v.clone();
        }
        if strings.len() >= INTERNED {
            strings.clear();
        }
        let v = JsValue::from_str(text);
        strings.insert(text.to_owned(), v.clone());
        v
    })
}

fn build(token: Option<&str>, s: &Session) -> JsValue {
    // Times and versions are below 2^53: exact as numbers, as in JSON.
    session_of(
        token,
        &s.session_id,
        s.user_id.as_deref(),
        s.created_at as f64,
        s.last_seen_at as f64,
        s.idle_expires_at as f64,
        s.absolute_expires_at as f64,
        s.idle_timeout_ms as f64,
        s.version as f64,
        s.client.ip.as_deref(),
        &interned(&s.client.browser),
        &interned(&s.client.os),
        &interned(s.client.device.as_str()),
        s.fingerprint_mismatch,
        s.renewed,
    )
}

/// A session as JS sees it: what `to_js` would give, without the JSON.
pub(crate) fn session(s: &Session) -> JsValue {
    build(None, s)
}

/// A session with its token (`create`, `rotate`, `login`, `extend`).
pub(crate) fn issued(i: &Issued) -> JsValue {
    build(Some(&i.token), &i.session)
}

#[cfg(test)]
mod tests {
    use wasm_bindgen_test::wasm_bindgen_test;

    use super::*;
    use crate::kernel::useragent::DeviceClass;
    use crate::session::Client;
    use crate::wasm::input::to_js;

    fn sample(user: Option<&str>, ip: Option<&str>, flags: (bool, bool)) -> Session {
        Session {
            session_id: "U1R0ELOC5cF5GaqtT5l8PA".into(),
            user_id: user.map(str::to_owned),
            created_at: 1_796_443_684_142,
            last_seen_at: 1_796_443_684_143,
            idle_expires_at: 1_796_445_484_142,
            absolute_expires_at: 9_007_199_254_740_991,
            idle_timeout_ms: 1_800_000,
            version: 7,
            client: Client {
                ip: ip.map(str::to_owned),
                browser: "Firefox 128 \u{e9}\"\\".into(),
                os: "Other".into(),
                device: DeviceClass::Tablet,
            },
            fingerprint_mismatch: flags.0,
            renewed: flags.1,
        }
    }

    /// The JSON text, and the keys in order (which JSON would not show for
    /// a key whose value is `undefined`), of the object and its `client`.
    fn text(v: &JsValue) -> String {
        let keys = |o: &JsValue| -> Vec<String> {
            js_sys::Object::keys(o.unchecked_ref::<js_sys::Object>())
                .iter()
                .map(|k| k.as_string().unwrap())
                .collect()
        };
        let client = js_sys::Reflect::get(v, &"client".into()).unwrap();
        format!(
            "{} {:?} {:?}",
            String::from(js_sys::JSON::stringify(v).unwrap()),
            keys(v),
            keys(&client)
        )
    }

    /// Field for field and key for key, what the JSON round trip gave.
    #[wasm_bindgen_test]
    fn the_same_object_as_json() {
        for user in [None, Some("u-1 \u{1F600}")] {
            for ip in [None, Some("203.0.113.0")] {
                for flags in [(false, false), (true, false), (false, true), (true, true)] {
                    let s = sample(user, ip, flags);
                    assert_eq!(text(&session(&s)), text(&to_js(&s).unwrap()));
                    let i = Issued {
                        token: "t.o.k".into(),
                        session: s,
                    };
                    assert_eq!(text(&issued(&i)), text(&to_js(&i).unwrap()));
                }
            }
        }
    }
}
