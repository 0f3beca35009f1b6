// Run by runtimes.test.mjs in workerd: the host hands over a compiled module.
import { UserTrail, UserTrailError, init } from 'usertrail';
import wasm from 'usertrail.wasm';

export default {
  async fetch() {
    await init(wasm);
    const trail = await UserTrail.open({ storage: 'memory', clock: () => 1234 });
    const copy = await UserTrail.open({ storage: { bytes: await trail.export() } });
    let code = null;
    try {
      await UserTrail.open({ storage: { bytes: new Uint8Array(3) } });
    } catch (err) {
      code = err instanceof UserTrailError ? err.code : String(err);
    }
    return Response.json({ schemaVersion: copy.schemaVersion, createdAt: copy.createdAt, code });
  },
};
