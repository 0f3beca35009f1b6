// trail.sessions through the packed package: the binding's conversions and
// errors. The rules themselves are tested in Rust (tests/sessions.rs).
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { UserTrail, UserTrailError } from 'usertrail';
import { T0, code, engine } from './helpers.mjs';

const MIN = 60_000;
const CHROME =
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36';

test('create, validate, rotate, login and destroy', async () => {
  const { sessions } = await engine();
  const anon = await sessions.create({ ip: '203.0.113.9', userAgent: CHROME, data: { cart: [] } });
  assert.equal(typeof anon.token, 'string');
  // <slot>.<sessionId>.<secret>: the slot and id locate the record, only the secret's hash is stored.
  assert.match(anon.token, /^a[A-Za-z0-9_-]{8}\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/);
  assert.equal(anon.token.split('.')[1], anon.sessionId);
  assert.equal(anon.userId, null);
  assert.equal(anon.createdAt, T0);
  assert.equal(anon.idleExpiresAt, T0 + 30 * MIN);
  assert.equal(anon.absoluteExpiresAt, T0 + 12 * 60 * MIN);
  assert.deepEqual(anon.client, { ip: '203.0.0.0', browser: 'Chrome 120', os: 'Windows', device: 'desktop' });
  assert.equal('fingerprintMismatch' in anon, false);

  const seen = await sessions.validate(anon.token, { ip: '203.0.113.9', userAgent: CHROME });
  assert.equal(seen.sessionId, anon.sessionId);
  assert.equal(await sessions.validate('nope'), null);

  const alice = await sessions.login(anon.token, 'alice');
  assert.equal(alice.userId, 'alice');
  assert.notEqual(alice.token, anon.token);
  // A user's sessions share one slot (one Redis hash slot), named from the user id's hash.
  assert.match(alice.token, /^u[0-9a-f]{16}\./);
  assert.equal(await sessions.validate(anon.token), null);
  const rotated = await sessions.rotate(alice.token);
  assert.equal(await sessions.validate(alice.token), null);
  assert.deepEqual(await sessions.get(rotated.token), { cart: [] });

  const list = await sessions.list('alice');
  assert.equal(list.length, 1);
  assert.equal(list[0].sessionId, anon.sessionId);
  assert.equal(await sessions.destroy(rotated.token), true);
  assert.equal(await sessions.destroy(rotated.token), false);
});

test('the clock drives expiry', async () => {
  const { sessions, advance } = await engine({ sessions: { idleTimeoutSecs: 60, touchIntervalSecs: 10 } });
  const s = await sessions.create();
  advance(59_999);
  assert.ok(await sessions.validate(s.token));
  advance(60_000);
  assert.equal(await sessions.validate(s.token), null);
  assert.equal(await code(() => sessions.get(s.token)), 'SESSION_NOT_FOUND');
});

test('cleanup({ visit }) looks at a bounded stretch per call and goes round the table', async () => {
  const { sessions, advance } = await engine({ sessions: { idleTimeoutSecs: 60, touchIntervalSecs: 10 } });
  for (let i = 0; i < 4; i++) await sessions.create();
  advance(2 * MIN);
  assert.equal(await sessions.cleanup({ visit: 0 }), 0, 'looking at none deletes none');
  const deleted = [];
  for (let i = 0; i < 4; i++) deleted.push(await sessions.cleanup({ visit: 1 }));
  assert.deepEqual(deleted, [1, 1, 1, 1]);
  assert.equal(await sessions.cleanup(), 0);
});

test('state: set, get, merge, remove, clear and compare-and-swap', async () => {
  const { sessions } = await engine();
  const { token } = await sessions.create();
  assert.equal(await sessions.set(token, 'cart', [{ sku: 'A1', qty: 2 }]), 1);
  assert.deepEqual(await sessions.get(token, 'cart'), [{ sku: 'A1', qty: 2 }]);
  assert.equal(await sessions.get(token, 'nothing'), undefined);
  const v = (await sessions.validate(token)).version;
  assert.equal(await sessions.merge(token, { step: 2, cart: null }, { expectedVersion: v }), v + 1);
  assert.deepEqual(await sessions.get(token), { step: 2 });
  assert.equal(await code(() => sessions.merge(token, { step: 3 }, { expectedVersion: v })), 'CONFLICT');
  assert.equal(await sessions.remove(token, 'step'), v + 2);
  await sessions.set(token, 'unicode', 'héllo 🦀 "quoted"');
  assert.equal(await sessions.get(token, 'unicode'), 'héllo 🦀 "quoted"');
  assert.equal(await sessions.clear(token), v + 4);
  assert.deepEqual(await sessions.get(token), {});
});

