/// <reference lib="esnext.disposable" />
// Types of usertrail/middleware: sessions for HTTP servers.
import type { LoginOptions, Session, UserTrail } from './index.js';
import type { BrowserTrail } from './browser.js';

/** What the middleware runs on: an engine (SQLite, or sessions shared on Redis), or a `connect()` client. */
export type SessionEngine = UserTrail | BrowserTrail;

/** Options every adapter takes. */
export interface SessionMiddlewareOptions {
  /** Default `'__Host-ut.sid'`, or `'ut.sid'` when the cookie cannot be a `__Host-` one. */
  cookieName?: string;
  /** Send the cookie over HTTPS only. Default true; false for plain-HTTP development. */
  secure?: boolean;
  /** Default `'Lax'`. */
  sameSite?: 'Lax' | 'Strict' | 'None';
  /** Default `'/'`. */
  path?: string;
  /** Default none (a host-only cookie). */
  domain?: string;
  /** Give the cookie a Max-Age matching the session's idle deadline (default true); false: a browser-session cookie. */
  persistent?: boolean;
  /** Track a `page_view` for each successful GET answered with HTML. Default false. */
  trackPageViews?: boolean;
  /**
   * Record `Sec-GPC: 1` as a withdrawal of `sale_share` and `marketing`: for a logged-in user, and for an
   * anonymous visitor by their anonymous id (the session id) once they have a session. Default true.
   */
  honorGpc?: boolean;
  /**
   * Which proxies in front of the app to believe, as Express's `trust proxy`: the client is the
   * rightmost address in the forwarding header that is not a trusted proxy (a client can write what it
   * likes at the left). `false` (default): the socket's address, headers ignored. A number: that many
   * proxies in front of the app (1 for one load balancer). Or the proxies' addresses and networks, with
   * the presets `'loopback'`, `'linklocal'` and `'uniquelocal'`: `['loopback', '10.0.0.0/8']` or
   * `'loopback, 10.0.0.0/8'`. `true` is refused (it would believe the client). Bad values throw
   * `INVALID_INPUT`.
   */
  trustProxy?: false | number | string | string[];
  /** The header the trusted proxies write: `'x-forwarded-for'` (default) or `'forwarded'` (RFC 7239). */
  proxyHeader?: 'x-forwarded-for' | 'forwarded';
  /**
   * The client's address when there is no socket: for the fetch wrapper, `(request, ...rest) => string`
   * (e.g. `request.headers.get('cf-connecting-ip')`); for Express, `(req) => string`; for Hono, `(c) => string`.
   */
  clientIp?: (...args: any[]) => string | undefined;
  /**
   * Called when tracking a page view after the response fails (the response is never failed by it),
   * with the error and the request as the middleware saw it. Default: `console.error`.
   */
  onError?: (error: unknown, request: { method: string; url: string }) => void;
}

/**
 * The state a request's session holds, as property access sees it (`req.session.cart`). Empty here:
 * declare your keys, as with express-session, and they are typed everywhere the session is.
 *
 * ```ts
 * declare module 'usertrail/middleware' {
 *   interface SessionData {
 *     cart: { sku: string; qty: number }[];
 *   }
 * }
 * ```
 */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface SessionData {}

/** The type of state key `K`: as `SessionData` declares it, else `unknown`. */
export type StateValue<K extends string> = K extends keyof SessionData ? SessionData[K] : unknown;

/** What a login asks of the session's lifetime ("remember me"); see `LoginOptions` in the engine's types. */
export type { LoginOptions } from './index.js';

/** express-session's `req.session.cookie`: the cookie this response sends. */
export interface SessionCookie {
  /**
   * Milliseconds left (to the idle or absolute deadline, whichever is first), or null for a cookie that
   * ends with the browser. Setting it gives the session that lifetime ("remember me") at the end of the
   * request, with a persistent cookie; `null` makes this response's cookie end with the browser. Below
   * 1000 ms is refused (`INVALID_INPUT`).
   */
  maxAge: number | null;
  /** The same as `maxAge`, read. */
  readonly originalMaxAge: number | null;
  /** When the cookie ends, or null for a browser-session cookie. */
  readonly expires: Date | null;
  readonly httpOnly: true;
  readonly secure: boolean;
  readonly path: string;
  readonly domain: string | undefined;
  readonly sameSite: 'lax' | 'strict' | 'none';
}

/**
 * One request's session. It is stored, and the cookie sent, only once something is set.
 *
 * Two ways to use it. Async, per key and at once: `await req.session.set('cart', cart)`, written to the
 * store before the promise resolves (writers of different keys never lose each other's updates). Or as
 * express-session: `req.session.cart = cart` (typed by `SessionData`), with `regenerate`, `save`,
 * `destroy`, `reload`, `touch` and `cookie`; what changed that way is stored at the end of the request
 * (a failure then goes to Express's `next(err)`, is thrown by a fetch handler and to Hono's `onError`;
 * `STORE_UNAVAILABLE` answers 503).
 *
 * The session's own names (`id`, `userId`, `isNew`, `record`, `cookie`, the methods, `then`, Object's) are
 * not state keys: assigning one throws `INVALID_INPUT`.
 */
