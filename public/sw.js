// persona-space service worker, two jobs:
// 1. Offline app shell: keeps the app itself (HTML, scripts, styles, wasm) available after the
//    first visit. Network first, so an online visit always gets the newest build; the cache only
//    answers when the network cannot. Other origins (the hub) are never touched: downloaded
//    vectors and models have their own cache in the app.
// 2. Cross-origin isolation on static hosts that cannot send headers (GitHub Pages and the like):
//    every same-origin response it serves gets COOP same-origin + COEP require-corp when the host
//    did not send them, so the page (after one reload, see index.html) is crossOriginIsolated and
//    onnxruntime-web's WASM can use threads. Hub downloads are CORS fetches and keep working.
const CACHE = 'persona-space-app-v2';
const ISOLATION = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) =>
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith('persona-space-app-') && k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  ),
);

/** The response with the isolation headers added where missing (opaque and error responses pass as they are). */
function isolated(res) {
  if (!res || res.type === 'opaque' || res.type === 'opaqueredirect' || res.status === 0) return res;
  if (res.headers.get('Cross-Origin-Embedder-Policy') && res.headers.get('Cross-Origin-Opener-Policy')) return res;
  const headers = new Headers(res.headers);
  for (const [k, v] of Object.entries(ISOLATION)) if (!headers.has(k)) headers.set(k, v);
  return new Response(res.status === 204 || res.status === 304 ? null : res.body, { status: res.status, statusText: res.statusText, headers });
}

self.addEventListener('fetch', (event) => {
  const req = event.request;
  if (req.method !== 'GET') return;
  const url = new URL(req.url);
  if (url.origin !== self.location.origin) return;
  // a Range request (media) or an only-if-cached one across origins cannot be replayed by fetch()
  if (req.cache === 'only-if-cached' && req.mode !== 'same-origin') return;
  event.respondWith(
    fetch(req)
      .then((res) => {
        if (res.ok && res.type === 'basic' && !req.headers.has('range')) {
          const copy = res.clone();
          caches.open(CACHE).then((c) => c.put(req, copy)).catch(() => {});
        }
        return isolated(res);
      })
      .catch(() =>
        caches.match(req, { ignoreSearch: url.pathname.endsWith('/') || url.pathname.endsWith('.html') }).then((hit) => (hit ? isolated(hit) : Response.error())),
      ),
  );
});
