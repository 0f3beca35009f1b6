// Tracking calls a closing tab keeps, so that no event is lost when the tab
// whose worker leads is closed (the browser client, browser.js, uses it).
//
// While a page is being left (between `pagehide` and a `pageshow`), a
// tracking call whose events all have ids (the Tracker's always do) is also
// written to localStorage under `usertrail:<name>:unsent:<uuid>`: if this
// tab's worker is the leader, it may be stopped before it stores them. The
// next client of the origin (another tab at once, through its `storage`
// event, or this page's next load) sends them again; their ids make a second
// delivery a no-op. A key is removed once its call was answered.

/** Codes that mean the engine could not take the events now: keep them for a later client. */
const RETRY = ['CLOSED', 'BUSY', 'STORAGE_FULL'];

export class UnsentEvents {
  #prefix;
  #send;
  #hiding = false;

  /**
   * @param {string} name The database name.
   * @param {(events: object[]) => Promise<unknown>} send Sends a batch (trackBatch, partial).
   */
  constructor(name, send) {
    this.#prefix = `usertrail:${name}:unsent:`;
    this.#send = send;
    // Registered before any Tracker of the client, so it runs before their flush.
    if (typeof addEventListener === 'function' && typeof localStorage !== 'undefined') {
      addEventListener('pagehide', () => (this.#hiding = true));
      addEventListener('pageshow', () => (this.#hiding = false));
      // Another tab left events behind as it closed: send them (again).
      addEventListener('storage', (e) => {
        if (e.newValue !== null && e.key?.startsWith(this.#prefix)) this.replay();
      });
    }
  }

  /**
   * Keeps the events of a tracking call made while the page is being left.
   * Returns the key to pass to `done` once the call was answered, or null
   * when nothing was kept.
   */
  keep(path, method, argv) {
    if (!this.#hiding || path !== 'tracking' || (method !== 'track' && method !== 'trackBatch')) return null;
    const events = method === 'track' ? [argv[0]] : argv[0];
    if (!Array.isArray(events) || !events.every((e) => typeof e?.eventId === 'string')) return null;
    const key = this.#prefix + crypto.randomUUID();
    try {
      localStorage.setItem(key, JSON.stringify(events));
      return key;
    } catch {
      return null; // no localStorage (disabled, or full): the call still goes to the worker
    }
  }

  /** The call kept under `key` was answered. */
  done(key) {
    try {
      localStorage.removeItem(key);
    } catch {
      // nothing kept, nothing to remove
    }
  }

  /** Sends the events a closing tab kept, then forgets them. */
  replay() {
    if (typeof localStorage === 'undefined') return;
    let keys;
    try {
      keys = Object.keys(localStorage).filter((k) => k.startsWith(this.#prefix));
    } catch {
      return;
    }
    for (const key of keys) {
      let events;
      try {
        events = JSON.parse(localStorage.getItem(key));
      } catch {
        events = null;
      }
      if (!Array.isArray(events)) {
        localStorage.removeItem(key);
        continue;
      }
      this.#send(events).then(
        () => localStorage.removeItem(key),
        (err) => {
          // Kept for a later client when the engine could not take them now.
          if (!RETRY.includes(err?.code)) localStorage.removeItem(key);
        },
      );
    }
  }
}
