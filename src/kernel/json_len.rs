//! The length of a JSON text as the engine writes it back
//! (`Value::to_string`), found by reading the text without building the
//! value: so a size limit (a `json` preference's `maxBytes`, a session
//! state's) is checked before a value far larger in memory than in text
//! (an array of a million zeros) is built, and refused without it.

use std::collections::HashSet;
use std::fmt;
use std::io;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Serialize;

/// The bytes `value` takes as JSON, or `None` when the text is not one
/// JSON value, or when the length cannot be told without the value (an
/// object with a key twice, which the value keeps once).
pub fn written_len(text: &str) -> Option<usize> {
    let mut de = serde_json::Deserializer::from_str(text);
    let len = Written::deserialize(&mut de).ok()?.0;
    de.end().ok()?;
    Some(len)
}

/// Counts the bytes written to it.
struct Counter(usize);

impl io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The bytes serde_json writes for `value`.
fn len_of<T: Serialize + ?Sized>(value: &T) -> usize {
    let mut c = Counter(0);
    // A count cannot fail to be written.
    let _ = serde_json::to_writer(&mut c, value);
    c.0
}

/// One value's written length.
struct Written(usize);

impl<'de> Deserialize<'de> for Written {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(Each)
    }
}

/// An object's key, kept to find a key given twice.
struct Key(String);

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Key)
    }
}

struct Each;

impl<'de> Visitor<'de> for Each {
    type Value = Written;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, b: bool) -> Result<Written, E> {
        Ok(Written(if b { 4 } else { 5 }))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Written, E> {
        Ok(Written(len_of(&serde_json::Number::from(n))))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Written, E> {
        Ok(Written(len_of(&serde_json::Number::from(n))))
    }

    fn visit_f64<E>(self, x: f64) -> Result<Written, E> {
        // As `Value` holds it: a number, or `null` for what JSON cannot be.
        Ok(Written(match serde_json::Number::from_f64(x) {
            Some(n) => len_of(&n),
            None => 4,
        }))
    }

    fn visit_str<E>(self, s: &str) -> Result<Written, E> {
        Ok(Written(len_of(s)))
    }

    fn visit_unit<E>(self) -> Result<Written, E> {
        Ok(Written(4))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Written, A::Error> {
        let (mut len, mut n) = (2usize, 0usize);
        while let Some(Written(item)) = seq.next_element()? {
            len = len.saturating_add(item);
            n += 1;
        }
        Ok(Written(len.saturating_add(n.saturating_sub(1))))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Written, A::Error> {
        let (mut len, mut n) = (2usize, 0usize);
        let mut keys = HashSet::new();
        while let Some((Key(key), Written(value))) = map.next_entry()? {
            len = len
                .saturating_add(len_of(key.as_str()) + 1)
                .saturating_add(value);
            n += 1;
            if !keys.insert(key) {
                return Err(serde::de::Error::custom("a key given twice"));
            }
        }
        Ok(Written(len.saturating_add(n.saturating_sub(1))))
    }
}

#[cfg(test)]
mod tests {
    use super::written_len;
    use serde_json::Value;

    /// The length found is the length `Value::to_string` writes, for text
    /// written otherwise (spaces, escapes, number forms).
    #[test]
    fn the_length_is_what_the_value_writes() {
        for text in [
            "null",
            "true",
            "false",
            "0",
            "-0",
            "-0.0",
            "100000000000000000000",
            "1e20",
            "0.000001",
            "1.5e300",
            "-9223372036854775808",
            "18446744073709551615",
            "12345678901234567890123",
            "3.14159",
            "\"\"",
            "\"a\\u0041\\n\\u0001 \\\"q\\\" \\/ é 😀 \\ud83d\\ude00\"",
            "[]",
            "{}",
            " [ 1 , 2 ,\n 3 ] ",
            "{\"a\": {\"b\": [1, {\"c\": null}]}, \"\\u0064\": \"x\"}",
            "[[[[[]]]], {}, [{}], \"x\"]",
        ] {
            let value: Value = serde_json::from_str(text).unwrap();
            assert_eq!(written_len(text), Some(value.to_string().len()), "{text}");
        }
        // Not one value, or a key twice: not told.
        for text in [
            "",
            "[1,",
            "1 2",
            "{\"a\":1,\"a\":2}",
            "[{\"b\":[], \"b\":0}]",
        ] {
            assert_eq!(written_len(text), None, "{text}");
        }
    }
}
