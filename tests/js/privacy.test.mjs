// trail.privacy through the packed package: consent and gating, export
// files, erasure, retention, typed errors. The rights are tested end to end
// in Rust (tests/privacy.rs, consent.rs, retention.rs); these check the
// boundary.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { UserTrail } from 'usertrail';
import { code, engine } from './helpers.mjs';

test('consent gates tracking and is proven by the ledger', async () => {
  const { trail } = await engine({ privacy: { requireConsent: ['analytics'], policyVersion: '2026-03' } });
  const p = trail.privacy;
  const before = await p.status('ann');
  assert.equal(before.decided, false);
  assert.equal(before.purposes.analytics.granted, false);
  assert.equal((await trail.tracking.track({ name: 'click', userId: 'ann' })).status, 'no_consent');
  const s = await p.grant('ann', { purposes: ['analytics'], source: 'banner', text: 'We count visits.', ip: '203.0.113.7' });
  assert.equal(s.purposes.analytics.granted, true);
  assert.equal(s.purposes.analytics.policyVersion, '2026-03');
  assert.equal((await trail.tracking.track({ name: 'click', userId: 'ann' })).status, 'stored');
  assert.equal((await p.droppedWithoutConsent()), 1);
  const [row] = await p.ledger({ subject: 'ann' });
  assert.equal(row.ipMasked, '203.0.0.0');
  assert.equal(row.textHash.length, 64);
  assert.deepEqual((await p.verifyLedger()), { ok: true, checked: 1, problems: [] });
  const { status, erased } = await p.withdraw('ann', { purposes: ['analytics'], source: 'settings', erase: true });
  assert.equal(status.purposes.analytics.granted, false);
  assert.equal(erased.events, 1);
  const gpc = await p.applyGlobalPrivacyControl('ann');
  assert.equal(gpc.doNotSell, true);
  assert.deepEqual(
    (await p.audit({ subject: 'ann' })).map((e) => e.action),
    ['consent.grant', 'consent.withdraw', 'consent.erase', 'consent.gpc'],
  );
});

test('export gives a file in each format, with progress', async () => {
  const { trail } = await engine();
  await trail.tracking.trackBatch([
    { name: 'signup', userId: 'ann', properties: { plan: 'pro', contact: 'ann@example.org' } },
    { name: 'click', userId: 'bob' },
  ]);
  const seen = [];
  const file = await trail.privacy.export('ann', { format: 'json', actor: 'support', onProgress: (x) => seen.push(x) });
  assert.ok(file.bytes instanceof Uint8Array);
  assert.equal(file.mimeType, 'application/json');
  assert.match(file.fileName, /^usertrail-export-\d+\.json$/);
  const doc = JSON.parse(new TextDecoder().decode(file.bytes));
  assert.equal(doc.version, 1);
  assert.equal(doc.tables.events.length, 1);
  // PII redaction is on by default.
  assert.equal(doc.tables.events[0].properties.contact, '[email]');
  assert.equal(seen.at(-1).tablesDone, seen.at(-1).tablesTotal);
  // onProgress runs after export has returned its Promise, never inside the call.
  let pending;
  const before = [];
  pending = trail.privacy.export('ann', { onProgress: () => before.push(pending === undefined) });
  await pending;
  assert.ok(before.length > 0 && before.every((b) => b === false), `called before export returned: ${before}`);
  for (const format of ['ndjson', 'csv', 'sqlite']) {
    const f = await trail.privacy.export('ann', { format });
    assert.ok(f.bytes.length > 0, format);
    assert.equal(f.format, format);
  }
  assert.equal(await code(() => trail.privacy.export('ann', { format: 'xml' })), 'UNSUPPORTED_FORMAT');
  assert.equal(await code(() => trail.privacy.export('ann', { onProgress: 5 })), 'INVALID_INPUT');
  assert.equal(await code(() => trail.privacy.export('', {})), 'INVALID_INPUT');
  assert.equal((await trail.privacy.audit({ action: 'export' })).length, 5, 'every export is audited');
});

test('erase, anonymize and rectify report what they changed', async () => {
  const { trail } = await engine();
  await trail.tracking.track({ name: 'click', anonymousId: 'a-1' });
  await trail.tracking.identify('a-1', 'ann');
  await trail.tracking.track({ name: 'click', userId: 'ann' });
  await trail.tracking.track({ name: 'click', userId: 'bob' });
  await trail.tracking.track({ name: 'click', userId: 'cy' });
  const r = await trail.privacy.erase('ann', { reason: 'user request', actor: 'dpo' });
  assert.equal(r.ids, 2);
  assert.equal(r.counts.events, 2);
  assert.equal(r.subjectHash.length, 64);
  assert.equal(r.vacuumed, false, 'a database created scrubbed needs no rewrite');
  const [tomb] = await trail.privacy.audit({ action: 'erase' });
  assert.equal(tomb.subject, null);
  assert.equal(tomb.actor, 'dpo');
  const anon = await trail.privacy.anonymize('bob', { vacuum: false });
  assert.deepEqual([anon.counts.events, anon.vacuumed], [1, false]);
  await trail.privacy.vacuum();
  const renamed = await trail.privacy.rectify('cy', { userId: 'cyril' });
  assert.equal(renamed.counts.events, 1);
  assert.equal(renamed.rights, undefined, 'no receipt without a shared store');
  assert.equal((await trail.tracking.history({ userId: 'cyril' })).events.length, 1);
  assert.equal((await trail.privacy.erase('ann')).ids, 1, 'a reason is optional');
  assert.equal(await code(() => trail.privacy.erase('ann', { reason: '' })), 'OK');
  assert.equal(await code(() => trail.privacy.erase('ann', { reason: 'x'.repeat(1001) })), 'INVALID_INPUT');
  assert.equal(await code(() => trail.privacy.erase('ann', { reason: 'x', extra: 1 })), 'INVALID_INPUT');
  assert.equal(await code(() => trail.privacy.grant('ann', { purposes: ['tracking'], source: 'x' })), 'UNKNOWN_PURPOSE');
  assert.equal(await code(() => trail.privacy.grant(42, { purposes: ['analytics'], source: 'x' })), 'INVALID_INPUT');
});

