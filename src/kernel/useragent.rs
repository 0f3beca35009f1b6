//! User agents, reduced to what an app needs: a browser, an OS and a device
//! class. The raw string is not kept unless the host asks for it.
//!
//! ```
//! use usertrail::kernel::useragent::{parse, DeviceClass};
//!
//! let ua = parse("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 \
//!                 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1");
//! assert_eq!(ua.browser, "Safari 17");
//! assert_eq!(ua.os, "iOS");
//! assert_eq!(ua.device, DeviceClass::Mobile);
//! ```

use std::cell::RefCell;
use std::collections::HashMap;

use serde::Serialize;

/// The kind of device a user agent runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceClass {
    /// A desktop or laptop computer.
    Desktop,
    /// A phone.
    Mobile,
    /// A tablet.
    Tablet,
    /// A crawler, a script or an automated browser.
    Bot,
    /// Not recognisable.
    Unknown,
}

impl DeviceClass {
    /// The lowercase name, as stored and as JS sees it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Desktop => "desktop",
            Self::Mobile => "mobile",
            Self::Tablet => "tablet",
            Self::Bot => "bot",
            Self::Unknown => "unknown",
        }
    }

    /// The inverse of [`DeviceClass::as_str`]; anything else is `Unknown`.
    pub fn from_name(name: &str) -> Self {
        match name {
            "desktop" => Self::Desktop,
            "mobile" => Self::Mobile,
            "tablet" => Self::Tablet,
            "bot" => Self::Bot,
            _ => Self::Unknown,
        }
    }
}

/// What a user agent string says, minimised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserAgent {
    /// Browser family and major version, such as `"Firefox 121"`, or `"Other"`.
    pub browser: String,
    /// Operating system family, such as `"Windows"`, or `"Other"`.
    pub os: String,
    /// Device class.
    pub device: DeviceClass,
}

/// Browsers by the token that names them, most specific first: Edge and
/// Opera also say "Chrome", and Chrome also says "Safari".
const BROWSERS: &[(&str, &str)] = &[
    ("Edg/", "Edge"),
    ("EdgA/", "Edge"),
    ("Edge/", "Edge"),
    ("EdgiOS/", "Edge"),
    ("OPR/", "Opera"),
    ("SamsungBrowser/", "Samsung Internet"),
    ("Firefox/", "Firefox"),
    ("FxiOS/", "Firefox"),
    ("HeadlessChrome/", "Headless Chrome"),
    ("HeadlessChrome", "Headless Chrome"),
    ("CriOS/", "Chrome"),
    ("Chrome/", "Chrome"),
    ("Version/", "Safari"),
    ("IEMobile/", "Internet Explorer"),
    ("IEMobile ", "Internet Explorer"),
    ("MSIE ", "Internet Explorer"),
];

const BOT_MARKERS: &[&str] = &[
    "bot",
    "crawl",
    "spider",
    "slurp",
    "headless",
    "curl/",
    "wget/",
    "python-",
    "go-http-client",
    "node-fetch",
    "axios/",
    "okhttp",
    "lighthouse",
    "phantomjs",
    // Crawlers, link expanders, monitors and archivers by name (from the
    // Spider cases of ua-parser's test suite, tests/useragent_accuracy.rs).
    "indexer",
    "nutch",
    "scrapy",
    "heritrix",
    "archive",
    "preview",
    "slack",
    "masscan",
    "ptst/",
    "pingdom",
    "statuscake",
    "datanyze",
    "sleuth",
    "newsgator",
    "yeti/",
    "daum",
    "netvibes",
    "ning/",
    "riddler",
    "data collector",
    "thumbnail",
    "reaper/",
    "zooshot",
    "holmes/",
    "yahoocachesystem",
    "blogbridge",
    "gomezagent",
    "iltrovatore",
    "genieo",
    "inspectiontool",
    "qwantify",
    "wsr-agent",
    "agent6",
    "pagepeeker",
    "imageproxy",
    "python",
    "scraper",
    "scooter",
    // A crawler's contact page, by the convention `+http://...`.
    "+http",
];

