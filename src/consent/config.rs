//! Privacy settings and purposes.

use std::cmp::Ordering;

use crate::error::{Error, PrivacyError, Result};

/// Strictly necessary processing (sessions, security). Always granted.
pub const NECESSARY: &str = "necessary";
/// On-device analytics: events and what is computed from them.
pub const ANALYTICS: &str = "analytics";
/// Personalization: preferences marked with it, and experiments.
pub const PERSONALIZATION: &str = "personalization";
/// Marketing.
pub const MARKETING: &str = "marketing";
/// Selling or sharing personal data (CCPA "Do Not Sell or Share").
pub const SALE_SHARE: &str = "sale_share";

/// The purposes every engine knows.
pub const BUILT_IN_PURPOSES: [&str; 5] =
    [NECESSARY, ANALYTICS, PERSONALIZATION, MARKETING, SALE_SHARE];

/// Privacy settings for an engine. Read from JS as `privacy` in the open
/// options: camelCase keys, unknown keys refused, every key optional.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct PrivacyConfig {
    /// The privacy policy version in force. Consent given under an older
    /// version is reported with `needs_reconsent`. Default `"1"`.
    pub policy_version: String,
    /// Purposes whose consent gates collection. Empty (the default) means no
    /// gating: hosts that process under another legal basis keep working.
    #[serde(deserialize_with = "purpose_list")]
    pub require_consent: Vec<String>,
    /// A purpose granted under an older policy version counts as not
    /// granted until the subject consents again. Default off: such consent
    /// is reported (`needsReconsent`) but still counts.
    pub require_current_policy: bool,
    /// Redact emails, phone numbers and card numbers from event properties,
    /// string dimensions, and the URL, path and referrer of events (query
    /// values, fragments, path segments) before they are stored. Default on.
    pub redact_pii: bool,
    /// Query parameters of URLs kept verbatim by the redaction: names, or
    /// prefixes ending in `*`. Default `["utm_*"]`.
    #[serde(deserialize_with = "name_list")]
    pub keep_url_params: Vec<String>,
    /// Custom purposes, besides the built-in ones.
    #[serde(deserialize_with = "purpose_list")]
    pub purposes: Vec<String>,
    /// Retention runs at open and then at most once per this many seconds.
    /// Default one day.
    pub retention_interval_secs: u64,
    /// A secret key for the hash chains of the consent ledger and the audit
    /// log: rows appended while it is set are linked with HMAC-SHA-256, so
    /// someone who has only the database file cannot recompute the chain
    /// after rewriting it. Keep it outside the database. At least 16 bytes.
    pub chain_key: Option<crate::kernel::bytes::Bytes>,
}

/// A list of purposes, with a message that says so when it is not one.
fn purpose_list<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Vec<String>, D::Error> {
    list(d, "an array of purposes, such as [\"analytics\"]")
}

/// A list of names, with a message that says so when it is not one.
fn name_list<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Vec<String>, D::Error> {
    list(
        d,
        "an array of parameter names, such as [\"utm_*\", \"ref\"]",
    )
}

