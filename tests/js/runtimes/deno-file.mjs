// Run by runtimes.test.mjs in Deno: a file-backed engine through Deno's
// node:fs, written, closed, reopened and read.
import { UserTrail } from 'usertrail';

const file = `${Deno.makeTempDirSync()}/trail.db`;
const clock = () => 1_700_000_000_000;
const trail = await UserTrail.open({ storage: { file }, clock });
await trail.tracking.trackBatch(Array.from({ length: 20 }, (_, i) => ({ name: 'click', userId: 'ann', properties: { i } })));
await trail.close();
const again = await UserTrail.open({ storage: { file }, clock });
const events = await again.tracking.count({ userId: 'ann' });
let code = null;
try {
  await UserTrail.open({ storage: { file }, clock });
} catch (err) {
  code = err.code;
}
await again.close();
console.log(JSON.stringify({ events, code, bytes: Deno.statSync(file).size > 0 }));
