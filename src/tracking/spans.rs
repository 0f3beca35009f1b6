//! Each packed block's sessions in short, `event_block_spans` (migration
//! 19): for every session of the block's events that are not bots', its
//! first and last time and its highest sample rate; and of the block,
//! whether it holds any bot's event and the lowest rate of the others.
//! What `sessionDurations` needs of a block wholly inside its window: a
//! session's duration is its last time less its first, each weighted by one
//! over its highest rate, so two rows per session stand for the block's
//! rows (about 400 sessions of 4,096 events in the scale bench, whose
//! session ids of 38 characters make them 30% of the block's bytes; less
//! with shorter ids). Read instead of the block past the in-memory
//! projection's cap, when its times agree with the block's.
//!
//! Written from the block's bytes whenever a block is packed, in the same
//! transaction ([`super::blocks`]); gone with the block: triggers delete a
//! block's spans when its row is deleted (so erasure, retention and the
//! other changes that drop a block take its sessions' ids with it) or its
//! bytes are written again. A block without spans (one packed before
//! migration 19, or whose spans were dropped) is read whole, and given its
//! spans by ingest, `tracking.packBlocks()` and `usertrail migrate`.

use rusqlite::{params, Connection};

use super::blocks::{self, Block, Wanted, BLOCK_EVENTS};
use crate::error::Result;
use crate::kernel::varint::{self, unzigzag, zigzag, Reader};

/// The format of a spans' bytes.
const FORMAT: u8 = 1;

/// One session of a block, in short.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Span<'a> {
    /// The session's id, as stored.
    pub id: &'a [u8],
    /// Its first time in the block, ms.
    pub first: i64,
    /// Its last time in the block, ms.
    pub last: i64,
    /// The highest sample rate of its events in the block.
    pub rate: f64,
}

/// A block's sessions in short, of its events that are not bots'.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Spans<'a> {
    /// Whether the block holds any bot's event (its spans leave them out,
    /// so they stand for the block only where bots are left out).
    pub bots: bool,
    /// The lowest sample rate of the block's events that are not bots'
    /// (sessions or not); `None` when it holds none.
    pub lowest_rate: Option<f64>,
    /// The sessions, in the order of their first event in the block.
    pub sessions: Vec<Span<'a>>,
}

/// The columns spans are made of.
const WANTED: Wanted = Wanted {
    user: false,
    session: true,
    page: false,
    name: false,
};

/// The spans of the bytes of the block that starts at `first_id`, as
/// bytes; `None` when they are not a block's.
pub fn of_block(first_id: i64, data: &[u8]) -> Option<Vec<u8>> {
    let b = blocks::decode_columns(data, WANTED)?;
    Some(encode(first_id, &spans(&b)))
}

/// The spans of a decoded block (its sessions, times, rates and bot flags).
fn spans<'a>(b: &Block<'a>) -> Spans<'a> {
    // Per session number (into `ids`): its place in `sessions`, + 1.
    let mut at = vec![0usize; b.ids.len() + 1];
    let mut out = Spans::default();
    for i in 0..b.ts.len() {
        if b.bot[i] {
            out.bots = true;
            continue;
        }
        let (ts, rate) = (b.ts[i], b.rate[i]);
        out.lowest_rate = Some(out.lowest_rate.map_or(rate, |r| r.min(rate)));
        let s = b.session[i] as usize;
        if s == 0 {
            continue;
        }
        match at[s] {
            0 => {
                out.sessions.push(Span {
                    id: b.ids[s - 1],
                    first: ts,
                    last: ts,
                    rate,
                });
                at[s] = out.sessions.len();
            }
            k => {
                let span = &mut out.sessions[k - 1];
                span.first = span.first.min(ts);
                span.last = span.last.max(ts);
                span.rate = span.rate.max(rate);
            }
        }
    }
    out
}

/// Spans as bytes: the format, the bots flag, the block's first id (so
/// that spans copied to another block's row are not read as its), the
/// distinct rates (as f64 bits), the lowest rate's place in them (+ 1, 0
/// for none), then each session: its id's length and bytes, its first time
/// as a zigzag delta from the last session's, its length, and its rate's
/// place.
pub fn encode(first_id: i64, s: &Spans<'_>) -> Vec<u8> {
    let mut rates: Vec<u64> = Vec::new();
    let mut place = |r: f64| -> u64 {
        let bits = r.to_bits();
        match rates.iter().position(|x| *x == bits) {
            Some(i) => i as u64,
            None => {
                rates.push(bits);
                (rates.len() - 1) as u64
            }
        }
    };
    let lowest = s.lowest_rate.map_or(0, |r| place(r) + 1);
    let mut body = Vec::new();
    varint::put(&mut body, s.sessions.len() as u64);
    let mut last_first = 0i64;
    for span in &s.sessions {
        varint::put(&mut body, span.id.len() as u64);
        body.extend_from_slice(span.id);
        varint::put(&mut body, zigzag(span.first.wrapping_sub(last_first)));
        last_first = span.first;
        varint::put(&mut body, span.last.wrapping_sub(span.first) as u64);
        varint::put(&mut body, place(span.rate));
    }
    let mut out = vec![FORMAT, u8::from(s.bots)];
    varint::put(&mut out, zigzag(first_id));
    varint::put(&mut out, rates.len() as u64);
    for r in &rates {
        out.extend_from_slice(&r.to_le_bytes());
    }
    varint::put(&mut out, lowest);
    out.extend_from_slice(&body);
    out
}

