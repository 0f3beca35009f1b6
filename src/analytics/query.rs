//! What every analytics query shares: the time range, the filters, the
//! time zone, and how they become SQL.

use rusqlite::types::Value as SqlValue;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::{Error, Result, TrackingError};
use crate::tracking::{EventType, Registry, SimpleType};

pub use crate::kernel::calendar::{civil, days_from_civil, DAY_MS, HOUR_MS};
/// The default range when `since` is absent: 30 days before `until`.
const DEFAULT_SPAN_MS: i64 = 30 * DAY_MS;
/// The widest time zone offset there is, in minutes (UTC+14:00).
const MAX_OFFSET_MIN: i32 = 14 * 60;

/// The keys of [`Query`], as JS spells them.
pub const QUERY_KEYS: &[&str] = &[
    "since",
    "until",
    "eventType",
    "name",
    "dimension",
    "segment",
    "timezone",
    "includeBots",
];

/// One event name or several.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Names {
    /// One name.
    One(String),
    /// Any of these names.
    Many(Vec<String>),
}

/// A scalar to compare a dimension or property with.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Scalar {
    /// A boolean; stored JSON booleans compare as 1 and 0.
    Bool(bool),
    /// A number.
    Number(f64),
    /// A string.
    String(String),
}

impl Scalar {
    fn sql(&self) -> SqlValue {
        match self {
            Self::Bool(b) => SqlValue::Integer(i64::from(*b)),
            Self::Number(n) => SqlValue::Real(*n),
            Self::String(s) => SqlValue::Text(s.clone()),
        }
    }
}

/// Keep only events whose registered dimension `name` equals `value`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DimensionFilter {
    /// The dimension, as given to `defineDimension`.
    pub name: String,
    /// The value to keep.
    pub value: Scalar,
}

/// Keep only users whose first event ever has `property` equal to `equals`.
///
/// `property` is a stored field (`type`, `name`, `path`, `url`, `referrer`,
/// `browser`, `os`, `device`), or `properties.<key>` or `dimensions.<key>`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Segment {
    /// The field of the user's first event.
    pub property: String,
    /// The value it must have.
    pub equals: Scalar,
}

/// The part every analytics query shares.
///
/// The range is half-open, `[since, until)`, in ms since the epoch. `until`
/// defaults to the clock's now (inclusive: now + 1 ms) and `since` to 30
/// days before `until`. Day, week and month buckets are taken in the fixed
/// UTC offset `timezone`, in minutes (east positive; default 0). Weeks start
/// on Monday.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Query {
    /// Start of the range, inclusive, in ms.
    #[serde(default, deserialize_with = "crate::kernel::calendar::optional_ms")]
    pub since: Option<i64>,
    /// End of the range, exclusive, in ms.
    #[serde(default, deserialize_with = "crate::kernel::calendar::optional_ms")]
    pub until: Option<i64>,
    /// Keep only events of this type.
    pub event_type: Option<EventType>,
    /// Keep only events with this name, or one of these names.
    pub name: Option<Names>,
    /// Keep only events with this dimension value.
    #[serde(default, deserialize_with = "object")]
    pub dimension: Option<DimensionFilter>,
    /// Keep only users in this segment.
    #[serde(default, deserialize_with = "object")]
    pub segment: Option<Segment>,
    /// Fixed UTC offset in minutes for calendar buckets, -840 to 840.
    pub timezone: Option<i32>,
    /// Count crawlers and scripts too (events whose device class is
    /// `bot`). Default false: bots are not users, so their events are
    /// left out of every metric.
    pub include_bots: Option<bool>,
}

