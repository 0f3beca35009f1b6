// usertrail/middleware over real HTTP on 127.0.0.1: Express (expressSession),
// Hono (honoSession) and a plain fetch handler (sessionMiddleware), the
// latter two served through node:http.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { once } from 'node:events';

import express from 'express';
import { Hono } from 'hono';
import { UserTrail, UserTrailError } from 'usertrail';
import { expressSession, honoSession, sessionMiddleware } from 'usertrail/middleware';

import { T0 } from './helpers.mjs';

const MIN = 60_000;

async function listen(server) {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return `http://127.0.0.1:${server.address().port}`;
}

/** Serves a fetch handler through node:http, as @hono/node-server would. */
function fetchServer(handle) {
  return createServer(async (req, res) => {
    const body = ['GET', 'HEAD'].includes(req.method) ? undefined : req;
    const request = new Request(`http://${req.headers.host}${req.url}`, {
      method: req.method, headers: req.headers, body, duplex: 'half',
    });
    const response = await handle(request, req.socket.remoteAddress);
    const headers = {};
    response.headers.forEach((v, k) => { if (k !== 'set-cookie') headers[k] = v; });
    const cookies = response.headers.getSetCookie();
    if (cookies.length) headers['set-cookie'] = cookies;
    res.writeHead(response.status, headers);
    res.end(Buffer.from(await response.arrayBuffer()));
  });
}

/** A client with one cookie. */
function client(base) {
  let cookie = null;
  const call = async (path, init = {}) => {
    const headers = { ...(init.headers ?? {}) };
    if (cookie) headers.cookie = cookie;
    const res = await fetch(base + path, { ...init, headers });
    const set = res.headers.getSetCookie();
    for (const c of set) {
      const [pair, ...attrs] = c.split('; ');
      cookie = attrs.includes('Max-Age=0') ? null : pair;
    }
    const text = await res.text();
    return { status: res.status, set, body: res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text };
  };
  return { call, get cookie() { return cookie; }, set cookie(c) { cookie = c; } };
}

async function expressApp(options = {}, engine = {}) {
  let now = T0;
  const trail = await UserTrail.open({ clock: () => now, ...engine });
  const app = express();
  app.use(expressSession(trail, { secure: false, trackPageViews: true, ...options }));
  const state = async (req) => ({ id: req.session.id, userId: req.session.userId, isNew: req.session.isNew, n: (await req.session.get('n')) ?? 0, ip: req.session.record?.client.ip ?? null });
  app.get('/count', async (req, res) => {
    await req.session.set('n', ((await req.session.get('n')) ?? 0) + 1);
    res.json(await state(req));
  });
  app.get('/peek', async (req, res) => res.json(await state(req)));
  app.post('/login', async (req, res) => {
    await req.session.login(req.query.user);
    res.json(await state(req));
  });
  app.post('/logout', async (req, res) => {
    await req.session.logout();
    res.json(await state(req));
  });
  app.get('/page', (req, res) => res.type('html').send('<h1>hi</h1>'));
  const server = createServer(app);
  const base = await listen(server);
  return { trail, base, server, advance: (ms) => (now += ms) };
}

test('Express: cookies, lazy creation, renewal, login, logout, expiry, tampering', async () => {
  const { trail, base, server, advance } = await expressApp();
  try {
    const c = client(base);
    const bytes = await trail.export();
    const peek = await c.call('/peek');
    assert.deepEqual([peek.body.isNew, peek.set], [true, []], 'no cookie until something is set');
    assert.deepEqual((await trail.export()), bytes, 'and no store write');

    const first = await c.call('/count');
    assert.equal(first.body.n, 1);
    assert.match(first.set[0], /^ut\.sid=[^;]+; Path=\/; HttpOnly; SameSite=Lax; Max-Age=1800$/);
    const second = await c.call('/count');
    assert.deepEqual([second.body.n, second.body.id, second.set], [2, first.body.id, []], 'validated, not re-sent');
    advance(2 * MIN);
    const renewed = await c.call('/peek');
    assert.equal(renewed.set.length, 1, 'the idle deadline slid: cookie renewed');

    const old = c.cookie;
    const login = await c.call('/login?user=ann', { method: 'POST' });
    assert.equal(login.body.userId, 'ann');
    assert.equal(login.body.n, 2, 'state survives the rotation');
    assert.notEqual(c.cookie, old, 'login rotates the token');
    const stale = client(base);
    stale.cookie = old;
    assert.equal((await stale.call('/peek')).body.isNew, true, 'the old token is dead');

    const out = await c.call('/logout', { method: 'POST' });
    assert.match(out.set[0], /^ut\.sid=; .*Max-Age=0$/);
    assert.equal(c.cookie, null);

    await c.call('/count');
    advance(31 * MIN);
    const expired = await c.call('/peek');
    assert.equal(expired.body.isNew, true, 'expired: a fresh session');
    assert.match(expired.set[0], /Max-Age=0/, 'and the dead cookie is cleared');

    await c.call('/count');
    const [name, value] = c.cookie.split('=');
    c.cookie = `${name}=${value.slice(0, -2)}${value.endsWith('AA') ? 'BB' : 'AA'}`;
    const tampered = await c.call('/peek');
    assert.equal(tampered.body.isNew, true, 'a tampered cookie is a fresh session');
    assert.equal((await c.call('/count')).body.n, 1);
  } finally {
    server.close();
  }
});

