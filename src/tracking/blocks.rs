//! The events in a persisted column form, `event_blocks`: what analytics
//! reads for a scan (time, user, session, name, page, sample rate, bot,
//! type), one row per [`BLOCK_EVENTS`] event ids, each column packed apart
//! (time as varint deltas, strings through a dictionary per block). Reading a
//! block costs a few bytes per event and no record decoding, so the
//! in-memory projection is loaded from blocks at open instead of from every
//! event's row.
//!
//! Built at ingest, in the same transaction as the events: [`settle`] packs
//! every complete id range that has no block yet. Never stale: triggers
//! (migration 13) delete the block of any event deleted, or updated in a
//! column a block holds, in the same statement; and before ingest inserts,
//! [`before_insert`] drops the blocks whose range reaches past the newest
//! event (ids are reused once the newest events are deleted: there is no
//! AUTOINCREMENT), where a new event could land. The next ingest packs them
//! again from what is there. So erasure, anonymisation, rectification,
//! identify and retention reach blocks as they reach events, and erased ids
//! leave with the block that held them (`secure_delete` zeroes its pages).

use std::borrow::Cow;

use rusqlite::{params, Connection};

use crate::error::Result;
use crate::kernel::varint::{self, unzigzag, zigzag, Reader};

/// Event ids per block: block `k` holds ids `k * BLOCK_EVENTS + 1` to
/// `(k + 1) * BLOCK_EVENTS`. Fixed by the triggers of migration 13.
pub const BLOCK_EVENTS: i64 = 4096;

/// Blocks packed at most per [`settle`], so one ingest after a change that
/// dropped many blocks (a large erasure, retention) stays bounded: about
/// 30 ms of work each. The rest are packed by the ingests that follow, and
/// read from the events until then.
const MAX_PACKED_PER_SETTLE: usize = 8;

/// The format of a block's bytes. Format 2 keeps each event's type
/// ([`crate::tracking::EventType::code`]) in the bits above the bot flag;
/// format 1, which did not, is still read (its types unknown).
const FORMAT: u8 = 2;

/// The SQL for an event's type code ([`crate::tracking::EventType::code`];
/// 0 for a type that is none of the four).
pub const TYPE_CODE_SQL: &str =
    "CASE type WHEN 'session' THEN 1 WHEN 'page' THEN 2 WHEN 'action' THEN 3 WHEN 'system' THEN 4 ELSE 0 END";

/// The first event id of block `k`.
pub fn first_id(k: i64) -> i64 {
    k * BLOCK_EVENTS + 1
}

/// The newest event id, 0 when there is none: ids run from 1 and are never
/// above it, so it bounds how many events the table holds (deleted ids
/// count until they are reused). One seek of the table's key.
pub fn newest_id(conn: &Connection) -> Result<i64> {
    Ok(conn
        .prepare_cached("SELECT coalesce(max(id), 0) FROM events")?
        .query_row([], |r| r.get(0))?)
}

/// Drops the blocks an insert could land in: those whose range reaches
/// past the newest event id (a packed range whose newest events were
/// deleted since; SQLite gives a new row the highest id plus one). One
/// probe per ingest, where a trigger would cost one per event; every insert
/// into `events` (tracking's ingest and the pipeline's) calls it first, in
/// its transaction.
pub fn before_insert(tx: &Connection) -> Result<()> {
    tx.prepare_cached(
        "DELETE FROM event_blocks WHERE first_id > \
         (SELECT coalesce(max(id), 0) FROM events) - ?1",
    )?
    .execute([BLOCK_EVENTS - 1])?;
    Ok(())
}

