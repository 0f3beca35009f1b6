//! Personal data in URLs: the same detectors as free text ([`super::redact`])
//! applied to each part of a URL, a path or a referrer, keeping its shape so
//! that analytics on pages and parameters still work.
//!
//! - credentials in the authority (`https://user:secret@host/`) are dropped;
//! - each path segment, each query value and the fragment are decoded and
//!   passed through the detectors: `?email=jo@example.com` becomes
//!   `?email=[email]`;
//! - the values of parameters named like secrets (`token`, `password`,
//!   `code`, `api_key`, …) become `[redacted]`;
//! - parameter names are kept, and parameters matching the allow-list
//!   (`utm_*` by default) are kept verbatim.
//!
//! ```
//! use usertrail::kernel::url::redact_url;
//!
//! let keep = vec!["utm_*".to_string()];
//! assert_eq!(
//!     redact_url("https://x.test/reset?email=someone%40example.com&utm_source=mail", &keep).as_deref(),
//!     Some("https://x.test/reset?email=[email]&utm_source=mail"),
//! );
//! assert_eq!(redact_url("/pricing?plan=pro", &keep), None, "nothing personal: unchanged");
//! ```

use super::redact::redact;

/// Query parameter names whose values are secrets, whatever they look like.
pub const SECRET_PARAMS: &[&str] = &[
    "access_token",
    "api_key",
    "apikey",
    "auth",
    "authorization",
    "client_secret",
    "code",
    "id_token",
    "jwt",
    "key",
    "passwd",
    "password",
    "pwd",
    "refresh_token",
    "secret",
    "session",
    "sessionid",
    "sid",
    "token",
];

/// The label a secret parameter's value becomes.
pub const SECRET: &str = "[redacted]";

/// Whether `name` matches a pattern of `keep`: exact, or a prefix ending in `*`.
pub fn matches(keep: &[String], name: &str) -> bool {
    keep.iter().any(|p| match p.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => p == name,
    })
}

/// `%XX`-decodes `s` (and `+` as a space in query values), lossily.
fn decode(s: &str, plus: bool) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Percent-encodes what may not appear raw in a URL part (the detectors'
/// labels, `[email]`, stay readable).
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            'A'..='Z' | 'a'..='z' | '0'..='9' | '-' | '.' | '_' | '~' | '[' | ']' | '@' | ':' => {
                out.push(c)
            }
            _ => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("%{b:02X}"));
                }
            }
        }
    }
    out
}

/// One part (a path segment, a bare fragment): redacted if the detectors
/// find something in its decoded text.
fn part(raw: &str) -> Option<String> {
    redact(&decode(raw, false)).map(|r| encode(&r))
}

/// `a=b&c=d`: each value redacted unless its name is kept; secret names'
/// values replaced whole.
fn params(raw: &str, keep: &[String]) -> Option<String> {
    let mut changed = false;
    let pairs: Vec<String> = raw
        .split('&')
        .map(|pair| {
            let Some((name, value)) = pair.split_once('=') else {
                return pair.to_owned();
            };
            let decoded_name = decode(name, true);
            if matches(keep, &decoded_name) || value.is_empty() {
                return pair.to_owned();
            }
            let lower = decoded_name.to_ascii_lowercase();
            if SECRET_PARAMS.contains(&lower.as_str()) {
                changed |= value != SECRET;
                return format!("{name}={SECRET}");
            }
            match redact(&decode(value, true)) {
                Some(r) => {
                    changed = true;
                    format!("{name}={}", encode(&r))
                }
                None => pair.to_owned(),
            }
        })
        .collect();
    changed.then(|| pairs.join("&"))
}

/// `url` (absolute or relative: a URL, a path, a referrer) with personal
/// data redacted, or `None` when it has none. `keep` lists query parameter
/// names (or `prefix*` patterns) kept verbatim.
pub fn redact_url(url: &str, keep: &[String]) -> Option<String> {
    let (rest, fragment) = match url.split_once('#') {
        Some((r, f)) => (r, Some(f)),
        None => (url, None),
    };
    let (base, query) = match rest.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (rest, None),
    };
    let mut changed = false;
    // scheme://authority, with credentials dropped.
    let (prefix, path) = match base.find("://") {
        Some(i) => {
            let after = &base[i + 3..];
            let end = after.find('/').unwrap_or(after.len());
            let authority = &after[..end];
            let host = match authority.rfind('@') {
                Some(at) => {
                    changed = true;
                    &authority[at + 1..]
                }
                None => authority,
            };
            (format!("{}{host}", &base[..i + 3]), &after[end..])
        }
        None => (String::new(), base),
    };
    let segments: Vec<String> = path
        .split('/')
        .map(|s| match part(s) {
            Some(r) => {
                changed = true;
                r
            }
            None => s.to_owned(),
        })
        .collect();
    let mut out = prefix;
    out.push_str(&segments.join("/"));
    if let Some(q) = query {
        out.push('?');
        match params(q, keep) {
            Some(r) => {
                changed = true;
                out.push_str(&r);
            }
            None => out.push_str(q),
        }
    }
    if let Some(f) = fragment {
        out.push('#');
        let redacted = if f.contains('=') {
            params(f, keep)
        } else {
            part(f)
        };
        match redacted {
            Some(r) => {
                changed = true;
                out.push_str(&r);
            }
            None => out.push_str(f),
        }
    }
    changed.then_some(out)
}

#[cfg(test)]
mod tests {
    #[cfg(all(target_family = "wasm", target_os = "unknown"))]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    fn keep() -> Vec<String> {
        vec!["utm_*".into(), "ref".into()]
    }

    #[test]
    fn query_values_fragments_and_segments_are_redacted_names_kept() {
        for (url, expected) in [
            (
                "https://x.test/reset?email=someone@example.com",
                "https://x.test/reset?email=[email]",
            ),
            (
                "https://mail.test/?to=someone%40example.com&lang=en",
                "https://mail.test/?to=[email]&lang=en",
            ),
            ("/call?phone=%2B44+20+7946+0958", "/call?phone=[phone]"),
            (
                "/users/someone@example.com/settings",
                "/users/[email]/settings",
            ),
            (
                "https://app.test/cb#access_token=abc123&state=x",
                "https://app.test/cb#access_token=[redacted]&state=x",
            ),
            (
                "https://app.test/x#someone@example.com",
                "https://app.test/x#[email]",
            ),
            ("https://ann:hunter2@host.test/a", "https://host.test/a"),
            (
                "/login?next=/home&password=hunter2",
                "/login?next=/home&password=[redacted]",
            ),
        ] {
            assert_eq!(redact_url(url, &keep()).as_deref(), Some(expected), "{url}");
        }
    }

    #[test]
    fn allowed_parameters_and_clean_urls_are_untouched() {
        for url in [
            "https://x.test/pricing?plan=pro&utm_source=mail",
            "/p/550e8400-e29b-41d4-a716-446655440000?v=2",
            "https://x.test/?utm_content=someone@example.com",
            "/a?ref=someone@example.com",
            "",
            "?",
            "#",
            "https://x.test/%zz?x=%",
        ] {
            assert_eq!(redact_url(url, &keep()), None, "{url}");
        }
    }

    #[test]
    fn patterns_match_exactly_or_by_prefix() {
        let k = keep();
        assert!(matches(&k, "utm_source"));
        assert!(matches(&k, "ref"));
        assert!(!matches(&k, "referrer"));
        assert!(!matches(&k, "utm"));
    }
}
