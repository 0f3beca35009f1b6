//! Reading the events of a query into a compact, time-ordered form that the
//! metrics walk in Rust. Strings are interned to numbers once, so grouping
//! by user, session, name or path costs an integer compare.

use std::collections::HashMap;

use rusqlite::params_from_iter;
use rusqlite::types::{Value as SqlValue, ValueRef};

use super::query::{Resolved, USER_KEY};
use crate::error::Result;

/// Interned strings; id 0 is "none".
#[derive(Debug, Default)]
pub struct Interner {
    ids: HashMap<String, u32>,
    strings: Vec<String>,
}

impl Interner {
    fn new() -> Self {
        Self {
            ids: HashMap::new(),
            strings: vec![String::new()],
        }
    }

    fn intern(&mut self, v: ValueRef<'_>) -> u32 {
        let s = match v {
            ValueRef::Text(t) => String::from_utf8_lossy(t),
            ValueRef::Integer(i) => return self.intern_str(&i.to_string()),
            ValueRef::Real(r) => return self.intern_str(&r.to_string()),
            _ => return 0,
        };
        self.intern_str(&s)
    }

    /// The id of `s`, adding it if new.
    pub fn intern_str(&mut self, s: &str) -> u32 {
        if let Some(id) = self.ids.get(s) {
            return *id;
        }
        let id = self.strings.len() as u32;
        self.strings.push(s.to_owned());
        self.ids.insert(s.to_owned(), id);
        id
    }

    /// The id of `s`, if any event had it.
    pub fn get(&self, s: &str) -> Option<u32> {
        self.ids.get(s).copied()
    }

    /// The string of an id (empty for 0).
    pub fn str(&self, id: u32) -> &str {
        &self.strings[id as usize]
    }
}

/// One event, as the metrics see it.
#[derive(Debug, Clone, Copy)]
pub struct Row {
    /// When, in ms.
    pub ts: i64,
    /// The user key ([`USER_KEY`]); 0 when the event has neither id.
    pub user: u32,
    /// The session; 0 when none.
    pub session: u32,
    /// The event name.
    pub name: u32,
    /// The page (path, or URL when there is no path); 0 when neither.
    pub page: u32,
    /// True for page views.
    pub is_page: bool,
    /// `1 / sample_rate`.
    pub weight: f64,
    /// The grouping value asked for (a dimension as JSON text); 0 when none.
    pub extra: u32,
    /// The sample rate the event was kept at.
    pub rate: f64,
}

/// The events of a query, oldest first, with their strings.
#[derive(Debug)]
pub struct Events {
    /// The rows, by time then insertion order.
    pub rows: Vec<Row>,
    /// The strings the rows refer to.
    pub strings: Interner,
}

impl Events {
    /// True when some event was kept at a sample rate below 1.
    pub fn reweighted(&self) -> bool {
        self.rows.iter().any(|r| r.rate < 1.0)
    }

    /// The weight of each user: 1 / the highest sample rate among their
    /// events here.
    pub fn user_weights(&self) -> HashMap<u32, f64> {
        max_rate_weights(self.rows.iter().map(|r| (r.user, r.rate)))
    }

    /// The weight of each session, as for users.
    pub fn session_weights(&self) -> HashMap<u32, f64> {
        max_rate_weights(self.rows.iter().map(|r| (r.session, r.rate)))
    }
}

/// 1 / max rate per key, skipping key 0.
pub fn max_rate_weights(items: impl Iterator<Item = (u32, f64)>) -> HashMap<u32, f64> {
    let mut max: HashMap<u32, f64> = HashMap::new();
    for (k, rate) in items.filter(|(k, _)| *k != 0) {
        let e = max.entry(k).or_insert(rate);
        if rate > *e {
            *e = rate;
        }
    }
    max.values_mut().for_each(|r| *r = 1.0 / *r);
    max
}

/// What a metric needs beyond time, user and name.
#[derive(Debug, Clone, Default)]
pub struct Need {
    /// Sessions.
    pub session: bool,
    /// Pages and the page-view flag.
    pub page: bool,
    /// A SQL expression to fill [`Row::extra`], and the parameter its `?P`
    /// stands for.
    pub extra: Option<(String, Option<SqlValue>)>,
    /// Only these names (a pushdown for metrics that ignore other events).
    pub names: Option<Vec<String>>,
    /// Read from this time instead of the query's `since`.
    pub from: Option<i64>,
}

/// Reads the events `q` selects, oldest first.
pub fn scan(conn: &rusqlite::Connection, q: &Resolved, need: &Need) -> Result<Events> {
    let mut params: Vec<SqlValue> = vec![
        SqlValue::Integer(need.from.unwrap_or(q.since)),
        SqlValue::Integer(q.until),
    ];
    params.extend(q.params.iter().cloned());
    let mut conds = q.where_sql();
    if let Some(names) = &need.names {
        let marks: Vec<String> = names
            .iter()
            .map(|n| {
                params.push(SqlValue::Text(n.clone()));
                format!("?{}", params.len())
            })
            .collect();
        conds.push_str(&format!(" AND name IN ({})", marks.join(", ")));
    }
    let extra = match &need.extra {
        Some((expr, Some(param))) => {
            params.push(param.clone());
            expr.replace("?P", &format!("?{}", params.len()))
        }
        Some((expr, None)) => expr.clone(),
        None => "NULL".into(),
    };
    let session = if need.session { "session_id" } else { "NULL" };
    let page = if need.page {
        "CASE WHEN type = 'page' THEN COALESCE(path, url) END"
    } else {
        "NULL"
    };
    let sql = format!(
        "SELECT ts, {USER_KEY}, {session}, name, {page}, sample_rate, {extra} FROM events \
         WHERE ts >= ?1 AND ts < ?2{conds} ORDER BY ts, id"
    );
    let mut strings = Interner::new();
    let mut rows = Vec::new();
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut it = stmt.query(params_from_iter(params.iter()))?;
    while let Some(r) = it.next()? {
        let page = strings.intern(r.get_ref(4)?);
        let rate: f64 = r.get(5)?;
        rows.push(Row {
            ts: r.get(0)?,
            user: strings.intern(r.get_ref(1)?),
            session: strings.intern(r.get_ref(2)?),
            name: strings.intern(r.get_ref(3)?),
            page,
            is_page: page != 0,
            weight: 1.0 / rate,
            extra: strings.intern(r.get_ref(6)?),
            rate,
        });
    }
    Ok(Events { rows, strings })
}