/// The longest user agent accepted, in bytes.
pub const MAX_LEN: usize = 4096;

/// Refuses a user agent longer than [`MAX_LEN`] bytes: `INVALID_INPUT`.
pub fn check(ua: &str) -> Result<(), super::Invalid> {
    if ua.len() > MAX_LEN {
        return Err(super::Invalid::new(
            "userAgent",
            format!("must be at most {MAX_LEN} bytes"),
        ));
    }
    Ok(())
}

/// The digits at `at` (a major version), if any.
fn major_at(ua: &str, at: usize) -> String {
    ua[at..].chars().take_while(char::is_ascii_digit).collect()
}

/// `"Firefox 121"`, or the family alone without a version.
fn named(name: &str, major: String) -> String {
    if major.is_empty() {
        name.to_owned()
    } else {
        format!("{name} {major}")
    }
}

/// Browsers whose version is not in their own token: Internet Explorer by
/// its engine (`Trident/7.0` is 11 even when it claims `MSIE 7.0` for
/// compatibility) and Presto-era Opera (`Opera/9.80 ... Version/12.16`).
fn special_browser(ua: &str) -> Option<String> {
    if !ua.contains("IEMobile") {
        if let Some(at) = ua.find("Trident/") {
            let engine = major_at(ua, at + "Trident/".len());
            let major = match engine.as_str() {
                "4" => "8",
                "5" => "9",
                "6" => "10",
                "7" | "8" => "11",
                _ => "",
            };
            if !major.is_empty() {
                return Some(named("Internet Explorer", major.to_owned()));
            }
        }
    }
    if (ua.starts_with("Opera/") || ua.contains(" Opera/"))
        && !ua.contains("Opera Mini")
        && !ua.contains("Opera Tablet")
    {
        let major = match ua.find("Version/") {
            Some(at) => major_at(ua, at + "Version/".len()),
            None => major_at(ua, ua.find("Opera/")? + "Opera/".len()),
        };
        return Some(named("Opera", major));
    }
    None
}

/// An app's web view on iOS: WebKit on an iPhone or iPad without
/// `Version/` or `Safari/` (Safari without a version).
fn web_view(ua: &str) -> Option<String> {
    let apple = ["iPhone", "iPad", "iPod"].iter().any(|d| ua.contains(d));
    let mobile = ua.contains("Mobile/") || ua.ends_with("Mobile");
    (apple && ua.contains("AppleWebKit/") && mobile).then(|| "Safari".to_owned())
}

/// Safari without `Version/`: early Safari (`... Safari/419.3`, no major),
/// and Safari's own requests through CFNetwork (`Safari/6533.18.5
/// CFNetwork/...`, its build as the major).
fn bare_safari(ua: &str, lower: &str) -> Option<String> {
    if lower.contains("android") || ua.contains("Version/") {
        return None;
    }
    if let Some(rest) = ua.strip_prefix("Safari/") {
        return ua
            .contains("CFNetwork/")
            .then(|| named("Safari", major_at(rest, 0)));
    }
    (ua.contains("AppleWebKit/") && ua.contains("Safari/")).then(|| "Safari".to_owned())
}

/// The product tokens of `ua` outside parentheses: `Chrome` of
/// `Chrome/120.0`.
fn products(ua: &str) -> impl Iterator<Item = &str> {
    let mut depth = 0usize;
    let mut spans = Vec::new();
    let mut start = None;
    for (i, ch) in ua.char_indices() {
        match ch {
            '(' => {
                if let Some(s) = start.take() {
                    spans.push(&ua[s..i]);
                }
                depth += 1;
            }
            ')' => depth = depth.saturating_sub(1),
            c if depth == 0 && !c.is_whitespace() => {
                start.get_or_insert(i);
            }
            _ => {
                if let Some(s) = start.take() {
                    spans.push(&ua[s..i]);
                }
            }
        }
    }
    if let Some(s) = start {
        spans.push(&ua[s..]);
    }
    spans.into_iter().map(|t| t.split('/').next().unwrap_or(t))
}

