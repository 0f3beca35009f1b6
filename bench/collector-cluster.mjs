// Collectors behind one port (bench/collectors.mjs): `node collector-cluster.mjs
// <redis url> <prefix> <processes> <partitions>`. The primary forks the
// processes with node:cluster; each runs usertrail/collector on an engine
// with the shared store, all listening on the same port (the primary hands
// connections out). Prints `ready <port>`; on a line `usage` on stdin it
// prints `usage <cpu ms of all collector processes>`.
import cluster from 'node:cluster';
import { createServer } from 'node:http';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [url, prefix, processes, partitions, pkgDir] = process.argv.slice(2);

if (cluster.isPrimary) {
  const port = await new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
  const workers = [];
  for (let i = 0; i < Number(processes); i++) {
    const w = cluster.fork({ COLLECTOR_PORT: String(port) });
    workers.push(w);
    await once(w, 'listening');
  }
  console.log(`ready ${port}`);
  for await (const line of createInterface({ input: process.stdin })) {
    if (line !== 'usage') continue;
    const answers = workers.map((w) => new Promise((resolve) => w.once('message', (m) => resolve(m.cpuMs))));
    for (const w of workers) w.send('usage');
    const ms = (await Promise.all(answers)).reduce((a, b) => a + b, 0);
    console.log(`usage ${Math.round(ms)}`);
  }
  for (const w of workers) w.kill();
} else {
  const { createClient } = await import('redis');
  const { UserTrail } = await import(pathToFileURL(join(pkgDir, 'index.js')));
  const { redisStore } = await import(pathToFileURL(join(pkgDir, 'redis.js')));
  const { nodeCollector } = await import(pathToFileURL(join(pkgDir, 'collector.js')));
  const redis = await createClient({ url, disableOfflineQueue: true }).on('error', () => {}).connect();
  const hub = await UserTrail.open({ shared: redisStore(redis, { prefix }), tracking: { pipeline: { partitions: Number(partitions) } } });
  createServer(nodeCollector(hub, { maxEvents: 1000 })).listen(Number(process.env.COLLECTOR_PORT), '127.0.0.1');
  process.on('message', (m) => {
    if (m !== 'usage') return;
    const u = process.cpuUsage();
    process.send({ cpuMs: (u.user + u.system) / 1000 });
  });
}

