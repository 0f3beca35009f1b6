// A pipeline worker process of partition-failover.test.mjs (and of
// bench/failover.mjs): `node lease-worker.mjs <redis url> <prefix>
// <partitions> <name> <dir> [leaseMs]`. Shares the partitions with the
// other workers by lease (usertrail/pipeline runWorker), each copy on its
// own SQLite file in <dir>/<name>/, and serves them over HTTP. Prints
// `ready <port>`, then a line per role change (`role <p> <role>`). SIGTERM
// stops it gracefully (leases given up); kill -9 is the failure tested.
// The package is 'usertrail' as installed, or the build in USERTRAIL_PKG
// (the bench's pkg/).
import { createServer } from 'node:http';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { once } from 'node:events';
import { createClient } from 'redis';

const from = (name, file) => (process.env.USERTRAIL_PKG ? pathToFileURL(join(process.env.USERTRAIL_PKG, file)).href : name);
const { UserTrail } = await import(from('usertrail', 'index.js'));
const { redisStore } = await import(from('usertrail/redis', 'redis.js'));
const { runWorker, toNodeListener } = await import(from('usertrail/pipeline', 'pipeline.js'));

const [url, prefix, total, name, dir, leaseMs = '3000'] = process.argv.slice(2);
const partitions = Number(total);
const home = join(dir, name);
mkdirSync(home, { recursive: true });
const redis = createClient({ url, disableOfflineQueue: true, socket: { reconnectStrategy: () => 100, connectTimeout: 1000 } });
redis.on('error', () => {});
await redis.connect();
const shared = () => redisStore(redis, { prefix, timeoutMs: 1000 });
const control = await UserTrail.open({ shared: shared(), tracking: { pipeline: { partitions } } });

let worker;
const server = createServer(toNodeListener((request) => worker.handler(request)));
server.listen(0, '127.0.0.1');
await once(server, 'listening');
worker = runWorker(control, {
  name,
  url: `http://127.0.0.1:${server.address().port}/`,
  leaseMs: Number(leaseMs),
  max: 200,
  idleMs: 20,
  async open(p, snapshot) {
    const file = join(home, `p${p}.db`);
    if (snapshot) {
      for (const f of [file, `${file}-journal`, `${file}-wal`, `${file}-shm`]) rmSync(f, { force: true });
      writeFileSync(file, snapshot);
    }
    return UserTrail.open({ storage: { file }, shared: shared(), tracking: { pipeline: { partitions } } });
  },
  onChange: ({ partition, role }) => console.log(`role ${partition} ${role}`),
  onError: (err, p) => {
    if (!['STORE_UNAVAILABLE', 'UNREACHABLE'].includes(err?.code)) console.error(`worker ${name} p${p}:`, err?.code, err?.message);
  },
});
console.log(`ready ${server.address().port}`);
process.on('SIGTERM', async () => {
  await worker.stop();
  server.close();
  await control.close().catch(() => {});
  await redis.quit().catch(() => {});
  process.exit(0);
});
