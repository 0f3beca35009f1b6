// The peers section of `./build.sh bench`: usertrail's wasm package in Node
// on a `{ file }` database against what a JS developer writes by hand with
// better-sqlite3 (the same schema ideas: an events table with a UNIQUE event
// id and indexes on time, user and name; a sessions table keyed by SHA-256
// of the token; the same durability), and DuckDB on the same events for
// analytics. Ratio = usertrail time / peer time: below 1, usertrail is
// faster. The two sides alternate and the best of the rounds counts (the
// machine is noisy). Results are printed and written to
// target/bench/peers.json.
//
// Usage: node bench/peers.mjs <pkg/index.js>
// Env: PEERS_EVENTS (default 300000), PEERS_ROUNDS (default 2).
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import { DuckDBInstance } from '@duckdb/node-api';

const [pkgFile] = process.argv.slice(2);
const { UserTrail } = await import(pathToFileURL(resolve(pkgFile)));

const EVENTS = Number(process.env.PEERS_EVENTS ?? 300_000);
const ROUNDS = Number(process.env.PEERS_ROUNDS ?? 2);
const BATCH = 1000;
const CREATES = { full: 2_000, normal: 20_000 };
const VALIDATES = 100_000;
const DIR = resolve('target/bench/peers');
rmSync(DIR, { recursive: true, force: true });
mkdirSync(DIR, { recursive: true });

const DAY = 86_400_000;
const DAYS = 90;
const D0 = Date.UTC(2026, 0, 1);
const NOW = D0 + DAYS * DAY;
const USERS = Math.max(100, Math.round(EVENTS / 100));
const FUNNEL = ['product_view', 'add_to_cart', 'checkout', 'purchase'];
const OTHER = Array.from({ length: 45 }, (_, i) => `action_${i}`);

// The same events for every side (xorshift32: every run sees the same data).
let seed = 2463534242;
const rand = (n) => {
  seed ^= seed << 13;
  seed >>>= 0;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  seed >>>= 0;
  return seed % n;
};
const events = [];
for (let u = 0; events.length < EVENTS; u = (u + 1) % USERS) {
  const s = events.length;
  let ts = D0 + rand(DAYS - 1) * DAY + rand(DAY);
  const depth = rand(5);
  let step = 0;
  for (let i = 0; i < 10 && events.length < EVENTS; i++) {
    ts += 5_000 + rand(60_000);
    const base = { eventId: randomUUID(), ts, userId: `user-${u}`, sessionId: `s-${u}-${s}` };
    if (i % 2 === 0) events.push({ ...base, type: 'page', name: 'page_view', path: `/page/${rand(40)}` });
    else if (step < depth && step < FUNNEL.length) events.push({ ...base, type: 'action', name: FUNNEL[step++] });
    else events.push({ ...base, type: 'action', name: OTHER[rand(OTHER.length)], properties: { n: i } });
  }
}
const batches = [];
for (let i = 0; i < events.length; i += BATCH) batches.push(events.slice(i, i + BATCH));

const log = (m) => console.log(`  ${new Date().toISOString().slice(11, 19)} ${m}`);
const rows = [];
const results = { at: new Date().toISOString(), events: EVENTS, rounds: ROUNDS, figures: [] };
/** One line of the table: usertrail's figure, the peer's, the ratio of times. */
function row(work, ut, peer, unit) {
  const ratio = unit === 'ms' ? ut / peer.value : peer.value / ut;
  const fmt = (v) => (unit === 'ms' ? `${v.toFixed(1)} ms` : unit === 'bytes' ? `${Math.round(v)}` : `${Math.round(v).toLocaleString('en-US')}/s`);
  rows.push({ work, usertrail: fmt(ut), peer: `${peer.name} ${fmt(peer.value)}`, ratio: ratio.toFixed(2) });
  results.figures.push({ work, unit, usertrail: ut, peer: peer.name, peerValue: peer.value, ratio });
}
/** Alternates `a` and `b` for ROUNDS rounds; the best of each (max for rates). */
async function alternate(a, b, better = Math.min) {
  let ra = null;
  let rb = null;
  for (let i = 0; i < ROUNDS; i++) {
    const x = await a(i);
    ra = ra === null ? x : better(ra, x);
    const y = await b(i);
    rb = rb === null ? y : better(rb, y);
  }
  return [ra, rb];
}

