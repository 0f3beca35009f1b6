//! Each packed block's events by name, `event_block_names` (migration 20):
//! per name the block's events hold, those events' places in the block,
//! times, users, bot flags and sample rates; and a row of the empty name
//! (no event's name may be empty), the list: the names the block holds
//! (each with a check sum of its row's bytes) and its users' keys, which
//! the events name by their place in it. What a funnel reads of a block
//! wholly inside its window: only its steps' events, a fifth of the scale
//! bench's, instead of every column of every event (a block's bytes are
//! read whole, its sessions and pages too). Read instead of the block past
//! the in-memory projection's cap, when the list and the rows agree with
//! the block and each other.
//!
//! Written from the block's bytes whenever a block is packed, in the same
//! transaction ([`super::blocks`]); gone with the block: triggers delete a
//! block's rows when its row is deleted (so erasure, retention and the
//! other changes that drop a block take its users' keys with it) or its
//! bytes are written again. A block without its list (one packed before
//! migration 20, or whose rows were dropped) is read whole, and given its
//! rows by ingest, `tracking.packBlocks()` and `usertrail migrate`.
//!
//! What they cost: the block's users are listed again (once, in the list,
//! sorted and front coded), and each event's place, time, user and rate
//! packed again.

use rusqlite::{params, Connection};

use super::blocks::{self, Wanted, BLOCK_EVENTS};
use crate::error::Result;
use crate::kernel::varint::{self, unzigzag, zigzag, Reader};

/// The format of a name's rows and of a block's list.
const FORMAT: u8 = 1;

/// The name of the row listing a block's names (no event's name is empty).
pub const LIST: &str = "";

/// The columns a block's names are made of.
const WANTED: Wanted = Wanted {
    user: true,
    session: false,
    page: false,
    name: true,
};

/// A block's list: its names and its users.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct List<'a> {
    /// The names of its events, in the order of their first event.
    pub names: Vec<&'a str>,
    /// Per name, the [`sum`] of its row's bytes: a row changed, cut or
    /// swapped with another without its list is not read.
    pub sums: Vec<u64>,
    /// How many users it lists.
    users: usize,
    /// Its users' keys, each once, sorted, front coded: each as the length
    /// of the bytes it shares with the one before, the length of the rest
    /// and its bytes. Read only when a key is needed ([`List::keys`]): a
    /// window that numbered the block's users before needs none.
    coded: std::borrow::Cow<'a, [u8]>,
}

/// A list's users' keys, decoded ([`List::keys`]).
#[derive(Debug, Default)]
pub struct Keys {
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl Keys {
    /// The key of user `i` (from 0; empty past the last).
    pub fn get(&self, i: usize) -> &[u8] {
        let start = match i.checked_sub(1) {
            None => Some(0),
            Some(j) => self.ends.get(j).copied(),
        };
        start
            .zip(self.ends.get(i))
            .and_then(|(start, end)| self.bytes.get(start..*end))
            .unwrap_or_default()
    }
}

impl List<'_> {
    /// A list of `names` (their sums 0) and the users `keys` (in that
    /// order).
    pub fn new<'a>(names: Vec<&'a str>, keys: &[&[u8]]) -> List<'a> {
        let mut coded = Vec::new();
        let mut before: &[u8] = &[];
        for key in keys {
            let shared = key.iter().zip(before).take_while(|(a, b)| a == b).count();
            varint::put(&mut coded, shared as u64);
            varint::put(&mut coded, (key.len() - shared) as u64);
            coded.extend_from_slice(&key[shared..]);
            before = key;
        }
        List {
            sums: vec![0; names.len()],
            names,
            users: keys.len(),
            coded: coded.into(),
        }
    }

    /// How many users it lists.
    pub fn users(&self) -> usize {
        self.users
    }

    /// Its users' keys; `None` unless each is greater than the one before
    /// (each once, sorted, as they are written).
    pub fn keys(&self) -> Option<Keys> {
        let mut k = Keys::default();
        k.ends.reserve(self.users);
        let mut r = Reader::new(&self.coded);
        let mut start = 0;
        for _ in 0..self.users {
            let shared = usize::try_from(r.varint()?).ok()?;
            let len = r.count()?;
            let from = start;
            start = k.bytes.len();
            if shared > start - from {
                return None;
            }
            k.bytes.extend_from_within(from..from + shared);
            k.bytes.extend_from_slice(r.take(len)?);
            k.ends.push(k.bytes.len());
            if k.ends.len() > 1 && k.bytes[start..] <= k.bytes[from..start] {
                return None;
            }
        }
        Some(k)
    }

    /// The [`sum`] of its users as stored, which each name's row repeats
    /// (and a reader keeps its numbers of the users by).
    pub fn users_sum(&self) -> u64 {
        sum(&self.coded)
    }
}

