//! Ids and randomness: CSPRNG bytes, UUIDv7s, hex, and a stable hash.

use std::sync::atomic::{AtomicU16, Ordering};

/// Fills an array from the OS CSPRNG (`crypto.getRandomValues` on wasm).
///
/// # Panics
/// If the platform has no random source at all, which no supported host lacks:
/// continuing without one would issue guessable tokens.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).expect("the platform has no secure random source");
    buf
}

/// Sequence for the 12 "rand_a" bits of UUIDv7s made in this process, so
/// that ids drawn in the same millisecond still sort in the order they were
/// made (RFC 9562, 6.2, method 1). Their 62 random bits keep them unique.
static SEQUENCE: AtomicU16 = AtomicU16::new(0);

/// `N` bytes from `pool`, refilled 4 KiB at a time from the OS CSPRNG; each
/// byte is handed out once and zeroed as it is.
fn from_pool<const N: usize>(pool: &std::cell::RefCell<(Box<[u8; 4096]>, usize)>) -> [u8; N] {
    let (bytes, used) = &mut *pool.borrow_mut();
    if *used + N > bytes.len() {
        getrandom::fill(&mut bytes[..]).expect("the platform has no secure random source");
        *used = 0;
    }
    let mut out = [0u8; N];
    out.copy_from_slice(&bytes[*used..*used + N]);
    bytes[*used..*used + N].fill(0);
    *used += N;
    out
}

/// 16 random bytes for an id, from a pool refilled 4 KiB at a time: on wasm
/// each draw from the OS source is a call out to JS, which cost more than
/// the rest of an event's id. For ids that are not secret (event ids,
/// session ids); secrets come from [`pooled_secret`].
pub fn pooled_random() -> [u8; 16] {
    thread_local! {
        static POOL: std::cell::RefCell<(Box<[u8; 4096]>, usize)> =
            std::cell::RefCell::new((Box::new([0; 4096]), 4096));
    }
    POOL.with(from_pool)
}

/// 32 bytes for a secret (a session token's), from a pool of its own that
/// is refilled from the OS CSPRNG 4 KiB (128 secrets) at a time, as Node's
/// `crypto.randomUUID` caches its entropy: one call out to JS per 128
/// sessions instead of one per session (12% of a session create on wasm).
/// Bytes are zeroed as they are handed out, so the pool holds only secrets
/// not yet issued; it never shares bytes with [`pooled_random`]'s ids.
pub fn pooled_secret() -> [u8; 32] {
    thread_local! {
        static POOL: std::cell::RefCell<(Box<[u8; 4096]>, usize)> =
            std::cell::RefCell::new((Box::new([0; 4096]), 4096));
    }
    POOL.with(from_pool)
}

/// A new UUIDv7 for time `ms`: 48 bits of time, a 12-bit sequence, then 62
/// random bits. Ids made in one process sort by time, then by creation.
pub fn uuid_v7(ms: i64) -> String {
    let mut b: [u8; 16] = pooled_random();
    let ms = (ms.max(0) as u64) & 0xFFFF_FFFF_FFFF;
    b[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
    let seq = SEQUENCE.fetch_add(1, Ordering::Relaxed) & 0x0FFF;
    b[6] = 0x70 | (seq >> 8) as u8;
    b[7] = seq as u8;
    b[8] = 0x80 | (b[8] & 0x3F);
    uuid_text(&b)
}

/// A UUID (version 8) derived from `id` (a UUID's text) and `context`:
/// the same every time, unrelated to `id` but for its first 48 bits (a
/// UUIDv7's time), which it keeps so that it sorts where `id` would.
pub fn derived_uuid(id: &str, context: &[&[u8]]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"usertrail derived uuid\0");
    h.update(id.as_bytes());
    for p in context {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    let digest = h.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest[..16]);
    let time: String = id
        .chars()
        .filter(char::is_ascii_hexdigit)
        .take(12)
        .collect();
    if time.len() == 12 {
        for i in 0..6 {
            b[i] = u8::from_str_radix(&time[2 * i..2 * i + 2], 16).unwrap_or(0);
        }
    }
    b[6] = 0x80 | (b[6] & 0x0F);
    b[8] = 0x80 | (b[8] & 0x3F);
    uuid_text(&b)
}

