// usertrail/middleware: server-side sessions for HTTP servers, in one
// implementation over the standard Request and Response, with thin adapters
// for Express/Connect and Hono.
//
//   import { sessionMiddleware, expressSession, honoSession } from 'usertrail/middleware';
//
// A request's session is created lazily: a visitor without a valid cookie
// gets a fresh, empty session that is stored (and sent as a cookie) only
// once something is set in it (express-session's `saveUninitialized: false`).
//
// Two ways to use a session: async calls per key (`await
// req.session.set('cart', cart)`), in the store before they resolve; or
// express-session's way, properties (`req.session.cart = cart`) stored per
// key at the end of the request, with regenerate/save/destroy/reload/touch
// and cookie. The same middleware runs on an engine with SQLite, on one
// whose sessions live in Redis (`shared: redisStore(...)`), and on a
// `connect()` client. When the store fails (Redis down: STORE_UNAVAILABLE),
// Express gets `next(err)` and fetch and Hono answer 503; the client's
// cookie is kept, and the visitor is never treated as logged out.

import { ProxyTrust } from './gen/usertrail.js';
import { UserTrailError } from './gen/error.js';

export { toNodeListener } from './node-http.js';

/** A refused option or value: `INVALID_INPUT` naming it. */
const invalid = (field, message) => new UserTrailError('INVALID_INPUT', `usertrail/middleware: ${message}`, field);

/** The longest lifetime a session can be given (the engine's limit): 400 days. */
const MAX_LIFETIME_MS = 400 * 86_400_000;

/** Codes that mean "the store is not there now": a 503 with Retry-After, not the request's fault. */
const UNAVAILABLE = new Set(['STORE_UNAVAILABLE', 'BUSY']);

const KNOWN = new Set(['cookieName', 'secure', 'sameSite', 'path', 'domain', 'persistent', 'trackPageViews', 'honorGpc', 'trustProxy', 'proxyHeader', 'clientIp', 'onError']);

/** Options every adapter takes; see middleware.d.ts. */
function settings(options = {}) {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) throw invalid('options', 'options must be an object');
  for (const key of Object.keys(options)) {
    if (!KNOWN.has(key)) throw invalid(key, `unknown option ${JSON.stringify(key)}`);
  }
  for (const key of ['secure', 'persistent', 'trackPageViews', 'honorGpc']) {
    if (options[key] !== undefined && typeof options[key] !== 'boolean') throw invalid(key, `${key} must be true or false`);
  }
  for (const key of ['onError', 'clientIp']) {
    if (options[key] !== undefined && typeof options[key] !== 'function') throw invalid(key, `${key} must be a function`);
  }
  const secure = options.secure ?? true;
  const sameSite = options.sameSite ?? 'Lax';
  if (!['Lax', 'Strict', 'None'].includes(sameSite)) throw invalid('sameSite', 'sameSite must be Lax, Strict or None');
  if (sameSite === 'None' && !secure) throw invalid('sameSite', 'sameSite None needs secure');
  const path = options.path ?? '/';
  // Cookie attribute values: no separators a browser would read as another attribute.
  if (typeof path !== 'string' || !/^\/[\x21-\x3a\x3c-\x7e]{0,1023}$/.test(path)) throw invalid('path', 'path must start with / and hold no spaces, semicolons or control characters');
  const domain = options.domain;
  if (domain !== undefined && (typeof domain !== 'string' || !/^\.?[A-Za-z0-9]([A-Za-z0-9-]{0,62}\.?)*[A-Za-z0-9]?$/.test(domain) || domain.length > 253)) {
    throw invalid('domain', 'domain must be a host name');
  }
  // __Host- cookies must be Secure, Path=/ and without Domain; drop the
  // prefix where they cannot be (plain-HTTP development on localhost).
  const host = secure && path === '/' && !domain;
  const cookieName = options.cookieName ?? (host ? '__Host-ut.sid' : 'ut.sid');
  if (typeof cookieName !== 'string' || !/^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,128}$/.test(cookieName)) throw invalid('cookieName', 'cookieName is not a valid cookie name');
  if (cookieName.startsWith('__Host-') && !host) throw invalid('cookieName', 'a __Host- cookie needs secure, path "/" and no domain');
  return {
    cookieName,
    secure,
    sameSite,
    path,
    domain,
    persistent: options.persistent ?? true,
    trackPageViews: options.trackPageViews ?? false,
    honorGpc: options.honorGpc ?? true,
    // Which proxies to believe: the engine's rules (Express's `trust
    // proxy`: the rightmost address not of a trusted proxy is the client's).
    trust: new ProxyTrust(options.trustProxy, options.proxyHeader),
    clientIp: options.clientIp,
    onError: options.onError ?? ((err) => console.error('usertrail/middleware:', err?.message ?? err)),
  };
}

