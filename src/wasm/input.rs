//! Reading and checking JS arguments, before the engine is touched.
//!
//! Every binding reads all of its arguments through this module first and
//! only then borrows the engine. Option objects are read as JSON text by
//! `input.js` (inside try/catch: a throwing getter, `toJSON` or Proxy trap
//! is an error value, not an exception through wasm) and then by serde into
//! the core's own types, with unknown keys refused and the field at fault
//! named. Strings and numbers are checked by type: a BigInt, a Symbol or a
//! function where a number or a string belongs is `INVALID_INPUT`.

use serde::de::{DeserializeOwned, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::error::{Error, Result};

#[wasm_bindgen(module = "/src/wasm/input.js")]
extern "C" {
    #[wasm_bindgen(catch, js_name = toJson)]
    fn to_json(
        value: &JsValue,
        field: &str,
        omit: &JsValue,
        max_text: u32,
        defined: bool,
    ) -> Result<String, JsValue>;
    #[wasm_bindgen(catch, js_name = toJsonEach)]
    fn to_json_each(
        value: &JsValue,
        field: &str,
        item: &str,
        max: u32,
        max_element: u32,
        max_total: u32,
    ) -> Result<String, JsValue>;
    #[wasm_bindgen(catch, js_name = elementsOf)]
    fn elements_of(value: &JsValue, field: &str, max: u32) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(catch)]
    fn prop(obj: &JsValue, key: &str) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(catch, js_name = bytesOf)]
    fn bytes_of(value: &JsValue) -> Result<JsValue, JsValue>;
}

/// The error `input.js` encodes as NUL and `{"field", "reason"}` in JSON,
/// or `text` itself.
fn checked(text: String, field: &str) -> Result<String> {
    match text.strip_prefix('\0') {
        None => Ok(text),
        Some(refusal) => Err(refused(refusal, field)),
    }
}

/// The INVALID_INPUT of a refusal `input.js` wrote as `{"field", "reason"}`
/// in JSON; `field` when it names none.
fn refused(refusal: &str, field: &str) -> Error {
    let refusal: Map<String, Value> = serde_json::from_str(refusal).unwrap_or_default();
    Error::invalid(
        refusal
            .get("field")
            .and_then(Value::as_str)
            .unwrap_or(field),
        refusal
            .get("reason")
            .and_then(Value::as_str)
            .unwrap_or("is invalid"),
    )
}

fn thrown(field: &str) -> Error {
    Error::invalid(field, "could not be read: reading it threw")
}

/// `value` as JSON text; `omit` names top-level keys to leave out.
pub(crate) fn json(value: &JsValue, field: &str, omit: &[&str]) -> Result<String> {
    json_at_most(value, field, omit, MAX_JSON_TEXT)
}

/// [`json`], refused past `max` bytes of text (measured in JS, before the
/// text crosses).
fn json_at_most(value: &JsValue, field: &str, omit: &[&str], max: usize) -> Result<String> {
    let omit = if omit.is_empty() {
        JsValue::UNDEFINED
    } else {
        omit.iter()
            .map(|k| JsValue::from_str(k))
            .collect::<js_sys::Array>()
            .into()
    };
    checked(
        to_json(value, field, &omit, max as u32, false).map_err(|_| thrown(field))?,
        field,
    )
}

/// The most JSON text one argument, or one element of a batch, may be:
/// above every limit the engine keeps (16 MiB of session state at most),
/// and below what reading it could not hold in wasm's memory (an array of
/// 30M numbers, about 60 MB of text, overflowed a vector's capacity).
pub(crate) const MAX_JSON_TEXT: usize = 32 << 20;

/// The most JSON text one element of a batch may be: an event is at most
/// 32 KiB of properties and a few short fields (three URLs of 4,096
/// characters), so an element past this would be refused anyway, and is
/// refused unread.
pub(crate) const MAX_ELEMENT_TEXT: usize = 256 << 10;

/// The most JSON text a whole batch may be (10,000 events of 1.6 KB): its
/// elements are all read before any is checked, and JSON of small numbers
/// takes 16 times its size once read.
pub(crate) const MAX_BATCH_TEXT: usize = 16 << 20;

/// The refusal of JSON text of `len` bytes past `max`.
fn too_large(field: &str, len: usize, max: usize) -> Error {
    Error::invalid(
        field,
        format!("is too large: {len} bytes of JSON, at most {max}"),
    )
}

