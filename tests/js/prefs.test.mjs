// trail.prefs through the packed package. The rules are tested in Rust
// (tests/prefs.rs).
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { UserTrailError } from 'usertrail';
import { T0, code, engine } from './helpers.mjs';

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
  assert.equal(await code(() => trail.prefs.set('alice', 'appearance.theme', undefined)), 'INVALID_INPUT');
  assert.equal(await code(() => trail.prefs.define({ key: 'x', category: 'x', type: 'enum', default: 'a' })), 'INVALID_INPUT');
  assert.equal(await code(() => trail.prefs.getAll(42)), 'INVALID_INPUT');
  assert.deepEqual((await trail.export()), before);
});

test('identify moves anonymous preferences to the user', async () => {
  const { trail } = await engine();
  await trail.prefs.set('anon-9', 'appearance.theme', 'dark');
  await trail.tracking.identify('anon-9', 'carol');
  assert.equal((await trail.prefs.get('carol', 'appearance.theme')).value, 'dark');
});
