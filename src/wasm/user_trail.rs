//! The `UserTrail` JS class: a thin shell over [`crate::UserTrail`].

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::prelude::*;

use super::analytics::JsAnalytics;
use super::error::js;
use super::experiments::JsExperiments;
use super::prefs::JsPrefs;
use super::privacy::JsPrivacy;
use super::sessions::JsSessions;
use super::tracking::JsTracking;
use super::vfs::opfs;
use crate::error::Error;
use crate::error::StoreError;
use crate::UserTrail;

/// An engine and what it holds: the lease on its OPFS file, if any, is
/// released only after the engine has closed.
pub(crate) struct Open {
    pub(crate) trail: UserTrail,
    _lease: Option<opfs::Lease>,
}

/// The engine shared by `UserTrail` and the objects it hands out
/// (`trail.sessions`); `None` once closed.
#[derive(Clone)]
pub(crate) struct Handle(Rc<RefCell<Option<Open>>>);

impl Handle {
    /// Runs `f` on the open engine: `CLOSED` after `close()`, `BUSY` for a
    /// call made from inside another (a clock function calling back in).
    pub(crate) fn with<T>(
        &self,
        f: impl FnOnce(&mut UserTrail) -> crate::Result<T>,
    ) -> Result<T, JsValue> {
        let mut open = self.0.try_borrow_mut().map_err(|_| {
            JsValue::from(Error::from(StoreError::Busy {
                detail: "usertrail was called from inside one of its own calls".into(),
            }))
        })?;
        let open = open.as_mut().ok_or_else(|| JsValue::from(Error::Closed))?;
        js(f(&mut open.trail))
    }
}

/// An open usertrail engine.
#[wasm_bindgen(js_name = UserTrail)]
pub struct JsUserTrail(Handle);

impl JsUserTrail {
    /// Runs `f` on the core engine, for Rust callers and tests.
    pub fn with_core<T>(&self, f: impl FnOnce(&mut UserTrail) -> T) -> Option<T> {
        self.0 .0.borrow_mut().as_mut().map(|o| f(&mut o.trail))
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
        let parsed = super::open_options::parse(&options.unwrap_or(JsValue::UNDEFINED))?;
        let open = async {
            let (options, lease) = parsed.resolve().await?;
            Ok(Open {
                trail: UserTrail::open(options)?,
                _lease: lease,
            })
        };
        let open = js(open.await)?;
        Ok(Self(Handle(Rc::new(RefCell::new(Some(open))))))
    }

    /// The usertrail version, which is the npm package's version.
    #[wasm_bindgen(getter)]
    pub fn version(&self) -> String {
        crate::VERSION.into()
    }

    /// The schema version of the open database.
    #[wasm_bindgen(getter, js_name = schemaVersion)]
    pub fn schema_version(&self) -> Result<u32, JsValue> {
        self.0.with(|t| Ok(t.schema_version()))
    }

    /// When the database was created, in ms since the epoch.
    #[wasm_bindgen(getter, js_name = createdAt)]
    pub fn created_at(&self) -> Result<f64, JsValue> {
        self.0.with(|t| t.created_at().map(|ms| ms as f64))
    }

    /// Whether `close()` has been called.
    #[wasm_bindgen(getter)]
    pub fn closed(&self) -> bool {
        self.0 .0.borrow().is_none()
    }

    /// Sessions: create, validate, rotate, destroy, list, and their state.
    /// See the `Sessions` class.
    #[wasm_bindgen(getter)]
    pub fn sessions(&self) -> JsSessions {
        JsSessions::new(self.0.clone())
    }

    /// User preferences: definitions, values, history. See the `Prefs` class.
    #[wasm_bindgen(getter)]
    pub fn prefs(&self) -> JsPrefs {
        JsPrefs::new(self.0.clone())
    }

    /// Activity tracking: events, schemas, history, identity, the outbox.
    /// See the `Tracking` class.
    #[wasm_bindgen(getter)]
    pub fn tracking(&self) -> JsTracking {
        JsTracking::new(self.0.clone())
    }

    /// Analytics computed on the device: summaries, active users, pages,
    /// journeys, funnels, retention, cohorts. See the `Analytics` class.
    #[wasm_bindgen(getter)]
    pub fn analytics(&self) -> JsAnalytics {
        JsAnalytics::new(self.0.clone())
    }

    /// Privacy and compliance: consent, export, erasure, anonymisation,
    /// rectification, retention, the audit log. See the `Privacy` class.
    #[wasm_bindgen(getter)]
    pub fn privacy(&self) -> JsPrivacy {
        JsPrivacy::new(self.0.clone())
    }

    /// A/B experiments: define, assign, results. See the `Experiments` class.
    #[wasm_bindgen(getter)]
    pub fn experiments(&self) -> JsExperiments {
        JsExperiments::new(self.0.clone())
    }

    /// The whole database as SQLite bytes, which any sqlite3 tool opens and
    /// `UserTrail.open({ storage: { bytes } })` imports.
    ///
    /// ```javascript
    /// const bytes = trail.export();
    /// await Deno.writeFile('backup.sqlite', bytes); // or fs.writeFileSync
    /// ```
    pub fn export(&mut self) -> Result<Vec<u8>, JsValue> {
        self.0.with(|t| t.export())
    }

    /// Closes the engine and releases its storage. Calling it again does
    /// nothing; any other call afterwards, here or on `trail.sessions`,
    /// throws `CLOSED`.
    pub fn close(&mut self) -> Result<(), JsValue> {
        let taken = self.0 .0.try_borrow_mut().map(|mut o| o.take());
        match taken {
            Ok(Some(open)) => js(open.trail.close()),
            Ok(None) => Ok(()),
            Err(_) => Err(Error::from(StoreError::Busy {
                detail: "close() was called from inside another usertrail call".into(),
            })
            .into()),
        }
    }
}