/// JSON text read as `T`. The error's field names the bad value (see
/// [`inside`]), or the argument itself when the whole of it is wrong, as
/// docs/ERRORS.md promises. Text past [`MAX_JSON_TEXT`] is refused unread.
pub(crate) fn from_text<T: DeserializeOwned>(text: &str, field: &str) -> Result<T> {
    if text.len() > MAX_JSON_TEXT {
        return Err(too_large(field, text.len(), MAX_JSON_TEXT));
    }
    let de = &mut serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| path_error(e, field))
}

fn path_error<E: std::fmt::Display>(e: serde_path_to_error::Error<E>, field: &str) -> Error {
    let mut path = e.path().to_string();
    let raw = e.into_inner().to_string();
    let mut reason = crate::error::serde_reason(&raw);
    if path == "." {
        path.clear();
    }
    // A missing key is named too (serde's path ends at its object), and
    // said to be required (serde's "missing field `x`" in its own words).
    if let Some(key) = crate::error::serde_key(&raw, "missing field") {
        path = if path.is_empty() {
            key.to_owned()
        } else {
            format!("{path}.{key}")
        };
        reason = "is required".to_owned();
    }
    if path.is_empty() {
        Error::invalid(field, reason)
    } else {
        Error::invalid(inside(field, &path), reason)
    }
}

/// The field of a value at `path` inside the argument `field`: inside a
/// call's options object (`options`, an analytics `query`, an `event`) the
/// path alone, as the core names the same options (`userId`,
/// `sessions.idleTimeoutSecs`); inside another argument or a part of the
/// open options read apart, the argument's name and the path
/// (`storage.opfs.pool`, `definition.default`); an index into an array
/// argument follows its name (`steps[1]`).
pub(crate) fn inside(field: &str, path: &str) -> String {
    if !path.starts_with('[') && matches!(field, "options" | "query" | "event") {
        path.to_owned()
    } else {
        crate::error::field_at(field, path)
    }
}

/// A JS value read as `T` through its JSON text.
pub(crate) fn parse<T: DeserializeOwned>(value: &JsValue, field: &str) -> Result<T> {
    from_text(&json(value, field, &[])?, field)
}

/// One event read as `T`: at most [`MAX_ELEMENT_TEXT`] of JSON, as in a
/// batch, so that an event too large to keep is refused before the engine
/// reads it (a million small objects took seconds to read, then were
/// refused for their size).
pub(crate) fn event<T: DeserializeOwned>(value: &JsValue, field: &str) -> Result<T> {
    let text = json_at_most(value, field, &[], MAX_ELEMENT_TEXT)?;
    // JS measured UTF-16 units: text of two or three bytes a unit is
    // measured again in bytes, as a batch's element is.
    if text.len() > MAX_ELEMENT_TEXT {
        return Err(too_large(field, text.len(), MAX_ELEMENT_TEXT));
    }
    from_text(&text, field)
}

/// An optional options object: `undefined` and `null` read as `T`'s
/// defaults; unknown keys are refused (the core types deny them).
pub(crate) fn options<T: DeserializeOwned + Default>(value: &JsValue, field: &str) -> Result<T> {
    options_without(value, field, &[])
}

/// [`options`], leaving out the top-level keys in `omit` (read separately).
pub(crate) fn options_without<T: DeserializeOwned + Default>(
    value: &JsValue,
    field: &str,
    omit: &[&str],
) -> Result<T> {
    if value.is_undefined() || value.is_null() {
        return Ok(T::default());
    }
    // `typeof` only: `Array.isArray` would throw on a revoked Proxy.
    if !value.is_object() {
        return Err(Error::invalid(field, "must be a plain object"));
    }
    let text = json(value, field, omit)?;
    if text.starts_with('[') {
        return Err(Error::invalid(field, "must be a plain object"));
    }
    from_text(&text, field)
}

/// A value that must be a plain object.
pub(crate) fn object(value: &JsValue, field: &str) -> Result<Map<String, Value>> {
    match parse(value, field)? {
        Value::Object(map) if !crate::kernel::bytes::is_bytes(&map) => Ok(map),
        _ => Err(Error::invalid(field, "must be a plain object")),
    }
}

