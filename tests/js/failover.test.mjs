// Sessions through a Redis failover: a primary, one replica and three
// Sentinels (`redis-sentinel`), three app processes (app-server.mjs) on a
// Sentinel client with `durableWrites`, browsers logging in and counting in
// their sessions; the primary is killed with -9 mid-traffic. Every process
// recovers on its own (no restart, no person); requests during the switch
// get 503 with STORE_UNAVAILABLE and nothing else; every login that was
// answered 200 is still valid after. And the option's contract on a server
// with no replica: durable writes fail with STORE_UNAVAILABLE, others pass.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';

import { UserTrail } from 'usertrail';
import { redisStore } from 'usertrail/redis';
import { RedisServer, cli, createClient, startSentinelGroup } from './redis-server.mjs';
import { browser, startApp } from './app-processes.mjs';

const cleanup = [];
after(async () => {
  for (const f of cleanup.reverse()) await f().catch(() => {});
});

test('sessions through a Sentinel failover: 503 during the switch, every process recovers on its own, no acknowledged login lost', async () => {
  const group = await startSentinelGroup('ut');
  cleanup.push(() => group.stop());
  const url = `sentinel://ut@${group.rootNodes.map((n) => `${n.host}:${n.port}`).join(',')}`;
  const prefix = `fo${process.pid}`;
  const apps = await Promise.all([0, 1, 2].map(() => startApp(url, prefix, 'durable')));
  cleanup.push(async () => apps.forEach((a) => a.child.kill('SIGKILL')));

  // Six browsers, each logged in as its own user on one app, then counting
  // in its session on all three in turn; every few requests a new login.
  const statuses = {};
  const failures = [];
  const logins = []; // [cookie, user] of each login answered 200
  const counted = new Map(); // browser -> highest n answered
  let stop = false;
  let killedAt = null;
  let lastFailureAt = null;
  const lastFailure = {}; // kind -> ms after the kill
  const drive = async (counter, id) => {
    let i = 0;
    while (!stop) {
      const app = apps[i % 3];
      // Every tenth request a login, by a new browser (a login rotates its
      // browser's cookie, so each acknowledged login keeps its own).
      const login = i % 10 === 0;
      const b = login ? browser() : counter;
      const user = `b${id}-${i}`;
      let r;
      try {
        r = await b.call(app, login ? `/login?user=${user}` : '/count', login ? 'POST' : 'GET');
      } catch (err) {
        r = { status: `fetch failed: ${err.message}` };
      }
      statuses[r.status] = (statuses[r.status] ?? 0) + 1;
      if (r.status === 200) {
        if (login) logins.push([b.cookie, user]);
        else counted.set(id, Math.max(counted.get(id) ?? 0, r.body.n));
      } else {
        failures.push({ status: r.status, code: r.body?.code, at: performance.now() });
        lastFailureAt = performance.now();
        if (killedAt !== null) lastFailure[login ? 'login' : 'count'] = Math.round(lastFailureAt - killedAt);
        await sleep(50);
      }
      i++;
    }
  };
  const browsers = Array.from({ length: 6 }, () => browser());
  const traffic = Promise.all(browsers.map((b, id) => drive(b, id)));

  await sleep(1500);
  const old = group.primary();
  killedAt = performance.now();
  await old.kill9();
  // The Sentinels promote the replica.
  let switched = null;
  for (let i = 0; i < 300 && !switched; i++) {
    await sleep(50);
    if (group.primary() !== old) switched = performance.now();
  }
  assert.ok(switched, 'the Sentinels promoted the replica');
  // Durable writes wait for one replica, and the new primary has none until
  // the old one is back: restarted (as its service manager would), the
  // Sentinels make it a replica of the new primary.
  await old.restart();
  let replicaBack = null;
  for (let i = 0; i < 600 && !replicaBack; i++) {
    await sleep(50);
    const info = cli(old.port, 'info', 'replication');
    if (/role:slave/.test(info) && /master_link_status:up/.test(info)) replicaBack = performance.now();
  }
  assert.ok(replicaBack, 'the Sentinels made the old primary a replica of the new one');
  // From a second later on, every request of every browser on every app is answered 200.
  await sleep(1000);
  const settled = performance.now();
  await sleep(3000);
  stop = true;
  await traffic;

  const ms = (t) => Math.round(t - killedAt);
  console.log(
    `failover: Sentinels switched ${ms(switched)} ms after kill -9, the old primary was a replica again at ${ms(replicaBack)} ms ` +
      `(restarted at once); last failed request at ${lastFailureAt === null ? '-' : ms(lastFailureAt)} ms; statuses ${JSON.stringify(statuses)}; ` +
      `${logins.length} logins acknowledged; last failure by kind (ms after the kill) ${JSON.stringify(lastFailure)}`,
  );
  for (const a of apps) assert.equal(a.child.exitCode, null, 'no app process died');
  // Only 503 with STORE_UNAVAILABLE during the switch: no 500, no dropped connection.
  for (const f of failures) assert.deepEqual([f.status, f.code], [503, 'STORE_UNAVAILABLE']);
  assert.deepEqual(failures.filter((f) => f.at > settled), [], 'every process answers 200 again, on its own');
  // Every login answered 200 survived the failover (durableWrites).
  let lost = 0;
  for (const [i, [cookie, user]] of logins.entries()) {
    const probe = browser();
    probe.cookie = cookie;
    const r = await probe.call(apps[i % 3], '/whoami');
    if (r.body.userId !== user) lost++;
  }
  assert.equal(lost, 0, `${lost} of ${logins.length} acknowledged logins lost`);
  // Each browser's session still counts from where it was (state writes are
  // not durable: a lost increment would show as a count that went back).
  for (const [id, b] of browsers.entries()) {
    const r = await b.call(apps[id % 3], '/count');
    assert.equal(r.status, 200);
    assert.ok(r.body.n >= 1, JSON.stringify(r.body));
  }
});

