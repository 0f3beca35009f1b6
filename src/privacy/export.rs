//! Right of access and portability: everything held about a subject, in
//! JSON, NDJSON, CSV (a ZIP of one file per table) or SQLite.
//!
//! The JSON layout is versioned ([`EXPORT_VERSION`]) and documented in
//! `docs/EXPORT.md`.

use std::collections::BTreeMap;

use rusqlite::types::Value as Sql;
use rusqlite::Connection;
use serde::Serialize;
use serde_json::{json, Value};

use super::subject::{self, Scope, Table, TABLES};
use super::{zip, Privacy, PrivacyError};
use crate::error::Result;
use crate::kernel::ids::hex;
use crate::store::audit;

/// The version of the export layout. It changes only when a field changes
/// meaning or goes away; new tables and fields may appear within a version.
pub const EXPORT_VERSION: u32 = 1;

/// How long an export waits for other engines' rows by default, ms.
pub const DEFAULT_GATHER_MS: u32 = 5_000;

/// The name exports carry in their `format` field.
const FORMAT_NAME: &str = "usertrail.export";

/// An export format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    /// One JSON document.
    Json,
    /// A header line, then one line per row: `{"table": ..., "row": {...}}`.
    Ndjson,
    /// A ZIP of `manifest.json` and one CSV file per table.
    Csv,
    /// A standalone SQLite database with one table per table.
    Sqlite,
}

impl ExportFormat {
    /// Reads `json`, `ndjson`, `csv` or `sqlite`.
    pub fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "json" => Self::Json,
            "ndjson" => Self::Ndjson,
            "csv" => Self::Csv,
            "sqlite" => Self::Sqlite,
            _ => {
                return Err(PrivacyError::UnsupportedFormat {
                    format: s.chars().take(32).collect(),
                }
                .into())
            }
        })
    }

    /// The MIME type of the bytes.
    pub fn mime_type(self) -> &'static str {
        match self {
            Self::Json => "application/json",
            Self::Ndjson => "application/x-ndjson",
            Self::Csv => "application/zip",
            Self::Sqlite => "application/vnd.sqlite3",
        }
    }

    fn extension(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Ndjson => "ndjson",
            Self::Csv => "zip",
            Self::Sqlite => "sqlite",
        }
    }
}

/// An export, ready to hand to the subject.
#[derive(Debug, Clone)]
pub struct Export {
    /// Its format.
    pub format: ExportFormat,
    /// A file name to offer, such as `usertrail-export-1700000000000.json`.
    pub file_name: String,
    /// Its MIME type.
    pub mime_type: &'static str,
    /// The bytes.
    pub bytes: Vec<u8>,
    /// Rows exported per table.
    pub counts: BTreeMap<String, u64>,
}

/// How far an export got, reported after each table and every 5,000 rows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportProgress {
    /// The table being read.
    pub table: &'static str,
    /// Tables finished.
    pub tables_done: usize,
    /// Tables in all.
    pub tables_total: usize,
    /// Rows read so far, over all tables.
    pub rows: u64,
}

/// One table's rows.
struct Dump {
    table: &'static Table,
    columns: Vec<String>,
    rows: Vec<Vec<Sql>>,
}

fn dump(
    conn: &Connection,
    scope: &Scope,
    progress: &mut dyn FnMut(&ExportProgress),
) -> Result<Vec<Dump>> {
    let mut out = Vec::with_capacity(TABLES.len());
    let mut total = 0u64;
    for (i, table) in TABLES.iter().enumerate() {
        let sql = format!(
            "SELECT {} FROM {} WHERE {} ORDER BY {}",
            table.columns, table.name, table.filter, table.order
        );
        let mut stmt = conn.prepare_cached(&sql)?;
        let columns: Vec<String> = stmt.column_names().map(str::to_owned).collect();
        let n = columns.len();
        let mut rows = Vec::new();
        let mut q = if table.filter.contains("?2") {
            stmt.query(rusqlite::params![scope.ids_json(), scope.hashes_json()])?
        } else {
            stmt.query([scope.ids_json()])?
        };
        while let Some(r) = q.next()? {
            let row = (0..n)
                .map(|c| r.get::<_, Sql>(c))
                .collect::<rusqlite::Result<Vec<_>>>()?;
            rows.push(row);
            total += 1;
            if total.is_multiple_of(5000) {
                progress(&ExportProgress {
                    table: table.name,
                    tables_done: i,
                    tables_total: TABLES.len(),
                    rows: total,
                });
            }
        }
        out.push(Dump {
            table,
            columns,
            rows,
        });
        progress(&ExportProgress {
            table: table.name,
            tables_done: i + 1,
            tables_total: TABLES.len(),
            rows: total,
        });
    }
    Ok(out)
}