/// A block's events of one name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Named {
    /// Per event (in id order): its place in the block (0 for the
    /// block's first event), so that events of several names are put back
    /// in id order (events of the same time keep that order).
    pub pos: Vec<u16>,
    /// Per event: its time, ms.
    pub ts: Vec<i64>,
    /// Per event: its user, into the block's list of users (1-based; 0
    /// for none).
    pub user: Vec<u32>,
    /// Per event: whether it is a bot's.
    pub bot: Vec<bool>,
    /// Per event: its sample rate.
    pub rate: Vec<f64>,
}

/// The rows of each name of the bytes of the block that starts at
/// `first_id`, as `(name, bytes)`, the list first (named [`LIST`]); `None`
/// when they are not a block's.
pub fn of_block(first_id: i64, data: &[u8]) -> Option<Vec<(String, Vec<u8>)>> {
    let b = blocks::decode_columns(data, WANTED)?;
    // The users, sorted (front coding shares their common beginnings);
    // per id number: the place of its user in the list, + 1.
    let mut users: Vec<usize> = b
        .user
        .iter()
        .map(|u| *u as usize)
        .filter(|u| *u != 0)
        .collect();
    users.sort_unstable();
    users.dedup();
    users.sort_unstable_by_key(|u| b.ids[u - 1]);
    let mut user_at = vec![0u32; b.ids.len() + 1];
    for (k, u) in users.iter().enumerate() {
        user_at[*u] = k as u32 + 1;
    }
    let keys: Vec<&[u8]> = users.iter().map(|u| b.ids[u - 1]).collect();
    let mut names: Vec<&str> = Vec::new();
    // Per string number: the place of its name in `named`, + 1.
    let mut at = vec![0usize; b.strings.len() + 1];
    let mut named: Vec<Named> = Vec::new();
    for i in 0..b.ts.len() {
        let s = b.name[i] as usize;
        if s == 0 {
            continue;
        }
        if at[s] == 0 {
            named.push(Named::default());
            names.push(&b.strings[s - 1]);
            at[s] = named.len();
        }
        let n = &mut named[at[s] - 1];
        n.pos.push(i as u16);
        n.ts.push(b.ts[i]);
        n.user.push(user_at[b.user[i] as usize]);
        n.bot.push(b.bot[i]);
        n.rate.push(b.rate[i]);
    }
    let mut list = List::new(names, &keys);
    let users_sum = list.users_sum();
    let rows: Vec<Vec<u8>> = named
        .iter()
        .map(|n| encode(first_id, users_sum, n))
        .collect();
    list.sums = rows.iter().map(|r| sum(r)).collect();
    let mut out = Vec::with_capacity(rows.len() + 1);
    out.push((LIST.to_owned(), encode_list(first_id, &list)));
    for (name, row) in list.names.iter().zip(rows) {
        out.push(((*name).to_owned(), row));
    }
    Some(out)
}

/// The check sum of a name's row that its list keeps: 64 bits over its
/// bytes, 8 at a time (a rotate, an xor and a multiply each, as FxHash
/// mixes), then its length. A check against damage, not a signature.
pub fn sum(data: &[u8]) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mix = |h: u64, word: &[u8]| {
        let mut w = [0u8; 8];
        w[..word.len()].copy_from_slice(word);
        (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K)
    };
    let mut chunks = data.chunks_exact(8);
    let h = (&mut chunks).fold(0, mix);
    mix(
        mix(h, chunks.remainder()),
        &(data.len() as u64).to_le_bytes(),
    )
}

/// A block's list as bytes: the format, the block's first id, the names
/// (length, bytes and the sum of the name's row, 8 bytes little-endian),
/// then the number of users and their keys, front coded ([`List`]).
pub fn encode_list(first_id: i64, list: &List<'_>) -> Vec<u8> {
    let mut out = vec![FORMAT];
    varint::put(&mut out, zigzag(first_id));
    varint::put(&mut out, list.names.len() as u64);
    for (n, sum) in list.names.iter().zip(&list.sums) {
        varint::put(&mut out, n.len() as u64);
        out.extend_from_slice(n.as_bytes());
        out.extend_from_slice(&sum.to_le_bytes());
    }
    varint::put(&mut out, list.users as u64);
    out.extend_from_slice(&list.coded);
    out
}