// ---- better-sqlite3, by hand ----------------------------------------------
function handRolled(path, durability) {
  const db = new Database(path);
  if (durability === 'normal') {
    db.pragma('locking_mode = EXCLUSIVE');
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
  } else {
    db.pragma('journal_mode = DELETE');
    db.pragma('synchronous = FULL');
  }
  db.exec(`
    CREATE TABLE IF NOT EXISTS events (
      id INTEGER PRIMARY KEY, event_id TEXT NOT NULL UNIQUE, ts INTEGER NOT NULL,
      type TEXT NOT NULL, name TEXT NOT NULL, user_id TEXT, session_id TEXT,
      path TEXT, properties TEXT NOT NULL);
    CREATE INDEX IF NOT EXISTS events_ts ON events (ts);
    CREATE INDEX IF NOT EXISTS events_user ON events (user_id, ts);
    CREATE INDEX IF NOT EXISTS events_name ON events (name, ts);
    CREATE TABLE IF NOT EXISTS sessions (
      id BLOB PRIMARY KEY, user_id TEXT, created_at INTEGER NOT NULL,
      expires_at INTEGER NOT NULL, data TEXT NOT NULL) WITHOUT ROWID;`);
  const insert = db.prepare(
    'INSERT INTO events (event_id, ts, type, name, user_id, session_id, path, properties) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
  );
  const ingest = db.transaction((batch) => {
    for (const e of batch) {
      insert.run(e.eventId, e.ts, e.type, e.name, e.userId, e.sessionId, e.path ?? null, JSON.stringify(e.properties ?? {}));
    }
  });
  const createSession = db.prepare('INSERT INTO sessions (id, user_id, created_at, expires_at, data) VALUES (?, ?, ?, ?, ?)');
  const findSession = db.prepare('SELECT user_id, expires_at, data FROM sessions WHERE id = ?');
  const sha = (token) => createHash('sha256').update(token).digest();
  return {
    db,
    ingest,
    create(userId, client) {
      const token = randomBytes(32).toString('base64url');
      const now = Date.now();
      createSession.run(sha(token), userId, now, now + DAY, client ? JSON.stringify(client) : '{}');
      return token;
    },
    validate(token) {
      const row = findSession.get(sha(token));
      return row && row.expires_at > Date.now() ? row : null;
    },
  };
}

const rate = (n, ms) => (n / ms) * 1000;
// Clients of the create-with-client row: a few browsers, many addresses.
const CLIENT_UAS = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0',
  'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36',
];
const CLIENT_IPS = Array.from({ length: 250 }, (_, i) => `203.0.113.${i}`);
const timed = async (f) => {
  const t = performance.now();
  await f();
  return performance.now() - t;
};

