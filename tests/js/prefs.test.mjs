// trail.prefs through the packed package. The rules are tested in Rust
// (tests/prefs.rs).
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { UserTrailError } from 'usertrail';
import { T0, code, engine, refusal } from './helpers.mjs';

test('defaults, set, setMany, reset and history', async () => {
  const { trail, advance } = await engine();
  const prefs = trail.prefs;
  assert.deepEqual(await prefs.get('alice', 'appearance.theme'), {
    key: 'appearance.theme',
    category: 'appearance',
    value: 'system',
    isDefault: true,
    updatedAt: null,
  });
  const set = await prefs.set('alice', 'appearance.theme', 'dark', { source: 'settings' });
  assert.equal(set.value, 'dark');
  assert.equal(set.isDefault, false);
  assert.equal(set.updatedAt, T0);
  advance(1000);
  await prefs.setMany('alice', { 'locale.language': 'fr-CA', 'notifications.push': true });
  const notifications = await prefs.getAll('alice', { category: 'notifications' });
  assert.deepEqual(
    notifications.map((p) => [p.key, p.value]),
    [
      ['notifications.digest', 'weekly'],
      ['notifications.email', true],
      ['notifications.push', true],
    ],
  );
  assert.equal(await prefs.reset('alice', 'appearance.theme'), 1);
  assert.equal((await prefs.get('alice', 'appearance.theme')).isDefault, true);
  const history = await prefs.history('alice');
  assert.deepEqual(
    history.map((c) => [c.key, c.oldValue, c.newValue, c.source]),
    [
      ['appearance.theme', null, 'dark', 'settings'],
      ['locale.language', null, 'fr-CA', 'api'],
      ['notifications.push', null, true, 'api'],
      ['appearance.theme', 'dark', null, 'api'],
    ],
  );
});

test('define a preference of your own', async () => {
  const { trail } = await engine();
  await trail.prefs.define({ key: 'editor.fontSize', category: 'editor', type: 'number', default: 14, min: 8, max: 32 });
  assert.equal((await trail.prefs.get('bob', 'editor.fontSize')).value, 14);
  const defs = await trail.prefs.definitions({ category: 'editor' });
  assert.deepEqual(defs[0], { key: 'editor.fontSize', category: 'editor', type: 'number', default: 14, min: 8, max: 32 });
});

test('bad values are typed errors naming the key, and setMany writes nothing', async () => {
  const { trail } = await engine();
  const before = await trail.export();
  for (const [key, value] of [
    ['appearance.theme', 'neon'],
    ['locale.language', 'not a tag'],
    ['notifications.email', 'yes'],
  ]) {
    try {
      await trail.prefs.set('alice', key, value);
      assert.fail(`no error for ${key}`);
    } catch (err) {
      assert.ok(err instanceof UserTrailError);
      assert.equal(err.code, 'INVALID_INPUT');
      assert.equal(err.field, key);
    }
  }
  assert.equal(
    await code(() => trail.prefs.setMany('alice', { 'appearance.theme': 'dark', 'notifications.digest': 'hourly' })),
    'INVALID_INPUT',
  );
  assert.equal(await code(() => trail.prefs.get('alice', 'no.such')), 'UNKNOWN_PREFERENCE');
  assert.deepEqual((await refusal(() => trail.prefs.set('alice', 'appearance.theme', undefined))).slice(1), [
    'appearance.theme',
    'invalid input: appearance.theme: is required (to go back to the default, call prefs.reset(userId, key))',
  ]);
  assert.equal(await code(() => trail.prefs.define({ key: 'x', category: 'x', type: 'enum', default: 'a' })), 'INVALID_INPUT');
  assert.equal(await code(() => trail.prefs.getAll(42)), 'INVALID_INPUT');
  assert.deepEqual((await trail.export()), before);
});

