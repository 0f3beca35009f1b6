// The worker thread of the command line's long operations (ops.js): runs
// one, posting its progress, then its result or its error.
import { parentPort, workerData } from 'node:worker_threads';
import { run } from './ops.js';

run(workerData, (progress) => parentPort.postMessage({ progress })).then(
  (result) => parentPort.postMessage({ result }),
  (err) => parentPort.postMessage({ error: { code: typeof err?.code === 'string' ? err.code : 'INTERNAL', message: String(err?.message ?? err), field: err?.field } }),
);