/// An option that is an object, read as `T` (serde would take an array
/// of its fields in order too: `dimension: ['plan', 'pro']`). An error
/// inside a value starts by naming its key (`` at `equals`: ``), which
/// [`at_fault`] makes the field (`segment.equals`).
fn object<'de, D, T>(d: D) -> std::result::Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct Object<T>(std::marker::PhantomData<T>);
    impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for Object<T> {
        type Value = Option<T>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an object")
        }
        fn visit_none<E: serde::de::Error>(self) -> std::result::Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: serde::de::Error>(self) -> std::result::Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<S: serde::Deserializer<'de>>(
            self,
            d: S,
        ) -> std::result::Result<Self::Value, S::Error> {
            d.deserialize_map(self)
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            map: A,
        ) -> std::result::Result<Self::Value, A::Error> {
            use serde::de::Error as _;
            let mut keyed = Keyed { map, key: None };
            T::deserialize(serde::de::value::MapAccessDeserializer::new(&mut keyed))
                .map(Some)
                .map_err(|e| match keyed.key {
                    Some(k) => A::Error::custom(format!("at `{k}`: {e}")),
                    None => e,
                })
        }
    }
    /// A map that remembers the key whose value is being read.
    struct Keyed<A> {
        map: A,
        key: Option<String>,
    }
    impl<'de, A: serde::de::MapAccess<'de>> serde::de::MapAccess<'de> for Keyed<A> {
        type Error = A::Error;
        fn next_key_seed<K: serde::de::DeserializeSeed<'de>>(
            &mut self,
            seed: K,
        ) -> std::result::Result<Option<K::Value>, A::Error> {
            use serde::de::IntoDeserializer as _;
            let Some(key) = self.map.next_key::<String>()? else {
                return Ok(None);
            };
            let read = seed.deserialize(key.as_str().into_deserializer())?;
            self.key = Some(key);
            Ok(Some(read))
        }
        fn next_value_seed<V: serde::de::DeserializeSeed<'de>>(
            &mut self,
            seed: V,
        ) -> std::result::Result<V::Value, A::Error> {
            let value = self.map.next_value_seed(seed)?;
            self.key = None;
            Ok(value)
        }
    }
    d.deserialize_option(Object(std::marker::PhantomData))
}

/// A [`Query`] checked and resolved against the clock.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// Start, inclusive.
    pub since: i64,
    /// End, exclusive.
    pub until: i64,
    /// The offset in ms.
    pub offset_ms: i64,
    /// SQL conditions on `events`, ANDed; empty when there are no filters.
    pub conds: Vec<String>,
    /// Their parameters, in order, numbered after the range's two.
    pub params: Vec<SqlValue>,
    /// Bots' events are left out (the last of `conds` says so).
    pub bots_left_out: bool,
    /// The names the `name` filter keeps (one of `conds` says so).
    pub names: Option<Vec<String>>,
    /// The type the `eventType` filter keeps (one of `conds` says so).
    pub event_type: Option<EventType>,
    /// The `dimension` filter's JSON path and the value it keeps (one of
    /// `conds` says so, with [`DIMENSION_TEST_SQL`]).
    pub dimension: Option<(String, SqlValue)>,
    /// The `segment` filter (one of `conds` says so).
    pub segment: Option<SegmentTest>,
}

/// A segment: users one of whose first events (those at their least time)
/// has `field` equal to `equals`, as SQLite compares them (a column's text
/// affinity for a stored field, none for a dimension or a property).
#[derive(Debug, Clone)]
pub struct SegmentTest {
    /// The first event's field tested.
    pub field: SegmentField,
    /// The value it must equal.
    pub equals: SqlValue,
}

/// The field a [`SegmentTest`] reads.
#[derive(Debug, Clone, PartialEq)]
pub enum SegmentField {
    /// The event's name.
    Name,
    /// The event's type.
    Type,
    /// A dimension, by its JSON path.
    Dimension(String),
    /// A stored field the blocks do not keep (`path`, `url`, `referrer`,
    /// `browser`, `os`, `device`), by its column: read from SQLite for the
    /// users' first events alone.
    Column(&'static str),
    /// A key of the event's `properties`, by its JSON path: read as a
    /// [`SegmentField::Column`] is.
    Property(String),
}

impl Resolved {
    /// True when no filter narrows the events but the default one that
    /// leaves bots out (the rollups, which count no bots, answer then).
    pub fn unfiltered(&self) -> bool {
        self.bots_left_out && self.only_bots_filter()
    }