// ---- writes: ingest, session create, session validate ----------------------
const files = {};
for (const durability of ['full', 'normal']) {
  log(`writes, durability ${durability}`);
  const [ingestUt, ingestPeer] = await alternate(
    async (i) => {
      const path = `${DIR}/ut-${durability}-${i}.db`;
      const trail = await UserTrail.open({ storage: { file: path }, durability, clock: () => NOW });
      const ms = await timed(async () => {
        for (const b of batches) await trail.tracking.trackBatch(b);
      });
      await trail.close();
      files[`ut-${durability}`] = path;
      return rate(EVENTS, ms);
    },
    async (i) => {
      const path = `${DIR}/bs-${durability}-${i}.db`;
      const h = handRolled(path, durability);
      const ms = await timed(() => {
        for (const b of batches) h.ingest(b);
      });
      h.db.close();
      files[`bs-${durability}`] = path;
      return rate(EVENTS, ms);
    },
    Math.max,
  );
  row(`ingest ${EVENTS.toLocaleString('en-US')} events, batches of ${BATCH}, file, ${durability}`, ingestUt, { name: 'better-sqlite3', value: ingestPeer }, 'rate');
  if (durability === 'normal') {
    // As a collector receives them: each event with its client's address
    // and user agent (usertrail keeps the network, browser, OS and device;
    // the hand-rolled table keeps both strings in the properties).
    const client = (i) => ({ ip: CLIENT_IPS[i % CLIENT_IPS.length], userAgent: CLIENT_UAS[i % CLIENT_UAS.length] });
    const utBatches = batches.map((b, k) => b.map((e, j) => ({ ...e, ...client(k * BATCH + j) })));
    const bsBatches = batches.map((b, k) => b.map((e, j) => ({ ...e, properties: { ...e.properties, ...client(k * BATCH + j) } })));
    const [withUt, withPeer] = await alternate(
      async (i) => {
        const trail = await UserTrail.open({ storage: { file: `${DIR}/ut-client-${i}.db` }, durability, clock: () => NOW });
        const ms = await timed(async () => {
          for (const b of utBatches) await trail.tracking.trackBatch(b);
        });
        await trail.close();
        return rate(EVENTS, ms);
      },
      async (i) => {
        const h = handRolled(`${DIR}/bs-client-${i}.db`, durability);
        const ms = await timed(() => {
          for (const b of bsBatches) h.ingest(b);
        });
        h.db.close();
        return rate(EVENTS, ms);
      },
      Math.max,
    );
    row(`ingest ${EVENTS.toLocaleString('en-US')} events with ip and userAgent, file, ${durability}`, withUt, { name: 'better-sqlite3', value: withPeer }, 'rate');
  }

  const n = CREATES[durability];
  const ut = await UserTrail.open({ storage: { file: `${DIR}/ut-sessions-${durability}.db` }, durability });
  const bs = handRolled(`${DIR}/bs-sessions-${durability}.db`, durability);
  const utTokens = [];
  const bsTokens = [];
  const [createUt, createPeer] = await alternate(
    async () => rate(n, await timed(async () => {
      for (let i = 0; i < n; i++) utTokens.push((await ut.sessions.create({ userId: `u${i}` })).token);
    })),
    async () => rate(n, await timed(() => {
      for (let i = 0; i < n; i++) bsTokens.push(bs.create(`u${i}`));
    })),
    Math.max,
  );
  row(`session create x${n.toLocaleString('en-US')}, file, ${durability}`, createUt, { name: 'better-sqlite3', value: createPeer }, 'rate');
  // Validates cycle over the n sessions of the last round on each side (the
  // rounds before created more; a server's sessions in use are its working
  // set, whatever its table holds).
  const utLive = utTokens.slice(-n);
  const bsLive = bsTokens.slice(-n);
  const [validateUt, validatePeer] = await alternate(
    async () => rate(VALIDATES, await timed(async () => {
      for (let i = 0; i < VALIDATES; i++) await ut.sessions.validate(utLive[i % n]);
    })),
    async () => rate(VALIDATES, await timed(() => {
      for (let i = 0; i < VALIDATES; i++) bs.validate(bsLive[i % n]);
    })),
    Math.max,
  );
  row(`session validate x${VALIDATES.toLocaleString('en-US')}, file, ${durability}`, validateUt, { name: 'better-sqlite3', value: validatePeer }, 'rate');
  if (durability === 'normal') {
    // As a server creates them: with the client's address and user agent
    // (usertrail keeps the browser, OS and device class and the address's
    // network; the hand-rolled table keeps both strings in its data).
    const [withUt, withPeer] = await alternate(
      async () => rate(n, await timed(async () => {
        for (let i = 0; i < n; i++) await ut.sessions.create({ userId: `c${i}`, ip: CLIENT_IPS[i % CLIENT_IPS.length], userAgent: CLIENT_UAS[i % CLIENT_UAS.length] });
      })),
      async () => rate(n, await timed(() => {
        for (let i = 0; i < n; i++) bs.create(`c${i}`, { ip: CLIENT_IPS[i % CLIENT_IPS.length], userAgent: CLIENT_UAS[i % CLIENT_UAS.length] });
      })),
      Math.max,
    );
    row(`session create x${n.toLocaleString('en-US')} with ip and userAgent, file, ${durability}`, withUt, { name: 'better-sqlite3', value: withPeer }, 'rate');
  }
  await ut.close();
  bs.db.close();
}

