// Tracker: a queue in front of trail.tracking.trackBatch. It batches events
// (every `flushIntervalMs`, or at `maxBatch` events) and, in browsers, flushes
// when the page is hidden or left. Each event gets its id when queued, so a
// batch that is sent twice is stored once.
//
// What goes wrong is reported through `onError`: a batch the engine refused
// whole (its events are kept for the next flush), and each event the engine
// rejected on its own (it is not retried: it would be rejected again). The
// queue holds at most `maxQueue` events; past that the oldest are dropped and
// counted in `dropped`.
//
// Where the client says the browser sends Global Privacy Control
// (`trail.globalPrivacyControl`, set by `connect()` from
// `navigator.globalPrivacyControl`), each subject the Tracker sends events
// for is recorded once as opted out of sale and sharing.

import { UserTrailError } from './gen/error.js';

/** A UUIDv7: 48 bits of ms time, then random bits. */
export function uuidv7(ms = Date.now()) {
  const b = new Uint8Array(16);
  globalThis.crypto.getRandomValues(b);
  let t = Math.max(0, Math.floor(ms));
  for (let i = 5; i >= 0; i--) {
    b[i] = t % 256;
    t = Math.floor(t / 256);
  }
  b[6] = 0x70 | (b[6] & 0x0f);
  b[8] = 0x80 | (b[8] & 0x3f);
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export class Tracker {
  #trail;
  #queue = [];
  #timer = null;
  #maxBatch;
  #maxQueue;
  #interval;
  #onError;
  #dropped = 0;
  #gpcDone = new Set();
  #flushing = Promise.resolve([]);
  #unlisten = () => {};

  /**
   * @param {{ tracking: { trackBatch(events: object[], options: object): unknown } }} trail
   * @param {{ flushIntervalMs?: number, maxBatch?: number, maxQueue?: number, onError?: (err: unknown, events: object[]) => void }} [options]
   */
  constructor(trail, { flushIntervalMs = 1000, maxBatch = 100, maxQueue = 10_000, onError } = {}) {
    if (!trail?.tracking) throw new UserTrailError('INVALID_INPUT', 'Tracker needs an engine (or client) with .tracking', 'trail');
    if (!(flushIntervalMs > 0) || !(maxBatch >= 1)) throw new UserTrailError('INVALID_INPUT', 'flushIntervalMs and maxBatch must be positive', !(flushIntervalMs > 0) ? 'flushIntervalMs' : 'maxBatch');
    if (!(maxQueue >= maxBatch)) throw new UserTrailError('INVALID_INPUT', 'maxQueue must be at least maxBatch', 'maxQueue');
    this.#trail = trail;
    this.#interval = flushIntervalMs;
    this.#maxBatch = maxBatch;
    this.#maxQueue = maxQueue;
    this.#onError = onError ?? ((err) => console.error('usertrail Tracker:', err));
    const target = globalThis;
    if (typeof target.addEventListener === 'function' && typeof document !== 'undefined') {
      const onHide = () => {
        if (document.visibilityState === 'hidden') void this.flush();
      };
      const onLeave = () => void this.flush();
      document.addEventListener('visibilitychange', onHide);
      target.addEventListener('pagehide', onLeave);
      this.#unlisten = () => {
        document.removeEventListener('visibilitychange', onHide);
        target.removeEventListener('pagehide', onLeave);
      };
    }
  }

  /** Events waiting to be flushed. */
  get pending() {
    return this.#queue.length;
  }

  /** Events dropped, ever, because the queue was full (the oldest go first). */
  get dropped() {
    return this.#dropped;
  }

  /** Queues an event; returns its eventId. */
  track(event) {
    const queued = { ...event, eventId: event.eventId ?? uuidv7(event.ts ?? Date.now()) };
    this.#queue.push(queued);
    this.#cap();
    if (this.#queue.length >= this.#maxBatch) void this.flush();
    else this.#timer ??= setTimeout(() => void this.flush(), this.#interval);
    return queued.eventId;
  }

  #cap() {
    const over = this.#queue.length - this.#maxQueue;
    if (over > 0) {
      this.#queue.splice(0, over);
      this.#dropped += over;
    }
  }

  /** Sends what is queued now, as one batch; resolves to its results. */
  flush() {
    clearTimeout(this.#timer);
    this.#timer = null;
    const batch = this.#queue.splice(0, this.#maxQueue);
    if (batch.length === 0) return this.#flushing;
    this.#flushing = this.#flushing.then(async () => {
      let results;
      try {
        await this.#globalPrivacyControl(batch);
        results = await this.#trail.tracking.trackBatch(batch, { partial: true });
      } catch (err) {
        // The engine refused the whole batch (closed, storage full): put the
        // events back, in order, for the next flush.
        this.#queue.unshift(...batch);
        this.#cap();
        this.#report(err, batch);
        return [];
      }
      // Each event the engine rejected on its own: reported, not retried.
      for (const [i, r] of (results ?? []).entries()) {
        if (r?.status !== 'rejected') continue;
        const e = r.error ?? {};
        this.#report(new UserTrailError(e.code ?? 'INVALID_INPUT', e.message ?? 'the event was rejected', e.field), [batch[i]]);
      }
      return results;
    });
    return this.#flushing;
  }

  #report(err, events) {
    try {
      this.#onError(err, events);
    } catch {
      // an onError that throws does not stop the Tracker
    }
  }

  /** Records Global Privacy Control, once per subject, where the client says the browser sends it. */
  async #globalPrivacyControl(batch) {
    if (this.#trail.globalPrivacyControl !== true || !this.#trail.privacy) return;
    for (const e of batch) {
      const subject = e.userId ?? e.anonymousId;
      if (typeof subject !== 'string' || this.#gpcDone.has(subject)) continue;
      this.#gpcDone.add(subject);
      const status = await this.#trail.privacy.status(subject);
      const sale = status.purposes.sale_share;
      if (!(sale.decided && !sale.granted)) {
        await this.#trail.privacy.applyGlobalPrivacyControl(subject, { source: 'navigator.globalPrivacyControl' });
      }
    }
  }

  /** Flushes, then stops listening and scheduling. */
  async close() {
    const results = await this.flush();
    this.#unlisten();
    return results;
  }
}
