// The session, preference and consent contracts through the packed wasm
// package, on each place they can live: the engine's own SQLite, a
// standalone Redis and a 3-master Redis Cluster (node-redis `createClient`
// and `createCluster`), both started here on 127.0.0.1. The same tests run
// on each; those about a second process run where data is shared.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { UserTrail } from 'usertrail';
import { redisStore } from 'usertrail/redis';
import { T0, code } from './helpers.mjs';
import { RedisServer, cli, createClient, createCluster, startCluster } from './redis-server.mjs';

const MIN = 60_000;
let prefixes = 0;

/** Where the contracts run. */
const backends = [
  {
    name: 'SQLite',
    shared: false,
    async setup() {},
    async teardown() {},
    async open(options) {
      return UserTrail.open(options);
    },
  },
  {
    name: 'Redis',
    shared: true,
    async setup() {
      this.server = await RedisServer.start();
      this.clients = [];
    },
    async client() {
      const c = await createClient({ url: this.server.url }).on('error', () => {}).connect();
      this.clients.push(c);
      return c;
    },
    async teardown() {
      await Promise.all(this.clients.map((c) => c.quit()));
      await this.server.stop();
    },
    async open(options, prefix) {
      return UserTrail.open({ ...options, shared: redisStore(await this.client(), { prefix }) });
    },
  },
  {
    name: 'Redis Cluster',
    shared: true,
    async setup() {
      this.cluster = await startCluster();
      this.clients = [];
    },
    async client() {
      const c = await createCluster({ rootNodes: this.cluster.rootNodes }).on('error', () => {}).connect();
      this.clients.push(c);
      return c;
    },
    async teardown() {
      // No script of the whole suite touched keys of two slots.
      for (const n of this.cluster.nodes) {
        assert.doesNotMatch(cli(n.port, 'info', 'errorstats'), /CROSSSLOT/, `node ${n.port}`);
        const keys = Number(cli(n.port, 'dbsize').trim());
        assert.ok(keys > 0, `node ${n.port} holds none of the keys`);
      }
      await Promise.all(this.clients.map((c) => c.quit()));
      await this.cluster.stop();
    },
    async open(options, prefix) {
      return UserTrail.open({ ...options, shared: redisStore(await this.client(), { prefix }) });
    },
  },
];