export declare class RequestSession {
  private constructor();
  /** The non-secret session id, or null while nothing is stored. */
  readonly id: string | null;
  /** The logged-in user, or null. */
  readonly userId: string | null;
  /** True until something is stored (no valid cookie came with the request). */
  readonly isNew: boolean;
  /** The session record, or null while new. */
  readonly record: Session | null;
  /** One key of the state (typed by `SessionData` for the keys it declares); undefined while new or unset. */
  get<K extends string>(key: K): Promise<StateValue<K> | undefined>;
  /** The whole state. */
  get(): Promise<Partial<SessionData> & Record<string, unknown>>;
  /** Sets one key of the state, in the store at once, storing the session first if it is new. */
  set<K extends string>(key: K, value: StateValue<K>): Promise<void>;
  /** Removes one key of the state, in the store at once. */
  remove(key: string): Promise<void>;
  /**
   * Binds the session to a user and rotates its token (a new cookie). `{ remember: true }` gives the
   * logged-in session the engine's remember-me lifetime and a persistent cookie.
   */
  login(userId: string, options?: LoginOptions): Promise<void>;
  /** Issues a new token for the same session. */
  rotate(): Promise<void>;
  /** Ends the session and clears the cookie. */
  logout(): Promise<void>;
  /**
   * express-session's `regenerate`: the session ends and a new, empty one takes its place (new id, new
   * cookie once something is set or saved). Passport calls it at login and logout. In Express the new one is
   * a new object on `req.session` (this one keeps its state readable); elsewhere this one is emptied.
   */
  regenerate(callback?: (err?: unknown) => void): Promise<void>;
  /** express-session's `save`: stores what changed by property access now (also done at the end of the request). */
  save(callback?: (err?: unknown) => void): Promise<void>;
  /** express-session's `destroy`: the session ends and the cookie is cleared. */
  destroy(callback?: (err?: unknown) => void): Promise<void>;
  /** express-session's `reload`: reads the state again from the store, dropping unsaved property changes. */
  reload(callback?: (err?: unknown) => void): Promise<void>;
  /** express-session's `touch`: sends the cookie again with its Max-Age renewed. */
  touch(): this;
  /** express-session's `cookie`. */
  readonly cookie: SessionCookie;
  /** The state, for `JSON.stringify(req.session)`. */
  toJSON(): Partial<SessionData> & Record<string, unknown>;
}

/** A request's session with its state's keys as properties (`req.session.cart`), as `req.session` has it. */
export type SessionWithData = RequestSession & Partial<SessionData>;

/**
 * Hono's context variables the middleware sets: `new Hono<{ Variables: SessionVariables }>()`, then
 * `c.get('session')` is typed.
 */
export interface SessionVariables {
  session: SessionWithData;
}

/** Hono's environment with the session variable: `new Hono<SessionEnv>()`. */
export interface SessionEnv {
  Variables: SessionVariables;
}

declare global {
  namespace Express {
    interface Request {
      /** The request's session (usertrail/middleware `expressSession`). */
      session: SessionWithData;
    }
  }
}

/** A fetch handler that receives the request's session. */
export type SessionHandler<Rest extends unknown[] = unknown[]> = (
  request: Request,
  context: { session: SessionWithData },
  ...rest: Rest
) => Response | Promise<Response>;

/**
 * Wraps a fetch handler (workerd, Deno, Node fetch servers) so each request has its session.
 *
 * ```js
 * const handle = sessionMiddleware(trail)(async (request, { session }) => {
 *   await session.set('visits', ((await session.get('visits')) ?? 0) + 1);
 *   return new Response('hello');
 * });
 * ```
 */
export declare function sessionMiddleware(
  trail: SessionEngine,
  options?: SessionMiddlewareOptions,
): <Rest extends unknown[]>(handler: SessionHandler<Rest>) => (request: Request, ...rest: Rest) => Promise<Response>;

/** Express/Connect middleware: `app.use(expressSession(trail))`, then `req.session` (typed: see `SessionData`). */
export declare function expressSession(
  trail: SessionEngine,
  options?: SessionMiddlewareOptions,
): (req: any, res: any, next: (err?: unknown) => void) => void;

/**
 * Hono middleware: `app.use(honoSession(trail))`, then `c.get('session')`; typed with
 * `new Hono<SessionEnv>()` (or `{ Variables: SessionVariables }` in your own environment).
 */
export declare function honoSession(
  trail: SessionEngine,
  options?: SessionMiddlewareOptions,
): (c: any, next: () => Promise<void>) => Promise<Response | void>;

/**
 * Serves a fetch handler from Node's `http`: `createServer(toNodeListener(handler))`. The handler's second
 * argument is `{ remoteAddress }` (for `clientIp`). See usertrail/pipeline.
 */
export { toNodeListener } from './node-http.js';
