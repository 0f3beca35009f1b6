// Types of usertrail/middleware: sessions for HTTP servers.
import type { UserTrail, Session } from './index.js';
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
 * One request's session. It is stored, and the cookie sent, only once something is set. Every method is
 * async: `await req.session.set('cart', cart)`.
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
  /** One key of the state (or the whole state); undefined while new. */
  get(key?: string): Promise<unknown>;
  /** Sets one key of the state, storing the session if it is new. */
  set(key: string, value: unknown): Promise<void>;
  /** Removes one key of the state. */
  remove(key: string): Promise<void>;
  /** Binds the session to a user and rotates its token. */
  login(userId: string): Promise<void>;
  /** Issues a new token for the same session. */
  rotate(): Promise<void>;
  /** Ends the session and clears the cookie. */
  logout(): Promise<void>;
}

/** A fetch handler that receives the request's session. */
export type SessionHandler<Rest extends unknown[] = unknown[]> = (
  request: Request,
  context: { session: RequestSession },
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

/** Express/Connect middleware: `app.use(expressSession(trail))`, then `req.session`. */
export declare function expressSession(
  trail: SessionEngine,
  options?: SessionMiddlewareOptions,
): (req: any, res: any, next: (err?: unknown) => void) => void;

/** Hono middleware: `app.use(honoSession(trail))`, then `c.get('session')`. */
export declare function honoSession(
  trail: SessionEngine,
  options?: SessionMiddlewareOptions,
): (c: any, next: () => Promise<void>) => Promise<void>;
