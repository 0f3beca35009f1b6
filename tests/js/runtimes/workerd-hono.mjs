// Run by runtimes.test.mjs in workerd: a Hono app with usertrail's session
// middleware. The engine's clock is moved by the test through /advance.
import { Hono } from 'hono';
import { UserTrail, init } from 'usertrail';
import { honoSession } from 'usertrail/middleware';
import wasm from 'usertrail.wasm';

let now = 1_700_000_000_000;
let trail;
const app = new Hono();
app.use(async (c, next) => {
  if (!trail) {
    await init(wasm);
    trail = await UserTrail.open({ clock: () => now });
  }
  return honoSession(trail, { secure: false, clientIp: (ctx) => ctx.req.header('cf-connecting-ip') })(c, next);
});
const state = async (s) => ({ id: s.id, userId: s.userId, isNew: s.isNew, n: (await s.get('n')) ?? 0 });
app.get('/count', async (c) => {
  const s = c.get('session');
  await s.set('n', ((await s.get('n')) ?? 0) + 1);
  return c.json(await state(s));
});
app.get('/peek', async (c) => c.json(await state(c.get('session'))));
app.post('/login', async (c) => {
  await c.get('session').login(c.req.query('user'));
  return c.json(await state(c.get('session')));
});
app.post('/logout', async (c) => {
  await c.get('session').logout();
  return c.json(await state(c.get('session')));
});
app.post('/advance', (c) => {
  now += Number(c.req.query('ms'));
  return c.json({ now });
});

export default app;