/// Every table's rows about `scope`, by table name: what another engine
/// sharing the store sends back to an export request.
pub(super) fn rows(conn: &Connection, scope: &Scope) -> Result<Vec<(String, Vec<Vec<Sql>>)>> {
    Ok(dump(conn, scope, &mut |_| {})?
        .into_iter()
        .map(|d| (d.table.name.to_owned(), d.rows))
        .collect())
}

/// Adds other places' rows to `dumps`: a row already there (the same event
/// id for events, the same values otherwise) is not added twice, so an
/// event held by an app's engine and by the partition it was shipped to
/// appears once.
fn merge_answers(dumps: &mut [Dump], answers: &[super::rights::Answer]) {
    for d in dumps.iter_mut() {
        let key = |r: &Vec<Sql>, events: bool| -> String {
            if events {
                format!("{:?}", r.first())
            } else {
                format!("{r:?}")
            }
        };
        let events = d.table.name == "events";
        let mut seen: std::collections::HashSet<String> =
            d.rows.iter().map(|r| key(r, events)).collect();
        for a in answers {
            for (name, rows) in a.tables.iter().flatten() {
                if name != d.table.name {
                    continue;
                }
                for r in rows {
                    if r.len() == d.columns.len() && seen.insert(key(r, events)) {
                        d.rows.push(r.clone());
                    }
                }
            }
        }
    }
}

impl Dump {
    /// Each column's `"camelCaseKey":` prefix, and whether it holds JSON.
    fn keys(&self) -> Vec<(String, bool)> {
        self.columns
            .iter()
            .map(|c| {
                let key = Value::String(camel(c)).to_string();
                (format!("{key}:"), self.table.json.contains(&c.as_str()))
            })
            .collect()
    }
}

/// Writes one row as a JSON object, written straight from the column
/// values: camelCase keys, and JSON columns embedded as JSON.
fn write_row(out: &mut Vec<u8>, keys: &[(String, bool)], row: &[Sql]) {
    out.push(b'{');
    for (i, ((key, is_json), v)) in keys.iter().zip(row).enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(key.as_bytes());
        // Writing to a Vec cannot fail.
        let _ = match v {
            Sql::Null => {
                out.extend_from_slice(b"null");
                Ok(())
            }
            Sql::Integer(n) => serde_json::to_writer(&mut *out, n),
            Sql::Real(f) => serde_json::to_writer(&mut *out, f),
            Sql::Text(t)
                if *is_json && serde_json::from_str::<serde::de::IgnoredAny>(t).is_ok() =>
            {
                out.extend_from_slice(t.as_bytes());
                Ok(())
            }
            Sql::Text(t) => serde_json::to_writer(&mut *out, t),
            Sql::Blob(b) => serde_json::to_writer(&mut *out, &hex(b)),
        };
    }
    out.push(b'}');
}

