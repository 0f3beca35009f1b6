//! The user-agent reduction scored against ua-parser's own test suite
//! (uap-core `tests/test_ua.yaml`, `test_os.yaml` and the `Spider` cases of
//! `test_device.yaml`, with a sample of its other devices; Apache-2.0, in
//! `tests/fixtures/uap-core/` with its licence). uap's family names are
//! normalised to ours (Chrome Mobile → Chrome, Mobile Safari → Safari, Mac OS
//! X → macOS, …). The suite is made of edge cases, so these are not traffic
//! shares: they are the cases a rule set must get right.
//!
//! The figures are printed; the floors asserted are today's, so a change
//! that loses accuracy fails. Run with `--nocapture` to read them.

#[cfg(all(target_family = "wasm", target_os = "unknown"))]
use wasm_bindgen_test::wasm_bindgen_test as test;

use serde::Deserialize;
use usertrail::kernel::useragent::{parse, DeviceClass};

#[derive(Deserialize)]
struct Cases {
    ua: Vec<(String, String, String)>,
    os: Vec<(String, String)>,
    spiders: Vec<String>,
    devices: Vec<(String, String)>,
}

fn cases() -> Cases {
    serde_json::from_str(include_str!("fixtures/uap-core/cases.json")).unwrap()
}

/// uap's browser family as ours, for the browsers we name.
fn our_browser(uap: &str) -> Option<&'static str> {
    Some(match uap {
        "Chrome" | "Chrome Mobile" | "Chrome Mobile iOS" | "Chrome Mobile WebView" => "Chrome",
        "Firefox" | "Firefox Mobile" | "Firefox iOS" => "Firefox",
        "Safari" | "Mobile Safari" | "Mobile Safari UI/WKWebView" => "Safari",
        "Edge" | "Edge Mobile" => "Edge",
        "Opera" | "Opera Mobile" => "Opera",
        "Samsung Internet" => "Samsung Internet",
        "IE" | "IE Mobile" => "Internet Explorer",
        "HeadlessChrome" => "Headless Chrome",
        _ => return None,
    })
}

/// uap's OS family as ours, for the systems we name.
fn our_os(uap: &str) -> Option<&'static str> {
    Some(match uap {
        "Windows" => "Windows",
        "iOS" => "iOS",
        "Android" => "Android",
        "Mac OS X" | "Mac OS" => "macOS",
        "Chrome OS" => "ChromeOS",
        "Linux" | "Ubuntu" | "Debian" | "Fedora" | "Gentoo" | "Mint" | "Red Hat" | "SUSE"
        | "openSUSE" | "Arch Linux" | "Slackware" | "Mandriva" | "CentOS" => "Linux",
        _ => return None,
    })
}

fn pct(n: usize, of: usize) -> f64 {
    if of == 0 {
        100.0
    } else {
        100.0 * n as f64 / of as f64
    }
}

/// (family right, family and major right, wrong family) over the browsers
/// we name, and (Other, a wrong family) over the rest.
fn browser_scores(c: &Cases) -> (f64, f64, f64, f64) {
    let (mut named, mut family, mut both, mut rest, mut other, mut wrong) = (0, 0, 0, 0, 0, 0);
    for (ua, fam, major) in &c.ua {
        let got = parse(ua).browser;
        let (got_family, got_major) = match got.rsplit_once(' ') {
            Some((f, m)) if m.chars().all(|ch| ch.is_ascii_digit()) => (f.to_owned(), m.to_owned()),
            _ => (got.clone(), String::new()),
        };
        match our_browser(fam) {
            Some(want) => {
                named += 1;
                if got_family == want {
                    family += 1;
                    if &got_major == major {
                        both += 1;
                    }
                }
            }
            None => {
                rest += 1;
                if got_family == "Other" {
                    other += 1;
                } else {
                    wrong += 1;
                }
            }
        }
    }
    println!(
        "browsers we name: {named} cases, family {:.1}%, family and major {:.1}%; \
         the other {rest}: Other {:.1}%, a wrong family {:.1}%",
        pct(family, named),
        pct(both, named),
        pct(other, rest),
        pct(wrong, rest)
    );
    (
        pct(family, named),
        pct(both, named),
        pct(other, rest),
        pct(wrong, rest),
    )
}

fn os_scores(c: &Cases) -> (f64, f64) {
    let (mut named, mut right, mut rest, mut other) = (0, 0, 0, 0);
    for (ua, fam) in &c.os {
        let got = parse(ua).os;
        // iPadOS is counted as iOS, as uap does.
        let got = if got == "iPadOS" { "iOS".into() } else { got };
        match our_os(fam) {
            Some(want) => {
                named += 1;
                right += usize::from(got == want);
            }
            None => {
                rest += 1;
                other += usize::from(got == "Other");
            }
        }
    }
    println!(
        "systems we name: {named} cases, family {:.1}%; the other {rest}: Other {:.1}%",
        pct(right, named),
        pct(other, rest)
    );
    (pct(right, named), pct(other, rest))
}

fn bot_scores(c: &Cases) -> (f64, f64) {
    let caught = c
        .spiders
        .iter()
        .filter(|ua| parse(ua).device == DeviceClass::Bot)
        .count();
    let false_bots = c
        .devices
        .iter()
        .filter(|(ua, _)| parse(ua).device == DeviceClass::Bot)
        .count();
    println!(
        "spiders classed bot: {caught} of {} ({:.1}%); other devices classed bot: {false_bots} of {} ({:.1}%)",
        c.spiders.len(),
        pct(caught, c.spiders.len()),
        c.devices.len(),
        pct(false_bots, c.devices.len())
    );
    (
        pct(caught, c.spiders.len()),
        pct(false_bots, c.devices.len()),
    )
}

#[test]
fn accuracy_on_uap_cores_suite_stays_above_its_floor() {
    let c = cases();
    assert!(c.ua.len() > 1500 && c.os.len() > 400 && c.spiders.len() > 50);
    let (family, both, other, wrong) = browser_scores(&c);
    let (os, os_other) = os_scores(&c);
    let (bots, false_bots) = bot_scores(&c);
    // Today's figures, as floors (the goals are 95%, and never a wrong
    // family; before the rules were scored: 69.8%, 60.5%, 78.0% / 22.0%,
    // 60.9%, 39.7%).
    assert!(family >= 95.0, "browser family {family:.1}%");
    assert!(both >= 95.0, "browser family and major {both:.1}%");
    // Never a wrong family: every other browser is `Other`.
    assert!(
        other >= 100.0 && wrong <= 0.0,
        "other browsers {other:.1}% / {wrong:.1}%"
    );
    assert!(
        os >= 95.0 && os_other >= 67.0,
        "os {os:.1}% / {os_other:.1}%"
    );
    assert!(bots >= 97.0, "spiders {bots:.1}%");
    assert!(false_bots <= 0.5, "false bots {false_bots:.1}%");
}

/// Prints the browser cases we get wrong (`cargo test --test
/// useragent_accuracy -- --ignored --nocapture`), for rule work.
#[test]
#[ignore]
fn print_browser_misses() {
    for (ua, fam, major) in cases().ua {
        let got = parse(&ua).browser;
        let want = our_browser(&fam).map(|f| format!("{f} {major}"));
        let wrong = match &want {
            Some(w) => got.trim() != w.trim(),
            None => got != "Other",
        };
        if wrong {
            println!("{fam} {major} | got {got} | {ua}");
        }
    }
}
