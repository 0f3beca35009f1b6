// One app process of servers.test.mjs: Express with usertrail/middleware,
// its engine's events in memory and its sessions, preferences and consent in
// the shared Redis. `node app-server.mjs <redis url> <prefix>`; prints
// `listening <port>` when ready.
import express from 'express';
import { createClient } from 'redis';
import { UserTrail } from 'usertrail';
import { expressSession } from 'usertrail/middleware';
import { redisStore } from 'usertrail/redis';

const [url, prefix] = process.argv.slice(2);
// No offline queue, no reconnect storm: a Redis that is down answers at once
// (STORE_UNAVAILABLE) and the client reconnects in the background.
const redis = createClient({ url, disableOfflineQueue: true, socket: { reconnectStrategy: () => 100, connectTimeout: 1000 } });
redis.on('error', () => {}); // reported through the engine's errors
await redis.connect();
const trail = await UserTrail.open({
  shared: redisStore(redis, { prefix, timeoutMs: 1000 }),
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
app.use((err, req, res, _next) => res.status(err?.code === 'STORE_UNAVAILABLE' ? 503 : 500).json({ code: err?.code ?? String(err) }));

const server = app.listen(0, '127.0.0.1', () => console.log(`listening ${server.address().port}`));
process.on('SIGTERM', async () => {
  server.close();
  await trail.close();
  await redis.quit().catch(() => {});
  process.exit(0);
});
