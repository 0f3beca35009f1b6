// usertrail/redis against real and broken Redis servers: options checked;
// the ioredis adapter as docs/SESSIONS.md shows it; a server that answers
// garbage, a paused one, an error reply and one that is down all give typed
// errors, never a session out of nothing or a logged-out user; the
// middleware answers 503 and keeps the cookie meanwhile.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { once } from 'node:events';

import IORedis from 'ioredis';
import { UserTrail, UserTrailError } from 'usertrail';
import { sessionMiddleware } from 'usertrail/middleware';
import { redisStore } from 'usertrail/redis';
import { code } from './helpers.mjs';
import { RedisServer, cli, createClient } from './redis-server.mjs';

let server;
let client;
before(async () => {
  server = await RedisServer.start();
  client = await createClient({ url: server.url }).on('error', () => {}).connect();
});
after(async () => {
  await client.quit();
  await server.stop();
});

test('redisStore checks its client and options', () => {
  assert.throws(() => redisStore({}), /node-redis client/);
  assert.throws(() => redisStore(client, { prefx: 'x' }), /unknown option "prefx"/);
  assert.throws(() => redisStore(client, { prefix: 'a b' }), /prefix/);
  assert.throws(() => redisStore(client, { prefix: 'x'.repeat(65) }), /prefix/);
  assert.throws(() => redisStore(client, { timeoutMs: 0 }), /timeoutMs/);
  assert.throws(() => redisStore(client, null), /options/);
  const store = redisStore(client);
  assert.equal(store.prefix, 'ut');
  assert.equal(Object.isFrozen(store), true);
});

