// The dedicated worker behind `connect()` (usertrail/browser).
//
// Every tab that connects starts one. The workers of one database name elect
// a leader with a Web Lock: the holder opens the engine on OPFS and serves
// every tab; the others forward their tab's calls to it over a
// BroadcastChannel. When the leader's tab closes, its lock is released and
// the next worker in the lock's queue opens the same database (retrying while
// the old worker's OPFS handles are still being released) and announces
// itself; followers then resend every call that has not been answered.

import { UserTrail, init } from './index.js';
import {
  Analytics,
  Experiments,
  Outbox,
  Pipeline,
  Prefs,
  Privacy,
  PrivacyRetention,
  Quarantine,
  Sessions,
  Tracking,
} from './gen/usertrail.js';
import { MSG, decodeArgs, encodeError, error } from './rpc.js';

/** The engine's objects a client mirrors, by path, and their classes. */
export const NAMESPACES = {
  '': UserTrail,
  sessions: Sessions,
  tracking: Tracking,
  'tracking.outbox': Outbox,
  'tracking.quarantine': Quarantine,
  analytics: Analytics,
  experiments: Experiments,
  prefs: Prefs,
  pipeline: Pipeline,
  privacy: Privacy,
  'privacy.retention': PrivacyRetention,
};

/**
 * Methods a client does not forward: handled by the client, or memory
 * management (`free`, and wasm-bindgen's internal `__…` methods, which
 * would release the engine's object under every other tab).
 */
const LOCAL = new Set(['constructor', 'free', 'close']);

/** The methods of each namespace, read from the classes: `{ path: [name, …] }`. */
export function remoteShape() {
  const shape = {};
  for (const [path, cls] of Object.entries(NAMESPACES)) {
    const proto = cls.prototype;
    shape[path] = Object.getOwnPropertyNames(proto).filter(
      (k) => !LOCAL.has(k) && !k.startsWith('__') && typeof Object.getOwnPropertyDescriptor(proto, k).value === 'function',
    );
  }
  return shape;
}

/** How long a new leader retries while the old one's OPFS handles are released. */
const TAKEOVER_MS = 10_000;
/** How many answered calls a leader remembers, to answer a resent call once. */
const REMEMBERED = 512;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** One worker's part: leader or follower, for one database name. */
class Host {
  constructor({ name, fallback, open }) {
    this.name = name;
    this.fallback = fallback;
    this.open = open;
    this.me = crypto.randomUUID();
    this.shape = remoteShape();
    this.methods = Object.fromEntries(Object.entries(this.shape).map(([p, m]) => [p, new Set(m)]));
    this.leader = false; // this worker holds the lock
    this.state = 'waiting'; // leader: 'opening' → 'ready' | 'failed'
    this.trail = null;
    this.targets = null;
    this.info = null; // the leader's engine: version, schemaVersion, createdAt, persistent, reason
    this.failure = null; // the leader's open error, encoded
    this.epoch = null; // the leader this follower last heard from
    this.queue = []; // leader, while opening: calls to run once open
    this.answered = new Map(); // leader: `${from}:${id}` → reply, for resent calls
    this.forwarded = new Map(); // follower: id → call sent to the leader, not yet answered
    this.told = false; // the page has had 'ready' or 'failed'
    this.release = null; // resolves the lock's callback
    this.channel = new BroadcastChannel(`usertrail:${name}`);
    this.channel.onmessage = (e) => this.onChannel(e.data);
    navigator.locks.request(`usertrail:${name}`, () => this.lead());
    this.channel.postMessage({ type: MSG.WHO });
  }

  // ------------------------------------------------------------ leader --

  async lead() {
    this.leader = true;
    this.state = 'opening';
    self.postMessage({ type: MSG.ROLE, leader: true });
    // Calls forwarded to the previous leader and not answered are ours now.
    for (const call of this.forwarded.values()) this.queue.push({ from: this.me, call, local: true });
    this.forwarded.clear();
    try {
      this.trail = await this.openEngine();
      const t = this.trail;
      this.targets = { '': t };
      for (const path of Object.keys(NAMESPACES)) {
        if (!path) continue;
        const [head, tail] = path.split('.');
        this.targets[path] = tail ? this.targets[head][tail] : t[head];
      }
      this.info = { ...this.info, version: t.version, schemaVersion: t.schemaVersion, createdAt: t.createdAt };
      this.state = 'ready';
    } catch (err) {
      this.failure = encodeError(err);
      this.state = 'failed';
    }
    this.epoch = crypto.randomUUID();
    this.announce();
    this.tellPage();
    // In order: each call reaches the engine before the next starts.
    for (const q of this.queue.splice(0)) void this.serve(q.from, q.call, q.local);
    // Hold the lock until this worker ends or its tab closes the client.
    await new Promise((resolve) => (this.release = resolve));
  }

  /** OPFS if this browser has it; memory (said plainly) if not and allowed. */
  async openEngine() {
    await init();
    const missing = await opfsMissing();
    if (missing) {
      if (this.fallback !== 'memory') throw error('UNSUPPORTED', `no OPFS here: ${missing}`);
      this.info = { persistent: false, reason: { code: 'UNSUPPORTED', message: `no OPFS here: ${missing}` } };
      return UserTrail.open({ ...this.open, storage: 'memory' });
    }
    const storage = {
      opfs: { name: 'usertrail.db', pool: `usertrail-${this.name}`, directory: `.usertrail-${this.name}` },
    };
    const deadline = Date.now() + TAKEOVER_MS;
    for (let wait = 10; ; wait = Math.min(wait * 2, 200)) {
      try {
        const trail = await UserTrail.open({ ...this.open, storage });
        this.info = { persistent: true, reason: null };
        return trail;
      } catch (err) {
        // The previous leader's worker may still hold the pool's handles for
        // a moment after its tab closed. Never fall back to an empty database.
        if (err?.code !== 'BUSY' || Date.now() > deadline) throw err;
        await sleep(wait);
      }
    }
  }

