//! The `ProxyTrust` JS class: which proxies the middleware believes, over
//! [`crate::kernel::proxy`]. The middleware makes one from its
//! `trustProxy` and `proxyHeader` options and asks it for each request's
//! client address.

use js_sys::Array;
use wasm_bindgen::prelude::*;

use super::error::js;
use super::input;
use crate::kernel::proxy::{ProxyHeader, Trust};
use crate::Error;

/// Which proxies to believe, and the header they write.
///
/// ```javascript
/// const trust = new ProxyTrust(['loopback', '10.0.0.0/8'], 'x-forwarded-for');
/// trust.client('127.0.0.1', '203.0.113.5, 198.51.100.1'); // '198.51.100.1'
/// ```
#[wasm_bindgen]
pub struct ProxyTrust {
    trust: Trust,
    header: ProxyHeader,
}

#[wasm_bindgen]
impl ProxyTrust {
    /// `trust`: `false` (or undefined) for none; a number of proxy hops in
    /// front of the app (1 to 64); or addresses, networks and presets
    /// (`loopback`, `linklocal`, `uniquelocal`), as an array or a
    /// comma-separated string. `true` is refused: it would make whatever a
    /// client writes first its address. `header`: `'x-forwarded-for'`
    /// (default) or `'forwarded'` (RFC 7239). Throws `INVALID_INPUT`.
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "boolean | number | string | string[] | undefined")]
        trust: JsValue,
        #[wasm_bindgen(unchecked_param_type = "'x-forwarded-for' | 'forwarded' | undefined")]
        header: JsValue,
    ) -> Result<ProxyTrust, JsValue> {
        js(Self::read(&trust, &header))
    }

    /// The header to read, lower case.
    #[wasm_bindgen(getter)]
    pub fn header(&self) -> String {
        self.header.name().to_owned()
    }

    /// Whether any proxy is trusted (otherwise the header is not read).
    #[wasm_bindgen(getter)]
    pub fn enabled(&self) -> bool {
        self.trust != Trust::Nothing
    }

    /// The client's address, from the socket's peer (`socket`) and the
    /// header's value; `undefined` when the address found is not an IP
    /// address.
    pub fn client(&self, socket: Option<String>, value: Option<String>) -> Option<String> {
        self.trust
            .client(self.header, socket.as_deref(), value.as_deref())
    }
}

impl ProxyTrust {
    fn read(trust: &JsValue, header: &JsValue) -> crate::Result<Self> {
        let header = match input::opt_string(header, "proxyHeader")? {
            Some(h) => ProxyHeader::parse("proxyHeader", &h)?,
            None => ProxyHeader::XForwardedFor,
        };
        let trust = if trust.is_undefined() || trust.is_null() || trust.as_bool() == Some(false) {
            Trust::Nothing
        } else if trust.as_bool() == Some(true) {
            return Err(Error::invalid(
                "trustProxy",
                "true would take whatever a client writes first as its address; give the number \
                 of proxies in front of the app, or their addresses (e.g. 'loopback')",
            ));
        } else if trust.as_f64().is_some() {
            Trust::Hops(input::integer(trust, "trustProxy", 0, 64)? as u32)
        } else if Array::is_array(trust) {
            let items: Array = trust.clone().unchecked_into();
            let mut list = Vec::new();
            for (i, item) in items.iter().enumerate() {
                list.push(input::string(&item, &format!("trustProxy[{i}]"))?);
            }
            Trust::parse_list(&list)?
        } else {
            Trust::parse_list(&[input::string(trust, "trustProxy")?])?
        };
        Ok(Self { trust, header })
    }
}
