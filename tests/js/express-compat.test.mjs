// express-session-shaped code on usertrail/middleware, with the real
// packages: Passport 0.7 + passport-local logging in and out, connect-flash,
// property access (`req.session.cart = …`), regenerate/save/destroy/reload/
// touch, cookie.maxAge, and "remember me". Each runs on an engine with
// SQLite and on one whose sessions live in a real Redis.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { once } from 'node:events';

import express from 'express';
import flash from 'connect-flash';
import passport from 'passport';
import { Strategy as LocalStrategy } from 'passport-local';
import { UserTrail, UserTrailError } from 'usertrail';
import { expressSession, sessionMiddleware } from 'usertrail/middleware';
import { redisStore } from 'usertrail/redis';
import { RedisServer, createClient } from './redis-server.mjs';

const DAY = 86_400;
let redis;
let client;
before(async () => {
  redis = await RedisServer.start();
  client = await createClient({ url: redis.url }).on('error', () => {}).connect();
});
after(async () => {
  await client.quit();
  await redis.stop();
});

let prefixes = 0;
const STORES = {
  SQLite: () => UserTrail.open(),
  Redis: () => UserTrail.open({ shared: redisStore(client, { prefix: `compat${++prefixes}` }) }),
};

/** A cookie jar of one cookie, and the Set-Cookie headers of the last answer. */
function browser(base) {
  let cookie = null;
  const call = async (path, init = {}) => {
    const headers = { ...(init.headers ?? {}) };
    if (cookie) headers.cookie = cookie;
    const res = await fetch(base + path, { redirect: 'manual', ...init, headers });
    const set = res.headers.getSetCookie();
    for (const c of set) {
      const [pair, ...attrs] = c.split('; ');
      cookie = attrs.includes('Max-Age=0') ? null : pair;
    }
    const text = await res.text();
    let body = text;
    try {
      body = JSON.parse(text);
    } catch {}
    return { status: res.status, set, body, location: res.headers.get('location') };
  };
  return {
    call,
    get cookie() {
      return cookie;
    },
    set cookie(c) {
      cookie = c;
    },
    /** The session token the cookie carries. */
    get token() {
      return cookie?.split('=')[1] ?? null;
    },
  };
}

async function serve(app) {
  const server = createServer(app);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, base: `http://127.0.0.1:${server.address().port}` };
}

/** An Express 5 app with Passport's local strategy and connect-flash, as their docs set them up. */
async function passportApp(trail) {
  const pp = new passport.Passport();
  pp.use(new LocalStrategy((username, password, done) => done(null, password === 'secret' ? { id: username } : false)));
  pp.serializeUser((user, done) => done(null, user.id));
  pp.deserializeUser((id, done) => done(null, { id }));
  const app = express();
  app.use(express.urlencoded({ extended: false }));
  app.use(expressSession(trail, { secure: false }));
  app.use(pp.session());
  app.use(flash());
  app.get('/visit', (req, res) => {
    req.session.visits = (req.session.visits ?? 0) + 1;
    res.json({ id: req.session.id, visits: req.session.visits });
  });
  app.get('/me', (req, res) => res.json({ user: req.user ?? null, id: req.session.id, visits: req.session.visits ?? 0 }));
  // The documented recipe: Passport authenticates, then the engine is told
  // who the session belongs to (devices list, limits, erasure, GPC).
  app.post('/login', pp.authenticate('local', { failureRedirect: '/login-failed', failureFlash: 'wrong password' }), async (req, res) => {
    await req.session.login(req.user.id, req.body.remember ? { remember: true } : undefined);
    res.json({ user: req.user, id: req.session.id, engineUser: req.session.userId });
  });
  app.get('/return-to', (req, res) => {
    req.session.returnTo = '/cart';
    res.json({});
  });
  app.post('/login-keep', pp.authenticate('local', { keepSessionInfo: true, failureRedirect: '/login-failed' }), (req, res) =>
    res.json({ user: req.user, returnTo: req.session.returnTo ?? null, id: req.session.id }),
  );
  app.get('/login-failed', (req, res) => res.json({ messages: req.flash('error') }));
  app.post('/logout', (req, res, next) => req.logout((err) => (err ? next(err) : res.json({ user: req.user ?? null, id: req.session.id }))));
  app.get('/flash', (req, res) => {
    req.flash('info', 'saved');
    req.flash('info', 'twice');
    res.redirect('/flashed');
  });
  app.get('/flashed', (req, res) => res.json({ info: req.flash('info') }));
  app.use((err, req, res, _next) => res.status(500).json({ error: err.code ?? err.message }));
  return serve(app);
}