/// Packs the complete id ranges that have no block (the newest ones, and
/// any a change dropped), at most [`MAX_PACKED_PER_SETTLE`]; inside the
/// caller's write transaction. When it packed one (ingest completed a
/// range), it also packs again one block of an older format, if any is
/// left, or else writes one block's spans ([`super::spans`]) if any has
/// none, one block's rows by name ([`super::names`]) and one block's
/// dimensions ([`super::dims`]) likewise: so a database from before format
/// 2 or schema version 19, 20 or 21 is brought up to date at the pace of
/// its ingest, a few blocks' more work per [`BLOCK_EVENTS`] events.
pub fn settle(tx: &Connection) -> Result<()> {
    let (packed, _) = pack_absent(tx, MAX_PACKED_PER_SETTLE)?;
    if packed > 0 && repack_older(tx, 1)?.0 == 0 {
        // Or, with none of an older format left, one block's spans, one
        // block's rows by name and one block's dimensions.
        super::spans::write_missing(tx, 1)?;
        super::names::write_missing(tx, 1)?;
        super::dims::write_missing(tx, 1)?;
    }
    Ok(())
}

/// Packs up to `max` blocks inside the caller's write transaction: first
/// the complete id ranges that have no block, newest first, then the
/// blocks of an older format than [`FORMAT`], newest first, then writes
/// the spans of blocks that have none ([`super::spans`]), then their rows
/// by name ([`super::names`]), then their dimensions ([`super::dims`]).
/// Returns how many it packed or gave spans, rows by name or dimensions and
/// how many are still to (of all five kinds).
pub fn pack_missing(tx: &Connection, max: usize) -> Result<(u64, u64)> {
    let (packed, absent) = pack_absent(tx, max)?;
    let (repacked, older) = repack_older(tx, max - packed as usize)?;
    let (spanned, unspanned) = super::spans::write_missing(tx, max - (packed + repacked) as usize)?;
    let done = packed + repacked + spanned;
    let (named, unnamed) = super::names::write_missing(tx, max - done as usize)?;
    let done = done + named;
    let (dimmed, undimmed) = super::dims::write_missing(tx, max - done as usize)?;
    Ok((
        done + dimmed,
        absent + older + unspanned + unnamed + undimmed,
    ))
}