test('Express: 1,000 concurrent requests on one cookie, then on 1,000 cookies', async () => {
  const { base, server } = await expressApp();
  try {
    const one = client(base);
    await one.call('/count');
    const results = await Promise.all(Array.from({ length: 1000 }, () => one.call('/count')));
    assert.ok(results.every((r) => r.status === 200));
    assert.equal((await one.call('/peek')).body.n, 1001, 'no update lost');

    const many = Array.from({ length: 1000 }, () => client(base));
    await Promise.all(many.map((c) => c.call('/count')));
    const again = await Promise.all(many.map((c) => c.call('/count')));
    assert.ok(again.every((r) => r.body.n === 2), 'each cookie kept its own state');
    assert.equal(new Set(again.map((r) => r.body.id)).size, 1000);
  } finally {
    server.close();
  }
});

test('Express: page views, Sec-GPC and the trusted proxy header', async () => {
  // The app's socket peer is on loopback, and a proxy at 10.0.0.1 is trusted too.
  const { trail, base, server } = await expressApp({ trustProxy: ['loopback', '10.0.0.0/8'] });
  try {
    const c = client(base);
    await c.call('/login?user=gpc-user', { method: 'POST', headers: { 'sec-gpc': '1', 'x-forwarded-for': '203.0.113.9, 10.0.0.1' } });
    const status = await trail.privacy.status('gpc-user');
    assert.equal(status.doNotSell, true);
    assert.equal((await trail.privacy.ledger({ subject: 'gpc-user' })).at(-1).action, 'gpc');
    await c.call('/peek', { headers: { 'sec-gpc': '1' } });
    assert.equal((await trail.privacy.ledger({ subject: 'gpc-user' })).length, 1, 'recorded once');
    assert.equal((await c.call('/peek')).body.ip, '203.0.0.0', 'masked address from the trusted header');

    await c.call('/page');
    await c.call('/peek');
    const { events } = await trail.tracking.history({ userId: 'gpc-user' });
    // HTML GETs only, and the login the engine records itself.
    assert.deepEqual(events.map((e) => [e.name, e.path]), [['page_view', '/page'], ['login', null]], 'HTML GETs only');

    // A malformed forwarded address or user agent is dropped, with or without a cookie.
    const bad = { 'x-forwarded-for': 'not-an-ip', 'user-agent': 'x'.repeat(5_000) }; // over the engine's 4 KiB
    const known = await c.call('/peek', { headers: bad });
    assert.deepEqual([known.status, known.body.userId], [200, 'gpc-user']);
    const fresh = await client(base).call('/count', { headers: bad });
    assert.deepEqual([fresh.status, fresh.body.n, fresh.body.ip], [200, 1, null]);
  } finally {
    server.close();
  }
});