    /// True when the only filter is the default one that leaves bots out,
    /// or there is none.
    pub fn only_bots_filter(&self) -> bool {
        self.conds.len() == usize::from(self.bots_left_out)
    }

    /// True when no filter but the bots', the names', the type's, the
    /// dimension's and a segment on a name, a type or a dimension narrows
    /// the events: the packed blocks, which hold every event's name, type
    /// and user and beside them its dimensions, answer then (the in-memory
    /// projection, without a dimension or a segment).
    pub fn only_packed_filters(&self) -> bool {
        self.conds.len()
            == usize::from(self.bots_left_out)
                + usize::from(self.names.is_some())
                + usize::from(self.event_type.is_some())
                + usize::from(self.dimension.is_some())
                + usize::from(self.segment.is_some())
    }

    /// ` AND cond AND cond` for the filters, or an empty string.
    pub fn where_sql(&self) -> String {
        self.conds.iter().map(|c| format!(" AND {c}")).collect()
    }
}

/// A JSON path to the top-level `key`, quoted so dots and brackets in the
/// key are literal.
pub fn json_key_path(field: &str, key: &str) -> Result<String> {
    crate::kernel::text::check_key(field, key, 200)?;
    Ok(format!("$.\"{key}\""))
}

/// Checks that `name` is a registered dimension and returns its JSON path
/// (`field` names the option that gave it).
pub fn dimension_path(registry: &Registry, field: &str, name: &str) -> Result<String> {
    // The name's own checks first, so that an error's message never holds
    // a name longer than a path may be.
    let path = json_key_path(field, name)?;
    if !registry.has_dimension(name) {
        return Err(TrackingError::UnknownDimension {
            name: name.into(),
            field: field.into(),
        }
        .into());
    }
    Ok(path)
}

/// Refuses to compare the dimension `name` with a value its declared type
/// never holds (a string dimension with a number, a bool one with `1`):
/// such a filter would keep nothing, silently.
fn check_value(registry: &Registry, field: &str, name: &str, value: &Scalar) -> Result<()> {
    let Some(ty) = registry.dimension_type(name) else {
        return Ok(());
    };
    let fits = match ty {
        SimpleType::String => matches!(value, Scalar::String(_)),
        SimpleType::Number => matches!(value, Scalar::Number(_)),
        SimpleType::Bool => matches!(value, Scalar::Bool(_)),
        SimpleType::Object => true,
    };
    if fits {
        return Ok(());
    }
    Err(Error::invalid(
        field,
        format!("must be {}: {name:?} is {} dimension", ty.name(), ty.name()),
    ))
}

/// The SQL expression for a stored field of `events`, for segments.
/// The stored fields of `events` a segment may test: all text.
const SEGMENT_COLUMNS: &[&str] = &[
    "type", "name", "path", "url", "referrer", "browser", "os", "device",
];

fn field_sql(registry: &Registry, property: &str, params: &mut Vec<SqlValue>) -> Result<String> {
    if SEGMENT_COLUMNS.contains(&property) {
        return Ok(property.to_owned());
    }
    if let Some(prefix) = ["properties.", "dimensions."]
        .into_iter()
        .find(|p| property == *p)
    {
        return Err(Error::invalid(
            "segment.property",
            format!("names no key after {prefix}"),
        ));
    }
    let (column, path) = if let Some(key) = property.strip_prefix("properties.") {
        ("properties", json_key_path("segment.property", key)?)
    } else if let Some(key) = property.strip_prefix("dimensions.") {
        (
            "dimensions",
            dimension_path(registry, "segment.property", key)?,
        )
    } else {
        return Err(Error::invalid(
            "segment.property",
            format!(
                "must be one of {} or properties.<key> or dimensions.<key>",
                SEGMENT_COLUMNS.join(", ")
            ),
        ));
    };
    params.push(SqlValue::Text(path));
    Ok(format!("json_extract({column}, ?{})", params.len() + 2))
}

/// The `dimension` filter's condition: the value at the JSON path `?P` of
/// an event's `dimensions` equals `?V` (a bool filter compares with 1 or
/// 0, as `json_extract` gives JSON booleans). The SQL scan and the packed
/// blocks' dimensions ([`crate::tracking::dims`]) both evaluate this text,
/// so they keep the same events.
pub const DIMENSION_TEST_SQL: &str = "json_extract(dimensions, ?P) = ?V";

/// `COALESCE(user_id, anonymous_id)`: who an event counts for.
pub const USER_KEY: &str = "COALESCE(user_id, anonymous_id)";

impl Query {
    /// Checks the query and turns its filters into SQL, with `now` from the
    /// engine's clock.
    pub fn resolve(&self, now: i64, registry: &Registry) -> Result<Resolved> {
        let until = self.until.unwrap_or(now.saturating_add(1));
        let since = self
            .since
            .unwrap_or(until.saturating_sub(DEFAULT_SPAN_MS).max(0));
        if since < 0 {
            return Err(Error::invalid("since", "must not be negative"));
        }
        if until < 0 {
            return Err(Error::invalid("until", "must not be negative"));
        }
        if since >= until {
            return Err(Error::invalid("until", "must be after since"));
        }
        let tz = self.timezone.unwrap_or(0);
        if tz.abs() > MAX_OFFSET_MIN {
            return Err(Error::invalid(
                "timezone",
                "must be an offset in minutes from -840 to 840",
            ));
        }
        let mut conds = Vec::new();
        let mut params: Vec<SqlValue> = Vec::new();
        if let Some(t) = self.event_type {
            params.push(SqlValue::Text(t.as_str().into()));
            conds.push(format!("type = ?{}", params.len() + 2));
        }
        let mut kept_names = None;
        if let Some(names) = &self.name {
            let names: Vec<&String> = match names {
                Names::One(n) => vec![n],
                Names::Many(v) => v.iter().collect(),
            };
            kept_names = Some(names.iter().map(|n| (*n).clone()).collect());
            if names.is_empty() || names.len() > 100 {
                return Err(Error::invalid("name", "must be 1 to 100 names"));
            }
            let many = matches!(&self.name, Some(Names::Many(_)));
            let mut marks = Vec::new();
            for (i, n) in names.into_iter().enumerate() {
                let field = if many {
                    format!("name[{i}]")
                } else {
                    "name".into()
                };
                crate::kernel::text::check(&field, n, 800)?;
                params.push(SqlValue::Text(n.clone()));
                marks.push(format!("?{}", params.len() + 2));
            }
            conds.push(format!("name IN ({})", marks.join(", ")));
        }
        let mut dimension = None;
        if let Some(d) = &self.dimension {
            let path = dimension_path(registry, "dimension.name", &d.name)?;
            check_value(registry, "dimension.value", &d.name, &d.value)?;
            params.push(SqlValue::Text(path.clone()));
            params.push(d.value.sql());
            conds.push(
                DIMENSION_TEST_SQL
                    .replace("?P", &format!("?{}", params.len() + 1))
                    .replace("?V", &format!("?{}", params.len() + 2)),
            );
            dimension = Some((path, d.value.sql()));
        }
        let mut segment = None;
        if let Some(s) = &self.segment {
            let field = field_sql(registry, &s.property, &mut params)?;
            // A stored field is text: a number or a boolean would be
            // compared as SQLite's text of it (`1` as `'1.0'`), never what
            // was meant.
            if SEGMENT_COLUMNS.contains(&s.property.as_str())
                && !matches!(s.equals, Scalar::String(_))
            {
                return Err(Error::invalid(
                    "segment.equals",
                    format!("must be a string: {} is text", s.property),
                ));
            }
            let field_tested = match s.property.as_str() {
                "name" => SegmentField::Name,
                "type" => SegmentField::Type,
                p => {
                    if let Some(column) = SEGMENT_COLUMNS.iter().find(|c| **c == p) {
                        SegmentField::Column(column)
                    } else if let Some(key) = p.strip_prefix("dimensions.") {
                        check_value(registry, "segment.equals", key, &s.equals)?;
                        SegmentField::Dimension(dimension_path(registry, "segment.property", key)?)
                    } else {
                        // field_sql checked the key.
                        let key = p.strip_prefix("properties.").unwrap_or(p);
                        SegmentField::Property(json_key_path("segment.property", key)?)
                    }
                }
            };
            segment = Some(SegmentTest {
                field: field_tested,
                equals: s.equals.sql(),
            });
            params.push(s.equals.sql());
            let value = params.len() + 2;
            // A user's first events are those at their least time; the
            // user is in the segment when one of them passes (so events
            // stamped with one time, as a batch without times is, answer
            // the same whichever is read first).
            conds.push(format!(
                "{USER_KEY} IN (SELECT k FROM (SELECT {USER_KEY} AS k, MIN(ts) AS t, \
                 MIN(CASE WHEN {field} = ?{value} THEN ts END) AS p \
                 FROM events WHERE {USER_KEY} IS NOT NULL GROUP BY k) WHERE p = t)"
            ));
        }
        let bots_left_out = !self.include_bots.unwrap_or(false);
        if bots_left_out {
            conds.push("device IS NOT 'bot'".to_owned());
        }
        Ok(Resolved {
            since,
            until,
            offset_ms: i64::from(tz) * 60_000,
            conds,
            params,
            bots_left_out,
            names: kept_names,
            event_type: self.event_type,
            dimension,
            segment,
        })
    }
}

/// Splits one options object into the shared [`Query`] and a query's own
/// options `T`, refusing keys that belong to neither. JS passes one object;
/// Rust callers build the two parts directly.
pub fn split<T: DeserializeOwned + Default>(options: Map<String, Value>) -> Result<(Query, T)> {
    let mut own = Map::new();
    let mut shared = Map::new();
    for (k, v) in options {
        if QUERY_KEYS.contains(&k.as_str()) {
            shared.insert(k, v);
        } else {
            own.insert(k, v);
        }
    }
    let query: Query = read(shared, "query")?;
    let own: T = read(own, "options")?;
    Ok((query, own))
}

/// How many keys [`read`] tries leaving out to find the one at fault.
const MAX_TRIED_KEYS: usize = 16;

/// How many items of a list [`read`] tries alone to find the one at fault
/// (no query takes longer lists: 1,000 features at most).
const MAX_TRIED_ITEMS: usize = 10_000;

/// `options` read as `T`. An error names the option at fault, as
/// docs/ERRORS.md promises: an unknown key serde names, else the key whose
/// removal changes the error (the first serde met), else a missing one,
/// else `whole`; a fault inside an option is named by that option. Found
/// by reading again, not by a path-tracking deserializer, which would cost
/// the package another copy of every options type's code.
fn read<T: DeserializeOwned>(options: Map<String, Value>, whole: &str) -> Result<T> {
    match serde_json::from_value::<T>(Value::Object(options.clone())) {
        Ok(v) => Ok(v),
        Err(e) => Err(at_fault(&options, whole, &e.to_string(), &|m| {
            serde_json::from_value::<T>(Value::Object(m))
                .err()
                .map(|e| e.to_string())
        })),
    }
}

/// The error [`read`] gives for `first`, serde's message on `options`;
/// `try_read` reads other options the same way (its error, if any). Not
/// generic, so that each options type adds only its reading.
fn at_fault(
    options: &Map<String, Value>,
    whole: &str,
    first: &str,
    try_read: &dyn Fn(Map<String, Value>) -> Option<String>,
) -> Error {
    // Each try copies the options: bounded, as an options object with more
    // keys than any query has is refused by its unknown ones anyway.
    let fails_alike = |without: Map<String, Value>| try_read(without).as_deref() == Some(first);
    let without = |key: &str| {
        let mut without = options.clone();
        without.remove(key);
        without
    };
    // An unknown key of this object, not one of that name inside an option
    // (`dimension: { since }`): leaving it out changes the error.
    let unknown = crate::error::serde_key(first, "unknown field")
        .filter(|k| options.contains_key(*k) && !fails_alike(without(k)));
    if let Some(key) = unknown {
        // serde's list leaves out the shared keys, which every query takes.
        let own = match first.split_once(", expected ") {
            Some((_, own)) => format!("; this one also takes {own}"),
            None => String::new(),
        };
        return Error::invalid(
            key,
            format!(
                "is not an option of this query: every query takes {}{own}",
                QUERY_KEYS.join(", ")
            ),
        );
    }
    // The key whose removal changes the error; when two keys are wrong
    // alike (`since: 'x', until: 'x'`), the first that is wrong alone.
    let culprit = options
        .keys()
        .take(MAX_TRIED_KEYS)
        .find(|k| !fails_alike(without(k)))
        .or_else(|| {
            options.iter().take(MAX_TRIED_KEYS).find_map(|(k, v)| {
                let alone = Map::from_iter([(k.clone(), v.clone())]);
                fails_alike(alone).then_some(k)
            })
        });
    let missing = crate::error::serde_key(first, "missing field");
    let field = match (culprit, missing) {
        // In a list, the item: the first that, alone in the list, fails
        // alike (each try copies the other options, not the list).
        (Some(key), _) => match options.get(key) {
            Some(Value::Array(items)) => {
                let others = without(key);
                let with = |list: Vec<Value>| {
                    let mut one = others.clone();
                    one.insert(key.clone(), Value::Array(list));
                    one
                };
                // Not when a list is what is wrong (even an empty one).
                let item = if fails_alike(with(Vec::new())) {
                    None
                } else {
                    items
                        .iter()
                        .take(MAX_TRIED_ITEMS)
                        .position(|item| fails_alike(with(vec![item.clone()])))
                };
                item.map_or_else(|| key.clone(), |i| format!("{key}[{i}]"))
            }
            // Inside an object option, the key [`object`] marked.
            Some(Value::Object(_)) => match (inner(first), missing) {
                (Some((k, _)), _) => format!("{key}.{k}"),
                (None, Some(k)) => format!("{key}.{k}"),
                (None, None) => key.clone(),
            },
            _ => key.clone(),
        },
        (None, Some(missing)) => missing.to_owned(),
        (None, None) => whole.to_owned(),
    };
    // A missing option is named by the field; serde's "missing field `x`"
    // would say it twice, in its own words.
    let inside_object = culprit.is_some_and(|k| matches!(options.get(k), Some(Value::Object(_))));
    let reason = match (culprit, missing) {
        (None, Some(_)) => "is required".to_owned(),
        (Some(_), Some(_)) if inside_object => "is required".to_owned(),
        _ => crate::error::serde_reason(inner(first).map_or(first, |(_, rest)| rest)),
    };
    Error::invalid(field, reason)
}

/// The key inside an object option whose value [`object`] could not read,
/// named at the start of serde's `message` (`` at `equals`: ``), and the
/// rest of it.
fn inner(message: &str) -> Option<(&str, &str)> {
    message.strip_prefix("at `")?.split_once("`: ")
}

/// An integer option `v`, or its `default`, checked to lie in
/// `min..=max`.
pub fn bounded(v: Option<i64>, default: i64, min: i64, max: i64, field: &str) -> Result<usize> {
    let v = v.unwrap_or(default);
    if !(min..=max).contains(&v) {
        return Err(Error::invalid(field, format!("must be {min} to {max}")));
    }
    Ok(v as usize)
}

/// The options of a query that has none of its own.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoOptions {}

/// Calendar buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Interval {
    /// Calendar days.
    #[default]
    Day,
    /// Weeks starting on Monday.
    Week,
    /// Calendar months.
    Month,
}