/// Chrome and Safari are what many other browsers and apps build on and
/// still name: either is only itself when nothing else
/// names a product (`YaBrowser/`, `Puffin/`, `FBAV/`, ...). Otherwise the
/// browser is one we do not name: `Other`, never a wrong family.
fn plain(ua: &str, browser: &str) -> bool {
    const BASE: &[&str] = &[
        "Mozilla",
        "AppleWebKit",
        "Mobile",
        "Safari",
        "Version",
        "Gecko",
    ];
    /// Linux distributions that name themselves in Firefox's user agent.
    const DISTROS: &[&str] = &[
        "Ubuntu", "Fedora", "Debian", "Mint", "CentOS", "SUSE", "Gentoo",
    ];
    // Apps and forks that name themselves only inside parentheses.
    let says = |marks: &[&str]| marks.iter().any(|m| ua.contains(m));
    let family = browser.split(' ').next().unwrap_or(browser);
    let family = if browser.starts_with("Internet Explorer") {
        "Internet Explorer"
    } else {
        family
    };
    let own: &[&str] = match family {
        "Chrome" => {
            // A second parenthesised group after WebKit's `(KHTML, like
            // Gecko)` is an app's (`(Ecosia android@...)`).
            // Forks and monitors that name themselves in the platform group
            // (`(Windows NT 10.0; Chromium GOST)`, `(X11; Datanyze; ...)`)
            // are not Chrome either.
            if app_group(ua) || says(&["Valve ", "Catchpoint", "Chromium", "Datanyze"]) {
                return false;
            }
            &["Chrome", "CriOS"]
        }
        // Edge says Chrome and Safari too; an app after it (`Teams/`) is
        // the app.
        "Edge" => &["Chrome", "Edg", "EdgA", "Edge", "EdgiOS"],
        "Safari" => {
            // WebKit nightlies say `AppleWebKit/534+`; BlackBerry, Symbian
            // and others build on WebKit and still say Safari.
            if ua.contains("AppleWebKit/") && ua.contains("+ (KHTML")
                || app_group(ua)
                || says(&["BB10", "BlackBerry", "PlayBook", "Symbian", "BOLT/"])
            {
                return false;
            }
            // Safari's own requests through Apple's HTTP stack.
            &["CFNetwork", "Darwin"]
        }
        "Firefox" => {
            // Alphas and betas (`Firefox/4.0b4`) are other browsers to uap.
            let version = ua
                .find("Firefox/")
                .map(|at| &ua[at + "Firefox/".len()..])
                .and_then(|v| v.split_whitespace().next())
                .unwrap_or("");
            if version.contains(['a', 'b']) {
                return false;
            }
            &["Firefox", "FxiOS"]
        }
        "Samsung" => &["SamsungBrowser", "Chrome"],
        "Internet Explorer" => {
            // Mail clients and shells that embed IE's engine.
            let embedded = says(&[
                "MSOffice",
                "Outlook",
                "Windows Live",
                "Crawler",
                "QQBrowser",
                "Sleipnir",
                "chromeframe/",
                "ZuneWP7",
                "AOL",
            ]) || ua.to_ascii_lowercase().contains("browser");
            return !embedded && (ua.starts_with("Mozilla/") || ua.starts_with("MSIE"));
        }
        _ => return true,
    };
    // Tokens without a letter (`.1453` of `Chrome/27.0 .1453`) name nothing.
    products(ua).all(|p| {
        BASE.contains(&p)
            || own.contains(&p)
            || (family == "Firefox" && DISTROS.contains(&p))
            || !p.chars().any(|c| c.is_ascii_alphabetic())
    })
}

