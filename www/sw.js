// The app shell's service worker: after the first visit, the shop works
// offline. Network first (so a rebuilt package is picked up at once), and the
// cache when the network is not there.
const CACHE = 'teapot-shell-v5';
const SHELL = [
  './',
  './index.html',
  './style.css',
  './app.js',
  './config.js',
  './dom.js',
  './i18n.js',
  './products.js',
  './shop.js',
  './dashboard.js',
  './prefs.js',
  './privacy.js',
  './sample-worker.js',
  './vendor/chart.umd.min.js',
  '/pkg/browser.js',
  '/pkg/pipeline.js',
  '/pkg/browser-worker.js',
  '/pkg/rpc.js',
  '/pkg/node-http.js',
  '/pkg/index.js',
  '/pkg/tracker.js',
  '/pkg/unsent.js',
  '/pkg/node-fs.js',
  '/pkg/durable-object.js',
  '/pkg/gen/usertrail.js',
  '/pkg/gen/usertrail_bg.wasm',
  '/pkg/gen/error.js',
];

self.addEventListener('install', (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(CACHE);
      await cache.addAll(SHELL);
      // The bindings import wasm-bindgen snippets (the error class, the
      // argument reader) from a folder whose name is a hash: cache every one
      // the generated module names.
      const glue = await (await fetch('/pkg/gen/usertrail.js')).text();
      const snippets = [...glue.matchAll(/from '\.\/(snippets\/[^']+)'/g)].map((m) => `/pkg/gen/${m[1]}`);
      await cache.addAll([...new Set(snippets)]);
      await self.skipWaiting();
    })(),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    (async () => {
      for (const key of await caches.keys()) if (key !== CACHE) await caches.delete(key);
      await self.clients.claim();
    })(),
  );
});

self.addEventListener('fetch', (event) => {
  const { request } = event;
  if (request.method !== 'GET' || new URL(request.url).origin !== location.origin) return;
  event.respondWith(
    (async () => {
      try {
        const response = await fetch(request);
        if (response.ok) {
          const copy = response.clone();
          event.waitUntil(caches.open(CACHE).then((c) => c.put(request, copy)));
        }
        return response;
      } catch (err) {
        const cached = await caches.match(request, { ignoreSearch: true });
        if (cached) return cached;
        throw err;
      }
    })(),
  );
});
