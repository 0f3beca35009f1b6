// trail.tracking and the Tracker through the packed package. The rules
// themselves are tested in Rust (tests/tracking.rs).
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { Tracker, UserTrail, UserTrailError, uuidv7 } from 'usertrail';
import { T0, code, engine } from './helpers.mjs';

test('track, re-track, history and count', async () => {
  const { tracking } = await engine();
  const first = await tracking.track({
    type: 'page',
    name: 'page_view',
    path: '/pricing',
    userId: 'alice',
    ip: '203.0.113.7',
    properties: { plan: 'pro', nested: { a: [1, 2] } },
  });
  assert.equal(first.status, 'stored');
  assert.match(first.eventId, /^[0-9a-f]{8}-[0-9a-f]{4}-7/);
  assert.deepEqual(await tracking.track({ eventId: first.eventId, name: 'page_view', userId: 'alice' }), {
    eventId: first.eventId,
    status: 'duplicate',
  });
  const page = await tracking.history({ userId: 'alice' });
  assert.equal(page.nextCursor, null);
  assert.equal(page.events.length, 1);
  const [e] = page.events;
  assert.equal(e.ts, T0);
  assert.equal(e.type, 'page');
  assert.equal(e.client.ip, '203.0.0.0');
  assert.deepEqual(e.properties, { plan: 'pro', nested: { a: [1, 2] } });
  assert.equal(await tracking.count({ userId: 'alice', names: ['page_view'] }), 1);
});

test('count with no subject counts every event; paging keys and two subjects are refused', async () => {
  const { tracking } = await engine();
  await tracking.track({ name: 'a', userId: 'u1' });
  await tracking.track({ name: 'b', anonymousId: 'v1', type: 'page' });
  assert.equal(await tracking.count(), 2);
  assert.equal(await tracking.count({}), 2);
  assert.equal(await tracking.count({ names: ['a'] }), 1);
  assert.equal(await tracking.count({ types: ['page'] }), 1);
  assert.equal(await code(() => tracking.count({ limit: 5 })), 'INVALID_INPUT');
  assert.equal(await code(() => tracking.count({ userId: 'u1', anonymousId: 'v1' })), 'INVALID_INPUT');
  assert.equal(await code(() => tracking.count('u1')), 'INVALID_INPUT');
  assert.equal(await tracking.count(), 2);
});

test('packBlocks packs the blocks analytics reads, step by step, and refuses bad options', async () => {
  const { trail, tracking } = await engine({ storage: 'memory' });
  // 5,000 events: one complete block of 4,096 ids, which ingest packs.
  const events = Array.from({ length: 5000 }, (_, i) => ({ name: 'e', userId: `u${i % 50}`, ts: T0 - 5000 + i }));
  for (let i = 0; i < events.length; i += 1000) await tracking.trackBatch(events.slice(i, i + 1000));
  assert.deepEqual(await tracking.packBlocks(), { packed: 0, remaining: 0 });
  // An erasure drops the block that held the subject; packBlocks packs it again.
  await trail.privacy.erase('u7', { reason: 'test' });
  assert.deepEqual(await tracking.packBlocks({ max: 1 }), { packed: 1, remaining: 0 });
  for (const bad of [{ max: 0 }, { max: -1 }, { max: 1.5 }, { max: '2' }, { max: 10_001 }, { maxx: 1 }, 'x', [1]]) {
    assert.equal(await code(() => tracking.packBlocks(bad)), 'INVALID_INPUT', JSON.stringify(bad));
  }
  const getter = { get max() { throw new Error('boom'); } };
  assert.equal(await code(() => tracking.packBlocks(getter)), 'INVALID_INPUT');
  assert.equal(await tracking.count(), 5000 - 100);
});

