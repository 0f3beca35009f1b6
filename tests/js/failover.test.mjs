// Sessions through a Redis failover: three app processes (app-server.mjs)
// with `durableWrites`, browsers logging in and counting in their sessions,
// on a primary with one replica and three Sentinels (`redis-sentinel`), then
// on a 3-master cluster whose masters have replicas; a primary (master) is
// killed with -9 mid-traffic, and the cluster is then resharded under the
// same traffic. Every process recovers on its own (no restart, no person);
// requests during the switch get 503 with STORE_UNAVAILABLE and nothing
// else; every login answered 200 is still valid after. And the option's
// contract on a server with no replica: durable writes fail with
// STORE_UNAVAILABLE, others pass.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';

import { UserTrail } from 'usertrail';
import { redisStore } from 'usertrail/redis';
import { RedisServer, createClient, startCluster, startSentinelGroup } from './redis-server.mjs';
import { browser, startApp } from './app-processes.mjs';

const execFileAsync = promisify(execFile);
const cleanup = [];
after(async () => {
  for (const f of cleanup.reverse()) await f().catch(() => {});
});

/**
 * Traffic on `apps` until `stop()`: six browsers counting in their sessions
 * on all three apps in turn; every tenth request a login by a new browser
 * (a login rotates its browser's cookie, so each acknowledged login keeps
 * its own). Records every status, each failure with its time, each login
 * answered 200, and counts that went back (a lost state write). Stopped
 * when `context`'s test ends, whatever its outcome.
 */
function traffic(context, apps) {
  const t = { statuses: {}, failures: [], logins: [], regressions: [], stopped: false };
  const last = new Map();
  const drive = async (counter, id) => {
    for (let i = 0; !t.stopped; i++) {
      const app = apps[i % 3];
      const login = i % 10 === 0;
      const b = login ? browser() : counter;
      const user = `b${id}-${i}`;
      let r;
      try {
        r = await b.call(app, login ? `/login?user=${user}` : '/count', login ? 'POST' : 'GET');
      } catch (err) {
        r = { status: `fetch failed: ${err.message}` };
      }
      t.statuses[r.status] = (t.statuses[r.status] ?? 0) + 1;
      if (r.status === 200) {
        if (login) t.logins.push([b.cookie, user]);
        else {
          if (r.body.n <= (last.get(id) ?? 0)) t.regressions.push({ id, from: last.get(id), to: r.body.n, at: performance.now() });
          last.set(id, r.body.n);
        }
      } else {
        t.failures.push({ status: r.status, code: r.body?.code, kind: login ? 'login' : 'count', at: performance.now() });
        await sleep(50);
      }
    }
  };
  const running = Promise.all(Array.from({ length: 6 }, (_, id) => drive(browser(), id)));
  t.stop = async () => {
    t.stopped = true;
    await running;
  };
  // A test that fails midway still ends its traffic (else the file never exits).
  context.after(() => t.stop());
  return t;
}

/** How many logins answered 200 no longer name their user, asked on every app in turn. */
async function lostLogins(apps, logins) {
  let lost = 0;
  for (const [i, [cookie, user]] of logins.entries()) {
    const probe = browser();
    probe.cookie = cookie;
    if ((await probe.call(apps[i % 3], '/whoami')).body.userId !== user) lost++;
  }
  return lost;
}

/**
 * When the restarted `node` is a replica in sync again (`performance.now()`),
 * or null after three minutes. It takes 7 to 9 s here (most of it Redis's
 * 5 s diskless-sync delay); the wait is long for a loaded CI machine.
 */
async function replicaAgain(node) {
  for (let i = 0; i < 3600; i++) {
    await sleep(50);
    if (node.syncedReplica) return performance.now();
  }
  return null;
}

/**
 * When the Sentinel `group` has settled (`performance.now()`): every Sentinel
 * names the same primary and every other server is a replica of it in sync;
 * null after three minutes. On a loaded machine the Sentinels may fail over
 * a second time (the new primary misses their pings for the 1 s
 * down-after while it forks for the returning replica's sync), and the old
 * primary ends as the primary again: the apps must recover from that too, so
 * the test waits for whichever primary the group settles on.
 */
