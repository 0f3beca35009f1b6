//! PII redaction: emails, phone numbers and payment card numbers in free
//! text are replaced by `[email]`, `[phone]` and `[card]` before storage.
//!
//! The rules lean towards leaving text alone: an id, a URL, a date, an IP
//! address, a version or a timestamp is not redacted (see the corpus in the
//! tests).
//!
//! ```
//! use usertrail::kernel::redact::redact;
//!
//! assert_eq!(
//!     redact("mail jo@example.com or call +44 20 7946 0958").as_deref(),
//!     Some("mail [email] or call [phone]")
//! );
//! assert_eq!(redact("order 550e8400-e29b-41d4-a716-446655440000"), None);
//! ```

use serde_json::Value;

/// File extensions that look like top-level domains in `icon@2x.png`.
const FILE_EXTENSIONS: [&str; 12] = [
    "png", "jpg", "jpeg", "gif", "svg", "webp", "css", "js", "json", "html", "avif", "ico",
];

fn is_local(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"._%+-".contains(&b)
}

fn is_domain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'.' || b == b'-'
}

/// Email spans `[start, end)`.
fn emails(s: &[u8], out: &mut Vec<(usize, usize, &'static str)>) {
    for at in memchr_all(s, b'@') {
        let mut start = at;
        while start > 0 && is_local(s[start - 1]) {
            start -= 1;
        }
        let mut end = at + 1;
        while end < s.len() && is_domain(s[end]) {
            end += 1;
        }
        while end > at + 1 && matches!(s[end - 1], b'.' | b'-') {
            end -= 1;
        }
        while start < at && s[start] == b'.' {
            start += 1;
        }
        if start == at || end <= at + 1 {
            continue;
        }
        let domain = &s[at + 1..end];
        let Some(dot) = domain.iter().rposition(|&b| b == b'.') else {
            continue;
        };
        let tld = &domain[dot + 1..];
        let tld_ok = (2..=24).contains(&tld.len()) && tld.iter().all(u8::is_ascii_alphabetic);
        let file = FILE_EXTENSIONS
            .iter()
            .any(|e| e.as_bytes().eq_ignore_ascii_case(tld));
        if tld_ok && !file && dot > 0 {
            out.push((start, end, "[email]"));
        }
    }
}

fn memchr_all(s: &[u8], c: u8) -> impl Iterator<Item = usize> + '_ {
    s.iter()
        .enumerate()
        .filter(move |(_, &b)| b == c)
        .map(|(i, _)| i)
}

/// Whether byte `i` is inside a whitespace-delimited token that looks like
/// a URL, a path or a query (`/`, `=`, `?`, `&`, `#`, `:`).
fn protected(s: &[u8]) -> Vec<bool> {
    let mut out = vec![false; s.len()];
    let mut i = 0;
    while i < s.len() {
        if s[i].is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        while i < s.len() && !s[i].is_ascii_whitespace() {
            i += 1;
        }
        if s[start..i].iter().any(|b| b"/=?&#:".contains(b)) {
            out[start..i].fill(true);
        }
    }
    out
}

fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d - b'0');
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// A card number: 13 to 19 digits of a known network, passing Luhn,
/// written contiguously or in groups split by single spaces or dashes.
fn is_card(run: &[u8], digits: &[u8], groups: &[usize]) -> bool {
    if !(13..=19).contains(&digits.len())
        || run.contains(&b'(')
        || run.contains(&b'.')
        || run[0] == b'+'
    {
        return false;
    }
    let grouped = groups.len() == 1
        || groups.iter().take(groups.len() - 1).all(|&g| g == 4)
        || groups == [4, 6, 5]
        || groups == [4, 6, 4];
    let prefix = |p: &str| digits.starts_with(p.as_bytes());
    let two: u32 = std::str::from_utf8(&digits[..2])
        .ok()
        .and_then(|d| d.parse().ok())
        .unwrap_or(0);
    let four: u32 = std::str::from_utf8(&digits[..4])
        .ok()
        .and_then(|d| d.parse().ok())
        .unwrap_or(0);
    let network = prefix("4")
        || (51..=55).contains(&two)
        || (2221..=2720).contains(&four)
        || prefix("34")
        || prefix("37")
        || prefix("6011")
        || prefix("65")
        || (3528..=3589).contains(&four);
    grouped && network && luhn(digits)
}

