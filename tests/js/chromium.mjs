// What the Chromium tests share: serving the packed package to the page, and
// a headless Chromium profile of its own.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const PKG = fileURLToPath(new URL('./node_modules/usertrail/', import.meta.url));
const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm' };

/** `/pkg/<file>` from the installed package as `[body, type]`, or null
 *  (outside the package, missing, or not under `/pkg/`). */
export function packageFile(path) {
  if (!path.startsWith('/pkg/')) return null;
  const file = normalize(join(PKG, path.slice(5)));
  if (!(file.startsWith(PKG) || file + sep === PKG)) return null;
  try {
    return [readFileSync(file), TYPES[extname(file)] ?? 'application/octet-stream'];
  } catch {
    return null;
  }
}

/** A headless Chromium with a fresh profile (its own OPFS and storage). */
export function launchChromium(name, args = []) {
  return chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), `usertrail-${name}-`)), {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', ...args],
  });
}
