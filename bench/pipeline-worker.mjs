// A partition worker process of bench/pipeline.mjs (as tests/js/partition-worker.mjs):
// `node partition-worker.mjs <redis url> <prefix> <partitions> <owned: 0,2> <dir>`.
// One engine per owned partition, on its own SQLite file in <dir>, each
// consuming its stream; serves their partials and exports over HTTP
// (/p<N>/partial, /p<N>/export). Prints `ready <port>`.
import { createServer } from 'node:http';
import { createClient } from 'redis';
import { UserTrail } from '../pkg/index.js';
import { redisStore } from '../pkg/redis.js';
import { partitionHandler, runPartition } from '../pkg/pipeline.js';

const [url, prefix, total, owned, dir] = process.argv.slice(2);
const redis = createClient({ url, disableOfflineQueue: true, socket: { reconnectStrategy: () => 100, connectTimeout: 1000 } });
redis.on('error', () => {});
await redis.connect();
const stop = new AbortController();
const engines = new Map();
for (const p of owned.split(',').map(Number)) {
  const trail = await UserTrail.open({
    storage: { file: `${dir}/p${p}.db` },
    shared: redisStore(redis, { prefix, timeoutMs: 1000 }),
    tracking: { pipeline: { partitions: Number(total) } },
  });
  engines.set(p, { trail, handle: partitionHandler(trail) });
  // Steps of up to 2,000 entries.
  runPartition(trail, { partition: p, max: 2000, idleMs: 5, signal: stop.signal });
}
const server = createServer(async (req, res) => {
  const m = req.url.match(/^\/p(\d+)(\/.*)$/);
  const engine = m && engines.get(Number(m[1]));
  if (!engine) return res.writeHead(404).end();
  const body = await new Promise((resolve) => {
    let b = '';
    req.on('data', (c) => (b += c));
    req.on('end', () => resolve(b));
  });
  const response = await engine.handle(new Request(`http://x${m[2]}`, { method: req.method, body, headers: req.headers }));
  res.writeHead(response.status, { 'content-type': 'application/json' });
  res.end(Buffer.from(await response.arrayBuffer()));
});
server.listen(0, '127.0.0.1', () => console.log(`ready ${server.address().port}`));
process.on('SIGTERM', async () => {
  stop.abort();
  server.close();
  for (const { trail } of engines.values()) await trail.close().catch(() => {});
  await redis.quit().catch(() => {});
  process.exit(0);
});
