// Three Node app processes (tests/js/app-server.mjs: Express,
// usertrail/middleware, sessions/preferences/consent in one Redis) behind
// loopback: what one does, the others see at once; `kill -9` of one loses
// nothing; a Redis killed and restarted on its AOF comes back with
// everything, and requests during the outage get 503 and keep their cookie.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import { RedisServer } from './redis-server.mjs';
import { browser, startApp as launch } from './app-processes.mjs';

let redis;
const apps = [];
const prefix = `srv${process.pid}`;

async function startApp() {
  const app = await launch(redis.url, prefix);
  apps.push(app);
  return app;
}

before(async () => {
  redis = await RedisServer.start();
});

after(async () => {
  for (const a of apps) if (a.child.exitCode === null) a.child.kill('SIGKILL');
  await redis.stop();
});

test('three processes share sessions, preferences and consent through Redis; kill -9 and a Redis restart lose nothing', async () => {
  const [A, B, C] = await Promise.all([startApp(), startApp(), startApp()]);
  const ann = browser();

  // A cookie issued by A works on B and C, with its state.
  assert.equal((await ann.call(A, '/count')).body.n, 1);
  assert.equal((await ann.call(B, '/count')).body.n, 2);
  assert.equal((await ann.call(C, '/count')).body.n, 3);
  const anonymous = ann.cookie;
  assert.equal((await ann.call(A, '/login?user=ann', 'POST')).body.userId, 'ann');
  assert.notEqual(ann.cookie, anonymous, 'login rotates the cookie');
  for (const app of [B, C]) assert.equal((await ann.call(app, '/whoami')).body.userId, 'ann');
  assert.equal((await ann.call(C, '/count')).body.n, 4, 'the state followed the login');

  // A preference set on A is read on C.
  await ann.call(A, '/prefs?key=appearance.theme&value=dark', 'POST');
  assert.equal((await ann.call(C, '/prefs?key=appearance.theme')).body.value, 'dark');

  // Consent granted on A lets C store; withdrawn on B, C stops storing.
  assert.equal((await ann.call(C, '/track?name=before', 'POST')).body.status, 'no_consent');
  await ann.call(A, '/consent/grant', 'POST');
  assert.equal((await ann.call(C, '/track?name=granted', 'POST')).body.status, 'stored');
  await ann.call(B, '/consent/withdraw', 'POST');
  assert.equal((await ann.call(C, '/track?name=withdrawn', 'POST')).body.status, 'no_consent');

  // Logins racing on the three processes never leave more than the limit (3).
  const racers = Array.from({ length: 24 }, () => browser());
  await Promise.all(racers.map((r, i) => r.call([A, B, C][i % 3], '/login?user=zed', 'POST')));
  const devices = (await ann.call(B, '/devices?user=zed')).body;
  assert.equal(devices.length, 3, JSON.stringify(devices));

  // Logout on B is seen by C at once.
  const bea = browser();
  await bea.call(A, '/login?user=bea', 'POST');
  const beaCookie = bea.cookie;
  await bea.call(B, '/logout', 'POST');
  assert.equal(bea.cookie, null);
  const seen = await fetch(`${C.base}/whoami`, { headers: { cookie: beaCookie } }).then((r) => r.json());
  assert.equal(seen.userId, null, 'the logged-out cookie is nobody on C');

  // kill -9 of A in the middle of traffic: B and C keep serving, nothing is lost.
  const traffic = Promise.all(
    Array.from({ length: 30 }, async (_, i) => {
      const r = await ann.call([A, B, C][i % 3], '/whoami').catch(() => null);
      return r?.status;
    }),
  );
  A.child.kill('SIGKILL');
  await traffic;
  for (const app of [B, C]) assert.equal((await ann.call(app, '/whoami')).body.userId, 'ann');
  assert.equal((await ann.call(B, '/count')).body.n, 5);

  // Redis killed: requests get 503 with STORE_UNAVAILABLE and keep their cookie.
  const before = ann.cookie;
  await redis.kill9();
  for (const app of [B, C]) {
    const r = await ann.call(app, '/count');
    assert.equal(r.status, 503);
    assert.equal(r.body.code, 'STORE_UNAVAILABLE');
    assert.deepEqual(r.set, [], 'the cookie is neither cleared nor replaced');
  }
  assert.equal(ann.cookie, before);
  // Restarted on the same AOF: every session, preference and decision is back.
  await redis.restart();
  let back;
  for (let i = 0; i < 50; i++) {
    back = await ann.call(C, '/count');
    if (back.status === 200) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(back.status, 200);
  assert.deepEqual([back.body.userId, back.body.n], ['ann', 6]);
  assert.equal((await ann.call(B, '/prefs?key=appearance.theme')).body.value, 'dark');
  assert.equal((await ann.call(B, '/track?name=after-restart', 'POST')).body.status, 'no_consent', 'the withdrawal survived');
  assert.equal((await browser().call(C, '/devices?user=zed')).body.length, 3);
});
