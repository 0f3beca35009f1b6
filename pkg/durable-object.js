// The storage functions the engine's Durable Object VFS
// (src/wasm/vfs/durable.rs) calls for `storage: { durableObject: ctx.storage }`,
// over a SQLite-backed Durable Object's synchronous key-value API. They move
// bytes; what to write and when is decided in the VFS. Kept apart from
// index.js so that the workerd tests of the VFS load the same code.

/**
 * The functions the Durable Object VFS calls, over `storage` (a Durable
 * Object's `ctx.storage`). Throws `TypeError` when `storage` has no
 * synchronous key-value API (a Durable Object without SQLite storage).
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
      for (const [key] of kv.list({ prefix, start })) keys.push(key);
      return keys;
    },
    /**
     * One commit, all or nothing: `values` holds `keys.length` values of
     * `size` bytes each, end to end; `deletes` go, and `meta` (if given) is
     * set to `metaValue`. With `expected`, nothing is written if `meta` is
     * gone: the database's entries were removed under the engine.
     */
    commit(keys, values, size, deletes, meta, metaValue, expected) {
      storage.transactionSync(() => {
        if (expected && kv.get(meta) === undefined) {
          throw new Error(
            `the database's entries are gone from the Durable Object's storage (${meta} is missing: ` +
              'ctx.storage.deleteAll() or another writer removed them while the engine was open); open the engine again',
          );
        }
        for (let i = 0; i < keys.length; i++) kv.put(keys[i], values.slice(i * size, (i + 1) * size));
        for (const key of deletes) kv.delete(key);
        if (meta !== undefined) kv.put(meta, metaValue);
      });
    },
    /** Writes `count` zero values of `size` bytes under `prefix0`, `prefix1`, … in one commit. */
    fill(prefix, count, size) {
      const zeros = new Uint8Array(size);
      storage.transactionSync(() => {
        for (let i = 0; i < count; i++) kv.put(prefix + i, zeros);
      });
    },
    /** Deletes `prefix0` … `prefix{count - 1}` in one commit. */
    clear(prefix, count) {
      storage.transactionSync(() => {
        for (let i = 0; i < count; i++) kv.delete(prefix + i);
      });
    },
    /** Resolves once what was written is committed, so that the next write starts a new transaction. */
    settle,
  };
}
