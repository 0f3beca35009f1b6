//! Event schemas (`defineEvent`) and custom dimensions (`defineDimension`).

use std::collections::{BTreeMap, HashMap};

use rusqlite::Connection;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::TrackingError;
use crate::error::{Error, Result, StoreError};
use crate::kernel::text;

/// A property's declared type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PropType {
    /// `"string"`, `"number"`, `"bool"` or `"object"`.
    Simple(SimpleType),
    /// `{ "enum": [...] }`: one of these strings.
    Enum {
        /// The allowed values.
        #[serde(rename = "enum")]
        values: Vec<String>,
    },
}

/// The plain types a property or dimension can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SimpleType {
    /// A string.
    String,
    /// A number.
    Number,
    /// `true` or `false`.
    Bool,
    /// A JSON object.
    Object,
}

impl SimpleType {
    fn matches(self, v: &Value) -> bool {
        match self {
            Self::String => v.is_string(),
            Self::Number => v.is_number(),
            Self::Bool => v.is_boolean(),
            Self::Object => v.is_object(),
        }
    }

    /// The type's name with its article, for messages (`a string`).
    pub fn name(self) -> &'static str {
        match self {
            Self::String => "a string",
            Self::Number => "a number",
            Self::Bool => "a boolean",
            Self::Object => "an object",
        }
    }
}

impl PropType {
    /// Why `v` does not have this type, or `None` if it does.
    fn mismatch(&self, v: &Value) -> Option<String> {
        match self {
            Self::Simple(t) if t.matches(v) => None,
            Self::Simple(t) => Some(format!("must be {}", t.name())),
            Self::Enum { values } if v.as_str().is_some_and(|s| values.iter().any(|x| x == s)) => {
                None
            }
            Self::Enum { values } => Some(format!("must be one of {}", values.join(", "))),
        }
    }
}

/// What `defineEvent(name, schema)` declares.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EventSchema {
    /// Properties every event of this name has, with their types.
    #[serde(default)]
    pub required: BTreeMap<String, PropType>,
    /// Properties it may have, with their types. Others are allowed.
    #[serde(default)]
    pub optional: BTreeMap<String, PropType>,
    /// Properties that hold personal data: `anonymize` removes them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub personal: Vec<String>,
}

/// The schemas and dimensions of an engine, loaded once and kept.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    schemas: HashMap<String, EventSchema>,
    dimensions: HashMap<String, SimpleType>,
}

impl Registry {
    /// The registry in `cache`, loaded from `conn` on first use. Callers
    /// clear the cache when they change a declaration.
    pub fn cached(
        conn: &Connection,
        cache: &std::cell::RefCell<Option<std::sync::Arc<Registry>>>,
    ) -> Result<std::sync::Arc<Registry>> {
        if let Some(r) = cache.borrow().as_ref() {
            return Ok(r.clone());
        }
        let loaded = std::sync::Arc::new(Registry::load(conn)?);
        *cache.borrow_mut() = Some(loaded.clone());
        Ok(loaded)
    }

