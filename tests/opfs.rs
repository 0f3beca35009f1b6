//! OPFS persistence, in a dedicated worker in headless Chromium, and the
//! storage-medium suite (`tests/common/media.rs`) on OPFS.
//! Run by `./build.sh test` (needs CHROMEDRIVER and webdriver.json).
#![cfg(all(target_family = "wasm", target_os = "unknown"))]

#[path = "common/media.rs"]
mod media;

use sqlite_wasm_rs::vfs::VfsFilesManager;
use sqlite_wasm_rs::WasmOsCallback;
use sqlite_wasm_vfs::sahpool::{install, OpfsSAHPoolCfgBuilder};
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;

use usertrail::wasm::JsUserTrail;

wasm_bindgen_test_configure!(run_in_dedicated_worker);

const DIR: &str = ".usertrail-test";

fn options(name: &str) -> JsValue {
    options_with(name, "full")
}

/// The open options of the OPFS file `name` with `durability`.
fn options_with(name: &str, durability: &str) -> JsValue {
    js_sys::JSON::parse(&format!(
        r#"{{"durability":"{durability}","storage":{{"opfs":{{"name":"{name}","directory":"{DIR}","pool":"usertrail-test"}}}}}}"#
    ))
    .unwrap()
}

fn code(err: JsValue) -> String {
    js_sys::Reflect::get(&err, &"code".into())
        .unwrap()
        .as_string()
        .unwrap_or_default()
}

#[wasm_bindgen_test]
async fn writes_persist_in_opfs_across_reopen() {
    let name = format!("persist-{}.db", js_sys::Date::now() as u64);
    let trail = JsUserTrail::open(Some(options(&name))).await.unwrap();
    trail
        .with_core(|t| {
            let conn = t.store().conn();
            let journal: String = conn
                .pragma_query_value(None, "journal_mode", |r| r.get(0))
                .unwrap();
            assert_eq!(journal, "delete", "OPFS uses a rollback journal");
            let cache: i64 = conn
                .pragma_query_value(None, "cache_size", |r| r.get(0))
                .unwrap();
            assert_eq!(cache, -32_768, "a 32 MiB page cache over OPFS");
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('probe', 'in opfs')",
                [],
            )
            .unwrap();
        })
        .unwrap();
    wasm_bindgen_futures::JsFuture::from(trail.close())
        .await
        .unwrap();

    // The file is in the OPFS pool, not in the in-memory default VFS.
    let cfg = OpfsSAHPoolCfgBuilder::new()
        .vfs_name("usertrail-test")
        .directory(DIR)
        .build();
    let pool = install::<WasmOsCallback>(&cfg, false).await.unwrap();
    assert!(pool.names().unwrap().iter().any(|n| n.ends_with(&name)));

    let trail = JsUserTrail::open(Some(options(&name))).await.unwrap();
    let v: String = trail
        .with_core(|t| {
            t.store()
                .conn()
                .query_row("SELECT value FROM meta WHERE key = 'probe'", [], |r| {
                    r.get(0)
                })
                .unwrap()
        })
        .unwrap();
    assert_eq!(v, "in opfs");
}

#[wasm_bindgen_test]
async fn a_second_engine_on_the_same_opfs_file_is_busy() {
    let name = format!("busy-{}.db", js_sys::Date::now() as u64);
    let first = JsUserTrail::open(Some(options(&name))).await.unwrap();
    let err = JsUserTrail::open(Some(options(&name))).await.err().unwrap();
    assert_eq!(code(err), "BUSY");
    wasm_bindgen_futures::JsFuture::from(first.close())
        .await
        .unwrap();
    JsUserTrail::open(Some(options(&name))).await.unwrap();
}

#[wasm_bindgen_test]
async fn durability_normal_on_opfs_writes_a_log_and_keeps_commits_across_reopen() {
    let name = format!("normal-{}.db", js_sys::Date::now() as u64);
    let trail = JsUserTrail::open(Some(options_with(&name, "normal")))
        .await
        .unwrap();
    trail
        .with_core(|t| {
            let conn = t.store().conn();
            let journal: String = conn
                .pragma_query_value(None, "journal_mode", |r| r.get(0))
                .unwrap();
            assert_eq!(
                journal, "wal",
                "normal: a write-ahead log under the exclusive lock"
            );
            for i in 0..50 {
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES (?1, 'in the log')",
                    [format!("probe-{i}")],
                )
                .unwrap();
            }
        })
        .unwrap();
    wasm_bindgen_futures::JsFuture::from(trail.close())
        .await
        .unwrap();
    // Reopened with the default (full): the log is checkpointed, the file
    // goes back to a rollback journal, and every commit is there.
    let trail = JsUserTrail::open(Some(options_with(&name, "full")))
        .await
        .unwrap();
    let (journal, n): (String, i64) = trail
        .with_core(|t| {
            let conn = t.store().conn();
            (
                conn.pragma_query_value(None, "journal_mode", |r| r.get(0))
                    .unwrap(),
                conn.query_row(
                    "SELECT count(*) FROM meta WHERE value = 'in the log'",
                    [],
                    |r| r.get(0),
                )
                .unwrap(),
            )
        })
        .unwrap();
    assert_eq!((journal.as_str(), n), ("delete", 50));
}