// Issue 26, finding 7: a node-redis client without an 'error' listener
// crashes the process when Redis goes away; redisStore refuses it at once.
test('redisStore refuses a client with no error listener, and says what to add', async () => {
  const bare = createClient({ url: server.url });
  assert.throws(() => redisStore(bare), (err) => err instanceof UserTrailError && err.code === 'INVALID_INPUT' && err.field === 'client' && /'error' listener/.test(err.message) && /\.on\('error'/.test(err.message));
  bare.on('error', () => {});
  assert.equal(redisStore(bare).prefix, 'ut');
  // An adapter object (ioredis wrapped as the docs show) is not an emitter: accepted.
  assert.equal(redisStore({ evalSha: async () => null, eval: async () => null }).prefix, 'ut');
});

test('UserTrail.open refuses a shared option that is not a store', async () => {
  assert.equal(await code(() => UserTrail.open({ shared: 'redis://localhost' })), 'INVALID_INPUT');
  assert.equal(await code(() => UserTrail.open({ shared: { run: 1 } })), 'INVALID_INPUT');
  assert.equal(await code(() => UserTrail.open({ shared: { prefix: '{bad}', run: async () => null } })), 'INVALID_INPUT');
});

test('the ioredis adapter from the docs works the same', async () => {
  const io = new IORedis(server.port, '127.0.0.1');
  try {
    // docs/SESSIONS.md, "Many servers": four lines over ioredis.
    const ioredisClient = {
      evalSha: (sha, { keys, arguments: args }) => io.evalsha(sha, keys.length, ...keys, ...args),
      eval: (script, { keys, arguments: args }) => io.eval(script, keys.length, ...keys, ...args),
    };
    const a = await UserTrail.open({ shared: redisStore(ioredisClient, { prefix: 'io' }) });
    const b = await UserTrail.open({ shared: redisStore(client, { prefix: 'io' }) });
    const s = await a.sessions.create({ userId: 'ann', data: { n: 1 } });
    assert.deepEqual(await b.sessions.get(s.token), { n: 1 }, 'node-redis reads what ioredis wrote');
    await b.prefs.set('ann', 'appearance.theme', 'dark');
    assert.equal((await a.prefs.get('ann', 'appearance.theme')).value, 'dark');
  } finally {
    io.disconnect();
  }
});

/** A TCP server that speaks just enough RESP to answer every command with `reply`. */
async function fakeRedis(reply) {
  const srv = createServer((socket) => {
    let buf = Buffer.alloc(0);
    socket.on('error', () => {});
    socket.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      // Count complete commands (arrays of bulk strings) and answer each.
      for (;;) {
        const text = buf.toString('latin1');
        const m = text.match(/^\*(\d+)\r\n/);
        if (!m) break;
        let i = m[0].length;
        let complete = true;
        for (let k = 0; k < Number(m[1]); k++) {
          const b = text.slice(i).match(/^\$(\d+)\r\n/);
          if (!b || text.length < i + b[0].length + Number(b[1]) + 2) {
            complete = false;
            break;
          }
          i += b[0].length + Number(b[1]) + 2;
        }
        if (!complete) break;
        buf = buf.subarray(i);
        socket.write(reply);
      }
    });
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  return srv;
}

test('a Redis that answers garbage gives STORAGE_ERROR, never a session', async () => {
  const real = await UserTrail.open({ shared: redisStore(client, { prefix: 'g' }) });
  const { token } = await real.sessions.create({ userId: 'ann' });
  for (const reply of ['+OK\r\n', ':7\r\n', '$5\r\nhello\r\n', '*2\r\n:1\r\n:2\r\n', '*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n', ',3.5\r\n']) {
    const fake = await fakeRedis(reply);
    const c = createClient({ url: `redis://127.0.0.1:${fake.address().port}`, disableClientInfo: true });
    c.on('error', () => {});
    try {
      await c.connect();
      const trail = await UserTrail.open({ shared: redisStore(c, { prefix: 'g', timeoutMs: 500 }) });
      const calls = {
        validate: () => trail.sessions.validate(token),
        get: () => trail.sessions.get(token),
        create: () => trail.sessions.create({ userId: 'ann' }),
        getAll: () => trail.prefs.getAll('ann'),
        status: () => trail.privacy.status('ann'),
      };
      for (const [name, call] of Object.entries(calls)) {
        assert.equal(await code(call), 'STORAGE_ERROR', `${name} after ${JSON.stringify(reply)}`);
      }
    } finally {
      await c.disconnect().catch(() => {});
      fake.close();
    }
  }
});

test('a paused Redis times out as STORE_UNAVAILABLE; an error reply is STORAGE_ERROR', async () => {
  const trail = await UserTrail.open({ shared: redisStore(client, { prefix: 'p', timeoutMs: 200 }) });
  const { token } = await trail.sessions.create({ userId: 'ann' });
  cli(server.port, 'client', 'pause', '1000', 'all');
  assert.equal(await code(() => trail.sessions.validate(token)), 'STORE_UNAVAILABLE');
  await new Promise((r) => setTimeout(r, 1100));
  assert.ok(await trail.sessions.validate(token), 'back once Redis answers');
  // A key of the wrong type where a session should be: an error reply.
  const [slot, sid] = token.split('.');
  cli(server.port, 'del', `p:{${slot}}:s:${sid}`);
  cli(server.port, 'set', `p:{${slot}}:s:${sid}`, 'not a hash');
  assert.equal(await code(() => trail.sessions.validate(token)), 'STORAGE_ERROR');
});

test('while Redis is down the middleware answers 503 and keeps the cookie', async () => {
  const down = await RedisServer.start();
  const c = createClient({ url: down.url, disableOfflineQueue: true, socket: { reconnectStrategy: () => 50 } });
  c.on('error', () => {});
  await c.connect();
  const trail = await UserTrail.open({ shared: redisStore(c, { prefix: 'm', timeoutMs: 500 }) });
  const handle = sessionMiddleware(trail, { secure: false })(async (request, { session }) => {
    await session.set('n', ((await session.get('n')) ?? 0) + 1);
    return Response.json({ n: await session.get('n') });
  });
  const first = await handle(new Request('http://x/'));
  const cookie = first.headers.get('set-cookie').split(';')[0];
  await down.kill9();
  const during = await handle(new Request('http://x/', { headers: { cookie } }));
  assert.equal(during.status, 503);
  assert.equal(during.headers.get('set-cookie'), null, 'the cookie is kept');
  assert.equal((await during.json()).error, 'STORE_UNAVAILABLE');
  await down.restart();
  let res;
  for (let i = 0; i < 50; i++) {
    res = await handle(new Request('http://x/', { headers: { cookie } }));
    if (res.status === 200) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.deepEqual(await res.json(), { n: 2 }, 'the session, from the AOF');
  await c.disconnect().catch(() => {});
  await down.stop();
});
