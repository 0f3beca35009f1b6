//! `docs/ERRORS.md` lists exactly the codes `ErrorCode::code()` can return,
//! and `usertrail::error::CODES` is that list. Native and wasm.

#[cfg(all(target_family = "wasm", target_os = "unknown"))]
use wasm_bindgen_test::wasm_bindgen_test as test;

use std::collections::BTreeSet;

const DOC: &str = include_str!("../docs/ERRORS.md");

/// Every file of the error leaf: the `code()` functions live in these.
const SOURCES: &[(&str, &str)] = &[
    ("mod.rs", include_str!("../src/error/mod.rs")),
    ("store.rs", include_str!("../src/error/store.rs")),
    ("session.rs", include_str!("../src/error/session.rs")),
    ("tracking.rs", include_str!("../src/error/tracking.rs")),
    ("prefs.rs", include_str!("../src/error/prefs.rs")),
    ("experiment.rs", include_str!("../src/error/experiment.rs")),
    ("privacy.rs", include_str!("../src/error/privacy.rs")),
];

/// The heading of the doc's second table: codes only the package's JS
/// parts produce.
const PACKAGE: &str = "## Codes from the package's JavaScript parts";

/// The codes in a table of the doc, in order: the engine's (before
/// [`PACKAGE`]) or the package's (after it).
fn table(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .map(str::to_owned)
        .collect()
}

/// The engine's codes in the doc's first table, in order.
fn documented() -> Vec<String> {
    table(DOC.split(PACKAGE).next().unwrap_or(DOC))
}

/// The codes of the TypeScript `ErrorCode` union the package ships.
fn typescript() -> BTreeSet<String> {
    let types = include_str!("../src/wasm/types/core.d.ts");
    let union = types
        .split("export type ErrorCode =")
        .nth(1)
        .and_then(|t| t.split(';').next())
        .expect("core.d.ts declares ErrorCode");
    union
        .split('|')
        .map(|c| c.trim().trim_matches('\'').to_owned())
        .filter(|c| !c.is_empty())
        .collect()
}

/// The string literals `code()` arms return: `=> "CODE"`.
fn returned() -> BTreeSet<String> {
    let mut codes = BTreeSet::new();
    for (_, text) in SOURCES {
        for part in text.split("=> \"").skip(1) {
            let code: String = part
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || *c == '_')
                .collect();
            if !code.is_empty() && part[code.len()..].starts_with('"') {
                codes.insert(code);
            }
        }
    }
    codes
}

#[test]
fn the_doc_lists_exactly_the_codes() {
    let doc = documented();
    let listed: Vec<String> = usertrail::error::CODES
        .iter()
        .map(|c| c.to_string())
        .collect();
    assert_eq!(doc, listed, "docs/ERRORS.md and error::CODES differ");
    let doc: BTreeSet<String> = doc.into_iter().collect();
    assert_eq!(doc, returned(), "docs/ERRORS.md and the code() arms differ");
}

/// One list of codes: the TypeScript union the package ships is the
/// engine's codes and the package's own, as docs/ERRORS.md lists them.
#[test]
fn the_typescript_union_is_every_documented_code() {
    let package = table(DOC.split(PACKAGE).nth(1).expect("the doc's second table"));
    assert!(!package.is_empty());
    let mut all: BTreeSet<String> = documented().into_iter().collect();
    for code in &package {
        assert!(all.insert(code.clone()), "{code} is in both tables");
    }
    assert_eq!(
        typescript(),
        all,
        "the ErrorCode union and docs/ERRORS.md differ"
    );
}

#[test]
#[cfg_attr(
    all(target_family = "wasm", target_os = "unknown"),
    ignore = "reads the source tree"
)]
fn every_error_file_is_read() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/error");
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut read: Vec<String> = SOURCES.iter().map(|(n, _)| n.to_string()).collect();
    read.sort();
    assert_eq!(files, read, "add the new file to SOURCES");
}

/// Words in the package's JS that look like codes and are not: HTTP
/// methods, Redis commands, errno names, signals, a header value and the
/// labels the dashboard and the command line print.
const NOT_CODES: &[&str] = &[
    "GET",
    "HEAD",
    "POST",
    "CONNECT",
    "TRACE",
    "TRACK",
    "INFO",
    "BGSAVE",
    "BGREWRITEAOF",
    "WAIT",
    "EXISTS",
    "EEXIST",
    "ENOENT",
    "EFTYPE",
    "EPERM",
    // File-system error names pkg/node-fs.js's lock checks.
    "ENOTEMPTY",
    "ENOTDIR",
    "EISDIR",
    "EACCES",
    "ELOOP",
    "ENXIO",
    "EMLINK",
    "ESRCH",
    // The code of the error pkg/node-fs.js's guard throws, in the medium's
    // message of a STORAGE_ERROR when a file's lock was taken over.
    "ELOCKLOST",
    "DAU",
    "MAU",
    "DENY",
    "BROKEN",
    "SIGTERM",
    "SIGINT",
    "CSV",
];

/// Every code the package's hand-written JS can throw or answer (its
/// quoted upper-case words) is in docs/ERRORS.md, so the union covers it.
#[test]
#[cfg_attr(
    all(target_family = "wasm", target_os = "unknown"),
    ignore = "reads the source tree"
)]
fn every_code_the_package_uses_is_documented() {
    let mut known: BTreeSet<String> = documented().into_iter().collect();
    known.extend(table(DOC.split(PACKAGE).nth(1).unwrap_or("")));
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("pkg");
    let mut seen = 0;
    // The package's hand-written JS, its folders (cli/, dashboard/) included.
    let mut files = Vec::new();
    let mut dirs = vec![root];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() && path.file_name().is_some_and(|n| n != "gen") {
                dirs.push(path);
            } else if path.extension().and_then(|e| e.to_str()) == Some("js") {
                files.push(path);
            }
        }
    }
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        // Between two quotes with nothing else: `'CODE'`.
        let pieces: Vec<&str> = text.split('\'').collect();
        for part in &pieces[1..pieces.len().saturating_sub(1)] {
            let word = part.len() >= 3
                && part.starts_with(|c: char| c.is_ascii_uppercase())
                && part.chars().all(|c| c.is_ascii_uppercase() || c == '_');
            if word && !NOT_CODES.contains(part) {
                seen += 1;
                assert!(
                    known.contains(*part),
                    "{} uses {part}, which docs/ERRORS.md does not list",
                    path.display()
                );
            }
        }
    }
    assert!(seen > 20, "the scan found the codes ({seen})");
}