/// The list of the block that starts at `first_id`; `None` when the bytes
/// are not a list of this format or of that block. Its users' keys are
/// checked, not copied.
pub fn decode_list(first_id: i64, data: &[u8]) -> Option<List<'_>> {
    let mut r = Reader::new(data);
    if r.byte()? != FORMAT || unzigzag(r.varint()?) != first_id {
        return None;
    }
    let n = r.count()?;
    if n > BLOCK_EVENTS as usize {
        return None;
    }
    let mut names = Vec::with_capacity(n);
    let mut sums = Vec::with_capacity(n);
    for _ in 0..n {
        let len = r.count()?;
        names.push(std::str::from_utf8(r.take(len)?).ok()?);
        sums.push(r.u64_le()?);
    }
    let users = r.count()?;
    if users > BLOCK_EVENTS as usize {
        return None;
    }
    let coded = r.rest();
    // Each user shares no more than the key before holds.
    let mut before = 0usize;
    for _ in 0..users {
        let shared = usize::try_from(r.varint()?).ok()?;
        let len = r.count()?;
        if shared > before {
            return None;
        }
        r.take(len)?;
        before = shared + len;
    }
    r.is_done().then_some(List {
        names,
        sums,
        users,
        coded: coded.into(),
    })
}

/// One name's events as bytes: the format, the block's first id (so that
/// rows copied to another block are not read as its), the sum of its
/// list's users ([`List::users_sum`], 8 bytes little-endian: so that a list
/// whose users were changed without its rows is not read), the number of
/// events, the distinct rates (as f64 bits), then per event its place in
/// the block (less the place before and 1), its time as a zigzag delta
/// from the one before, its user (times 2, plus 1 for a bot's event), and
/// its rate's place when there is more than one rate.
pub fn encode(first_id: i64, users_sum: u64, n: &Named) -> Vec<u8> {
    let mut rates: Vec<u64> = Vec::new();
    let places: Vec<u64> = n
        .rate
        .iter()
        .map(|r| {
            let bits = r.to_bits();
            match rates.iter().position(|x| *x == bits) {
                Some(i) => i as u64,
                None => {
                    rates.push(bits);
                    (rates.len() - 1) as u64
                }
            }
        })
        .collect();
    let mut out = vec![FORMAT];
    varint::put(&mut out, zigzag(first_id));
    out.extend_from_slice(&users_sum.to_le_bytes());
    // The events all columns hold.
    let len = [
        n.pos.len(),
        n.ts.len(),
        n.user.len(),
        n.bot.len(),
        n.rate.len(),
    ];
    varint::put(&mut out, len.iter().min().copied().unwrap_or(0) as u64);
    varint::put(&mut out, rates.len() as u64);
    for r in &rates {
        out.extend_from_slice(&r.to_le_bytes());
    }
    let mut last = 0i64;
    let mut next = 0u64;
    let events = n
        .pos
        .iter()
        .zip(&n.ts)
        .zip(&n.user)
        .zip(&n.bot)
        .zip(&places);
    for ((((pos, ts), user), bot), place) in events {
        let pos = u64::from(*pos);
        varint::put(&mut out, pos.wrapping_sub(next));
        next = pos + 1;
        varint::put(&mut out, zigzag(ts.wrapping_sub(last)));
        last = *ts;
        varint::put(&mut out, (u64::from(*user) << 1) | u64::from(*bot));
        if rates.len() > 1 {
            varint::put(&mut out, *place);
        }
    }
    out
}

/// One name's events of the block that starts at `first_id`, whose list
/// is `list`, read back from their bytes; `None` when they are not of this
/// format, of that block or of that list's users, or name a user past the
/// list (the block is then read whole).
pub fn decode(first_id: i64, data: &[u8], list: &List<'_>) -> Option<Named> {
    let mut out = Named::default();
    each(first_id, data, (list.users(), list.users_sum()), |e| {
        out.pos.push(e.pos);
        out.ts.push(e.ts);
        out.user.push(e.user);
        out.bot.push(e.bot);
        out.rate.push(e.rate);
    })?;
    Some(out)
}

/// One event of a name's rows, as [`each`] reads it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Event {
    /// Its place in the block.
    pub pos: u16,
    /// Its time, ms.
    pub ts: i64,
    /// Its user, into the list (1-based; 0 for none).
    pub user: u32,
    /// Whether it is a bot's.
    pub bot: bool,
    /// Its sample rate.
    pub rate: f64,
}