/// A second parenthesised group after WebKit's `(KHTML, like Gecko)`: an
/// app naming itself (`... Safari/537.36 (Ecosia android@101.0)`).
fn app_group(ua: &str) -> bool {
    ua.find("(KHTML")
        .is_some_and(|at| ua[at + 1..].contains('('))
}

/// Apple's in-app HTTP stack (`App/1.0 CFNetwork/976 Darwin/18.2.0`) names
/// the Mac it runs on; otherwise it is an iPhone or iPad.
fn cfnetwork_on_mac(ua: &str) -> bool {
    [
        "(i386)",
        "(x86_64)",
        "(arm64)",
        "Macmini",
        "MacBook",
        "iMac",
        "MacPro",
        "Macintosh",
    ]
    .iter()
    .any(|m| ua.contains(m))
}

/// The operating system family, most specific evidence first.
fn os_family(ua: &str, lower: &str) -> &'static str {
    // Browsers only built for iOS, even when they ask for a desktop page.
    let ios_browser = ["CriOS/", "EdgiOS/", "FxiOS/"]
        .iter()
        .any(|m| ua.contains(m));
    if ua.contains("iPad") {
        "iPadOS"
    } else if ua.contains("iPhone")
        || ua.contains("iPod")
        || ua.contains("iPh OS")
        || ua.contains("(iOS;")
        || ua.contains(";iOS ")
        || ios_browser
    {
        "iOS"
    } else if ua.contains("Windows") {
        "Windows"
    } else if lower.contains("android") || ua.contains("Silk/") {
        "Android"
    } else if ua.contains("CrOS") {
        "ChromeOS"
    } else if ua.contains("CFNetwork/") && ua.contains("Darwin/") {
        if cfnetwork_on_mac(ua) {
            "macOS"
        } else {
            "iOS"
        }
    } else if ua.contains("Mac OS X") || ua.contains("Macintosh") || ua.contains("Mac_PowerPC") {
        "macOS"
    } else if ua.contains("Linux") || ua.contains("X11") || lower.contains("linux") {
        "Linux"
    } else {
        "Other"
    }
}

/// How many distinct user agents [`parse`] remembers, per thread (the
/// engine runs on one). An app's traffic comes from a few hundred browsers
/// at most, and parsing one costs about 15 µs in wasm (some 200 bot
/// markers looked for), where a remembered one costs a lookup: the
/// sessions a server creates and the events it ingests mostly repeat the
/// last ones. When full it starts again empty, so a stream of distinct
/// strings costs what it did without it, and memory stays bounded.
const REMEMBERED: usize = 256;

/// Longer strings are parsed each time (real ones are 100 to 300 bytes),
/// so what is remembered stays under 128 KB.
const REMEMBERED_LEN: usize = 512;

thread_local! {
    /// The user agents parsed last, as [`parse`] gave them. Held in memory
    /// only, like the request that carried them; never stored.
    static PARSED: RefCell<HashMap<Box<str>, UserAgent>> = RefCell::new(HashMap::new());
}

/// Parses a user agent string. Never fails: what it does not recognise is
/// `"Other"` and [`DeviceClass::Unknown`]. The same string always gives the
/// same answer; the last ones are remembered (see [`REMEMBERED`]).
pub fn parse(ua: &str) -> UserAgent {
    if ua.len() > REMEMBERED_LEN {
        return parse_anew(ua);
    }
    if let Some(known) = PARSED.with(|p| p.borrow().get(ua).cloned()) {
        return known;
    }
    let parsed = parse_anew(ua);
    PARSED.with(|p| {
        let mut p = p.borrow_mut();
        if p.len() >= REMEMBERED {
            p.clear();
        }
        p.insert(ua.into(), parsed.clone());
    });
    parsed
}