// ---- bytes per event on disk -----------------------------------------------
const perEvent = (path) => statSync(path).size / EVENTS;
row('bytes per event on disk (full)', perEvent(files['ut-full']), { name: 'hand-rolled', value: perEvent(files['bs-full']) }, 'ms');
results.figures.at(-1).unit = 'bytes';
rows.at(-1).usertrail = `${Math.round(perEvent(files['ut-full']))} B`;
rows.at(-1).peer = `hand-rolled ${Math.round(perEvent(files['bs-full']))} B`;

// ---- analytics: the file engine against DuckDB (and better-sqlite3) --------
log('analytics: loading DuckDB');
const ndjson = `${DIR}/events.ndjson`;
writeFileSync(
  ndjson,
  events
    .map((e) => JSON.stringify({ event_id: e.eventId, ts: e.ts, type: e.type, name: e.name, user_id: e.userId, session_id: e.sessionId, path: e.path ?? null }))
    .join('\n'),
);
const duck = await (await DuckDBInstance.create(':memory:')).connect();
await duck.run(`CREATE TABLE events AS SELECT * FROM read_json('${ndjson}', columns = {event_id: 'VARCHAR', ts: 'BIGINT', type: 'VARCHAR', name: 'VARCHAR', user_id: 'VARCHAR', session_id: 'VARCHAR', path: 'VARCHAR'})`);
const bsa = new Database(files['bs-normal'] && existsSync(files['bs-normal']) ? files['bs-normal'] : files['bs-full']);
const range = { since: D0, until: NOW };
const [s1, s2, s3] = FUNNEL;
const topPagesSql = `
  WITH p AS (SELECT path, user_id, ts, lead(ts) OVER (PARTITION BY session_id ORDER BY ts) AS next
             FROM events WHERE type = 'page' AND ts >= ${D0} AND ts < ${NOW})
  SELECT path, count(*) AS views, count(DISTINCT user_id) AS visitors, avg(next - ts) AS time_on_page
  FROM p GROUP BY path ORDER BY views DESC LIMIT 10`;
