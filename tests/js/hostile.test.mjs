// Hostile arguments against every public method of every namespace: a
// throwing getter, a throwing toJSON, Proxies whose traps throw, BigInts,
// Symbols and functions where data belongs. Each call either works or throws
// a UserTrailError with a stable code (never a raw TypeError), a refused call
// leaves the database as it was, and the engine stays usable afterwards
// (before the bindings read their arguments first, a throwing Proxy left the
// engine borrowed, and every later call failed with BUSY).
import { test } from 'node:test';
import v8 from 'node:v8';
import assert from 'node:assert/strict';

import { UserTrail, UserTrailError } from 'usertrail';
import { engine } from './helpers.mjs';

// TurboFan off for this file: on Node 20, the lazy deoptimisation of the
// probe loop (thousands of calls, so it gets optimised) crashes V8 itself
// ("Fatal error ... unreachable code" in Deoptimizer::
// DoComputeBuiltinContinuation, after a GC drops a weak object its code
// depends on), in about two runs of three, whatever the engine does. The
// engine is wasm and unaffected; only this file's own JS runs unoptimised.
v8.setFlagsFromString('--no-turbofan');

const boom = () => {
  throw new Error('boom');
};

/** Values that run code, or cannot be data, when an argument is read. */
function hostile() {
  return {
    'a Proxy whose traps throw': new Proxy(
      {},
      { ownKeys: boom, get: boom, has: boom, getPrototypeOf: boom, getOwnPropertyDescriptor: boom },
    ),
    'a revoked Proxy': (() => {
      const { proxy, revoke } = Proxy.revocable({}, {});
      revoke();
      return proxy;
    })(),
    'a throwing getter': Object.defineProperty({}, 'userId', { enumerable: true, get: boom }),
    'a throwing toJSON': { toJSON: boom },
    'a BigInt': 10n,
    'a Symbol': Symbol('s'),
    'a function': () => 1,
    'a cycle': (() => {
      const o = {};
      o.self = o;
      return o;
    })(),
  };
}

/** Every namespace of an engine, by path, and its methods. */
function namespaces(trail) {
  const spaces = {
    '': trail,
    sessions: trail.sessions,
    tracking: trail.tracking,
    'tracking.outbox': trail.tracking.outbox,
    'tracking.quarantine': trail.tracking.quarantine,
    prefs: trail.prefs,
    analytics: trail.analytics,
    experiments: trail.experiments,
    privacy: trail.privacy,
    'privacy.retention': trail.privacy.retention,
  };
  const out = [];
  for (const [path, obj] of Object.entries(spaces)) {
    const proto = Object.getPrototypeOf(obj);
    for (const name of Object.getOwnPropertyNames(proto)) {
      const d = Object.getOwnPropertyDescriptor(proto, name);
      if (name === 'constructor' || name === 'free' || name.startsWith('__') || typeof d.value !== 'function') continue;
      if (path === '' && name === 'close') continue; // closing is not an argument check
      out.push({ path, name, fn: (...args) => obj[name](...args), arity: Math.max(d.value.length, 1) });
    }
  }
  return out;
}

/**
 * One hostile call: refused with a typed error and nothing changed, or
 * accepted; either way the engine answers a plain call afterwards. Returns
 * whether it was refused. (A function of its own: with the loop's body
 * inline, TurboFan on Node 20 crashed V8 with "unreachable code" in a lazy
 * deoptimisation of the test's own function; the engine was not involved.)
 */
async function probeOne(trail, m, args, where) {
  const before = await trail.export();
  let error = null;
  try {
    await m.fn(...args);
  } catch (err) {
    error = err;
  }
  if (error) {
    assert.ok(error instanceof UserTrailError, `${where}: ${error?.name}: ${error?.message}`);
    assert.equal(typeof error.code, 'string', where);
    assert.deepEqual(await trail.export(), before, `${where} refused, but changed the database`);
  }
  // The engine is not left borrowed: a plain call still works.
  const probe = await trail.prefs.get('probe', 'appearance.theme');
  assert.equal(probe.value, 'system', `after ${where}`);
  return error !== null;
}