/// `snake_case` to `camelCase`, for JSON keys.
fn camel(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut up = false;
    for c in s.chars() {
        if c == '_' {
            up = true;
        } else if up {
            out.extend(c.to_uppercase());
            up = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// One CSV cell. Text that a spreadsheet would run as a formula (starting
/// with `=`, `+`, `-`, `@`, a tab or a carriage return) is neutralised with a
/// leading `'`, as OWASP advises; numbers are written as numbers.
fn csv_field(out: &mut String, v: &Sql) {
    let text = match v {
        Sql::Null => return,
        Sql::Integer(i) => i.to_string(),
        Sql::Real(f) => f.to_string(),
        Sql::Text(t) if t.starts_with(['=', '+', '-', '@', '\t', '\r']) => format!("'{t}"),
        Sql::Text(t) => t.clone(),
        Sql::Blob(b) => hex(b),
    };
    if text.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&text.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(&text);
    }
}

impl Privacy<'_> {
    /// Everything held about `subject` and the anonymous ids linked to it,
    /// in `format`: session metadata (never token hashes), events,
    /// preferences and their history, consents and the ledger, experiment
    /// assignments, rollups, outbox and quarantine rows, and audit entries
    /// about them. `progress` is called after each table and every 5,000
    /// rows. The export itself is audited.
    pub async fn export(
        &self,
        subject: &str,
        format: ExportFormat,
        actor: Option<&str>,
        progress: &mut dyn FnMut(&ExportProgress),
    ) -> Result<Export> {
        self.export_from(subject, format, actor, DEFAULT_GATHER_MS, progress)
            .await
    }

    /// [`Privacy::export`], waiting at most `timeout_ms` for the other
    /// engines sharing the store to send their rows (with a shared store).
    /// The file's `places` say which engines' rows it holds and which did
    /// not answer (not running, or too slow).
    pub async fn export_from(
        &self,
        subject: &str,
        format: ExportFormat,
        actor: Option<&str>,
        timeout_ms: u32,
        progress: &mut dyn FnMut(&ExportProgress),
    ) -> Result<Export> {
        subject::check("subject", subject)?;
        if timeout_ms > 600_000 {
            return Err(crate::error::Error::invalid(
                "timeoutMs",
                "must be at most 600000",
            ));
        }
        let actor = actor.unwrap_or("host");
        crate::consent::check_label("actor", actor)?;
        let now = self.clock.now_ms();
        // One read transaction: every table from the same snapshot.
        let (scope, mut dumps) = self.in_tx(|tx| {
            let scope = Scope::resolve(tx, subject)?;
            let dumps = dump(tx, &scope, progress)?;
            Ok((scope, dumps))
        })?;
        // Then what a shared store keeps (sessions, preferences, consent),
        // and what every other engine sharing it holds.
        let ids = self.shared_ids(subject, &scope.ids).await?;
        let shared = self.shared_rows(subject, &scope.ids).await?;
        let mut places = Vec::new();
        if self.shared.is_some() {
            let _ = self.follow().await?;
            let hashes = self.store_hashes(&ids).await?;
            let answers = self.gather(subject, hashes, timeout_ms).await?;
            merge_answers(&mut dumps, &answers);
            places.push(
                json!({ "place": self.place_id()?, "label": "this engine", "included": true }),
            );
            for a in &answers {
                places.push(json!({
                    "place": a.place.id, "label": a.place.label,
                    "durable": a.place.durable, "included": a.tables.is_some(),
                }));
            }
        }
        let total = TABLES.len() + shared.len();
        let mut rows = dumps.iter().map(|d| d.rows.len() as u64).sum::<u64>();
        for (i, (table, r)) in shared.into_iter().enumerate() {
            rows += r.len() as u64;
            progress(&ExportProgress {
                table: table.name,
                tables_done: TABLES.len() + i + 1,
                tables_total: total,
                rows,
            });
            dumps.push(Dump {
                table,
                columns: table
                    .columns
                    .split(',')
                    .map(|c| c.trim().to_owned())
                    .collect(),
                rows: r,
            });
        }
        let counts: BTreeMap<String, u64> = dumps
            .iter()
            .map(|d| (d.table.name.to_owned(), d.rows.len() as u64))
            .collect();
        let mut header = json!({
            "format": FORMAT_NAME, "version": EXPORT_VERSION, "generatedAt": now,
            "subject": subject, "ids": ids, "counts": counts,
        });
        if !places.is_empty() {
            header["places"] = Value::Array(places);
        }
        let bytes = match format {
            ExportFormat::Json => {
                // The header's fields, then "tables", one row per line.
                let mut out = header.to_string().into_bytes();
                out.pop();
                out.extend_from_slice(b",\"tables\":{");
                for (i, d) in dumps.iter().enumerate() {
                    let keys = d.keys();
                    out.extend_from_slice(if i == 0 { b"\n" } else { b",\n" });
                    out.extend(Value::String(camel(d.table.name)).to_string().as_bytes());
                    out.extend_from_slice(b":[");
                    for (j, r) in d.rows.iter().enumerate() {
                        out.extend_from_slice(if j == 0 { b"\n" } else { b",\n" });
                        write_row(&mut out, &keys, r);
                    }
                    out.push(b']');
                }
                out.extend_from_slice(b"\n}}\n");
                out
            }
            ExportFormat::Ndjson => {
                let mut out = header.to_string().into_bytes();
                out.push(b'\n');
                for d in &dumps {
                    let keys = d.keys();
                    let prefix = format!("{{\"table\":\"{}\",\"row\":", camel(d.table.name));
                    for r in &d.rows {
                        out.extend_from_slice(prefix.as_bytes());
                        write_row(&mut out, &keys, r);
                        out.extend_from_slice(b"}\n");
                    }
                }
                out
            }
            ExportFormat::Csv => {
                let mut files = vec![(
                    "manifest.json".to_owned(),
                    serde_json::to_vec_pretty(&header).unwrap_or_default(),
                )];
                for d in &dumps {
                    let mut text = d.columns.join(",");
                    text.push_str("\r\n");
                    for r in &d.rows {
                        for (i, v) in r.iter().enumerate() {
                            if i > 0 {
                                text.push(',');
                            }
                            csv_field(&mut text, v);
                        }
                        text.push_str("\r\n");
                    }
                    files.push((format!("{}.csv", d.table.name), text.into_bytes()));
                }
                zip::write(&files)
            }
            ExportFormat::Sqlite => sqlite(&header, &dumps)?,
        };
        self.in_tx(|tx| {
            audit::Log::new(tx, self.config.chain_key()).append(
                now,
                actor,
                "export",
                Some(subject),
                true,
                &json!({ "format": format, "counts": counts, "bytes": bytes.len() }),
            )
        })?;
        Ok(Export {
            format,
            file_name: format!("usertrail-export-{now}.{}", format.extension()),
            mime_type: format.mime_type(),
            bytes,
            counts,
        })
    }
}

/// A standalone database: `export_info`, then one table per dump.
fn sqlite(header: &Value, dumps: &[Dump]) -> Result<Vec<u8>> {
    let mut conn = crate::store::bytes::open_memdb()?;
    {
        let tx = conn.transaction()?;
        tx.execute_batch("CREATE TABLE export_info (key TEXT PRIMARY KEY, value TEXT)")?;
        if let Value::Object(m) = header {
            for (k, v) in m {
                let v = v
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| v.to_string());
                tx.execute("INSERT INTO export_info VALUES (?1, ?2)", (k, v))?;
            }
        }
        for d in dumps {
            tx.execute_batch(&format!(
                "CREATE TABLE {} ({})",
                d.table.name,
                d.columns.join(", ")
            ))?;
            let marks = vec!["?"; d.columns.len()].join(", ");
            let mut insert =
                tx.prepare(&format!("INSERT INTO {} VALUES ({marks})", d.table.name))?;
            for r in &d.rows {
                insert.execute(rusqlite::params_from_iter(r.iter()))?;
            }
        }
        tx.commit()?;
    }
    crate::store::bytes::export(&mut conn)
}

#[cfg(test)]
mod tests {
    #[cfg(all(target_family = "wasm", target_os = "unknown"))]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn rows_are_valid_json_whatever_the_values() {
        let table = subject::table("events");
        let d = Dump {
            table,
            columns: vec![
                "user_id".into(),
                "properties".into(),
                "sample_rate".into(),
                "ts".into(),
                "dimensions".into(),
            ],
            rows: vec![],
        };
        let mut out = Vec::new();
        let row = [
            Sql::Text("a \"quoted\"\n\u{2028} id".into()),
            Sql::Text("{\"plan\":\"pro\",\"n\":[1,2]}".into()),
            Sql::Real(f64::NAN),
            Sql::Integer(-5),
            Sql::Text("{not json".into()),
        ];
        write_row(&mut out, &d.keys(), &row);
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["userId"], "a \"quoted\"\n\u{2028} id");
        assert_eq!(v["properties"]["n"][1], 2, "JSON columns are embedded");
        assert_eq!(v["sampleRate"], Value::Null);
        assert_eq!(v["ts"], -5);
        assert_eq!(v["dimensions"], "{not json", "broken JSON stays a string");
    }
}