  announce() {
    this.channel.postMessage({ type: MSG.LEADER, epoch: this.epoch, info: this.info, failure: this.failure });
  }

  /** Runs one call (from this tab or another) and sends the answer back. */
  async serve(from, call, local) {
    const key = `${from}:${call.id}`;
    let reply = this.answered.get(key);
    if (!reply) {
      reply = { type: MSG.REPLY, to: from, id: call.id, ...(await this.run(from, call, local)) };
      this.answered.set(key, reply);
      if (this.answered.size > REMEMBERED) this.answered.delete(this.answered.keys().next().value);
    }
    try {
      this.send(local, reply);
    } catch (err) {
      // A value that cannot be cloned: say so instead of leaving the caller waiting.
      this.send(local, { type: MSG.REPLY, to: from, id: call.id, ok: false, error: encodeError(err) });
    }
  }

  /** The engine's answer to one call: `{ ok: true, value }` or `{ ok: false, error }`, encoded. */
  async run(from, call, local) {
    if (this.state === 'failed') return { ok: false, error: this.failure };
    try {
      if (!this.methods[call.path]?.has(call.method)) {
        throw error('UNSUPPORTED', `usertrail ${this.info.version} (in the tab holding the database) has no method ${call.path ? `${call.path}.` : ''}${call.method}`);
      }
      const args = decodeArgs(call.args, (n, a) => this.send(local, { type: MSG.CALLBACK, to: from, id: call.id, n, args: a }));
      return { ok: true, value: await this.targets[call.path][call.method](...args) };
    } catch (err) {
      return { ok: false, error: encodeError(err) };
    }
  }

  send(local, msg) {
    if (local) self.postMessage(msg);
    else this.channel.postMessage(msg);
  }

  // ---------------------------------------------------------- messages --

  /** A call from this worker's own tab. */
  onPageCall(call) {
    if (this.leader) {
      if (this.state === 'opening') this.queue.push({ from: this.me, call, local: true });
      else void this.serve(this.me, call, true);
      return;
    }
    const msg = { type: MSG.CALL, from: this.me, ...call };
    this.forwarded.set(call.id, msg);
    this.channel.postMessage(msg);
  }

  onChannel(m) {
    switch (m?.type) {
      case MSG.CALL:
        if (!this.leader) return;
        if (this.state === 'opening') this.queue.push({ from: m.from, call: m, local: false });
        else void this.serve(m.from, m, false);
        return;
      case MSG.WHO:
        if (this.leader && this.state !== 'opening') this.announce();
        return;
      case MSG.LEADER:
        if (this.leader) return;
        this.info = m.info;
        this.failure = m.failure;
        if (m.epoch !== this.epoch) {
          // A new leader: it has not seen what we sent to the old one.
          this.epoch = m.epoch;
          for (const msg of this.forwarded.values()) this.channel.postMessage(msg);
        }
        this.tellPage();
        return;
      case MSG.REPLY:
        if (m.to !== this.me || this.leader) return;
        if (!this.forwarded.delete(m.id)) return; // already answered
        self.postMessage(m);
        return;
      case MSG.CALLBACK:
        if (m.to === this.me && !this.leader) self.postMessage(m);
        return;
    }
  }

  /** Tells the page the engine is there (or why not), and later, what changed. */
  tellPage() {
    const msg = { info: this.info, leader: this.leader };
    if (this.told) {
      self.postMessage({ type: MSG.INFO, ...msg });
      return;
    }
    this.told = true;
    if (this.failure) self.postMessage({ type: MSG.FAILED, error: this.failure });
    else self.postMessage({ type: MSG.READY, ...msg, shape: this.shape });
  }

  /** The tab closes its client: close the engine if we hold it. */
  close() {
    try {
      if (this.leader) this.trail?.close();
    } finally {
      this.release?.(); // the next worker may start taking over now
      this.channel.close();
      self.postMessage({ type: MSG.CLOSED });
    }
  }
}

/** Why OPFS cannot be used here, or null when it can. */
async function opfsMissing() {
  if (typeof navigator.storage?.getDirectory !== 'function') return 'navigator.storage.getDirectory is missing';
  if (typeof FileSystemFileHandle === 'undefined' || !('createSyncAccessHandle' in FileSystemFileHandle.prototype)) {
    return 'FileSystemFileHandle.createSyncAccessHandle is missing';
  }
  try {
    await navigator.storage.getDirectory();
  } catch (err) {
    return `navigator.storage.getDirectory() failed (${err?.name ?? err}), as in private browsing`;
  }
  return null;
}

// Only in a browser worker: importing this module elsewhere (for remoteShape) does nothing.
if (typeof WorkerGlobalScope !== 'undefined' && self instanceof WorkerGlobalScope) {
  let host = null;
  self.onmessage = (e) => {
    const m = e.data;
    if (m?.type === MSG.CONNECT && !host) {
      if (!navigator.locks) {
        self.postMessage({ type: MSG.FAILED, error: encodeError(error('UNSUPPORTED', 'this browser has no Web Locks (navigator.locks)')) });
        return;
      }
      host = new Host(m);
    } else if (m?.type === MSG.CALL && host) {
      host.onPageCall(m);
    } else if (m?.type === MSG.CLOSE && host) {
      host.close();
    }
  };
}