#[wasm_bindgen::prelude::wasm_bindgen(inline_js = r#"
    // Makes the n-th write through any OPFS sync access handle throw the
    // error a browser throws when the origin's quota is full.
    export function armQuota(n) {
        const p = FileSystemSyncAccessHandle.prototype;
        if (!p.__realWrite) p.__realWrite = p.write;
        let k = 0;
        p.write = function (...args) {
            k += 1;
            if (k === n) throw new DOMException('injected: the quota is full', 'QuotaExceededError');
            return p.__realWrite.apply(this, args);
        };
    }
    export function disarmQuota() {
        const p = FileSystemSyncAccessHandle.prototype;
        if (p.__realWrite) p.write = p.__realWrite;
    }
"#)]
extern "C" {
    #[wasm_bindgen(js_name = armQuota)]
    fn arm_quota(n: u32);
    #[wasm_bindgen(js_name = disarmQuota)]
    fn disarm_quota();
}

#[wasm_bindgen_test]
async fn a_full_quota_is_storage_full_and_the_database_stays_whole() {
    use usertrail::error::ErrorCode;
    use usertrail::tracking::EventInput;
    let name = format!("quota-{}.db", js_sys::Date::now() as u64);
    let trail = JsUserTrail::open(Some(options(&name))).await.unwrap();
    let track = |t: &usertrail::UserTrail, n: usize| {
        let batch = (0..n)
            .map(|i| EventInput {
                name: "view".into(),
                user_id: Some("ann".into()),
                properties: serde_json::json!({ "i": i, "pad": "x".repeat(300) })
                    .as_object()
                    .cloned(),
                ..Default::default()
            })
            .collect();
        t.tracking().track_batch(batch, false).map(|_| ())
    };
    let count = |t: &usertrail::UserTrail| -> i64 {
        t.store()
            .conn()
            .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
            .unwrap()
    };
    trail.with_core(|t| track(t, 20).unwrap()).unwrap();
    let mut kept = 20;
    let mut refused = 0;
    // The fault at each of the first writes of a commit: the journal's,
    // then the database's.
    for n in 1..=6 {
        arm_quota(n);
        let result = trail.with_core(|t| track(t, 20)).unwrap();
        disarm_quota();
        match result {
            Err(e) => {
                assert_eq!(e.code(), "STORAGE_FULL", "write {n}: {e}");
                refused += 1;
            }
            Ok(()) => kept += 20,
        }
        // Still usable: the data of every returned commit, a whole file,
        // and the next write goes through.
        trail
            .with_core(|t| {
                assert_eq!(count(t), kept, "write {n}");
                let check: String = t
                    .store()
                    .conn()
                    .query_row("PRAGMA integrity_check", [], |r| r.get(0))
                    .unwrap();
                assert_eq!(check, "ok");
                track(t, 20).unwrap();
            })
            .unwrap();
        kept += 20;
    }
    assert!(
        refused >= 5,
        "the quota error reached the caller {refused} times of 6"
    );
    wasm_bindgen_futures::JsFuture::from(trail.close())
        .await
        .unwrap();
    let trail = JsUserTrail::open(Some(options(&name))).await.unwrap();
    assert_eq!(trail.with_core(count).unwrap(), kept);
}

/// A database file in an OPFS pool; `put` and `stored` go through the pool's
/// own import and export, byte for byte.
struct Opfs {
    name: String,
}

impl Opfs {
    fn new() -> Self {
        thread_local!(static N: std::cell::Cell<u32> = const { std::cell::Cell::new(0) });
        let n = N.with(|n| {
            n.set(n.get() + 1);
            n.get()
        });
        Self {
            name: format!("medium-{}-{n}.db", js_sys::Date::now() as u64),
        }
    }

    async fn pool() -> sqlite_wasm_vfs::sahpool::OpfsSAHPoolUtil {
        let cfg = OpfsSAHPoolCfgBuilder::new()
            .vfs_name("usertrail-test")
            .directory(DIR)
            .build();
        let pool = install::<WasmOsCallback>(&cfg, false).await.unwrap();
        POOL.with(|p| *p.borrow_mut() = Some(pool.clone()));
        pool
    }
}

thread_local! {
    /// The test pool, once installed, for removing files on drop.
    static POOL: std::cell::RefCell<Option<sqlite_wasm_vfs::sahpool::OpfsSAHPoolUtil>> =
        const { std::cell::RefCell::new(None) };
}

impl Drop for Opfs {
    /// Frees the pool's slots: it has a fixed number of them.
    fn drop(&mut self) {
        POOL.with(|p| {
            if let Some(pool) = p.borrow().as_ref() {
                for name in [self.name.clone(), format!("{}-journal", self.name)] {
                    let _ = pool.remove(&name);
                }
            }
        });
    }
}

impl media::Medium for Opfs {
    const NAME: &'static str = "OPFS";
    const PERSISTENT: bool = true;
    const EXCLUSIVE: bool = true;

    async fn open(&self) -> Result<Box<dyn media::Engine>, String> {
        let opened = JsUserTrail::open(Some(options(&self.name))).await;
        Self::pool().await; // remembered, for the files' removal on drop
        opened
            .map(|t| Box::new(t) as Box<dyn media::Engine>)
            .map_err(code)
    }

    async fn put(&self, bytes: &[u8]) {
        use sqlite_wasm_rs::vfs::transfer::DbTransfer;
        let pool = Self::pool().await;
        pool.remove(&self.name).unwrap();
        pool.import_db_unchecked(&self.name, bytes).unwrap();
    }

    async fn stored(&self) -> Option<Vec<u8>> {
        use sqlite_wasm_rs::vfs::transfer::DbTransfer;
        Self::pool().await.export_db(&self.name).ok()
    }
}

media_suite!(opfs_medium, Opfs::new());
