//! Zeroing the unused space of SQLite's b-tree pages, so that a deleted row
//! leaves no bytes behind without rewriting the whole database.
//!
//! `secure_delete` (always on) makes SQLite overwrite a deleted cell, a
//! freed block and a freed page with zeros. What it does not clear is the
//! *unallocated* gap of a page, between the cell-pointer array and the cell
//! content area: when SQLite rebuilds a page while balancing a b-tree it
//! packs the cells at the end and leaves the old bytes in front of them, so
//! copies of cells that moved to a sibling page stay there, and survive the
//! later deletion of the cell itself. [`page`] zeroes that gap (and the body
//! of every free block), leaving everything SQLite reads unchanged; the
//! storage shim (`store::shim`) applies it to every page written to a
//! database file, and export applies it to the image it returns.
//! [`after_delete`] is what a deletion that must leave no bytes (erasure)
//! does after its commit: rewrite the database only if it holds pages from
//! before scrubbing, and empty the log.
//!
//! Format reference: <https://www.sqlite.org/fileformat2.html#b_tree_pages>.

use rusqlite::{Connection, OptionalExtension};

use crate::error::Result;

/// Pages at or beyond this number may hold a 4-byte page number whose first
/// byte looks like a b-tree page type (overflow and freelist pages start
/// with one). Below it, the first byte of such a page is 0 or 1, so a page
/// is recognised as a b-tree page by its first byte alone. A database that
/// reaches it (128 GiB at 4 KiB pages) is no longer scrubbed page by page,
/// and erasure rewrites it instead.
pub const MAX_PAGES: u64 = 1 << 25;

/// Whether a database whose first bytes are `header` (page 1, as SQLite
/// writes it first in every commit and checkpoint, before any page it
/// allocated) has [`MAX_PAGES`] or more pages by the size it records, so
/// that its pages can no longer be told apart by their first byte. `None`
/// when `header` is too short to say.
pub fn too_big(header: &[u8]) -> Option<bool> {
    let size = header.get(28..32)?;
    Some(u64::from(u32::from_be_bytes(size.try_into().ok()?)) >= MAX_PAGES)
}

/// Reads a big-endian u16 at `at`.
fn u16_at(p: &[u8], at: usize) -> usize {
    usize::from(u16::from_be_bytes([p[at], p[at + 1]]))
}

/// Zeroes the unused space of `page` if it is a b-tree page: the gap
/// between the cell-pointer array and the cell content, and the bodies of
/// the free blocks inside the content area. `first` is true for page 1,
/// whose b-tree header follows the 100-byte database header. A page that is
/// not a b-tree page (overflow, freelist, or one this does not understand)
/// is left as it is. Returns whether anything was examined as a b-tree page.
pub fn page(page: &mut [u8], first: bool) -> bool {
    let len = page.len();
    let h = if first { 100 } else { 0 };
    if len < 512 || h + 12 > len {
        return false;
    }
    let header = match page[h] {
        2 | 5 => 12,
        10 | 13 => 8,
        _ => return false,
    };
    let cells = u16_at(page, h + 3);
    let content = match u16_at(page, h + 5) {
        0 => 65_536,
        n => n,
    };
    let pointers_end = h + header + 2 * cells;
    if pointers_end > content || content > len {
        return false;
    }
    page[pointers_end..content].fill(0);
    // Free blocks: a chain in increasing order inside the content area;
    // each starts with the next block's offset and its own size.
    let mut at = u16_at(page, h + 1);
    let mut previous = 0;
    while at != 0 {
        if at < content || at <= previous || at + 4 > len {
            break;
        }
        let size = u16_at(page, at + 2);
        if size < 4 || at + size > len {
            break;
        }
        page[at + 4..at + size].fill(0);
        previous = at;
        at = u16_at(page, at);
    }
    true
}

