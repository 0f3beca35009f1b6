// One app process of rights.test.mjs and bench/rights.mjs:
// `node rights-app.mjs <redis url> <prefix> <file> <partitions> [followMs]`.
// An engine on its own SQLite file, with sessions, preferences and consent
// in the shared Redis; its outbox shipped straight to the pipeline's
// streams. The test drives it over HTTP: POST /call with
// `{ path: 'privacy.erase', args: [...] }` runs `trail.privacy.erase(...)`
// and answers its result as JSON (bytes as base64). Prints `ready <port>`.
// The package is `usertrail` as installed, or the folder in USERTRAIL_PKG
// (the bench runs it on the built tree).
import { createServer } from 'node:http';
import { pathToFileURL } from 'node:url';
import { createClient } from 'redis';

const from = (name, file) =>
  import(process.env.USERTRAIL_PKG ? pathToFileURL(`${process.env.USERTRAIL_PKG}/${file}`).href : name);
const { UserTrail } = await from('usertrail', 'index.js');
const { ship } = await from('usertrail/pipeline', 'pipeline.js');
const { redisStore } = await from('usertrail/redis', 'redis.js');

const [url, prefix, file, partitions, followMs = '200'] = process.argv.slice(2);
const redis = createClient({ url, disableOfflineQueue: true, socket: { reconnectStrategy: () => 100, connectTimeout: 1000 } });
redis.on('error', () => {});
await redis.connect();
const trail = await UserTrail.open({
  storage: { file },
  durability: 'normal',
  shared: redisStore(redis, { prefix, timeoutMs: 2000, followMs: Number(followMs) }),
  tracking: { outbox: true, pipeline: { partitions: Number(partitions) } },
});
const shipper = ship(trail, { pipeline: true, intervalMs: 100, onError: () => {} });

const encode = (v) =>
  JSON.stringify(v, (_, x) => (x instanceof Uint8Array ? { base64: Buffer.from(x).toString('base64') } : x));

const server = createServer(async (req, res) => {
  let body = '';
  for await (const chunk of req) body += chunk;
  try {
    const { path, args = [] } = JSON.parse(body);
    const parts = path.split('.');
    const name = parts.pop();
    let target = trail;
    for (const p of parts) target = target[p];
    const out = await target[name](...args);
    if (path === 'tracking.outbox.take') throw new Error('not for tests');
    res.writeHead(200, { 'content-type': 'application/json' }).end(encode({ ok: out ?? null }));
  } catch (err) {
    res.writeHead(200, { 'content-type': 'application/json' }).end(encode({ error: { code: err?.code, message: String(err?.message ?? err) } }));
  }
});
server.listen(0, '127.0.0.1', () => console.log(`ready ${server.address().port}`));
process.on('SIGTERM', async () => {
  server.close();
  await shipper.stop();
  await trail.close();
  await redis.quit().catch(() => {});
  process.exit(0);
});