/// Hands each event of one name's rows to `f` as it reads them, as
/// [`decode`] reads them (no vectors), for a list of `users` users whose
/// [`List::users_sum`] is `users_sum`. `None` as [`decode`] gives it, found
/// at the first event at fault or at the end: the events before were
/// handed on, so a caller keeps them aside until it returns `Some` (the
/// number of events).
pub fn each(
    first_id: i64,
    data: &[u8],
    (users, users_sum): (usize, u64),
    mut f: impl FnMut(Event),
) -> Option<usize> {
    let mut r = Reader::new(data);
    if r.byte()? != FORMAT || unzigzag(r.varint()?) != first_id || r.u64_le()? != users_sum {
        return None;
    }
    let rows = r.count()?;
    if rows > BLOCK_EVENTS as usize {
        return None;
    }
    let k = r.count()?;
    if k > rows {
        return None;
    }
    let mut rates = [0f64; 4];
    let mut more = Vec::new();
    for i in 0..k {
        let rate = f64::from_bits(r.u64_le()?);
        match rates.get_mut(i) {
            Some(x) => *x = rate,
            None => more.push(rate),
        }
    }
    let rate_at = |i: u64| -> Option<f64> {
        let i = usize::try_from(i).ok()?;
        if i >= k {
            return None;
        }
        Some(if i < 4 { rates[i] } else { more[i - 4] })
    };
    let mut last = 0i64;
    let mut next = 0u64;
    for _ in 0..rows {
        let pos = next.checked_add(r.varint()?)?;
        if pos >= BLOCK_EVENTS as u64 {
            return None;
        }
        next = pos + 1;
        last = last.wrapping_add(unzigzag(r.varint()?));
        let u = r.varint()?;
        if u >> 1 > users as u64 {
            return None;
        }
        let place = if k > 1 { r.varint()? } else { 0 };
        f(Event {
            pos: pos as u16,
            ts: last,
            user: (u >> 1) as u32,
            bot: u & 1 == 1,
            rate: rate_at(place)?,
        });
    }
    r.is_done().then_some(rows)
}

/// Writes block `first_id`'s rows by name from its bytes `data`, replacing
/// any. False, writing nothing, when the bytes are not a block's.
pub(super) fn write(tx: &Connection, first_id: i64, data: &[u8]) -> Result<bool> {
    let Some(rows) = of_block(first_id, data) else {
        return Ok(false);
    };
    tx.prepare_cached("DELETE FROM event_block_names WHERE first_id = ?1")?
        .execute([first_id])?;
    let mut insert = tx.prepare_cached(
        "INSERT INTO event_block_names (first_id, name, data) VALUES (?1, ?2, ?3)",
    )?;
    for (name, bytes) in rows {
        insert.execute(params![first_id, name, bytes])?;
    }
    Ok(true)
}

/// The SQL condition for a block without its list (so without rows by
/// name), on `event_blocks AS b` ([`blocks::write_missing_beside`]).
const NONE: &str = "NOT EXISTS (SELECT 1 FROM event_block_names n \
     WHERE n.first_id = b.first_id AND n.name = '')";

/// Writes the rows by name of up to `max` blocks that have no list,
/// newest first. Returns how many it wrote and how many are left.
pub(super) fn write_missing(tx: &Connection, max: usize) -> Result<(u64, u64)> {
    blocks::write_missing_beside(tx, max, NONE, write)
}