/// Packs again up to `max` of the blocks of an older format, newest
/// first. Returns how many it packed and how many are left. The partial
/// index of migration 15 lists them, so finding them reads no block. A
/// block whose bytes are of this format already (packed by a build from
/// before migration 15, which marked it as older) is only marked; a row
/// that starts no block (damage: nothing writes one) is left alone and not
/// counted, so `remaining` reaches 0.
fn repack_older(tx: &Connection, max: usize) -> Result<(u64, u64)> {
    let older = older_blocks();
    let mut done = 0u64;
    if max > 0 {
        let firsts: Vec<(i64, Option<Vec<u8>>)> = tx
            .prepare_cached(&format!(
                "SELECT first_id, substr(data, 1, 1) FROM event_blocks \
                 INDEXED BY event_blocks_to_repack WHERE {older} ORDER BY first_id DESC LIMIT ?1"
            ))?
            .query_map([max as i64], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        for (first, head) in firsts {
            if head.as_deref() == Some(&[FORMAT][..]) {
                tx.prepare_cached("UPDATE event_blocks SET format = ?2 WHERE first_id = ?1")?
                    .execute(params![first, FORMAT])?;
                // And its spans, rows by name and dimensions, as a block
                // packed now has.
                let beside: [Beside; 3] =
                    [super::spans::write, super::names::write, super::dims::write];
                write_beside(tx, first, &beside)?;
            } else {
                pack(tx, (first - 1) / BLOCK_EVENTS)?;
            }
            done += 1;
        }
    }
    let left: i64 = tx
        .prepare_cached(&format!(
            "SELECT count(*) FROM event_blocks INDEXED BY event_blocks_to_repack WHERE {older}"
        ))?
        .query_row([], |r| r.get(0))?;
    Ok((done, left.max(0) as u64))
}

/// What is kept beside a block and written from its bytes (its spans, its
/// rows by name) or its events (its dimensions): false, writing nothing,
/// when the bytes are not a block's.
pub(super) type Beside = fn(&Connection, i64, &[u8]) -> Result<bool>;

/// Writes each of `beside` for the block stored at `first_id` from its
/// bytes (read once); a block whose bytes are not a block's is packed
/// again from the events (which writes them all).
fn write_beside(tx: &Connection, first_id: i64, beside: &[Beside]) -> Result<()> {
    let data: Vec<u8> = tx
        .prepare_cached("SELECT data FROM event_blocks WHERE first_id = ?1")?
        .query_row([first_id], |r| r.get(0))?;
    for write in beside {
        if !write(tx, first_id, &data)? {
            return pack_again(tx, first_id);
        }
    }
    Ok(())
}

/// Writes `beside` for up to `max` blocks for which `none` holds (an SQL
/// condition on `event_blocks AS b`: it has none), newest first, leaving
/// out the blocks of an older format (they get theirs when they are packed
/// again) and rows that start no block (damage, left alone). Returns how
/// many it wrote and how many are left.
pub(super) fn write_missing_beside(
    tx: &Connection,
    max: usize,
    none: &str,
    beside: Beside,
) -> Result<(u64, u64)> {
    let without = format!(
        "{none} AND NOT EXISTS (SELECT 1 FROM event_blocks o INDEXED BY event_blocks_to_repack \
         WHERE o.format < 2 AND o.first_id = b.first_id) AND (b.first_id - 1) % {BLOCK_EVENTS} = 0"
    );
    let mut done = 0u64;
    if max > 0 {
        let firsts: Vec<i64> = tx
            .prepare_cached(&format!(
                "SELECT b.first_id FROM event_blocks b INDEXED BY event_blocks_by_time \
                 WHERE {without} ORDER BY b.first_id DESC LIMIT ?1"
            ))?
            .query_map([max as i64], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        for first in firsts {
            write_beside(tx, first, &[beside])?;
            done += 1;
        }
    }
    let left: i64 = tx
        .prepare_cached(&format!(
            "SELECT count(*) FROM event_blocks b INDEXED BY event_blocks_by_time WHERE {without}"
        ))?
        .query_row([], |r| r.get(0))?;
    Ok((done, left.max(0) as u64))
}

/// Whether any block of an older format than [`FORMAT`] is left to pack
/// again (one probe of migration 15's partial index).
pub fn any_older(conn: &Connection) -> Result<bool> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT EXISTS (SELECT 1 FROM event_blocks INDEXED BY event_blocks_to_repack WHERE {})",
            older_blocks()
        ))?
        .query_row([], |r| r.get(0))?)
}

/// The SQL condition for a block of an older format than [`FORMAT`]:
/// marked so (migration 15), and the start of a block (a row that starts
/// none is damage, and is left alone).
fn older_blocks() -> String {
    format!("format < 2 AND (first_id - 1) % {BLOCK_EVENTS} = 0")
}

/// Packs up to `max` of the complete id ranges that have no block, newest
/// first. Returns how many it packed and how many are still missing.
fn pack_absent(tx: &Connection, max: usize) -> Result<(u64, u64)> {
    let max_id = newest_id(tx)?;
    let complete = max_id / BLOCK_EVENTS;
    if complete == 0 {
        return Ok((0, 0));
    }
    let (count, newest): (i64, Option<i64>) = tx
        .prepare_cached("SELECT count(*), max(first_id) FROM event_blocks")?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    if count == complete && newest == Some(first_id(complete - 1)) {
        return Ok((0, 0));
    }
    let mut have = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
    {
        let mut stmt = tx.prepare_cached("SELECT first_id FROM event_blocks")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            have.push(r.get::<_, i64>(0)?);
        }
    }
    have.sort_unstable();
    let missing: Vec<i64> = (0..complete)
        .filter(|k| have.binary_search(&first_id(*k)).is_err())
        .collect();
    // Newest first: a fresh block is what ingest just completed.
    let mut packed = 0u64;
    for &k in missing.iter().rev().take(max) {
        pack(tx, k)?;
        packed += 1;
    }
    Ok((packed, missing.len() as u64 - packed))
}

