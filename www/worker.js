// The engine lives here, in a dedicated worker, so that it can use OPFS.
import { UserTrail, UserTrailError } from '../pkg/index.js';

let trail = null;

self.onmessage = (event) => {
  if (event.data?.type === 'export' && trail) {
    const bytes = trail.export();
    self.postMessage({ type: 'export', bytes }, [bytes.buffer]);
  }
};

async function start() {
  let persistent = true;
  let reason = null;
  try {
    trail = await UserTrail.open({ storage: 'opfs' });
  } catch (err) {
    // No OPFS here, or another tab holds it: say so, and keep working in memory.
    persistent = false;
    reason = err instanceof UserTrailError ? { code: err.code, message: err.message } : { code: 'UNKNOWN', message: String(err) };
    trail = await UserTrail.open({ storage: 'memory' });
  }
  self.postMessage({
    type: 'ready',
    version: trail.version,
    schemaVersion: trail.schemaVersion,
    createdAt: trail.createdAt,
    persistent,
    reason,
  });
}

start().catch((err) => self.postMessage({ type: 'failed', code: err?.code ?? 'UNKNOWN', message: String(err?.message ?? err) }));