/// [`parse`], without looking at what was parsed before.
fn parse_anew(ua: &str) -> UserAgent {
    // A user agent sent form-encoded (`Mozilla/5.0+(iPhone;+CPU...`): its
    // spaces are pluses.
    let decoded;
    let ua = if !ua.contains(' ') && ua.contains("+(") {
        decoded = ua.replace('+', " ");
        decoded.as_str()
    } else {
        ua
    };
    let lower = ua.to_ascii_lowercase();
    // Java's HTTP client says `Java/1.8.0_392`; feature phones say
    // `Java/ASVM/1.1` in the middle of theirs.
    let bot = BOT_MARKERS.iter().any(|m| lower.contains(m)) || lower.starts_with("java/");
    let browser = special_browser(ua)
        .or_else(|| {
            BROWSERS.iter().find_map(|(token, name)| {
                let at = ua.find(token)?;
                let safari = ua.contains("Safari/") || ua.ends_with(" Safari");
                if *name == "Safari" && (!safari || lower.contains("android")) {
                    return None;
                }
                Some(named(name, major_at(ua, at + token.len())))
            })
        })
        .or_else(|| bare_safari(ua, &lower))
        .or_else(|| web_view(ua))
        .filter(|b| plain(ua, b))
        // A crawler is not the old IE or Firefox it imitates; crawlers that
        // render pages run Chrome (headless or not), and say so.
        .filter(|b| !bot || b.starts_with("Headless Chrome") || b.starts_with("Chrome"))
        .unwrap_or_else(|| "Other".to_owned());
    let os = os_family(ua, &lower);
    let device = if bot {
        DeviceClass::Bot
    } else if ua.contains("iPad")
        || lower.contains("tablet")
        || (os == "Android" && !ua.contains("Mobile"))
    {
        DeviceClass::Tablet
    } else if ua.contains("Mobi") || ua.contains("iPhone") || ua.contains("iPod") {
        DeviceClass::Mobile
    } else if matches!(os, "Windows" | "macOS" | "Linux" | "ChromeOS") {
        DeviceClass::Desktop
    } else {
        DeviceClass::Unknown
    };
    UserAgent {
        browser,
        os: os.to_owned(),
        device,
    }
}