/// Scrubs every page of a whole database image (`bytes` as SQLite writes
/// its file, with the page size in its header). Images that are too big to
/// tell page kinds apart by their first byte are left as they are.
pub fn image(bytes: &mut [u8]) {
    if bytes.len() < 100 {
        return;
    }
    let page_size = match u16_at(bytes, 16) {
        1 => 65_536,
        n => n,
    };
    if page_size < 512 || !bytes.len().is_multiple_of(page_size) {
        return;
    }
    if (bytes.len() / page_size) as u64 >= MAX_PAGES || too_big(bytes) == Some(true) {
        return;
    }
    for (i, p) in bytes.chunks_exact_mut(page_size).enumerate() {
        page(p, i == 0);
    }
}

/// Records that every page of the database is scrubbed (see the migration
/// `0009_scrubbed_pages`): after creating it, or rewriting it whole.
pub fn mark_clean(conn: &Connection) -> Result<()> {
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('pages_scrubbed', '1') \
         ON CONFLICT (key) DO UPDATE SET value = '1'",
        [],
    )?;
    Ok(())
}

thread_local! {
    /// What [`after_delete`] tells a medium (see [`on_erase`]).
    static ERASE_HOOK: std::cell::Cell<Option<fn(&str)>> = const { std::cell::Cell::new(None) };
}

/// Has `hook` called with the database file's path each time a deletion
/// that must leave no bytes runs on it, at once (in the same synchronous
/// step as the deletion's commit). A medium that keeps copies of the
/// file's old pages outside the file (a Durable Object's storage) uses it
/// to mark those copies for overwriting before anything else can happen.
pub fn on_erase(hook: fn(&str)) {
    ERASE_HOOK.with(|h| h.set(Some(hook)));
}

/// Whether deleting rows (with `secure_delete`) leaves no stale bytes of
/// them: the database was created or rewritten since pages are scrubbed,
/// and it is small enough for [`page`] to tell page kinds apart. If not,
/// erasure has to rewrite it.
pub fn is_clean(conn: &Connection) -> Result<bool> {
    let marked: Option<String> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'pages_scrubbed'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    let pages: i64 = conn.pragma_query_value(None, "page_count", |r| r.get(0))?;
    Ok(marked.as_deref() == Some("1") && (pages as u64) < MAX_PAGES)
}

/// After rows were deleted and committed, makes sure they are gone from the
/// files (erasure, withdrawal with erase), returning whether
/// the database was rewritten: with `vacuum: Some(true)`, or by default when
/// its pages are not all scrubbed ([`is_clean`]), a rewrite,
/// after which it is marked clean; then the log, which still holds the pages
/// as they were before the deletion, is emptied: a write-ahead log is
/// checkpointed (through the scrubbing shim) and truncated, a rollback
/// journal truncated.
pub fn after_delete(conn: &Connection, vacuum: Option<bool>) -> Result<bool> {
    if let (Some(path), Some(hook)) = (
        conn.path().filter(|p| !p.is_empty()),
        ERASE_HOOK.with(|h| h.get()),
    ) {
        hook(path);
    }
    let vacuum = match vacuum {
        Some(v) => v,
        None => !is_clean(conn)?,
    };
    if vacuum {
        conn.execute_batch("VACUUM")?;
        mark_clean(conn)?;
    }
    let mode: String = conn.pragma_query_value(None, "journal_mode", |r| r.get(0))?;
    match mode.to_ascii_lowercase().as_str() {
        "wal" => {
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        }
        "delete" | "persist" | "truncate" => {
            // Under the exclusive lock a rollback journal outlives its
            // transaction (SQLite zeroes its header instead of deleting
            // it), and still holds the pages as they were before the
            // erasure. A journal size limit of 0 truncates it at the end of
            // the next transaction that writes: one that changes nothing.
            let limit: i64 = conn.pragma_query_value(None, "journal_size_limit", |r| r.get(0))?;
            conn.pragma_update(None, "journal_size_limit", 0)?;
            let emptied = conn.execute_batch(
                "BEGIN IMMEDIATE; INSERT INTO meta (key, value) VALUES ('journal_emptied', '1'); \
                 DELETE FROM meta WHERE key = 'journal_emptied'; COMMIT;",
            );
            if emptied.is_err() && !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            conn.pragma_update(None, "journal_size_limit", limit)?;
            emptied?;
        }
        _ => {}
    }
    Ok(vacuum)
}

