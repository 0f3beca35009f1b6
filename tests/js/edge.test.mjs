// docs/EDGE.md's Worker, as written, served by workerd with SQLite-backed
// Durable Objects on a local disk: sessions across requests, events, two
// sites isolated, workerd killed with -9 while requests arrive and restarted
// on the same directory with everything acknowledged still there, and after
// an erasure no byte of the subject in any file workerd keeps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, here, honoModules, startWorkerd, usertrailModules } from './workerd.mjs';

const ADMIN = 'edge-admin-token-0123456789';

/** The Worker and the wrangler.toml of docs/EDGE.md. */
function example() {
  const doc = readFileSync(join(process.env.ROOT, 'docs/EDGE.md'), 'utf8');
  const section = doc.match(/## A Durable Object per site\n([\s\S]*?)\n## /)?.[1] ?? '';
  const worker = section.match(/```js\n([\s\S]*?)```/)?.[1];
  const toml = section.match(/```toml\n([\s\S]*?)```/)?.[1];
  assert.ok(worker && toml, 'a js and a toml block under "## A Durable Object per site"');
  return { worker, toml };
}

/** A workerd configuration equivalent to the wrangler.toml: its binding, its class, SQLite storage on `dir`. */
function config(toml, dir) {
  const binding = toml.match(/\[\[durable_objects\.bindings\]\]\nname = "(\w+)"\nclass_name = "(\w+)"/);
  assert.ok(binding, 'a Durable Object binding in the wrangler.toml');
  const [, name, className] = binding;
  assert.match(toml, new RegExp(`new_sqlite_classes = \\["${className}"\\]`), 'the class is SQLite-backed');
  return {
    worker: `durableObjectNamespaces = [(className = "${className}", uniqueKey = "usertrail-edge-test", enableSql = true)],
  durableObjectStorage = (localDisk = "disk"),
  bindings = [(name = "${name}", durableObjectNamespace = "${className}"), (name = "ADMIN_TOKEN", text = "${ADMIN}")],`,
    services: `(name = "disk", disk = (path = "${dir}", writable = true))`,
  };
}

/** A browser: its own cookie, for one site. */
function client(base) {
  let cookie = null;
  return async (path, { method = 'GET', body, admin = false } = {}) => {
    const headers = { 'content-type': 'application/json', 'cf-connecting-ip': '198.51.100.7' };
    if (cookie) headers.cookie = cookie;
    if (admin) headers.authorization = `Bearer ${ADMIN}`;
    const res = await fetch(base + path, { method, headers, body: body && JSON.stringify(body) });
    for (const c of res.headers.getSetCookie()) cookie = c.includes('Max-Age=0') ? null : c.split(';')[0];
    const text = await res.text();
    let json = null;
    try {
      json = JSON.parse(text);
    } catch {
      // not JSON: kept as text
    }
    return { status: res.status, json, text };
  };
}

/** Whether any file under `dir` holds one of `needles`, and which. */
function found(dir, needles) {
  const hits = [];
  for (const rel of readdirSync(dir, { recursive: true })) {
    const path = join(dir, rel);
    if (statSync(path).isDirectory()) continue;
    const bytes = readFileSync(path);
    for (const n of needles) if (bytes.includes(n)) hits.push(`${n} in ${rel}`);
  }
  return hits;
}

const events = (marker, n) =>
  Array.from({ length: n }, (_, i) => ({ eventId: crypto.randomUUID(), type: 'page', name: 'page_view', path: `/p/${i}`, properties: { note: marker } }));

test("docs/EDGE.md's Worker in workerd: sessions, events, kill -9 and restart, two sites, erasure", { timeout: 120_000 }, async (t) => {
  const { worker, toml } = example();
  writeFileSync(join(here, 'edge-worker.js'), worker);
  const dir = mkdtempSync(join(tmpdir(), 'ut-edge-'));
  const port = await freePort();
  const modules = ['(name = "worker.js", esModule = embed "edge-worker.js")', ...usertrailModules(), ...honoModules()];
  const options = { config: 'edge.capnp', port, ...config(toml, dir) };
  let server = await startWorkerd(t, modules, options);
  const siteA = `http://127.0.0.1:${port}`;
  const siteB = `http://localhost:${port}`;

  // A session created and used across requests.
  const alice = client(siteA);
  assert.equal((await alice('/login', { method: 'POST', body: { userId: 'alice-edge-7' } })).status, 200, server.stderr());
  assert.deepEqual((await alice('/me')).json, { userId: 'alice-edge-7', visits: 1 });
  assert.deepEqual((await alice('/me')).json, { userId: 'alice-edge-7', visits: 2 });

  // Events tracked, for alice and for bob.
  const aliceIds = [];
  for (let b = 0; b < 10; b++) {
    const batch = events('marker-edge-alice-7', 20);
    const res = await alice('/collect', { method: 'POST', body: { events: batch } });
    assert.equal(res.status, 202, res.text);
    assert.ok(res.json.results.every((r) => r.status === 'stored'), res.text);
    aliceIds.push(...batch.map((e) => e.eventId));
  }
  const bob = client(siteA);
  await bob('/login', { method: 'POST', body: { userId: 'bob-edge-7' } });
  assert.equal((await bob('/collect', { method: 'POST', body: { events: events('marker-edge-bob-7', 5) } })).status, 202);
  const stats = (await alice('/stats', { admin: true })).json;
  assert.equal(stats.summary.events, 200 + 5 + 2, 'the page views and two logins');
  assert.equal(stats.summary.sessions, 2, "the events carry their visitor's session");
  assert.equal((await alice('/stats')).status, 401, 'analytics for the owner only');

  // Two sites, two objects: nothing of site A is seen from site B.
  const other = client(siteB);
  assert.equal((await other('/stats', { admin: true })).json.summary.events, 0);
  assert.deepEqual((await other('/me')).json, { userId: null, visits: 1 });

  // kill -9 while requests are arriving, then a restart on the same directory.
  const carol = client(siteA);
  await carol('/login', { method: 'POST', body: { userId: 'carol-edge-7' } });
  const acked = [];
  let stop = false;
  const senders = Array.from({ length: 4 }, async () => {
    while (!stop) {
      const batch = events('marker-edge-carol-7', 5);
      try {
        const res = await carol('/collect', { method: 'POST', body: { events: batch } });
        if (res.status === 202) acked.push(...batch.map((e) => e.eventId));
      } catch {
        return; // the server is gone
      }
    }
  });
  while (acked.length < 100) await new Promise((r) => setTimeout(r, 5));
  await server.kill();
  stop = true;
  await Promise.all(senders);
  server = await startWorkerd(t, modules, options);
  assert.deepEqual((await alice('/me')).json, { userId: 'alice-edge-7', visits: 3 }, 'the session survived');
  const carolExport = await carol('/privacy/export');
  assert.equal(carolExport.status, 200, carolExport.text);
  const carolIds = new Set(carolExport.json.tables.events.filter((e) => e.name === 'page_view').map((e) => e.eventId));
  const lost = acked.filter((id) => !carolIds.has(id));
  assert.deepEqual(lost, [], `${lost.length} of ${acked.length} acknowledged events lost`);
  t.diagnostic(`kill -9 with requests arriving: ${acked.length} events acknowledged before it, all there after the restart (${carolIds.size} stored)`);
  const after = (await alice('/stats', { admin: true })).json;
  assert.equal(after.summary.events, 200 + 5 + 3 + carolIds.size);

  // The subject's export holds all of theirs; then erasure.
  const exported = await alice('/privacy/export');
  assert.deepEqual(new Set(exported.json.tables.events.filter((e) => e.name === 'page_view').map((e) => e.eventId)), new Set(aliceIds));
  const needles = ['alice-edge-7', 'marker-edge-alice-7', exported.json.tables.sessions?.[0]?.sessionId].filter(Boolean);
  assert.ok(found(dir, needles).length > 0, 'the scan sees the subject before the erasure');
  const erased = await alice('/privacy/erase', { method: 'POST' });
  assert.equal(erased.status, 200, erased.text);
  assert.equal(erased.json.counts.events, 201);
  assert.deepEqual(found(dir, needles), [], 'no byte of the subject in the files workerd keeps');
  assert.deepEqual((await alice('/me')).json, { userId: null, visits: 1 }, 'the sessions went too');
  assert.ok(found(dir, ['marker-edge-bob-7']).length > 0, 'the others are still there');

  // And after another kill -9 and restart, still nothing, and the rest intact.
  await server.kill();
  server = await startWorkerd(t, modules, options);
  assert.equal((await bob('/stats', { admin: true })).json.summary.events, 5 + 2 + carolIds.size);
  assert.deepEqual((await bob('/me')).json, { userId: 'bob-edge-7', visits: 1 });
  assert.deepEqual(found(dir, needles), []);
});
