// A Hono app under `strict`: `c.get('session')` is typed through the
// middleware's `SessionEnv`.
import { Hono } from 'hono';
import { UserTrail } from 'usertrail';
import { honoSession, type SessionEnv, type SessionVariables, type SessionWithData } from 'usertrail/middleware';

declare module 'usertrail/middleware' {
  interface SessionData {
    theme: 'light' | 'dark';
  }
}

const trail = await UserTrail.open();
const app = new Hono<SessionEnv>();
app.use(honoSession(trail, { secure: false }));
app.get('/', async (c) => {
  const session: SessionWithData = c.get('session');
  const theme: 'light' | 'dark' | undefined = session.theme;
  session.theme = 'dark';
  // @ts-expect-error: not a theme
  session.theme = 'blue';
  if (session.isNew) await session.login('ann', { remember: true });
  return c.text(`hello ${session.userId ?? 'visitor'} ${theme}`);
});

// An app with its own environment adds the session's variables to its own.
type MyEnv = { Variables: SessionVariables & { requestId: string }; Bindings: { DB: string } };
const other = new Hono<MyEnv>();
other.use(honoSession(trail));
other.get('/', (c) => c.text(`${c.get('requestId')} ${c.get('session').id}`));

export default app;

// The operators' dashboard, mounted in Hono under a base path.
import { honoDashboard } from 'usertrail/dashboard';
const admin = new Hono();
admin.all('/admin/usertrail/*', honoDashboard(trail, { basePath: '/admin/usertrail', auth: (request) => request.headers.get('x-operator') }));