test('trackBatch: all or nothing, or per-event results', async () => {
  const { tracking } = await engine();
  const batch = [{ name: 'a', userId: 'u' }, { name: '', userId: 'u' }, { name: 'b', userId: 'u' }];
  assert.equal(await code(() => tracking.trackBatch(batch)), 'INVALID_INPUT');
  assert.equal(await tracking.count({ userId: 'u' }), 0);
  const results = await tracking.trackBatch(batch, { partial: true });
  assert.deepEqual(
    results.map((r) => r.status),
    ['stored', 'rejected', 'stored'],
  );
  assert.equal(results[1].error.code, 'INVALID_INPUT');
  assert.equal(results[1].error.field, 'events[1].name');
  assert.equal(await tracking.count({ userId: 'u' }), 2);
});

test('trackBatch keeps text with line breaks and control characters exactly, and fails only the bad elements', async () => {
  // The events cross to the engine one line each (src/wasm/input.js
  // toJsonEach): text that holds line breaks, U+0001 (the refusal mark),
  // U+2028, quotes or backslashes must come back as sent (names refuse
  // control characters, so the odd text is in the properties).
  const { tracking } = await engine();
  const odd = 'a\nb\r\u0001c\u2028d\u2029"e\\f\u0000g';
  const bytes = new Uint8Array([1, 10, 255]);
  const results = await tracking.trackBatch(
    [
      { name: 'odd\u2028', userId: 'u', properties: { [odd]: odd, list: [odd, 1.5, null, true] } },
      { name: 'bigint key', userId: 'u', properties: { ['k\n\u0001']: 1n } },
      { name: 'bytes', userId: 'u', properties: { b: bytes } },
      { name: 'nan', userId: 'u', properties: { n: NaN } },
      { name: 'getter', userId: 'u', get properties() { throw new Error('no\nway'); } },
      { name: 'last', userId: 'u', properties: { when: new Date(T0) } },
    ],
    { partial: true },
  );
  assert.deepEqual(
    results.map((r) => r.status),
    ['stored', 'rejected', 'stored', 'rejected', 'rejected', 'stored'],
  );
  assert.equal(results[1].error.field, 'events[1].properties.k\n\u0001');
  assert.equal(results[3].error.field, 'events[3].properties.n');
  assert.equal(results[4].error.field, 'events[4].properties');
  assert.match(results[4].error.message, /no\nway/);
  const { events } = await tracking.history({ userId: 'u' });
  const byName = Object.fromEntries(events.map((e) => [e.name, e]));
  assert.deepEqual(Object.keys(byName).sort(), ['bytes', 'last', 'odd\u2028']);
  assert.deepEqual(byName['odd\u2028'].properties, { [odd]: odd, list: [odd, 1.5, null, true] });
  assert.deepEqual(byName.bytes.properties, { b: { $bytes: 'AQr/' } });
  assert.deepEqual(byName.last.properties, { when: new Date(T0).toISOString() });
  assert.deepEqual(await tracking.trackBatch([], { partial: true }), []);
  assert.deepEqual(await tracking.trackBatch([]), []);
  assert.equal(await code(() => tracking.trackBatch('not an array')), 'INVALID_INPUT');
});

