//! Each packed block's events' dimensions, `event_block_dims` (migration
//! 21): the distinct `dimensions` texts (JSON objects of the registered
//! dimensions an event set) of the block's events and, per event in id
//! order, which of them it holds. A block keeps no dimensions, so a
//! breakdown by a dimension (`eventBreakdown({ by })`, a funnel's or
//! retention's `breakdown`) read every event's row from SQLite; with these
//! it reads the block and this row, and has SQLite evaluate each distinct
//! text once (with the expression the rows are read with, so the values
//! are the same: `analytics::scan::dimension_sql`).
//!
//! Written from the events whenever a block is packed, in the same
//! transaction ([`super::blocks`]); gone with the block: triggers delete a
//! block's dimensions when its row is deleted (so erasure, retention and the
//! other changes that drop a block take the values with them), when its
//! bytes are written again, and when an event's dimensions alone change. A
//! block without them (one packed before migration 21, or whose
//! dimensions were dropped) has its events' dimensions read from their
//! rows, and is given them by ingest, `tracking.packBlocks()` and
//! `usertrail migrate`.

use rusqlite::{params, Connection};

use super::blocks::{self, BLOCK_EVENTS};
use crate::error::Result;
use crate::kernel::varint::{self, Reader};

/// The format of a block's dimensions' bytes.
const FORMAT: u8 = 1;

/// The format of the bytes of a block whose events hold more than
/// [`MANY_TEXTS`] distinct texts: only the block's first id and events.
const FORMAT_MANY: u8 = 2;

/// How many distinct texts a block's dimensions keep at most: past that
/// (a dimension of nearly a value per event) each text would cost a
/// reader more than reading the events' rows, so the block is marked as
/// holding too many instead ([`Dims::many`]).
pub const MANY_TEXTS: usize = BLOCK_EVENTS as usize / 4;

/// A block's events' dimensions, decoded (the texts borrow the bytes).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Dims<'a> {
    /// The distinct texts, numbered from 1 in order of first sight.
    pub texts: Vec<&'a [u8]>,
    /// Per event of the block, in id order, its text's number (0 for an
    /// event without dimensions); empty when no event has any.
    pub index: Vec<u32>,
    /// How many events the block holds.
    pub events: usize,
    /// The block's events hold more than [`MANY_TEXTS`] texts, which are
    /// not kept (`texts` and `index` empty): a reader reads the events'
    /// rows.
    pub many: bool,
}

impl Dims<'_> {
    /// The number of event `i`'s text (0 for none).
    pub fn of(&self, i: usize) -> u32 {
        self.index.get(i).copied().unwrap_or(0)
    }
}

/// The bytes of the dimensions of the block that starts at `first_id`,
/// its events' `dimensions` in id order (`None` for NULL).
pub fn encode(first_id: i64, values: &[Option<Vec<u8>>]) -> Vec<u8> {
    let mut dict = blocks::Dict::default();
    let index: Vec<u32> = values.iter().map(|v| dict.number(v.as_deref())).collect();
    let texts = dict.items;
    if texts.len() > MANY_TEXTS {
        let mut out = vec![FORMAT_MANY];
        varint::put(&mut out, first_id as u64);
        varint::put(&mut out, values.len() as u64);
        return out;
    }
    let mut out = vec![FORMAT];
    varint::put(&mut out, first_id as u64);
    varint::put(&mut out, values.len() as u64);
    varint::put(&mut out, texts.len() as u64);
    for t in &texts {
        varint::put(&mut out, t.len() as u64);
        out.extend_from_slice(t);
    }
    // Events without dimensions only (the common case): no index.
    if !texts.is_empty() {
        for n in index {
            varint::put(&mut out, u64::from(n));
        }
    }
    out
}

/// The dimensions in `data` if they are of the block that starts at
/// `first_id` and read to their end with every number in range; else
/// `None` (the block's events' dimensions are then read from their rows).
pub fn decode(first_id: i64, data: &[u8]) -> Option<Dims<'_>> {
    let mut r = Reader::new(data);
    let format = r.byte()?;
    if !matches!(format, FORMAT | FORMAT_MANY) || r.varint()? != first_id as u64 {
        return None;
    }
    // Not a count of bytes to come: events without dimensions take none.
    let events = usize::try_from(r.varint()?).ok()?;
    if events > BLOCK_EVENTS as usize {
        return None;
    }
    if format == FORMAT_MANY {
        return r.is_done().then_some(Dims {
            events,
            many: true,
            ..Dims::default()
        });
    }
    let n = r.count()?;
    if n > events || n > MANY_TEXTS {
        return None;
    }
    let mut texts = Vec::with_capacity(n);
    for _ in 0..n {
        let len = r.count()?;
        texts.push(r.take(len)?);
    }
    let mut index = Vec::new();
    if n > 0 {
        index.reserve(events);
        for _ in 0..events {
            let k = u32::try_from(r.varint()?).ok()?;
            if k as usize > n {
                return None;
            }
            index.push(k);
        }
    }
    r.is_done().then_some(Dims {
        texts,
        index,
        events,
        many: false,
    })
}

