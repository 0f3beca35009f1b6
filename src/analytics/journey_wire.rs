//! Journeys as a `paths` partial carries them: each distinct item once, in
//! the partial's `items`, and each journey as the numbers of its items and
//! its count, `[[0, 4, 2], [[1, 3]]]`. A partial of the scale bench's 1M
//! events (100,000 sessions) was 6.9 MB of JSON with every journey's items
//! written out, which put a site-wide `paths` over about 450,000 sessions
//! past what `merge` reads; numbered, it is about a third of that.
//!
//! Partials of engines before the numbering (`{ "steps": [...], "count":
//! ... }` per journey, no `items`) are still read, so that a deployment
//! merges while its workers are upgraded one at a time.

use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::ser::SerializeTuple;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::journeys::{bad_partial, JourneyTally};
use super::scan::FastMap;
use crate::error::Result;
use crate::kernel::tally::Tally;

/// One journey of a partial: numbered (what engines write) or named (what
/// engines wrote before).
#[derive(Debug, Clone, PartialEq)]
pub enum JourneyEntry {
    /// The numbers of its items in the partial's `items`, and its count.
    Numbered(Vec<u32>, Tally),
    /// Its items as strings, and its count.
    Named(JourneyTally),
}

impl Serialize for JourneyEntry {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            JourneyEntry::Numbered(steps, count) => {
                let mut t = s.serialize_tuple(2)?;
                t.serialize_element(steps)?;
                t.serialize_element(count)?;
                t.end()
            }
            JourneyEntry::Named(j) => j.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for JourneyEntry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Entry;
        impl<'de> Visitor<'de> for Entry {
            type Value = JourneyEntry;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a journey: [item numbers, count]")
            }
            fn visit_seq<A: SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<JourneyEntry, A::Error> {
                let steps: Vec<u32> = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(0, &self))?;
                let count: Tally = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(1, &self))?;
                if seq.next_element::<IgnoredAny>()?.is_some() {
                    return Err(de::Error::invalid_length(3, &self));
                }
                Ok(JourneyEntry::Numbered(steps, count))
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                map: A,
            ) -> std::result::Result<JourneyEntry, A::Error> {
                JourneyTally::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(JourneyEntry::Named)
            }
        }
        d.deserialize_any(Entry)
    }
}

/// A partial's journeys with every item numbered in `items`.
pub(super) struct Numbered {
    /// Each distinct item, once.
    pub items: Vec<String>,
    /// Each journey's item numbers and count.
    pub journeys: Vec<(Vec<u32>, Tally)>,
    /// The first item of `items` as given that no numbered journey takes,
    /// if any: refused once the journeys are checked ([`Numbered::all_taken`]),
    /// so that a journey at fault is named before an item it left untaken.
    untaken: Option<usize>,
}

impl Numbered {
    /// Refuses an item listed that no numbered journey takes (an engine
    /// lists only the items its journeys take).
    pub(super) fn all_taken(&self) -> Result<()> {
        match self.untaken {
            Some(i) => Err(bad_partial(
                &format!("items[{i}]"),
                "is taken by no numbered journey",
            )),
            None => Ok(()),
        }
    }
}

/// `journeys` numbered in `items`: a named journey's items are numbered
/// too (added to `items` when absent). Refused: an item listed twice (two
/// numbers for one item would let one journey be listed twice) and a
/// number past `items`; an item no numbered journey takes is noted, for
/// [`Numbered::all_taken`].
pub(super) fn numbered(items: Vec<String>, journeys: Vec<JourneyEntry>) -> Result<Numbered> {
    let mut index: FastMap<String, u32> = FastMap::default();
    for (i, s) in items.iter().enumerate() {
        if index.insert(s.clone(), i as u32).is_some() {
            return Err(bad_partial(&format!("items[{i}]"), "is listed twice"));
        }
    }
    // What `items` lists, and which of them a numbered journey takes: a
    // number only a named journey's item gave (one partial in both
    // forms), or an item no journey takes, is not what an engine writes.
    let listed = items.len();
    let mut taken = vec![false; listed];
    let mut items = items;
    let journeys = journeys
        .into_iter()
        .enumerate()
        .map(|(i, j)| match j {
            JourneyEntry::Numbered(steps, count) => {
                for n in &steps {
                    match taken.get_mut(*n as usize) {
                        Some(t) => *t = true,
                        None => {
                            return Err(bad_partial(
                                &format!("journeys[{i}]"),
                                "numbers an item that `items` does not hold",
                            ))
                        }
                    }
                }
                Ok((steps, count))
            }
            JourneyEntry::Named(JourneyTally { steps, count }) => {
                let steps = steps
                    .into_iter()
                    .map(|s| {
                        *index.entry(s).or_insert_with_key(|s| {
                            items.push(s.clone());
                            (items.len() - 1) as u32
                        })
                    })
                    .collect();
                Ok((steps, count))
            }
        })
        .collect::<Result<_>>()?;
    let untaken = taken.iter().position(|t| !*t);
    Ok(Numbered {
        items,
        journeys,
        untaken,
    })
}

