//! The storage-medium suite (`tests/common/media.rs`) on memory (native and
//! wasm), on an OS file (native), and on a host file through the host-file
//! VFS (wasm in Node), plus the VFS conformance suite of `sqlite-wasm-rs` run
//! against that VFS. `tests/opfs.rs` runs the same suite on OPFS.

use crate::common::media;

use std::cell::RefCell;

use media::*;
use usertrail::Storage;

/// A private in-memory database; `put` bytes are imported by the next open.
#[derive(Default)]
pub struct Memory {
    next: RefCell<Option<Vec<u8>>>,
}

impl Medium for Memory {
    const NAME: &'static str = "memory";
    const PERSISTENT: bool = false;
    const EXCLUSIVE: bool = false;

    async fn open(&self) -> Result<Box<dyn Engine>, String> {
        let storage = match self.next.borrow_mut().take() {
            Some(bytes) => Storage::Bytes(bytes),
            None => Storage::Memory,
        };
        memory_engine(storage)
            .map(|t| Box::new(t) as Box<dyn Engine>)
            .map_err(|e| code::<()>(Err(e)))
    }

    async fn put(&self, bytes: &[u8]) {
        *self.next.borrow_mut() = Some(bytes.to_vec());
    }

    async fn stored(&self) -> Option<Vec<u8>> {
        None
    }
}

media_suite!(memory, Memory::default());

#[cfg(not(all(target_family = "wasm", target_os = "unknown")))]
mod os_file {
    use std::path::PathBuf;
    use std::sync::Arc;

    use usertrail::clock::ManualClock;
    use usertrail::store::{Durability, StoreOptions};
    use usertrail::{OpenOptions, Storage, UserTrail};

    use super::media::*;

    /// A file on disk, through the operating system.
    pub struct File {
        _dir: tempfile::TempDir,
        path: PathBuf,
        durability: Durability,
    }

    impl File {
        pub fn new(durability: Durability) -> Self {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("trail.db");
            Self {
                _dir: dir,
                path,
                durability,
            }
        }
    }

    impl Medium for File {
        const NAME: &'static str = "OS file";
        const PERSISTENT: bool = true;
        const EXCLUSIVE: bool = true;

        async fn open(&self) -> Result<Box<dyn Engine>, String> {
            let mut options = OpenOptions::new(Storage::File(self.path.clone()))
                .clock(Arc::new(ManualClock::new(T0)));
            options.store = StoreOptions {
                busy_timeout_ms: 50,
                durability: self.durability,
            };
            UserTrail::open(options)
                .map(|t| Box::new(t) as Box<dyn Engine>)
                .map_err(|e| code::<()>(Err(e)))
        }

        async fn put(&self, bytes: &[u8]) {
            std::fs::write(&self.path, bytes).unwrap();
        }

        async fn stored(&self) -> Option<Vec<u8>> {
            std::fs::read(&self.path).ok()
        }
    }

    /// The sqlite3 command-line tool opens an export and finds it whole.
    #[test]
    fn the_sqlite3_tool_opens_an_export() {
        let bytes = block_on(exports_are_whole_sqlite_files(&File::new(
            Durability::Normal,
        )));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("export.sqlite");
        std::fs::write(&path, &bytes).unwrap();
        let out = std::process::Command::new("sqlite3")
            .arg(&path)
            .arg("PRAGMA integrity_check; SELECT count(*) FROM sessions;")
            .output()
            .expect("sqlite3 is installed by ./build.sh setup");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "ok\n1\n");
    }
}

#[cfg(not(all(target_family = "wasm", target_os = "unknown")))]
use os_file::File;
#[cfg(not(all(target_family = "wasm", target_os = "unknown")))]
media_suite!(file, File::new(usertrail::store::Durability::Full));
#[cfg(not(all(target_family = "wasm", target_os = "unknown")))]
media_suite!(
    file_durability_normal,
    File::new(usertrail::store::Durability::Normal)
);

#[cfg(all(target_family = "wasm", target_os = "unknown"))]
mod host_file {
    use wasm_bindgen::prelude::*;

    use usertrail::wasm::JsUserTrail;

    use super::media::*;