/// The 8-4-4-4-12 lowercase text of 16 bytes.
pub fn uuid_text(b: &[u8; 16]) -> String {
    let h = hex(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0x0F)] as char);
    }
    out
}

/// The partition of `subject` among `partitions` in the analytics pipeline:
/// a stable hash, the same in every engine, on every target, forever (a
/// pipeline's data depends on it). In the kernel because privacy needs it
/// too: pseudonyms are drawn in the partition of the id they replace.
pub fn partition_of(subject: &str, partitions: u32) -> u32 {
    (fnv1a(&[b"usertrail partition\0", subject.as_bytes()]) % u64::from(partitions.max(1))) as u32
}

/// A 64-bit hash of an id's bytes for telling ids (users, sessions) apart
/// inside one process: analytics numbers them by it. SipHash-1-3 under a
/// key drawn once per process from the secure random source, so ids built
/// to collide (a client chooses its anonymous id) cannot be made offline,
/// as they can for an unkeyed hash; nothing stores it. Eight bytes a
/// round, where [`fnv1a`] multiplies once per byte.
pub fn id_hash(bytes: &[u8]) -> u64 {
    keyed_hash(id_hash_key(), bytes)
}

/// [`id_hash`] under another key: SipHash-1-3 of `bytes` under `key` (a
/// key kept with the data, for hashes that are stored).
pub fn keyed_hash(key: (u64, u64), bytes: &[u8]) -> u64 {
    siphash::<1, 3>(key, bytes)
}

/// [`id_hash`]'s key, drawn at the first call in the process. An engine
/// draws it as it opens: in Node the first draw from the secure source
/// loads the host's Web Crypto (about 14 ms on the bench machine), which is
/// the process's start-up cost, not the first query's.
pub fn id_hash_key() -> (u64, u64) {
    static KEY: std::sync::OnceLock<(u64, u64)> = std::sync::OnceLock::new();
    *KEY.get_or_init(|| {
        let k = u128::from_le_bytes(random_bytes::<16>());
        (k as u64, (k >> 64) as u64)
    })
}

