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
import { expressSession } from 'usertrail/middleware';
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
  app.post('/login', pp.authenticate('local', { failureRedirect: '/login-failed', failureFlash: 'wrong password' }), (req, res) =>
    res.json({ user: req.user, id: req.session.id }),
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
