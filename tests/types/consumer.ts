// Compiled with `tsc --noEmit` against the installed package: the shipped
// types must describe the API as documented.
import {
  UserTrail,
  UserTrailError,
  init,
  initSync,
  type ClientContext,
  type CreatedSession,
  type ErrorCode,
  type OpenOptions,
  type HistoryPage,
  type OutboxBatch,
  type PrefChange,
  type PrefValue,
  type Session,
  type TrackResult,
  type Summary,
  type ActiveUsers,
  type Funnel,
  type Retention,
  type Paths,
  type Experiment,
  type ExperimentResults,
  type ConsentStatus,
  type WithdrawResult,
  type LedgerEntry,
  type ExportFile,
  type ExportProgress,
  type EraseReport,
  type AnonymizeReport,
  type AuditEntry,
  type RetentionPolicy,
  type RetentionReport,
  Tracker,
} from 'usertrail';
import { expressSession, honoSession, sessionMiddleware, type RequestSession } from 'usertrail/middleware';
import { connect, Tracker as BrowserTracker, UserTrailError as BrowserError, type BrowserTrail } from 'usertrail/browser';
import { NAMESPACES, remoteShape } from 'usertrail/browser-worker';

async function main(): Promise<void> {
  await init();
  const options: OpenOptions = { storage: 'memory', clock: () => Date.now(), busyTimeoutMs: 100 };
  const trail: UserTrail = await UserTrail.open(options);
  const _defaults: UserTrail = await UserTrail.open();
  const version: string = trail.version;
  const schema: number = trail.schemaVersion;
  const created: number = trail.createdAt;
  const bytes: Uint8Array = await trail.export();
  await UserTrail.open({ storage: { bytes } });
  await UserTrail.open({ storage: { opfs: { name: 'app.db', pool: 'app', directory: '.app' } } });
  await trail.close();
  try {
    await UserTrail.open({ storage: 'opfs' });
  } catch (err) {
    if (err instanceof UserTrailError) {
      const code: ErrorCode = err.code;
      const field: string | undefined = err.field;
      console.log(code, field, version, schema, created);
    }
  }
  // @ts-expect-error: not a storage kind
  await UserTrail.open({ storage: 'floppy' });
  // @ts-expect-error: codes are a closed set
  const _bad: ErrorCode = 'NOPE';
  initSync(new Uint8Array(0));
}

void main;

async function sessions(trail: UserTrail): Promise<void> {
  const created: CreatedSession = await trail.sessions.create({ userId: 'alice', ip: '1.2.3.4', data: { cart: [] } });
  const token: string = created.token;
  const session: Session | null = await trail.sessions.validate(token, { userAgent: 'x' });
  if (session) {
    const version: number = session.version;
    const device: 'desktop' | 'mobile' | 'tablet' | 'bot' | 'unknown' = session.client.device;
    await trail.sessions.merge(token, { step: 1 }, { expectedVersion: version });
    console.log(device);
  }
  const list: Session[] = await trail.sessions.list('alice');
  const n: number = await trail.sessions.destroyAllForUser('alice', { exceptSessionId: list[0]?.sessionId });
  const value: unknown = await trail.sessions.get(token, 'cart');
  // @ts-expect-error: every engine method returns a Promise, on every host
  const notAwaited: Session | null = trail.sessions.validate(token);
  void notAwaited;
  const accepted: ClientContext = await trail.sessions.acceptedClient({ ip: 'not an ip', userAgent: 'x' });
  await trail.sessions.set(token, 'cart', [1, 2]);
  await trail.sessions.set(token, 'cart', null);
  // @ts-expect-error: undefined is refused (sessions.remove deletes a key)
  await trail.sessions.set(token, 'cart', undefined);
  // A merge patch may leave keys out (undefined is no key).
  await trail.sessions.merge(token, { cart: undefined, seen: 1 });
  const opened = await UserTrail.open({
    sessions: { idleTimeoutSecs: 60, fingerprint: 'strict', keys: [{ id: 'k1', key: new Uint8Array(32) }] },
    ipMask: { v4Bits: 8 },
  });
  // @ts-expect-error: not a fingerprint policy
  await UserTrail.open({ sessions: { fingerprint: 'paranoid' } });
  console.log(n, value, opened);
}

void sessions;