test('devices: destroyBySessionId and destroyAllForUser', async () => {
  const { sessions } = await engine();
  const a = await sessions.create({ userId: 'alice' });
  const b = await sessions.create({ userId: 'alice' });
  const c = await sessions.create({ userId: 'alice' });
  assert.equal(await sessions.destroyBySessionId('bob', a.sessionId), false);
  assert.equal(await sessions.destroyBySessionId('alice', a.sessionId), true);
  assert.equal(await sessions.destroyAllForUser('alice', { exceptSessionId: c.sessionId }), 1);
  assert.equal(await sessions.validate(b.token), null);
  assert.ok(await sessions.validate(c.token));
  assert.equal(await sessions.cleanup({ limit: 10 }), 0);
});

test('sealed state with keys from the host', async () => {
  const k1 = new Uint8Array(32).fill(1);
  const { trail, sessions } = await engine({ sessions: { keys: [{ id: 'k1', key: k1 }] } });
  const { token } = await sessions.create({ data: { secret: 'correct horse battery staple' } });
  const bytes = await trail.export();
  assert.equal(Buffer.from(bytes).includes('correct horse'), false, 'plaintext in the database');
  const keyless = await UserTrail.open({ storage: { bytes }, clock: () => T0 });
  assert.equal(await code(() => keyless.sessions.get(token)), 'KEY_MISSING');
  const wrong = await UserTrail.open({
    storage: { bytes },
    clock: () => T0,
    sessions: { keys: [{ id: 'k1', key: new Uint8Array(32).fill(9) }] },
  });
  assert.equal(await code(() => wrong.sessions.get(token)), 'DECRYPTION_FAILED');
  assert.equal(
    await code(() => UserTrail.open({ sessions: { keys: [{ id: 'k', key: new Uint8Array(16) }] } })),
    'INVALID_INPUT',
  );
});

test('wrong types and bad values are typed errors, and write nothing', async () => {
  const { trail, sessions } = await engine();
  const { token } = await sessions.create({ userId: 'alice' });
  const before = await trail.export();
  const cases = [
    [() => sessions.validate(42), 'token'],
    [() => sessions.validate(undefined), 'token'],
    [() => sessions.validate(token, { ip: 'not an ip' }), 'ip'],
    [() => sessions.validate(token, { referer: 'x' }), 'client.referer'],
    [() => sessions.create({ userId: '' }), 'userId'],
    [() => sessions.create({ userId: 'x'.repeat(300) }), 'userId'],
    [() => sessions.create({ userId: 7 }), 'userId'],
    [() => sessions.create({ data: [1, 2] }), 'data'],
    [() => sessions.create({ data: 'text' }), 'data'],
    [() => sessions.create({ idleTimeoutSecs: -5 }), 'idleTimeoutSecs'],
    [() => sessions.create({ idleTimeoutSecs: 0 }), 'idleTimeoutSecs'],
    [() => sessions.set(token, 'k', undefined), 'value'],
    [() => sessions.set(token, 'k', () => 1), 'value'],
    [() => sessions.set(token, 'k', 10n), 'value'],
    [() => sessions.set(token, 'k', new Map([['a', 1]])), 'value'],
    [() => sessions.set(token, 'k', { cart: new Set([1]) }), 'value.cart'],
    [() => sessions.merge(token, { pending: Promise.resolve(1) }), 'patch.pending'],
    [() => sessions.merge(token, Buffer.from('x')), 'patch'],
    [() => sessions.create({ data: new Uint8Array(2) }), 'data'],
    [() => sessions.set(token, 'a"b', 1), 'key'],
    [() => sessions.set(token, 'k', 1, { expectedVersion: 'one' }), 'expectedVersion'],
    [() => sessions.merge(token, [1]), 'patch'],
    [() => sessions.login(token, null), 'userId'],
    [() => sessions.list(''), 'userId'],
  ];
  for (const [fn, field] of cases) {
    try {
      await fn();
      assert.fail(`no error for ${fn}`);
    } catch (err) {
      assert.ok(err instanceof UserTrailError, `${fn}: ${err}`);
      assert.equal(err.code, 'INVALID_INPUT', `${fn}`);
      assert.equal(err.field, field, `${fn}`);
    }
  }
  // Undefined is not a way to delete: the refusal says what is.
  const unset = await sessions.set(token, 'k', undefined).then(() => null, (e) => e);
  assert.match(unset?.message, /is required \(to delete the key, call sessions\.remove\(token, key\)\)/);
  assert.equal(await code(() => sessions.set(token, 'big', 'x'.repeat(70_000))), 'PAYLOAD_TOO_LARGE');
  // Many small values over the limit: refused from the text's size, with
  // the size the engine would have written, before the value is built.
  const many = await sessions.set(token, 'many', Array.from({ length: 200_000 }, (_, i) => ({ a: i }))).then(() => null, (e) => e);
  assert.equal(many?.code, 'PAYLOAD_TOO_LARGE');
  assert.match(many.message, /would be 2488891 bytes, over the limit of 65536 \(`sessions.maxStateBytes`\)/);
  // Past 32 MiB of JSON an argument is refused before it is read (an array
  // of 30M numbers overflowed a vector in wasm).
  const huge = await sessions.set(token, 'huge', new Array(17_000_000).fill(0)).then(() => null, (e) => e);
  assert.deepEqual([huge?.code, huge?.field], ['INVALID_INPUT', 'value']);
  assert.match(huge.message, /too large: at least 34000001 bytes of JSON, at most 33554432/);
  assert.deepEqual((await trail.export()), before, 'a refused call wrote');
});