/// SipHash-c-d of `bytes` under `key` (Aumasson and Bernstein's reference).
fn siphash<const C: usize, const D: usize>(key: (u64, u64), bytes: &[u8]) -> u64 {
    let mut v = [
        key.0 ^ 0x736f_6d65_7073_6575,
        key.1 ^ 0x646f_7261_6e64_6f6d,
        key.0 ^ 0x6c79_6765_6e65_7261,
        key.1 ^ 0x7465_6462_7974_6573,
    ];
    #[inline(always)]
    fn round(v: &mut [u64; 4]) {
        v[0] = v[0].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(13) ^ v[0];
        v[0] = v[0].rotate_left(32);
        v[2] = v[2].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(16) ^ v[2];
        v[0] = v[0].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(21) ^ v[0];
        v[2] = v[2].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(17) ^ v[2];
        v[2] = v[2].rotate_left(32);
    }
    let compress = |v: &mut [u64; 4], m: u64| {
        v[3] ^= m;
        for _ in 0..C {
            round(v);
        }
        v[0] ^= m;
    };
    let mut words = bytes.chunks_exact(8);
    for w in &mut words {
        let mut b = [0u8; 8];
        b.copy_from_slice(w);
        compress(&mut v, u64::from_le_bytes(b));
    }
    let rest = words.remainder();
    let mut b = [0u8; 8];
    b[..rest.len()].copy_from_slice(rest);
    b[7] = bytes.len() as u8;
    compress(&mut v, u64::from_le_bytes(b));
    v[2] ^= 0xff;
    for _ in 0..D {
        round(&mut v);
    }
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

/// FNV-1a, 64 bits, over length-delimited parts: stable across targets and
/// releases, for sampling and assignment decisions (not for security).
pub fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in *part {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The SQL that reads a 16-byte id in the column `$col` (such as
/// `events.event_id`, since migration 10) back as lowercase UUID text
/// (8-4-4-4-12), the form the API uses.
macro_rules! uuid_text_sql {
    ($col:literal) => {
        concat!(
            "lower(substr(hex(",
            $col,
            "), 1, 8) || '-' || substr(hex(",
            $col,
            "), 9, 4) || '-' || ",
            "substr(hex(",
            $col,
            "), 13, 4) || '-' || substr(hex(",
            $col,
            "), 17, 4) || '-' || ",
            "substr(hex(",
            $col,
            "), 21))"
        )
    };
}
pub(crate) use uuid_text_sql;

#[cfg(test)]
mod tests {
    #[cfg(all(target_family = "wasm", target_os = "unknown"))]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn uuid_v7_carries_the_time_and_the_version() {
        let id = uuid_v7(0x0123_4567_89AB);
        assert_eq!(&id[..13], "01234567-89ab");
        assert_eq!(&id[14..15], "7");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"));
        assert!(uuid_v7(1) < uuid_v7(2), "v7 ids sort by time");
    }

    #[test]
    fn uuid_v7s_made_in_one_millisecond_sort_in_creation_order() {
        let ids: Vec<String> = (0..200).map(|_| uuid_v7(5)).collect();
        // The 12-bit sequence may wrap once (other tests draw ids too).
        let inversions = ids.windows(2).filter(|w| w[0] >= w[1]).count();
        assert!(inversions <= 1, "{inversions} out-of-order ids");
    }

    /// SipHash-2-4 gives the reference vectors (key 00..0f, message
    /// 00..n-1); SipHash-1-3 with a zero key is what std's `DefaultHasher`
    /// computes; `id_hash` is keyed, so it is not (with odds of 2^-64).
    #[test]
    fn siphash_matches_its_references() {
        let key = (0x0706_0504_0302_0100, 0x0f0e_0d0c_0b0a_0908);
        let msg: Vec<u8> = (0..64u8).collect();
        for (n, want) in [
            (0, 0x726f_db47_dd0e_0e31u64),
            (1, 0x74f8_39c5_93dc_67fd),
            (2, 0x0d6c_8009_d9a9_4f5a),
            (3, 0x8567_6696_d7fb_7e2d),
        ] {
            assert_eq!(siphash::<2, 4>(key, &msg[..n]), want, "{n} bytes");
        }
        for n in [0, 1, 7, 8, 9, 16, 36, 64] {
            use std::hash::Hasher;
            let mut std = std::collections::hash_map::DefaultHasher::new();
            std.write(&msg[..n]);
            assert_eq!(
                siphash::<1, 3>((0, 0), &msg[..n]),
                std.finish(),
                "{n} bytes"
            );
        }
        assert_eq!(id_hash(b"user-1"), id_hash(b"user-1"));
        assert_ne!(id_hash(b"user-1"), siphash::<1, 3>((0, 0), b"user-1"));
    }

    #[test]
    fn hex_and_fnv_are_stable() {
        assert_eq!(hex(&[0, 15, 16, 255]), "000f10ff");
        assert_eq!(fnv1a(&[]), 0xcbf2_9ce4_8422_2325);
        assert_ne!(
            fnv1a(&[b"ab", b"c"]),
            fnv1a(&[b"a", b"bc"]),
            "parts are delimited"
        );
        assert_eq!(
            uuid_text(&[0xab; 16]),
            "abababab-abab-abab-abab-abababababab"
        );
    }
}
