// usertrail/dashboard: an analytics and privacy dashboard for operators, as
// a fetch handler (with Express, Hono and Node `http` forms) over an engine
// or a pipeline coordinator. The page is static (HTML, one script, one
// style sheet, Chart.js) and reads JSON from this handler; the numbers are
// the engine's (report.js picks the queries), the privacy actions the
// engine's own calls, audited under the operator's name.
//
//   import { expressDashboard } from 'usertrail/dashboard';
//   app.use('/admin/usertrail', expressDashboard(trail, { auth: { key: process.env.DASHBOARD_KEY } }));
//
// Safe by default: without `auth` it serves only a server that listens on
// loopback alone; a key is compared in constant time and exchanged for an
// HttpOnly, SameSite=Strict cookie; every POST needs the CSRF token the page
// reads from `api/me`; responses carry a strict Content-Security-Policy (no
// inline script or style); subjects travel in POST bodies, never in URLs,
// and nothing here logs them.

import { UserTrailError } from './gen/error.js';
import { digest, json, keyMatches, problem, readBody } from './http-kit.js';
import { loopbackOnly as listensOnLoopback, requestFromNode, sendToNode, toNodeListener, isLoopback } from './node-http.js';
import { TITLES, VIEWS, asker, runView, toCsv } from './report.js';

const invalid = (field, message) => new UserTrailError('INVALID_INPUT', `usertrail/dashboard: ${message}`, field);

const KNOWN = new Set(['auth', 'basePath', 'title', 'onError', 'sessionTtlMs', 'notice', 'readOnly']);
const COOKIE = 'usertrail_dashboard';
const MAX_BODY = 64 * 1024;
const FORMATS = ['json', 'ndjson', 'csv', 'sqlite'];

/** The headers every answer carries. */
const SECURITY = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

/** The static files, read once from the package (Node and Deno). */
const ASSETS = {
  'index.html': ['dashboard/index.html', 'text/html; charset=utf-8'],
  'assets/app.js': ['dashboard/app.js', 'text/javascript; charset=utf-8'],
  'assets/segment.js': ['dashboard/segment.js', 'text/javascript; charset=utf-8'],
  'assets/app.css': ['dashboard/app.css', 'text/css; charset=utf-8'],
  'assets/chart.js': ['gen/chart.umd.min.js', 'text/javascript; charset=utf-8'],
};
let assetCache = null;
async function asset(name) {
  assetCache ??= new Map();
  if (!assetCache.has(name)) {
    const { readFile } = await import('node:fs/promises');
    assetCache.set(name, await readFile(new URL(`./${ASSETS[name][0]}`, import.meta.url)));
  }
  return assetCache.get(name);
}