const form = (fields) => ({
  method: 'POST',
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  body: new URLSearchParams(fields).toString(),
});

for (const [store, open] of Object.entries(STORES)) {
  describe(`on ${store}`, () => {
    test('passport 0.7 + passport-local: login regenerates the session and serialises the user; logout works', async () => {
      const trail = await open();
      const { server, base } = await passportApp(trail);
      try {
        const b = browser(base);
        const visit = await b.call('/visit');
        // Unlike express-session, a new session has its id once stored (at the end of the request, or save()).
        assert.deepEqual(visit.body, { id: null, visits: 1 });
        const before = { id: (await b.call('/me')).body.id, cookie: b.cookie, token: b.token };
        assert.ok(before.id);

        const wrong = await b.call('/login', form({ username: 'ann', password: 'nope' }));
        assert.equal(wrong.status, 302);
        assert.deepEqual((await b.call(wrong.location)).body, { messages: ['wrong password'] });

        const login = await b.call('/login', form({ username: 'ann', password: 'secret' }));
        assert.equal(login.status, 200, JSON.stringify(login.body));
        assert.equal(login.body.user.id, 'ann');
        assert.equal(login.body.engineUser, 'ann', 'the engine knows whose session it is');
        assert.notEqual(login.body.id, before.id, 'a new session: no fixation');
        assert.notEqual(b.cookie, before.cookie, 'and a new cookie');
        // The user is serialised into the stored session, as Passport puts it there.
        assert.deepEqual(await trail.sessions.get(b.token, 'passport'), { user: 'ann' });
        // The old session is gone from the store.
        assert.equal(await trail.sessions.validate(before.token), null);
        const me = await b.call('/me');
        assert.deepEqual(me.body, { user: { id: 'ann' }, id: login.body.id, visits: 0 });

        // The old cookie is worth nothing now.
        const thief = browser(base);
        thief.cookie = before.cookie;
        assert.equal((await thief.call('/me')).body.user, null);

        assert.equal((await trail.sessions.list('ann')).length, 1, "in the user's devices");

        const loggedIn = { cookie: b.cookie, token: b.token };
        const out = await b.call('/logout', { method: 'POST' });
        assert.equal(out.status, 200, JSON.stringify(out.body));
        assert.equal(out.body.user, null);
        assert.equal(await trail.sessions.validate(loggedIn.token), null, 'the logged-in session ended');
        assert.equal((await b.call('/me')).body.user, null);
        const replay = browser(base);
        replay.cookie = loggedIn.cookie;
        assert.equal((await replay.call('/me')).body.user, null, 'the logged-in cookie no longer logs in');
      } finally {
        server.close();
        await trail.close();
      }
    });

    test('connect-flash: a message set before a redirect is read once after it', async () => {
      const trail = await open();
      const { server, base } = await passportApp(trail);
      try {
        const b = browser(base);
        const r = await b.call('/flash');
        assert.equal(r.status, 302);
        assert.ok(b.cookie, 'the session holding the message was stored');
        assert.deepEqual((await b.call('/flashed')).body, { info: ['saved', 'twice'] });
        assert.deepEqual((await b.call('/flashed')).body, { info: [] }, 'read once');
      } finally {
        server.close();
        await trail.close();
      }
    });

    test("passport's keepSessionInfo carries the state over the regeneration; erasure ends a Passport login", async () => {
      const trail = await open();
      const { server, base } = await passportApp(trail);
      try {
        const b = browser(base);
        await b.call('/return-to');
        const before = b.token;
        const login = await b.call('/login-keep', form({ username: 'ann', password: 'secret' }));
        assert.equal(login.status, 200, JSON.stringify(login.body));
        assert.deepEqual([login.body.user.id, login.body.returnTo], ['ann', '/cart']);
        assert.notEqual(b.token, before, 'still a new session');
        assert.equal(await trail.sessions.validate(before), null);
        assert.equal(await trail.sessions.get(b.token, 'returnTo'), '/cart');

        // With the recipe's login, the user's erasure ends the Passport session everywhere.
        const c = browser(base);
        await c.call('/login', form({ username: 'bea', password: 'secret', remember: 'on' }));
        assert.equal((await c.call('/me')).body.user.id, 'bea');
        await trail.privacy.erase('bea', { reason: 'request' });
        assert.equal((await c.call('/me')).body.user, null, 'erased: logged out');
      } finally {
        server.close();
        await trail.close();
      }
    });

    test('property access, regenerate, save, destroy, reload, touch and cookie.maxAge behave as express-session', async () => {
      const trail = await open();
      const app = express();
      app.use(expressSession(trail, { secure: false, persistent: false }));
      app.get('/set', (req, res) => {
        req.session.cart = ['A1'];
        req.session.count = 1;
        res.json({ isNew: req.session.isNew, cart: req.session.cart });
      });
      app.get('/change', (req, res) => {
        req.session.cart.push('B2'); // in place
        req.session.count += 1;
        delete req.session.gone;
        res.json({ keys: Object.keys(req.session), json: JSON.parse(JSON.stringify(req.session)) });
      });
      app.get('/read', async (req, res) => res.json({ cart: req.session.cart ?? null, count: req.session.count ?? null, viaGet: (await req.session.get('cart')) ?? null }));
      app.get('/save', (req, res, next) => {
        req.session.count = 100;
        req.session.save(async (err) => {
          if (err) return next(err);
          // In the store before the response, as save() promises.
          const token = req.headers.cookie.split('=')[1];
          res.json({ stored: await trail.sessions.get(token, 'count') });
        });
      });
      app.get('/reload', (req, res, next) => {
        req.session.count = -1;
        req.session.reload((err) => (err ? next(err) : res.json({ count: req.session.count })));
      });
      app.get('/regenerate', (req, res, next) => {
        const old = req.session.id;
        req.session.regenerate((err) => {
          if (err) return next(err);
          req.session.fresh = true;
          res.json({ old, isNew: req.session.isNew, cart: req.session.cart ?? null });
        });
      });
      app.get('/remember', (req, res) => {
        req.session.cookie.maxAge = 30 * DAY * 1000;
        res.json({});
      });
      app.get('/touch', (req, res) => {
        req.session.touch();
        res.json({ maxAge: req.session.cookie.maxAge });
      });
      app.get('/bad-max-age', (req, res) => {
        try {
          req.session.cookie.maxAge = -5;
          res.json({});
        } catch (err) {
          res.status(400).json({ error: err.code, field: err.field, typed: err instanceof UserTrailError });
        }
      });
      app.get('/destroy', (req, res, next) => req.session.destroy((err) => (err ? next(err) : res.json({ id: req.session.id }))));
      app.use((err, req, res, _next) => res.status(500).json({ error: err.message }));
      const { server, base } = await serve(app);
      try {
        const b = browser(base);
        assert.deepEqual((await b.call('/set')).body, { isNew: true, cart: ['A1'] });
        assert.ok(b.cookie, 'a session set by property access is stored and its cookie sent');
        const changed = await b.call('/change');
        assert.deepEqual(changed.body.json, { cart: ['A1', 'B2'], count: 2 });
        assert.deepEqual(changed.body.keys.sort(), ['cart', 'count']);
        assert.deepEqual((await b.call('/read')).body, { cart: ['A1', 'B2'], count: 2, viaGet: ['A1', 'B2'] });
        assert.equal(await trail.sessions.get(b.token, 'count'), 2, 'in the store, per key');

        assert.deepEqual((await b.call('/save')).body, { stored: 100 });
        assert.deepEqual((await b.call('/reload')).body, { count: 100 });

        const first = b.token;
        const regen = await b.call('/regenerate');
        assert.deepEqual([regen.body.isNew, regen.body.cart], [true, null]);
        assert.notEqual(b.token, first);
        assert.equal(await trail.sessions.validate(first), null, 'the old session ended');
        assert.deepEqual((await b.call('/read')).body, { cart: null, count: null, viaGet: null });
        assert.equal(await trail.sessions.get(b.token, 'fresh'), true);

        // cookie.maxAge: a lifetime for this session, and a persistent cookie though persistent is false.
        const before = (await b.call('/touch')).set;
        assert.ok(before.length === 1 && !/Max-Age/.test(before[0]), `a browser-session cookie: ${before}`);
        const remembered = await b.call('/remember');
        const maxAge = Number(remembered.set[0]?.match(/Max-Age=(\d+)/)?.[1]);
        assert.ok(Math.abs(maxAge - 30 * DAY) <= 120, `Max-Age ${maxAge}`);
        const session = await trail.sessions.validate(b.token);
        assert.equal(session.idleTimeoutMs, 30 * DAY * 1000);
        assert.ok(Math.abs(session.absoluteExpiresAt - Date.now() - 30 * DAY * 1000) < 120_000);
        const touched = await b.call('/touch');
        assert.ok(/Max-Age=\d+/.test(touched.set[0]), 'touch sends the cookie again, still persistent');
        assert.ok(touched.body.maxAge > 29 * DAY * 1000);
        assert.deepEqual((await b.call('/bad-max-age')).body, { error: 'INVALID_INPUT', field: 'maxAge', typed: true });

        const token = b.token;
        const destroyed = await b.call('/destroy');
        assert.deepEqual(destroyed.body, { id: null });
        assert.ok(destroyed.set.some((c) => /Max-Age=0/.test(c)), 'the cookie is cleared');
        assert.equal(await trail.sessions.validate(token), null);
      } finally {
        server.close();
        await trail.close();
      }
    });

    test('remember me: login(userId, { remember: true }) gives this session its own lifetime and a persistent cookie', async () => {
      const trail = await open();
      const app = express();
      app.use(expressSession(trail, { secure: false, persistent: false }));
      app.post('/login', async (req, res) => {
        await req.session.login(req.query.user, req.query.remember ? { remember: true } : undefined);
        res.json({ record: req.session.record });
      });
      app.post('/bad-login', async (req, res) => {
        try {
          await req.session.login('eve', { remember: true, absoluteTimeoutSecs: 0 });
          res.json({});
        } catch (err) {
          res.status(400).json({ error: err.code, field: err.field });
        }
      });
      const { server, base } = await serve(app);
      try {
        const plain = browser(base);
        const p = await plain.call('/login?user=bob', { method: 'POST' });
        assert.ok(!/Max-Age/.test(p.set[0]), `an ordinary login keeps a browser-session cookie: ${p.set}`);
        assert.equal(p.body.record.idleTimeoutMs, 30 * 60_000);

        const b = browser(base);
        const r = await b.call('/login?user=ann&remember=1', { method: 'POST' });
        const maxAge = Number(r.set[0]?.match(/Max-Age=(\d+)/)?.[1]);
        assert.ok(Math.abs(maxAge - 14 * DAY) <= 120, `Max-Age ${maxAge} is the 14-day idle timeout`);
        assert.equal(r.body.record.idleTimeoutMs, 14 * DAY * 1000);
        assert.ok(Math.abs(r.body.record.absoluteExpiresAt - Date.now() - 30 * DAY * 1000) < 120_000);
        // Another engine on the same store sees the same lifetime.
        const seen = await trail.sessions.validate(b.token);
        assert.equal(seen.userId, 'ann');
        assert.equal(seen.idleTimeoutMs, 14 * DAY * 1000);

        const before = b.token;
        assert.deepEqual((await b.call('/bad-login', { method: 'POST' })).body, { error: 'INVALID_INPUT', field: 'absoluteTimeoutSecs' });
        assert.equal(b.token, before, 'a refused login changes nothing');
        assert.equal((await trail.sessions.validate(before)).userId, 'ann');
      } finally {
        server.close();
        await trail.close();
      }
    });
  });
}

