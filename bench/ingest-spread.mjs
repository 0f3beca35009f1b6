// Ingest where each event of a block is a different user's: 200,000
// events of 5,000 users in turn, 50 names, in batches of 2,000, into a
// file (durability `normal`). What rows by name cost at their worst
// (each block's list holds a key per event). Prints the time and the
// bytes per event once checkpointed.
//
// Usage: node bench/ingest-spread.mjs <pkg dir> <file>   (the file is replaced)
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import fs from 'node:fs';

const [pkg, file] = process.argv.slice(2);
if (!pkg || !file) {
  console.error('usage: node bench/ingest-spread.mjs <pkg dir> <file>');
  process.exit(2);
}
for (const f of [file, `${file}-wal`, `${file}-shm`]) fs.rmSync(f, { force: true });
const { UserTrail } = await import(pathToFileURL(resolve(pkg, 'index.js')));
let now = 1767225600000;
const ut = await UserTrail.open({ storage: { file }, durability: 'normal', clock: () => now });
const steps = ['page_view', 'product_view', 'add_to_cart', 'checkout', 'purchase'];
const names = Array.from({ length: 50 }, (_, i) => steps[i] ?? `action_${i}`);
const t = performance.now();
for (let b = 0; b < 100; b++) {
  const batch = [];
  for (let i = 0; i < 2000; i++) {
    const u = (b * 2000 + i) % 5000;
    now += 50;
    batch.push({ name: names[(i * 7) % 50], type: 'action', userId: `user-${u}`, sessionId: `s-${u}-${b >> 3}`, ts: now });
  }
  await ut.tracking.trackBatch(batch);
}
const ms = performance.now() - t;
await ut.close();
// Closing checkpoints the log into the file.
const bytes = fs.statSync(file).size;
console.log(JSON.stringify({ pkg, events: 200_000, ms: Math.round(ms), bytesPerEvent: +(bytes / 200_000).toFixed(1) }));