    #[wasm_bindgen(module = "/pkg/node-fs.js")]
    extern "C" {
        #[wasm_bindgen(js_name = fileHost)]
        fn file_host(fs: &JsValue, dirname: &JsValue) -> JsValue;
    }

    #[wasm_bindgen(inline_js = r#"
        const fs = () => process.getBuiltinModule('node:fs');
        const path = () => process.getBuiltinModule('node:path');
        export function nodeFs() { return fs(); }
        export function dirnameFn() { return path().dirname; }
        export function tempDir() {
            const os = process.getBuiltinModule('node:os');
            return fs().mkdtempSync(path().join(os.tmpdir(), 'usertrail-media-'));
        }
        export function join(dir, name) { return path().join(dir, name); }
        export function writeFile(p, bytes) { fs().writeFileSync(p, bytes); }
        export function readFile(p) {
            try { return new Uint8Array(fs().readFileSync(p)); } catch { return undefined; }
        }
        export function openOptions(file, host, t0, durability) {
            return { storage: { file, fs: host }, clock: () => t0, busyTimeoutMs: 50, durability };
        }
        // The host's file functions with every path under `dir`, so that the
        // conformance suite's fixed names land in a fresh folder.
        export function scoped(host, dir) {
            const at = (p) => path().join(dir, p);
            return {
                ...host,
                open: (p, ...rest) => host.open(at(p), ...rest),
                unlink: (p) => host.unlink(at(p)),
                exists: (p) => host.exists(at(p)),
                lockFile: (p) => host.lockFile(at(p)),
                sameFile: (fd, p) => host.sameFile(fd, at(p)),
                unlockFile: (p) => host.unlockFile(at(p)),
                syncDir: (p) => host.syncDir(at(p)),
            };
        }
    "#)]
    extern "C" {
        #[wasm_bindgen(js_name = nodeFs)]
        fn node_fs() -> JsValue;
        #[wasm_bindgen(js_name = dirnameFn)]
        fn dirname_fn() -> JsValue;
        #[wasm_bindgen(js_name = tempDir)]
        fn temp_dir() -> String;
        fn join(dir: &str, name: &str) -> String;
        #[wasm_bindgen(js_name = writeFile)]
        fn write_file(path: &str, bytes: &[u8]);
        #[wasm_bindgen(js_name = readFile)]
        fn read_file(path: &str) -> Option<Vec<u8>>;
        #[wasm_bindgen(js_name = openOptions)]
        fn open_options(file: &str, host: &JsValue, t0: f64, durability: &str) -> JsValue;
        fn scoped(host: &JsValue, dir: &str) -> JsValue;
    }

    fn host() -> JsValue {
        file_host(&node_fs(), &dirname_fn())
    }

    /// A file on the host's disk, through the host-file VFS.
    pub struct HostFile {
        path: String,
        durability: &'static str,
    }

    impl HostFile {
        /// A fresh file, opened with `durability` (`"full"` or `"normal"`).
        pub fn new(durability: &'static str) -> Self {
            Self {
                path: join(&temp_dir(), "trail.db"),
                durability,
            }
        }
    }

    impl Medium for HostFile {
        const NAME: &'static str = "host file";
        const PERSISTENT: bool = true;
        const EXCLUSIVE: bool = true;

        async fn open(&self) -> Result<Box<dyn Engine>, String> {
            let options = open_options(&self.path, &host(), T0 as f64, self.durability);
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
            write_file(&self.path, bytes);
        }

        async fn stored(&self) -> Option<Vec<u8>> {
            read_file(&self.path)
        }
    }

    /// `sqlite-wasm-rs`' own VFS conformance suite against the host-file VFS.
    #[wasm_bindgen_test::wasm_bindgen_test]
    fn the_host_file_vfs_passes_the_vfs_conformance_suite() {
        let fs = scoped(&host(), &temp_dir());
        usertrail::wasm::host_file_conformance(fs).unwrap();
    }
}

#[cfg(all(target_family = "wasm", target_os = "unknown"))]
use host_file::HostFile;
#[cfg(all(target_family = "wasm", target_os = "unknown"))]
media_suite!(host_file_vfs, HostFile::new("full"));
#[cfg(all(target_family = "wasm", target_os = "unknown"))]
media_suite!(host_file_vfs_durability_normal, HostFile::new("normal"));