for (const backend of backends) {
  describe(`contracts on ${backend.name}`, () => {
    before(() => backend.setup());
    after(() => backend.teardown());

    /** Two engines on the same data (two processes, as far as the store can tell), one clock. */
    async function pair(options = {}) {
      let now = T0;
      const clock = () => now;
      const prefix = `js${process.pid}x${prefixes++}`;
      const a = await backend.open({ clock, ...options }, prefix);
      const b = backend.shared ? await backend.open({ clock, ...options }, prefix) : a;
      return { a, b, advance: (ms) => (now += ms) };
    }

    test('sessions: create, validate, state, rotate, login, destroy, on another process too', async () => {
      const { a, b, advance } = await pair();
      const anon = await a.sessions.create({ ip: '203.0.113.9', data: { cart: ['tea'] } });
      assert.match(anon.token, /^a[\w-]{8}\.[\w-]{22}\.[\w-]{43}$/);
      assert.equal((await b.sessions.validate(anon.token)).sessionId, anon.sessionId);
      assert.deepEqual(await b.sessions.get(anon.token), { cart: ['tea'] });
      const v = await b.sessions.set(anon.token, 'step', 1);
      assert.equal(await a.sessions.merge(anon.token, { step: 2, cart: null, big: 2 ** 53 - 1 }, { expectedVersion: v }), v + 1);
      assert.equal(await code(() => b.sessions.merge(anon.token, { step: 3 }, { expectedVersion: v })), 'CONFLICT');
      assert.deepEqual(await a.sessions.get(anon.token), { step: 2, big: 2 ** 53 - 1 });
      const user = await b.sessions.login(anon.token, 'ann');
      assert.match(user.token, /^u[0-9a-f]{16}\./);
      assert.equal(await a.sessions.validate(anon.token), null, 'the old token died at once');
      assert.deepEqual(await a.sessions.get(user.token), { step: 2, big: 2 ** 53 - 1 }, 'the state followed the login');
      const rotated = await a.sessions.rotate(user.token);
      assert.equal(await b.sessions.validate(user.token), null);
      assert.equal((await b.sessions.list('ann')).length, 1);
      assert.equal(await b.sessions.destroy(rotated.token), true);
      assert.equal(await a.sessions.validate(rotated.token), null, 'a logout is seen at once');
      const late = await a.sessions.create({ userId: 'ann' });
      advance(31 * MIN);
      assert.equal(await b.sessions.validate(late.token), null, 'expired by the engine clock');
      assert.equal(await code(() => a.sessions.get(late.token)), 'SESSION_NOT_FOUND');
    });

    test('sessions: the per-user limit evicts the least recently used; sign out everywhere else', async () => {
      const { a, b, advance } = await pair({ sessions: { maxSessionsPerUser: 2 } });
      const first = await a.sessions.create({ userId: 'bob' });
      advance(MIN);
      const second = await b.sessions.create({ userId: 'bob' });
      advance(MIN);
      await a.sessions.validate(first.token);
      advance(MIN);
      const third = await b.sessions.create({ userId: 'bob' });
      assert.equal(await a.sessions.validate(second.token), null, 'the least recently used went');
      assert.deepEqual((await a.sessions.list('bob')).map((s) => s.sessionId).sort(), [first.sessionId, third.sessionId].sort());
      assert.equal(await b.sessions.destroyAllForUser('bob', { exceptSessionId: third.sessionId }), 1);
      assert.equal(await a.sessions.validate(first.token), null);
      assert.ok(await a.sessions.validate(third.token));
      assert.equal(await a.sessions.destroyBySessionId('bob', third.sessionId), true);
      assert.deepEqual(await b.sessions.list('bob'), []);
    });

    test('sessions: writers of different keys on two processes lose nothing', async () => {
      const { a, b } = await pair();
      const { token } = await a.sessions.create();
      await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).sessions.set(token, `k${i}`, i)));
      const state = await a.sessions.get(token);
      assert.equal(Object.keys(state).length, 40);
      assert.equal((await b.sessions.validate(token)).version, 40);
    });

    test('sessions: bad input gets a typed error or null, and stores nothing', async () => {
      const { a } = await pair({ sessions: { maxStateBytes: 1024 } });
      for (const token of ['', 'x', "' OR 1=1 --", 'a'.repeat(100_000), 'u0123456789abcdef.aaaaaaaaaaaaaaaaaaaaaa.' + 'A'.repeat(43)]) {
        assert.equal(await a.sessions.validate(token), null, token.slice(0, 20));
      }
      assert.equal(await code(() => a.sessions.validate(42)), 'INVALID_INPUT');
      const { token } = await a.sessions.create();
      assert.equal(await code(() => a.sessions.set(token, 'big', 'x'.repeat(2000))), 'PAYLOAD_TOO_LARGE');
      assert.equal(await code(() => a.sessions.set(token, 'a"b', 1)), 'INVALID_INPUT');
      assert.deepEqual(await a.sessions.get(token), {});
      assert.equal(await code(() => a.sessions.create({ userId: 'x'.repeat(300) })), 'INVALID_INPUT');
    });

    test('preferences: defaults, set, getAll, an atomic setMany, reset, history; seen by the other process', async () => {
      const { a, b } = await pair();
      for (const t of [a, b]) await t.prefs.define({ key: 'ui.font', category: 'ui', type: 'number', default: 12, min: 8, max: 40 });
      assert.equal((await b.prefs.get('ann', 'ui.font')).value, 12);
      await a.prefs.set('ann', 'ui.font', 16, { source: 'settings' });
      assert.deepEqual(await b.prefs.get('ann', 'ui.font'), { key: 'ui.font', category: 'ui', value: 16, isDefault: false, updatedAt: T0 });
      assert.equal(await code(() => b.prefs.setMany('ann', { 'appearance.theme': 'dark', 'ui.font': 99 })), 'INVALID_INPUT');
      assert.equal((await a.prefs.get('ann', 'appearance.theme')).value, 'system', 'nothing of a refused setMany was written');
      await b.prefs.setMany('ann', { 'appearance.theme': 'dark', 'ui.font': 18 });
      const all = await a.prefs.getAll('ann', { category: 'ui' });
      assert.deepEqual(all.map((p) => [p.key, p.value]), [['ui.font', 18]]);
      assert.equal(await a.prefs.reset('ann', 'ui.font'), 1);
      assert.equal((await b.prefs.get('ann', 'ui.font')).isDefault, true);
      const history = await b.prefs.history('ann');
      assert.deepEqual(history.map((h) => [h.key, h.oldValue, h.newValue]), [
        ['ui.font', null, 16],
        ['appearance.theme', null, 'dark'],
        ['ui.font', 16, 18],
        ['ui.font', 18, null],
      ]);
      assert.equal(await code(() => a.prefs.get('', 'ui.font')), 'INVALID_INPUT');
      assert.equal(await code(() => a.prefs.get('ann', 'no.such')), 'UNKNOWN_PREFERENCE');
    });

    test('consent: grant, withdraw, GPC, ledger per subject that verifies; gating reads it on the other process', async () => {
      const { a, b } = await pair({ privacy: { requireConsent: ['analytics'] } });
      const subjectOpt = backend.shared ? { subject: 'cy' } : {};
      assert.equal((await b.tracking.track({ name: 'before', userId: 'cy' })).status, 'no_consent');
      const s = await a.privacy.grant('cy', { purposes: ['analytics', 'marketing'], source: 'banner', text: 'We count visits.', ip: '203.0.113.9' });
      assert.equal(s.purposes.analytics.granted, true);
      assert.equal((await b.privacy.status('cy')).purposes.marketing.granted, true);
      assert.equal((await b.tracking.track({ name: 'after', userId: 'cy' })).status, 'stored', 'the grant on A lets B store');
      await b.privacy.applyGlobalPrivacyControl('cy');
      assert.equal((await a.privacy.status('cy')).doNotSell, true);
      await b.privacy.withdraw('cy', { purposes: ['analytics'], source: 'settings' });
      assert.equal((await a.tracking.track({ name: 'gone', userId: 'cy' })).status, 'no_consent', 'the withdrawal on B stops A');
      const ledger = await a.privacy.ledger(subjectOpt.subject ? subjectOpt : { subject: 'cy' });
      assert.deepEqual(ledger.map((e) => e.action), ['grant', 'gpc', 'withdraw']);
      assert.equal(ledger[0].ipMasked, '203.0.0.0', 'proof keeps a masked IP');
      const head = await b.privacy.ledgerHead(subjectOpt);
      assert.equal((await a.privacy.verifyLedger({ ...subjectOpt, head })).ok, true);
      if (backend.shared) {
        assert.equal(await code(() => a.privacy.verifyLedger()), 'INVALID_INPUT', 'a shared ledger is per subject');
      }
      assert.equal(await code(() => a.privacy.grant('cy', { purposes: ['nope'], source: 'x' })), 'UNKNOWN_PURPOSE');
    });

    test('consent: two processes granting and withdrawing at once leave a ledger that verifies', async () => {
      const { a, b } = await pair();
      await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          i % 2
            ? a.privacy.grant('dee', { purposes: ['analytics'], source: `a${i}` })
            : b.privacy.withdraw('dee', { purposes: ['analytics'], source: `b${i}` }),
        ),
      );
      const opt = backend.shared ? { subject: 'dee' } : {};
      const report = await a.privacy.verifyLedger(opt);
      assert.equal(report.ok, true, JSON.stringify(report.problems));
      assert.equal((await b.privacy.ledger({ subject: 'dee', limit: 100 })).length, 20);
    });

    test('identify: an anonymous visitor\'s preferences and consent follow the login', async () => {
      const { a, b } = await pair({ privacy: { requireConsent: ['analytics'] } });
      await a.privacy.grant('anon-1', { purposes: ['analytics'], source: 'banner' });
      await a.prefs.set('anon-1', 'appearance.theme', 'dark');
      await b.tracking.identify('anon-1', 'eve');
      assert.equal((await a.prefs.get('eve', 'appearance.theme')).value, 'dark');
      assert.equal((await a.privacy.status('eve')).purposes.analytics.granted, true);
      assert.equal((await a.tracking.track({ name: 'x', userId: 'eve' })).status, 'stored');
    });

    test('export and erase reach what the shared store keeps, and are audited', async () => {
      const { a, b } = await pair();
      const s = await a.sessions.create({ userId: 'fay', data: { cart: [1] } });
      await a.prefs.set('fay', 'appearance.theme', 'dark');
      await a.privacy.grant('fay', { purposes: ['analytics'], source: 'banner', ip: '198.51.100.7' });
      const file = await b.privacy.export('fay', { format: 'json' });
      const doc = JSON.parse(new TextDecoder().decode(file.bytes));
      const tables = doc.tables;
      const rows = (name) => (backend.shared ? tables[`shared${name[0].toUpperCase()}${name.slice(1)}`] : tables[name]);
      assert.equal(rows('sessions').length, 1);
      assert.equal(rows('sessions')[0].sessionId, s.sessionId);
      assert.equal(rows('prefs')[0].value, 'dark');
      assert.equal(rows('consentLedger').length, 1);
      assert.ok(!new TextDecoder().decode(file.bytes).includes(s.token.split('.')[2]), 'never a token');
      const report = await b.privacy.erase('fay', { reason: 'user request' });
      assert.ok(report.auditSeq > 0);
      assert.equal(await a.sessions.validate(s.token), null);
      assert.equal((await a.prefs.get('fay', 'appearance.theme')).isDefault, true);
      assert.equal((await a.privacy.status('fay')).decided, false);
      const audit = await b.privacy.audit({ action: 'erase' });
      assert.equal(audit.length, 1);
      if (backend.shared) {
        // The ledger keeps its entries as proof, without the subject; it still verifies.
        const ledger = await a.privacy.ledger({ subject: 'fay' });
        assert.equal(ledger.length, 1);
        assert.equal(ledger[0].subject, null);
        assert.equal(ledger[0].ipMasked, null);
        assert.equal((await a.privacy.verifyLedger({ subject: 'fay' })).ok, true);
      }
    });
  });
}
