// A pipeline in Node under `strict`: the collector and a partition served
// with node:http, a shipper, and a coordinator whose answers are typed by
// query name; every failure is a UserTrailError.
import { createServer } from 'node:http';
import { UserTrail, UserTrailError, type Funnel, type Summary, type ExperimentResults, type Consumed, type Paths } from 'usertrail';
import { nodeCollector, collector } from 'usertrail/collector';
import { acrossPartitions, discoverPartitions, partitionHandler, runPartition, runWorker, ship, toNodeListener, type PartitionError } from 'usertrail/pipeline';
import { sessionMiddleware, toNodeListener as fromMiddleware } from 'usertrail/middleware';

const hub = await UserTrail.open({ tracking: { pipeline: { partitions: 2 } } });
createServer(nodeCollector(hub, { writeKeys: ['0123456789abcdef'] })).listen(3200);
createServer(toNodeListener(collector(hub))).listen(3201);
const part = await UserTrail.open({ tracking: { pipeline: { partitions: 2 } } });
void runPartition(part, { partition: 0, onStep: (step: Consumed) => console.log(step.stored) });
createServer(toNodeListener(partitionHandler(part))).listen(3202);
createServer(
  fromMiddleware(
    sessionMiddleware(hub, { secure: false, clientIp: (_req: Request, info: { remoteAddress?: string }) => info.remoteAddress })(
      async (_request, { session }) => new Response(session.id),
    ),
  ),
).listen(3203);

const device = await UserTrail.open({ tracking: { outbox: true } });
const shipper = ship(device, {
  url: 'http://127.0.0.1:3200/',
  onError: (err) => console.log(err.code, err.status),
});
await shipper.flush();

const across = acrossPartitions(['http://127.0.0.1:3202/'], hub, { timeoutMs: 5000 });
const funnel: Funnel = await across.query('funnel', { steps: ['view', 'buy'], windowSecs: 3600 });
const summary: Summary = await across.query('summary', { since: 0 });
const ab: ExperimentResults = await across.query('experimentResults', { key: 'checkout', goal: 'buy' });
// @ts-expect-error: a summary is not a funnel
const wrong: Funnel = await across.query('summary');
const paths: Paths = await across.query('paths', { startAt: '/', steps: 4, by: 'user' });
const support: number | undefined = (await across.query('patterns', { length: 2, minSupport: 0.1 })).patterns[0]?.support;
// @ts-expect-error: paths group by session or user only
await across.query('paths', { by: 'team' });
// @ts-expect-error: journeys is not a query
await across.query('journeys');
// @ts-expect-error: a funnel needs its steps
await across.query('funnel', { windowSecs: 5 });
const partial = await part.pipeline.partial('retention', { cohort: 'week', periods: 4 });
const merged = await hub.pipeline.merge([partial]);
const rows: number = merged.rows.length;
const count: number = await hub.tracking.count();
const pages: number = await hub.tracking.count({ types: ['page'], since: 0 });
try {
  await across.query('summary');
} catch (err) {
  if (err instanceof UserTrailError) {
    const where: string | undefined = err.partition;
    const status: number | undefined = err.status;
    console.log(where, status);
    const failed = err as PartitionError;
    console.log(failed.code, failed.partition, failed.status);
  }
}
console.log(funnel.steps.length, summary.events, ab.variants.length, wrong, rows, count, pages);

// Workers sharing the partitions by lease, and the coordinator that finds them.
const worker = runWorker(hub, {
  name: 'w1',
  url: 'http://127.0.0.1:3204/',
  open: (partition: number, snapshot: Uint8Array | null) =>
    UserTrail.open(snapshot ? { storage: { bytes: snapshot } } : { tracking: { pipeline: { partitions: 2 } } }),
  onChange: ({ partition, role }) => console.log(partition, role === 'holder'),
});
createServer(toNodeListener(worker.handler)).listen(3204);
const roles: string[] = worker.state().map((c) => c.role);
// @ts-expect-error: copies is a number
runWorker(hub, { name: 'w2', url: 'http://127.0.0.1:3205/', open: () => UserTrail.open(), copies: '2' });
const found = discoverPartitions(hub, { timeoutMs: 5000 });
const owners = await found.owners();
const token: number | undefined = owners[0]?.token;
const dau: Summary = await found.query('summary');
const leases = await hub.pipeline.owners();
const standbys: number = leases[0].copies.length;
await worker.stop();
console.log(roles, token, dau.events, standbys);
