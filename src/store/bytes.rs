//! SQLite database images: checking, importing and exporting them.

use rusqlite::{Connection, MAIN_DB};

use super::StoreError;
use crate::error::Result;

/// Every SQLite database starts with these 16 bytes.
const MAGIC: &[u8; 16] = b"SQLite format 3\0";
/// The smallest database: one page of the smallest size.
const MIN_LEN: usize = 512;
/// Header offsets of the file-format read and write versions: 1 is a rollback
/// journal, 2 is WAL.
const FORMAT_VERSIONS: std::ops::Range<usize> = 18..20;

/// Rejects bytes that cannot be an SQLite database, before SQLite sees them.
pub fn check_header(bytes: &[u8]) -> Result<()> {
    if bytes.len() < MIN_LEN || !bytes.starts_with(MAGIC) {
        return Err(StoreError::NotADatabase.into());
    }
    // The page size is big-endian at offset 16; 1 stands for 65536.
    let page_size = match u16::from_be_bytes([bytes[16], bytes[17]]) {
        1 => 65_536,
        n => usize::from(n),
    };
    if !page_size.is_power_of_two() || !(512..=65_536).contains(&page_size) {
        return Err(StoreError::NotADatabase.into());
    }
    if !bytes.len().is_multiple_of(page_size) {
        return Err(StoreError::Corrupt {
            detail: format!(
                "{} bytes is not a whole number of {page_size}-byte pages",
                bytes.len()
            ),
        }
        .into());
    }
    Ok(())
}

/// Marks an image as using a rollback journal. An image of a WAL database
/// says "WAL" in its header, which an in-memory database cannot honour; the
/// pages themselves are already complete.
fn to_rollback_format(bytes: &mut [u8]) {
    for b in &mut bytes[FORMAT_VERSIONS] {
        if *b == 2 {
            *b = 1;
        }
    }
}

/// A new, private in-memory database in SQLite's `memdb` VFS: the VFS that
/// `deserialize` uses. Unlike `:memory:`, whose commits cost time in
/// proportion to the database's size, its commits cost the pages they touch.
pub fn open_memdb() -> Result<Connection> {
    use rusqlite::OpenFlags;
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_URI
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    // No leading '/': the database is private to this connection.
    Ok(Connection::open_with_flags(
        "file:usertrail?vfs=memdb",
        flags,
    )?)
}

/// Opens an in-memory connection on a copy of `bytes`, after checking them.
pub fn import(mut bytes: Vec<u8>) -> Result<Connection> {
    check_header(&bytes)?;
    to_rollback_format(&mut bytes);
    let mut conn = Connection::open_in_memory()?;
    let len = bytes.len();
    conn.deserialize_read_exact(MAIN_DB, bytes.as_slice(), len, false)?;
    quick_check(&conn)?;
    Ok(conn)
}

/// Runs `PRAGMA quick_check`, turning any finding into [`StoreError::Corrupt`].
pub fn quick_check(conn: &Connection) -> Result<()> {
    let mut stmt = conn.prepare("PRAGMA quick_check")?;
    let findings: Vec<String> = stmt
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    if findings.len() == 1 && findings[0] == "ok" {
        Ok(())
    } else {
        Err(StoreError::Corrupt {
            detail: findings.join("; "),
        }
        .into())
    }
}

/// The whole database as an SQLite image that any sqlite3 tool can open.
pub fn export(conn: &mut Connection) -> Result<Vec<u8>> {
    let data = conn.serialize(MAIN_DB)?;
    // The copy may not fit beside the database and its image (wasm has 4
    // GiB): `STORAGE_FULL`, where an infallible copy would abort the module.
    let mut bytes = Vec::new();
    bytes
        .try_reserve_exact(data.len())
        .map_err(|_| StoreError::StorageFull)?;
    bytes.extend_from_slice(&data);
    drop(data);
    to_rollback_format(&mut bytes);
    super::scrub::image(&mut bytes);
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    #[cfg(all(target_family = "wasm", target_os = "unknown"))]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use crate::error::ErrorCode;

    fn code(r: Result<()>) -> &'static str {
        r.map(|_| "OK").unwrap_or_else(|e| e.code())
    }

    #[test]
    fn header_check_rejects_what_is_not_sqlite() {
        assert_eq!(code(check_header(b"")), "NOT_A_DATABASE");
        assert_eq!(code(check_header(&[0u8; 4096])), "NOT_A_DATABASE");
        let mut page = vec![0u8; 4096];
        page[..16].copy_from_slice(MAGIC);
        page[16..18].copy_from_slice(&3000u16.to_be_bytes());
        assert_eq!(code(check_header(&page)), "NOT_A_DATABASE");
        page[16..18].copy_from_slice(&4096u16.to_be_bytes());
        assert_eq!(code(check_header(&page)), "OK");
        page.push(0);
        assert_eq!(code(check_header(&page)), "CORRUPT");
    }

    #[test]
    fn export_reads_as_rollback_format() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES (1);")
            .unwrap();
        let mut bytes = export(&mut conn).unwrap();
        bytes[18] = 2;
        bytes[19] = 2;
        let back = import(bytes).unwrap();
        let x: i64 = back.query_row("SELECT x FROM t", [], |r| r.get(0)).unwrap();
        assert_eq!(x, 1);
    }
}
