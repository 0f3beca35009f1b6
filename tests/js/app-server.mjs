// One app process of servers.test.mjs: Express with usertrail/middleware,
// its engine's events in memory and its sessions, preferences and consent in
// the shared Redis. `node app-server.mjs <redis url> <prefix> [durable]`;
// prints `listening <port>` when ready. The url may name a Sentinel group,
// `sentinel://<name>@<host:port>,<host:port>,…`, or a cluster,
// `cluster://<host:port>,…`; `durable` turns on durableWrites (one replica).
import express from 'express';
import { createClient, createCluster, createSentinel } from 'redis';
import { UserTrail } from 'usertrail';
import { expressSession } from 'usertrail/middleware';
import { redisStore } from 'usertrail/redis';

const [url, prefix, durable] = process.argv.slice(2);
// No offline queue, no reconnect storm: a Redis that is down answers at once
// (STORE_UNAVAILABLE) and the client reconnects in the background.
const nodeOptions = { disableOfflineQueue: true, socket: { reconnectStrategy: () => 100, connectTimeout: 1000 } };
const hosts = (list) => list.split(',').map((h) => ({ host: h.split(':')[0], port: Number(h.split(':')[1]) }));
let redis;
if (url.startsWith('sentinel://')) {
  const [name, list] = url.slice('sentinel://'.length).split('@');
  redis = createSentinel({ name, sentinelRootNodes: hosts(list), scanInterval: 500, nodeClientOptions: nodeOptions });
} else if (url.startsWith('cluster://')) {
  redis = createCluster({
    rootNodes: hosts(url.slice('cluster://'.length)).map(({ host, port }) => ({ url: `redis://${host}:${port}` })),
    defaults: nodeOptions,
  });
} else {
  redis = createClient({ url, ...nodeOptions });
}
redis.on('error', () => {}); // reported through the engine's errors
await redis.connect();
const trail = await UserTrail.open({
  shared: redisStore(redis, {
    prefix,
    timeoutMs: 1000,
    ...(durable === 'durable' ? { durableWrites: { replicas: 1, timeoutMs: 1000 } } : {}),
  }),
  sessions: { maxSessionsPerUser: 3 },
  privacy: { requireConsent: ['analytics'] },
});

const app = express();
app.use(expressSession(trail, { secure: false }));
const me = (req) => ({ pid: process.pid, userId: req.session.userId, sessionId: req.session.id });
app.get('/count', async (req, res) => {
  const n = ((await req.session.get('n')) ?? 0) + 1;
  await req.session.set('n', n);
  res.json({ ...me(req), n });
});
app.get('/whoami', (req, res) => res.json(me(req)));
app.post('/login', async (req, res) => {
  await req.session.login(req.query.user);
  res.json(me(req));
});
app.post('/logout', async (req, res) => {
  await req.session.logout();
  res.json(me(req));
});
app.get('/devices', async (req, res) => res.json(await trail.sessions.list(req.query.user)));
app.post('/prefs', async (req, res) => res.json(await trail.prefs.set(req.session.userId, req.query.key, req.query.value)));
app.get('/prefs', async (req, res) => res.json(await trail.prefs.get(req.session.userId, req.query.key)));
app.post('/consent/:action', async (req, res) => {
  const options = { purposes: ['analytics'], source: `pid ${process.pid}` };
  res.json(await trail.privacy[req.params.action](req.session.userId, options));
});
app.post('/track', async (req, res) => res.json(await trail.tracking.track({ name: req.query.name, userId: req.session.userId })));
app.get('/events', async (req, res) => res.json({ count: await trail.tracking.count({ userId: req.query.user }) }));
// The store failed: 503 with the code; the middleware kept the cookie.
app.use((err, req, res, _next) => {
  const unavailable = err?.code === 'STORE_UNAVAILABLE';
  if (!unavailable) console.error(`app ${process.pid}: ${req.method} ${req.path}: ${err?.code} ${err?.message}`);
  res.status(unavailable ? 503 : 500).json({ code: err?.code ?? String(err) });
});

const server = app.listen(0, '127.0.0.1', () => console.log(`listening ${server.address().port}`));
process.on('SIGTERM', async () => {
  server.close();
  await trail.close();
  await (redis.close ?? redis.quit).call(redis).catch(() => {});
  process.exit(0);
});