async function tracking(trail: UserTrail): Promise<void> {
  const r: TrackResult = await trail.tracking.track({ type: 'page', name: 'view', properties: { a: 1 } });
  const results: TrackResult[] = await trail.tracking.trackBatch([{ name: 'a' }], { partial: true });
  const page: HistoryPage = await trail.tracking.history({ userId: 'alice', limit: 10 });
  const n: number = await trail.tracking.count({ anonymousId: 'x', types: ['page'] });
  await trail.tracking.defineEvent('checkout', { required: { total: 'number', currency: { enum: ['EUR'] } } });
  await trail.tracking.defineDimension({ name: 'plan', type: 'string' });
  const batch: OutboxBatch | null = await trail.tracking.outbox.take(10);
  const tracker = new Tracker(trail, { maxBatch: 50 });
  const id: string = tracker.track({ name: 'click' });
  await tracker.flush();
  // @ts-expect-error: not an event type
  await trail.tracking.track({ type: 'click', name: 'x' });
  console.log(r, results, page, n, batch, id);
}

void tracking;

async function prefs(trail: UserTrail): Promise<void> {
  const v: PrefValue = await trail.prefs.get('alice', 'appearance.theme');
  const all: PrefValue[] = await trail.prefs.getAll('alice', { category: 'locale' });
  await trail.prefs.setMany('alice', { 'appearance.theme': 'dark' }, { source: 'settings' });
  // @ts-expect-error: undefined is refused (prefs.reset goes back to the default)
  await trail.prefs.setMany('alice', { 'appearance.theme': undefined });
  // @ts-expect-error: as above
  await trail.prefs.set('alice', 'appearance.theme', undefined);
  await trail.prefs.set('alice', 'appearance.theme', 'dark');
  await trail.prefs.define({ key: 'k.n', category: 'k', type: 'number', default: 1, min: 0 });
  const changes: PrefChange[] = await trail.prefs.history('alice');
  const n: number = await trail.prefs.reset('alice');
  // @ts-expect-error: not a preference type
  await trail.prefs.define({ key: 'k', category: 'k', type: 'date', default: 1 });
  // Each type takes its own options, and a default of its type.
  await trail.prefs.define({ key: 'k.e', category: 'k', type: 'enum', default: 'a', values: ['a', 'b'] });
  await trail.prefs.define({ key: 'k.s', category: 'k', type: 'string', default: 'fr', format: 'bcp47', maxLength: 35 });
  await trail.prefs.define({ key: 'k.j', category: 'k', type: 'json', default: { a: [1] }, maxBytes: 1024 });
  // @ts-expect-error: min is for numbers
  await trail.prefs.define({ key: 'k.s', category: 'k', type: 'string', default: 'a', min: 1 });
  // @ts-expect-error: an enum needs its values
  await trail.prefs.define({ key: 'k.e', category: 'k', type: 'enum', default: 'a' });
  // @ts-expect-error: a bool's default is a boolean
  await trail.prefs.define({ key: 'k.b', category: 'k', type: 'bool', default: 'yes' });
  for (const d of await trail.prefs.definitions()) {
    // Narrowed by its type.
    if (d.type === 'enum') {
      const values: string[] = d.values;
      void values;
    }
  }
  console.log(v, all, changes, n);
}

void prefs;

async function analytics(trail: UserTrail): Promise<void> {
  const a = trail.analytics;
  const s: Summary = await a.summary({ since: 0, until: Date.now(), eventType: 'page', name: ['a', 'b'] });
  const active: ActiveUsers = await a.activeUsers({ interval: 'week', timezone: 60, segment: { property: 'referrer', equals: 'x' } });
  const users: number = active.buckets[0]?.users ?? 0;
  await a.summary({ segment: { property: 'properties.plan', equals: 3 } });
  await a.summary({ segment: { property: 'dimensions.plan', equals: 'pro' } });
  // @ts-expect-error: a segment's property is a field of the event
  await a.summary({ segment: { property: 'referer', equals: 'x' } });
  const f: Funnel = await a.funnel({ steps: ['view', 'buy'], windowSecs: 3600, order: 'strict', breakdown: 'plan' });
  const r: Retention = await a.retention({ cohort: 'day', periods: 7, returnEvent: 'buy' });
  const cell: number | null | undefined = r.rows[0]?.counts[1];
  const p: Paths = await a.paths({ startAt: '/', items: 'path', by: 'user' });
  await a.featureUsage({ prefix: 'feature.' });
  await a.featureUsage({ features: ['a'] });
  await a.topPages({ limit: 5 });
  await a.realtime({ windowSecs: 60 });
  a.eventBreakdown({ by: 'type' });
  await a.patterns({ length: 2, minSupport: 0.1 });
  await a.sessionDurations();
  await a.cohorts({ period: 'month', by: 'plan' });
  await trail.experiments.define({ key: 'e', variants: [{ name: 'a', weight: 1 }, { name: 'b', weight: 1 }] });
  const variant: string = await trail.experiments.assign('e', 'alice');
  const res: ExperimentResults = await trail.experiments.results('e', { goal: 'buy' });
  const pValue: number | undefined = res.variants[1]?.vsControl?.pValue;
  const e: Experiment[] = await trail.experiments.list();
  // @ts-expect-error: not an interval
  await a.activeUsers({ interval: 'year' });
  // @ts-expect-error: a funnel needs steps
  await a.funnel({ windowSecs: 5 });
  console.log(s, users, f, cell, p, variant, pValue, e);
}

