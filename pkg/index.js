// usertrail: the package's one entry point, for every host.
//
// The wasm module is loaded once, by `init()`. `UserTrail.open()` calls it for
// you in browsers, workers, Node and Deno. Where the host hands you a
// compiled module instead (Cloudflare workerd), call `init(module)` first.

import initWasm, { initSync as initSyncWasm, UserTrail } from './gen/usertrail.js';
import { fileHost, realFile } from './node-fs.js';
import { durableObjectHost } from './durable-object.js';

export { UserTrail };
import { UserTrailError } from './gen/error.js';
export { UserTrailError };
export { Tracker, uuidv7 } from './tracker.js';

let ready = null;

/** True in Node, which cannot fetch() a file: URL. */
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
  try {
    await init();
  } catch (err) {
    throw new UserTrailError(
      'UNSUPPORTED',
      `usertrail could not load its wasm module (${err?.message ?? err}). Where the host hands over a compiled ` +
        "module instead of fetching files (Cloudflare Workers), import it and call init() first: import wasm from 'usertrail/usertrail_bg.wasm'; await init(wasm);",
    );
  }
  let file = null;
  try {
    const storage = options?.storage;
    if (typeof storage?.file === 'string' && storage.fs === undefined && hasFs()) file = storage.file;
    if (storage?.durableObject !== undefined && typeof storage.durableObject === 'object') {
      // The storage functions the engine's Durable Object VFS calls; none
      // without SQLite storage, which the engine reports as UNSUPPORTED.
      const host = durableObjectHost(storage.durableObject) ?? undefined;
      options = { ...options, storage: { ...storage, host } };
    }
  } catch {
    // A throwing getter or Proxy: the engine reads the options itself and
    // refuses them with INVALID_INPUT.
  }
  if (file !== null) {
    const path = await import('node:path');
    const fs = await import('node:fs');
    try {
      // Other keys stay, for the engine to refuse (`durability` misplaced here).
      // Symbolic links resolved: one file, one lock and one journal, whatever its name.
      options = { ...options, storage: { ...options.storage, file: realFile(fs, file, path), fs: fileHost(fs, path.dirname) } };
    } catch {
      // As above: the engine refuses them.
    }
  }
  const trail = await openAfterInit.call(UserTrail, options);
  let shared = null;
  try {
    shared = options?.shared ?? null;
  } catch {
    // Read by the engine already; a throwing getter was refused there.
  }
  if (shared && typeof shared.run === 'function') await followRights(trail, shared);
  return trail;
};

/**
 * With a shared store: the engine catches up with the store's rights log
 * (erasures and other rights exercised on any process while it was down),
 * then follows it every `followMs`. Which entries apply, and how, is the
 * engine's; this only keeps time. A failure (Redis down) does not stop
 * the engine from opening: the timer retries.
 */
async function followRights(trail, shared) {
  // By default a failure is said, not swallowed: once, then at most once a
  // minute while it lasts (an engine that cannot follow may hold data of
  // subjects erased elsewhere; receipts show it pending).
  let said = 0;
  const report =
    typeof shared.onFollowError === 'function'
      ? shared.onFollowError
      : (err) => {
          const now = Date.now();
          if (now - said < 60_000) return;
          said = now;
          console.warn(`usertrail: following the rights log failed (retrying): ${err?.code ?? ''} ${err?.message ?? err}`);
        };
  const step = async () => {
    try {
      await trail.privacy.follow();
      said = 0;
    } catch (err) {
      if (err?.code === 'CLOSED') return stop();
      report(err);
    }
  };
  let timer = null;
  let running = null;
  const stop = () => {
    if (timer !== null) clearInterval(timer);
    timer = null;
  };
  await step();
  const every = shared.followMs ?? 250;
  if (every > 0) {
    timer = setInterval(() => {
      if (running) return; // one follow at a time
      running = step().finally(() => {
        running = null;
      });
    }, every);
    timer.unref?.();
  }
  const close = trail.close.bind(trail);
  trail.close = async function closeAndStopFollowing() {
    stop();
    await running;
    await shared.release?.(); // the connection durableWrites opened, if any
    return close();
  };
}

/** True where `node:fs` exists: Node and Deno. */
function hasFs() {
  return typeof process !== 'undefined' && !!process.versions?.node;
}
