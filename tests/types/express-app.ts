// An Express 5 app written as a user would, in TypeScript under `strict`,
// with sessions on Redis, Passport and connect-flash: `req.session` is typed
// by the middleware's Express augmentation and the app's `SessionData`.
import express, { type NextFunction, type Request, type Response } from 'express';
import flash from 'connect-flash';
import passport from 'passport';
import { Strategy as LocalStrategy } from 'passport-local';
import { createClient } from 'redis';
import { UserTrail, UserTrailError, type ErrorCode } from 'usertrail';
import { expressSession, type RequestSession } from 'usertrail/middleware';
import { redisStore } from 'usertrail/redis';

declare module 'usertrail/middleware' {
  interface SessionData {
    cart: { sku: string; qty: number }[];
    visits: number;
  }
}

const redis = await createClient({ url: process.env.REDIS_URL })
  .on('error', (err: Error) => console.error('redis:', err.message))
  .connect();
const trail = await UserTrail.open({ shared: redisStore(redis), sessions: { rememberAbsoluteTimeoutSecs: 7 * 86_400 } });

passport.use(
  new LocalStrategy((username, password, done) =>
    done(null, password === 'secret' ? { id: username } : false),
  ),
);
passport.serializeUser((user: Express.User, done) => done(null, (user as { id: string }).id));
passport.deserializeUser((id: string, done) => done(null, { id }));

const app = express();
app.use(express.urlencoded({ extended: false }));
app.use(expressSession(trail, { secure: false, trustProxy: 'loopback' }));
app.use(passport.session());
app.use(flash());

app.get('/cart', async (req: Request, res: Response) => {
  const session: RequestSession = req.session;
  req.session.visits = (req.session.visits ?? 0) + 1;
  const cart: { sku: string; qty: number }[] = req.session.cart ?? [];
  cart.push({ sku: 'A1', qty: 1 });
  req.session.cart = cart;
  await req.session.set('visits', 3);
  const stored: number | undefined = await req.session.get('visits');
  // @ts-expect-error: a number is not a cart
  req.session.cart = 5;
  // @ts-expect-error: set is typed by SessionData too
  await req.session.set('cart', 'nope');
  const left: number | null = req.session.cookie.maxAge;
  req.session.cookie.maxAge = 30 * 86_400_000;
  res.json({ id: session.id, cart, stored, left, messages: req.flash('info') });
});

app.post(
  '/login',
  passport.authenticate('local', { failureRedirect: '/login', failureFlash: false }),
  async (req: Request, res: Response) => {
    if (req.body.remember === 'on') await req.session.login(req.user!.id, { remember: true });
    req.flash('info', 'welcome');
    res.redirect('/');
  },
);

app.post('/logout', (req: Request, res: Response, next: NextFunction) => {
  req.logout((err) => (err ? next(err) : req.session.regenerate(() => res.redirect('/'))));
});

app.post('/save', (req: Request, res: Response, next: NextFunction) => {
  req.session.save((err?: unknown) => (err ? next(err) : res.end()));
  req.session.reload(() => undefined);
  req.session.touch().destroy();
});

app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
  if (err instanceof UserTrailError) {
    const code: ErrorCode = err.code;
    if (code === 'STORE_UNAVAILABLE') return void res.status(503).json({ error: code });
  }
  res.status(500).end();
});

declare global {
  namespace Express {
    interface User {
      id: string;
    }
  }
}

app.listen(Number(process.env.PORT ?? 3000));
