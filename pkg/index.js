// usertrail: the package's one entry point, for every host.
//
// The wasm module is loaded once, by `init()`. `UserTrail.open()` calls it for
// you in browsers, workers, Node, Deno and Bun. Where the host hands you a
// compiled module instead (Cloudflare workerd), call `init(module)` first.

import initWasm, { initSync as initSyncWasm, UserTrail } from './gen/usertrail.js';

export { UserTrail };
export { UserTrailError } from './gen/error.js';
export { Tracker, uuidv7 } from './tracker.js';

let ready = null;

/** True in Node and Bun, which cannot fetch() a file: URL. */
function hasNodeFs() {
  return typeof process !== 'undefined' && !!process.versions?.node && typeof Deno === 'undefined';
}

async function wasmSource() {
  const url = new URL('./gen/usertrail_bg.wasm', import.meta.url);
  if (hasNodeFs() && url.protocol === 'file:') {
    const { readFile } = await import('node:fs/promises');
    return readFile(url);
  }
  return url;
}

/**
 * Loads the wasm module. Safe to call many times; only the first call loads.
 * @param {WebAssembly.Module | BufferSource | URL | string | Response} [input]
 *   What to load from. Default: the `.wasm` file next to this module.
 */
export function init(input) {
  if (!ready) {
    ready = (async () => {
      await initWasm({ module_or_path: input ?? (await wasmSource()) });
    })();
    ready.catch(() => {
      ready = null;
    });
  }
  return ready;
}

/**
 * Loads the wasm module synchronously from a compiled module or its bytes.
 * @param {WebAssembly.Module | BufferSource} module
 */
export function initSync(module) {
  if (!ready) {
    initSyncWasm({ module });
    ready = Promise.resolve();
  }
}

// `UserTrail.open` loads the module first, so most hosts never call init().
const openAfterInit = UserTrail.open;
UserTrail.open = async function open(options) {
  await init();
  let file = null;
  try {
    const storage = options?.storage;
    if (typeof storage?.file === 'string' && storage.fs === undefined && hasFs()) file = storage.file;
  } catch {
    // A throwing getter or Proxy: the engine reads the options itself and
    // refuses them with INVALID_INPUT.
  }
  if (file !== null) {
    const { resolve, dirname } = await import('node:path');
    const fs = await import('node:fs');
    try {
      options = { ...options, storage: { file: resolve(file), fs: fileHost(fs, dirname) } };
    } catch {
      // As above: the engine refuses them.
    }
  }
  return openAfterInit.call(UserTrail, options);
};

/** True where `node:fs` exists: Node, Bun and Deno. */
function hasFs() {
  return typeof process !== 'undefined' && !!process.versions?.node;
}

/**
 * The synchronous file functions the engine's file VFS calls, over `node:fs`.
 * One engine holds a database at a time, through `<path>.lock` holding the
 * process id; a lock left by a process that died is taken over.
 */
function fileHost(fs, dirname) {
  const { O_RDONLY, O_RDWR, O_CREAT, O_EXCL } = fs.constants;
  const alive = (pid) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch (err) {
      return err.code === 'EPERM';
    }
  };
  const ignoreMissing = (fn) => {
    try {
      fn();
    } catch (err) {
      if (err.code !== 'ENOENT') throw err;
    }
  };
  const host = {
    open: (path, create, exclusive, readOnly) =>
      fs.openSync(path, readOnly ? O_RDONLY : O_RDWR | (create ? O_CREAT : 0) | (exclusive ? O_EXCL : 0), 0o644),
    read(fd, buf, offset) {
      let done = 0;
      while (done < buf.length) {
        const n = fs.readSync(fd, buf, done, buf.length - done, offset + done);
        if (n === 0) break;
        done += n;
      }
      return done;
    },
    write(fd, buf, offset) {
      let done = 0;
      while (done < buf.length) done += fs.writeSync(fd, buf, done, buf.length - done, offset + done);
    },
    truncate: (fd, size) => fs.ftruncateSync(fd, size),
    sync: (fd) => fs.fsyncSync(fd),
    size: (fd) => fs.fstatSync(fd).size,
    close: (fd) => fs.closeSync(fd),
    unlink: (path) => ignoreMissing(() => fs.unlinkSync(path)),
    exists: (path) => fs.existsSync(path),
    lockFile(path, retried = false) {
      const lock = `${path}.lock`;
      try {
        const fd = fs.openSync(lock, O_RDWR | O_CREAT | O_EXCL, 0o644);
        fs.writeSync(fd, String(process.pid));
        fs.fsyncSync(fd);
        fs.closeSync(fd);
        return true;
      } catch (err) {
        if (err.code !== 'EEXIST' || retried) throw err;
      }
      let owner = NaN;
      try {
        owner = Number(fs.readFileSync(lock, 'utf8'));
      } catch (err) {
        if (err.code !== 'ENOENT') throw err;
      }
      if (owner === process.pid || (owner && alive(owner))) return false;
      ignoreMissing(() => fs.unlinkSync(lock)); // its holder died
      return host.lockFile(path, true);
    },
    unlockFile: (path) => ignoreMissing(() => fs.unlinkSync(`${path}.lock`)),
    // Makes a created or deleted directory entry durable. Windows cannot
    // open a directory for this; its file system journals entries itself.
    syncDir(path) {
      if (process.platform === 'win32') return;
      const fd = fs.openSync(dirname(path), O_RDONLY);
      try {
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
    },
  };
  return host;
}
