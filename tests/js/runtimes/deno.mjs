// Run by runtimes.test.mjs with `deno run`: the package's one import in Deno.
import { UserTrail, UserTrailError } from 'usertrail';

const trail = await UserTrail.open({ storage: 'memory', clock: () => 1234 });
const copy = await UserTrail.open({ storage: { bytes: await trail.export() } });
let code = null;
try {
  await UserTrail.open({ storage: { bytes: new Uint8Array(3) } });
} catch (err) {
  code = err instanceof UserTrailError ? err.code : String(err);
}
console.log(JSON.stringify({ schemaVersion: copy.schemaVersion, createdAt: copy.createdAt, code }));