/// Packs block `k` from the events, replacing any.
fn pack(tx: &Connection, k: i64) -> Result<()> {
    let from = first_id(k);
    let mut b = Builder::default();
    // The events' dimensions, kept beside the block ([`super::dims`]).
    let mut dims = Vec::new();
    {
        let mut stmt = tx.prepare_cached(
            &format!(
                "SELECT ts, COALESCE(user_id, anonymous_id), session_id, name, \
                 CASE WHEN type = 'page' THEN COALESCE(path, url) END, sample_rate, device IS 'bot', \
                 {TYPE_CODE_SQL}, dimensions FROM events WHERE id >= ?1 AND id < ?2 ORDER BY id"
            ),
        )?;
        let mut rows = stmt.query([from, from + BLOCK_EVENTS])?;
        while let Some(r) = rows.next()? {
            dims.push(text(r.get_ref(8)?).map(<[u8]>::to_vec));
            b.push(
                r.get(0)?,
                text(r.get_ref(1)?),
                text(r.get_ref(2)?),
                text(r.get_ref(3)?),
                text(r.get_ref(4)?),
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
            );
        }
    }
    let (min_ts, max_ts, rows) = (b.min_ts, b.max_ts, b.rows);
    let data = b.finish();
    tx.prepare_cached(
        "INSERT INTO event_blocks (first_id, events, min_ts, max_ts, data, format) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
         ON CONFLICT (first_id) DO UPDATE SET events = excluded.events, min_ts = excluded.min_ts, \
         max_ts = excluded.max_ts, data = excluded.data, format = excluded.format",
    )?
    .execute(params![from, rows as i64, min_ts, max_ts, &data, FORMAT])?;
    // Its sessions in short, for the metrics that read no more of a block
    // (bytes just packed are a block's).
    super::spans::write(tx, from, &data)?;
    super::names::write(tx, from, &data)?;
    super::dims::write_values(tx, from, &dims)?;
    Ok(())
}

/// How many events the block bytes `data` hold, from their head; `None`
/// when they are not a block's.
pub fn rows_of(data: &[u8]) -> Option<usize> {
    head(&mut Reader::new(data)).map(|(_, rows)| rows)
}

/// Reads a block's head: its format (one this build reads) and its number
/// of events; `None` when it is not a block's.
fn head(r: &mut Reader<'_>) -> Option<(u8, usize)> {
    let format = r.byte()?;
    if format != FORMAT && format != 1 {
        return None;
    }
    let rows = usize::try_from(r.varint()?).ok()?;
    (rows <= BLOCK_EVENTS as usize).then_some((format, rows))
}

/// Packs again from the events the block that starts at `first_id` (one
/// whose bytes are not a block's).
fn pack_again(tx: &Connection, first_id: i64) -> Result<()> {
    pack(tx, (first_id - 1).div_euclid(BLOCK_EVENTS))
}

/// A text column's bytes; `None` for NULL (the columns read are TEXT in a
/// STRICT table, so nothing else occurs).
fn text(v: rusqlite::types::ValueRef<'_>) -> Option<&[u8]> {
    match v {
        rusqlite::types::ValueRef::Text(t) => Some(t),
        _ => None,
    }
}

