//! The `UserTrail` JS class: a thin shell over [`crate::UserTrail`].

use std::sync::Arc;

use serde::Deserialize;
use wasm_bindgen::prelude::*;

use super::clock::{DateClock, FnClock};
use super::error::js;
use super::opfs::{self, OpfsOptions};
use crate::clock::SharedClock;
use crate::error::Error;
use crate::store::StoreOptions;
use crate::{OpenOptions, Storage, UserTrail};

/// `storage` in the open options.
#[derive(Deserialize)]
#[serde(untagged)]
enum StorageOption {
    Kind(StorageKind),
    Bytes { bytes: serde_bytes::ByteBuf },
    Opfs { opfs: OpfsOptions },
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum StorageKind {
    Memory,
    Opfs,
}

/// The options object of `UserTrail.open`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct OpenOptionsJs {
    storage: Option<StorageOption>,
    #[serde(default, with = "serde_wasm_bindgen::preserve")]
    clock: JsValue,
    busy_timeout_ms: Option<u32>,
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
        #[wasm_bindgen(unchecked_param_type = "OpenOptions")] options: JsValue,
    ) -> Result<JsUserTrail, JsValue> {
        js(Self::open_inner(options).await).map(|o| Self(Some(o)))
    }

    async fn open_inner(options: JsValue) -> crate::Result<Open> {
        let options: OpenOptionsJs = if options.is_undefined() || options.is_null() {
            OpenOptionsJs::default()
        } else {
            serde_wasm_bindgen::from_value(options)
                .map_err(|e| Error::invalid("options", e.to_string()))?
        };
        let (storage, lease) = match options.storage {
            None | Some(StorageOption::Kind(StorageKind::Memory)) => (Storage::Memory, None),
            Some(StorageOption::Bytes { bytes }) => (Storage::Bytes(bytes.into_vec()), None),
            Some(StorageOption::Kind(StorageKind::Opfs)) => {
                let (storage, lease) = opfs::storage(OpfsOptions::default()).await?;
                (storage, Some(lease))
            }
            Some(StorageOption::Opfs { opfs: o }) => {
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
