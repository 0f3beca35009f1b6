// Loaded by package.test.mjs in a worker thread: the installed package and
// its middleware import and run there too.
import { parentPort } from 'node:worker_threads';
import { UserTrail } from 'usertrail';
import { sessionMiddleware } from 'usertrail/middleware';

const trail = await UserTrail.open({ clock: () => 42 });
const handle = sessionMiddleware(trail)(async (request, { session }) => {
  await session.set('a', 1);
  return new Response('ok');
});
const res = await handle(new Request('https://example.com/'));
parentPort.postMessage({ createdAt: trail.createdAt, cookie: res.headers.get('set-cookie')?.split('=')[0] });
