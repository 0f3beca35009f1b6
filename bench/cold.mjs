// The first query after opening a file, then the same query three times:
// how much of a cold query is V8 compiling the package's hot functions
// (see docs/PERFORMANCE.md, "The wasm bundle"). Run it under V8 flags to
// compare, e.g. `node --liftoff-only bench/cold.mjs pkg/index.js <file>`;
// the package itself never sets them.
//
// Usage: node [v8 flags] bench/cold.mjs <pkg/index.js> <usertrail.db> [since] [until]
// (the range defaults to the scale bench's: 2026-01-01 to 2026-03-31).
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [pkgFile, file, since = '1767225600000', until = '1774972800000'] = process.argv.slice(2);
if (!pkgFile || !file) {
  console.error('usage: node [v8 flags] bench/cold.mjs <pkg/index.js> <usertrail.db> [since] [until]');
  process.exit(2);
}
const { UserTrail } = await import(pathToFileURL(resolve(pkgFile)));
// A first engine in memory compiles the module, as the scale bench does.
await (await UserTrail.open({ storage: 'memory' })).close();
const range = { since: Number(since), until: Number(until) };
let t = performance.now();
const trail = await UserTrail.open({ storage: { file }, durability: 'normal', clock: () => range.until });
const openMs = performance.now() - t;
const summaries = [];
for (let i = 0; i < 4; i++) {
  t = performance.now();
  await trail.analytics.summary(range);
  summaries.push(Math.round(performance.now() - t));
}
await trail.close();
console.log(JSON.stringify({ flags: process.execArgv, openMs: Math.round(openMs), summariesMs: summaries }));