/** Reports `err` to the `onError` option; an `onError` that throws fails nothing. */
function report(s, err, req) {
  try {
    s.onError(err, req);
  } catch {
    // an onError that throws does not fail the response
  }
}

/** The value of cookie `name` in a Cookie header, or null. */
function readCookie(header, name) {
  if (!header) return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim() || null;
  }
  return null;
}

/** The client's address: the socket's, or behind trusted proxies the one they forwarded. */
function clientAddress(s, header, remote) {
  if (!s.trust.enabled) return remote || undefined;
  return s.trust.client(remote || undefined, header(s.trust.header)) ?? undefined;
}

/** What JSON would write as `{}` although it holds data: refused, not lost. */
const WRITTEN_EMPTY = new Set(['[object Map]', '[object Set]', '[object WeakMap]', '[object WeakSet]', '[object Promise]', '[object Error]', '[object RegExp]']);

/** `JSON.stringify`'s replacer: throws on a value it would write as `{}` (a Map, a Set, a Promise). */
function notWrittenEmpty(_key, v) {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
  const tag = Object.prototype.toString.call(v);
  if (WRITTEN_EMPTY.has(tag)) throw new TypeError(`a ${tag.slice(8, -1)} would be stored as {}`);
  return v;
}

/** `value`'s JSON text, or `INVALID_INPUT` naming `key` (a BigInt, a cycle, a Map). */
function jsonOf(value, key) {
  try {
    return JSON.stringify(value, notWrittenEmpty);
  } catch (err) {
    throw invalid(key, `the session's ${JSON.stringify(key)} is not JSON: ${err?.message ?? err}`);
  }
}

/** A value as the store keeps it, and so as a later read returns it: JSON. */
const asStored = (value, key) => JSON.parse(jsonOf(value, key) ?? 'null');

/** Sets `obj[key]` as an own property, whatever the key (`__proto__` included). */
const put = (obj, key, value) => Object.defineProperty(obj, key, { value, writable: true, enumerable: true, configurable: true });

/** Each key's JSON, to find what a request changed in place (`req.session.cart.push(…)`). */
const snapshot = (state) => new Map(Object.entries(state).map(([k, v]) => [k, JSON.stringify(v)]));

/** Calls an express-session style callback, later, with the outcome of `promise`. */
function callback(promise, cb) {
  if (cb !== undefined && typeof cb !== 'function') throw invalid('callback', 'the callback must be a function');
  if (cb) promise.then(() => cb(), (err) => cb(err));
  return promise;
}

// What the adapters use of a session, out of reach of state keys.
const END = Symbol('usertrail.end');
const BEGIN = Symbol('usertrail.begin');
const COOKIES = Symbol('usertrail.cookies');
const CLIENT = Symbol('usertrail.client');

/** One request's view of its session. */
export class RequestSession {
  #trail;
  #s;
  #client;
  #gpc;
  #token;
  #record;
  #state; // this request's view of the state: read with the session, kept up to date by its writes
  #stored; // each key's JSON as the store has it, to find property changes at the end
  #cookies = [];
  #maxAge; // undefined: as the session's deadlines say; null: a browser-session cookie for this response
  #lifetime = null; // a new lifetime asked through cookie.maxAge, applied at save
  #creating = null; // the store call creating this new session, while it runs
  #onReplace; // where regenerate puts the new session (Express: req.session), if anywhere
  #proxy;

