//! Preference definitions and the checks on values.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::Error;

/// A preference's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PrefType {
    /// `true` or `false`.
    Bool,
    /// Text, at most `maxLength` characters (default 1024).
    String,
    /// A finite number within `min` and `max`.
    Number,
    /// One of `values`.
    Enum,
    /// Any JSON, at most `maxBytes` (default 4096).
    Json,
}

impl PrefType {
    /// The type as a definition spells it (`number`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Bool => "bool",
            Self::String => "string",
            Self::Number => "number",
            Self::Enum => "enum",
            Self::Json => "json",
        }
    }
}

/// Extra checks on a string preference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StringFormat {
    /// A well-formed BCP 47 language tag, such as `en-GB` or `zh-Hant-TW`.
    Bcp47,
    /// An IANA time zone name, such as `Europe/Paris` or `UTC`.
    Timezone,
}

/// What `define` declares.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PrefDefinition {
    /// The key, such as `appearance.theme`.
    #[serde(default)]
    pub key: String,
    /// A free-form category, such as `appearance`.
    #[serde(default)]
    pub category: String,
    /// The type.
    #[serde(rename = "type")]
    pub pref_type: PrefType,
    /// The value of a subject who never set it.
    pub default: Value,
    /// For `enum`: the allowed values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<String>>,
    /// For `number`: the smallest allowed value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// For `number`: the largest allowed value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// For `string`: the most characters (default 1024).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u32>,
    /// For `json`: the most bytes of JSON (default 4096).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<u32>,
    /// For `string`: a format to check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<StringFormat>,
    /// For people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The consent purpose this preference serves, such as
    /// `personalization`. When the engine requires that purpose's consent,
    /// the preference is stored only for subjects who gave it, and
    /// withdrawing it with `erase` deletes the value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
}

/// Default longest string value.
const DEFAULT_MAX_LENGTH: u32 = 1024;
/// Default largest JSON value.
const DEFAULT_MAX_BYTES: u32 = 4096;

/// Checks a key or category name: 1 to `max` bytes of letters, digits and
/// `._-`.
pub fn check_name(field: &str, name: &str, max: usize) -> Result<(), Error> {
    let ok = !name.is_empty()
        && name.len() <= max
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            format!("must be 1 to {max} of letters, digits, '.', '_' or '-'"),
        ))
    }
}

impl PrefDefinition {
    /// Checks the definition itself, including that its default is a valid value.
    pub fn check(&self) -> Result<(), Error> {
        check_name("key", &self.key, 128)?;
        check_name("category", &self.category, 64)?;
        let misplaced = |what: &str| {
            Error::invalid(
                what,
                format!("does not apply to type {}", self.pref_type.name()),
            )
        };
        if self.values.is_some() && self.pref_type != PrefType::Enum {
            return Err(misplaced("values"));
        }
        if (self.min.is_some() || self.max.is_some()) && self.pref_type != PrefType::Number {
            return Err(misplaced(if self.min.is_some() { "min" } else { "max" }));
        }
        if (self.max_length.is_some() || self.format.is_some())
            && self.pref_type != PrefType::String
        {
            let option = if self.max_length.is_some() {
                "maxLength"
            } else {
                "format"
            };
            return Err(misplaced(option));
        }
        if self.max_bytes.is_some() && self.pref_type != PrefType::Json {
            return Err(misplaced("maxBytes"));
        }
        match self.pref_type {
            PrefType::Enum if self.values.as_ref().is_none_or(Vec::is_empty) => {
                return Err(Error::invalid("values", "an enum needs at least one value"));
            }
            PrefType::Number if self.min.zip(self.max).is_some_and(|(lo, hi)| lo > hi) => {
                return Err(Error::invalid("min", "must not exceed max"));
            }
            _ => {}
        }
        self.check_value(&self.default).map_err(|e| match e {
            Error::InvalidInput { reason, .. } => Error::invalid("default", reason),
            e => e,
        })
    }