/// A plain object's entries, each value as its JSON text, unread: for a
/// call whose keys say how large their values may be (`prefs.setMany`),
/// so that a value no key could take is refused before it is built.
pub(crate) fn object_texts(value: &JsValue, field: &str) -> Result<Vec<(String, Box<RawValue>)>> {
    /// The entries in their order.
    struct Entries(Vec<(String, Box<RawValue>)>);
    impl<'de> Deserialize<'de> for Entries {
        fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
            struct Each;
            impl<'de> Visitor<'de> for Each {
                type Value = Entries;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("a plain object")
                }
                fn visit_map<A: MapAccess<'de>>(
                    self,
                    mut map: A,
                ) -> std::result::Result<Entries, A::Error> {
                    let mut out = Vec::new();
                    while let Some(entry) = map.next_entry()? {
                        out.push(entry);
                    }
                    Ok(Entries(out))
                }
            }
            d.deserialize_map(Each)
        }
    }
    let plain = || Error::invalid(field, "must be a plain object");
    // An entry set to `undefined` is refused (JSON would drop it).
    let text = checked(
        to_json(
            value,
            field,
            &JsValue::UNDEFINED,
            MAX_JSON_TEXT as u32,
            true,
        )
        .map_err(|_| thrown(field))?,
        field,
    )?;
    if !text.starts_with('{') {
        return Err(plain());
    }
    let Entries(entries) = from_text(&text, field)?;
    // Bytes (a `Uint8Array`) are written as `{"$bytes": …}`.
    if let [(key, raw)] = entries.as_slice() {
        if key == crate::kernel::bytes::MARKER {
            let one: Map<String, Value> =
                std::iter::once((key.clone(), from_text(raw.get(), field)?)).collect();
            if crate::kernel::bytes::is_bytes(&one) {
                return Err(plain());
            }
        }
    }
    Ok(entries)
}

/// Any JSON value, as its text unread (see [`object_texts`]).
pub(crate) fn value_text(value: &JsValue, field: &str) -> Result<String> {
    let text = json(value, field, &[])?;
    if text.len() > MAX_JSON_TEXT {
        return Err(too_large(field, text.len(), MAX_JSON_TEXT));
    }
    Ok(text)
}

/// The JSON text of each element of the array `value` (of at most `max`
/// elements, refused before any is read), each read only when the
/// iterator reaches it: at most [`MAX_JSON_TEXT`] of text each, as one
/// argument, and never all at once. An element that is a string is taken
/// as the JSON text itself. Each error names `field[i]`.
pub(crate) fn texts_each(
    value: &JsValue,
    field: &str,
    max: usize,
) -> Result<impl Iterator<Item = Result<String>>> {
    let max = u32::try_from(max).unwrap_or(u32::MAX);
    let got = elements_of(value, field, max).map_err(|_| thrown(field))?;
    if let Some(text) = got.as_string() {
        checked(text, field)?;
        return Err(Error::invalid(field, "must be an array"));
    }
    let elements = js_sys::Array::from(&got);
    let field = field.to_owned();
    Ok((0..elements.length()).map(move |i| {
        let at = format!("{field}[{i}]");
        let element = elements.get(i);
        // Text already (as a partition answered it over HTTP): taken as it
        // is, measured before it is copied.
        let text = match element.dyn_ref::<js_sys::JsString>() {
            Some(s) if s.length() as usize > MAX_JSON_TEXT => {
                return Err(too_large(&at, s.length() as usize, MAX_JSON_TEXT));
            }
            Some(s) => String::from(s),
            None => json(&element, &at, &[])?,
        };
        // JS measured UTF-16 units: measured again in bytes.
        if text.len() > MAX_JSON_TEXT {
            return Err(too_large(&at, text.len(), MAX_JSON_TEXT));
        }
        Ok(text)
    }))
}

/// Each element of an array as `T`, or the error of the element that is
/// not one, whose field is `item` or a path inside it (the caller adds the
/// element's place). The array itself must be one, of at most `max`
/// elements (refused before any is read).
pub(crate) fn each<T: DeserializeOwned>(
    value: &JsValue,
    field: &str,
    item: &str,
    max: usize,
) -> Result<Vec<Result<T>>> {
    let max = u32::try_from(max).unwrap_or(u32::MAX);
    let text = checked(
        to_json_each(
            value,
            field,
            item,
            max,
            MAX_ELEMENT_TEXT as u32,
            MAX_BATCH_TEXT as u32,
        )
        .map_err(|_| thrown(field))?,
        field,
    )?;
    if text.is_empty() {
        return Ok(Vec::new());
    }
    // input.js counts UTF-16 units, which a UTF-8 text can pass by 3 times.
    if text.len() > MAX_BATCH_TEXT {
        return Err(too_large(field, text.len(), MAX_BATCH_TEXT));
    }
    // One line per element (input.js `toJsonEach`): its JSON text, or
    // U+0001 and the refusal.
    Ok(text
        .split('\n')
        .map(|line| match line.strip_prefix('\u{1}') {
            None if line.len() > MAX_ELEMENT_TEXT => {
                Err(too_large(item, line.len(), MAX_ELEMENT_TEXT))
            }
            None => from_text(line, item),
            Some(refusal) => Err(refused(refusal, item)),
        })
        .collect())
}