    /// Loads what the database declares.
    pub fn load(conn: &Connection) -> Result<Self> {
        let mut reg = Self::default();
        let mut stmt = conn.prepare("SELECT name, schema FROM event_schemas")?;
        for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))? {
            let (name, json) = row?;
            let schema = serde_json::from_str(&json).map_err(|e| corrupt(&name, e))?;
            reg.schemas.insert(name, schema);
        }
        let mut stmt = conn.prepare("SELECT name, type FROM dimensions")?;
        for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))? {
            let (name, ty) = row?;
            let ty = serde_json::from_value(Value::String(ty)).map_err(|e| corrupt(&name, e))?;
            reg.dimensions.insert(name, ty);
        }
        Ok(reg)
    }

    /// Per event name, the properties its schema marks `personal`.
    pub fn personal_properties(&self) -> HashMap<String, Vec<String>> {
        self.schemas
            .iter()
            .filter(|(_, s)| !s.personal.is_empty())
            .map(|(n, s)| (n.clone(), s.personal.clone()))
            .collect()
    }

    /// Checks `properties` and `dimensions` of an event named `name`.
    /// Undefined dimensions are an error here; lenient mode moves them to
    /// the properties before calling.
    pub fn check(
        &self,
        name: &str,
        properties: &Map<String, Value>,
        dimensions: &Map<String, Value>,
    ) -> std::result::Result<(), TrackingError> {
        let violation = |field: String, reason: String| TrackingError::SchemaViolation {
            event: name.to_owned(),
            field,
            reason,
        };
        if let Some(schema) = self.schemas.get(name) {
            for (prop, ty) in &schema.required {
                match properties.get(prop) {
                    None => {
                        return Err(violation(
                            format!("properties.{prop}"),
                            "is required".into(),
                        ))
                    }
                    Some(v) => {
                        if let Some(why) = ty.mismatch(v) {
                            return Err(violation(format!("properties.{prop}"), why));
                        }
                    }
                }
            }
            for (prop, ty) in &schema.optional {
                if let Some(why) = properties.get(prop).and_then(|v| ty.mismatch(v)) {
                    return Err(violation(format!("properties.{prop}"), why));
                }
            }
        }
        for (dim, v) in dimensions {
            let ty = self
                .dimensions
                .get(dim)
                .ok_or_else(|| TrackingError::UnknownDimension {
                    name: dim.clone(),
                    field: format!("dimensions.{dim}"),
                })?;
            if !ty.matches(v) {
                return Err(violation(
                    format!("dimensions.{dim}"),
                    format!("must be {}", ty.name()),
                ));
            }
        }
        Ok(())
    }

    /// Whether a dimension is defined.
    pub fn has_dimension(&self, name: &str) -> bool {
        self.dimensions.contains_key(name)
    }

    /// A defined dimension's type.
    pub fn dimension_type(&self, name: &str) -> Option<SimpleType> {
        self.dimensions.get(name).copied()
    }
}

fn corrupt(name: &str, e: serde_json::Error) -> Error {
    StoreError::Corrupt {
        detail: format!("the definition of {name:?} does not parse: {e}"),
    }
    .into()
}

/// Stores an event schema, replacing any earlier one.
pub fn define_event(conn: &Connection, name: &str, schema: &EventSchema) -> Result<()> {
    text::check("name", name, super::event::MAX_NAME)?;
    for values in schema.required.values().chain(schema.optional.values()) {
        if let PropType::Enum { values } = values {
            if values.is_empty() {
                return Err(Error::invalid("schema", "an enum needs at least one value"));
            }
        }
    }
    if schema.personal.len() > 256
        || schema
            .personal
            .iter()
            .any(|p| p.is_empty() || p.len() > 256)
    {
        return Err(Error::invalid(
            "schema.personal",
            "at most 256 property names of 1 to 256 bytes",
        ));
    }
    let json =
        serde_json::to_string(schema).map_err(|e| Error::invalid("schema", e.to_string()))?;
    conn.execute(
        "INSERT INTO event_schemas (name, schema) VALUES (?1, ?2) \
         ON CONFLICT (name) DO UPDATE SET schema = excluded.schema",
        (name, json),
    )?;
    Ok(())
}

/// Stores a dimension. Redefining one with another type is refused.
pub fn define_dimension(conn: &Connection, name: &str, ty: SimpleType) -> Result<()> {
    // Queries name a dimension inside a quoted JSON path.
    text::check_key("name", name, 64)?;
    if ty == SimpleType::Object {
        return Err(Error::invalid(
            "type",
            "a dimension is a string, a number or a bool",
        ));
    }
    let ty_name = serde_json::to_value(ty)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let existing: Option<String> = conn
        .query_row("SELECT type FROM dimensions WHERE name = ?1", [name], |r| {
            r.get(0)
        })
        .ok();
    match existing {
        Some(t) if t == ty_name => Ok(()),
        Some(t) => Err(Error::invalid(
            "type",
            format!("dimension {name:?} is already defined as {t}"),
        )),
        None => {
            conn.execute(
                "INSERT INTO dimensions (name, type) VALUES (?1, ?2)",
                (name, ty_name),
            )?;
            Ok(())
        }
    }
}
