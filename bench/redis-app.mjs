// One app process of bench/redis.mjs: the same Express app on the same
// Redis, with usertrail/middleware (`ours`) or express-session with
// connect-redis (`theirs`). Each request reads and writes its session.
// `node bench/redis-app.mjs <ours|theirs> <redis url> <usertrail.js>`;
// prints `listening <port>`.
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

import express from 'express';
import session from 'express-session';
import { RedisStore } from 'connect-redis';
import { createClient } from 'redis';

const [kind, url, pkg] = process.argv.slice(2);
const redis = await createClient({ url }).on('error', (err) => console.error('redis:', err.message)).connect();
const app = express();
let read;
let write;
if (kind === 'ours') {
  const { UserTrail } = await import(pathToFileURL(resolve(pkg)));
  const { expressSession } = await import(pathToFileURL(resolve(pkg, '..', 'middleware.js')));
  const { redisStore } = await import(pathToFileURL(resolve(pkg, '..', 'redis.js')));
  const trail = await UserTrail.open({ shared: redisStore(redis, { prefix: 'bench' }) });
  app.use(expressSession(trail, { secure: false }));
  read = (req) => req.session.get('n');
  write = (req, n) => req.session.set('n', n);
} else {
  app.use(session({ store: new RedisStore({ client: redis, prefix: 'bench-es:' }), secret: 'bench', resave: false, saveUninitialized: false }));
  read = async (req) => req.session.n;
  write = async (req, n) => {
    req.session.n = n;
  };
}
app.get('/', async (req, res) => {
  await write(req, ((await read(req)) ?? 0) + 1);
  res.json({ n: await read(req) });
});
const server = app.listen(0, '127.0.0.1', () => console.log(`listening ${server.address().port}`));
process.on('SIGTERM', () => process.exit(0));