test('every method of every namespace refuses hostile arguments with a typed error, and the engine stays usable', async () => {
  const { trail } = await engine({ tracking: { outbox: true } });
  // Something in each table, so that calls that read have something to read.
  const s = await trail.sessions.create({ userId: 'ann', data: { cart: [] } });
  await trail.tracking.track({ name: 'page_view', type: 'page', path: '/', userId: 'ann' });

  const methods = namespaces(trail);
  assert.ok(methods.length >= 60, `only ${methods.length} methods found`);
  let refused = 0;
  for (const m of methods) {
    for (let position = 0; position < m.arity + 1; position++) {
      for (const [label, value] of Object.entries(hostile())) {
        const args = [];
        for (let i = 0; i <= position; i++) args.push(i === position ? value : s.token);
        const where = `${m.path}.${m.name} with ${label} as argument ${position}`;
        if (await probeOne(trail, m, args, where)) refused++;
      }
    }
  }
  assert.ok(refused > methods.length * 4, `only ${refused} refusals`);
});

test('the cases from the issue: a throwing Proxy as options, and a BigInt as a number', async () => {
  const { trail } = await engine();
  const proxy = new Proxy({}, { ownKeys: boom });
  for (const call of [
    () => trail.sessions.create(proxy),
    () => trail.sessions.validate('x', proxy),
    () => trail.tracking.track(proxy),
    () => trail.tracking.trackBatch([{ name: 'a' }], proxy),
    () => trail.analytics.summary(proxy),
    () => trail.privacy.grant('ann', proxy),
    () => trail.prefs.setMany('ann', proxy),
  ]) {
    await assert.rejects(async () => call(), (err) => err instanceof UserTrailError && err.code === 'INVALID_INPUT');
  }
  assert.equal((await trail.sessions.create()).userId, null, 'the engine still works');

  for (const [call, field] of [
    [() => trail.tracking.quarantine.list(10n), 'limit'],
    [() => trail.tracking.outbox.take(10n), 'max'],
    [() => trail.tracking.quarantine.retry(1n), 'id'],
    [() => trail.sessions.validate(10n), 'token'],
    [() => trail.sessions.set('t', 'k', 10n), 'value'],
    [() => trail.prefs.get(Symbol('u'), 'appearance.theme'), 'userId'],
    [() => trail.sessions.create({ data: { n: 1n } }), 'data.n'],
    [() => trail.sessions.create({ userId: () => 'x' }), 'userId'],
    // What serde refuses is named by its path too (docs/ERRORS.md).
    [() => trail.sessions.create({ userId: 5 }), 'userId'],
    [() => trail.sessions.create({ userID: 'x' }), 'userID'],
    [() => trail.sessions.cleanup({ limit: -1 }), 'limit'],
    [() => trail.sessions.cleanup({ visit: 1.5 }), 'visit'],
    [() => trail.sessions.cleanup({ visit: '10' }), 'visit'],
    [() => trail.analytics.summary({ since: 'yesterday' }), 'since'],
    [() => trail.analytics.topPages({ since: 0, limt: 5 }), 'limt'],
    [() => trail.analytics.summary({ dimension: { name: 'plan', value: [1] } }), 'dimension.value'],
    // A getter, toJSON or Proxy trap that throws is named where it is.
    [() => trail.sessions.create(Object.defineProperty({}, 'userId', { enumerable: true, get: boom })), 'userId'],
    [() => trail.sessions.create({ data: { ok: 1, list: [0, { get n() { throw new Error('x'); } }] } }), 'data.list[1].n'],
    [() => trail.sessions.create({ data: { inner: { toJSON: boom } } }), 'data.inner'],
    [() => trail.sessions.create({ data: new Proxy({}, { ownKeys: boom }) }), 'data'],
    [() => trail.analytics.summary({ get since() { throw new Error('x'); } }), 'since'],
    [() => trail.prefs.set('ann', 'appearance.theme', { get v() { throw new Error('x'); } }), 'appearance.theme.v'],
  ]) {
    await assert.rejects(
      async () => call(),
      (err) => err instanceof UserTrailError && err.code === 'INVALID_INPUT' && err.field === field,
      `${call}`,
    );
  }
  // A bad event in a partial batch fails alone, however it is bad.
  const results = await trail.tracking.trackBatch(
    [{ name: 'ok', userId: 'u' }, { name: 'big', properties: { n: 1n } }, { name: `lone ${String.fromCharCode(0xd800)}` }, { name: 'ok2', userId: 'u' }],
    { partial: true },
  );
  assert.deepEqual(
    results.map((r) => r.status),
    ['stored', 'rejected', 'rejected', 'stored'],
  );
  assert.equal(results[1].error.code, 'INVALID_INPUT');
  assert.match(results[1].error.message, /properties\.n/);
});