#[cfg(test)]
mod tests {
    #[cfg(all(target_family = "wasm", target_os = "unknown"))]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn remembered_answers_are_the_answers_of_a_fresh_parse() {
        let chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
                      (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
        let bot = format!("{chrome} Googlebot/2.1");
        let long = format!("{chrome} {}", "x".repeat(REMEMBERED_LEN));
        // More distinct strings than are remembered, so the memory fills
        // and starts again, then the first ones once more.
        let many: Vec<String> = (0..REMEMBERED * 2 + 7)
            .map(|i| {
                format!(
                    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_{i} like Mac OS X) Mobile Safari/604.1"
                )
            })
            .collect();
        for _ in 0..2 {
            for ua in [
                chrome,
                bot.as_str(),
                long.as_str(),
                "",
                "+(",
                "Mozilla/5.0+(iPhone;+CPU",
            ]
            .into_iter()
            .chain(many.iter().map(String::as_str))
            {
                assert_eq!(parse(ua), parse_anew(ua), "{ua}");
                assert_eq!(parse(ua), parse_anew(ua), "{ua}, remembered");
            }
        }
        // One character apart: each its own answer.
        assert_eq!(parse(chrome).device, DeviceClass::Desktop);
        assert_eq!(parse(&bot).device, DeviceClass::Bot);
        assert_eq!(parse(chrome).device, DeviceClass::Desktop);
        assert!(PARSED.with(|p| p.borrow().len()) <= REMEMBERED);
        assert!(PARSED.with(|p| !p.borrow().contains_key(long.as_str())));
    }

    fn check(ua: &str, browser: &str, os: &str, device: DeviceClass) {
        let got = parse(ua);
        assert_eq!(
            (got.browser.as_str(), got.os.as_str(), got.device),
            (browser, os, device),
            "{ua}"
        );
    }

    #[test]
    fn other_browsers_are_other_not_the_family_they_build_on() {
        use DeviceClass::*;
        // From uap-core's suite: each was once given a family it is not.
        for ua in [
            "Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 6.1; Trident/4.0; SLCC2; baidubrowser 1.x)",
            "Mozilla/5.0 (X11; Linux i686 (x86_64); rv:2.0b4) Gecko/20100818 Firefox/4.0b4",
            "Opera/9.80 (Android 3.2; Linux; Opera Tablet/ADR-1106291546; U; en) Presto/2.8.149 Version/11.10",
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; Chromium GOST) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36",
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/147.0.0.0 Safari/537.36 Edg/147.0.0.0 Teams/26106.2110.4675.2592 (50)",
        ] {
            assert_eq!(parse(ua).browser, "Other", "{ua}");
        }
        // Crawlers imitating IE or Firefox, or naming themselves where a
        // platform goes: bots, and not the browser.
        for ua in [
            "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; SV1; .NET CLR 1.1.4322; LYCOSA;+http://lycosa.se)",
            "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.0; scooter; .NET CLR 1.0.3705)",
            "Mozilla/5.0 (Windows; U; Windows NT 6.1; en; rv:1.9.1.3; MySpaceScraper) Gecko/20090824 Firefox/3.5.3 (.NET CLR 3.5.30729)",
            "Mozilla/5.0 (X11; Datanyze; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/65.0.3325.181 Safari/537.36",
        ] {
            let got = parse(ua);
            assert_eq!((got.browser.as_str(), got.device), ("Other", Bot), "{ua}");
        }
        // Released Firefox and Edge stay themselves.
        check("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/70.0.3538.102 Safari/537.36 Edge/18.17763", "Edge 18", "Windows", Desktop);
        check("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) EdgiOS/120.0.2210.60 Version/17.0 Mobile/15E148 Safari/604.1", "Edge 120", "iOS", Mobile);
        check(
            "Mozilla/5.0 (Windows NT 10.0; rv:115.0) Gecko/20100101 Firefox/115.0",
            "Firefox 115",
            "Windows",
            Desktop,
        );
    }

    #[test]
    fn common_browsers() {
        use DeviceClass::*;
        check("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36", "Chrome 120", "Windows", Desktop);
        check("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.61", "Edge 120", "Windows", Desktop);
        check("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15", "Safari 17", "macOS", Desktop);
        check(
            "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
            "Firefox 121",
            "Linux",
            Desktop,
        );
        check("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.43 Mobile Safari/537.36", "Chrome 120", "Android", Mobile);
        check("Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36", "Chrome 119", "Android", Tablet);
        check("Mozilla/5.0 (iPad; CPU OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/120.0.6099.101 Mobile/15E148 Safari/604.1", "Chrome 120", "iPadOS", Tablet);
        check("Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36", "Samsung Internet 23", "Android", Mobile);
        check("Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 OPR/105.0.0.0", "Opera 105", "ChromeOS", Desktop);
    }

    #[test]
    fn bots_and_scripts() {
        use DeviceClass::*;
        check(
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            "Other",
            "Other",
            Bot,
        );
        check("curl/8.4.0", "Other", "Other", Bot);
        check("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36", "Headless Chrome 120", "Linux", Bot);
    }

    #[test]
    fn nonsense_is_other_and_unknown() {
        check("", "Other", "Other", DeviceClass::Unknown);
        check(
            "'); DROP TABLE sessions; --",
            "Other",
            "Other",
            DeviceClass::Unknown,
        );
        check("Chrome/", "Chrome", "Other", DeviceClass::Unknown);
        // Another product named beside Firefox: not Firefox itself.
        check(
            "ünïcödé 🦀 Firefox/9",
            "Other",
            "Other",
            DeviceClass::Unknown,
        );
        check("🦀 Firefox/9", "Firefox 9", "Other", DeviceClass::Unknown);
    }
}