test('bytes of every kind are stored as {$bytes}, and a Map, Set or Promise is refused where JSON would store {}', async () => {
  // JSON.stringify runs a Buffer's toJSON first ({ type: 'Buffer', data })
  // and writes an ArrayBuffer, a Map or a Set as {}: the value would be lost
  // without an error.
  const { tracking } = await engine();
  const raw = new Uint8Array([1, 10, 255]);
  await tracking.track({
    name: 'bytes',
    userId: 'u',
    properties: {
      buffer: Buffer.from(raw),
      arrayBuffer: raw.slice().buffer,
      view: new DataView(raw.slice().buffer),
      words: new Uint16Array([0x0a01, 0x00ff]),
      list: [Buffer.from([1])],
      looksLikeOne: { type: 'Buffer', data: [1, 2] },
    },
  });
  const { events } = await tracking.history({ userId: 'u' });
  assert.deepEqual(events[0].properties, {
    buffer: { $bytes: 'AQr/' },
    arrayBuffer: { $bytes: 'AQr/' },
    view: { $bytes: 'AQr/' },
    words: { $bytes: 'AQr/AA==' },
    list: [{ $bytes: 'AQ==' }],
    looksLikeOne: { type: 'Buffer', data: [1, 2] },
  });
  const refusals = [
    [{ m: new Map([['a', 1]]) }, 'properties.m', /Map .*Object\.fromEntries/],
    [{ deep: [1, { s: new Set([1]) }] }, 'properties.deep[1].s', /Set/],
    [{ p: Promise.resolve(1) }, 'properties.p', /Promise/],
    [{ w: new WeakMap() }, 'properties.w', /WeakMap/],
    [{ e: new TypeError('boom') }, 'properties.e', /Error .*err\.message/],
    [{ r: /x/g }, 'properties.r', /RegExp/],
    // Known by their internal slots, whatever their tag or prototype says.
    [{ tagged: new (class LRU extends Map { get [Symbol.toStringTag]() { return 'LRU'; } })() }, 'properties.tagged', /Map/],
    [{ bare: Object.setPrototypeOf(new Set([1]), null) }, 'properties.bare', /Set/],
    [{ plain: Object.setPrototypeOf(new Map([['a', 1]]), Object.prototype) }, 'properties.plain', /Map/],
    [{ listed: [Object.setPrototypeOf(new WeakSet(), Array.prototype)] }, 'properties.listed[0]', /WeakSet/],
    [{ g: (function* () {})() }, 'properties.g', /Generator/],
    [{ big: new Uint8Array(16 * 1024 * 1024 + 1) }, 'properties.big', /at most 16777216 bytes/],
    [{ big: Buffer.alloc(16 * 1024 * 1024 + 1) }, 'properties.big', /at most 16777216 bytes/],
    [{ it: 'aa'.matchAll(/a/g) }, 'properties.it', /iterator/],
    [{ abort: new DOMException('stop', 'AbortError') }, 'properties.abort', /Error/],
    [{ when: [new Date('not a date')] }, 'properties.when[0]', /valid Date/],
    // A Proxy over a collection (as Vue's reactive(new Map()) is) says it is one.
    [{ cart: new Proxy(new Map([['sku', 2]]), {}) }, 'properties.cart', /Map/],
    [{ tags: new Proxy(new Set([1]), {}) }, 'properties.tags', /Set/],
    [{ hidden: new Proxy(new Map([['a', 1]]), { getPrototypeOf: () => Object.prototype }) }, 'properties.hidden', /Map/],
  ];
  for (const [properties, field, message] of refusals) {
    const err = await tracking.track({ name: 'bad', userId: 'u', properties }).then(() => null, (e) => e);
    assert.equal(err?.code, 'INVALID_INPUT', field);
    assert.equal(err.field, field);
    assert.match(err.message, message);
  }
  // Bytes are a value, not an object of properties.
  for (const properties of [Buffer.from('hi'), new Uint8Array(2), new ArrayBuffer(2)]) {
    const err = await tracking.track({ name: 'bad', userId: 'u', properties }).then(() => null, (e) => e);
    assert.deepEqual([err?.code, err?.field], ['INVALID_INPUT', 'properties']);
    assert.match(err.message, /plain object, not bytes/);
  }
  // A detector must not take bytes' base64 for a card number.
  await tracking.track({ name: 'card-like', userId: 'c', properties: { b: Buffer.from('4111111111111111', 'base64') } });
  const [cardLike] = (await tracking.history({ userId: 'c' })).events;
  assert.deepEqual(cardLike.properties, { b: { $bytes: '4111111111111111' } });
  // Text that is not base64 around a hand-written $bytes is redacted.
  await tracking.track({ name: 'wrapped', userId: 'w', properties: { w: { $bytes: 'bob@example.com' } } });
  const [wrapped] = (await tracking.history({ userId: 'w' })).events;
  assert.deepEqual(wrapped.properties, { w: { $bytes: '[email]' } });
  // A Buffer behind a getter is bytes too (Buffer's toJSON, which writes an
  // array of numbers, does not run).
  await tracking.track({ name: 'getter', userId: 'g', properties: { get b() { return Buffer.from('hi'); } } });
  const [getter] = (await tracking.history({ userId: 'g' })).events;
  assert.deepEqual(getter.properties, { b: { $bytes: 'aGk=' } });
  assert.equal(typeof Buffer.prototype.toJSON, 'function');
  assert.deepEqual(Buffer.from('hi').toJSON(), { type: 'Buffer', data: [104, 105] }, "Node's own toJSON is back");
  const results = await tracking.trackBatch(
    [{ name: 'ok', userId: 'u' }, { name: 'bad', userId: 'u', properties: { m: new Map() } }],
    { partial: true },
  );
  assert.deepEqual(results.map((r) => r.status), ['stored', 'rejected']);
  assert.equal(results[1].error.field, 'events[1].properties.m');
  // An element past 256 KiB of JSON fails alone, unread; a batch past
  // 16 MiB in all fails whole, before the engine reads it.
  const wide = { name: 'wide', userId: 'u', properties: { a: 'x'.repeat(300_000) } };
  const sized = await tracking.trackBatch([{ name: 'ok2', userId: 'u' }, wide], { partial: true });
  assert.deepEqual(sized.map((r) => r.status), ['stored', 'rejected']);
  assert.equal(sized[1].error.field, 'events[1]');
  assert.match(sized[1].error.message, /too large: at least \d+ bytes of JSON, at most 262144/);
  // So does the event `track` is given: a million small objects (class
  // instances, which JSON writes as their fields) are refused for their
  // size before the engine reads them.
  class Point { constructor(i) { this.x = i; } }
  const points = { name: 'points', userId: 'u', properties: { p: Array.from({ length: 1_000_000 }, (_, i) => new Point(i)) } };
  const tooWide = await tracking.track(points).then(() => null, (e) => e);
  assert.deepEqual([tooWide?.code, tooWide?.field], ['INVALID_INPUT', 'event']);
  assert.match(tooWide.message, /too large: at least \d+ bytes of JSON, at most 262144/);
  // Measured in bytes of UTF-8, not in UTF-16 units: 140,000 'é' are
  // 280,000 bytes.
  const accents = await tracking.track({ name: 'accents', userId: 'u', properties: { p: 'é'.repeat(140_000) } }).then(() => null, (e) => e);
  assert.deepEqual([accents?.code, accents?.field], ['INVALID_INPUT', 'event']);
  assert.match(accents.message, /too large: 2800\d\d bytes of JSON, at most 262144/);
  const many = Array.from({ length: 80 }, () => ({ name: 'm', userId: 'u', properties: { a: 'x'.repeat(250_000) } }));
  const all = await tracking.trackBatch(many, { partial: true }).then(() => null, (e) => e);
  assert.deepEqual([all?.code, all?.field], ['INVALID_INPUT', 'events']);
  assert.match(all.message, /in all: send fewer events per call/);
  const after = await tracking.history({ userId: 'u' });
  assert.deepEqual(after.events.map((e) => e.name).sort(), ['bytes', 'ok', 'ok2']);
});