#[cfg(test)]
mod tests {
    #[cfg(all(target_family = "wasm", target_os = "unknown"))]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn a_blocks_events_are_split_by_name_and_read_back() {
        let data = blocks::packed_for_test(&[
            (5_000, "u1", "s1", "view", Some("/a")),
            (1_000, "u2", "s2", "view", Some("/b")),
            (3_000, "u2", "s2", "buy", None),
            (9_000, "u1", "s1", "view", None),
        ]);
        let rows = of_block(1, &data).unwrap();
        let names: Vec<&str> = rows.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["", "view", "buy"]);
        let list = decode_list(1, &rows[0].1).unwrap();
        assert_eq!(list.names, ["view", "buy"]);
        assert_eq!(list.users(), 2);
        let keys = list.keys().unwrap();
        assert_eq!(
            (keys.get(0), keys.get(1)),
            (b"u1".as_slice(), b"u2".as_slice())
        );
        assert_eq!(list.sums, [sum(&rows[1].1), sum(&rows[2].1)]);
        let view = decode(1, &rows[1].1, &list).unwrap();
        assert_eq!(view.pos, [0, 1, 3]);
        assert_eq!(view.ts, [5_000, 1_000, 9_000]);
        assert_eq!(view.user, [1, 2, 1]);
        assert_eq!(view.bot, [false; 3]);
        assert_eq!(view.rate, [1.0; 3]);
        let buy = decode(1, &rows[2].1, &list).unwrap();
        assert_eq!((buy.pos, buy.ts, buy.user), (vec![2], vec![3_000], vec![2]));
        // Written again from what was read: the same bytes.
        assert_eq!(encode(1, list.users_sum(), &view), rows[1].1);
        assert_eq!(encode_list(1, &list), rows[0].1);
        // Another block's: not read as this one's.
        assert!(decode(4097, &rows[1].1, &list).is_none());
        assert!(decode_list(4097, &rows[0].1).is_none());
        // A list of fewer users than the rows name: not read.
        let fewer = List::new(list.names.clone(), &[b"u1".as_slice()]);
        assert!(decode(1, &rows[1].1, &fewer).is_none());
        // Of a list of other users (as many): not read.
        let other = List::new(list.names.clone(), &[b"u1".as_slice(), b"u3"]);
        assert!(decode(1, &rows[1].1, &other).is_none());
        // Anything else is not rows by name: each cut, a byte more.
        for (_, bytes) in &rows[1..] {
            for cut in 0..bytes.len() {
                assert!(decode(1, &bytes[..cut], &list).is_none(), "cut at {cut}");
            }
            let mut longer = bytes.clone();
            longer.push(0);
            assert!(decode(1, &longer, &list).is_none());
        }
        for cut in 0..rows[0].1.len() {
            assert!(decode_list(1, &rows[0].1[..cut]).is_none(), "cut at {cut}");
        }
        assert!(decode(1, &[2, 2, 0, 0], &list).is_none(), "another format");
        assert!(of_block(1, b"not a block").is_none());
    }

    #[test]
    fn bots_rates_and_places() {
        let n = Named {
            pos: vec![0, 2, 4095],
            ts: vec![30, 10, 20],
            user: vec![1, 0, 1],
            bot: vec![false, false, true],
            rate: vec![0.5, 1.0, 0.5],
        };
        let one = List::new(vec![], &[b"u1".as_slice()]);
        let bytes = encode(8193, one.users_sum(), &n);
        assert_eq!(decode(8193, &bytes, &one).unwrap(), n);
        // Places out of order, repeated or past a block are not read.
        for pos in [vec![2, 0, 4], vec![0, 0, 4], vec![0, 1, 4096]] {
            let bad = Named { pos, ..n.clone() };
            assert!(decode(8193, &encode(8193, one.users_sum(), &bad), &one).is_none());
        }
        let empty = Named::default();
        let none = List::default();
        assert_eq!(
            decode(1, &encode(1, none.users_sum(), &empty), &none).unwrap(),
            empty
        );
        let none = List::default();
        assert_eq!(decode_list(1, &encode_list(1, &none)).unwrap(), none);
        // Users front coded, long and short, read back; not in order (or
        // twice), not given as keys.
        let users: Vec<&[u8]> = ["", "u", "user-1", "user-100", "user-2000", "zz"]
            .iter()
            .map(|k| k.as_bytes())
            .collect();
        let mut list = List::new(vec!["a"], &users);
        list.sums = vec![u64::MAX];
        let bytes = encode_list(1, &list);
        let back = decode_list(1, &bytes).unwrap();
        assert_eq!(back, list);
        let keys = back.keys().unwrap();
        let got: Vec<&[u8]> = (0..back.users()).map(|i| keys.get(i)).collect();
        assert_eq!(got, users);
        assert_eq!(keys.get(users.len()), b"", "past the last");
        assert_eq!(keys.get(usize::MAX), b"");
        for bad in [["u", "u"], ["user-2", "user-1"], ["b", "a"]] {
            let keys: Vec<&[u8]> = bad.iter().map(|k| k.as_bytes()).collect();
            let bytes = encode_list(1, &List::new(vec![], &keys));
            let list = decode_list(1, &bytes).unwrap();
            assert!(list.keys().is_none(), "{bad:?}");
        }
        // Sums differ for rows that differ by a byte, a length or an order.
        let a = sum(b"abcdefgh12345");
        for other in [
            &b"abcdefgh12346"[..],
            b"abcdefgh1234",
            b"bacdefgh12345",
            b"",
        ] {
            assert_ne!(sum(other), a);
        }
        for cut in 0..bytes.len() {
            assert!(decode_list(1, &bytes[..cut]).is_none(), "cut at {cut}");
        }
        // A user sharing more than the one before holds is not read.
        let mut bad = encode_list(1, &List::default());
        bad.pop();
        bad.extend_from_slice(&[2, 0, 1, b'a', 5, 0]);
        assert!(decode_list(1, &bad).is_none());
    }
}