test('a value too large for its key is refused by the key before it is read', async () => {
  const { trail } = await engine();
  await trail.prefs.define({ key: 'ui.layout', category: 'ui', type: 'json', default: null, maxBytes: 64 });
  const before = await trail.export();
  // Half a million small objects (4 MB of JSON): refused by the unknown
  // key, or by the key's limit, without being built in the engine.
  const huge = Array.from({ length: 500_000 }, () => ({ a: 1 }));
  assert.deepEqual((await refusal(() => trail.prefs.set('alice', 'no.such', huge))).slice(0, 2), ['UNKNOWN_PREFERENCE', null]);
  const [c, field, message] = await refusal(() => trail.prefs.set('alice', 'ui.layout', huge));
  assert.deepEqual([c, field], ['INVALID_INPUT', 'ui.layout']);
  assert.match(message, /at most 64 bytes of JSON/);
  assert.deepEqual(
    (await refusal(() => trail.prefs.set('alice', 'appearance.theme', 'x'.repeat(1 << 20)))).slice(0, 2),
    ['INVALID_INPUT', 'appearance.theme'],
  );
  // setMany: the first key whose text cannot pass is named, nothing is written.
  assert.deepEqual(
    (await refusal(() => trail.prefs.setMany('alice', { 'appearance.theme': 'dark', 'ui.layout': huge, 'no.such': 1 }))).slice(0, 2),
    ['INVALID_INPUT', 'ui.layout'],
  );
  assert.equal(await code(() => trail.prefs.setMany('alice', { 'appearance.theme': 'dark', 'no.such': huge })), 'UNKNOWN_PREFERENCE');
  // An entry set to undefined is refused, as set(u, k, undefined) is (JSON would drop it).
  assert.deepEqual(
    (await refusal(() => trail.prefs.setMany('alice', { 'appearance.theme': 'dark', 'locale.language': undefined }))).slice(0, 3),
    ['INVALID_INPUT', 'locale.language', 'invalid input: locale.language: is required (to go back to the default, call prefs.reset(userId, key))'],
  );
  // Bytes and arrays are not the object setMany takes.
  assert.equal(await code(() => trail.prefs.setMany('alice', new Uint8Array([1, 2]))), 'INVALID_INPUT');
  assert.equal(await code(() => trail.prefs.setMany('alice', [['appearance.theme', 'dark']])), 'INVALID_INPUT');
  // Nesting deeper than the engine reads: a typed error on the key.
  let deep = 1;
  for (let i = 0; i < 300; i++) deep = [deep];
  await trail.prefs.define({ key: 'ui.deep', category: 'ui', type: 'json', default: null, maxBytes: 1 << 20 });
  const after = await trail.export();
  assert.deepEqual(await refusal(() => trail.prefs.set('alice', 'ui.deep', deep)), [
    'INVALID_INPUT',
    'ui.deep',
    'invalid input: ui.deep: must be nested at most 127 levels deep',
  ]);
  // A fault inside a value is named by its path, in set and setMany alike.
  assert.equal((await refusal(() => trail.prefs.set('alice', 'ui.deep', { a: { b: '\ud800' } })))[1], 'ui.deep.a.b');
  assert.equal((await refusal(() => trail.prefs.setMany('alice', { 'ui.deep': [0, { c: '\udc00' }] })))[1], 'ui.deep[1].c');
  // A long value of the wrong type is named for its type, as a short one is.
  assert.match((await refusal(() => trail.prefs.set('alice', 'locale.language', new Array(200).fill(0))))[2], /must be a string/);
  assert.deepEqual(await trail.export(), after);
  // What fits is written, in the order given.
  await trail.prefs.setMany('alice', { 'ui.layout': { panels: [1, 2] }, 'appearance.theme': 'dark' });
  assert.deepEqual((await trail.prefs.get('alice', 'ui.layout')).value, { panels: [1, 2] });
  assert.equal((await trail.prefs.get('alice', 'appearance.theme')).value, 'dark');
  assert.notDeepEqual(await trail.export(), before);
});

test('a refused definition names its option inside the argument; a missing consent names the key', async () => {
  const { trail } = await engine({ privacy: { requireConsent: ['personalization'] } });
  const cases = [
    [{ key: 'y.s', category: 'y', type: 'string', default: 'toolong', maxLength: 3 }, 'definition.default', /^invalid input: definition\.default: must be at most 3 characters$/],
    [{ key: 'y.n', category: 'y', type: 'number', default: 1, maxLength: 3 }, 'definition.maxLength', /does not apply to type number/],
    [{ key: 'y.n', category: 'y', type: 'number', default: 1, format: 'bcp47' }, 'definition.format', /does not apply to type number/],
    [{ key: 'y.s', category: 'y', type: 'string', default: 'a', max: 3 }, 'definition.max', /does not apply to type string/],
    [{ key: 'y.n', category: 'y', type: 'number', default: 1, min: 5, max: 1 }, 'definition.min', /must not exceed max/],
    [{ key: 'y.e', category: 'y', type: 'enum', default: 'a' }, 'definition.values', /at least one value/],
    [{ key: 'bad key!', category: 'y', type: 'bool', default: true }, 'definition.key', /letters, digits/],
    [{ key: 'y.b', category: 'y', type: 'bool' }, 'definition.default', /^invalid input: definition\.default: is required$/],
  ];
  for (const [definition, field, message] of cases) {
    const [c, f, m] = await refusal(() => trail.prefs.define(definition));
    assert.deepEqual([c, f], ['INVALID_INPUT', field], JSON.stringify(definition));
    assert.match(m, message);
  }
  await trail.prefs.define({ key: 'y.n', category: 'y', type: 'number', default: 1, min: 0, max: 10 });
  assert.match((await refusal(() => trail.prefs.set('u', 'y.n', 11)))[2], /must be between 0 and 10/);
  await trail.prefs.define({ key: 'feed.topics', category: 'feed', type: 'json', default: [], purpose: 'personalization' });
  const [c, , m] = await refusal(() => trail.prefs.setMany('u', { 'appearance.theme': 'dark', 'feed.topics': ['tea'] }));
  assert.equal(c, 'CONSENT_REQUIRED');
  assert.match(m, /"personalization" consent.*preference "feed\.topics"/);
  assert.equal((await trail.prefs.get('u', 'appearance.theme')).isDefault, true);
});

test('identify moves anonymous preferences to the user', async () => {
  const { trail } = await engine();
  await trail.prefs.set('anon-9', 'appearance.theme', 'dark');
  await trail.tracking.identify('anon-9', 'carol');
  assert.equal((await trail.prefs.get('carol', 'appearance.theme')).value, 'dark');
});
