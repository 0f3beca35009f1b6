//! Reading `UserTrail.open`'s options object into the core's options.
//!
//! Everything but `storage`, `clock` and `shared` is JSON data and is read
//! by serde into the core's own config types, whose defaults apply to what
//! is left out; `storage`, `clock` and `shared` hold functions and bytes and
//! are read apart.

use std::sync::Arc;

use serde::Deserialize;
use wasm_bindgen::prelude::*;

use super::clock::{DateClock, FnClock};
use super::input;
use super::vfs::durable::{self, DurableHost};
use super::vfs::hostfs::{self, HostFs};
use super::vfs::opfs::{self, OpfsOptions};
use crate::consent::PrivacyConfig;
use crate::error::{Error, Result, StoreError};
use crate::kernel::clock::SharedClock;
use crate::kernel::net::IpMask;
use crate::session::SessionConfig;
use crate::store::Durability;
use crate::tracking::TrackingConfig;
use crate::{OpenOptions, Storage};

const STORAGE_KINDS: &str = "must be 'memory', 'opfs', { opfs: { name?, pool?, directory? } }, \
     { bytes: Uint8Array }, { file: path } (Node, Deno) or \
     { durableObject: ctx.storage, name? } (Cloudflare Workers)";

/// The data part of the options object: every key optional, unknown keys
/// refused, defaults from the core's types.
#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
struct OpenJs {
    busy_timeout_ms: Option<u32>,
    durability: Durability,
    ip_mask: IpMask,
    sessions: SessionConfig,
    tracking: TrackingConfig,
    privacy: PrivacyConfig,
}

/// The options, read; OPFS and the host file VFS, if asked for, are
/// installed by [`Parsed::resolve`].
pub(crate) struct Parsed {
    storage: StorageOption,
    options: OpenOptions,
}

enum StorageOption {
    Memory,
    Bytes(Vec<u8>),
    Opfs(OpfsOptions),
    File(String, HostFs),
    /// A Durable Object's `ctx.storage`, its functions, and the database's name in it.
    DurableObject(JsValue, DurableHost, String),
}

/// What an open engine holds besides its database: the lease on its OPFS
/// file, or its Durable Object's registration.
#[derive(Default)]
pub(crate) struct Held {
    /// Keeps a second engine in this worker off the OPFS file.
    pub(crate) lease: Option<opfs::Lease>,
    /// The Durable Object the database lives in.
    pub(crate) durable: Option<durable::Registration>,
}

/// Reads the options object (`undefined` means all defaults).
pub(crate) fn parse(value: &JsValue) -> Result<Parsed> {
    let js: OpenJs = input::options_without(value, "options", &["storage", "clock", "shared"])?;
    let clock = input::get(value, "clock", "clock")?;
    #[allow(clippy::arc_with_non_send_sync)] // wasm is single-threaded
    let clock: SharedClock = match input::opt_function(clock, "clock")? {
        None => Arc::new(DateClock),
        Some(f) => Arc::new(FnClock::new(f)?),
    };
    let storage = storage_option(&input::get(value, "storage", "storage")?)?;
    let mut options = OpenOptions::new(Storage::Memory)
        .clock(clock)
        .sessions(js.sessions)
        .tracking(js.tracking)
        .privacy(js.privacy);
    options.ip_mask = js.ip_mask;
    options.shared = super::remote::parse(&input::get(value, "shared", "shared")?)?;
    options.store.durability = js.durability;
    if let Some(ms) = js.busy_timeout_ms {
        options.store.busy_timeout_ms = ms;
    }
    Ok(Parsed { storage, options })
}

impl Parsed {
    /// The core options, with OPFS or the Durable Object's VFS installed if
    /// asked for, and what the engine holds while open.
    pub(crate) async fn resolve(mut self) -> Result<(OpenOptions, Held)> {
        let mut held = Held::default();
        let storage = match self.storage {
            StorageOption::Memory => Storage::Memory,
            StorageOption::Bytes(bytes) => Storage::Bytes(bytes),
            StorageOption::Opfs(o) => {
                let (storage, lease) = opfs::storage(o).await?;
                held.lease = Some(lease);
                storage
            }
            StorageOption::File(name, fs) => {
                hostfs::install(fs)?;
                let vfs = hostfs::VFS_NAME.to_owned();
                Storage::Vfs { name, vfs }
            }
            StorageOption::DurableObject(storage, host, name) => {
                let registration = durable::register(storage, host, &name)?;
                let name = registration.file();
                held.durable = Some(registration);
                Storage::AtomicVfs {
                    name,
                    vfs: durable::VFS_NAME.to_owned(),
                }
            }
        };
        self.options.storage = storage;
        Ok((self.options, held))
    }
}