test('trackBatch and track refuse what the first reading refused, and name where', async () => {
  const { tracking } = await engine();
  // A value refused or thrown on its first read fails, whatever a second
  // read (to find where) would give: what is stored is what was read once.
  let a = 0;
  let b = 0;
  let c = 0;
  const cycle = { name: 'cycle', userId: 'u', properties: { a: {} } };
  cycle.properties.a.back = cycle.properties;
  const holey = [{ name: 'ok', userId: 'u' }];
  Object.defineProperty(holey, 1, { enumerable: true, get: () => { throw new Error('index'); } });
  holey.push({ name: 'ok2', userId: 'u' });
  const results = await tracking.trackBatch(
    [
      { name: 'nan first', userId: 'u', get ts() { return a++ ? T0 : NaN; } },
      { name: 'bigint first', userId: 'u', properties: { get v() { return b++ ? 2 : 1n; } } },
      { name: 'throws first', userId: 'u', properties: { get w() { if (c++ === 0) throw new Error('once'); return 1; } } },
      { name: 'lone key', userId: 'u', properties: { ['k\uD800']: 1n } },
      { name: 'nul key', userId: 'u', properties: { ['a\u0000b']: 1n } },
      { name: 'lone message', userId: 'u', get properties() { throw new Error('bad \uDC00'); } },
      cycle,
    ],
    { partial: true },
  );
  assert.deepEqual(results.map((r) => r.status), Array(7).fill('rejected'));
  assert.deepEqual(
    results.map((r) => r.error.field),
    [
      'events[0].ts',
      'events[1].properties.v',
      // A getter that threw once and not again cannot be found again.
      'events[2]',
      'events[3].properties.k\uFFFD',
      'events[4].properties.a\u0000b',
      'events[5].properties',
      'events[6].properties.a.back',
    ],
  );
  assert.match(results[1].error.message, /must not be a BigInt/);
  assert.match(results[3].error.message, /must not be a BigInt/);
  assert.match(results[4].error.message, /must not be a BigInt/);
  assert.match(results[5].error.message, /could not be read: bad \uFFFD/);
  assert.match(results[6].error.message, /cycle/);
  // A throwing index fails its element alone.
  const mixed = await tracking.trackBatch(holey, { partial: true });
  assert.deepEqual(mixed.map((r) => r.status), ['stored', 'rejected', 'stored']);
  assert.equal(mixed[1].error.field, 'events[1]');
  let d = 0;
  assert.equal(await code(() => tracking.track({ name: 'x', userId: 'u', properties: { get v() { return d++ ? 2 : 1n; } } })), 'INVALID_INPUT');
  assert.equal(await tracking.count({ userId: 'u' }), 2);
  // Past the cap, refused before any element is read.
  let read = 0;
  const big = new Array(10_001).fill({ name: 'x', userId: 'v' });
  big[0] = { get name() { read++; return 'x'; }, userId: 'v' };
  await assert.rejects(
    async () => tracking.trackBatch(big, { partial: true }),
    (err) => err instanceof UserTrailError && err.field === 'events' && /at most 10000 events per batch/.test(err.message),
  );
  assert.equal(read, 0);
});