async function groupSettled(group) {
  for (let i = 0; i < 3600; i++) {
    await sleep(50);
    const primary = group.primary();
    if (!primary || group.sentinels.some((s) => group.primaryAsSeenBy(s) !== primary)) continue;
    if (group.servers.every((s) => s === primary || (s.syncedReplica && s.replicaOfPort === primary.port))) return performance.now();
  }
  return null;
}

/** The last failure of each kind, in ms after `t0`. */
function lastFailures(failures, t0) {
  const out = {};
  for (const f of failures) out[f.kind] = Math.round(f.at - t0);
  return out;
}

test('sessions through a Sentinel failover: 503 during the switch, every process recovers on its own, no acknowledged login lost', async (context) => {
  const group = await startSentinelGroup('ut');
  cleanup.push(() => group.stop());
  const url = `sentinel://ut@${group.rootNodes.map((n) => `${n.host}:${n.port}`).join(',')}`;
  const apps = await Promise.all([0, 1, 2].map(() => startApp(url, `fo${process.pid}`, 'durable')));
  cleanup.push(async () => apps.forEach((a) => a.child.kill('SIGKILL')));
  const t = traffic(context, apps);

  await sleep(1500);
  const old = group.primary();
  const killedAt = performance.now();
  await old.kill9();
  // The Sentinels promote the replica.
  let switched = null;
  for (let i = 0; i < 300 && !switched; i++) {
    await sleep(50);
    if (group.primary() !== old) switched = performance.now();
  }
  assert.ok(switched, 'the Sentinels promoted the replica');
  // Durable writes wait for one replica, and the new primary has none until
  // the old one is back. Its service manager restarts it at once, as a
  // Sentinel-aware start script does: as a replica of the primary the
  // Sentinels name. (Restarted as a primary, the Sentinels convert it too,
  // about 10 s later here, after a quiet INFO period; but two loaded CI runs
  // waited over one and over three minutes for that, so the test does not
  // depend on it.)
  await old.restart({ replicaOf: group.primary().port });
  const replicaBack = await groupSettled(group);
  assert.ok(
    replicaBack,
    `the group settles: one primary, the other server its replica in sync; the old primary's log:\n${old.logTail()}\nthe Sentinels' logs:\n` +
      group.sentinels.map((s) => s.logTail()).join('\n--\n'),
  );
  // From a second later on, every request of every browser on every app is answered 200.
  await sleep(1000);
  const settled = performance.now();
  await sleep(3000);
  await t.stop();

  const ms = (at) => Math.round(at - killedAt);
  console.log(
    `sentinel failover: switched ${ms(switched)} ms after kill -9, the group settled at ${ms(replicaBack)} ms ` +
      `(restarted at once as its replica; the group settled on the ${group.primary() === old ? 'old' : 'new'} primary); statuses ${JSON.stringify(t.statuses)}; ${t.logins.length} logins acknowledged; ` +
      `last failure by kind (ms after the kill) ${JSON.stringify(lastFailures(t.failures, killedAt))}; counts that went back ${t.regressions.length}`,
  );
  for (const a of apps) assert.equal(a.child.exitCode, null, 'no app process died');
  // Only 503 with STORE_UNAVAILABLE during the switch: no 500, no dropped connection.
  for (const f of t.failures) assert.deepEqual([f.status, f.code], [503, 'STORE_UNAVAILABLE']);
  assert.deepEqual(t.failures.filter((f) => f.at > settled), [], 'every process answers 200 again, on its own');
  // Every login answered 200 survived the failover (durableWrites).
  assert.equal(await lostLogins(apps, t.logins), 0, 'no acknowledged login lost');
});