/// Reads `storage`: a kind's name, `{ bytes }`, `{ opfs }` or `{ file, fs }`.
fn storage_option(value: &JsValue) -> Result<StorageOption> {
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
    // Unknown keys are refused, as everywhere else: `durability` put here
    // instead of beside `storage` would otherwise be ignored without a word.
    let keys = js_sys::Reflect::own_keys(value)
        .map_err(|_| Error::invalid("storage", "could not be read"))?;
    for key in keys.iter() {
        let name = key.as_string().unwrap_or_default();
        if ![
            "file",
            "fs",
            "bytes",
            "opfs",
            "durableObject",
            "name",
            "host",
        ]
        .contains(&name.as_str())
        {
            let hint = if name == "durability" {
                "durability goes beside storage: { storage: { file }, durability: 'normal' }"
                    .to_owned()
            } else {
                format!(
                    "unknown key {:?}: storage takes file, bytes, opfs or durableObject",
                    name.chars().take(40).collect::<String>()
                )
            };
            return Err(Error::invalid(
                format!("storage.{}", name.chars().take(40).collect::<String>()),
                hint,
            ));
        }
    }
    let durable_object = input::get(value, "durableObject", "storage.durableObject")?;
    let name = input::get(value, "name", "storage.name")?;
    if !durable_object.is_undefined() {
        return durable_object_option(value, durable_object, &name);
    }
    if !name.is_undefined() {
        return Err(Error::invalid(
            "storage.name",
            "goes with durableObject: { durableObject: ctx.storage, name }",
        ));
    }
    let file = input::get(value, "file", "storage.file")?;
    if !file.is_undefined() {
        let path = input::string(&file, "storage.file")
            .map_err(|_| Error::invalid("storage.file", "must be a path"))?;
        let fs = input::get(value, "fs", "storage.fs")?;
        if !fs.is_object() {
            return Err(StoreError::Unsupported {
                what: "file storage needs a host file API (Node or Deno)".into(),
            }
            .into());
        }
        return Ok(StorageOption::File(path, fs.unchecked_into()));
    }
    let bytes = input::get(value, "bytes", "storage.bytes")?;
    let opfs = input::get(value, "opfs", "storage.opfs")?;
    match (bytes.is_undefined(), opfs.is_undefined()) {
        (false, true) => input::bytes(&bytes, "storage.bytes").map(StorageOption::Bytes),
        (true, false) => input::options(&opfs, "storage.opfs").map(StorageOption::Opfs),
        _ => Err(Error::invalid("storage", STORAGE_KINDS)),
    }
}

/// The database's name in a Durable Object when none is given.
const DEFAULT_OBJECT_DATABASE: &str = "usertrail";

/// Reads `{ durableObject: ctx.storage, name? }`, with the `host` functions
/// the package glue adds (`pkg/durable-object.js`).
fn durable_object_option(
    value: &JsValue,
    storage: JsValue,
    name: &JsValue,
) -> Result<StorageOption> {
    if !storage.is_object() {
        return Err(Error::invalid(
            "storage.durableObject",
            "must be a Durable Object's storage (ctx.storage)",
        ));
    }
    let name = if name.is_undefined() {
        DEFAULT_OBJECT_DATABASE.to_owned()
    } else {
        let name = input::string(name, "storage.name")?;
        let ok = (1..=64).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
        if !ok {
            return Err(Error::invalid(
                "storage.name",
                "must be 1 to 64 letters, digits, '_', '-' or '.'",
            ));
        }
        name
    };
    let host = input::get(value, "host", "storage.host")?;
    if !host.is_object() {
        // A Durable Object's storage (it has deleteAll) without the
        // synchronous API is one of a class without SQLite; anything else is
        // not a storage at all.
        let is_storage = input::get(&storage, "deleteAll", "storage.durableObject")?.is_function();
        if !is_storage {
            return Err(Error::invalid(
                "storage.durableObject",
                "must be the Durable Object's storage, ctx.storage (not ctx, ctx.storage.kv or ctx.storage.sql)",
            ));
        }
        return Err(StoreError::Unsupported {
            what: "storage.durableObject needs a SQLite-backed Durable Object, whose storage has \
                   the synchronous key-value API (ctx.storage.kv and transactionSync): \
                   new_sqlite_classes in wrangler.toml, enableSql in workerd"
                .into(),
        }
        .into());
    }
    Ok(StorageOption::DurableObject(
        storage,
        host.unchecked_into(),
        name,
    ))
}