/// A phone number: 10 to 15 digits, with a leading `+` or at least two
/// groups, and not an ISO date, an IPv4 address or a decimal number.
fn is_phone(run: &[u8], digits: &[u8], groups: &[usize]) -> bool {
    let plus = run[0] == b'+';
    if !(10..=15).contains(&digits.len()) || (!plus && groups.len() < 2) {
        return false;
    }
    if !plus && groups.iter().any(|&g| g > 8) {
        return false;
    }
    let dots_only = run.iter().all(|b| b.is_ascii_digit() || *b == b'.');
    let ipv4 = dots_only && groups.len() == 4 && groups.iter().all(|&g| g <= 3);
    let decimal = dots_only && groups.len() == 2;
    let date = groups.len() >= 3
        && groups[0] == 4
        && groups[1] == 2
        && groups[2] == 2
        && (run.starts_with(b"19") || run.starts_with(b"20"));
    !(ipv4 || decimal || date)
}

/// Phone and card spans, outside URL-like tokens and emails.
fn numbers(
    s: &[u8],
    taken: &[(usize, usize, &'static str)],
    out: &mut Vec<(usize, usize, &'static str)>,
) {
    let prot = protected(s);
    let free = |i: usize| !prot[i] && !taken.iter().any(|&(a, b, _)| (a..b).contains(&i));
    let mut i = 0;
    while i < s.len() {
        let b = s[i];
        let starts = b.is_ascii_digit()
            || ((b == b'+' || b == b'(') && s.get(i + 1).is_some_and(u8::is_ascii_digit));
        let after_word = i > 0 && (s[i - 1].is_ascii_alphanumeric() || b"_@$".contains(&s[i - 1]));
        if !starts || after_word || !free(i) {
            i += 1;
            continue;
        }
        let mut j = i + 1;
        while j < s.len() && free(j) && (s[j].is_ascii_digit() || b" -.()".contains(&s[j])) {
            // A run stops at a double separator ("1.  2").
            if !s[j].is_ascii_digit()
                && !s[j - 1].is_ascii_digit()
                && s[j - 1] != b')'
                && s[j] != b'('
            {
                break;
            }
            j += 1;
        }
        while j > i && !s[j - 1].is_ascii_digit() && s[j - 1] != b')' {
            j -= 1;
        }
        let before_word = j < s.len() && (s[j].is_ascii_alphanumeric() || s[j] == b'_');
        let run = &s[i..j];
        let digits: Vec<u8> = run.iter().copied().filter(u8::is_ascii_digit).collect();
        let mut groups = Vec::new();
        let mut n = 0;
        for &c in run {
            if c.is_ascii_digit() {
                n += 1;
            } else if n > 0 {
                groups.push(n);
                n = 0;
            }
        }
        if n > 0 {
            groups.push(n);
        }
        if !before_word && !digits.is_empty() {
            if is_card(run, &digits, &groups) {
                out.push((i, j, "[card]"));
            } else if is_phone(run, &digits, &groups) {
                out.push((i, j, "[phone]"));
            }
        }
        i = j.max(i + 1);
    }
}

/// `text` with its emails, phone numbers and card numbers replaced, or
/// `None` when it has none.
///
/// A replacement can expose a number its neighbour hid (digits that ran
/// into a phone number stop at the label's `]`), so passes repeat until
/// nothing more is found: redacting the result again finds nothing (a
/// fuzzing find, kept as a test).
pub fn redact(text: &str) -> Option<String> {
    let mut out = redact_once(text)?;
    // A pass that changes anything replaces at least one digit or `@` with
    // a label (which has neither), so this ends; real text needs one pass,
    // rarely two.
    let passes = text
        .bytes()
        .filter(|b| b.is_ascii_digit() || *b == b'@')
        .count();
    for _ in 0..passes {
        match redact_once(&out) {
            Some(again) if again != out => out = again,
            _ => break,
        }
    }
    Some(out)
}

fn redact_once(text: &str) -> Option<String> {
    let s = text.as_bytes();
    if !s.iter().any(|b| b.is_ascii_digit() || *b == b'@') {
        return None;
    }
    let mut spans = Vec::new();
    emails(s, &mut spans);
    let mut more = Vec::new();
    numbers(s, &spans, &mut more);
    spans.extend(more);
    if spans.is_empty() {
        return None;
    }
    spans.sort_unstable();
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (a, b, label) in spans {
        if a < at {
            continue;
        }
        out.push_str(&text[at..a]);
        out.push_str(label);
        at = b;
    }
    out.push_str(&text[at..]);
    Some(out)
}

/// Redacts every string inside `value` (object values and array items, not
/// keys), but not the base64 text of bytes (`{"$bytes": …}`, which a
/// detector could take for a card number and change). Returns how many
/// strings changed.
pub fn redact_value(value: &mut Value) -> usize {
    match value {
        Value::Object(map) if super::bytes::is_bytes(map) => 0,
        Value::String(s) => match redact(s) {
            Some(r) => {
                *s = r;
                1
            }
            None => 0,
        },
        Value::Array(items) => items.iter_mut().map(redact_value).sum(),
        Value::Object(map) => map.values_mut().map(redact_value).sum(),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    #[cfg(all(target_family = "wasm", target_os = "unknown"))]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn positives_are_redacted() {
        let cases = [
            ("jo@example.com", "[email]"),
            (
                "Contact: Jo.Bloggs+news@mail.example.co.uk.",
                "Contact: [email].",
            ),
            ("a@b.io, c_d@e-f.org", "[email], [email]"),
            ("call +44 20 7946 0958 today", "call [phone] today"),
            ("(555) 123-4567", "[phone]"),
            ("+1 (555) 123-4567", "[phone]"),
            ("555.123.4567", "[phone]"),
            ("06 12 34 56 78", "[phone]"),
            ("+4915112345678", "[phone]"),
            ("tel 0151 12345678", "tel [phone]"),
            ("card 4111 1111 1111 1111 exp", "card [card] exp"),
            ("4111-1111-1111-1111", "[card]"),
            ("5500005555555559", "[card]"),
            ("amex 3782 822463 10005", "amex [card]"),
            (
                "x jo@example.com y +33 6 12 34 56 78",
                "x [email] y [phone]",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(redact(input).as_deref(), Some(want), "{input}");
        }
    }

    #[test]
    fn negatives_are_left_alone() {
        let cases = [
            "550e8400-e29b-41d4-a716-446655440000",
            "https://shop.example.com/orders/2024-555-1234-5678?ref=42",
            "/products/12345678901",
            "https://example.com/u/jo?id=5551234567",
            "2024-05-06 12:30:45",
            "2024-05-06T12:30:45Z",
            "192.168.100.200",
            "version 1.2.3",
            "1700000000000",
            "1234567.891",
            "order 12345",
            "sku_4111111111111111",
            "icon@2x.png",
            "@handle",
            "user@localhost",
            "price 1,299.00 EUR",
            "4111111111111112",
            "ABC-1234567890",
            "id=4111111111111111",
            "",
        ];
        for input in cases {
            assert_eq!(redact(input), None, "{input}");
        }
    }

    #[test]
    fn values_are_redacted_deeply_but_not_keys() {
        let mut v = serde_json::json!({
            "jo@example.com": "ok", "note": ["x", "reach me at jo@example.com"], "n": 5551234567u64,
            "nested": { "phone": "+44 20 7946 0958" },
        });
        assert_eq!(redact_value(&mut v), 2);
        assert_eq!(v["note"][1], "reach me at [email]");
        assert_eq!(v["nested"]["phone"], "[phone]");
        assert_eq!(v["jo@example.com"], "ok");
        assert_eq!(v["n"], 5551234567u64);
    }

    #[test]
    fn redacting_twice_finds_nothing_more() {
        // A fuzzing find: a phone number run into the digits before it was
        // left whole until its neighbour became a label.
        let text = "call 55 )( 4111 11111512  4111 11111512 1+11111.1111210";
        let once = redact(text).unwrap();
        assert_eq!(redact(&once), None, "{once}");
        assert!(!once.contains("1111210"), "{once}");
        // And a long chain of them, each exposed by the one before.
        let chain = format!("x {}1+111.1112 1.98000", "1+119037111.1112 ".repeat(12));
        let once = redact(&chain).unwrap();
        assert_eq!(redact(&once), None, "{once}");
    }
}