test('bad session settings are refused at open', async () => {
  for (const sessions of [
    { idleTimeoutSecs: 0 },
    { fingerprint: 'paranoid' },
    { maxSessionsPerUser: 0 },
    { keys: 'k1' },
    { idleTimout: 5 },
  ]) {
    assert.equal(await code(() => UserTrail.open({ sessions })), 'INVALID_INPUT', JSON.stringify(sessions));
  }
});

test('trail.sessions throws CLOSED once the engine is closed', async () => {
  const { trail, sessions } = await engine();
  const { token } = await sessions.create();
  await trail.close();
  assert.equal(await code(() => sessions.validate(token)), 'CLOSED');
  assert.equal(await code(() => trail.sessions.create()), 'CLOSED');
});

test('a clock that calls back into the engine does not corrupt it: the nested call runs after', async () => {
  let trail;
  const inner = [];
  trail = await UserTrail.open({
    clock: () => {
      // A call made while another is running (here, from the clock that one
      // reads) is queued, so it never runs inside it.
      if (trail && inner.length < 3) inner.push(trail.sessions.cleanup().then((n) => ['OK', n], (err) => [err.code]));
      return T0;
    },
  });
  const created = await trail.sessions.create();
  assert.ok(await trail.sessions.validate(created.token));
  const results = await Promise.all(inner);
  assert.ok(results.length > 0);
  for (const r of results) assert.deepEqual(r, ['OK', 0]);
});

test('trail.sessions is one object per engine; free() on it does not end it, and a closed engine still says CLOSED', async () => {
  const trail = await UserTrail.open({ storage: 'memory' });
  const parts = ['sessions', 'prefs', 'tracking', 'pipeline', 'analytics', 'privacy', 'experiments'];
  for (const p of parts) assert.equal(trail[p], trail[p], `trail.${p} is the same object at each read`);
  const first = trail.sessions;
  const { token } = await first.create({ userId: 'ada' });
  // Freeing the engine's one object would end it for every later read: it leaves it be.
  first.free();
  assert.equal(trail.sessions, first);
  assert.equal((await first.validate(token)).userId, 'ada');
  trail.tracking[Symbol.dispose]?.();
  assert.equal(await trail.tracking.count(), 0);
  const held = trail.sessions;
  await trail.close();
  assert.equal(await code(() => held.validate(token)), 'CLOSED');
  assert.equal(await code(() => trail.sessions.create()), 'CLOSED');
});