#[cfg(test)]
mod tests {
    #[cfg(all(target_family = "wasm", target_os = "unknown"))]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    /// A leaf table page with two cells at the end, stale bytes in its gap
    /// and one free block.
    fn leaf() -> Vec<u8> {
        let mut p = vec![0xAAu8; 4096];
        p[0] = 13;
        p[1..3].copy_from_slice(&3000u16.to_be_bytes()); // first free block
        p[3..5].copy_from_slice(&2u16.to_be_bytes()); // two cells
        p[5..7].copy_from_slice(&2000u16.to_be_bytes()); // content starts
        p[7] = 0;
        p[8..10].copy_from_slice(&4000u16.to_be_bytes());
        p[10..12].copy_from_slice(&2000u16.to_be_bytes());
        // The free block at 3000: no next, 16 bytes.
        p[3000..3002].copy_from_slice(&0u16.to_be_bytes());
        p[3002..3004].copy_from_slice(&16u16.to_be_bytes());
        p
    }

    #[test]
    fn the_gap_and_free_blocks_are_zeroed_and_cells_kept() {
        let mut p = leaf();
        assert!(page(&mut p, false));
        assert!(p[12..2000].iter().all(|&b| b == 0));
        assert!(p[2000..3000].iter().all(|&b| b == 0xAA), "cells kept");
        assert_eq!(&p[3000..3004], &[0, 0, 0, 16], "free block header kept");
        assert!(p[3004..3016].iter().all(|&b| b == 0));
        assert!(p[3016..].iter().all(|&b| b == 0xAA));
        assert_eq!(&p[..12], &leaf()[..12], "header and pointers kept");
    }

    #[test]
    fn pages_that_are_not_btree_pages_are_left_alone() {
        // An overflow page: a page number, then data.
        let mut p = vec![0x0Du8; 4096];
        p[..4].copy_from_slice(&7u32.to_be_bytes());
        let before = p.clone();
        assert!(!page(&mut p, false));
        assert_eq!(p, before);
        // A header that does not add up: pointers past the content.
        let mut p = leaf();
        p[3..5].copy_from_slice(&2000u16.to_be_bytes());
        let before = p.clone();
        assert!(!page(&mut p, false));
        assert_eq!(p, before);
        // A free block chain that loops or runs off the page stops.
        let mut p = leaf();
        p[3000..3002].copy_from_slice(&3000u16.to_be_bytes());
        assert!(page(&mut p, false));
        let mut p = leaf();
        p[3002..3004].copy_from_slice(&60_000u16.to_be_bytes());
        assert!(page(&mut p, false));
        assert!(p[3004..3016].iter().all(|&b| b == 0xAA));
        // Too short to be a page.
        assert!(!page(&mut [13u8; 100], false));
    }

    #[test]
    fn a_database_too_big_to_tell_pages_apart_is_seen_in_its_header() {
        let mut header = vec![0u8; 100];
        header[28..32].copy_from_slice(&((MAX_PAGES - 1) as u32).to_be_bytes());
        assert_eq!(too_big(&header), Some(false));
        header[28..32].copy_from_slice(&(MAX_PAGES as u32).to_be_bytes());
        assert_eq!(too_big(&header), Some(true));
        assert_eq!(too_big(&header[..20]), None);
    }

    #[test]
    fn page_one_is_read_after_the_database_header() {
        let mut p = vec![0xAAu8; 4096];
        p[..100].fill(1);
        let mut l = leaf();
        l.truncate(12);
        p[100..112].copy_from_slice(&l);
        p[101..103].copy_from_slice(&0u16.to_be_bytes());
        p[108..110].copy_from_slice(&4000u16.to_be_bytes());
        assert!(page(&mut p, true));
        assert!(p[..100].iter().all(|&b| b == 1));
        assert!(p[112..2000].iter().all(|&b| b == 0));
    }
}
