// Spawned by file.test.mjs: writes numbered batches to a file engine and
// prints each batch's number once its commit returned (acknowledged), until
// it is killed.
import { UserTrail } from 'usertrail';

const [file, run, durability = 'full'] = process.argv.slice(2);
const trail = await UserTrail.open({ storage: { file }, durability });
for (let i = 0; ; i++) {
  const user = `r${run}-b${i}`;
  await trail.tracking.trackBatch(Array.from({ length: 50 }, (_, k) => ({ name: 'write', userId: user, properties: { k } })));
  process.stdout.write(`${i}\n`);
}
