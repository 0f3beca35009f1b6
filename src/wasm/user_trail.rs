//! The `UserTrail` JS class: a thin shell over [`crate::UserTrail`].

use std::sync::Arc;

use serde::Deserialize;
use wasm_bindgen::prelude::*;

use super::clock::{DateClock, FnClock};
use super::error::js;
use super::opfs::{self, OpfsOptions};
use super::options::read;
use crate::clock::SharedClock;
use crate::error::Error;
use crate::store::StoreOptions;
use crate::{OpenOptions, Storage, UserTrail};

/// `storage` in the open options, read.
enum StorageOption {
    Memory,
    Bytes(Vec<u8>),
    Opfs(OpfsOptions),
}

const STORAGE_KINDS: &str =
    "must be 'memory', 'opfs', { opfs: { name?, pool?, directory? } } or { bytes: Uint8Array }";

/// Reads `storage`: a kind's name, `{ bytes }` or `{ opfs }`.
fn storage_option(value: &JsValue) -> crate::Result<StorageOption> {
    if value.is_undefined() || value.is_null() {
        return Ok(StorageOption::Memory);
    }
    if let Some(kind) = value.as_string() {
        return match kind.as_str() {
            "memory" => Ok(StorageOption::Memory),
            "opfs" => Ok(StorageOption::Opfs(OpfsOptions::default())),
            _ => Err(Error::invalid("storage", STORAGE_KINDS)),
        };
    }
    if !value.is_object() {
        return Err(Error::invalid("storage", STORAGE_KINDS));
    }
    let get = |key: &str| js_sys::Reflect::get(value, &key.into()).unwrap_or(JsValue::UNDEFINED);
    let (bytes, opfs) = (get("bytes"), get("opfs"));
    match (bytes.is_undefined(), opfs.is_undefined()) {
        (false, true) => bytes
            .dyn_into::<js_sys::Uint8Array>()
            .map(|b| StorageOption::Bytes(b.to_vec()))
            .map_err(|_| Error::invalid("storage.bytes", "must be a Uint8Array")),
        (true, false) => read(opfs, "storage.opfs", OpfsOptions::KEYS).map(StorageOption::Opfs),
        _ => Err(Error::invalid("storage", STORAGE_KINDS)),
    }
}

/// The options object of `UserTrail.open`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct OpenOptionsJs {
    #[serde(default, with = "serde_wasm_bindgen::preserve")]
    storage: JsValue,
    #[serde(default, with = "serde_wasm_bindgen::preserve")]
    clock: JsValue,
    busy_timeout_ms: Option<u32>,
}

impl OpenOptionsJs {
    const KEYS: &'static [&'static str] = &["storage", "clock", "busyTimeoutMs"];
}

/// An engine and what it holds: the lease on its OPFS file, if any, is
/// released only after the engine has closed.
struct Open {
    trail: UserTrail,
    _lease: Option<opfs::Lease>,
}

/// An open usertrail engine.
#[wasm_bindgen(js_name = UserTrail)]
pub struct JsUserTrail(Option<Open>);

impl JsUserTrail {
    /// The core engine, for Rust callers and tests; `None` once closed.
    pub fn core(&self) -> Option<&UserTrail> {
        self.0.as_ref().map(|o| &o.trail)
    }
}

#[wasm_bindgen(js_class = UserTrail)]
impl JsUserTrail {
    /// Opens an engine, creating and migrating its database as needed.
    ///
    /// ```javascript
    /// import { UserTrail } from 'usertrail';
    ///
    /// const trail = await UserTrail.open({ storage: 'memory' });
    /// const bytes = trail.export();                // Uint8Array, an SQLite file
    /// const copy = await UserTrail.open({ storage: { bytes } });
    /// // In a dedicated worker: await UserTrail.open({ storage: 'opfs' })
    /// ```
    ///
    /// Throws `UserTrailError` with `code` `INVALID_INPUT` for bad options,
    /// `NOT_A_DATABASE` or `CORRUPT` for bad bytes, `SCHEMA_TOO_NEW` for a
    /// database from a newer usertrail, `BUSY` when another tab holds the
    /// OPFS pool, and `UNSUPPORTED` for OPFS outside a dedicated worker.
    pub async fn open(
        #[wasm_bindgen(unchecked_optional_param_type = "OpenOptions")] options: Option<JsValue>,
    ) -> Result<JsUserTrail, JsValue> {
        let options = options.unwrap_or(JsValue::UNDEFINED);
        js(Self::open_inner(options).await).map(|o| Self(Some(o)))
    }

    async fn open_inner(options: JsValue) -> crate::Result<Open> {
        let options: OpenOptionsJs = if options.is_undefined() || options.is_null() {
            OpenOptionsJs::default()
        } else {
            read(options, "options", OpenOptionsJs::KEYS)?
        };
        let (storage, lease) = match storage_option(&options.storage)? {
            StorageOption::Memory => (Storage::Memory, None),
            StorageOption::Bytes(bytes) => (Storage::Bytes(bytes), None),
            StorageOption::Opfs(o) => {
                let (storage, lease) = opfs::storage(o).await?;
                (storage, Some(lease))
            }
        };
        #[allow(clippy::arc_with_non_send_sync)] // wasm is single-threaded
        let clock: SharedClock = if options.clock.is_undefined() {
            Arc::new(DateClock)
        } else {
            Arc::new(FnClock::new(options.clock)?)
        };
        let mut open = OpenOptions::new(storage).clock(clock);
        if let Some(ms) = options.busy_timeout_ms {
            open.store = StoreOptions {
                busy_timeout_ms: ms,
            };
        }
        Ok(Open {
            trail: UserTrail::open(open)?,
            _lease: lease,
        })
    }

    fn inner(&self) -> Result<&UserTrail, JsValue> {
        self.core().ok_or_else(|| Error::Closed.into())
    }

    fn inner_mut(&mut self) -> Result<&mut UserTrail, JsValue> {
        self.0
            .as_mut()
            .map(|o| &mut o.trail)
            .ok_or_else(|| Error::Closed.into())
    }

    /// The usertrail version, which is the npm package's version.
    #[wasm_bindgen(getter)]
    pub fn version(&self) -> String {
        crate::VERSION.into()
    }

    /// The schema version of the open database.
    #[wasm_bindgen(getter, js_name = schemaVersion)]
    pub fn schema_version(&self) -> Result<u32, JsValue> {
        Ok(self.inner()?.schema_version())
    }

    /// When the database was created, in ms since the epoch.
    #[wasm_bindgen(getter, js_name = createdAt)]
    pub fn created_at(&self) -> Result<f64, JsValue> {
        Ok(js(self.inner()?.created_at())? as f64)
    }

    /// Whether `close()` has been called.
    #[wasm_bindgen(getter)]
    pub fn closed(&self) -> bool {
        self.0.is_none()
    }

    /// The whole database as SQLite bytes, which any sqlite3 tool opens and
    /// `UserTrail.open({ storage: { bytes } })` imports.
    ///
    /// ```javascript
    /// const bytes = trail.export();
    /// await Deno.writeFile('backup.sqlite', bytes); // or fs.writeFileSync
    /// ```
    pub fn export(&mut self) -> Result<Vec<u8>, JsValue> {
        js(self.inner_mut()?.export())
    }

    /// Closes the engine and releases its storage. Calling it again does
    /// nothing; any other call afterwards throws `CLOSED`.
    pub fn close(&mut self) -> Result<(), JsValue> {
        match self.0.take() {
            Some(open) => js(open.trail.close()),
            None => Ok(()),
        }
    }
}