    /// Checks a value's JSON text as a host wrote it, before it is read
    /// into a value: text that [`Self::check_value`] would refuse for its
    /// type or size gets the error it would get, so that a huge argument (a
    /// million small objects) is refused without building it. A `json`
    /// value's size is measured as the engine writes it, without building
    /// it; a string's length is left to [`Self::check_value`] unless its
    /// text is longer than any string of `maxLength` characters can be.
    /// Text this passes can still be refused once read.
    pub fn check_text(&self, text: &str) -> Result<(), Error> {
        // Six bytes a character at most (`\u001f`), and a number JS
        // writes in up to 4.2 times the engine's bytes (`1e20` as 21
        // digits): text past this holds no value within `n`.
        const MARGIN: usize = 64;
        let most = |n: u32| (n as usize).saturating_mul(6).saturating_add(MARGIN);
        let bad = |why: String| Error::invalid(self.key.clone(), why);
        match self.pref_type {
            PrefType::Json => {
                let max = self.max_bytes.unwrap_or(DEFAULT_MAX_BYTES);
                let too_long = text.len() > most(max)
                    || crate::kernel::json_len::written_len(text).is_some_and(|n| n > max as usize);
                if too_long {
                    return Err(bad(format!("must be at most {max} bytes of JSON")));
                }
            }
            PrefType::String => {
                if !text.trim_start().starts_with('"') {
                    return self.check_value(&Value::Null);
                }
                let max = self.max_length.unwrap_or(DEFAULT_MAX_LENGTH);
                if text.len() > most(max) {
                    return Err(bad(format!("must be at most {max} characters")));
                }
            }
            // One value of a few bytes: the check of the value read says
            // what it must be.
            PrefType::Bool | PrefType::Number | PrefType::Enum => {
                let longest = self
                    .values
                    .iter()
                    .flatten()
                    .map(|v| u32::try_from(v.len()).unwrap_or(u32::MAX))
                    .max()
                    .unwrap_or(0);
                if text.len() > most(longest) {
                    return self.check_value(&Value::Null);
                }
            }
        }
        Ok(())
    }

    /// Checks `v` against this definition: `INVALID_INPUT` naming the key.
    pub fn check_value(&self, v: &Value) -> Result<(), Error> {
        let bad = |why: String| Error::invalid(self.key.clone(), why);
        match self.pref_type {
            PrefType::Bool if !v.is_boolean() => Err(bad("must be true or false".into())),
            PrefType::String => {
                let Some(s) = v.as_str() else {
                    return Err(bad("must be a string".into()));
                };
                let max = self.max_length.unwrap_or(DEFAULT_MAX_LENGTH) as usize;
                if s.chars().count() > max {
                    return Err(bad(format!("must be at most {max} characters")));
                }
                match self.format {
                    Some(StringFormat::Bcp47) if !is_bcp47(s) => {
                        Err(bad("must be a BCP 47 language tag".into()))
                    }
                    Some(StringFormat::Timezone) if !is_timezone(s) => {
                        Err(bad("must be an IANA time zone name".into()))
                    }
                    _ => Ok(()),
                }
            }
            PrefType::Number => {
                let Some(n) = v.as_f64() else {
                    return Err(bad("must be a number".into()));
                };
                if self.min.is_some_and(|lo| n < lo) || self.max.is_some_and(|hi| n > hi) {
                    return Err(bad(format!(
                        "must be between {} and {}",
                        self.min.map_or("-inf".into(), |x| x.to_string()),
                        self.max.map_or("inf".into(), |x| x.to_string())
                    )));
                }
                Ok(())
            }
            PrefType::Enum => {
                let values = self.values.as_deref().unwrap_or_default();
                if v.as_str().is_some_and(|s| values.iter().any(|x| x == s)) {
                    Ok(())
                } else {
                    Err(bad(format!("must be one of {}", values.join(", "))))
                }
            }
            PrefType::Json => {
                let max = self.max_bytes.unwrap_or(DEFAULT_MAX_BYTES) as usize;
                if v.to_string().len() > max {
                    return Err(bad(format!("must be at most {max} bytes of JSON")));
                }
                Ok(())
            }
            PrefType::Bool => Ok(()),
        }
    }
}

