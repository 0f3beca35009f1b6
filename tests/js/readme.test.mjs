// The README's example runs as written, against the packed package.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

test("README's example runs", () => {
  const readme = readFileSync(join(process.env.ROOT, 'README.md'), 'utf8');
  const example = readme.match(/## Example\n\n```js\n([\s\S]*?)```/)?.[1];
  assert.ok(example, 'no js example under "## Example"');
  const file = new URL('./readme-example.mjs', import.meta.url);
  writeFileSync(file, example);
  const out = execFileSync(process.execPath, [file.pathname]).toString();
  assert.match(out, /user-42 \[ \{ sku: 'A1', qty: 2 \} \]/);
  assert.match(out, /changed meanwhile/);
  // The page view, and the login the engine records itself.
  assert.match(out, /1 user, 2 event in the last 24 hours/);
  assert.match(out, /2 event exported, then erased; audit intact: true/);
});

// Issue 26, finding 7: the README's Redis snippet, run as written, survives
// Redis going away: it answers 503 and keeps the cookie, then recovers.
test("README's many-processes snippet answers 503 while Redis is down, and recovers", async () => {
  const { spawn } = await import('node:child_process');
  const { once } = await import('node:events');
  const { RedisServer, freePort } = await import('./redis-server.mjs');
  const readme = readFileSync(join(process.env.ROOT, 'README.md'), 'utf8');
  const snippet = readme.match(/### Many processes, one Redis\n[\s\S]*?```js\n([\s\S]*?)```/)?.[1];
  assert.ok(snippet, 'no js snippet under "### Many processes, one Redis"');
  const file = new URL('./readme-redis.mjs', import.meta.url);
  writeFileSync(file, snippet);
  const redis = await RedisServer.start();
  const port = await freePort();
  const app = spawn(process.execPath, [file.pathname], {
    env: { ...process.env, REDIS_URL: redis.url, PORT: String(port) },
    cwd: new URL('.', import.meta.url).pathname,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  app.stderr.on('data', (d) => (stderr += d));
  let cookie = null;
  const visit = async () => {
    const res = await fetch(`http://127.0.0.1:${port}/visits`, { headers: cookie ? { cookie } : {} });
    const set = res.headers.getSetCookie();
    if (set.length) cookie = set[0].split(';')[0];
    return { status: res.status, set, body: await res.json() };
  };
  try {
    let first;
    for (let i = 0; i < 100; i++) {
      first = await visit().catch(() => null);
      if (first) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.deepEqual(first.body, { visits: 1 });
    assert.deepEqual((await visit()).body, { visits: 2 });
    await redis.kill9();
    const down = await visit();
    assert.deepEqual([down.status, down.body, down.set], [503, { error: 'STORE_UNAVAILABLE' }, []]);
    assert.equal(app.exitCode, null, `the app is alive: ${stderr}`);
    await redis.restart();
    let back;
    for (let i = 0; i < 100; i++) {
      back = await visit();
      if (back.status === 200) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.deepEqual(back.body, { visits: 3 }, 'the same session, from the AOF');
    assert.equal(app.exitCode, null);
  } finally {
    app.kill('SIGKILL');
    await once(app, 'exit').catch(() => {});
    await redis.stop();
  }
});

// Issue 28: the README's dashboard snippet, run as written: the page and the
// API need the key; with it, the view answers the engine's numbers.
test("README's dashboard snippet serves the dashboard behind its key", async () => {
  const { spawn } = await import('node:child_process');
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { freePort } = await import('./redis-server.mjs');
  const readme = readFileSync(join(process.env.ROOT, 'README.md'), 'utf8');
  const snippet = readme.match(/### A dashboard and a command line for operators\n[\s\S]*?```js\n([\s\S]*?)```/)?.[1];
  assert.ok(snippet, 'no js snippet under "### A dashboard and a command line for operators"');
  const file = new URL('./readme-dashboard.mjs', import.meta.url);
  writeFileSync(file, snippet);
  const cwd = mkdtempSync(join(tmpdir(), 'ut-readme-dash-'));
  const port = await freePort();
  const key = 'readme-dashboard-key-0123';
  const app = spawn(process.execPath, [file.pathname], { env: { ...process.env, DASHBOARD_KEY: key, PORT: String(port), NODE_PATH: '' }, cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  app.stderr.on('data', (d) => (stderr += d));
  try {
    const base = `http://127.0.0.1:${port}/admin/usertrail/`;
    let page;
    for (let i = 0; i < 100 && !page; i++) {
      page = await fetch(base).catch(() => null);
      if (!page) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(page, `the app did not start: ${stderr}`);
    assert.equal(page.status, 401);
    const me = await fetch(`${base}api/me`, { headers: { authorization: `Bearer ${key}` } });
    assert.equal(me.status, 200);
    const { operator, csrf } = await me.json();
    assert.equal(operator, 'ops');
    const view = await fetch(`${base}api/view`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'x-csrf-token': csrf, 'content-type': 'application/json' }, body: JSON.stringify({ view: 'traffic' }) });
    assert.equal(view.status, 200);
    assert.equal((await view.json()).answers.summary.events, 0);
  } finally {
    app.kill('SIGTERM');
    rmSync(cwd, { recursive: true, force: true });
  }
});

// The package README's preferences, analytics and privacy lines run as
// written on an engine in memory.
test("the package README's preferences, analytics and privacy lines run", async () => {
  const readme = readFileSync(join(process.env.ROOT, 'pkg', 'README.md'), 'utf8');
  const lines = readme.match(/## Preferences, analytics and privacy\n\n```js\n([\s\S]*?)```/)?.[1];
  assert.ok(lines, 'no js block under "## Preferences, analytics and privacy"');
  const file = new URL('./readme-package.mjs', import.meta.url);
  writeFileSync(
    file,
    `import { UserTrail } from 'usertrail';\nconst trail = await UserTrail.open({ storage: 'memory' });\n` +
      lines +
      `console.log((await trail.prefs.get('user-42', 'appearance.theme')).value);\n` +
      `console.log(JSON.stringify(await trail.analytics.summary({ since: 0 })));\n`,
  );
  const out = execFileSync(process.execPath, [file.pathname]).toString();
  // Erased: the preference is back to its default, the event is gone.
  assert.match(out, /^system$/m);
  assert.match(out, /"events":0,/);
});