/// The spans of the block that starts at `first_id`, read back from their
/// bytes; `None` when they are not spans of this format or of that block
/// (the block is then read whole).
pub fn decode(first_id: i64, data: &[u8]) -> Option<Spans<'_>> {
    let mut r = Reader::new(data);
    if r.byte()? != FORMAT {
        return None;
    }
    let bots = match r.byte()? {
        0 => false,
        1 => true,
        _ => return None,
    };
    if unzigzag(r.varint()?) != first_id {
        return None;
    }
    let n = r.count()?;
    if n > BLOCK_EVENTS as usize {
        return None;
    }
    let mut rates = Vec::with_capacity(n);
    for _ in 0..n {
        rates.push(f64::from_bits(r.u64_le()?));
    }
    let rate = |i: u64| rates.get(usize::try_from(i).ok()?).copied();
    let lowest_rate = match r.varint()? {
        0 => None,
        i => Some(rate(i - 1)?),
    };
    let n = r.count()?;
    if n > BLOCK_EVENTS as usize {
        return None;
    }
    let mut sessions = Vec::with_capacity(n);
    let mut last_first = 0i64;
    for _ in 0..n {
        let len = r.count()?;
        let id = r.take(len)?;
        let first = last_first.wrapping_add(unzigzag(r.varint()?));
        last_first = first;
        let last = first.checked_add(i64::try_from(r.varint()?).ok()?)?;
        sessions.push(Span {
            id,
            first,
            last,
            rate: rate(r.varint()?)?,
        });
    }
    r.is_done().then_some(Spans {
        bots,
        lowest_rate,
        sessions,
    })
}

/// Writes block `first_id`'s spans from its bytes `data`, replacing any.
/// False, writing nothing, when the bytes are not a block's.
pub(super) fn write(tx: &Connection, first_id: i64, data: &[u8]) -> Result<bool> {
    let Some(spans) = of_block(first_id, data) else {
        return Ok(false);
    };
    tx.prepare_cached("INSERT OR REPLACE INTO event_block_spans (first_id, data) VALUES (?1, ?2)")?
        .execute(params![first_id, spans])?;
    Ok(true)
}

/// The SQL condition for a block without spans, on `event_blocks AS b`
/// ([`blocks::write_missing_beside`]).
const NONE: &str = "NOT EXISTS (SELECT 1 FROM event_block_spans s WHERE s.first_id = b.first_id)";

/// Writes the spans of up to `max` blocks that have none, newest first.
/// Returns how many it wrote and how many are left.
pub(super) fn write_missing(tx: &Connection, max: usize) -> Result<(u64, u64)> {
    blocks::write_missing_beside(tx, max, NONE, write)
}

#[cfg(test)]
mod tests {
    #[cfg(all(target_family = "wasm", target_os = "unknown"))]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn spans_keep_each_sessions_first_last_and_highest_rate() {
        let data = blocks::packed_for_test(&[
            (5_000, "u1", "s1", "view", Some("/a")),
            (1_000, "u1", "s1", "view", Some("/b")),
            (3_000, "u2", "s2", "buy", None),
            (9_000, "u1", "s1", "buy", None),
        ]);
        let bytes = of_block(1, &data).unwrap();
        let s = decode(1, &bytes).unwrap();
        assert!(!s.bots);
        assert_eq!(s.lowest_rate, Some(1.0));
        assert_eq!(
            s.sessions,
            [
                Span {
                    id: b"s1",
                    first: 1_000,
                    last: 9_000,
                    rate: 1.0
                },
                Span {
                    id: b"s2",
                    first: 3_000,
                    last: 3_000,
                    rate: 1.0
                },
            ]
        );
        // Written again from what was read: the same bytes.
        assert_eq!(encode(1, &s), bytes);
        // Another block's: not read as this one's.
        assert!(decode(4097, &bytes).is_none());
        // Anything else is not spans: each cut, each byte changed.
        for cut in 0..bytes.len() {
            assert!(decode(1, &bytes[..cut]).is_none(), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode(1, &longer).is_none());
        assert!(decode(0, &[2, 0, 0, 0, 0]).is_none(), "another format");
        assert!(decode(0, &[1, 2, 0, 0, 0]).is_none(), "a bots flag of 2");
        assert!(of_block(1, b"not a block").is_none());
    }

    #[test]
    fn bots_are_left_out_and_flagged_and_the_lowest_rate_kept() {
        let b = Block {
            ids: vec![b"s1", b"s2"],
            ts: vec![10, 20, 30, 40],
            session: vec![1, 2, 1, 0],
            rate: vec![0.5, 1.0, 0.25, 0.1],
            bot: vec![false, true, false, false],
            ..Block::default()
        };
        let s = spans(&b);
        assert!(s.bots);
        // The session-less event's rate counts for the block, not a session.
        assert_eq!(s.lowest_rate, Some(0.1));
        assert_eq!(
            s.sessions,
            [Span {
                id: b"s1",
                first: 10,
                last: 30,
                rate: 0.5
            }]
        );
        let bytes = encode(8193, &s);
        assert_eq!(decode(8193, &bytes).unwrap(), s);
        let empty = Spans::default();
        assert_eq!(decode(1, &encode(1, &empty)).unwrap(), empty);
    }
}
