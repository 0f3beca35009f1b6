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
// Every session call is async (`await req.session.get('cart')`): the same
// middleware runs on an engine with SQLite, on one whose sessions live in
// Redis (`shared: redisStore(...)`), and on a `connect()` client. When the
// store fails (Redis down: STORE_UNAVAILABLE), Express gets `next(err)` and
// fetch and Hono answer 503; the client's cookie is kept, and the visitor is
// never treated as logged out.

import { ProxyTrust } from './gen/usertrail.js';
import { UserTrailError } from './gen/error.js';

export { toNodeListener } from './node-http.js';

/** A refused option: `INVALID_INPUT` naming it. */
const invalid = (field, message) => new UserTrailError('INVALID_INPUT', `usertrail/middleware: ${message}`, field);

/** Options every adapter takes; see middleware.d.ts. */
function settings(options = {}) {
  const known = new Set(['cookieName', 'secure', 'sameSite', 'path', 'domain', 'persistent', 'trackPageViews', 'honorGpc', 'trustProxy', 'proxyHeader', 'clientIp', 'onError']);
  for (const key of Object.keys(options)) {
    if (!known.has(key)) throw invalid(key, `unknown option ${JSON.stringify(key)}`);
  }
  if (options.onError !== undefined && typeof options.onError !== 'function') throw invalid('onError', 'onError must be a function');
  const secure = options.secure ?? true;
  const sameSite = options.sameSite ?? 'Lax';
  if (!['Lax', 'Strict', 'None'].includes(sameSite)) throw invalid('sameSite', 'sameSite must be Lax, Strict or None');
  if (sameSite === 'None' && !secure) throw invalid('sameSite', 'sameSite None needs secure');
  // __Host- cookies must be Secure, Path=/ and without Domain; drop the
  // prefix where they cannot be (plain-HTTP development on localhost).
  const host = secure && (options.path ?? '/') === '/' && !options.domain;
  const cookieName = options.cookieName ?? (host ? '__Host-ut.sid' : 'ut.sid');
  if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(cookieName)) throw invalid('cookieName', 'cookieName is not a valid cookie name');
  if (cookieName.startsWith('__Host-') && !host) throw invalid('cookieName', 'a __Host- cookie needs secure, path "/" and no domain');
  return {
    cookieName,
    secure,
    sameSite,
    path: options.path ?? '/',
    domain: options.domain,
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

/** A value as the store keeps it, and so as a later read would return it: JSON. */
const asStored = (value) => JSON.parse(JSON.stringify(value) ?? 'null');

/** Each key's JSON, to find what a request changed in place (`req.session.cart.push(…)`). */
const snapshot = (state) => new Map(Object.entries(state).map(([k, v]) => [k, JSON.stringify(v)]));

/** Calls an express-session style callback, later, with the outcome of `promise`. */
function callback(promise, cb) {
  if (typeof cb === 'function') promise.then(() => cb(), (err) => cb(err));
  return promise;
}

/**
 * Names a request's session answers itself; any other property is a key of
 * its state (`req.session.cart`), as with express-session.
 */
const MEMBERS = new Set([
  'id', 'userId', 'isNew', 'record', 'cookie', 'get', 'set', 'remove', 'login', 'rotate', 'logout',
  'regenerate', 'save', 'destroy', 'reload', 'touch', 'setCookies', 'client', 'begin', 'end', 'then',
  'constructor', 'toJSON', 'inspect',
]);

/** One request's view of its session. */
export class RequestSession {
  #trail;
  #s;
  #client;
  #gpc;
  #token;
  #record;
  #state; // this request's view of the state: read with the session, kept up to date by its writes
  #stored; // each key's JSON as the store has it, to find in-place changes at the end
  #cookies = [];
  #maxAge; // undefined: as the session's deadlines say; null: a browser-session cookie
  #lifetime = null; // a new lifetime asked through cookie.maxAge, applied at save
  #proxy;

  /** @internal */
  constructor(trail, s, client, gpc, token, record, state) {
    this.#trail = trail;
    this.#s = s;
    this.#client = client;
    this.#gpc = gpc;
    this.#token = token;
    this.#record = record;
    this.#state = state ?? {};
    this.#stored = snapshot(this.#state);
    const self = this;
    // Property access as express-session has it: `req.session.cart = …` is
    // stored at the end of the request (or at `save()`), per key.
    this.#proxy = new Proxy(this, {
      get(target, prop) {
        if (typeof prop === 'symbol' || MEMBERS.has(prop) || prop in target) {
          const v = Reflect.get(target, prop, target);
          return typeof v === 'function' ? v.bind(target) : v;
        }
        return self.#state[prop];
      },
      set(target, prop, value) {
        if (typeof prop === 'symbol' || MEMBERS.has(prop)) return Reflect.set(target, prop, value, target);
        if (value === undefined) delete self.#state[prop];
        else self.#state[prop] = value;
        return true;
      },
      deleteProperty(target, prop) {
        if (typeof prop !== 'symbol' && !MEMBERS.has(prop)) delete self.#state[prop];
        return true;
      },
      has(target, prop) {
        return prop in target || (typeof prop === 'string' && Object.hasOwn(self.#state, prop));
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
    if (!this.#token && Object.keys(this.#state).length === 0) return undefined;
    return key === undefined ? this.#state : this.#state[key];
  }

  /** Sets one key of the state at once, storing the session first if it is new. */
  async set(key, value) {
    if (!this.#token) {
      this.#state[key] = asStored(value);
      await this.#create();
    } else {
      await this.#trail.sessions.set(this.#token, key, value);
      this.#state[key] = asStored(value);
      this.#stored.set(key, JSON.stringify(this.#state[key]));
    }
  }

  /** Removes one key of the state at once. */
  async remove(key) {
    delete this.#state[key];
    if (!this.#token) return;
    await this.#trail.sessions.remove(this.#token, key);
    this.#stored.delete(key);
  }

  /**
   * Binds the session to a user and rotates its token (a new cookie is
   * sent). The anonymous visitor's id (the session id) is linked to the
   * user, so the page views and the privacy choices made before logging in
   * follow. `{ remember: true }` (or `{ idleTimeoutSecs,
   * absoluteTimeoutSecs }`) gives the logged-in session a lifetime of its
   * own, and a cookie that lasts as long.
   */
  async login(userId, options) {
    await this.#flush();
    const anonymous = this.#record && !this.#record.userId ? this.#record.sessionId : null;
    const before = this.#record?.sessionId;
    let issued;
    if (this.#token) {
      issued = await this.#trail.sessions.login(this.#token, userId, options);
    } else {
      issued = await this.#trail.sessions.create({ ...this.#client, userId, data: this.#state });
      if (options !== undefined) issued = { ...issued, ...(await this.#trail.sessions.extend(issued.token, options)) };
    }
    // Another user's session is never handed over: a fresh, empty one starts.
    if (issued.sessionId !== before && before) this.#state = {};
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
    if (this.#token) await this.#trail.sessions.destroy(this.#token);
    this.#forget();
  }

  /**
   * express-session's `regenerate`: the session ends and a new, empty one
   * takes its place (stored, with a new id and cookie, once something is
   * set in it or it is saved). Passport calls it at login.
   */
  regenerate(cb) {
    return callback(
      (async () => {
        if (this.#token) await this.#trail.sessions.destroy(this.#token);
        this.#forget();
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
        if (self.#maxAge === null || !self.#record) return self.#maxAge ?? null;
        return Math.max(0, Math.min(self.#record.idleExpiresAt, self.#record.absoluteExpiresAt) - Date.now());
      },
      set maxAge(ms) {
        if (ms === null) {
          self.#maxAge = null;
          return;
        }
        if (!Number.isFinite(ms) || ms < 1000) throw invalid('maxAge', 'cookie.maxAge must be null or at least 1000 ms');
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

  /** @internal Stores what changed by property access; `force` stores a new, empty session too. */
  async #flush(force = false) {
    const changed = [];
    const removed = [];
    for (const [k, v] of Object.entries(this.#state)) {
      const json = JSON.stringify(v);
      if (json === undefined) continue;
      if (this.#stored.get(k) !== json) changed.push(k);
    }
    for (const k of this.#stored.keys()) if (!Object.hasOwn(this.#state, k)) removed.push(k);
    if (!this.#token) {
      if (changed.length || force || this.#lifetime) await this.#create();
    } else {
      for (const k of changed) {
        await this.#trail.sessions.set(this.#token, k, this.#state[k]);
        this.#stored.set(k, JSON.stringify(this.#state[k]));
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

  /** @internal Stores the new session with the state set so far. */
  async #create() {
    const data = asStored(this.#state);
    this.#issue(await this.#trail.sessions.create({ ...this.#client, data }));
    this.#state = data;
    this.#stored = snapshot(data);
    await this.#honorGpc();
  }

  /** @internal At the end of a request: stores what changed by property access. */
  async end() {
    await this.#flush();
  }

  /** @internal Clears the cookie without a store call (a cookie that names no session). */
  #forget() {
    this.#token = null;
    this.#record = null;
    this.#state = {};
    this.#stored = new Map();
    this.#cookies = [this.#cookie('', 0)];
  }

  /** @internal The Set-Cookie values this request must send. */
  get setCookies() {
    return this.#cookies;
  }

  /** @internal */
  get client() {
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
  async begin(dead) {
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
    // A session that may stay unused a day or more ("remember me") keeps
    // its cookie across browser restarts, whatever `persistent` says.
    const remembered = (record.idleTimeoutMs ?? 0) >= 24 * 3600_000;
    const persistent = this.#maxAge === null ? false : this.#s.persistent || remembered;
    return this.#cookie(token, persistent ? secs : null);
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
async function begin(trail, s, req) {
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
  const session = new RequestSession(trail, s, client, header('sec-gpc') === '1', found ? token : null, found ? record : null, state);
  await session.begin(Boolean(token && !found));
  return session;
}

/** The answer to a request whose session store failed: 503, the cookie untouched. */
function unavailable(err) {
  const code = typeof err?.code === 'string' ? err.code : 'STORE_UNAVAILABLE';
  return new Response(JSON.stringify({ error: code }), {
    status: 503,
    headers: { 'content-type': 'application/json', 'retry-after': '1' },
  });
}

/**
 * After the response: tracks a page view of a successful GET of an HTML
 * page. Never fails the response: in every adapter, a failure to track goes
 * to the `onError` option.
 */
async function after(trail, s, session, req, status, contentType) {
  try {
    await trackPageView(trail, s, session, req, status, contentType);
  } catch (err) {
    try {
      s.onError(err, req);
    } catch {
      // an onError that throws does not fail the response either
    }
  }
}

async function trackPageView(trail, s, session, req, status, contentType) {
  if (!s.trackPageViews || req.method !== 'GET' || status !== 200 || !/text\/html/i.test(contentType ?? '')) return;
  const url = new URL(req.url, 'http://localhost');
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
    ip: session.client.ip,
    userAgent: session.client.userAgent,
  });
}

/**
 * Wraps a fetch handler `(request, { session }, ...rest) => Response` so
 * each request gets its session (workerd, Deno, Node's fetch servers).
 */
export function sessionMiddleware(trail, options) {
  const s = settings(options);
  return (handler) =>
    async function fetchWithSession(request, ...rest) {
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
        return unavailable(err);
      }
      const response = await handler(request, { session }, ...rest);
      try {
        await session.end(); // what changed by property access
      } catch (err) {
        return unavailable(err);
      }
      const cookies = session.setCookies;
      let out = response;
      if (cookies.length) {
        out = new Response(response.body, response);
        for (const c of cookies) out.headers.append('Set-Cookie', c);
      }
      await after(trail, s, session, req, out.status, out.headers.get('content-type'));
      return out;
    };
}

/** Express/Connect: `app.use(expressSession(trail, options))`, then `req.session`. */
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
    begin(trail, s, r).then(
      (session) => {
        req.session = session;
        const writeHead = res.writeHead;
        res.writeHead = function writeHeadWithSession(...args) {
          for (const c of session.setCookies) res.appendHeader('Set-Cookie', c);
          res.writeHead = writeHead;
          return writeHead.apply(this, args);
        };
        // As express-session does: what the request changed by property
        // access (`req.session.cart = …`) is stored before the response
        // ends, so the next request sees it (and a new session's cookie
        // goes out with the headers, unless the response already streamed).
        const end = res.end;
        res.end = function endAfterSave(...args) {
          res.end = end;
          session.end().then(
            () => end.apply(res, args),
            (err) => {
              try {
                s.onError(err, r);
              } catch {
                // an onError that throws does not stop the response
              }
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

/** Hono: `app.use(honoSession(trail, options))`, then `c.get('session')`. */
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
      return unavailable(err);
    }
    c.set('session', session);
    await next();
    try {
      await session.end(); // what changed by property access
    } catch (err) {
      c.res = unavailable(err);
      return;
    }
    for (const cookie of session.setCookies) c.res.headers.append('Set-Cookie', cookie);
    await after(trail, s, session, r, c.res.status, c.res.headers.get('content-type'));
  };
}