impl Interval {
    /// The bucket number of the instant `ts` in the offset `offset_ms`:
    /// days since the epoch, Monday-weeks since the epoch, or months since
    /// January 1970.
    pub fn bucket(self, ts: i64, offset_ms: i64) -> i64 {
        let day = (ts + offset_ms).div_euclid(DAY_MS);
        match self {
            Self::Day => day,
            // 1970-01-01 was a Thursday: day 4 is the first Monday.
            Self::Week => (day + 3).div_euclid(7),
            Self::Month => {
                let (y, m, _) = civil(day);
                (y - 1970) * 12 + i64::from(m) - 1
            }
        }
    }

    /// The instant (ms, UTC) a bucket starts at in the offset `offset_ms`.
    pub fn start(self, bucket: i64, offset_ms: i64) -> i64 {
        let day = match self {
            Self::Day => bucket,
            Self::Week => bucket * 7 - 3,
            Self::Month => days_from_civil(
                1970 + bucket.div_euclid(12),
                bucket.rem_euclid(12) as u32 + 1,
                1,
            ),
        };
        day * DAY_MS - offset_ms
    }

    /// A bucket's local start date as `YYYY-MM-DD` (`YYYY-MM` for months).
    pub fn label(self, bucket: i64, offset_ms: i64) -> String {
        let (y, m, d) = civil((self.start(bucket, offset_ms) + offset_ms).div_euclid(DAY_MS));
        match self {
            Self::Month => format!("{y:04}-{m:02}"),
            _ => format!("{y:04}-{m:02}-{d:02}"),
        }
    }
}

