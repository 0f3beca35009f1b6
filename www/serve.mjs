// The demo's static server: www/ at /, the npm package at /pkg/, and the
// chart library at /vendor/.
// Usage: node www/serve.mjs [port]   (./build.sh demo uses 8080)
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
};

/** The files the page takes from npm packages (dev dependencies of the repo). */
const VENDOR = {
  '/vendor/chart.umd.min.js': 'node_modules/chart.js/dist/chart.umd.min.js',
};

/** Maps a URL path to a file under www/ or pkg/, or null if outside them. */
function resolve(urlPath) {
  const path = decodeURIComponent(urlPath.split('?')[0]);
  if (VENDOR[path]) return join(ROOT, VENDOR[path]);
  const [base, rest] = path.startsWith('/pkg/') ? ['pkg', path.slice(5)] : ['www', path.slice(1) || 'index.html'];
  const dir = join(ROOT, base);
  const file = normalize(join(dir, rest));
  return file.startsWith(dir + sep) ? file : null;
}

/** Starts the server on 127.0.0.1:`port` (0 picks a free one). */
export function serve(port = 8080) {
  const server = createServer(async (req, res) => {
    const file = resolve(req.url ?? '/');
    try {
      if (!file) throw new Error('outside the served folders');
      const body = await readFile(file);
      res.writeHead(200, {
        'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
        'cache-control': 'no-store',
      });
      res.end(body);
    } catch {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found\n');
    }
  });
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(server)));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const server = await serve(Number(process.argv[2] ?? 8080));
  console.log(`usertrail demo on http://127.0.0.1:${server.address().port}/`);
}