/// Whether `tag` is a well-formed BCP 47 language tag (RFC 5646, without the
/// grandfathered irregular tags): language, then optional script, region,
/// variants, extensions and private use, in that order.
pub fn is_bcp47(tag: &str) -> bool {
    let alpha = |s: &str, lo: usize, hi: usize| {
        (lo..=hi).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphabetic())
    };
    let alnum = |s: &str, lo: usize, hi: usize| {
        (lo..=hi).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric())
    };
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    let parts: Vec<&str> = tag.split('-').collect();
    if parts.iter().any(|p| p.is_empty()) || tag.len() > 35 {
        return false;
    }
    let mut i = 0;
    if parts[0].eq_ignore_ascii_case("x") {
        return parts.len() > 1 && parts[1..].iter().all(|p| alnum(p, 1, 8));
    }
    if !(alpha(parts[0], 2, 3) || alpha(parts[0], 5, 8)) {
        return false;
    }
    i += 1;
    // Up to three extended language subtags after a 2-3 letter language.
    let mut ext = 0;
    while ext < 3 && i < parts.len() && alpha(parts[i], 3, 3) && parts[0].len() <= 3 {
        i += 1;
        ext += 1;
    }
    if i < parts.len() && alpha(parts[i], 4, 4) {
        i += 1;
    }
    if i < parts.len() && (alpha(parts[i], 2, 2) || digits(parts[i], 3)) {
        i += 1;
    }
    while i < parts.len()
        && (alnum(parts[i], 5, 8)
            || (parts[i].len() == 4
                && parts[i].as_bytes()[0].is_ascii_digit()
                && alnum(parts[i], 4, 4)))
    {
        i += 1;
    }
    while i < parts.len()
        && parts[i].len() == 1
        && !parts[i].eq_ignore_ascii_case("x")
        && alnum(parts[i], 1, 1)
    {
        i += 1;
        let start = i;
        while i < parts.len() && alnum(parts[i], 2, 8) {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    if i < parts.len() && parts[i].eq_ignore_ascii_case("x") {
        i += 1;
        let start = i;
        while i < parts.len() && alnum(parts[i], 1, 8) {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    i == parts.len()
}

/// Whether `tz` looks like an IANA time zone name: `UTC`, or `Area/Location`
/// parts of letters, digits, `_`, `+` and `-`.
pub fn is_timezone(tz: &str) -> bool {
    if tz == "UTC" || tz == "GMT" {
        return true;
    }
    let parts: Vec<&str> = tz.split('/').collect();
    parts.len() >= 2
        && tz.len() <= 64
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.as_bytes()[0].is_ascii_uppercase()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'+' | b'-'))
        })
}

#[cfg(test)]
mod tests {
    #[cfg(all(target_family = "wasm", target_os = "unknown"))]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn bcp47_tags() {
        for ok in [
            "en",
            "en-GB",
            "zh-Hant-TW",
            "sr-Latn-RS",
            "es-419",
            "de-CH-1996",
            "en-US-u-ca-gregory",
            "x-whatever",
            "zh-cmn-Hans-CN",
            "fr-x-private",
        ] {
            assert!(is_bcp47(ok), "{ok}");
        }
        for bad in [
            "",
            "e",
            "english!",
            "en_GB",
            "en--GB",
            "en-GB-",
            "123",
            "en-u",
            "en-x",
            "'; DROP TABLE prefs; --",
            &"a".repeat(40),
        ] {
            assert!(!is_bcp47(bad), "{bad}");
        }
    }

    #[test]
    fn timezones() {
        for ok in [
            "UTC",
            "Europe/Paris",
            "America/Argentina/Buenos_Aires",
            "Etc/GMT+5",
        ] {
            assert!(is_timezone(ok), "{ok}");
        }
        for bad in ["", "Paris", "europe/paris", "Europe/", "Europe/Par is"] {
            assert!(!is_timezone(bad), "{bad}");
        }
    }
}
