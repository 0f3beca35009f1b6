// The operators' dashboard in a strict Node project: mounted in Express, on
// node:http, served by itself (Hono, which needs the DOM lib: hono-app.ts), over an engine or a coordinator;
// `trail.info()` and the privacy calls it uses, typed.
import { createServer } from 'node:http';
import express from 'express';
import { UserTrail, type ConsentRate, type EngineInfo, type RetentionSchedule } from 'usertrail';
import { dashboard, expressDashboard, nodeDashboard, serveDashboard, type DashboardAuth } from 'usertrail/dashboard';
import { acrossPartitions } from 'usertrail/pipeline';

const trail = await UserTrail.open({ storage: { file: 'app.db' } });
const app = express();
app.use('/admin/usertrail', expressDashboard(trail, { auth: { key: process.env.DASHBOARD_KEY ?? '', operator: 'ops' } }));
// @ts-expect-error: Express takes the base path from where it is mounted
expressDashboard(trail, { basePath: '/x' });
createServer(nodeDashboard(trail, { auth: { key: 'k'.repeat(16) } })).listen(3300, '127.0.0.1');
const hostAuth: DashboardAuth = async (request: Request) => request.headers.get('x-operator');
const across = acrossPartitions(['http://127.0.0.1:3202/'], trail);
const handle = dashboard(across, { auth: hostAuth, title: 'partitions' });
const res: Response = await handle(new Request('http://x/api/me'));
const served = await serveDashboard(trail, { port: 0 });
console.log(served.url, res.status);
await served.close();
// @ts-expect-error: unknown options are refused
dashboard(trail, { colour: 'red' });

const info: EngineInfo = await trail.info();
const rows: number = info.tables.events + info.pageCount * info.pageSize;
const schedule: RetentionSchedule = await trail.privacy.retention.schedule();
const next: number = schedule.nextRun;
const rates: ConsentRate[] = await trail.privacy.consentRates();
await trail.privacy.vacuum({ into: 'copy.db' });
console.log(rows, next, rates[0]?.rate);
