// App processes for the multi-process tests: `startApp` runs
// tests/js/app-server.mjs (Express, usertrail/middleware, sessions in Redis)
// on a free loopback port; `browser` is one cookie jar calling any of them.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Starts an app process on `url` (see app-server.mjs) under `prefix`; `extra` are more arguments. */
export async function startApp(url, prefix, ...extra) {
  const child = spawn(process.execPath, [fileURLToPath(new URL('./app-server.mjs', import.meta.url)), url, prefix, ...extra], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.setEncoding('utf8');
  const port = await new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/listening (\d+)/);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (c) => reject(new Error(`app exited ${c}: ${out}`)));
  });
  return { child, base: `http://127.0.0.1:${port}` };
}

/** A browser: one cookie jar, any of the apps. */
export function browser() {
  let cookie = null;
  return {
    get cookie() {
      return cookie;
    },
    set cookie(value) {
      cookie = value;
    },
    async call(app, path, method = 'GET') {
      const res = await fetch(app.base + path, { method, headers: cookie ? { cookie } : {}, signal: AbortSignal.timeout(10_000) });
      const set = res.headers.getSetCookie();
      for (const c of set) {
        const [pair, ...attrs] = c.split('; ');
        cookie = attrs.includes('Max-Age=0') ? null : pair;
      }
      return { status: res.status, set, body: await res.json() };
    },
  };
}