test('retention is set, dry-run and run by the clock', async () => {
  const DAY = 86_400_000;
  const { trail, advance } = await engine({ privacy: { retentionIntervalSecs: 3600 } });
  const r = trail.privacy.retention;
  assert.deepEqual((await r.get()), { events: '13mo', sessions: '0h', audit: '3y', quarantine: '30d', outbox: null, consent: null });
  assert.equal((await r.set({ events: '7d', actor: 'ops' })).events, '7d');
  const now = 1_700_000_000_000;
  await trail.tracking.track({ name: 'old', userId: 'ann', ts: now - 10 * DAY });
  await trail.tracking.track({ name: 'new', userId: 'ann', ts: now });
  const dry = await r.run({ dryRun: true });
  assert.equal(dry.dryRun, true);
  assert.equal(dry.counts.events, 1);
  advance(3_600_000);
  await trail.tracking.track({ name: 'later', userId: 'ann' });
  assert.equal((await trail.tracking.history({ userId: 'ann' })).events.length, 2, 'due at the next write');
  assert.equal(await code(() => r.set({ events: '13 months' })), 'INVALID_INPUT');
  assert.equal(await code(() => r.set({ cookies: '1d' })), 'INVALID_INPUT');
  assert.equal(await code(() => trail.privacy.audit({ limit: 0 })), 'INVALID_INPUT');
});

test('open refuses bad privacy settings', async () => {
  assert.equal(await code(() => engine({ privacy: { requireConsent: ['tracking'] } })), 'UNKNOWN_PURPOSE');
  assert.equal(await code(() => engine({ privacy: { policyVersion: '' } })), 'INVALID_INPUT');
  assert.equal(await code(() => engine({ privacy: { retentionDays: 3 } })), 'INVALID_INPUT');
});

test('option values are explained, chains anchor outside the database, and a chain key travels as bytes', async () => {
  for (const [privacy, message] of [
    [{ requireConsent: true }, /an array of purposes/],
    [{ requireConsent: 'analytics' }, /an array of purposes/],
    [{ keepUrlParams: 'utm_*' }, /an array of parameter names/],
    [{ chainKey: [1, 2, 3] }, /Uint8Array/],
    [{ chainKey: new Uint8Array(4) }, /16 to 1024 bytes/],
  ]) {
    await assert.rejects(
      () => UserTrail.open({ privacy }),
      (err) => err.code === 'INVALID_INPUT' && message.test(err.message),
      JSON.stringify(privacy),
    );
  }
  const chainKey = crypto.getRandomValues(new Uint8Array(32));
  const trail = await UserTrail.open({ privacy: { chainKey, keepUrlParams: ['ref'] } });
  await trail.privacy.grant('ann', { purposes: ['analytics'], source: 'banner' });
  const head = await trail.privacy.ledgerHead();
  assert.deepEqual(Object.keys(head).sort(), ['hash', 'seq']);
  assert.equal((await trail.privacy.verifyLedger({ head })).ok, true);
  assert.equal((await trail.privacy.verifyAudit({ head: (await trail.privacy.auditHead()) })).ok, true);
  const bogus = { seq: head.seq, hash: '0'.repeat(64) };
  assert.equal((await trail.privacy.verifyLedger({ head: bogus })).ok, false);
  await assert.rejects(async () => trail.privacy.verifyLedger({ head: { seq: 1 } }), (e) => e.code === 'INVALID_INPUT');

  // The same database without the key: appends are refused, checks say why.
  const keyless = await UserTrail.open({ storage: { bytes: (await trail.export()) } });
  assert.equal(await code(() => keyless.privacy.grant('bob', { purposes: ['analytics'], source: 'banner' })), 'KEY_MISSING');
  assert.match((await keyless.privacy.verifyLedger()).problems.at(-1).problem, /chainKey/);

  // keepUrlParams: 'ref' kept verbatim, the rest redacted.
  await trail.tracking.track({ name: 'page_view', userId: 'ann', url: 'https://x.test/?ref=a@b.co&email=a@b.co' });
  const [e] = (await trail.tracking.history({ userId: 'ann' })).events;
  assert.equal(e.url, 'https://x.test/?ref=a@b.co&email=[email]');
});
