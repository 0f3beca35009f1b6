//! The storage-medium suite (`tests/common/media.rs`) and the VFS
//! conformance suite of `sqlite-wasm-rs` on a Durable Object's storage,
//! inside workerd: `./build.sh test` builds this file for wasm and runs it
//! in a SQLite-backed Durable Object (`tests/js/workerd-tests.mjs`), whose
//! `ctx.storage` the harness hands over as `globalThis.__usertrailStorage`.
//! It runs in workerd only (wasm-bindgen-test-runner does not know workerd):
//! the build script leaves it out of the Node and Chromium runs.

#[cfg(all(target_family = "wasm", target_os = "unknown"))]
#[path = "common/media.rs"]
mod media;

#[cfg(all(target_family = "wasm", target_os = "unknown"))]
mod durable_object {
    use std::cell::Cell;

    use wasm_bindgen::prelude::*;

    use usertrail::wasm::JsUserTrail;

    use super::media::*;

    #[wasm_bindgen(module = "/pkg/durable-object.js")]
    extern "C" {
        #[wasm_bindgen(js_name = durableObjectHost)]
        fn durable_object_host(storage: &JsValue) -> JsValue;
    }

    #[wasm_bindgen(inline_js = r#"
        const PAD = 512, PAGE = 4096;
        const key = (name, i) => `${name}:p${i.toString(16).padStart(8, '0')}`;
        export function storage() {
            if (!globalThis.__usertrailStorage) throw new Error('run in workerd by tests/js/workerd-tests.mjs');
            return globalThis.__usertrailStorage;
        }
        export function openOptions(storage, host, name, t0) {
            return { storage: { durableObject: storage, name, host }, clock: () => t0, busyTimeoutMs: 50 };
        }
        // The database's bytes, as the engine's entries hold them.
        export function stored(storage, name) {
            const size = storage.kv.get(`${name}:size`);
            if (size === undefined) return undefined;
            const out = new Uint8Array(size);
            for (let i = 0; i * PAGE < size; i++) {
                const entry = storage.kv.get(key(name, i));
                if (entry) out.set(entry.subarray(PAD, PAD + Math.min(PAGE, size - i * PAGE)), i * PAGE);
            }
            return out;
        }
        // Replaces the database's bytes, as another program would.
        export function put(storage, name, bytes) {
            storage.transactionSync(() => {
                for (const [k] of storage.kv.list({ prefix: `${name}:p` })) storage.kv.delete(k);
                for (let i = 0; i * PAGE < bytes.length; i++) {
                    const entry = new Uint8Array(PAD + PAGE);
                    entry.set(bytes.subarray(i * PAGE, (i + 1) * PAGE), PAD);
                    storage.kv.put(key(name, i), entry);
                }
                storage.kv.put(`${name}:size`, bytes.length);
            });
        }
    "#)]
    extern "C" {
        fn storage() -> JsValue;
        #[wasm_bindgen(js_name = openOptions)]
        fn open_options(storage: &JsValue, host: &JsValue, name: &str, t0: f64) -> JsValue;
        #[wasm_bindgen(js_name = stored)]
        fn stored_bytes(storage: &JsValue, name: &str) -> Option<Vec<u8>>;
        #[wasm_bindgen(js_name = put)]
        fn put_bytes(storage: &JsValue, name: &str, bytes: &[u8]);
    }

    impl Engine for JsUserTrail {
        fn with(&mut self, f: &mut dyn FnMut(&usertrail::UserTrail)) {
            self.with_core(|t| f(t)).expect("the engine is open");
        }
        fn close(self: Box<Self>) {
            let _ = JsUserTrail::close(&self);
        }
    }

    thread_local! {
        static NEXT: Cell<u32> = const { Cell::new(0) };
    }

    /// A database of its own in the object's storage.
    pub struct DurableObject {
        name: String,
    }

    impl DurableObject {
        /// A fresh database name in the object.
        pub fn new() -> Self {
            let n = NEXT.with(|c| {
                c.set(c.get() + 1);
                c.get()
            });
            Self {
                name: format!("media-{}-{n}", js_sys::Date::now() as u64),
            }
        }
    }

    impl Medium for DurableObject {
        const NAME: &'static str = "Durable Object";
        const PERSISTENT: bool = true;
        const EXCLUSIVE: bool = true;

        async fn open(&self) -> Result<Box<dyn Engine>, String> {
            let s = storage();
            let options = open_options(&s, &durable_object_host(&s), &self.name, T0 as f64);
            JsUserTrail::open(Some(options))
                .await
                .map(|t| Box::new(t) as Box<dyn Engine>)
                .map_err(|e| {
                    js_sys::Reflect::get(&e, &"code".into())
                        .ok()
                        .and_then(|c| c.as_string())
                        .unwrap_or_else(|| format!("{e:?}"))
                })
        }

        async fn put(&self, bytes: &[u8]) {
            put_bytes(&storage(), &self.name, bytes);
        }

        async fn stored(&self) -> Option<Vec<u8>> {
            stored_bytes(&storage(), &self.name)
        }
    }

    /// `sqlite-wasm-rs`' own VFS conformance suite against the Durable
    /// Object VFS, each of its file names a database of its own.
    #[wasm_bindgen_test::wasm_bindgen_test]
    fn the_durable_object_vfs_passes_the_vfs_conformance_suite() {
        let s = storage();
        usertrail::wasm::durable_object_conformance(durable_object_host(&s)).unwrap();
    }
}

#[cfg(all(target_family = "wasm", target_os = "unknown"))]
use durable_object::DurableObject;
#[cfg(all(target_family = "wasm", target_os = "unknown"))]
media_suite!(durable_object_storage, DurableObject::new());