/// One block, decoded: per event, its columns; strings as indexes into
/// the block's dictionaries, 0 for none. The dictionaries borrow the
/// block's bytes (no copy per string).
#[derive(Debug, Default)]
pub struct Block<'a> {
    /// Ids that are numbered, not printed: user keys and sessions.
    pub ids: Vec<&'a [u8]>,
    /// Strings that are printed: names and pages (empty when neither is
    /// decoded: see [`Wanted::name`]).
    pub strings: Vec<Cow<'a, str>>,
    /// How many strings the block holds, and its first and last as stored:
    /// read even when the strings are not decoded, so that what a reader
    /// keeps per block (numbers per string) fits the block either way.
    pub strings_held: (usize, Option<&'a [u8]>, Option<&'a [u8]>),
    /// Times, ms.
    pub ts: Vec<i64>,
    /// User key, into `ids` (1-based; 0 for none).
    pub user: Vec<u32>,
    /// Session, into `ids` (1-based; 0 for none).
    pub session: Vec<u32>,
    /// Name, into `strings` (1-based; 0 for none).
    pub name: Vec<u32>,
    /// Page, into `strings` (1-based; 0 for none).
    pub page: Vec<u32>,
    /// Sample rate.
    pub rate: Vec<f64>,
    /// Whether the event is a bot's.
    pub bot: Vec<bool>,
    /// Each event's type code ([`crate::tracking::EventType::code`]; 0
    /// for none of the four), when the block keeps types (format 2; a
    /// block of format 1 does not, and its events' types are unknown).
    pub kind: Option<Vec<u8>>,
}

/// Every block in id order: `(first_id, block)`. A block whose bytes do
/// not decode is left out (its events are read from their rows).
pub fn read(conn: &Connection, mut each: impl FnMut(i64, Block<'_>) -> Result<()>) -> Result<()> {
    let mut stmt =
        conn.prepare_cached("SELECT first_id, data FROM event_blocks ORDER BY first_id")?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let first: i64 = r.get(0)?;
        let data = r.get_ref(1)?.as_blob().map_err(rusqlite::Error::from)?;
        if let Some(block) = decode(data) {
            each(first, block)?;
        }
    }
    Ok(())
}

/// A block's bytes for these events (time, user, session, name, page; each
/// unsampled, no bot, of type page when it has a page, else action): for
/// tests of what reads blocks.
#[cfg(test)]
pub(crate) fn packed_for_test(rows: &[(i64, &str, &str, &str, Option<&str>)]) -> Vec<u8> {
    let mut b = Builder::default();
    for (ts, user, session, name, page) in rows {
        let kind = if page.is_some() { 2 } else { 3 };
        b.push(
            *ts,
            Some(user.as_bytes()),
            Some(session.as_bytes()),
            Some(name.as_bytes()),
            page.map(str::as_bytes),
            1.0,
            false,
            kind,
        );
    }
    b.finish()
}

/// Packs rows into a block's bytes.
#[derive(Default)]
struct Builder {
    rows: usize,
    min_ts: Option<i64>,
    max_ts: Option<i64>,
    ids: Dict,
    strings: Dict,
    rates: Vec<u64>,
    last_ts: i64,
    ts: Vec<u8>,
    user: Vec<u8>,
    session: Vec<u8>,
    name: Vec<u8>,
    page: Vec<u8>,
    rate: Vec<u8>,
    bot: Vec<u8>,
}

/// Strings numbered from 1 in order of first sight.
#[derive(Default)]
pub(super) struct Dict {
    index: crate::kernel::fastmap::FastMap<Vec<u8>, u32>,
    /// The strings, in order of their numbers.
    pub(super) items: Vec<Vec<u8>>,
}

impl Dict {
    /// `v`'s number (0 for none), numbering it if it is new.
    pub(super) fn number(&mut self, v: Option<&[u8]>) -> u32 {
        let Some(v) = v else { return 0 };
        if let Some(n) = self.index.get(v) {
            return *n;
        }
        self.items.push(v.to_vec());
        let n = self.items.len() as u32;
        self.index.insert(v.to_vec(), n);
        n
    }
}

