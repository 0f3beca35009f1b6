//! The core's layers point one way. This reads the layer table in
//! `docs/ARCHITECTURE.md` and every `crate::` path under `src/`, and fails
//! when a module imports one in its own layer or a layer above it. The table
//! is the one source of truth: the doc cannot draw other layers than the
//! code has.
//!
//! Native only: it reads the source tree, which a wasm test cannot.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Module name → layer number, from the "## Layers" table of the doc.
fn layer_table() -> BTreeMap<String, u32> {
    let doc = std::fs::read_to_string(root().join("docs/ARCHITECTURE.md")).unwrap();
    let section = doc
        .split("\n## Layers")
        .nth(1)
        .expect("docs/ARCHITECTURE.md has a '## Layers' section");
    let mut table = BTreeMap::new();
    for line in section.lines().take_while(|l| !l.starts_with("## ")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 4 {
            continue;
        }
        let Ok(layer) = cells[1].parse::<u32>() else {
            continue;
        };
        for module in cells[2].split(',') {
            let module = module.trim().trim_matches('`').trim_end_matches('/');
            let module = module.trim_start_matches("src/").trim_end_matches(".rs");
            assert!(!module.is_empty(), "an empty module name in: {line}");
            assert!(
                table.insert(module.to_owned(), layer).is_none(),
                "{module} appears twice in the layer table"
            );
        }
    }
    assert!(
        table.len() >= 10,
        "the layer table looks cut short: {table:?}"
    );
    table
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module a file under `src/` belongs to: its first folder, or its
/// name for a file at the top (`lib.rs` is the crate root).
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_owned()
}

/// The code of a Rust file without its comments (doc links are not imports).
fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_block = false;
    for line in text.lines() {
        let mut rest = line;
        let mut kept = String::new();
        loop {
            if in_block {
                match rest.find("*/") {
                    Some(i) => {
                        rest = &rest[i + 2..];
                        in_block = false;
                    }
                    None => break,
                }
            } else if let Some(i) = rest.find("/*") {
                let before = &rest[..i];
                if let Some(j) = before.find("//") {
                    kept.push_str(&before[..j]);
                    break;
                }
                kept.push_str(before);
                rest = &rest[i + 2..];
                in_block = true;
            } else {
                kept.push_str(rest.split("//").next().unwrap_or(""));
                break;
            }
        }
        out.push_str(&kept);
        out.push('\n');
    }
    out
}

/// Every module a file's code names through `crate::`, with the line it is
/// on. `crate::{a, b::c}` names `a` and `b`.
fn imports(code: &str) -> Vec<(String, usize)> {
    let mut found = Vec::new();
    for (n, line) in code.lines().enumerate() {
        let mut rest = line;
        while let Some(i) = rest.find("crate::") {
            let preceded = rest[..i]
                .chars()
                .last()
                .is_some_and(|c| c.is_alphanumeric() || c == '_');
            rest = &rest[i + "crate::".len()..];
            if preceded {
                continue; // `usertrail_crate::` or the like
            }
            if let Some(group) = rest.strip_prefix('{') {
                let inner = group.split('}').next().unwrap_or("");
                for item in inner.split(',') {
                    let name: String = item
                        .trim()
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    if !name.is_empty() {
                        found.push((name, n + 1));
                    }
                }
            } else {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    found.push((name, n + 1));
                }
            }
        }
    }
    found
}

/// Names the crate root re-exports, and the module they come from.
fn resolve(name: &str) -> &str {
    match name {
        "Error" | "Result" => "error",
        "Storage" => "store",
        "clock" | "block_on" => "kernel",
        "UserTrail" | "OpenOptions" | "VERSION" => "engine",
        other => other,
    }
}

#[test]
#[cfg_attr(
    all(target_family = "wasm", target_os = "unknown"),
    ignore = "reads the source tree"
)]
fn imports_point_down_the_layers() {
    let table = layer_table();
    let src = root().join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut problems = Vec::new();
    for file in &files {
        let from = module_of(&src, file);
        let Some(&from_layer) = table.get(&from) else {
            problems.push(format!(
                "{}: module `{from}` is not in the layer table of docs/ARCHITECTURE.md",
                file.display()
            ));
            continue;
        };
        let code = strip_comments(&std::fs::read_to_string(file).unwrap());
        for (name, line) in imports(&code) {
            let to = resolve(&name);
            if to == from {
                continue;
            }
            match table.get(to) {
                None => problems.push(format!(
                    "{}:{line}: `crate::{name}` is in no layer",
                    file.display()
                )),
                Some(&to_layer) if to_layer >= from_layer => problems.push(format!(
                    "{}:{line}: `{from}` (layer {from_layer}) imports `crate::{name}` (layer {to_layer})",
                    file.strip_prefix(root()).unwrap().display()
                )),
                Some(_) => {}
            }
        }
    }
    assert!(
        problems.is_empty(),
        "imports that point up or across the layers:\n{}",
        problems.join("\n")
    );
}

#[test]
#[cfg_attr(
    all(target_family = "wasm", target_os = "unknown"),
    ignore = "reads the source tree"
)]
fn the_reader_finds_what_it_must() {
    let code = strip_comments(
        "use crate::kernel::ids;\n\
         use crate::{error::Result, store};\n\
         // crate::privacy in a comment\n\
         /* crate::engine in a block */ let x = crate::tracking::f();\n\
         /// [`crate::analytics`] in a doc link\n",
    );
    let names: Vec<String> = imports(&code).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["kernel", "error", "store", "tracking"]);
    assert_eq!(resolve("Result"), "error");
    let src = Path::new("/x/src");
    assert_eq!(
        module_of(src, Path::new("/x/src/session/sqlite.rs")),
        "session"
    );
    assert_eq!(module_of(src, Path::new("/x/src/engine.rs")), "engine");
}