test('schemas, dimensions and the quarantine', async () => {
  const { tracking } = await engine({ tracking: { validation: 'quarantine' } });
  await tracking.defineEvent('checkout', { required: { total: 'number', currency: { enum: ['EUR'] } } });
  await tracking.defineDimension({ name: 'plan' });
  const r = await tracking.track({ name: 'checkout', userId: 'a', properties: { total: 'x', currency: 'EUR' } });
  assert.equal(r.status, 'quarantined');
  const [q] = await tracking.quarantine.list();
  assert.equal(q.code, 'SCHEMA_VIOLATION');
  assert.equal(q.field, 'properties.total');
  assert.equal(await code(() => tracking.quarantine.retry(q.id)), 'SCHEMA_VIOLATION');
  assert.equal(await tracking.quarantine.discard(q.id), true);
  const ok = await tracking.track({
    name: 'checkout',
    userId: 'a',
    properties: { total: 9, currency: 'EUR' },
    dimensions: { plan: 'pro' },
  });
  assert.equal(ok.status, 'stored');
  const { events } = await tracking.history({ userId: 'a' });
  assert.deepEqual(events[0].dimensions, { plan: 'pro' });
  const strict = (await engine()).tracking;
  assert.equal(await code(() => strict.track({ name: 'x', dimensions: { plan: 'pro' } })), 'UNKNOWN_DIMENSION');
  // Each names its field, with the event's place in a batch.
  const fault = (p) => p.then(() => null, (e) => [e.code, e.field]);
  await strict.defineEvent('checkout', { required: { total: 'number' } });
  await strict.defineDimension({ name: 'beta', type: 'bool' });
  assert.deepEqual(await fault(strict.track({ name: 'x', userId: 'a', dimensions: { plan: 'pro' } })), ['UNKNOWN_DIMENSION', 'dimensions.plan']);
  assert.deepEqual(
    await fault(strict.trackBatch([{ name: 'x', userId: 'a' }, { name: 'x', userId: 'a', dimensions: { beta: 'yes' } }])),
    ['SCHEMA_VIOLATION', 'events[1].dimensions.beta'],
  );
  assert.deepEqual(
    await fault(strict.trackBatch([{ name: 'x', userId: 'a' }, { name: 'x', userId: 'a' }, { name: 'checkout', userId: 'a', properties: { total: 'x' } }])),
    ['SCHEMA_VIOLATION', 'events[2].properties.total'],
  );
  const [one] = await strict.trackBatch([{ name: 'x', userId: 'a', dimensions: { plan: 'pro' } }], { partial: true });
  assert.deepEqual([one.error.code, one.error.field], ['UNKNOWN_DIMENSION', 'events[0].dimensions.plan']);
  // A dimension no query could name, and a definition's fields.
  assert.deepEqual(await fault(strict.defineDimension({ name: 'a"b' })), ['INVALID_INPUT', 'definition.name']);
  assert.deepEqual(await fault(strict.defineDimension({ name: 'beta', type: 'string' })), ['INVALID_INPUT', 'definition.type']);
  // A type a dimension cannot have: the message lists those it can.
  const wrongType = await strict.defineDimension({ name: 'seats', type: 'object' }).catch((e) => e);
  assert.deepEqual([wrongType.code, wrongType.field], ['INVALID_INPUT', 'definition.type']);
  assert.match(wrongType.message, /`string`, `number`, `bool`$/);
  assert.equal((await strict.history({ userId: 'a' })).events.length, 0, 'nothing stored');
});