test('what the end of a request cannot store is never answered as a success, and writes nothing', async () => {
  const trail = await UserTrail.open({ sessions: { maxStateBytes: 4096 } });
  const app = express();
  app.use(expressSession(trail, { secure: false }));
  app.get('/seed', (req, res) => {
    req.session.keep = 'kept';
    res.json({});
  });
  app.get('/big', (req, res) => {
    req.session.good = 1;
    req.session.big = 'x'.repeat(10_000);
    res.json({ claimed: 'saved' });
  });
  app.get('/bigint', (req, res) => {
    req.session.good = 2;
    req.session.bad = 10n;
    res.json({ claimed: 'saved' });
  });
  app.get('/map', (req, res) => {
    req.session.good = 3;
    req.session.cart = new Map([['sku-1', 2]]);
    res.json({ claimed: 'saved' });
  });
  app.get('/read', (req, res) => res.json(req.session.toJSON()));
  app.use((err, req, res, _next) => res.status(err.code === 'PAYLOAD_TOO_LARGE' ? 413 : 500).json({ error: err.code, field: err.field }));
  const { server, base } = await serve(app);
  try {
    const b = browser(base);
    await b.call('/seed');
    assert.deepEqual((await b.call('/big')).body, { error: 'PAYLOAD_TOO_LARGE' });
    const bigint = await b.call('/bigint');
    assert.deepEqual([bigint.status, bigint.body], [500, { error: 'INVALID_INPUT', field: 'bad' }]);
    // JSON would write a Map as {}: refused, where express-session stores {}.
    const map = await b.call('/map');
    assert.deepEqual([map.status, map.body], [500, { error: 'INVALID_INPUT', field: 'cart' }]);
    const state = (await b.call('/read')).body;
    assert.equal(state.keep, 'kept');
    assert.equal(state.bad, undefined);
    assert.notEqual(state.good, 2, 'a value that is not JSON stops the whole save before anything is written');
    assert.notEqual(state.good, 3, 'a Map stops the whole save too');
    assert.equal(state.cart, undefined);
  } finally {
    server.close();
  }

  // A fetch handler: the failure is thrown (the host answers it), not a 503 inviting retries.
  const handle = sessionMiddleware(trail, { secure: false })(async (request, { session }) => {
    session.bad = 10n;
    return new Response('saved');
  });
  await assert.rejects(handle(new Request('http://x/')), (e) => e instanceof UserTrailError && e.code === 'INVALID_INPUT' && e.field === 'bad');
  await trail.close();
});