  /** @internal */
  constructor(trail, s, client, gpc, token, record, state, onReplace = null) {
    this.#onReplace = onReplace;
    this.#trail = trail;
    this.#s = s;
    this.#client = client;
    this.#gpc = gpc;
    this.#token = token;
    this.#record = record;
    this.#state = state ?? {};
    this.#stored = snapshot(this.#state);
    const self = this;
    const own = (prop) => typeof prop === 'symbol' || prop in self || prop === 'then';
    // Property access as express-session has it: any name that is not the
    // session's own (`id`, `login`, `cookie`, …, or Object's) is a key of
    // the state, stored at the end of the request (or at `save()`), per key.
    this.#proxy = new Proxy(this, {
      get(target, prop) {
        if (prop === 'then') return undefined; // never a thenable, whatever the state holds
        if (own(prop)) {
          const v = Reflect.get(target, prop, target);
          return typeof v === 'function' ? v.bind(target) : v;
        }
        return Object.hasOwn(self.#state, prop) ? self.#state[prop] : undefined;
      },
      set(target, prop, value) {
        if (own(prop)) {
          throw invalid(
            String(prop),
            `${JSON.stringify(String(prop))} is the session's own member, not a state key: ` +
              (prop === 'userId' ? 'log the user in with req.session.login(userId), or ' : '') +
              'use another name, or get/set(key)',
          );
        }
        if (value === undefined) delete self.#state[prop];
        else self.#state[prop] = value;
        return true;
      },
      deleteProperty(target, prop) {
        if (own(prop)) throw invalid(String(prop), `${JSON.stringify(String(prop))} is the session's own member`);
        delete self.#state[prop];
        return true;
      },
      defineProperty(target, prop) {
        throw invalid(String(prop), 'define state keys by assignment');
      },
      has(target, prop) {
        return own(prop) || (typeof prop === 'string' && Object.hasOwn(self.#state, prop));
      },
      ownKeys() {
        return Reflect.ownKeys(self.#state);
      },
      getOwnPropertyDescriptor(target, prop) {
        if (typeof prop === 'string' && Object.hasOwn(self.#state, prop)) {
          return { value: self.#state[prop], writable: true, enumerable: true, configurable: true };
        }
        return undefined;
      },
    });
    return this.#proxy;
  }

  /** The session's non-secret id, or null while nothing has been stored. */
  get id() {
    return this.#record?.sessionId ?? null;
  }

  /** The logged-in user, or null. */
  get userId() {
    return this.#record?.userId ?? null;
  }

  /** True until something is stored: the visitor had no valid cookie. */
  get isNew() {
    return !this.#record;
  }

  /** The session record (times, client), or null while new. */
  get record() {
    return this.#record;
  }

  /** The state, for `JSON.stringify(req.session)`. */
  toJSON() {
    return this.#state;
  }

  /**
   * One key of the state (or all of it); undefined while nothing is set.
   * Read with the session when the request began (one store lookup for
   * both), and kept up to date by this request's own writes: a request
   * sees a consistent snapshot, as with express-session, while each write
   * goes to the store at once and per key, so writers of different keys
   * never lose each other's updates.
   */
  async get(key) {
    if (key === undefined) return this.#state;
    return Object.hasOwn(this.#state, key) ? this.#state[key] : undefined;
  }

  /** Sets one key of the state in the store at once, storing the session first if it is new. */
  async set(key, value) {
    if (typeof key !== 'string') throw invalid('key', 'the key must be a string');
    const v = asStored(value, key);
    const had = Object.hasOwn(this.#state, key);
    const before = this.#state[key];
    put(this.#state, key, v);
    try {
      await this.#ensure();
      const json = JSON.stringify(v);
      if (this.#stored.get(key) !== json) {
        await this.#trail.sessions.set(this.#token, key, v);
        this.#stored.set(key, json);
      }
    } catch (err) {
      // Refused (too big, store down): this request's view stays as the store has it.
      if (had) put(this.#state, key, before);
      else delete this.#state[key];
      throw err;
    }
  }

  /** Removes one key of the state at once. */
  async remove(key) {
    if (typeof key !== 'string') throw invalid('key', 'the key must be a string');
    delete this.#state[key];
    await this.#creating;
    if (!this.#token || !this.#stored.has(key)) return;
    await this.#trail.sessions.remove(this.#token, key);
    this.#stored.delete(key);
  }

  /**
   * Binds the session to a user and rotates its token (a new cookie is
   * sent). The anonymous visitor's id (the session id) is linked to the
   * user, so the page views and the privacy choices made before logging in
   * follow. `{ remember: true }` (or `{ idleTimeoutSecs,
   * absoluteTimeoutSecs }`) gives the logged-in session a lifetime of its
   * own, and a cookie that lasts as long. Refused options change nothing.
   */
  async login(userId, options) {
    await this.#flush();
    const anonymous = this.#record && !this.#record.userId ? this.#record.sessionId : null;
    const before = this.#record?.sessionId;
    let issued;
    if (this.#token) {
      issued = await this.#trail.sessions.login(this.#token, userId, options);
    } else {
      // No session yet: an anonymous one with the state, then the login,
      // so that a refused login (bad options) leaves nothing behind.
      const data = asStored(this.#state, 'state');
      const created = await this.#trail.sessions.create({ ...this.#client, data });
      try {
        issued = await this.#trail.sessions.login(created.token, userId, options);
      } catch (err) {
        await this.#trail.sessions.destroy(created.token).catch(() => {});
        throw err;
      }
      this.#stored = snapshot(data);
    }
    // Another user's session is never handed over: a fresh, empty one starts.
    if (before && issued.sessionId !== before) {
      this.#state = {};
      this.#stored = new Map();
    }
    this.#issue(issued);
    if (anonymous) await this.#trail.tracking.identify(anonymous, userId);
    await this.#honorGpc();
  }

  /** Issues a new token for the same session (after a privilege change). */
  async rotate() {
    if (this.#token) this.#issue(await this.#trail.sessions.rotate(this.#token));
  }

  /** Ends the session and clears the cookie. */
  async logout() {
    await this.#creating?.catch(() => {});
    if (this.#token) await this.#trail.sessions.destroy(this.#token);
    this.#forget();
  }

  /**
   * express-session's `regenerate`: the session ends and a new, empty one
   * takes its place (stored, with a new id and cookie, once something is
   * set in it or it is saved). Passport calls it at login. In Express, as
   * with express-session, the new one is a new object on `req.session`, and
   * this one keeps the state it had (Passport's `keepSessionInfo` copies it
   * over); elsewhere this object is emptied in place.
   */
  regenerate(cb) {
    return callback(
      (async () => {
        await this.#creating?.catch(() => {});
        if (this.#token) await this.#trail.sessions.destroy(this.#token);
        if (!this.#onReplace) {
          this.#forget();
          return;
        }
        const fresh = new RequestSession(this.#trail, this.#s, this.#client, this.#gpc, null, null, {}, this.#onReplace);
        await fresh[BEGIN](true); // its cookie clears the old one until it is stored
        // This one is detached: its state stays readable, it stores nothing more.
        this.#token = null;
        this.#record = null;
        this.#stored = new Map();
        this.#lifetime = null;
        this.#cookies = [];
        this.#onReplace(fresh);
      })(),
      cb,
    );
  }

  /**
   * express-session's `save`: stores what this request changed by property
   * (`req.session.cart = …`, or in place), per key; a new session is
   * created. The middleware also does it at the end of every request.
   */
  save(cb) {
    return callback(this.#flush(true), cb);
  }

  /** express-session's `destroy`: the session ends and the cookie is cleared. */
  destroy(cb) {
    return callback(this.logout(), cb);
  }

  /** express-session's `reload`: the state is read again from the store, dropping unsaved changes. */
  reload(cb) {
    return callback(
      (async () => {
        await this.#creating;
        this.#state = this.#token ? ((await this.#trail.sessions.get(this.#token)) ?? {}) : {};
        this.#stored = snapshot(this.#state);
      })(),
      cb,
    );
  }

  /** express-session's `touch`: the cookie is sent again (its Max-Age renewed). */
  touch() {
    if (this.#token && this.#record) this.#cookies = [this.#cookieFor(this.#token, this.#record)];
    return this.#proxy;
  }

  /** Whether this response's cookie outlives the browser. */
  #persistent(record) {
    if (this.#maxAge === null) return false;
    // A session that may stay unused a day or more ("remember me") keeps
    // its cookie across browser restarts, whatever `persistent` says.
    return this.#s.persistent || (record?.idleTimeoutMs ?? 0) >= 24 * 3600_000;
  }

  /**
   * express-session's `cookie`: `maxAge` (ms left, or null for a cookie that
   * ends with the browser), `expires`, and the cookie's attributes. Setting
   * `maxAge` gives the session that lifetime ("remember me"), at the end of
   * the request; `null` makes this response's cookie end with the browser.
   */
  get cookie() {
    const self = this;
    const s = this.#s;
    return {
      get maxAge() {
        const record = self.#record;
        if (!record || !self.#persistent(record)) return null;
        return Math.max(0, Math.min(record.idleExpiresAt, record.absoluteExpiresAt) - Date.now());
      },
      set maxAge(ms) {
        if (ms === null) {
          self.#maxAge = null;
          return;
        }
        if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 1000 || ms > MAX_LIFETIME_MS) {
          throw invalid('maxAge', 'cookie.maxAge must be null or from 1000 ms to 400 days');
        }
        const secs = Math.ceil(ms / 1000);
        self.#maxAge = undefined;
        self.#lifetime = { idleTimeoutSecs: secs, absoluteTimeoutSecs: secs };
      },
      get originalMaxAge() {
        return this.maxAge;
      },
      get expires() {
        const ms = this.maxAge;
        return ms === null ? null : new Date(Date.now() + ms);
      },
      httpOnly: true,
      secure: s.secure,
      path: s.path,
      domain: s.domain,
      sameSite: s.sameSite.toLowerCase(),
    };
  }

  /**
   * @internal Stores what changed by property access, per key; `force`
   * stores a new, empty session too. Every value is checked to be JSON
   * before anything is written.
   */
  async #flush(force = false) {
    const changed = [];
    const removed = [];
    for (const [k, v] of Object.entries(this.#state)) {
      const json = jsonOf(v, k);
      if (json === undefined) {
        // a function or undefined: JSON leaves it out, and so does the store
        if (this.#stored.has(k)) removed.push(k);
      } else if (this.#stored.get(k) !== json) {
        changed.push([k, json]);
      }
    }
    for (const k of this.#stored.keys()) if (!Object.hasOwn(this.#state, k)) removed.push(k);
    if (!this.#token) {
      if (changed.length || force || this.#lifetime) await this.#ensure();
    }
    if (this.#token) {
      for (const [k, json] of changed) {
        if (this.#stored.get(k) === json) continue; // created with it
        await this.#trail.sessions.set(this.#token, k, JSON.parse(json));
        this.#stored.set(k, json);
      }
      for (const k of removed) {
        await this.#trail.sessions.remove(this.#token, k);
        this.#stored.delete(k);
      }
    }
    if (this.#lifetime && this.#token) {
      const lifetime = this.#lifetime;
      this.#lifetime = null;
      const session = await this.#trail.sessions.extend(this.#token, lifetime);
      this.#record = { ...this.#record, ...session };
      this.#cookies = [this.#cookieFor(this.#token, this.#record)];
    }
  }

  /** @internal The session stored, once: concurrent first writes share one creation. */
  #ensure() {
    if (this.#token) return Promise.resolve();
    this.#creating ??= this.#create().finally(() => {
      this.#creating = null;
    });
    return this.#creating;
  }

  /** @internal Stores the new session with the state set so far. */
  async #create() {
    const data = asStored(this.#state, 'state');
    this.#issue(await this.#trail.sessions.create({ ...this.#client, data }));
    this.#stored = snapshot(data);
    await this.#honorGpc();
  }

  /** @internal At the end of a request: stores what changed by property access. */
  async [END]() {
    await this.#flush();
  }

  /** @internal Clears the cookie without a store call (a cookie that names no session). */
  #forget() {
    this.#token = null;
    this.#record = null;
    this.#state = {};
    this.#stored = new Map();
    this.#lifetime = null;
    this.#cookies = [this.#cookie('', 0)];
  }

  /** @internal The Set-Cookie values this request must send. */
  get [COOKIES]() {
    return this.#cookies;
  }

  /** @internal */
  get [CLIENT]() {
    return this.#client;
  }

  /**
   * @internal Records a `Sec-GPC: 1` signal, once: for the logged-in user,
   * or for an anonymous visitor by their anonymous id (the session id), as
   * soon as they have a session.
   */
  async #honorGpc() {
    const subject = this.userId ?? this.id;
    if (!this.#s.honorGpc || !this.#gpc || !subject) return;
    const sale = (await this.#trail.privacy.status(subject)).purposes.sale_share;
    if (sale.decided && !sale.granted) return;
    await this.#trail.privacy.applyGlobalPrivacyControl(subject, { source: 'Sec-GPC' });
  }

  /** @internal */
  async [BEGIN](dead) {
    if (dead) this.#forget(); // a bogus, tampered or expired cookie: clear it
    if (this.#record?.renewed) this.#cookies = [this.#cookieFor(this.#token, this.#record)];
    await this.#honorGpc();
  }

  #issue(issued) {
    this.#token = issued.token;
    const { token: _token, ...record } = issued;
    this.#record = record;
    this.#cookies = [this.#cookieFor(issued.token, record)];
  }

  #cookieFor(token, record) {
    const secs = Math.max(0, Math.floor((Math.min(record.idleExpiresAt, record.absoluteExpiresAt) - record.lastSeenAt) / 1000));
    return this.#cookie(token, this.#persistent(record) ? secs : null);
  }

  #cookie(value, maxAge) {
    const s = this.#s;
    let c = `${s.cookieName}=${value}; Path=${s.path}; HttpOnly; SameSite=${s.sameSite}`;
    if (s.secure) c += '; Secure';
    if (s.domain) c += `; Domain=${s.domain}`;
    if (maxAge !== null) c += `; Max-Age=${maxAge}`;
    return c;
  }
}

/**
 * Starts a request: reads the cookie, validates it, and returns its session.
 * `req` is `{ method, url, header(name), remoteAddress }`.
 */
async function begin(trail, s, req, onReplace = null) {
  const header = (name) => req.header(name) ?? undefined;
  let client = { ip: clientAddress(s, header, req.remoteAddress), userAgent: header('user-agent') };
  const token = readCookie(header('cookie'), s.cookieName);
  let found = null;
  if (token) {
    // One engine call (one store lookup, the state included) for a
    // returning visitor; the client is cleaned only when the engine refuses
    // it. Any other failure (the store is down) propagates: the cookie is
    // kept, the visitor is not logged out.
    try {
      found = await trail.sessions.validateWithState(token, client);
    } catch (err) {
      if (err?.code !== 'INVALID_INPUT') throw err;
      client = await trail.sessions.acceptedClient(client);
      found = await trail.sessions.validateWithState(token, client);
    }
  } else {
    client = await trail.sessions.acceptedClient(client);
  }
  const { state, ...record } = found ?? {};
  const session = new RequestSession(trail, s, client, header('sec-gpc') === '1', found ? token : null, found ? record : null, state, onReplace);
  await session[BEGIN](Boolean(token && !found));
  return session;
}

/** The answer to a request whose session store is unavailable: 503, the cookie untouched. */
function unavailable(err) {
  return new Response(JSON.stringify({ error: err.code }), {
    status: 503,
    headers: { 'content-type': 'application/json', 'retry-after': '1' },
  });
}

/** Whether `err` means the store is not there now (a 503), rather than a fault. */
const isUnavailable = (err) => UNAVAILABLE.has(err?.code);

/**
 * After the response: tracks a page view of a successful GET of an HTML
 * page. Never fails the response: in every adapter, a failure to track goes
 * to the `onError` option.
 */
async function after(trail, s, session, req, status, contentType) {
  try {
    await trackPageView(trail, s, session, req, status, contentType);
  } catch (err) {
    report(s, err, req);
  }
}

async function trackPageView(trail, s, session, req, status, contentType) {
  if (!s.trackPageViews || req.method !== 'GET' || status !== 200 || !/text\/html/i.test(contentType ?? '')) return;
  const url = new URL(req.url, 'http://localhost');
  const client = session[CLIENT];
  await trail.tracking.track({
    type: 'page',
    name: 'page_view',
    url: req.url.startsWith('http') ? req.url : undefined,
    path: url.pathname,
    referrer: req.header('referer') ?? undefined,
    userId: session.userId ?? undefined,
    // An anonymous visitor is known by the session id until they log in.
    anonymousId: session.userId ? undefined : (session.id ?? undefined),
    sessionId: session.id ?? undefined,
    ip: client.ip,
    userAgent: client.userAgent,
  });
}

/** `response` with the session's cookies (headers copied: a fetched or redirect Response has immutable ones). */
function withCookies(response, cookies) {
  if (!cookies.length) return response;
  const out = new Response(response.body, response);
  for (const c of cookies) out.headers.append('Set-Cookie', c);
  return out;
}

/**
 * Wraps a fetch handler `(request, { session }, ...rest) => Response` so
 * each request gets its session (workerd, Deno, Node's fetch servers).
 * A store that is unavailable answers 503; another failure to store what
 * the request changed is thrown, as the handler's own would be.
 */
export function sessionMiddleware(trail, options) {
  const s = settings(options);
  return (handler) => {
    if (typeof handler !== 'function') throw invalid('handler', 'the handler must be a function');
    return async function fetchWithSession(request, ...rest) {
      const req = {
        method: request.method,
        url: request.url,
        header: (name) => request.headers.get(name),
        remoteAddress: s.clientIp ? s.clientIp(request, ...rest) : undefined,
      };
      let session;
      try {
        session = await begin(trail, s, req);
      } catch (err) {
        if (isUnavailable(err)) return unavailable(err);
        throw err;
      }
      let response;
      try {
        response = await handler(request, { session }, ...rest);
      } catch (err) {
        // A login or regenerate already happened: without its cookie the
        // visitor would be logged out. The error still goes to onError.
        if (!session[COOKIES].length) throw err;
        report(s, err, req);
        const code = err instanceof UserTrailError ? err.code : 'INTERNAL';
        response = Response.json({ error: { code, message: 'the request failed' } }, { status: 500 });
      }
      try {
        await session[END](); // what changed by property access
      } catch (err) {
        if (isUnavailable(err)) return unavailable(err);
        throw err;
      }
      const out = withCookies(response, session[COOKIES]);
      await after(trail, s, session, req, out.status, out.headers.get('content-type'));
      return out;
    };
  };
}

/**
 * Headers given to `writeHead` itself (an object, or Node's flat raw
 * array), applied with setHeader first, so that a `Set-Cookie` among them
 * adds to the session's cookie instead of replacing it.
 */
function applyWriteHeadHeaders(res, headers) {
  const add = (k, v) => {
    if (String(k).toLowerCase() === 'set-cookie') {
      const prev = res.getHeader('set-cookie');
      const list = prev === undefined ? [] : Array.isArray(prev) ? prev : [String(prev)];
      res.setHeader('set-cookie', [...list, ...(Array.isArray(v) ? v : [v])]);
    } else {
      res.setHeader(k, v);
    }
  };
  if (Array.isArray(headers)) {
    for (let i = 0; i + 1 < headers.length; i += 2) add(headers[i], headers[i + 1]);
  } else {
    for (const [k, v] of Object.entries(headers)) if (v !== undefined) add(k, v);
  }
}

/**
 * Express/Connect: `app.use(expressSession(trail, options))`, then
 * `req.session`. A failure to store what the request changed by property
 * goes to `next(err)` before the response goes out (to `onError` when the
 * response already streamed).
 */
export function expressSession(trail, options) {
  const s = settings(options);
  return function usertrailSession(req, res, next) {
    const r = {
      method: req.method,
      url: req.originalUrl ?? req.url,
      header: (name) => {
        const v = req.headers[name.toLowerCase()];
        return Array.isArray(v) ? v.join(', ') : v;
      },
      remoteAddress: s.clientIp ? s.clientIp(req) : req.socket?.remoteAddress,
    };
    // The request's session: regenerate puts a new one in its place.
    let session;
    const replace = (fresh) => {
      session = fresh;
      req.session = fresh;
    };
    begin(trail, s, r, replace).then(
      (first) => {
        replace(first);
        const writeHead = res.writeHead;
        res.writeHead = function writeHeadWithSession(status, ...rest) {
          res.writeHead = writeHead;
          const headers = typeof rest[0] === 'string' ? rest[1] : rest[0];
          const args = typeof rest[0] === 'string' ? [status, rest[0]] : [status];
          if (headers && typeof headers === 'object') applyWriteHeadHeaders(res, headers);
          for (const c of session[COOKIES]) res.appendHeader('Set-Cookie', c);
          return writeHead.apply(this, args);
        };
        // As express-session does: what the request changed by property
        // access (`req.session.cart = …`) is stored before the response
        // ends, so the next request sees it (and a new session's cookie
        // goes out with the headers, unless the response already streamed).
        const end = res.end;
        res.end = function endAfterSave(...args) {
          res.end = end;
          session[END]().then(
            () => end.apply(res, args),
            (err) => {
              if (!res.headersSent) {
                // The handler's answer would claim a success that did not happen.
                next(err);
                return;
              }
              report(s, err, r);
              end.apply(res, args);
            },
          );
          return res;
        };
        res.once('finish', () => void after(trail, s, session, r, res.statusCode, res.getHeader('content-type')));
        next();
      },
      (err) => next(err),
    );
  };
}

/**
 * Hono: `app.use(honoSession(trail, options))`, then `c.get('session')`. A
 * store that is unavailable answers 503; another failure to store what the
 * request changed is thrown to Hono's `onError`.
 */
export function honoSession(trail, options) {
  const s = settings(options);
  return async function usertrailSession(c, next) {
    const request = c.req.raw;
    const r = {
      method: request.method,
      url: request.url,
      header: (name) => request.headers.get(name),
      remoteAddress: s.clientIp ? s.clientIp(c) : undefined,
    };
    let session;
    try {
      session = await begin(trail, s, r);
    } catch (err) {
      if (isUnavailable(err)) return unavailable(err);
      throw err;
    }
    c.set('session', session);
    await next();
    try {
      await session[END](); // what changed by property access
    } catch (err) {
      if (!isUnavailable(err)) throw err;
      c.res = unavailable(err);
      return;
    }
    if (session[COOKIES].length) {
      const out = withCookies(c.res, session[COOKIES]);
      // Hono's setter merges the old response's headers into the new one,
      // Set-Cookie included (replacing ours): clear it first.
      c.res = undefined;
      c.res = out;
    }
    await after(trail, s, session, r, c.res.status, c.res.headers.get('content-type'));
  };
}
