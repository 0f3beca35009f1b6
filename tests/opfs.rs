//! OPFS persistence, in a dedicated worker in headless Chromium.
//! Run by `./build.sh test` (needs CHROMEDRIVER and webdriver.json).
#![cfg(all(target_family = "wasm", target_os = "unknown"))]

use sqlite_wasm_rs::vfs::VfsFilesManager;
use sqlite_wasm_rs::WasmOsCallback;
use sqlite_wasm_vfs::sahpool::{install, OpfsSAHPoolCfgBuilder};
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;

use usertrail::wasm::JsUserTrail;

wasm_bindgen_test_configure!(run_in_dedicated_worker);

const DIR: &str = ".usertrail-test";

fn options(name: &str) -> JsValue {
    js_sys::JSON::parse(&format!(
        r#"{{"storage":{{"opfs":{{"name":"{name}","directory":"{DIR}","pool":"usertrail-test"}}}}}}"#
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
    let mut trail = JsUserTrail::open(Some(options(&name))).await.unwrap();
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
    trail.close().unwrap();

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
    let mut first = JsUserTrail::open(Some(options(&name))).await.unwrap();
    let err = JsUserTrail::open(Some(options(&name))).await.err().unwrap();
    assert_eq!(code(err), "BUSY");
    first.close().unwrap();
    JsUserTrail::open(Some(options(&name))).await.unwrap();
}