test("the session's own members are not state keys: writing one is refused; other names work, internal ones included", async () => {
  const trail = await UserTrail.open();
  const handle = sessionMiddleware(trail, { secure: false })(async (request, { session }) => {
    const refused = [];
    for (const name of ['userId', 'id', 'isNew', 'login', 'cookie', 'then', 'constructor', '__proto__', 'toString']) {
      try {
        session[name] = 'x';
      } catch (err) {
        if (err instanceof UserTrailError && err.code === 'INVALID_INPUT' && err.field === name) refused.push(name);
      }
    }
    session.end = 'e';
    session.client = 'c';
    session.begin = 'b';
    return Response.json({ refused, then: typeof session.then, userId: session.userId });
  });
  const res = await handle(new Request('http://x/'));
  const body = await res.json();
  assert.deepEqual(body.refused, ['userId', 'id', 'isNew', 'login', 'cookie', 'then', 'constructor', '__proto__', 'toString']);
  assert.deepEqual([body.then, body.userId], ['undefined', null]);
  const token = res.headers.getSetCookie()[0].split(';')[0].split('=')[1];
  assert.deepEqual(await trail.sessions.get(token), { end: 'e', client: 'c', begin: 'b' });
  await trail.close();
});

test('concurrent first writes make one session; a refused login leaves none; writeHead cookies and immutable Response headers keep the session cookie', async () => {
  const trail = await UserTrail.open({ sessions: { maxSessionsPerUser: 1 } });
  const handle = sessionMiddleware(trail, { secure: false })(async (request, { session }) => {
    const path = new URL(request.url).pathname;
    if (path === '/race') await Promise.all([session.set('a', 1), session.set('b', 2), session.set('c', 3)]);
    if (path === '/bad-login') {
      try {
        await session.login('alice', { remember: 'yes' });
      } catch (err) {
        return Response.json({ error: err.code }, { status: 400 });
      }
    }
    if (path === '/login') {
      await session.login('alice');
      return Response.redirect('http://x/home', 303); // immutable headers
    }
    return new Response('ok');
  });
  const race = await handle(new Request('http://x/race'));
  const token = race.headers.getSetCookie()[0].split(';')[0].split('=')[1];
  assert.deepEqual(await trail.sessions.get(token), { a: 1, b: 2, c: 3 });
  const phone = await trail.sessions.create({ userId: 'alice' });
  assert.equal((await handle(new Request('http://x/bad-login'))).status, 400);
  assert.ok(await trail.sessions.validate(phone.token), "a refused login evicted nobody's session");
  assert.equal((await trail.sessions.list('alice')).length, 1);
  const login = await handle(new Request('http://x/login'));
  assert.equal(login.status, 303);
  assert.equal(login.headers.getSetCookie().length, 1, 'the cookie is on a copy of the redirect');

  const app = express();
  app.use(expressSession(trail, { secure: false }));
  app.get('/', async (req, res) => {
    await req.session.set('n', 1);
    res.writeHead(303, { location: '/x', 'Set-Cookie': 'theme=dark; Path=/' }).end();
  });
  const { server, base } = await serve(app);
  try {
    const r = await browser(base).call('/');
    assert.equal(r.set.length, 2, String(r.set));
    assert.ok(r.set.some((c) => c.startsWith('theme=')) && r.set.some((c) => c.startsWith('ut.sid=')));
  } finally {
    server.close();
  }
  await trail.close();
});