test('sessions through a cluster failover (masters with replicas) and a resharding under traffic: nothing acknowledged lost', async (context) => {
  const cluster = await startCluster({ replicas: 1, nodeTimeoutMs: 1000 });
  cleanup.push(() => cluster.stop());
  const url = `cluster://${cluster.nodes.map((n) => `127.0.0.1:${n.port}`).join(',')}`;
  const apps = await Promise.all([0, 1, 2].map(() => startApp(url, `fc${process.pid}`, 'durable')));
  cleanup.push(async () => apps.forEach((a) => a.child.kill('SIGKILL')));
  const t = traffic(context, apps);

  await sleep(1500);
  const victim = cluster.masters()[0];
  const killedAt = performance.now();
  await victim.node.kill9();
  // Its replica takes its slots over.
  let switched = null;
  for (let i = 0; i < 300 && !switched; i++) {
    await sleep(50);
    const masters = cluster.masters();
    if (masters.length === 3 && !masters.some((m) => m.node === victim.node) && masters.every((m) => m.slots > 0)) switched = performance.now();
  }
  assert.ok(switched, 'the replica took the slots over');
  await victim.node.restart();
  const replicaBack = await replicaAgain(victim.node);
  assert.ok(replicaBack, 'the old master rejoined as a replica');
  await sleep(1000);
  const settled = performance.now();

  // A resharding under the same traffic: 1,000 slots from one master to another.
  const [from, to] = cluster.masters();
  const reshardStart = performance.now();
  await execFileAsync('redis-cli', [
    '--cluster', 'reshard', `127.0.0.1:${from.node.port}`, '--cluster-from', from.id, '--cluster-to', to.id,
    '--cluster-slots', '1000', '--cluster-yes',
  ]);
  const reshardEnd = performance.now();
  // Every node sees the move once gossip has carried it.
  let moved = 0;
  for (let i = 0; i < 100 && moved !== 1000; i++) {
    moved = cluster.masters().find((m) => m.id === to.id).slots - to.slots;
    if (moved !== 1000) await sleep(50);
  }
  assert.equal(moved, 1000, 'the slots moved');
  await sleep(2000);
  await t.stop();

  const ms = (at) => Math.round(at - killedAt);
  const during = t.failures.filter((f) => f.at >= reshardStart && f.at <= reshardEnd + 1000);
  console.log(
    `cluster failover: slots taken over ${ms(switched)} ms after kill -9, the old master a replica again at ${ms(replicaBack)} ms; ` +
      `resharding 1,000 slots took ${Math.round(reshardEnd - reshardStart)} ms with ${during.length} failed requests; ` +
      `statuses ${JSON.stringify(t.statuses)}; ${t.logins.length} logins acknowledged; ` +
      `last failure by kind (ms after the kill) ${JSON.stringify(lastFailures(t.failures, killedAt))}; counts that went back ${t.regressions.length}`,
  );
  for (const a of apps) assert.equal(a.child.exitCode, null, 'no app process died');
  for (const f of t.failures) assert.deepEqual([f.status, f.code], [503, 'STORE_UNAVAILABLE']);
  // After the failover settled, the resharding lost no state write and no login.
  assert.deepEqual(t.regressions.filter((r) => r.at > settled), [], 'no count went back during the resharding');
  assert.deepEqual(t.failures.filter((f) => f.at > reshardEnd + 1000), [], 'every process answers 200 after the resharding');
  assert.equal(await lostLogins(apps, t.logins), 0, 'no acknowledged login lost');
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

  // An expired user's session validates to null, not 503: deleting what is
  // over need not survive a failover, so it does not wait.
  let now = Date.now();
  const later = await UserTrail.open({
    clock: () => now,
    shared: redisStore(redis, { prefix: 'dw', followMs: 0, durableWrites: { replicas: 1, timeoutMs: 50 } }),
  });
  cleanup.push(() => later.close());
  const { token: old } = await plain.sessions.create({ userId: 'cid' });
  now += 400 * 86_400_000;
  assert.equal(await later.sessions.validate(old), null);
  now -= 400 * 86_400_000;
  assert.equal(await later.sessions.validate(old), null, 'it was deleted');

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
  // An adapter without duplicate() and multi() (the ioredis one in the docs) cannot wait on a connection of its own.
  const adapter = { evalSha: async () => null, eval: async () => null };
  assert.throws(() => redisStore(adapter, { durableWrites: {} }), (err) => err.code === 'INVALID_INPUT' && err.field === 'durableWrites');
  assert.equal(redisStore(adapter).durableWrites, undefined);
  // The engine checks what it is handed, too (a store not made by redisStore).
  const run = (...args) => redisStore(redis).run(...args);
  for (const durableWrites of [{ replicas: 0, timeoutMs: 10 }, { replicas: 1 }, { replicas: 1, timeoutMs: 10, x: 1 }, [1, 10], 'x', 5]) {
    await assert.rejects(UserTrail.open({ shared: { prefix: 'dw', run, durableWrites } }), { code: 'INVALID_INPUT' });
  }
});
