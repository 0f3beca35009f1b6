// trail.analytics and trail.experiments through the packed package. The
// definitions are tested on hand-built datasets in Rust (tests/analytics.rs);
// these check the boundary: one options object, records as plain objects,
// typed errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { T0, code, engine, refusal } from './helpers.mjs';

const DAY = 86_400_000;
/** Midnight UTC before T0. */
const D0 = Math.floor(T0 / DAY) * DAY;

async function shop() {
  const e = await engine();
  const ev = (ts, user, session, type, nameOrPath) =>
    type === 'page'
      ? { ts, userId: user, sessionId: session, type, name: 'page_view', path: nameOrPath }
      : { ts, userId: user, sessionId: session, type, name: nameOrPath };
  await e.tracking.trackBatch([
    ev(D0 + 1000, 'ann', 's1', 'page', '/'),
    ev(D0 + 2000, 'ann', 's1', 'action', 'product_view'),
    ev(D0 + 3000, 'ann', 's1', 'action', 'add_to_cart'),
    ev(D0 + 9000, 'ann', 's1', 'action', 'purchase'),
    ev(D0 + 5000, 'bob', 's2', 'page', '/'),
    ev(D0 + 6000, 'bob', 's2', 'action', 'product_view'),
    ev(D0 + DAY + 5000, 'bob', 's3', 'page', '/'),
  ]);
  return e;
}

test('summary, active users, funnel and retention', async () => {
  const { trail } = await shop();
  const a = trail.analytics;
  const range = { since: D0, until: D0 + 2 * DAY };
  assert.deepEqual((await a.summary(range)), {
    events: 7,
    users: 2,
    sessions: 3,
    eventsPerUser: 3.5,
    eventsPerSession: 7 / 3,
    reweighted: false,
  });
  const active = await a.activeUsers({ ...range, interval: 'day' });
  assert.deepEqual(active.buckets.map((b) => b.users), [2, 1]);
  assert.equal(active.buckets[0].label, new Date(D0).toISOString().slice(0, 10));
  const f = await a.funnel({ ...range, steps: ['product_view', 'add_to_cart', 'purchase'], windowSecs: 3600 });
  assert.deepEqual(f.steps.map((s) => s.count), [2, 1, 1]);
  assert.equal(f.steps[1].conversionFromPrevious, 0.5);
  assert.equal(f.steps[2].medianMsFromPrevious, 6000);
  assert.equal(f.breakdown, null);
  const r = await a.retention({ ...range, cohort: 'day', periods: 2 });
  assert.deepEqual(r.rows[0].counts, [2, 1]);
  assert.deepEqual(r.rows[0].percentages, [100, 50]);
  const p = await a.paths({ ...range, steps: 3 });
  assert.deepEqual(
    p.journeys.map((j) => [j.steps.join(' > '), j.count]).sort(),
    [['/', 1], ['/ > product_view', 1], ['/ > product_view > add_to_cart', 1]].sort(),
  );
  assert.ok(p.transitions.some((t) => t.step === 0 && t.from === '/' && t.to === 'product_view' && t.count === 2));
  const top = await a.topPages(range);
  assert.deepEqual(top.pages.map((x) => [x.path, x.views, x.uniqueViewers]), [['/', 3, 2]]);
});