test('identify links anonymous events to the user', async () => {
  const { tracking } = await engine();
  await tracking.track({ type: 'page', name: 'landing', anonymousId: 'anon-1' });
  assert.equal(await tracking.identify('anon-1', 'alice'), 1);
  await tracking.track({ type: 'page', name: 'signup', anonymousId: 'anon-1' });
  assert.equal(await tracking.count({ userId: 'alice' }), 2);
});

test('the outbox: take, ack, nack with the clock, stats', async () => {
  const { tracking, advance } = await engine({ tracking: { outbox: { cap: 2 } } });
  for (const name of ['a', 'b', 'c']) await tracking.track({ name, userId: 'u' });
  assert.deepEqual(await tracking.outbox.stats(), { queued: 2, leased: 0, dropped: 1, withheld: 0 });
  const batch = await tracking.outbox.take(10);
  assert.deepEqual(
    batch.events.map((e) => e.name),
    ['b', 'c'],
  );
  assert.equal(await tracking.outbox.take(10), null);
  assert.equal(await tracking.outbox.nack(batch.batchId), 2);
  advance(3_000);
  const again = await tracking.outbox.take(10);
  assert.equal(again.events.length, 2);
  assert.equal(await tracking.outbox.ack(again.batchId), 2);
  assert.equal(await code(() => tracking.outbox.ack(again.batchId)), 'NOT_FOUND');
});

test('bad events get typed errors and store nothing', async () => {
  const { trail, tracking } = await engine();
  const before = await trail.export();
  const lone = String.fromCharCode(0xd800);
  const cases = [
    [{ name: 'x', ts: Number.NaN }, 'ts'],
    [{ name: 'x', ts: -1 }, 'ts'],
    [{ name: 'x', properties: [1, 2] }, 'properties'],
    [{ name: 'x', properties: 'text' }, 'properties'],
    [{ name: 'x', colour: 'red' }, 'colour'],
    [{ name: 'x', type: 'click' }, 'type'],
    [{ name: `bad ${lone} utf-16` }, 'name'],
    [{ name: 'x', url: 'u'.repeat(5000) }, 'url'],
    // Past 256 KiB of JSON, the event as a batch's element would be.
    [{ name: 'x', url: 'u'.repeat(10 * 1024 * 1024) }, 'event'],
    [{ name: 'x'.repeat(201) }, 'name'],
    [{ name: 'x', properties: { n: 10n } }, 'properties.n'],
    ['page_view', 'event'],
  ];
  for (const [event, field] of cases) {
    try {
      await tracking.track(event);
      assert.fail(`no error for ${JSON.stringify(event)?.slice(0, 80)}`);
    } catch (err) {
      assert.ok(err instanceof UserTrailError, String(err));
      assert.equal(err.code, 'INVALID_INPUT');
      assert.equal(err.field, field, String(err.message));
    }
  }
  assert.equal(await code(() => tracking.history({ userId: 'a', cursor: 'forged' })), 'INVALID_INPUT');
  assert.equal(await code(() => tracking.history({})), 'INVALID_INPUT');
  assert.deepEqual((await trail.export()), before);
});

