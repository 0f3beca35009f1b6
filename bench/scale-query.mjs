// One side of a scale measurement (bench/scale.mjs), in a fresh process so
// that "cold" means what it says: open the file, time the first query, then
// every dashboard query warm (best of WARM_ROUNDS), and the process's RSS.
// Prints one JSON line.
//
// Usage: node bench/scale-query.mjs ut <pkg/index.js> <file> <since> <until>
//        node bench/scale-query.mjs duck - <file> <since> <until>
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';

const [side, pkgFile, file, sinceArg, untilArg] = process.argv.slice(2);
const since = Number(sinceArg);
const until = Number(untilArg);
// Arguments by position: a missing one shifts the rest (a DuckDB file
// named after a time was created that way), so each is checked first.
const usage = 'usage: node bench/scale-query.mjs ut <pkg/index.js> <file> <since> <until>\n' +
  '       node bench/scale-query.mjs duck - <file> <since> <until>   (times in ms)';
if (!['ut', 'duck'].includes(side) || (side === 'duck' && pkgFile !== '-') || !file ||
    !Number.isSafeInteger(since) || !Number.isSafeInteger(until) || since < 0 || until <= since) {
  console.error(usage);
  process.exit(2);
}
const DAY = 86_400_000;
const WARM_ROUNDS = Number(process.env.SCALE_WARM_ROUNDS ?? 2);
const FUNNEL = ['product_view', 'add_to_cart', 'checkout'];

const timed = async (f) => {
  const t = performance.now();
  await f();
  return performance.now() - t;
};

let baseline = 0;
/** The queries of a dashboard, as [name, function] pairs, for each side. */
async function open() {
  if (side === 'ut') {
    const { UserTrail } = await import(pathToFileURL(resolve(pkgFile)));
    // A first engine in memory compiles the module: what is left after it
    // closes is the baseline the engine's memory is counted from.
    await (await UserTrail.open({ storage: 'memory' })).close();
    baseline = process.memoryUsage().rss / 2 ** 20;
    const t = performance.now();
    const ut = await UserTrail.open({ storage: { file }, durability: 'normal', clock: () => until });
    const openMs = performance.now() - t;
    const a = ut.analytics;
    const range = { since, until };
    return {
      openMs,
      queries: [
        ['summary', () => a.summary(range)],
        ['dau', () => a.activeUsers({ ...range, interval: 'day' })],
        ['topPages', () => a.topPages(range)],
        ['eventBreakdown', () => a.eventBreakdown({ ...range, by: 'name' })],
        ['funnel', () => a.funnel({ ...range, steps: FUNNEL, windowSecs: 3600 })],
        ['retention', () => a.retention({ ...range, cohort: 'week', periods: 8 })],
        ['paths', () => a.paths(range)],
        ['sessionDurations', () => a.sessionDurations(range)],
      ],
      close: () => ut.close(),
    };
  }
  const { DuckDBInstance } = await import('@duckdb/node-api');
  baseline = process.memoryUsage().rss / 2 ** 20;
  const t = performance.now();
  const instance = await DuckDBInstance.create(file);
  const duck = await instance.connect();
  const openMs = performance.now() - t;
  const run = (sql) => async () => (await duck.runAndReadAll(sql)).getRows();
  const w = `ts >= ${since} AND ts < ${until}`;
  const [s1, s2, s3] = FUNNEL;
  return {
    openMs,
    queries: [
      ['summary', run(`SELECT count(*), count(DISTINCT user_id), count(DISTINCT session_id) FROM events WHERE ${w}`)],
      ['dau', run(`SELECT (ts // ${DAY}) AS day, count(DISTINCT user_id) FROM events WHERE ${w} GROUP BY 1 ORDER BY 1`)],
      ['topPages', run(`
        WITH p AS (SELECT path, user_id, ts, lead(ts) OVER (PARTITION BY session_id ORDER BY ts) AS next
                   FROM events WHERE type = 'page' AND ${w})
        SELECT path, count(*) AS views, count(DISTINCT user_id) AS visitors, avg(next - ts)
        FROM p GROUP BY path ORDER BY views DESC LIMIT 10`)],
      ['eventBreakdown', run(`SELECT name, count(*), count(DISTINCT user_id) FROM events WHERE ${w} GROUP BY name ORDER BY 2 DESC LIMIT 50`)],
      ['funnel', run(`
        WITH f1 AS (SELECT user_id, min(ts) AS t1 FROM events WHERE name = '${s1}' AND ${w} GROUP BY 1),
        f2 AS (SELECT f1.user_id, f1.t1, min(e.ts) AS t2 FROM f1 JOIN events e ON e.user_id = f1.user_id AND e.name = '${s2}'
               AND e.ts >= f1.t1 AND e.ts <= f1.t1 + 3600000 GROUP BY 1, 2),
        f3 AS (SELECT f2.user_id FROM f2 JOIN events e ON e.user_id = f2.user_id AND e.name = '${s3}'
               AND e.ts >= f2.t2 AND e.ts <= f2.t1 + 3600000 GROUP BY 1)
        SELECT (SELECT count(*) FROM f1), (SELECT count(*) FROM f2), (SELECT count(*) FROM f3)`)],
      ['retention', run(`
        WITH first AS (SELECT user_id, min(ts) // ${7 * DAY} AS cohort FROM events WHERE ${w} GROUP BY 1),
        act AS (SELECT DISTINCT user_id, ts // ${7 * DAY} AS week FROM events WHERE ${w})
        SELECT f.cohort, act.week - f.cohort AS period, count(*) FROM first f JOIN act USING (user_id)
        WHERE act.week - f.cohort BETWEEN 0 AND 8 GROUP BY 1, 2`)],
      ['paths', run(`
        SELECT path, next, count(*) FROM (SELECT path, lead(path) OVER (PARTITION BY session_id ORDER BY ts) AS next
        FROM events WHERE type = 'page' AND ${w}) GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 50`)],
      ['sessionDurations', run(`
        SELECT median(d), quantile_cont(d, 0.9), avg(d), max(d)
        FROM (SELECT max(ts) - min(ts) AS d FROM events WHERE ${w} GROUP BY session_id)`)],
    ],
    close: () => duck.closeSync(),
  };
}

const side0 = await open();
const out = { side, baselineRssMb: baseline, openMs: side0.openMs, warm: {} };
// Cold: the first query after opening (the summary, as a dashboard's first
// card). usertrail answers it from its rollups (schema version 14), without
// building the in-memory projection; so do the two warm rounds of summary
// that follow, since no query has built the projection yet. The queries
// after it (topPages first) build it.
out.coldSummaryMs = await timed(side0.queries[0][1]);
out.rssAfterColdMb = process.memoryUsage().rss / 2 ** 20;
for (const [name, f] of side0.queries) {
  let best = Infinity;
  for (let i = 0; i < WARM_ROUNDS; i++) best = Math.min(best, await timed(f));
  out.warm[name] = best;
}
// The summary again, once the other queries ran: what a dashboard's first
// card costs when it is refreshed. Up to the projection's cap (4M events)
// usertrail answers it from the projection the other queries built, not
// from the rollups; past it, as before.
{
  let best = Infinity;
  for (let i = 0; i < WARM_ROUNDS; i++) best = Math.min(best, await timed(side0.queries[0][1]));
  out.warm.summaryAfterTheOthers = best;
}
out.rssMb = process.memoryUsage().rss / 2 ** 20;
await side0.close();
console.log(JSON.stringify(out));