#[cfg(test)]
mod tests {
    #[cfg(all(target_family = "wasm", target_os = "unknown"))]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn buckets_follow_the_offset() {
        // 2023-11-14T22:13:20Z is already the 15th at UTC+2.
        let ts = 1_700_000_000_000;
        assert_eq!(
            Interval::Day.label(Interval::Day.bucket(ts, 0), 0),
            "2023-11-14"
        );
        let plus2 = 120 * 60_000;
        assert_eq!(
            Interval::Day.label(Interval::Day.bucket(ts, plus2), plus2),
            "2023-11-15"
        );
        // It is a Tuesday; its week starts on Monday the 13th.
        let w = Interval::Week.bucket(ts, 0);
        assert_eq!(Interval::Week.label(w, 0), "2023-11-13");
        assert_eq!(Interval::Week.start(w, 0), 1_699_833_600_000);
        let m = Interval::Month.bucket(ts, 0);
        assert_eq!(Interval::Month.label(m, 0), "2023-11");
        assert_eq!(Interval::Month.start(m + 2, 0), 1_704_067_200_000); // 2024-01-01
                                                                        // Each start falls in its own bucket, and the instant before in the previous one.
        for iv in [Interval::Day, Interval::Week, Interval::Month] {
            for off in [-plus2, 0, plus2, 330 * 60_000] {
                let b = iv.bucket(ts, off);
                assert_eq!(iv.bucket(iv.start(b, off), off), b);
                assert_eq!(iv.bucket(iv.start(b, off) - 1, off), b - 1);
            }
        }
    }

    #[test]
    fn split_separates_shared_and_own_keys() {
        #[derive(Deserialize, Default, Debug)]
        #[serde(deny_unknown_fields)]
        struct Own {
            limit: Option<u32>,
        }
        let map = serde_json::json!({"since": 5, "limit": 3, "timezone": 60});
        let (q, own): (Query, Own) = split(map.as_object().unwrap().clone()).unwrap();
        assert_eq!(q.since, Some(5));
        assert_eq!(q.timezone, Some(60));
        assert_eq!(own.limit, Some(3));
        let bad = serde_json::json!({"limt": 3});
        assert!(split::<Own>(bad.as_object().unwrap().clone()).is_err());
    }
}
