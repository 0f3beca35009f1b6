// Types for usertrail/browser-worker (browser-worker.js). Loaded as a worker
// script, the module hosts the engine for `connect()`; import it from your own
// worker script to run code first, and pass that script as `worker`.

/** The engine objects a browser client mirrors, by path (`''` is the engine). */
export declare const NAMESPACES: Readonly<Record<string, { readonly prototype: object }>>;

/** The methods a browser client forwards, by namespace path. */
export declare function remoteShape(): Record<string, string[]>;