impl Builder {
    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        ts: i64,
        user: Option<&[u8]>,
        session: Option<&[u8]>,
        name: Option<&[u8]>,
        page: Option<&[u8]>,
        rate: f64,
        bot: bool,
        kind: u8,
    ) {
        self.min_ts = Some(self.min_ts.map_or(ts, |m| m.min(ts)));
        self.max_ts = Some(self.max_ts.map_or(ts, |m| m.max(ts)));
        varint::put(&mut self.ts, zigzag(ts.wrapping_sub(self.last_ts)));
        self.last_ts = ts;
        varint::put(&mut self.user, u64::from(self.ids.number(user)));
        varint::put(&mut self.session, u64::from(self.ids.number(session)));
        varint::put(&mut self.name, u64::from(self.strings.number(name)));
        varint::put(&mut self.page, u64::from(self.strings.number(page)));
        let bits = rate.to_bits();
        let r = match self.rates.iter().position(|x| *x == bits) {
            Some(i) => i,
            None => {
                self.rates.push(bits);
                self.rates.len() - 1
            }
        };
        varint::put(&mut self.rate, r as u64);
        // The type code (0 to 4) above the bot flag; anything else is
        // stored as 0 (none of the four).
        let kind = if kind <= 4 { kind } else { 0 };
        self.bot.push(u8::from(bot) | (kind << 1));
        self.rows += 1;
    }

    fn finish(self) -> Vec<u8> {
        let mut out = vec![FORMAT];
        varint::put(&mut out, self.rows as u64);
        for dict in [&self.ids, &self.strings] {
            varint::put(&mut out, dict.items.len() as u64);
            for s in &dict.items {
                varint::put(&mut out, s.len() as u64);
                out.extend_from_slice(s);
            }
        }
        varint::put(&mut out, self.rates.len() as u64);
        for r in &self.rates {
            out.extend_from_slice(&r.to_le_bytes());
        }
        for col in [
            &self.ts,
            &self.user,
            &self.session,
            &self.name,
            &self.page,
            &self.rate,
            &self.bot,
        ] {
            varint::put(&mut out, col.len() as u64);
            out.extend_from_slice(col);
        }
        out
    }
}

/// Decodes a block's bytes; `None` if they are not a block of this format
/// (a block is then read from the events instead).
pub fn decode(data: &[u8]) -> Option<Block<'_>> {
    decode_columns(data, Wanted::ALL)
}

/// Which of a block's columns that a metric may not read to decode.
#[derive(Debug, Clone, Copy)]
pub struct Wanted {
    /// The user column.
    pub user: bool,
    /// The session column.
    pub session: bool,
    /// The page column.
    pub page: bool,
    /// The name column. Without names or pages, the block's strings are
    /// skipped too (left empty).
    pub name: bool,
}

impl Wanted {
    /// Every column.
    pub const ALL: Wanted = Wanted {
        user: true,
        session: true,
        page: true,
        name: true,
    };
}