/// A string.
pub(crate) fn string(value: &JsValue, field: &str) -> Result<String> {
    let text = value
        .as_string()
        .ok_or_else(|| Error::invalid(field, "must be a string"))?;
    // `as_string` turns a lone surrogate into U+FFFD, which would make
    // 'bob\uD800' and 'bob\uDC00' the same id: refuse it instead.
    if text.contains('\u{FFFD}') && !value.unchecked_ref::<js_sys::JsString>().is_valid_utf16() {
        return Err(Error::invalid(
            field,
            "must be well-formed Unicode: it holds a lone surrogate",
        ));
    }
    Ok(text)
}

/// A string, or `undefined`/`null` for none.
pub(crate) fn opt_string(value: &JsValue, field: &str) -> Result<Option<String>> {
    if value.is_undefined() || value.is_null() {
        return Ok(None);
    }
    string(value, field).map(Some)
}

/// A finite number (never a BigInt, which JS would not convert silently).
pub(crate) fn number(value: &JsValue, field: &str) -> Result<f64> {
    match value.as_f64() {
        Some(n) if n.is_finite() => Ok(n),
        _ => Err(Error::invalid(field, "must be a finite number")),
    }
}

/// A whole number from `min` to `max`, or `undefined`/`null` for none.
pub(crate) fn opt_integer(value: &JsValue, field: &str, min: i64, max: i64) -> Result<Option<i64>> {
    if value.is_undefined() || value.is_null() {
        return Ok(None);
    }
    let n = number(value, field)?;
    if n.fract() != 0.0 || n < min as f64 || n > max as f64 {
        return Err(Error::invalid(
            field,
            format!("must be a whole number from {min} to {max}"),
        ));
    }
    Ok(Some(n as i64))
}

/// A whole number from `min` to `max`.
pub(crate) fn integer(value: &JsValue, field: &str, min: i64, max: i64) -> Result<i64> {
    opt_integer(value, field, min, max)?
        .ok_or_else(|| Error::invalid(field, format!("must be a whole number from {min} to {max}")))
}

/// One property of an object, read without running code outside a catch.
pub(crate) fn get(obj: &JsValue, key: &str, field: &str) -> Result<JsValue> {
    if !obj.is_object() && !obj.is_function() {
        return Ok(JsValue::UNDEFINED);
    }
    prop(obj, key).map_err(|_| thrown(field))
}

/// A function, or `undefined`/`null` for none.
pub(crate) fn opt_function(value: JsValue, field: &str) -> Result<Option<js_sys::Function>> {
    if value.is_undefined() || value.is_null() {
        return Ok(None);
    }
    if value.is_function() {
        return Ok(Some(value.unchecked_into()));
    }
    Err(Error::invalid(field, "must be a function"))
}

/// The bytes of a `Uint8Array` (a Node `Buffer` is one), copied.
pub(crate) fn bytes(value: &JsValue, field: &str) -> Result<Vec<u8>> {
    let view = bytes_of(value).map_err(|_| thrown(field))?;
    if view.is_undefined() {
        return Err(Error::invalid(field, "must be a Uint8Array"));
    }
    Ok(view.unchecked_into::<js_sys::Uint8Array>().to_vec())
}

/// A core value as a plain JS value (numbers, not BigInts).
pub(crate) fn to_js<T: serde::Serialize>(value: &T) -> Result<JsValue> {
    let text = serde_json::to_string(value).map_err(|e| Error::invalid("result", e.to_string()))?;
    js_sys::JSON::parse(&text).map_err(|_| Error::invalid("result", "is not JSON"))
}

/// A core value a binding resolves its Promise with.
pub(crate) trait IntoJs {
    /// As a JS value.
    fn into_js(self) -> JsValue;
}

impl IntoJs for JsValue {
    fn into_js(self) -> JsValue {
        self
    }
}

impl IntoJs for f64 {
    fn into_js(self) -> JsValue {
        self.into()
    }
}

impl IntoJs for bool {
    fn into_js(self) -> JsValue {
        self.into()
    }
}

impl IntoJs for String {
    fn into_js(self) -> JsValue {
        self.into()
    }
}

impl IntoJs for () {
    fn into_js(self) -> JsValue {
        JsValue::UNDEFINED
    }
}

/// A core result as the JS value a Promise resolves with.
pub(crate) fn js_out<T: IntoJs>(r: Result<T>) -> Result<JsValue> {
    r.map(IntoJs::into_js)
}
