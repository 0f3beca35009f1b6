// The README's example runs as written, against the packed package.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

test("README's example runs", () => {
  const readme = readFileSync(join(process.env.ROOT, 'README.md'), 'utf8');
  const example = readme.match(/## Example\n\n```js\n([\s\S]*?)```/)?.[1];
  assert.ok(example, 'no js example under "## Example"');
  const file = new URL('./readme-example.mjs', import.meta.url);
  writeFileSync(file, example);
  const out = execFileSync(process.execPath, [file.pathname]).toString();
  assert.match(out, /user-42 \[ \{ sku: 'A1', qty: 2 \} \]/);
  assert.match(out, /changed meanwhile/);
  // The page view, and the login the engine records itself.
  assert.match(out, /1 user, 2 event today/);
  assert.match(out, /2 event exported, then erased; audit intact: true/);
});