test('UserTrail.open refuses hostile options with INVALID_INPUT', async () => {
  for (const [label, value] of Object.entries(hostile())) {
    if (label === 'a function') continue; // open(() => 1) reads no options: it is not an object
    await assert.rejects(
      async () => UserTrail.open(value),
      (err) => err instanceof UserTrailError && err.code === 'INVALID_INPUT',
      label,
    );
    await assert.rejects(
      async () => UserTrail.open({ storage: 'memory', sessions: value }),
      (err) => err instanceof UserTrailError && err.code === 'INVALID_INPUT',
      `sessions: ${label}`,
    );
  }
  const clockThatThrows = await UserTrail.open({ clock: () => 1_000, storage: { get bytes() { throw new Error('x'); } } }).then(
    () => 'opened',
    (err) => err.code,
  );
  assert.equal(clockThatThrows, 'INVALID_INPUT');
});

// Issue 26, finding 3: a lone surrogate in a plain string argument used to
// become U+FFFD at the boundary, so 'mallory\uD800', 'mallory\uDC00' and
// 'mallory\uFFFD' were one subject. Every string argument of every method
// refuses one now, naming the argument, and writes nothing.
test('a lone surrogate in any string argument is INVALID_INPUT, and changes nothing', async () => {
  const { trail } = await engine({ tracking: { outbox: true } });
  const s = await trail.sessions.create({ userId: 'ann', data: { cart: [] } });
  await trail.tracking.track({ name: 'page_view', userId: 'ann' });
  const lone = `x${String.fromCharCode(0xd800)}`;
  let checked = 0;
  for (const m of namespaces(trail)) {
    const declared = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(m.path === '' ? trail : m.path.split('.').reduce((o, k) => o[k], trail)), m.name).value.length;
    for (let position = 0; position < Math.max(declared, 1); position++) {
      const args = [];
      for (let i = 0; i < position; i++) args.push(i === 0 ? s.token : 'appearance.theme');
      args.push(lone);
      const where = `${m.path}.${m.name} with a lone surrogate as argument ${position}`;
      const before = await trail.export();
      let error = null;
      try {
        await m.fn(...args);
      } catch (err) {
        error = err;
      }
      if (declared === 0) continue; // takes no argument: nothing to refuse
      assert.ok(error instanceof UserTrailError, `${where}: accepted`);
      assert.equal(error.code, 'INVALID_INPUT', `${where}: ${error.code} ${error.message}`);
      assert.deepEqual(await trail.export(), before, `${where} changed the database`);
      checked++;
    }
  }
  assert.ok(checked > 80, `only ${checked} string positions checked`);
  // The cases of the issue, by name.
  const mallory = (c) => `mallory${String.fromCharCode(c)}`;
  const refused = async (fn, field) => {
    await assert.rejects(fn, (err) => err instanceof UserTrailError && err.code === 'INVALID_INPUT' && err.field === field);
  };
  await refused(() => trail.prefs.set(mallory(0xd800), 'appearance.theme', 'dark'), 'userId');
  await refused(() => trail.prefs.get(mallory(0xdc00), 'appearance.theme'), 'userId');
  await trail.prefs.set(mallory(0xfffd), 'appearance.theme', 'dark'); // U+FFFD itself is a character
  assert.equal((await trail.prefs.get(mallory(0xfffd), 'appearance.theme')).value, 'dark');
  await refused(() => trail.sessions.login(s.token, `bob${String.fromCharCode(0xd800)}`), 'userId');
  assert.deepEqual(await trail.sessions.list(`bob${String.fromCharCode(0xfffd)}`), []);
});