const duckQueries = {
  dau: `SELECT (ts // ${DAY}) AS day, count(DISTINCT user_id) FROM events WHERE ts >= ${D0} AND ts < ${NOW} GROUP BY 1 ORDER BY 1`,
  topPages: topPagesSql,
  summary: `SELECT count(*), count(DISTINCT user_id), count(DISTINCT session_id) FROM events WHERE ts >= ${D0} AND ts < ${NOW}`,
  funnel: `
    WITH f1 AS (SELECT user_id, min(ts) AS t1 FROM events WHERE name = '${s1}' AND ts >= ${D0} AND ts < ${NOW} GROUP BY 1),
    f2 AS (SELECT f1.user_id, f1.t1, min(e.ts) AS t2 FROM f1 JOIN events e ON e.user_id = f1.user_id AND e.name = '${s2}'
           AND e.ts >= f1.t1 AND e.ts <= f1.t1 + 3600000 GROUP BY 1, 2),
    f3 AS (SELECT f2.user_id FROM f2 JOIN events e ON e.user_id = f2.user_id AND e.name = '${s3}'
           AND e.ts >= f2.t2 AND e.ts <= f2.t1 + 3600000 GROUP BY 1)
    SELECT (SELECT count(*) FROM f1), (SELECT count(*) FROM f2), (SELECT count(*) FROM f3)`,
  retention: `
    WITH first AS (SELECT user_id, min(ts) // ${7 * DAY} AS cohort FROM events WHERE ts >= ${D0} AND ts < ${NOW} GROUP BY 1),
    act AS (SELECT DISTINCT user_id, ts // ${7 * DAY} AS week FROM events WHERE ts >= ${D0} AND ts < ${NOW})
    SELECT f.cohort, act.week - f.cohort AS period, count(*) FROM first f JOIN act USING (user_id)
    WHERE act.week - f.cohort BETWEEN 0 AND 8 GROUP BY 1, 2`,
};
const duckRun = (sql) => async () => (await duck.runAndReadAll(sql)).getRows();
// The first scanning query after opening reads every event into the
// in-memory projection; later ones read only what is new. Timed once, cold.
{
  const cold = await UserTrail.open({ storage: { file: files['ut-normal'] }, durability: 'normal', clock: () => NOW });
  const utMs = await timed(() => cold.analytics.summary(range));
  await cold.close();
  const peerMs = await timed(duckRun(duckQueries.summary));
  row('summary, first query after open (cold)', utMs, { name: 'DuckDB', value: peerMs }, 'ms');
}
const ut = await UserTrail.open({ storage: { file: files['ut-normal'] }, durability: 'normal', clock: () => NOW });
const a = ut.analytics;
const analytics = [
  ['DAU by day, 90 days', () => a.activeUsers({ ...range, interval: 'day' }), 'DuckDB', duckRun(duckQueries.dau)],
  ['top pages', () => a.topPages(range), 'DuckDB', duckRun(duckQueries.topPages)],
  ['top pages', () => a.topPages(range), 'better-sqlite3', () => bsa.prepare(topPagesSql).all()],
  ['summary (events, users, sessions)', () => a.summary(range), 'DuckDB', duckRun(duckQueries.summary)],
  ['funnel, 3 steps, 1 h window', () => a.funnel({ ...range, steps: FUNNEL.slice(0, 3), windowSecs: 3600 }), 'DuckDB', duckRun(duckQueries.funnel)],
  ['retention, 8 weeks', () => a.retention({ ...range, cohort: 'week', periods: 8 }), 'DuckDB', duckRun(duckQueries.retention)],
  ['paths', () => a.paths(range), 'DuckDB', duckRun(
    `SELECT path, next, count(*) FROM (SELECT path, lead(path) OVER (PARTITION BY session_id ORDER BY ts) AS next
     FROM events WHERE type = 'page' AND ts >= ${D0} AND ts < ${NOW}) GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 50`,
  )],
  ['session durations', () => a.sessionDurations(range), 'DuckDB', duckRun(
    `SELECT median(d), quantile_cont(d, 0.9), avg(d), max(d) FROM (SELECT max(ts) - min(ts) AS d FROM events WHERE ts >= ${D0} AND ts < ${NOW} GROUP BY session_id)`,
  )],
];
log('analytics: timing');
for (const [work, mine, peer, theirs] of analytics) {
  const [utMs, peerMs] = await alternate(
    async () => timed(mine),
    async () => timed(theirs),
    Math.min,
  );
  // Best of three per side: queries are short.
  const more = await alternate(async () => timed(mine), async () => timed(theirs), Math.min);
  const label = work === 'paths' ? 'paths (peer: page transitions in SQL)' : work;
  row(label, Math.min(utMs, more[0]), { name: peer, value: Math.min(peerMs, more[1]) }, 'ms');
}
await ut.close();
bsa.close();

console.log(
  `peers: ${EVENTS.toLocaleString('en-US')} events, ${USERS.toLocaleString('en-US')} users, 50 names, ${DAYS} days; usertrail = the wasm package in Node on { file }; ` +
    'ratio = usertrail time / peer time (below 1: usertrail is faster); best of alternating rounds',
);
console.table(rows);
mkdirSync('target/bench', { recursive: true });
writeFileSync('target/bench/peers.json', JSON.stringify(results, null, 2));
console.log('written: target/bench/peers.json');
rmSync(DIR, { recursive: true, force: true });
