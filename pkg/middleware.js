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

/** Options every adapter takes; see middleware.d.ts. */
function settings(options = {}) {
  const known = new Set(['cookieName', 'secure', 'sameSite', 'path', 'domain', 'persistent', 'trackPageViews', 'honorGpc', 'trustProxy', 'proxyHeader', 'clientIp', 'onError']);
  for (const key of Object.keys(options)) {
    if (!known.has(key)) throw new TypeError(`usertrail/middleware: unknown option ${JSON.stringify(key)}`);
  }
  if (options.onError !== undefined && typeof options.onError !== 'function') throw new TypeError('usertrail/middleware: onError must be a function');
  const secure = options.secure ?? true;
  const sameSite = options.sameSite ?? 'Lax';
  if (!['Lax', 'Strict', 'None'].includes(sameSite)) throw new TypeError('usertrail/middleware: sameSite must be Lax, Strict or None');
  if (sameSite === 'None' && !secure) throw new TypeError('usertrail/middleware: sameSite None needs secure');
  // __Host- cookies must be Secure, Path=/ and without Domain; drop the
  // prefix where they cannot be (plain-HTTP development on localhost).
  const host = secure && (options.path ?? '/') === '/' && !options.domain;
  const cookieName = options.cookieName ?? (host ? '__Host-ut.sid' : 'ut.sid');
  if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(cookieName)) throw new TypeError('usertrail/middleware: cookieName is not a valid cookie name');
  if (cookieName.startsWith('__Host-') && !host) throw new TypeError('usertrail/middleware: a __Host- cookie needs secure, path "/" and no domain');
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
    onError: options.onError ?? ((err) => console.error('usertrail/middleware: tracking a page view failed:', err)),
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

/** One request's view of its session. */
export class RequestSession {
  #trail;
  #s;
  #client;
  #gpc;
  #token;
  #record;
  #state; // this request's view of the state: read with the session, kept up to date by its writes
  #cookies = [];

  /** @internal */
  constructor(trail, s, client, gpc, token, record, state) {
    this.#trail = trail;
    this.#s = s;
    this.#client = client;
    this.#gpc = gpc;
    this.#token = token;
    this.#record = record;
    this.#state = state ?? null;
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

  /**
   * One key of the state (or all of it); undefined while new. Read with the
   * session when the request began (one store lookup for both), and kept up
   * to date by this request's own writes: a request sees a consistent
   * snapshot, as with express-session, while each write goes to the store
   * at once and per key, so writers of different keys never lose each
   * other's updates.
   */
  async get(key) {
    if (!this.#token) return undefined;
    if (!this.#state) this.#state = await this.#trail.sessions.get(this.#token);
    return key === undefined ? this.#state : this.#state[key];
  }

  /** Sets one key of the state, storing the session first if it is new. */
  async set(key, value) {
    if (!this.#token) {
      this.#issue(await this.#trail.sessions.create({ ...this.#client, data: { [key]: value } }));
      this.#state = { [key]: asStored(value) };
      await this.#honorGpc();
    } else {
      await this.#trail.sessions.set(this.#token, key, value);
      if (this.#state) this.#state[key] = asStored(value);
    }
  }

  /** Removes one key of the state. */
  async remove(key) {
    if (!this.#token) return;
    await this.#trail.sessions.remove(this.#token, key);
    if (this.#state) delete this.#state[key];
  }

  /**
   * Binds the session to a user and rotates its token (a new cookie is sent).
   * The anonymous visitor's id (the session id) is linked to the user, so
   * the page views and the privacy choices made before logging in follow.
   */
  async login(userId) {
    const anonymous = this.#record && !this.#record.userId ? this.#record.sessionId : null;
    const before = this.#record?.sessionId;
    const issued = this.#token
      ? await this.#trail.sessions.login(this.#token, userId)
      : await this.#trail.sessions.create({ ...this.#client, userId });
    // Another user's session is never handed over: a fresh, empty one starts.
    if (issued.sessionId !== before) this.#state = {};
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

  /** @internal Clears the cookie without a store call (a cookie that names no session). */
  #forget() {
    this.#token = null;
    this.#record = null;
    this.#state = null;
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
    return this.#cookie(token, this.#s.persistent ? secs : null);
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
    for (const cookie of session.setCookies) c.res.headers.append('Set-Cookie', cookie);
    await after(trail, s, session, r, c.res.status, c.res.headers.get('content-type'));
  };
}