fn list<'de, D: serde::Deserializer<'de>>(
    d: D,
    expected: &'static str,
) -> std::result::Result<Vec<String>, D::Error> {
    struct V(&'static str);
    impl<'de> serde::de::Visitor<'de> for V {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> std::result::Result<Vec<String>, A::Error> {
            let mut out = Vec::new();
            while let Some(item) = seq.next_element::<serde_json::Value>()? {
                match item {
                    serde_json::Value::String(s) => out.push(s),
                    other => {
                        return Err(serde::de::Error::invalid_type(
                            serde::de::Unexpected::Other(&other.to_string()),
                            &self,
                        ))
                    }
                }
            }
            Ok(out)
        }
    }
    d.deserialize_seq(V(expected))
}

impl Default for PrivacyConfig {
    fn default() -> Self {
        Self {
            policy_version: "1".into(),
            require_consent: Vec::new(),
            require_current_policy: false,
            redact_pii: true,
            keep_url_params: vec!["utm_*".into()],
            purposes: Vec::new(),
            retention_interval_secs: 86_400,
            chain_key: None,
        }
    }
}

impl PrivacyConfig {
    /// Checks the settings, naming the first one at fault.
    pub fn validate(&self) -> Result<()> {
        check_version("privacy.policyVersion", &self.policy_version)?;
        for p in &self.purposes {
            if !is_purpose_name(p) {
                return Err(Error::invalid(
                    "privacy.purposes",
                    format!("{p:?} must be 1 to 64 of a-z, 0-9 and _, starting with a letter"),
                ));
            }
            if BUILT_IN_PURPOSES.contains(&p.as_str()) {
                return Err(Error::invalid(
                    "privacy.purposes",
                    format!("{p:?} is built in"),
                ));
            }
        }
        for p in &self.require_consent {
            self.check_purpose(p)?;
        }
        if self.retention_interval_secs == 0 {
            return Err(Error::invalid(
                "privacy.retentionIntervalSecs",
                "must be at least 1",
            ));
        }
        if self.keep_url_params.len() > 64 {
            return Err(Error::invalid("privacy.keepUrlParams", "at most 64 names"));
        }
        for p in &self.keep_url_params {
            crate::kernel::text::check("privacy.keepUrlParams", p, 64)?;
        }
        if self
            .chain_key
            .as_ref()
            .is_some_and(|k| !(16..=1024).contains(&k.0.len()))
        {
            return Err(Error::invalid(
                "privacy.chainKey",
                "must be 16 to 1024 bytes",
            ));
        }
        Ok(())
    }

    /// The chain key's bytes, if one is set.
    pub fn chain_key(&self) -> Option<&[u8]> {
        self.chain_key.as_ref().map(|k| k.0.as_slice())
    }

    /// Refuses a purpose that is neither built in nor declared.
    pub fn check_purpose(&self, purpose: &str) -> Result<()> {
        if BUILT_IN_PURPOSES.contains(&purpose) || self.purposes.iter().any(|p| p == purpose) {
            Ok(())
        } else {
            Err(PrivacyError::UnknownPurpose {
                purpose: purpose.chars().take(64).collect(),
            }
            .into())
        }
    }

    /// Every purpose: the built-in ones, then the custom ones.
    pub fn all_purposes(&self) -> Vec<String> {
        BUILT_IN_PURPOSES
            .iter()
            .map(|p| p.to_string())
            .chain(self.purposes.iter().cloned())
            .collect()
    }

    /// Whether collection for `purpose` needs the subject's consent.
    pub fn requires(&self, purpose: &str) -> bool {
        purpose != NECESSARY && self.require_consent.iter().any(|p| p == purpose)
    }
}

fn is_purpose_name(p: &str) -> bool {
    p.len() <= 64
        && p.starts_with(|c: char| c.is_ascii_lowercase())
        && p.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Checks a policy version: 1 to 64 printable ASCII characters.
pub fn check_version(field: &str, v: &str) -> Result<()> {
    if v.is_empty() || v.len() > 64 || !v.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::invalid(
            field,
            "must be 1 to 64 printable ASCII characters, such as \"2026-03\" or \"4.1\"",
        ));
    }
    Ok(())
}

/// Orders policy versions the way people number them: runs of digits
/// compare as numbers, so `"1.10"` is newer than `"1.9"` and `"2026-03"`
/// newer than `"2025-12"`.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    loop {
        match (a.first(), b.first()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let da = a.iter().take_while(|c| c.is_ascii_digit()).count();
                let db = b.iter().take_while(|c| c.is_ascii_digit()).count();
                let na = trim_zeros(&a[..da]);
                let nb = trim_zeros(&b[..db]);
                let ord = na.len().cmp(&nb.len()).then_with(|| na.cmp(nb));
                if ord != Ordering::Equal {
                    return ord;
                }
                a = &a[da..];
                b = &b[db..];
            }
            (Some(x), Some(y)) => {
                if x != y {
                    return x.cmp(y);
                }
                a = &a[1..];
                b = &b[1..];
            }
        }
    }
}

fn trim_zeros(d: &[u8]) -> &[u8] {
    let n = d.iter().take_while(|&&c| c == b'0').count();
    &d[n..]
}

#[cfg(test)]
mod tests {
    #[cfg(all(target_family = "wasm", target_os = "unknown"))]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn versions_compare_numerically() {
        assert_eq!(compare_versions("1.10", "1.9"), Ordering::Greater);
        assert_eq!(compare_versions("2026-03", "2025-12"), Ordering::Greater);
        assert_eq!(compare_versions("2", "2"), Ordering::Equal);
        assert_eq!(compare_versions("v2", "v10"), Ordering::Less);
        assert_eq!(compare_versions("1.0", "1.0.1"), Ordering::Less);
        assert_eq!(compare_versions("01", "1"), Ordering::Equal);
    }

    #[test]
    fn purposes_are_checked() {
        let config = PrivacyConfig {
            purposes: vec!["newsletter".into()],
            ..PrivacyConfig::default()
        };
        config.validate().unwrap();
        config.check_purpose("newsletter").unwrap();
        config.check_purpose("sale_share").unwrap();
        assert_eq!(
            config.check_purpose("tracking").unwrap_err().code(),
            "UNKNOWN_PURPOSE"
        );
        let bad = PrivacyConfig {
            purposes: vec!["Bad Name".into()],
            ..PrivacyConfig::default()
        };
        assert_eq!(bad.validate().unwrap_err().code(), "INVALID_INPUT");
        let unknown = PrivacyConfig {
            require_consent: vec!["tracking".into()],
            ..PrivacyConfig::default()
        };
        assert_eq!(unknown.validate().unwrap_err().code(), "UNKNOWN_PURPOSE");
        assert!(!PrivacyConfig::default().requires(ANALYTICS));
    }
}