/// [`decode`], leaving the columns `wanted` leaves out empty (their bytes
/// are skipped, not read: a metric that does not read sessions does not
/// pay for them). `None` as [`decode`] gives it, for the columns decoded.
pub fn decode_columns(data: &[u8], wanted: Wanted) -> Option<Block<'_>> {
    let mut r = Reader::new(data);
    let (format, rows) = head(&mut r)?;
    let mut b = Block::default();
    let n = r.count()?;
    for _ in 0..n {
        let len = r.count()?;
        b.ids.push(r.take(len)?);
    }
    let n = r.count()?;
    b.strings_held.0 = n;
    for i in 0..n {
        let len = r.count()?;
        let s = r.take(len)?;
        if i == 0 {
            b.strings_held.1 = Some(s);
        }
        b.strings_held.2 = Some(s);
        if wanted.name || wanted.page {
            b.strings.push(String::from_utf8_lossy(s));
        }
    }
    let n = r.count()?;
    let mut rates = Vec::with_capacity(n);
    for _ in 0..n {
        rates.push(f64::from_bits(r.u64_le()?));
    }
    // Each column's `rows` varints, each mapped as it is read (one pass,
    // no intermediate vector).
    fn column<T>(
        r: &mut Reader<'_>,
        rows: usize,
        mut map: impl FnMut(u64) -> Option<T>,
    ) -> Option<Vec<T>> {
        let len = r.count()?;
        let mut c = Reader::new(r.take(len)?);
        let mut out = Vec::with_capacity(rows);
        for _ in 0..rows {
            out.push(map(c.varint()?)?);
        }
        Some(out)
    }
    let mut last = 0i64;
    b.ts = column(&mut r, rows, |d| {
        last = last.wrapping_add(unzigzag(d));
        Some(last)
    })?;
    let index = |max: usize| move |x: u64| (x <= max as u64).then_some(x as u32);
    fn skip(r: &mut Reader<'_>) -> Option<()> {
        let len = r.count()?;
        r.take(len).map(|_| ())
    }
    if wanted.user {
        b.user = column(&mut r, rows, index(b.ids.len()))?;
    } else {
        skip(&mut r)?;
    }
    if wanted.session {
        b.session = column(&mut r, rows, index(b.ids.len()))?;
    } else {
        skip(&mut r)?;
    }
    if wanted.name {
        b.name = column(&mut r, rows, index(b.strings.len()))?;
    } else {
        skip(&mut r)?;
    }
    if wanted.page {
        b.page = column(&mut r, rows, index(b.strings.len()))?;
    } else {
        skip(&mut r)?;
    }
    b.rate = column(&mut r, rows, |i| {
        rates.get(usize::try_from(i).ok()?).copied()
    })?;
    let len = r.count()?;
    let bots = r.take(len)?;
    if bots.len() != rows {
        return None;
    }
    if format == 1 {
        b.bot = bots.iter().map(|x| *x != 0).collect();
        return Some(b);
    }
    // A flag and a code of 0 to 4: any other byte is not a block's.
    if bots.iter().any(|x| *x > 9) {
        return None;
    }
    b.bot = bots.iter().map(|x| x & 1 != 0).collect();
    b.kind = Some(bots.iter().map(|x| x >> 1).collect());
    Some(b)
}

