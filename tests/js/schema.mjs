// The schema version the engine should report: one per migration file.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

export const SCHEMA_VERSION = readdirSync(join(process.env.ROOT, 'src', 'store', 'migrations')).filter((f) =>
  /^\d{4}_.*\.sql$/.test(f),
).length;