/// The `dimensions` of the events with ids in the block that starts at
/// `first_id`, in id order.
fn of_events(tx: &Connection, first_id: i64) -> Result<Vec<Option<Vec<u8>>>> {
    let mut stmt =
        tx.prepare_cached("SELECT dimensions FROM events WHERE id >= ?1 AND id < ?2 ORDER BY id")?;
    let mut rows = stmt.query([first_id, first_id + BLOCK_EVENTS])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(match r.get_ref(0)? {
            rusqlite::types::ValueRef::Text(t) => Some(t.to_vec()),
            _ => None,
        });
    }
    Ok(out)
}

/// Writes the dimensions `values` of the block that starts at `first_id`
/// (its events', in id order), replacing any.
pub(super) fn write_values(
    tx: &Connection,
    first_id: i64,
    values: &[Option<Vec<u8>>],
) -> Result<()> {
    tx.prepare_cached("INSERT OR REPLACE INTO event_block_dims (first_id, data) VALUES (?1, ?2)")?
        .execute(params![first_id, encode(first_id, values)])?;
    Ok(())
}

/// Writes block `first_id`'s dimensions from its events, replacing any.
/// False, writing nothing, when its bytes `data` are not a block's or do
/// not count as many events as its ids hold (it is then packed again).
pub(super) fn write(tx: &Connection, first_id: i64, data: &[u8]) -> Result<bool> {
    let values = of_events(tx, first_id)?;
    if blocks::rows_of(data) != Some(values.len()) {
        return Ok(false);
    }
    write_values(tx, first_id, &values)?;
    Ok(true)
}

/// The SQL condition for a block without dimensions, on `event_blocks AS
/// b` ([`blocks::write_missing_beside`]).
const NONE: &str = "NOT EXISTS (SELECT 1 FROM event_block_dims d WHERE d.first_id = b.first_id)";

/// Writes the dimensions of up to `max` blocks that have none, newest
/// first. Returns how many it wrote and how many are left.
pub(super) fn write_missing(tx: &Connection, max: usize) -> Result<(u64, u64)> {
    blocks::write_missing_beside(tx, max, NONE, write)
}

#[cfg(test)]
mod tests {
    #[cfg(all(target_family = "wasm", target_os = "unknown"))]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    fn some(t: &str) -> Option<Vec<u8>> {
        Some(t.as_bytes().to_vec())
    }

    #[test]
    fn each_event_keeps_its_text_by_number() {
        let values = [
            some(r#"{"plan":"pro"}"#),
            None,
            some(r#"{"plan":"free"}"#),
            some(r#"{"plan":"pro"}"#),
        ];
        let bytes = encode(4097, &values);
        let d = decode(4097, &bytes).unwrap();
        assert_eq!(d.events, 4);
        assert_eq!(
            d.texts,
            [br#"{"plan":"pro"}"#.as_slice(), br#"{"plan":"free"}"#]
        );
        assert_eq!((0..4).map(|i| d.of(i)).collect::<Vec<_>>(), [1, 0, 2, 1]);
        assert_eq!(d.of(4), 0, "past the end: none");
    }

    #[test]
    fn events_without_dimensions_cost_no_index() {
        let values = vec![None; 4096];
        let bytes = encode(1, &values);
        assert!(bytes.len() <= 8, "{} bytes", bytes.len());
        let d = decode(1, &bytes).unwrap();
        assert_eq!((d.events, d.texts.len(), d.index.len()), (4096, 0, 0));
        assert_eq!(d.of(17), 0);
    }

    #[test]
    fn a_block_of_many_texts_is_marked_so() {
        let values: Vec<_> = (0..MANY_TEXTS + 1)
            .map(|i| some(&format!("{{\"n\":{i}}}")))
            .collect();
        let bytes = encode(8193, &values);
        assert!(bytes.len() <= 8, "{} bytes", bytes.len());
        let d = decode(8193, &bytes).unwrap();
        assert!(d.many);
        assert_eq!((d.events, d.texts.len()), (MANY_TEXTS + 1, 0));
        assert!(decode(1, &bytes).is_none(), "another block's");
        let mut more = bytes.clone();
        more.push(0);
        assert!(decode(8193, &more).is_none(), "a byte more");
        // As many as kept: kept.
        let kept = encode(8193, &values[..MANY_TEXTS]);
        let d = decode(8193, &kept).unwrap();
        assert!(!d.many);
        assert_eq!(d.texts.len(), MANY_TEXTS);
    }

    #[test]
    fn another_blocks_cut_or_damaged_bytes_are_refused() {
        let values = [some("{\"a\":1}"), some("{\"a\":2}"), None];
        let bytes = encode(1, &values);
        assert!(decode(4097, &bytes).is_none(), "another block's");
        for cut in 0..bytes.len() {
            assert!(decode(1, &bytes[..cut]).is_none(), "cut at {cut}");
        }
        let mut more = bytes.clone();
        more.push(0);
        assert!(decode(1, &more).is_none(), "a byte more");
        let mut past = bytes.clone();
        let n = past.len();
        past[n - 2] = 3;
        assert!(decode(1, &past).is_none(), "a number past the texts");
        let mut format = bytes.clone();
        format[0] = 2;
        assert!(decode(1, &format).is_none(), "another format");
        // More texts than events, or more events than a block holds.
        let mut many = vec![FORMAT];
        for v in [1u64, 1, 2, 0, 0] {
            varint::put(&mut many, v);
        }
        assert!(decode(1, &many).is_none());
        let mut huge = vec![FORMAT];
        for v in [1u64, 5000, 0] {
            varint::put(&mut huge, v);
        }
        assert!(decode(1, &huge).is_none());
    }
}
