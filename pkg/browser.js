// usertrail/browser: the engine for a web page, hosted in a dedicated worker
// on OPFS and shared by every tab of the origin.
//
//   import { connect, Tracker } from 'usertrail/browser';
//   const trail = await connect({ name: 'shop' });
//   await trail.sessions.create({ userId: 'u1' });
//
// The client has the engine's API, with every method returning a Promise.
// See docs/BROWSER.md.

import { ship } from './pipeline.js';
import { MSG, decodeError, encodeArgs, error } from './rpc.js';
import { UnsentEvents } from './unsent.js';

export { UserTrailError } from './gen/error.js';
export { Tracker, uuidv7 } from './tracker.js';

const NAME = /^[A-Za-z0-9_-]{1,48}$/;
const clients = new Map();

/**
 * Connects this page to the engine for `name`, starting its worker, or
 * returns the client this page already has for that name.
 * @param {object} [options] See `ConnectOptions` in browser.d.ts.
 */
export function connect(options = {}) {
  if (options === null || typeof options !== 'object') {
    return Promise.reject(error('INVALID_INPUT', 'connect options must be an object', 'options'));
  }
  const { name = 'usertrail', worker, fallback = 'memory', timeoutMs = 15_000, transport, ...open } = options;
  if (transport !== undefined) {
    if (transport === null || typeof transport !== 'object' || typeof transport.url !== 'string') {
      return Promise.reject(error('INVALID_INPUT', 'transport must be { url, headers? }', 'transport'));
    }
    const unknown = Object.keys(transport).find((k) => !['url', 'headers'].includes(k));
    if (unknown) return Promise.reject(error('INVALID_INPUT', `unknown option ${JSON.stringify(unknown)}`, `transport.${unknown}`));
    // Shipping needs the outbox.
    open.tracking = { ...(open.tracking ?? {}), outbox: open.tracking?.outbox ?? true };
  }
  if (typeof name !== 'string' || !NAME.test(name)) {
    return Promise.reject(error('INVALID_INPUT', 'name must be 1 to 48 letters, digits, _ or -', 'name'));
  }
  if (fallback !== 'memory' && fallback !== 'error') {
    return Promise.reject(error('INVALID_INPUT', "fallback must be 'memory' or 'error'", 'fallback'));
  }
  if (!(timeoutMs > 0)) return Promise.reject(error('INVALID_INPUT', 'timeoutMs must be positive', 'timeoutMs'));
  if ('storage' in open || 'clock' in open) {
    const field = 'storage' in open ? 'storage' : 'clock';
    return Promise.reject(error('INVALID_INPUT', `${field} is chosen by connect (OPFS, or memory where there is none)`, field));
  }
  let client = clients.get(name);
  if (!client) {
    client = start(name, worker, fallback, timeoutMs, open);
    if (transport) {
      // The outbox goes to the collector from this page: fetch, sendBeacon
      // while the page is left, backing off while offline.
      client = client.then((trail) => {
        trail.shipper = ship(trail, { url: transport.url, headers: transport.headers });
        const close = trail.close;
        trail.close = async () => {
          await trail.shipper.stop();
          return close();
        };
        return trail;
      });
    }
    clients.set(name, client);
    client.catch(() => clients.delete(name));
  }
  return client;
}

function spawn(worker, name) {
  if (worker instanceof Worker) return worker;
  if (worker !== undefined) return new Worker(worker, { type: 'module', name: `usertrail:${name}` });
  return new Worker(new URL('./browser-worker.js', import.meta.url), { type: 'module', name: `usertrail:${name}` });
}

function start(name, workerOption, fallback, timeoutMs, open) {
  return new Promise((resolve, reject) => {
    let worker;
    try {
      worker = spawn(workerOption, name);
    } catch (err) {
      reject(error('UNSUPPORTED', `cannot start the usertrail worker: ${err?.message ?? err}`));
      return;
    }
    const conn = new Connection(name, worker);
    const timer = setTimeout(() => {
      conn.terminate(error('TIMEOUT', `no usertrail engine for "${name}" answered within ${timeoutMs} ms`));
      reject(conn.failure);
    }, timeoutMs);
    conn.onReady = (msg) => {
      clearTimeout(timer);
      resolve(conn.client(msg));
      conn.unsent.replay();
    };
    conn.onFailed = (err) => {
      clearTimeout(timer);
      conn.terminate(err);
      reject(err);
    };
    worker.postMessage({ type: MSG.CONNECT, name, fallback, open });
  });
}

