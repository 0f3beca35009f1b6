// Tracker: a queue in front of trail.tracking.trackBatch. It batches events
// (every `flushIntervalMs`, or at `maxBatch` events) and, in browsers, flushes
// when the page is hidden or left. Each event gets its id when queued, so a
// batch that is sent twice is stored once.

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
  #interval;
  #onError;
  #flushing = Promise.resolve([]);
  #unlisten = () => {};

  /**
   * @param {{ tracking: { trackBatch(events: object[], options: object): unknown } }} trail
   * @param {{ flushIntervalMs?: number, maxBatch?: number, onError?: (err: unknown, events: object[]) => void }} [options]
   */
  constructor(trail, { flushIntervalMs = 1000, maxBatch = 100, onError } = {}) {
    if (!trail?.tracking) throw new TypeError('Tracker needs an engine (or client) with .tracking');
    if (!(flushIntervalMs > 0) || !(maxBatch >= 1)) throw new RangeError('flushIntervalMs and maxBatch must be positive');
    this.#trail = trail;
    this.#interval = flushIntervalMs;
    this.#maxBatch = maxBatch;
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

  /** Queues an event; returns its eventId. */
  track(event) {
    const queued = { ...event, eventId: event.eventId ?? uuidv7(event.ts ?? Date.now()) };
    this.#queue.push(queued);
    if (this.#queue.length >= this.#maxBatch) void this.flush();
    else this.#timer ??= setTimeout(() => void this.flush(), this.#interval);
    return queued.eventId;
  }

  /** Sends what is queued now, as one batch; resolves to its results. */
  flush() {
    clearTimeout(this.#timer);
    this.#timer = null;
    const batch = this.#queue.splice(0);
    if (batch.length === 0) return this.#flushing;
    this.#flushing = this.#flushing.then(async () => {
      try {
        return await this.#trail.tracking.trackBatch(batch, { partial: true });
      } catch (err) {
        // The engine refused the whole batch (closed, storage full): put the
        // events back, in order, for the next flush.
        this.#queue.unshift(...batch);
        this.#onError(err, batch);
        return [];
      }
    });
    return this.#flushing;
  }

  /** Flushes, then stops listening and scheduling. */
  async close() {
    const results = await this.flush();
    this.#unlisten();
    return results;
  }
}