function settings(options) {
  if (options === null || typeof options !== 'object') throw invalid('options', 'options must be an object');
  for (const key of Object.keys(options)) if (!KNOWN.has(key)) throw invalid(key, `unknown option ${JSON.stringify(key).slice(0, 60)}`);
  const auth = options.auth;
  let key = null;
  let operator = null;
  if (auth !== undefined && typeof auth !== 'function') {
    if (auth === null || typeof auth !== 'object') throw invalid('auth', 'auth must be { key, operator? } or a function (request) => operator name or null');
    for (const k of Object.keys(auth)) if (k !== 'key' && k !== 'operator') throw invalid(`auth.${k}`, `unknown option auth.${k}`);
    if (typeof auth.key !== 'string' || auth.key.length < 16 || auth.key.length > 512) throw invalid('auth.key', 'auth.key must be a string of 16 to 512 characters');
    if (auth.operator !== undefined && !validOperator(auth.operator)) throw invalid('auth.operator', 'auth.operator must be a name of 1 to 200 characters');
    key = auth.key;
    operator = auth.operator ?? 'key';
  }
  const basePath = options.basePath ?? '';
  if (typeof basePath !== 'string' || basePath.length > 200 || (basePath !== '' && (!basePath.startsWith('/') || basePath.endsWith('/') || /[\s?#]/.test(basePath)))) {
    throw invalid('basePath', "basePath must be '' or a path such as '/admin/usertrail' (no trailing slash)");
  }
  const title = options.title ?? 'usertrail';
  if (typeof title !== 'string' || title.length === 0 || title.length > 100) throw invalid('title', 'title must be a string of 1 to 100 characters');
  if (options.onError !== undefined && typeof options.onError !== 'function') throw invalid('onError', 'onError must be a function');
  if (options.notice !== undefined && (typeof options.notice !== 'string' || options.notice.length > 500)) throw invalid('notice', 'notice must be a string of at most 500 characters');
  if (options.readOnly !== undefined && typeof options.readOnly !== 'boolean') throw invalid('readOnly', 'readOnly must be a boolean');
  const ttl = options.sessionTtlMs ?? 12 * 3600_000;
  if (!Number.isInteger(ttl) || ttl < 60_000 || ttl > 30 * 86400_000) throw invalid('sessionTtlMs', 'sessionTtlMs must be an integer from 60000 to 2592000000');
  return {
    hook: typeof auth === 'function' ? auth : null,
    key,
    operator,
    basePath,
    title,
    ttl,
    notice: options.notice ?? null,
    readOnly: options.readOnly ?? false,
    // Logs the code and the route only: messages can hold a subject.
    onError: options.onError ?? ((err, route) => console.error(`usertrail/dashboard: ${route} failed: ${err?.code ?? 'INTERNAL'}`)),
  };
}

function validOperator(name) {
  return typeof name === 'string' && name.length > 0 && name.length <= 200 && !/[\u0000-\u001f]/.test(name);
}

const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
const randomToken = () => hex(crypto.getRandomValues(new Uint8Array(32)));

/** Equal strings, compared in constant time. */
async function same(a, b) {
  return typeof a === 'string' && typeof b === 'string' && keyMatches(a, [await digest(b)]);
}

/** The status an engine failure answers with. */
function statusOf(code) {
  if (['INVALID_INPUT', 'UNKNOWN_DIMENSION', 'UNKNOWN_PURPOSE', 'UNSUPPORTED_FORMAT', 'UNSUPPORTED', 'EXPERIMENT_NOT_FOUND'].includes(code)) return 400;
  if (code === 'NOT_FOUND') return 404;
  if (code === 'RATE_LIMITED') return 429;
  if (code === 'STORE_UNAVAILABLE' || code === 'BUSY') return 503;
  if (code === 'TIMEOUT' || code === 'UNREACHABLE') return 504;
  return 500;
}

/** Whether the request names a loopback host (`127.0.0.1`, `[::1]`, `localhost`), whatever the port. */
function loopbackHost(request) {
  let host;
  try {
    host = new URL(request.url).hostname;
  } catch {
    return false;
  }
  const name = host.replace(/^\[|\]$/g, '');
  return name === 'localhost' || isLoopback(name);
}

/** A request whose `Origin` names another origin than its own URL's: refused for actions. */
function crossOrigin(request) {
  const origin = request.headers.get('origin');
  if (origin === null) return false;
  try {
    return new URL(origin).origin !== new URL(request.url).origin;
  } catch {
    return true;
  }
}

/** A cookie's value from the Cookie header. */
function cookie(request, name) {
  for (const part of (request.headers.get('cookie') ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return null;
}

/**
 * The dashboard as a fetch handler `(request, info?) => Promise<Response>`.
 * `source` is an engine or a coordinator (`acrossPartitions`). `info` is
 * what `toNodeListener` passes: `{ loopbackOnly }` lets a server that listens
 * on loopback alone go without `auth`.
 */
export function dashboard(source, options = {}) {
  const s = settings(options);
  const src = asker(source);
  const trail = src.trail; // for privacy: the engine, or the coordinator's
  const secret = randomToken();
  const sessions = new Map(); // cookie token -> { operator, csrf, expires }
  let failures = { at: 0, n: 0 };
  /** Wrong keys within the last minute, from sign-ins and bearer tokens alike: past 20, keys are not even compared. */
  const limited = () => {
    const now = Date.now();
    if (now - failures.at > 60_000) failures = { at: now, n: 0 };
    return failures.n >= 20;
  };

  const headers = (type, extra = {}) => ({ ...SECURITY, 'cache-control': 'no-store', 'content-type': type, ...extra });
  const answer = (status, body, extra) => json(status, body, { ...SECURITY, 'cache-control': 'no-store', ...extra });
  const fail = (status, code, message, field) => answer(status, { error: { code, message, ...(field ? { field } : {}) } });

  /** Who is asking: `{ operator, csrf, via }`, or null. */
  async function principal(request, info) {
    if (s.hook) {
      const name = await s.hook(request);
      if (name === null || name === undefined || name === false) return null;
      if (!validOperator(name)) throw new UserTrailError('INVALID_INPUT', 'usertrail/dashboard: auth returned something other than an operator name or null', 'auth');
      return { operator: name, via: 'host', csrf: hex(await digest(`${secret}\0host\0${name}`)) };
    }
    if (s.key) {
      const token = cookie(request, COOKIE);
      if (token) {
        const session = sessions.get(token);
        if (session && session.expires > Date.now()) return session;
        if (session) sessions.delete(token);
      }
      const bearer = /^Bearer (.+)$/.exec(request.headers.get('authorization') ?? '')?.[1];
      if (bearer !== undefined) {
        if (limited()) throw new UserTrailError('RATE_LIMITED', 'usertrail/dashboard: too many wrong keys: wait a minute');
        if (await keyMatches(bearer, [await digest(s.key)])) {
          return { operator: s.operator, via: 'bearer', csrf: hex(await digest(`${secret}\0bearer\0${s.operator}`)) };
        }
        failures.n++;
      }
      return null;
    }
    // Loopback without auth: only for requests addressed to a loopback name, so that a page on another
    // site whose name an attacker points at 127.0.0.1 (DNS rebinding) is not served.
    if (info?.loopbackOnly === true && loopbackHost(request)) return { operator: 'local', via: 'loopback', csrf: hex(await digest(`${secret}\0loopback`)) };
    return null;
  }

  async function body(request) {
    const bytes = await readBody(request, MAX_BODY, 10_000);
    if (bytes instanceof Response) return bytes;
    try {
      const value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
      if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error('not an object');
      return value;
    } catch {
      return fail(400, 'INVALID_INPUT', 'the body must be a JSON object');
    }
  }

  async function login(request, base) {
    if (!s.key) return fail(404, 'NOT_FOUND', 'this dashboard signs in through the host’s own auth');
    const now = Date.now();
    if (limited()) return fail(429, 'RATE_LIMITED', 'too many wrong keys: wait a minute');
    const b = await body(request);
    if (b instanceof Response) return b;
    if (!(await keyMatches(b.key, [await digest(s.key)]))) {
      failures.n++;
      return fail(401, 'UNAUTHORIZED', 'wrong key');
    }
    const token = randomToken();
    if (sessions.size >= 1000) sessions.delete(sessions.keys().next().value);
    sessions.set(token, { operator: s.operator, via: 'cookie', csrf: randomToken(), expires: now + s.ttl });
    const secure = new URL(request.url).protocol === 'https:' ? '; Secure' : '';
    return answer(200, { ok: true }, { 'set-cookie': `${COOKIE}=${token}; Path=${base || '/'}; HttpOnly; SameSite=Strict; Max-Age=${Math.floor(s.ttl / 1000)}${secure}` });
  }

  const actor = (who) => `dashboard:${who.operator}`;

  function need(b, field, check, message) {
    const v = b[field];
    if (!check(v)) throw invalid(field, message);
    return v;
  }
  const isSubject = (v) => typeof v === 'string' && v.length > 0 && v.length <= 512;
  // Whether the engine shares a store: fixed while it is open, so asked once (info() counts every table).
  let sharedOnce = null;
  const isShared = () => (sharedOnce ??= trail.info().then((i) => i.shared, (err) => ((sharedOnce = null), Promise.reject(err))));

  async function privacyOverview() {
    if (!trail) return { available: false, note: 'This coordinator has no engine for privacy: pass acrossPartitions an engine sharing the partitions’ Redis store.' };
    const shared = await isShared();
    const [retention, schedule] = await Promise.all([trail.privacy.retention.get(), trail.privacy.retention.schedule()]);
    const out = { available: true, source: src.kind, shared, retention, schedule, places: [], consentRates: null, consentNote: null };
    if (shared) out.places = await trail.privacy.places();
    try {
      out.consentRates = await trail.privacy.consentRates();
    } catch (err) {
      if (err?.code !== 'UNSUPPORTED') throw err;
      out.consentNote = 'Consent decisions live in the shared Redis store, one hash per subject: rates are not counted there yet.';
    }
    out.droppedWithoutConsent = await trail.privacy.droppedWithoutConsent();
    const head = await trail.privacy.auditHead();
    out.audit = (await trail.privacy.audit({ afterSeq: Math.max(0, head.seq - 50), limit: 50 })).reverse();
    if (src.kind === 'partitions' && !shared) {
      out.available = false;
      out.note = 'The coordinator’s engine has no shared store, so its privacy actions would not reach the partitions: use each partition’s dashboard.';
    }
    return out;
  }

  async function lookup(b, who) {
    const subject = need(b, 'subject', isSubject, 'subject must be a string of 1 to 512 characters');
    // An export, so the look-up itself is audited under the operator's name.
    const file = await trail.privacy.export(subject, { format: 'json', actor: actor(who), timeoutMs: 3000 });
    const doc = JSON.parse(new TextDecoder().decode(file.bytes));
    const status = await trail.privacy.status(subject);
    return { ids: doc.ids.length, counts: file.counts, places: doc.places ?? null, consent: status };
  }

  async function exportFile(b, who) {
    const subject = need(b, 'subject', isSubject, 'subject must be a string of 1 to 512 characters');
    const format = need(b, 'format', (v) => FORMATS.includes(v), `format must be one of ${FORMATS.join(', ')}`);
    const file = await trail.privacy.export(subject, { format, actor: actor(who), timeoutMs: 5000 });
    return new Response(file.bytes, {
      status: 200,
      headers: headers(file.mimeType, { 'content-disposition': `attachment; filename="${file.fileName.replace(/[^\w.-]/g, '_')}"` }),
    });
  }

  async function erase(b, who) {
    const subject = need(b, 'subject', isSubject, 'subject must be a string of 1 to 512 characters');
    if (b.confirm !== subject) throw invalid('confirm', 'type the subject again in confirm to erase it');
    const reason = b.reason === undefined || b.reason === '' ? 'operator request' : need(b, 'reason', (v) => typeof v === 'string' && v.length <= 1000, 'reason must be a string of at most 1000 characters');
    const report = await trail.privacy.erase(subject, { reason, actor: actor(who) });
    let receipt = null;
    if (report.rights?.id) receipt = await trail.privacy.receipt(report.rights.id, { waitMs: 3000 });
    return { counts: report.counts, receipt };
  }

  async function verify() {
    const shared = await isShared();
    const audit = await trail.privacy.verifyAudit();
    // With a shared store each subject's ledger is its own chain, in Redis.
    const ledger = shared ? null : await trail.privacy.verifyLedger();
    return { audit, ledger, ledgerNote: shared ? 'With a shared store each subject’s ledger is its own chain: it is verified when the subject is looked up with privacy.verifyLedger({ subject }).' : null };
  }

  async function route(request, info, base) {
    const url = new URL(request.url);
    let path = url.pathname;
    if (base) {
      if (path === base) return new Response(null, { status: 308, headers: { ...SECURITY, location: `${base}/` } });
      if (!path.startsWith(`${base}/`)) return fail(404, 'NOT_FOUND', 'not a dashboard path');
      path = path.slice(base.length);
    }
    path = path.slice(1); // '' for the page
    if (path.startsWith('assets/')) {
      if (!ASSETS[path] || request.method !== 'GET') return fail(404, 'NOT_FOUND', 'no such file');
      return new Response(await asset(path), { headers: headers(ASSETS[path][1], { 'cache-control': 'public, max-age=3600' }) });
    }
    if (path === '' || path === 'index.html') {
      if (request.method !== 'GET' && request.method !== 'HEAD') return fail(405, 'METHOD_NOT_ALLOWED', 'GET the page');
      const who = await principal(request, info);
      // The page holds no data; without a sign-in it shows the key form (401).
      const html = (await asset('index.html')).toString().replaceAll('{{title}}', s.title.replace(/[<>&"']/g, ''));
      return new Response(html, { status: who ? 200 : 401, headers: headers('text/html; charset=utf-8') });
    }
    if (!path.startsWith('api/')) return fail(404, 'NOT_FOUND', 'not a dashboard path');
    const api = path.slice(4);
    if (api === 'login') {
      if (request.method !== 'POST') return fail(405, 'METHOD_NOT_ALLOWED', 'POST { key }');
      if (crossOrigin(request)) return fail(403, 'FORBIDDEN', 'cross-origin request refused');
      return login(request, base);
    }
    const who = await principal(request, info);
    if (!who) {
      const why = s.key || s.hook ? 'sign in first' : 'this server does not listen on loopback only, so the dashboard needs auth: pass { auth: { key } } or an auth function';
      return fail(401, 'UNAUTHORIZED', why);
    }
    if (api === 'me') {
      if (request.method !== 'GET') return fail(405, 'METHOD_NOT_ALLOWED', 'GET');
      return answer(200, { operator: who.operator, via: who.via, csrf: who.csrf, title: s.title, source: src.kind, views: VIEWS.map((v) => ({ id: v, title: TITLES[v] })), privacy: Boolean(trail), notice: s.notice, readOnly: s.readOnly });
    }
    if (request.method !== 'POST') return fail(405, 'METHOD_NOT_ALLOWED', 'POST with the CSRF token');
    // Every action: same-site only, and the token the page read from api/me.
    const site = request.headers.get('sec-fetch-site');
    if ((site && site !== 'same-origin' && site !== 'none') || crossOrigin(request)) return fail(403, 'FORBIDDEN', 'cross-site request refused');
    // A bearer key is never sent by a browser on its own, so it needs no token; cookies and the host's auth do.
    if (who.via !== 'bearer' && !(await same(request.headers.get('x-csrf-token') ?? '', who.csrf))) {
      return fail(403, 'FORBIDDEN', 'the CSRF token (x-csrf-token, from GET api/me) is missing or wrong: reload the page');
    }
    if (api === 'logout') {
      const token = cookie(request, COOKIE);
      if (token) sessions.delete(token);
      return answer(200, { ok: true }, { 'set-cookie': `${COOKIE}=; Path=${base || '/'}; HttpOnly; SameSite=Strict; Max-Age=0` });
    }
    const b = await body(request);
    if (b instanceof Response) return b;
    if (api === 'view') return answer(200, await runView(src, b.view, b.params ?? {}));
    if (api === 'csv') {
      const v = await runView(src, b.view, b.params ?? {});
      const t = v.tables.find((x) => x.id === b.table);
      if (!t) throw invalid('table', 'no such table in this view');
      const name = `${b.view}-${String(b.table).replace(/[^\w-]/g, '_')}.csv`;
      return new Response(toCsv(t), { headers: headers('text/csv; charset=utf-8', { 'content-disposition': `attachment; filename="${name}"` }) });
    }
    if (!api.startsWith('privacy')) return fail(404, 'NOT_FOUND', 'no such call');
    if (!trail) return fail(400, 'UNSUPPORTED', 'this source has no engine for privacy');
    if (api === 'privacy') return answer(200, await privacyOverview());
    if (src.kind === 'partitions' && !(await isShared())) return fail(400, 'UNSUPPORTED', 'the coordinator’s engine has no shared store');
    if (api === 'privacy/lookup') return answer(200, await lookup(b, who));
    if (api === 'privacy/export') return exportFile(b, who);
    if (api === 'privacy/erase') {
      if (s.readOnly) return fail(400, 'UNSUPPORTED', `this dashboard is read-only${s.notice ? `: ${s.notice}` : ''}`);
      return answer(200, await erase(b, who));
    }
    if (api === 'privacy/verify') return answer(200, await verify());
    return fail(404, 'NOT_FOUND', 'no such call');
  }

  return async function usertrailDashboard(request, info) {
    let routeName = 'request';
    // Express passes where it is mounted; one state (sign-ins, the rate limit) for every mount path.
    const base = typeof info?.basePath === 'string' ? info.basePath : s.basePath;
    try {
      routeName = new URL(request.url).pathname.slice(base.length) || '/';
      return await route(request, info, base);
    } catch (err) {
      const code = typeof err?.code === 'string' && /^[A-Z_]{2,40}$/.test(err.code) ? err.code : 'INTERNAL';
      const status = statusOf(code);
      if (status >= 500) s.onError(err, routeName);
      return fail(status, code, status >= 500 && code === 'INTERNAL' ? 'the dashboard failed: see the server’s log' : String(err?.message ?? err), err?.field);
    }
  };
}

/** Node's `http`: `createServer(nodeDashboard(trail, options))`. */
export function nodeDashboard(source, options) {
  return toNodeListener(dashboard(source, options));
}

/**
 * Express/Connect: `app.use('/admin/usertrail', expressDashboard(trail, options))`.
 * The mount path is the base path (`basePath` is taken from it); mount it
 * before any body parser, or after one: a parsed body is read as it is.
 */
export function expressDashboard(source, options = {}) {
  if (options !== null && typeof options === 'object' && options.basePath !== undefined) throw invalid('basePath', 'expressDashboard takes its base path from where it is mounted');
  const handle = dashboard(source, options);
  return function usertrailDashboard(req, res, next) {
    const base = String(req.baseUrl ?? '').replace(/\/$/, '');
    let body = null;
    if (req.body !== undefined && req.body !== null && req._body) body = typeof req.body === 'string' || req.body instanceof Uint8Array ? req.body : JSON.stringify(req.body);
    let request;
    try {
      request = requestFromNode(req, body);
    } catch (err) {
      // A target or Host header that cannot be a URL: answered here, not by Express's error page.
      sendToNode(res, problem(err.status ?? 400, err.code ?? 'INVALID_INPUT', String(err.message), SECURITY)).catch(next);
      return;
    }
    handle(request, { loopbackOnly: listensOnLoopback(req), basePath: base })
      .then((response) => sendToNode(res, response))
      .catch(next);
  };
}

/** Hono: `app.all('/admin/usertrail/*', honoDashboard(trail, { basePath: '/admin/usertrail', auth }))`. */
export function honoDashboard(source, options) {
  const handle = dashboard(source, options);
  return (c) => handle(c.req.raw, { loopbackOnly: listensOnLoopback(c.env?.incoming) });
}

/**
 * Serves the dashboard on its own Node server: on 127.0.0.1 by default. A
 * host that is not a loopback address needs `auth` (`INVALID_INPUT`
 * otherwise, before anything listens). Resolves with `{ url, close }`.
 */
export async function serveDashboard(source, options = {}) {
  if (options === null || typeof options !== 'object') throw invalid('options', 'options must be an object');
  const { host = '127.0.0.1', port = 0, ...rest } = options;
  if (typeof host !== 'string' || host.length === 0) throw invalid('host', 'host must be an address');
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw invalid('port', 'port must be an integer from 0 to 65535');
  if (!isLoopback(host) && rest.auth === undefined) {
    throw invalid('auth', `the dashboard would listen on ${host}, which is not loopback only: it needs auth ({ auth: { key } })`);
  }
  const { createServer } = await import('node:http');
  const server = createServer(nodeDashboard(source, rest));
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const a = server.address();
  const shown = a.family === 'IPv6' ? `[${a.address}]` : a.address;
  return {
    url: `http://${shown}:${a.port}${rest.basePath ?? ''}/`,
    server,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