test('bad options are typed errors', async () => {
  const { trail } = await shop();
  const a = trail.analytics;
  assert.equal(await code(() => a.activeUsers({ interval: 'year' })), 'INVALID_INPUT');
  assert.equal(await code(() => a.funnel({ steps: [] })), 'INVALID_INPUT');
  assert.equal(await code(() => a.funnel({ steps: ['a'], windowSecs: -1 })), 'INVALID_INPUT');
  assert.equal(await code(() => a.retention({ periods: 367 })), 'INVALID_INPUT');
  assert.equal(await code(() => a.summary({ sinse: 0 })), 'INVALID_INPUT');
  assert.equal(await code(() => a.summary({ since: -5 })), 'INVALID_INPUT');
  assert.equal(await code(() => a.summary('yesterday')), 'INVALID_INPUT');
  assert.equal(await code(() => a.eventBreakdown({ by: 'nope' })), 'UNKNOWN_DIMENSION');
  // The mistakes a new user makes get words that say what to do.
  const fault = (p) => p.then(() => null, (e) => [e.code, e.field, e.message]);
  const [c1, f1, m1] = await fault(a.summary({ since: new Date(D0) }));
  assert.deepEqual([c1, f1], ['INVALID_INPUT', 'since']);
  assert.match(m1, /getTime\(\)/);
  const [c2, f2, m2] = await fault(a.eventBreakdown({ by: 'path' }));
  assert.deepEqual([c2, f2], ['INVALID_INPUT', 'by']);
  assert.match(m2, /topPages/);
  const [, f3, m3] = await fault(a.summary({ segment: { property: 'os', equals: null } }));
  assert.equal(f3, 'segment.equals');
  assert.match(m3, /a string, a number or a boolean/);
  assert.equal((await fault(a.summary({ segment: { property: 'os', equals: {} } })))[1], 'segment.equals');
  assert.equal((await fault(a.summary({ segment: { property: 'os', equals: 'x', also: 1 } })))[1], 'segment');
  assert.equal((await fault(a.summary({ segment: 'os' })))[1], 'segment');
  assert.deepEqual((await fault(a.summary({ segment: { property: 'os' } }))).slice(1), ['segment.equals', 'invalid input: segment.equals: is required']);
  assert.equal((await a.summary({ segment: null })).events, (await a.summary({})).events);
  // A dimension filter: the option at fault, a value of the dimension's
  // own type, an object.
  await trail.tracking.defineDimension({ name: 'plan' });
  assert.deepEqual((await fault(a.summary({ dimension: { name: 'nope', value: 'x' } }))).slice(0, 2), ['UNKNOWN_DIMENSION', 'dimension.name']);
  assert.deepEqual((await fault(a.eventBreakdown({ by: 'nope' }))).slice(0, 2), ['UNKNOWN_DIMENSION', 'by']);
  const [c5, f5, m5] = await fault(a.summary({ dimension: { name: 'plan', value: 1 } }));
  assert.deepEqual([c5, f5], ['INVALID_INPUT', 'dimension.value']);
  assert.match(m5, /must be a string/);
  assert.deepEqual((await fault(a.summary({ dimension: ['plan', 'pro'] }))).slice(0, 2), ['INVALID_INPUT', 'dimension']);
  assert.deepEqual((await fault(a.summary({ dimension: { name: 'plan', value: null } }))).slice(0, 2), ['INVALID_INPUT', 'dimension.value']);
  assert.deepEqual((await fault(a.summary({ segment: { property: 'name', equals: 1 } }))).slice(0, 2), ['INVALID_INPUT', 'segment.equals']);
  const [, , m6] = await fault(a.summary({ dimension: { name: 'x'.repeat(1e6), value: 'x' } }));
  assert.ok(m6.length < 1000, m6.length);
  const [, f4, m4] = await fault(a.activeUsers({ since: 0, interval: 'day' }));
  assert.equal(f4, 'until');
  assert.match(m4, /coarser interval/);
  assert.equal(await code(() => trail.experiments.assign('nope', 'ann')), 'EXPERIMENT_NOT_FOUND');
  assert.equal(await code(() => trail.experiments.define({ key: 'k', variants: [] })), 'INVALID_INPUT');
});

test('experiments assign once and report a z-test', async () => {
  const { trail, tracking } = await engine();
  const ex = trail.experiments;
  await ex.define({ key: 'buy_button', variants: [{ name: 'blue', weight: 1 }, { name: 'green', weight: 1 }] });
  assert.deepEqual((await ex.list()).map((e) => e.key), ['buy_button']);
  const seen = { blue: 0, green: 0 };
  for (let i = 0; i < 200; i++) {
    const v = await ex.assign('buy_button', `u${i}`);
    assert.equal((await ex.assign('buy_button', `u${i}`)), v);
    seen[v]++;
    if (v === 'green' || i % 4 === 0) await tracking.track({ name: 'purchase', userId: `u${i}` });
  }
  assert.equal((await trail.analytics.summary({ name: 'experiment.exposure', since: 0 })).events, 200);
  const r = await ex.results('buy_button', { goal: 'purchase' });
  assert.deepEqual(r.variants.map((v) => v.exposures), [seen.blue, seen.green]);
  assert.equal(r.variants[1].conversions, seen.green);
  assert.equal(r.variants[0].vsControl, null);
  assert.ok(r.variants[1].vsControl.pValue < 0.001);
  assert.ok(r.variants[1].vsControl.ci95[0] > 0);
});