void analytics;

async function files(): Promise<void> {
  const onDisk: UserTrail = await UserTrail.open({ storage: { file: './trail.db' } });
  onDisk.close();
}

void files;

async function privacy(): Promise<void> {
  const trail = await UserTrail.open({
    privacy: { policyVersion: '2026-03', requireConsent: ['analytics'], redactPii: true, purposes: ['newsletter'], retentionIntervalSecs: 3600 },
  });
  const p = trail.privacy;
  const s: ConsentStatus = await p.grant('ann', { purposes: ['analytics', 'newsletter'], source: 'banner', text: 'We count visits.' });
  const granted: boolean | undefined = s.purposes['analytics']?.granted;
  const w: WithdrawResult = await p.withdraw('ann', { purposes: ['analytics'], source: 'settings', erase: true });
  const erasedEvents: number | undefined = w.erased['events'];
  const gpc: ConsentStatus = await p.applyGlobalPrivacyControl('ann');
  const ledger: LedgerEntry[] = await p.ledger({ subject: 'ann', limit: 10 });
  const ok: boolean = (await p.verifyLedger()).ok && (await p.verifyAudit()).ok;
  const file: ExportFile = await p.export('ann', { format: 'csv', onProgress: (x: ExportProgress) => void x.rows });
  const bytes: Uint8Array = file.bytes;
  const erased: EraseReport = await p.erase('ann', { reason: 'user request', actor: 'support' });
  const anon: AnonymizeReport = await p.anonymize('bob', { vacuum: false });
  await p.vacuum();
  await p.rectify('cy', { userId: 'cyril' });
  const audit: AuditEntry[] = await p.audit({ action: 'erase', since: 0 });
  const policy: RetentionPolicy = await p.retention.set({ events: '400d', outbox: null });
  const run: RetentionReport = await p.retention.run({ dryRun: true });
  const dropped: number = await p.droppedWithoutConsent();
  // @ts-expect-error: not a format
  await p.export('ann', { format: 'xml' });
  await p.erase('ann', {});
  // @ts-expect-error: a reason is text
  await p.erase('ann', { reason: 5 });
  console.log(granted, erasedEvents, gpc, ledger, ok, bytes, erased, anon, audit, policy, run.counts.events, dropped);
}

void privacy;

async function middleware(trail: UserTrail): Promise<void> {
  const handle = sessionMiddleware(trail, { secure: false, trackPageViews: true })(async (request, { session }) => {
    const s: RequestSession = session;
    await s.set('n', 1);
    const n = await s.get('n');
    const id: string | null = s.id;
    if (s.isNew) await s.login('ann');
    // @ts-expect-error: session methods return Promises
    const sync: number = s.get('n');
    void sync;
    return new Response(String(n) + id);
  });
  const res: Response = await handle(new Request('https://example.com/'));
  const mw = expressSession(trail, {
    trustProxy: 'loopback',
    sameSite: 'Strict',
    onError: (err: unknown, req: { method: string; url: string }) => console.error(req.url, err),
  });
  const hono = honoSession(trail, { cookieName: 'sid', secure: false });
  // @ts-expect-error: not a SameSite value
  expressSession(trail, { sameSite: 'Sometimes' });
  console.log(res, mw, hono);
}

void middleware;

