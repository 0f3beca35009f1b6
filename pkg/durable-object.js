// The storage functions the engine's Durable Object VFS
// (src/wasm/vfs/durable.rs) calls for `storage: { durableObject: ctx.storage }`,
// over a SQLite-backed Durable Object's synchronous key-value API. They move
// bytes; what to write and when is decided in the VFS. Kept apart from
// index.js so that the workerd tests of the VFS load the same code.

const PAGE = 4096;

/**
 * The functions the Durable Object VFS calls, over `storage` (a Durable
 * Object's `ctx.storage`), or null when `storage` has no synchronous
 * key-value API (not a Durable Object's storage, or one without SQLite).
 */
export function durableObjectHost(storage) {
  const kv = storage?.kv;
  if (
    typeof kv?.get !== 'function' ||
    typeof kv.put !== 'function' ||
    typeof kv.delete !== 'function' ||
    typeof kv.list !== 'function' ||
    typeof storage.transactionSync !== 'function'
  ) {
    return null;
  }
  const settle = () =>
    typeof storage.sync === 'function' ? storage.sync() : new Promise((resolve) => setTimeout(resolve, 0));
  return {
    /** The value stored under `key`, or undefined. */
    get: (key) => kv.get(key),
    /** The keys from `start` (included) that begin with `prefix`, in order. */
    keys(prefix, start) {
      const keys = [];
      for (const [key] of kv.list(start ? { prefix, start } : { prefix })) keys.push(key);
      return keys;
    },
    /**
     * One commit, all or nothing. `pages` holds `keys.length` pages of 4 KiB
     * end to end: each is stored under its key after `pad` zero bytes.
     * `zeroKeys` get entries of zeros, `deletes` go, and `meta` (if given)
     * is set to `metaValue`, and `bound` (if given) to `boundValue`. With
     * `expected` (a key), nothing is written if that key is gone: the
     * database's entries were removed under the engine.
     */
    commit(keys, pages, pad, zeroKeys, deletes, meta, metaValue, expected, bound, boundValue) {
      storage.transactionSync(() => {
        if (expected !== undefined && kv.get(expected) === undefined) {
          throw new Error(
            `the database's entries are gone from the Durable Object's storage (${expected} is missing: ` +
              'ctx.storage.deleteAll() or another writer removed them while the engine was open); open the engine again',
          );
        }
        for (let i = 0; i < keys.length; i++) {
          const entry = new Uint8Array(pad + PAGE);
          entry.set(pages.subarray(i * PAGE, (i + 1) * PAGE), pad);
          kv.put(keys[i], entry);
        }
        if (zeroKeys.length) {
          const zeros = new Uint8Array(pad + PAGE);
          for (const key of zeroKeys) kv.put(key, zeros);
        }
        for (const key of deletes) kv.delete(key);
        if (meta !== undefined) kv.put(meta, metaValue);
        if (bound !== undefined) kv.put(bound, boundValue);
      });
    },
    /** Writes `count` zero values of `size` bytes under `prefix0`, `prefix1`, … in one commit. */
    fill(prefix, count, size) {
      const zeros = new Uint8Array(size);
      storage.transactionSync(() => {
        for (let i = 0; i < count; i++) kv.put(prefix + i, zeros);
      });
    },
    /** Deletes `prefix0` … `prefix{count - 1}`, and any other key that begins with `prefix`, in one commit. */
    clear(prefix, count) {
      storage.transactionSync(() => {
        for (let i = 0; i < count; i++) kv.delete(prefix + i);
        const rest = [];
        for (const [key] of kv.list({ prefix })) rest.push(key);
        for (const key of rest) kv.delete(key);
      });
    },
    /** The size of the platform's own database for the object, in bytes (0 if it does not say). */
    platformSize: () => Number(storage.sql?.databaseSize ?? 0),
    /** Resolves once what was written is committed, so that the next write starts a new transaction. */
    settle,
  };
}
