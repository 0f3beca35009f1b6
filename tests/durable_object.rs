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
        const PAD = 1100, PAGE = 4096;
        const key = (name, i) => `${name}:p${i.toString(16).padStart(8, '0')}`;
        export function storage() {
            if (!globalThis.__usertrailStorage) throw new Error('run in workerd by tests/js/workerd-tests.mjs');
            return globalThis.__usertrailStorage;
        }
        export function openOptions(storage, host, name, t0) {
            return { storage: { durableObject: storage, name, host }, clock: () => t0, busyTimeoutMs: 50 };
        }
        // Options whose storage part is `storage`, exactly.
        export function withStorage(storage) {
            return { storage };
        }
        // What a class without SQLite storage gives in workerd: kv whose
        // reads throw the platform's explanation.
        export function nonSqliteStorage() {
            return { deleteAll: async () => {}, kv: {}, transactionSync: (f) => f() };
        }
        export function nonSqliteHost() {
            const no = () => { throw new Error('The storage.kv (synchronous KV) API is only available for SQLite-backed Durable Objects.'); };
            return { get: no, keys: no, commit: no, fill: no, clear: no, settle: async () => {} };
        }
        export function removeAll(storage, name) {
            for (const [k] of storage.kv.list({ prefix: `${name}:` })) storage.kv.delete(k);
        }
        export function throwingGetter() {
            return { get durableObject() { throw new Error('no'); } };
        }
        // The object's host functions, whose commits throw the platform's
        // "full" error while `armed.on` is true.
        export function failingHost(host, armed) {
            return { ...host, commit(...args) {
                if (armed.on) throw new Error(armed.message ?? 'SQLITE_FULL: database or disk is full');
                return host.commit(...args);
            }, fill(...args) {
                armed.fills = (armed.fills ?? 0) + 1;
                if (armed.fill) throw new Error('SQLITE_FULL: database or disk is full');
                return host.fill(...args);
            } };
        }
        export function entryKeys(storage, name) {
            return [...storage.kv.list({ prefix: `${name}:` })].map(([k]) => k);
        }
        export function putEntry(storage, k, value) {
            storage.kv.put(k, value);
        }
        export function getEntry(storage, k) {
            return storage.kv.get(k);
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
        #[wasm_bindgen(js_name = withStorage)]
        fn with_storage(storage: &JsValue) -> JsValue;
        #[wasm_bindgen(js_name = nonSqliteStorage)]
        fn non_sqlite_storage() -> JsValue;
        #[wasm_bindgen(js_name = nonSqliteHost)]
        fn non_sqlite_host() -> JsValue;
        #[wasm_bindgen(js_name = removeAll)]
        fn remove_all(storage: &JsValue, name: &str);
        #[wasm_bindgen(js_name = throwingGetter)]
        fn throwing_getter() -> JsValue;
        #[wasm_bindgen(js_name = failingHost)]
        fn failing_host(host: &JsValue, armed: &JsValue) -> JsValue;
        #[wasm_bindgen(js_name = entryKeys)]
        fn entry_keys(storage: &JsValue, name: &str) -> Vec<String>;
        #[wasm_bindgen(js_name = putEntry)]
        fn put_entry(storage: &JsValue, key: &str, value: &JsValue);
        #[wasm_bindgen(js_name = getEntry)]
        fn get_entry(storage: &JsValue, key: &str) -> JsValue;
        #[wasm_bindgen(js_name = stored)]
        fn stored_bytes(storage: &JsValue, name: &str) -> Option<Vec<u8>>;
        #[wasm_bindgen(js_name = put)]
        fn put_bytes(storage: &JsValue, name: &str, bytes: &[u8]);
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

    /// An entry's bytes (a `Uint8Array`'s) or text, to compare.
    fn bytes_or_text(v: &JsValue) -> (Option<Vec<u8>>, Option<String>) {
        let bytes = v.dyn_ref::<js_sys::Uint8Array>().map(|b| b.to_vec());
        (bytes, v.as_string())
    }

    /// The `code` and `field` of a rejected open.
    async fn refused(options: JsValue) -> (String, String) {
        let err = JsUserTrail::open(Some(options))
            .await
            .err()
            .expect("refused");
        let get = |k: &str| {
            js_sys::Reflect::get(&err, &k.into())
                .ok()
                .and_then(|v| v.as_string())
                .unwrap_or_default()
        };
        (get("code"), get("field"))
    }

    fn object(entries: &[(&str, JsValue)]) -> JsValue {
        let o = js_sys::Object::new();
        for (k, v) in entries {
            js_sys::Reflect::set(&o, &(*k).into(), v).unwrap();
        }
        o.into()
    }

    /// Bad storage options are typed errors, and write nothing.
    #[wasm_bindgen_test::wasm_bindgen_test]
    async fn bad_options_are_refused_with_their_field() {
        let s = storage();
        let host = durable_object_host(&s);
        let cases: Vec<(JsValue, &str, &str)> = vec![
            (
                object(&[("durableObject", 5.into())]),
                "INVALID_INPUT",
                "storage.durableObject",
            ),
            (
                object(&[("durableObject", "ctx.storage".into())]),
                "INVALID_INPUT",
                "storage.durableObject",
            ),
            (object(&[("durableObject", s.clone())]), "UNSUPPORTED", ""),
            (
                object(&[
                    ("durableObject", js_sys::Object::new().into()),
                    ("host", JsValue::NULL),
                ]),
                "INVALID_INPUT",
                "storage.durableObject",
            ),
            (
                object(&[
                    ("durableObject", non_sqlite_storage()),
                    ("host", non_sqlite_host()),
                ]),
                "UNSUPPORTED",
                "",
            ),
            (
                object(&[
                    ("durableObject", s.clone()),
                    ("host", host.clone()),
                    ("name", "a:b".into()),
                ]),
                "INVALID_INPUT",
                "storage.name",
            ),
            (
                object(&[
                    ("durableObject", s.clone()),
                    ("host", host.clone()),
                    ("name", "".into()),
                ]),
                "INVALID_INPUT",
                "storage.name",
            ),
            (
                object(&[
                    ("durableObject", s.clone()),
                    ("host", host.clone()),
                    ("name", "x".repeat(65).into()),
                ]),
                "INVALID_INPUT",
                "storage.name",
            ),
            (
                object(&[
                    ("durableObject", s.clone()),
                    ("host", host.clone()),
                    ("name", "'; DROP TABLE x; --".into()),
                ]),
                "INVALID_INPUT",
                "storage.name",
            ),
            (
                object(&[
                    ("durableObject", s.clone()),
                    ("host", host.clone()),
                    ("name", 7.into()),
                ]),
                "INVALID_INPUT",
                "storage.name",
            ),
            (
                object(&[("name", "alone".into())]),
                "INVALID_INPUT",
                "storage.name",
            ),
            (
                object(&[
                    ("durableObject", s.clone()),
                    ("host", host.clone()),
                    ("durability", "full".into()),
                ]),
                "INVALID_INPUT",
                "storage.durability",
            ),
            (throwing_getter(), "INVALID_INPUT", "storage.durableObject"),
        ];
        let before = entry_keys(&s, "'; DROP TABLE x; --").len() + entry_keys(&s, "alone").len();
        for (storage_part, code, field) in cases {
            let (got_code, got_field) = refused(with_storage(&storage_part)).await;
            assert_eq!(got_code, code, "{storage_part:?}");
            if !field.is_empty() {
                assert_eq!(got_field, field, "{storage_part:?}");
            }
        }
        assert_eq!(
            entry_keys(&s, "'; DROP TABLE x; --").len() + entry_keys(&s, "alone").len(),
            before
        );
    }

    /// Two names in one object are two databases; the same name twice is `BUSY`.
    #[wasm_bindgen_test::wasm_bindgen_test]
    async fn names_keep_databases_apart_in_one_object() {
        let (a, b) = (DurableObject::new(), DurableObject::new());
        let mut first = a.open().await.unwrap();
        first.with(&mut |t| {
            t.tracking()
                .track(usertrail::tracking::EventInput {
                    name: "only_in_a".into(),
                    user_id: Some("ann".into()),
                    ..Default::default()
                })
                .unwrap();
        });
        let mut second = b.open().await.unwrap();
        second.with(&mut |t| {
            assert_eq!(
                t.info()
                    .unwrap()
                    .store
                    .tables
                    .get("events")
                    .copied()
                    .unwrap_or(0),
                0
            );
        });
        assert_eq!(a.open().await.err().as_deref(), Some("BUSY"));
        second.close();
        first.close();
    }

    /// An entry that is not what the engine wrote (another size, not bytes)
    /// is `CORRUPT` at open, and stays as it is.
    #[wasm_bindgen_test::wasm_bindgen_test]
    async fn a_damaged_entry_is_corrupt_and_left_alone() {
        let m = DurableObject::new();
        m.open().await.unwrap().close();
        let s = storage();
        let key = format!("{}:p00000000", m.name);
        let short = js_sys::Uint8Array::new_with_length(100);
        short.fill(7, 0, 100);
        for bad in [short.into(), JsValue::from("text")] {
            put_entry(&s, &key, &bad);
            let err = m.open().await.err();
            assert_eq!(err.as_deref(), Some("CORRUPT"), "{bad:?}");
            let options = open_options(&s, &durable_object_host(&s), &m.name, T0 as f64);
            let refused = JsUserTrail::open(Some(options)).await.err().unwrap();
            let said = js_sys::Reflect::get(&refused, &"message".into()).unwrap();
            assert!(
                said.as_string().unwrap_or_default().contains(&key),
                "{said:?}"
            );
            let after = get_entry(&s, &key);
            assert_eq!(bytes_or_text(&after), bytes_or_text(&bad), "left as it was");
        }
        // A size that is not one the engine writes, on an empty object too.
        let fresh = DurableObject::new();
        let size_key = format!("{}:size", fresh.name);
        for bad in [
            JsValue::from("oops"),
            JsValue::from(-4096),
            JsValue::from(1.5),
        ] {
            put_entry(&s, &size_key, &bad);
            assert_eq!(
                fresh.open().await.err().as_deref(),
                Some("CORRUPT"),
                "{bad:?}"
            );
            let after = get_entry(&s, &size_key);
            assert_eq!(after.as_f64(), bad.as_f64());
            assert_eq!(after.as_string(), bad.as_string());
            assert_eq!(entry_keys(&s, &fresh.name), vec![size_key.clone()]);
        }
    }

    /// Entries removed under an open engine (`ctx.storage.deleteAll()`):
    /// the engine writes nothing more, so no half database is left; opened
    /// again, the object holds a new, empty one.
    #[wasm_bindgen_test::wasm_bindgen_test]
    async fn entries_removed_under_the_engine_stop_its_writes() {
        let m = DurableObject::new();
        let s = storage();
        let options = open_options(&s, &durable_object_host(&s), &m.name, T0 as f64);
        let trail = JsUserTrail::open(Some(options)).await.unwrap();
        let track = |name: &str| {
            let name = name.to_owned();
            trail
                .with_core(move |t| {
                    code(t.tracking().track(usertrail::tracking::EventInput {
                        name,
                        user_id: Some("ann".into()),
                        ..Default::default()
                    }))
                })
                .unwrap()
        };
        assert_eq!(track("before"), "OK");
        remove_all(&s, &m.name);
        let event = object(&[("name", "after".into()), ("userId", "ann".into())]);
        let refused = wasm_bindgen_futures::JsFuture::from(trail.tracking().track(event))
            .await
            .unwrap_err();
        let get = |k: &str| {
            js_sys::Reflect::get(&refused, &k.into())
                .unwrap()
                .as_string()
        };
        assert_eq!(get("code").as_deref(), Some("STORAGE_ERROR"));
        let said = get("message").unwrap_or_default();
        assert!(
            said.contains(&format!("{}:size is missing", m.name)),
            "{said}"
        );
        assert!(entry_keys(&s, &m.name).is_empty(), "nothing written");
        let _ = trail.close();
        let mut again = m.open().await.unwrap();
        again.with(&mut |t| {
            let events = t.info().unwrap().store.tables.get("events").copied();
            assert_eq!(events.unwrap_or(0), 0);
        });
        again.close();
    }

    /// A commit the platform refuses (the object's storage is full) is
    /// `STORAGE_FULL`; nothing of it is stored, and the engine goes on.
    #[wasm_bindgen_test::wasm_bindgen_test]
    async fn a_refused_commit_is_storage_full_and_the_engine_goes_on() {
        let m = DurableObject::new();
        let s = storage();
        let armed = object(&[("on", false.into())]);
        let host = failing_host(&durable_object_host(&s), &armed);
        let options = open_options(&s, &host, &m.name, T0 as f64);
        let trail = JsUserTrail::open(Some(options)).await.unwrap();
        let track = |name: &str| {
            let name = name.to_owned();
            trail
                .with_core(move |t| {
                    code(t.tracking().track(usertrail::tracking::EventInput {
                        name,
                        user_id: Some("ann".into()),
                        ..Default::default()
                    }))
                })
                .unwrap()
        };
        assert_eq!(track("first"), "OK");
        let before = stored_bytes(&s, &m.name);
        js_sys::Reflect::set(&armed, &"on".into(), &true.into()).unwrap();
        assert_eq!(track("refused"), "STORAGE_FULL");
        assert_eq!(stored_bytes(&s, &m.name), before, "nothing of it stored");
        js_sys::Reflect::set(&armed, &"on".into(), &false.into()).unwrap();
        assert_eq!(track("second"), "OK");
        let count = trail
            .with_core(|t| {
                t.tracking()
                    .count(&usertrail::tracking::HistoryFilter {
                        user_id: Some("ann".into()),
                        ..Default::default()
                    })
                    .unwrap()
            })
            .unwrap();
        assert_eq!(count, 2);
        let _ = trail.close();
        let mut again = m.open().await.unwrap();
        again.with(&mut |t| {
            let names: Vec<String> = t
                .tracking()
                .history(
                    &usertrail::tracking::HistoryFilter {
                        user_id: Some("ann".into()),
                        ..Default::default()
                    },
                    None,
                    None,
                )
                .unwrap()
                .events
                .into_iter()
                .map(|e| e.name)
                .collect();
            assert!(names.contains(&"first".to_owned()) && names.contains(&"second".to_owned()));
            assert!(!names.contains(&"refused".to_owned()), "{names:?}");
        });
        again.close();
    }

    /// An erasure whose overwriting of the platform's log fails is
    /// committed, reports `STORAGE_FULL`, and the overwriting runs again
    /// after the next call.
    #[wasm_bindgen_test::wasm_bindgen_test]
    async fn a_failed_scrub_is_reported_and_tried_again() {
        let m = DurableObject::new();
        let s = storage();
        let armed = object(&[("on", false.into())]);
        let host = failing_host(&durable_object_host(&s), &armed);
        let trail = JsUserTrail::open(Some(open_options(&s, &host, &m.name, T0 as f64)))
            .await
            .unwrap();
        trail.with_core(|t| {
            t.tracking()
                .track(usertrail::tracking::EventInput {
                    name: "gone".into(),
                    user_id: Some("ann".into()),
                    ..Default::default()
                })
                .unwrap()
        });
        let fills = || {
            js_sys::Reflect::get(&armed, &"fills".into())
                .unwrap()
                .as_f64()
                .unwrap_or(0.0)
        };
        js_sys::Reflect::set(&armed, &"fill".into(), &true.into()).unwrap();
        let erased = trail.privacy().erase("ann".into(), JsValue::UNDEFINED);
        let err = wasm_bindgen_futures::JsFuture::from(erased)
            .await
            .err()
            .unwrap();
        let code = js_sys::Reflect::get(&err, &"code".into()).unwrap();
        assert_eq!(code.as_string().as_deref(), Some("STORAGE_FULL"));
        assert_eq!(fills(), 1.0);
        let ann = usertrail::tracking::HistoryFilter {
            user_id: Some("ann".into()),
            ..Default::default()
        };
        let left = trail.with_core(|t| t.tracking().count(&ann).unwrap());
        assert_eq!(left, Some(0), "the erasure itself is committed");
        // Later calls go on, and answer for themselves, while the overwrite
        // keeps failing behind them.
        let event = object(&[("name", "later".into()), ("userId", "bob".into())]);
        wasm_bindgen_futures::JsFuture::from(trail.tracking().track(event))
            .await
            .expect("a later call is not failed by the overwrite");
        assert_eq!(fills(), 1.0, "not tried again within the minute");
        // A restart does not forget it: the next engine runs it after its first call.
        let _ = wasm_bindgen_futures::JsFuture::from(trail.close()).await;
        js_sys::Reflect::set(&armed, &"fill".into(), &false.into()).unwrap();
        let trail = JsUserTrail::open(Some(open_options(&s, &host, &m.name, T0 as f64)))
            .await
            .unwrap();
        assert_eq!(fills(), 1.0);
        wasm_bindgen_futures::JsFuture::from(trail.info())
            .await
            .unwrap();
        assert_eq!(
            fills(),
            3.0,
            "both writes of zeros ran after the first call"
        );
        wasm_bindgen_futures::JsFuture::from(trail.info())
            .await
            .unwrap();
        assert_eq!(fills(), 3.0, "and not again");
        let keys = entry_keys(&s, &m.name);
        assert!(
            !keys.iter().any(|k| k.contains(":scrub")),
            "no marker or zeros left: {keys:?}"
        );
        let _ = trail.close();
    }

    /// Calls that end while an overwrite runs do not start another; an
    /// erasure that commits during it makes it run again; the mark goes
    /// when all are overwritten.
    #[wasm_bindgen_test::wasm_bindgen_test]
    async fn one_overwrite_at_a_time_and_none_forgotten() {
        let m = DurableObject::new();
        let s = storage();
        let armed = object(&[("on", false.into())]);
        let host = failing_host(&durable_object_host(&s), &armed);
        let trail = JsUserTrail::open(Some(open_options(&s, &host, &m.name, T0 as f64)))
            .await
            .unwrap();
        for who in ["ann", "bob"] {
            let event = object(&[("name", "x".into()), ("userId", who.into())]);
            wasm_bindgen_futures::JsFuture::from(trail.tracking().track(event))
                .await
                .unwrap();
        }
        let fills = || {
            js_sys::Reflect::get(&armed, &"fills".into())
                .unwrap()
                .as_f64()
                .unwrap_or(0.0)
        };
        // An erasure and three other calls at once: one run of two fills.
        let erase = trail.privacy().erase("ann".into(), JsValue::UNDEFINED);
        let others: Vec<js_sys::Promise> = (0..3).map(|_| trail.info()).collect();
        wasm_bindgen_futures::JsFuture::from(erase).await.unwrap();
        for p in others {
            wasm_bindgen_futures::JsFuture::from(p).await.unwrap();
        }
        assert_eq!(fills(), 2.0, "one overwrite, not one per call");
        // Two erasures at once: every one overwritten, the mark gone after.
        let a = trail.privacy().erase("bob".into(), JsValue::UNDEFINED);
        let b = trail.privacy().erase("cat".into(), JsValue::UNDEFINED);
        wasm_bindgen_futures::JsFuture::from(a).await.unwrap();
        wasm_bindgen_futures::JsFuture::from(b).await.unwrap();
        wasm_bindgen_futures::JsFuture::from(trail.info())
            .await
            .unwrap();
        assert!(
            fills() >= 4.0,
            "the second erasure was overwritten too: {}",
            fills()
        );
        let keys = entry_keys(&s, &m.name);
        assert!(!keys.iter().any(|k| k.contains(":scrub")), "{keys:?}");
        let _ = trail.close();
    }

    /// A failure that is not the storage being full is not reported as full.
    #[wasm_bindgen_test::wasm_bindgen_test]
    async fn only_a_full_storage_is_storage_full() {
        let m = DurableObject::new();
        let s = storage();
        let armed = object(&[("on", false.into())]);
        let host = failing_host(&durable_object_host(&s), &armed);
        let trail = JsUserTrail::open(Some(open_options(&s, &host, &m.name, T0 as f64)))
            .await
            .unwrap();
        let message =
            "Cannot perform I/O on behalf of a different Durable Object; exceeded the limit";
        js_sys::Reflect::set(&armed, &"message".into(), &message.into()).unwrap();
        js_sys::Reflect::set(&armed, &"on".into(), &true.into()).unwrap();
        let event = object(&[("name", "x".into()), ("userId", "ann".into())]);
        let err = wasm_bindgen_futures::JsFuture::from(trail.tracking().track(event))
            .await
            .unwrap_err();
        let get = |k: &str| js_sys::Reflect::get(&err, &k.into()).unwrap().as_string();
        assert_eq!(get("code").as_deref(), Some("STORAGE_ERROR"));
        assert!(get("message")
            .unwrap_or_default()
            .contains("different Durable Object"));
        js_sys::Reflect::set(&armed, &"on".into(), &false.into()).unwrap();
        let _ = trail.close();
    }

    /// A size smaller than the pages stored (or not whole pages) is
    /// `CORRUPT`, and nothing is zeroed or deleted.
    #[wasm_bindgen_test::wasm_bindgen_test]
    async fn a_size_short_of_the_pages_is_corrupt_and_nothing_is_zeroed() {
        let m = DurableObject::new();
        let mut engine = m.open().await.unwrap();
        engine.with(&mut |t| {
            for i in 0..50 {
                t.tracking()
                    .track(usertrail::tracking::EventInput {
                        name: format!("keep-{i}"),
                        user_id: Some("ann".into()),
                        ..Default::default()
                    })
                    .unwrap();
            }
        });
        engine.close();
        let s = storage();
        let before = stored_bytes(&s, &m.name).unwrap();
        let keys = entry_keys(&s, &m.name);
        let size_key = format!("{}:size", m.name);
        for bad in [4096.0, (before.len() + 1000) as f64] {
            put_entry(&s, &size_key, &bad.into());
            assert_eq!(m.open().await.err().as_deref(), Some("CORRUPT"), "{bad}");
            assert_eq!(entry_keys(&s, &m.name), keys);
        }
        put_entry(&s, &size_key, &(before.len() as f64).into());
        assert_eq!(
            stored_bytes(&s, &m.name).unwrap(),
            before,
            "not a byte zeroed"
        );
        let mut again = m.open().await.unwrap();
        again.with(&mut |t| {
            let ann = usertrail::tracking::HistoryFilter {
                user_id: Some("ann".into()),
                ..Default::default()
            };
            assert_eq!(t.tracking().count(&ann).unwrap(), 50);
        });
        again.close();
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