test('Tracker batches by size and time, and keeps ids across retries', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const { trail, tracking } = await engine();
  const tracker = new Tracker(trail, { maxBatch: 3, flushIntervalMs: 20 });
  const id = tracker.track({ name: 'a', userId: 'u' });
  assert.match(id, /^[0-9a-f-]{36}$/);
  tracker.track({ name: 'b', userId: 'u' });
  assert.equal(tracker.pending, 2);
  tracker.track({ name: 'c', userId: 'u' }); // the third event flushes
  assert.equal(tracker.pending, 0);
  await tracker.flush();
  assert.equal(await tracking.count({ userId: 'u' }), 3);
  tracker.track({ name: 'd', userId: 'u' });
  t.mock.timers.tick(19);
  assert.equal(tracker.pending, 1, 'flushed before its interval');
  t.mock.timers.tick(1); // the Tracker's own timer fires
  assert.equal(tracker.pending, 0);
  await tracker.flush(); // waits for the flush the timer started
  assert.equal(await tracking.count({ userId: 'u' }), 4);
  await tracker.close();
  assert.equal(uuidv7(0).slice(0, 13), '00000000-0000');
});

test('Tracker puts a refused batch back for the next flush', async () => {
  const { trail } = await engine();
  const errors = [];
  const failing = { tracking: { trackBatch: () => { throw new Error('closed'); } } };
  const tracker = new Tracker(failing, { onError: (e) => errors.push(e.message) });
  tracker.track({ name: 'a' });
  tracker.track({ name: 'b' });
  await tracker.flush();
  assert.deepEqual(errors, ['closed']);
  assert.equal(tracker.pending, 2);
  await trail.close();
});

test('the Tracker reports each event the engine rejects, and caps its queue with counted drops', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const { trail, tracking } = await engine();
  const errors = [];
  const tracker = new Tracker(trail, { maxBatch: 100, maxQueue: 100, flushIntervalMs: 60_000, onError: (err, events) => errors.push([err.code, err.field, events.map((e) => e.name)]) });
  tracker.track({ name: 'ok', userId: 'u' });
  tracker.track({ name: 'x'.repeat(201), userId: 'u' }); // over the 200-character limit
  tracker.track({ name: 'fine', userId: 'u', ts: -5 });
  const results = await tracker.flush();
  assert.deepEqual(results.map((r) => r.status), ['stored', 'rejected', 'rejected']);
  assert.deepEqual(errors, [
    ['INVALID_INPUT', 'events[1].name', ['x'.repeat(201)]],
    ['INVALID_INPUT', 'events[2].ts', ['fine']],
  ]);
  assert.equal(tracker.pending, 0, 'rejected events are not retried');

  // The queue holds at most maxQueue events; the oldest go first.
  const closed = await engine();
  closed.trail.close(); // every flush is refused: events pile up
  const capped = new Tracker(closed.trail, { maxBatch: 3, maxQueue: 5, onError: () => {} });
  for (let i = 0; i < 12; i++) capped.track({ name: `e${i}`, userId: 'u' });
  await capped.flush();
  assert.equal(capped.pending, 5);
  assert.equal(capped.dropped, 7);
  assert.throws(() => new Tracker(trail, { maxBatch: 10, maxQueue: 5 }), (e) => e instanceof UserTrailError && e.code === 'INVALID_INPUT' && e.field === 'maxQueue');
  assert.equal(await tracking.count({ userId: 'u' }), 1);
});