/** The page's end of its worker: numbered calls, their answers and callbacks. */
class Connection {
  constructor(name, worker) {
    this.name = name;
    this.worker = worker;
    this.next = 1;
    this.pending = new Map(); // id → { resolve, reject, fns }
    this.info = null;
    this.leader = false;
    this.failure = null;
    this.closing = null;
    worker.onmessage = (e) => this.onMessage(e.data);
    this.unsent = new UnsentEvents(name, (events) => this.call('tracking', 'trackBatch', [events, { partial: true }]));
    worker.onerror = (e) => {
      e.preventDefault?.();
      const err = error('UNSUPPORTED', `the usertrail worker failed to start: ${e.message ?? 'script error'}`);
      if (this.onFailed) this.onFailed(err);
      else this.terminate(err);
    };
  }

  onMessage(m) {
    switch (m?.type) {
      case MSG.READY:
        this.info = m.info;
        this.leader = m.leader;
        this.onReady?.(m);
        this.onReady = this.onFailed = null;
        return;
      case MSG.FAILED:
        this.onFailed?.(decodeError(m.error));
        return;
      case MSG.INFO:
        this.info = m.info;
        this.leader = m.leader;
        return;
      case MSG.ROLE:
        this.leader = m.leader;
        return;
      case MSG.REPLY: {
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        if (m.ok) p.resolve(m.value);
        else p.reject(decodeError(m.error));
        return;
      }
      case MSG.CALLBACK: {
        const fn = this.pending.get(m.id)?.fns[m.n];
        if (fn) {
          try {
            fn(...m.args);
          } catch (err) {
            console.error('usertrail: a callback threw', err);
          }
        }
        return;
      }
      case MSG.CLOSED:
        this.closing?.();
        return;
    }
  }

  call(path, method, argv) {
    if (this.failure) return Promise.reject(this.failure);
    const kept = this.unsent.keep(path, method, argv);
    const { args, fns } = encodeArgs(argv);
    const id = this.next++;
    return new Promise((resolve, reject) => {
      const done = kept ? (v) => (this.unsent.done(kept), resolve(v)) : resolve;
      this.pending.set(id, { resolve: done, reject, fns });
      try {
        this.worker.postMessage({ type: MSG.CALL, id, path, method, args });
      } catch (err) {
        this.pending.delete(id);
        reject(error('INVALID_INPUT', `an argument of ${method} cannot be sent to the worker: ${err?.message ?? err}`));
      }
    });
  }

  /** Stops the worker; every unanswered call fails with `err`. */
  terminate(err) {
    this.failure ??= err;
    this.worker.terminate();
    for (const p of this.pending.values()) p.reject(this.failure);
    this.pending.clear();
  }

  async close() {
    if (this.failure) return;
    // Let the worker close the engine (if it holds it) before it stops.
    await new Promise((resolve) => {
      this.closing = resolve;
      this.worker.postMessage({ type: MSG.CLOSE });
      setTimeout(resolve, 2_000);
    });
    clients.delete(this.name);
    this.terminate(error('CLOSED', 'this client is closed'));
  }

  /** The client object: the engine's namespaces, each method forwarded. */
  client({ shape }) {
    const conn = this;
    const client = {
      /** The database name given to `connect`. */
      get name() {
        return conn.name;
      },
      get version() {
        return conn.info.version;
      },
      get schemaVersion() {
        return conn.info.schemaVersion;
      },
      get createdAt() {
        return conn.info.createdAt;
      },
      get persistent() {
        return conn.info.persistent;
      },
      /**
       * Whether this browser sends Global Privacy Control
       * (`navigator.globalPrivacyControl`): the Tracker then records it,
       * once per subject, as an opt-out of sale and sharing.
       */
      get globalPrivacyControl() {
        return typeof navigator !== 'undefined' && navigator.globalPrivacyControl === true;
      },
      get reason() {
        return conn.info.reason;
      },
      get leader() {
        return conn.leader;
      },
      get closed() {
        return conn.failure !== null;
      },
      close: () => conn.close(),
    };
    for (const [path, methods] of Object.entries(shape)) {
      let target = client;
      if (path) for (const part of path.split('.')) target = target[part] ??= {};
      for (const method of methods) target[method] = (...args) => conn.call(path, method, args);
    }
    return client;
  }
}