#[cfg(test)]
mod tests {
    #[cfg(all(target_family = "wasm", target_os = "unknown"))]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use serde_json::json;

    use super::*;
    use crate::error::ErrorCode;

    fn tally(v: serde_json::Value) -> Tally {
        serde_json::from_value(v).unwrap()
    }

    fn entry(v: serde_json::Value) -> std::result::Result<JourneyEntry, serde_json::Error> {
        serde_json::from_value(v)
    }

    #[test]
    fn a_journey_reads_numbered_or_named_and_writes_numbered() {
        let one = tally(json!([[1.0, 3]]));
        let numbered = entry(json!([[0, 2, 1], [[1.0, 3]]])).unwrap();
        assert_eq!(numbered, JourneyEntry::Numbered(vec![0, 2, 1], one.clone()));
        assert_eq!(
            serde_json::to_value(&numbered).unwrap(),
            json!([[0, 2, 1], [[1.0, 3]]])
        );
        let named = entry(json!({ "steps": ["/a", "/b"], "count": [[1.0, 3]] })).unwrap();
        assert_eq!(
            named,
            JourneyEntry::Named(JourneyTally {
                steps: vec!["/a".into(), "/b".into()],
                count: one,
            })
        );
        for bad in [
            json!([[0, 1]]),
            json!([[0, 1], [[1.0, 1]], 3]),
            json!([[-1], [[1.0, 1]]]),
            json!([["a"], [[1.0, 1]]]),
            json!([]),
            json!({ "steps": ["/a"], "count": [[1.0, 1]], "x": 1 }),
            json!({ "steps": ["/a"] }),
            json!("/a"),
            json!(7),
        ] {
            assert!(entry(bad.clone()).is_err(), "{bad}");
        }
    }

    #[test]
    fn named_journeys_are_numbered_and_items_listed_twice_refused() {
        let c = || tally(json!([[1.0, 1]]));
        let n = numbered(
            vec!["/a".into(), "/b".into()],
            vec![
                JourneyEntry::Numbered(vec![1, 0], c()),
                JourneyEntry::Named(JourneyTally {
                    steps: vec!["/b".into(), "/c".into()],
                    count: c(),
                }),
            ],
        )
        .unwrap();
        assert_eq!(n.items, ["/a", "/b", "/c"]);
        assert_eq!(n.journeys, [(vec![1, 0], c()), (vec![1, 2], c())]);
        let twice = numbered(vec!["/a".into(), "/a".into()], Vec::new());
        let err = twice.err().unwrap();
        assert_eq!(err.code(), "INVALID_INPUT");
        assert!(
            err.to_string().contains("items[1] is listed twice"),
            "{err}"
        );
        // A number only a named journey's item gave, and an item no
        // numbered journey takes: one partial in both forms, refused.
        let mixed = numbered(
            vec!["/a".into()],
            vec![
                JourneyEntry::Numbered(vec![0, 1], c()),
                JourneyEntry::Named(JourneyTally {
                    steps: vec!["/b".into()],
                    count: c(),
                }),
            ],
        );
        let err = mixed.err().unwrap();
        assert!(
            err.to_string().contains("journeys[0] numbers an item"),
            "{err}"
        );
        let unused = numbered(
            vec!["/a".into(), "/b".into()],
            vec![JourneyEntry::Numbered(vec![1], c())],
        )
        .unwrap();
        let err = unused.all_taken().err().unwrap();
        assert!(err.to_string().contains("items[0] is taken by no"), "{err}");
    }
}
