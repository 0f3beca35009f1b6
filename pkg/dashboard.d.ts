/// <reference lib="esnext.disposable" />
// Types for usertrail/dashboard.
import type { UserTrail } from './index.js';
import type { Coordinator } from './pipeline.js';
import type { NodeIncomingMessage, NodeRequestInfo, NodeServerResponse } from './node-http.js';

/** What the dashboard shows: one engine's data, or merged partitions (`acrossPartitions`). */
export type DashboardSource = UserTrail | Coordinator;

/**
 * Who may use the dashboard. A key (16 to 512 characters) is compared in constant time, sent as
 * `Authorization: Bearer <key>` or typed into the page, which exchanges it for an HttpOnly cookie;
 * `operator` names whoever holds it in the audit log (default `'key'`). A function is the host's own auth:
 * it resolves with the operator's name (audited as `dashboard:<name>`), or `null` to refuse (401).
 */
export type DashboardAuth = { key: string; operator?: string } | ((request: Request) => string | null | undefined | Promise<string | null | undefined>);

/** Options for the dashboard. Unknown keys and bad values throw `INVALID_INPUT`. */
export interface DashboardOptions {
  /**
   * Required unless the server listens on a loopback address only (then the operator is `'local'`). Without
   * it, a server reachable from elsewhere answers every request 401.
   */
  auth?: DashboardAuth;
  /** Where the handler is mounted, such as `'/admin/usertrail'` (the fetch and Hono forms; Express reads the mount path). */
  basePath?: string;
  /** Shown in the page's header. Default `'usertrail'`. */
  title?: string;
  /** A banner shown on every page (500 characters at most), such as why the data may be stale. */
  notice?: string;
  /** Refuse the actions that change data (erasure): for a dashboard over a copy. */
  readOnly?: boolean;
  /** How long a sign-in with the key lasts, ms (1 min to 30 days); default 12 h. */
  sessionTtlMs?: number;
  /** Called with a failure that is not the request's fault and its route; the default logs the code and route only (never the message, which can hold a subject). */
  onError?: (err: unknown, route: string) => void;
}

/** Options for `serveDashboard`: the dashboard's, and where to listen. */
export interface ServeDashboardOptions extends DashboardOptions {
  /** Default `'127.0.0.1'`. Any other address than a loopback one needs `auth`. */
  host?: string;
  /** Default 0: a free port. */
  port?: number;
}

/** A dashboard served by `serveDashboard`. */
export interface ServedDashboard {
  /** Where it is, such as `http://127.0.0.1:41234/`. */
  url: string;
  /** Node's server. */
  server: unknown;
  close(): Promise<void>;
}

/**
 * The dashboard as a fetch handler: `GET /` the page, `GET /assets/*` its files, `api/*` its JSON (every
 * POST signed in by a cookie or the host's auth needs the `x-csrf-token` from `GET api/me`; a bearer key
 * does not). `info` is what `toNodeListener` passes.
 */
export declare function dashboard(source: DashboardSource, options?: DashboardOptions): (request: Request, info?: Partial<NodeRequestInfo>) => Promise<Response>;

/** Express/Connect: `app.use('/admin/usertrail', expressDashboard(trail, { auth }))`. */
export declare function expressDashboard(
  source: DashboardSource,
  options?: Omit<DashboardOptions, 'basePath'>,
): (req: NodeIncomingMessage, res: NodeServerResponse, next: (err?: unknown) => void) => void;

/** Hono: `app.all('/admin/usertrail/*', honoDashboard(trail, { basePath: '/admin/usertrail', auth }))`. */
export declare function honoDashboard(source: DashboardSource, options?: DashboardOptions): (c: { req: { raw: Request }; env?: unknown }) => Promise<Response>;

/** Node's `http`: `createServer(nodeDashboard(trail, { auth }))`. */
export declare function nodeDashboard(source: DashboardSource, options?: DashboardOptions): (req: NodeIncomingMessage, res: NodeServerResponse) => Promise<void>;

/**
 * Serves the dashboard on its own Node server (127.0.0.1 by default). A host other than a loopback address
 * without `auth` throws `INVALID_INPUT` before anything listens.
 */
export declare function serveDashboard(source: DashboardSource, options?: ServeDashboardOptions): Promise<ServedDashboard>;