async function browser(): Promise<void> {
  const trail: BrowserTrail = await connect({
    name: 'shop',
    fallback: 'error',
    timeoutMs: 5000,
    sessions: { idleTimeoutSecs: 600 },
    worker: new URL('./my-worker.js', 'https://example.com/'),
  });
  const persistent: boolean = trail.persistent;
  const why: string | undefined = trail.reason?.message;
  const leader: boolean = trail.leader;
  const created: CreatedSession = await trail.sessions.create({ userId: 'ann' });
  const valid: Session | null = await trail.sessions.validate(created.token);
  const results: TrackResult[] = await trail.tracking.trackBatch([{ name: 'x', userId: 'ann' }]);
  const batch: OutboxBatch | null = await trail.tracking.outbox.take(10);
  const policy: RetentionPolicy = await trail.privacy.retention.get();
  const file: ExportFile = await trail.privacy.export('ann', { format: 'json', onProgress: (p) => void p.rows });
  const db: Uint8Array = await trail.export();
  const version: string = trail.version;
  const tracker = new BrowserTracker(trail, { maxBatch: 10 });
  tracker.track({ name: 'y', userId: 'ann' });
  await trail.close();
  // @ts-expect-error: methods of the client return Promises
  const sync: CreatedSession = trail.sessions.create();
  // @ts-expect-error: connect chooses the storage
  await connect({ storage: 'memory' });
  // @ts-expect-error: no such fallback
  await connect({ fallback: 'disk' });
  try {
    await trail.tracking.track({ name: '' });
  } catch (err) {
    if (err instanceof BrowserError) {
      const code: ErrorCode = err.code;
      console.log(code);
    }
  }
  console.log(persistent, why, leader, valid, results, batch, policy, file, db, version, sync, NAMESPACES, remoteShape());
}

void browser;

async function pipeline(trail: UserTrail): Promise<void> {
  const { collector, expressCollector } = await import('usertrail/collector');
  const { ship, runPartition, acrossPartitions, backoff } = await import('usertrail/pipeline');
  const { redisStore } = await import('usertrail/redis');
  const handle: (r: Request) => Promise<Response> = collector(trail, { writeKeys: ['0123456789abcdef'], maxEvents: 100 });
  expressCollector(trail);
  const results = await trail.pipeline.collect([]);
  for (const r of results) {
    if (r.status === 'accepted') console.log(r.partition);
    else if (r.status === 'rejected') console.log(r.error.code);
  }
  const step = await trail.pipeline.consume(0, { max: 100, trim: 'snapshot' });
  const position: string = step.position;
  const partial = await trail.pipeline.partial('funnel', { steps: ['a', 'b'] });
  const merged: unknown = await trail.pipeline.merge([partial]);
  const shipper = ship(trail, { url: 'https://collect.example.com/', headers: { authorization: 'Bearer x' } });
  await shipper.flush();
  await shipper.stop();
  await runPartition(trail, { partition: 0, signal: AbortSignal.timeout(10) });
  const across = acrossPartitions(['http://127.0.0.1:1/'], trail);
  await across.query('activeUsers', { interval: 'day' });
  const shared = redisStore({ evalSha: async () => null, eval: async () => null }, { prefix: 'ut', timeoutMs: 500 });
  await UserTrail.open({ shared, tracking: { pipeline: { partitions: 8 } } });
  const durable = redisStore({ evalSha: async () => null, eval: async () => null }, { durableWrites: { replicas: 1, timeoutMs: 500 } });
  const wait: number | undefined = durable.durableWrites?.timeoutMs;
  // @ts-expect-error: replicas is a number
  redisStore({ evalSha: async () => null, eval: async () => null }, { durableWrites: { replicas: '1' } });
  const journeys = await trail.pipeline.partial('paths', { steps: 3 });
  const pathsMerged: Paths = await trail.pipeline.merge([journeys]);
  // @ts-expect-error: not a mergeable query
  await trail.pipeline.partial('journeys', {});
  // @ts-expect-error: patterns have no steps
  await trail.pipeline.partial('patterns', { steps: 3 });
  // @ts-expect-error: not a trim
  await trail.pipeline.consume(0, { trim: 'all' });
  const b: BrowserTrail = await connect({ name: 'shop', transport: { url: '/collect' } });
  await b.shipper?.flush();
  console.log(handle, position, merged, backoff(2), wait);
}

void pipeline;