// Issue 26, finding 1: the client is the rightmost address a trusted proxy
// did not write, as Express's `trust proxy` has it; the leftmost entries are
// the client's own writing.
test('Express: behind a trusted proxy, a thief cannot choose the address a stolen session is checked against', async () => {
  // One proxy in front of the app (here: the test client itself, on loopback).
  const { base, server } = await expressApp({ trustProxy: 1 }, { sessions: { fingerprint: 'strict' } });
  try {
    const victim = client(base);
    const ua = { 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0' };
    await victim.call('/count', { headers: { ...ua, 'x-forwarded-for': '203.0.113.5' } });
    const login = await victim.call('/login?user=victim', { method: 'POST', headers: { ...ua, 'x-forwarded-for': '203.0.113.5' } });
    assert.equal(login.body.ip, '203.0.0.0');
    // The thief at 198.51.100.1 writes the victim's address first; the proxy appends the thief's.
    const thief = client(base);
    thief.cookie = victim.cookie;
    const stolen = await thief.call('/peek', { headers: { ...ua, 'x-forwarded-for': '203.0.113.5, 198.51.100.1' } });
    assert.equal(stolen.body.userId, null, 'the strict fingerprint refused the thief');
  } finally {
    server.close();
  }
});

test('Express: trustProxy values as Express takes them, and Forwarded (RFC 7239)', async () => {
  const peek = async (options, headers) => {
    const { base, server } = await expressApp(options);
    try {
      return (await client(base).call('/count', { headers })).body.ip;
    } finally {
      server.close();
    }
  };
  const chain = { 'x-forwarded-for': '192.0.2.1, 198.51.100.7, 10.1.2.3' };
  assert.equal(await peek({ trustProxy: 1 }, chain), '10.1.0.0');
  assert.equal(await peek({ trustProxy: 2 }, chain), '198.51.0.0');
  assert.equal(await peek({ trustProxy: 'loopback, 10.0.0.0/8' }, chain), '198.51.0.0');
  assert.equal(await peek({ trustProxy: ['loopback', '10.0.0.0/8', '198.51.100.7'] }, chain), '192.0.0.0');
  assert.equal(await peek({ trustProxy: false }, chain), '127.0.0.0');
  assert.equal(await peek({ trustProxy: 1, proxyHeader: 'forwarded' }, { forwarded: 'for=192.0.2.60;proto=https, for="[2001:db8:cafe::17]:4711"' }), '2001:db8:cafe::');
  assert.equal(await peek({ trustProxy: 1, proxyHeader: 'forwarded' }, chain), '127.0.0.0', 'the other header is not read');
  for (const bad of [true, 'x-forwarded-for', -1, 65, 1.5, ['10.0.0.0/33'], [], {}]) {
    assert.throws(() => expressSession({}, { trustProxy: bad }), (err) => err.code === 'INVALID_INPUT', String(bad));
  }
  assert.throws(() => expressSession({}, { trustProxy: 1, proxyHeader: 'x-real-ip' }), (err) => err.code === 'INVALID_INPUT');
});

test('Express: without trustProxy the forwarded header is ignored', async () => {
  const { base, server } = await expressApp();
  try {
    const c = client(base);
    const r = await c.call('/count', { headers: { 'x-forwarded-for': '203.0.113.9' } });
    assert.notEqual(r.body.ip, '203.0.0.0');
  } finally {
    server.close();
  }
});

test('Hono and a plain fetch handler share the core', async () => {
  let now = T0;
  const trail = await UserTrail.open({ clock: () => now });
  const app = new Hono();
  app.use(honoSession(trail, { secure: false }));
  app.get('/count', async (c) => {
    const s = c.get('session');
    await s.set('n', ((await s.get('n')) ?? 0) + 1);
    return c.json({ n: await s.get('n'), userId: s.userId });
  });
  app.post('/login', async (c) => {
    await c.get('session').login('ann');
    return c.json({ userId: 'ann' });
  });
  app.post('/logout', async (c) => {
    await c.get('session').logout();
    return c.json({});
  });
  const plain = sessionMiddleware(trail, { secure: false, cookieName: 'plain' })(async (request, { session }) => {
    await session.set('seen', true);
    return Response.json({ id: session.id });
  });
  const honoServer = fetchServer((request) => app.fetch(request));
  const plainServer = fetchServer((request, ip) => plain(request, ip));
  try {
    const c = client(await listen(honoServer));
    assert.equal((await c.call('/count')).body.n, 1);
    assert.equal((await c.call('/count')).body.n, 2);
    const before = c.cookie;
    await c.call('/login', { method: 'POST' });
    assert.notEqual(c.cookie, before);
    assert.deepEqual((await c.call('/count')).body, { n: 3, userId: 'ann' });
    const out = await c.call('/logout', { method: 'POST' });
    assert.match(out.set[0], /Max-Age=0/);

    const p = client(await listen(plainServer));
    const r = await p.call('/');
    assert.match(r.set[0], /^plain=/);
    assert.equal((await p.call('/')).body.id, r.body.id);
  } finally {
    honoServer.close();
    plainServer.close();
  }
});

test('options are checked and cookies default to __Host-', async () => {
  const trail = await UserTrail.open();
  assert.throws(() => expressSession(trail, { secrue: true }), (e) => e instanceof UserTrailError && e.code === 'INVALID_INPUT' && e.field === 'secrue');
  assert.throws(() => expressSession(trail, { sameSite: 'None', secure: false }), /needs secure/);
  assert.throws(() => expressSession(trail, { cookieName: '__Host-x', domain: 'example.com' }), /__Host-/);
  const handle = sessionMiddleware(trail)(async (request, { session }) => {
    await session.set('a', 1);
    return new Response('ok');
  });
  const res = await handle(new Request('https://example.com/'));
  assert.match(res.headers.get('set-cookie'), /^__Host-ut\.sid=[^;]+; Path=\/; HttpOnly; SameSite=Lax; Secure; Max-Age=1800$/);
});

test('a page view that fails to track never fails the response, in every adapter; the error goes to onError', async () => {
  const trail = await UserTrail.open({ clock: () => T0 });
  // Every page view now breaks its schema, so tracking it throws SCHEMA_VIOLATION.
  await trail.tracking.defineEvent('page_view', { required: { plan: 'string' } });
  const errors = [];
  const options = { secure: false, trackPageViews: true, onError: (err, req) => errors.push([err.code, req.method, new URL(req.url, 'http://x').pathname]) };
  const html = (body) => new Response(body, { headers: { 'content-type': 'text/html' } });

  const app = express();
  app.use(expressSession(trail, options));
  app.get('/page', (req, res) => res.type('html').send('<h1>express</h1>'));
  const hono = new Hono();
  hono.use(honoSession(trail, options));
  hono.get('/page', (c) => c.html('<h1>hono</h1>'));
  const plain = sessionMiddleware(trail, options)(async () => html('<h1>fetch</h1>'));
  const servers = [createServer(app), fetchServer((r) => hono.fetch(r)), fetchServer((r) => plain(r))];
  try {
    for (const [i, server] of servers.entries()) {
      const base = await listen(server);
      const res = await fetch(`${base}/page`);
      assert.equal(res.status, 200, `adapter ${i}`);
      assert.match(await res.text(), /<h1>/);
      // Express tracks on 'finish', after the body went out: wait for it.
      for (let t = 0; errors.length <= i && t < 100; t++) await new Promise((r) => setTimeout(r, 10));
    }
  } finally {
    for (const server of servers) server.close();
  }
  assert.deepEqual(errors, [
    ['SCHEMA_VIOLATION', 'GET', '/page'],
    ['SCHEMA_VIOLATION', 'GET', '/page'],
    ['SCHEMA_VIOLATION', 'GET', '/page'],
  ]);
  assert.throws(() => expressSession(trail, { onError: 'log' }), /onError must be a function/);
});

test('Sec-GPC from an anonymous visitor is recorded by their anonymous id, and follows them when they log in', async () => {
  const { trail, base, server } = await expressApp();
  try {
    const c = client(base);
    const gpc = { 'sec-gpc': '1' };
    await c.call('/peek', { headers: gpc }); // no session yet: nothing to record
    const first = (await c.call('/count', { headers: gpc })).body; // the session is created here
    assert.equal(first.userId, null);
    const anon = first.id;
    assert.equal((await trail.privacy.status(anon)).doNotSell, true);
    await c.call('/page', { headers: gpc });
    assert.equal((await trail.privacy.ledger({ subject: anon })).length, 1, 'recorded once');
    const [view] = (await trail.tracking.history({ anonymousId: anon })).events;
    assert.equal(view.name, 'page_view');

    await c.call('/login?user=ann', { method: 'POST' }); // no header on this request
    assert.equal((await trail.privacy.status('ann')).doNotSell, true, 'the anonymous choice follows the user');
    assert.equal((await trail.tracking.count({ userId: 'ann' })), 2, 'the page view and the login event, now the user\'s');
  } finally {
    server.close();
  }
});
