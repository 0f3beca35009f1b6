// Compiled with `tsc --noEmit` against the installed package: the shipped
// types must describe the API as documented.
import { UserTrail, UserTrailError, init, initSync, type ErrorCode, type OpenOptions } from 'usertrail';

async function main(): Promise<void> {
  await init();
  const options: OpenOptions = { storage: 'memory', clock: () => Date.now(), busyTimeoutMs: 100 };
  const trail: UserTrail = await UserTrail.open(options);
  const _defaults: UserTrail = await UserTrail.open();
  const version: string = trail.version;
  const schema: number = trail.schemaVersion;
  const created: number = trail.createdAt;
  const bytes: Uint8Array = trail.export();
  await UserTrail.open({ storage: { bytes } });
  await UserTrail.open({ storage: { opfs: { name: 'app.db', pool: 'app', directory: '.app' } } });
  trail.close();
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