test('merge reads each partial apart, as an object or as its JSON text; bad partials are typed errors', async () => {
  const { trail } = await shop();
  const range = { since: D0, until: D0 + 2 * DAY };
  const p = await trail.pipeline.partial('paths', { ...range, steps: 3 });
  // Journeys are numbered in the partial's items, each item once.
  assert.deepEqual([...p.items].sort(), ['/', 'add_to_cart', 'product_view']);
  assert.ok(p.journeys.every(([steps, count]) => steps.every((n) => n < p.items.length) && Array.isArray(count)));
  const whole = await trail.analytics.paths({ ...range, steps: 3 });
  const text = JSON.stringify(p);
  assert.deepEqual(await trail.pipeline.merge([p]), whole);
  assert.deepEqual(await trail.pipeline.merge([text]), whole);
  // `query` last: read through the general path, the same answer.
  const { query, ...rest } = p;
  assert.deepEqual(await trail.pipeline.merge([JSON.stringify({ ...rest, query })]), whole);
  // A partial of an engine before the numbering names its items.
  const named = { ...rest, query, journeys: p.journeys.map(([steps, count]) => ({ steps: steps.map((n) => p.items[n]), count })) };
  delete named.items;
  assert.deepEqual(await trail.pipeline.merge([named, text]), await trail.pipeline.merge([p, p]));
  const thrower = { get query() { throw new Error('boom'); } };
  const proxy = new Proxy([p], { get: (t, k) => { if (k === '0') throw new Error('trap'); return t[k]; } });
  for (const [bad, field, why] of [
    ['x', 'partials', /array/],
    [[], 'partials', /at least one/],
    [[1], 'partials[0]', /./],
    [[p, 'not json'], 'partials[1]', /./],
    [[p, thrower], 'partials[1].query', /could not be read/],
    [proxy, 'partials[0]', /could not be read/],
    [[p, 5n], 'partials[1]', /BigInt/],
    [new Array(4097).fill(text), 'partials', /at most 4096/],
    [[p, 'x'.repeat(33 * 1024 * 1024)], 'partials[1]', /too large/],
    [[{ ...p, items: [...p.items, p.items[0]] }], 'partials[0]', /items\[3\] is listed twice/],
    [[p, { ...p, journeys: [[[0, 7], [[1, 1]]]], total: [[1, 1]] }], 'partials[1]', /does not hold/],
    [[{ ...p, journeys: [[[0, 1], [[1, 1]], 9]] }], 'partials[0]', /invalid length 3/],
    [[p, await trail.pipeline.partial('paths', { ...range, steps: 2 })], 'partials[1]', /same query/],
    [[p, await trail.pipeline.partial('summary', range)], 'partials[1]', /same query/],
  ]) {
    const [c, f, m] = await refusal(() => trail.pipeline.merge(bad));
    assert.equal(c, 'INVALID_INPUT', `${field} ${m}`);
    assert.equal(f, field, m);
    assert.match(m, why);
  }
  // The merge runs during the call: a partial changed after it returned
  // does not change the answer, and a partial's toJSON may call the engine.
  const copy = structuredClone(p);
  const pending = trail.pipeline.merge([copy]);
  copy.journeys.length = 0;
  copy.total = [];
  assert.deepEqual(await pending, whole);
  const calling = { toJSON: () => (trail.analytics.summary(range), p) };
  assert.deepEqual(await trail.pipeline.merge([calling]), whole);
  // A partial whose toJSON calls merge with itself again: calls nested past
  // a depth are refused (INVALID_INPUT on `arguments`), never run until
  // wasm's stack overflows (which left every engine of the module dead).
  const refused = [];
  const evil = {
    toJSON() {
      trail.pipeline.merge([p, evil]).catch((e) => refused.push([e.code, e.field]));
      return p;
    },
  };
  assert.deepEqual(await trail.pipeline.merge([p, evil]), await trail.pipeline.merge([p, p]));
  assert.ok(refused.length >= 1, 'the deepest call is refused');
  assert.deepEqual(refused[0], ['INVALID_INPUT', 'arguments']);
  // Nothing refused changed the engine: it answers as before.
  assert.deepEqual(await trail.analytics.paths({ ...range, steps: 3 }), whole);
});

test('the first example of docs/ANALYTICS.md runs as written', async () => {
  const { readFileSync, writeFileSync, mkdtempSync, rmSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { spawnSync } = await import('node:child_process');
  const doc = readFileSync(join(process.env.ROOT, 'docs', 'ANALYTICS.md'), 'utf8');
  const example = doc.match(/```js\n([\s\S]*?)```/)[1];
  assert.match(example, /from 'usertrail'/);
  // Beside this package's node_modules, so that 'usertrail' resolves; in a
  // directory of its own for the file it creates.
  const dir = mkdtempSync(join(process.cwd(), 'doc-example-'));
  try {
    writeFileSync(join(dir, 'example.mjs'), example);
    const r = spawnSync(process.execPath, ['example.mjs'], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /events: 3,\s+users: 1,\s+sessions: 1/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