test('durableWrites: on a server without a replica, logins and revocations fail with STORE_UNAVAILABLE and change nothing else; reads and state writes pass', async () => {
  const server = await RedisServer.start();
  cleanup.push(() => server.stop());
  const redis = createClient({ url: server.url });
  redis.on('error', () => {});
  await redis.connect();
  cleanup.push(() => redis.quit());
  const plain = await UserTrail.open({ shared: redisStore(redis, { prefix: 'dw', followMs: 0 }) });
  const durable = await UserTrail.open({
    shared: redisStore(redis, { prefix: 'dw', followMs: 0, durableWrites: { replicas: 1, timeoutMs: 50 } }),
  });
  cleanup.push(() => plain.close());
  cleanup.push(() => durable.close());

  const { token } = await plain.sessions.create({ userId: 'ann', data: { n: 1 } });
  // A read and a state write do not wait.
  assert.equal((await durable.sessions.validate(token)).userId, 'ann');
  await durable.sessions.set(token, 'n', 2);
  assert.equal(await plain.sessions.get(token, 'n'), 2);
  // A create (a login) waits for a replica there is not: STORE_UNAVAILABLE, saying so.
  await assert.rejects(durable.sessions.create({ userId: 'bob' }), (err) => {
    assert.equal(err.code, 'STORE_UNAVAILABLE');
    assert.match(err.message, /0 of 1 replica\(s\) acknowledged/);
    return true;
  });
  // A revocation too; it reached the primary (WAIT does not undo), which the message says.
  await assert.rejects(durable.sessions.destroy(token), { code: 'STORE_UNAVAILABLE' });
  assert.equal(await plain.sessions.validate(token), null);

  // Bad options are refused with the field named, before any call.
  for (const [durableWrites, field] of [
    [null, 'durableWrites'],
    [[1], 'durableWrites'],
    ['1', 'durableWrites'],
    [{ replicas: 0 }, 'durableWrites.replicas'],
    [{ replicas: 17 }, 'durableWrites.replicas'],
    [{ replicas: 1.5 }, 'durableWrites.replicas'],
    [{ replicas: '1' }, 'durableWrites.replicas'],
    [{ timeoutMs: 0 }, 'durableWrites.timeoutMs'],
    [{ timeoutMs: 60_001 }, 'durableWrites.timeoutMs'],
    [{ timeoutMs: -1 }, 'durableWrites.timeoutMs'],
    [{ replica: 1 }, 'durableWrites.replica'],
  ]) {
    assert.throws(() => redisStore(redis, { durableWrites }), (err) => err.code === 'INVALID_INPUT' && err.field === field, JSON.stringify(durableWrites));
  }
  // The engine checks what it is handed, too (a store not made by redisStore).
  const run = (...args) => redisStore(redis).run(...args);
  for (const durableWrites of [{ replicas: 0, timeoutMs: 10 }, { replicas: 1 }, { replicas: 1, timeoutMs: 10, x: 1 }]) {
    await assert.rejects(UserTrail.open({ shared: { prefix: 'dw', run, durableWrites } }), { code: 'INVALID_INPUT' });
  }
});