#[cfg(test)]
mod tests {
    #[cfg(all(target_family = "wasm", target_os = "unknown"))]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    /// One event as packed: time, user, session, name, page, rate, bot,
    /// type code.
    type Packed<'a> = (
        i64,
        Option<&'a [u8]>,
        Option<&'a [u8]>,
        &'a [u8],
        Option<&'a [u8]>,
        f64,
        bool,
        u8,
    );

    fn packed() -> Vec<Packed<'static>> {
        vec![
            (
                1_700_000_000_000,
                Some(b"ann"),
                Some(b"s1"),
                b"page_view",
                Some(b"/"),
                1.0,
                false,
                2,
            ),
            (
                1_699_999_000_000,
                None,
                None,
                b"click",
                None,
                0.25,
                false,
                3,
            ),
            (
                i64::MAX,
                Some(b"bob"),
                Some(b"s1"),
                b"page_view",
                Some(b"/x"),
                1.0,
                true,
                2,
            ),
            (-5, Some(b"ann"), None, b"click", None, 0.25, false, 0),
            (7, None, None, b"login", None, 1.0, true, 1),
            (8, None, None, b"boot", None, 1.0, false, 4),
        ]
    }

    #[test]
    fn a_block_decodes_to_what_was_packed() {
        let mut b = Builder::default();
        let rows = packed();
        for (ts, u, s, n, p, r, bot, kind) in &rows {
            b.push(*ts, *u, *s, Some(n), *p, *r, *bot, *kind);
        }
        let bytes = b.finish();
        let d = decode(&bytes).unwrap();
        let kinds = d.kind.as_ref().unwrap();
        for (i, (ts, u, s, n, p, r, bot, kind)) in rows.iter().enumerate() {
            let id = |x: u32| (x > 0).then(|| d.ids[x as usize - 1]);
            let st = |x: u32| (x > 0).then(|| d.strings[x as usize - 1].as_bytes());
            assert_eq!(d.ts[i], *ts);
            assert_eq!(id(d.user[i]), *u);
            assert_eq!(id(d.session[i]), *s);
            assert_eq!(st(d.name[i]), Some(*n));
            assert_eq!(st(d.page[i]), *p);
            assert_eq!(d.rate[i], *r);
            assert_eq!(d.bot[i], *bot);
            assert_eq!(kinds[i], *kind);
        }
        // Anything cut short or altered in its header does not decode.
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_none(), "cut at {cut}");
        }
        let mut other = bytes.clone();
        other[0] = 9;
        assert!(decode(&other).is_none());
        // A flag byte past a bot flag and a code of 4 is not a block's.
        let mut other = bytes.clone();
        let last = other.len() - 1;
        other[last] = 10;
        assert!(decode(&other).is_none());
        // A type code past 4 is packed as none of the four.
        let mut b = Builder::default();
        b.push(1, None, None, Some(b"x"), None, 1.0, true, 200);
        let d = decode(&b.finish()).map(|d| (d.bot[0], d.kind.unwrap()[0]));
        assert_eq!(d, Some((true, 0)));
    }

    /// Columns left out are empty and every other column decodes as
    /// `decode` gives it; a block cut short still does not decode.
    #[test]
    fn a_block_decodes_only_the_columns_wanted() {
        let mut b = Builder::default();
        for (ts, u, s, n, p, r, bot, kind) in &packed() {
            b.push(*ts, *u, *s, Some(n), *p, *r, *bot, *kind);
        }
        let bytes = b.finish();
        let all = decode(&bytes).unwrap();
        for bits in 0..16u8 {
            let wanted = Wanted {
                user: bits & 1 != 0,
                session: bits & 2 != 0,
                page: bits & 4 != 0,
                name: bits & 8 != 0,
            };
            let d = decode_columns(&bytes, wanted).unwrap();
            let or_empty = |want: bool, col: &Vec<u32>| if want { col.clone() } else { Vec::new() };
            assert_eq!(d.user, or_empty(wanted.user, &all.user), "{wanted:?}");
            assert_eq!(
                d.session,
                or_empty(wanted.session, &all.session),
                "{wanted:?}"
            );
            assert_eq!(d.page, or_empty(wanted.page, &all.page), "{wanted:?}");
            assert_eq!(d.name, or_empty(wanted.name, &all.name), "{wanted:?}");
            // The strings, when names or pages are read.
            let strings = if wanted.name || wanted.page {
                all.strings.clone()
            } else {
                Vec::new()
            };
            assert_eq!(d.strings, strings, "{wanted:?}");
            // What the block holds, whatever is decoded.
            assert_eq!(d.strings_held, all.strings_held, "{wanted:?}");
            let ends = (all.strings.first(), all.strings.last());
            let held = d.strings_held;
            assert_eq!(held.0, all.strings.len());
            assert_eq!(
                (held.1, held.2),
                (ends.0.map(|s| s.as_bytes()), ends.1.map(|s| s.as_bytes()))
            );
            assert_eq!(
                (&d.ts, &d.rate, &d.bot, &d.kind),
                (&all.ts, &all.rate, &all.bot, &all.kind)
            );
            for cut in 0..bytes.len() {
                assert!(
                    decode_columns(&bytes[..cut], wanted).is_none(),
                    "cut at {cut}"
                );
            }
        }
    }

    /// A block of format 1 (before types were kept: the last column one
    /// byte per event, 0 or 1 for the bot flag) still decodes, its types
    /// unknown.
    #[test]
    fn a_block_of_format_1_decodes_without_types() {
        let mut b = Builder::default();
        let rows = packed();
        for (ts, u, s, n, p, r, bot, _) in &rows {
            b.push(*ts, *u, *s, Some(n), *p, *r, *bot, 0);
        }
        let mut bytes = b.finish();
        bytes[0] = 1;
        let d = decode(&bytes).unwrap();
        assert!(d.kind.is_none());
        let bots: Vec<bool> = rows.iter().map(|r| r.6).collect();
        assert_eq!(d.bot, bots);
        assert_eq!(d.ts.len(), rows.len());
    }
}
