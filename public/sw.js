// persona-space service worker: keeps the app itself (HTML, scripts, styles, wasm) available
// offline after the first visit. Network first, so an online visit always gets the newest build;
// the cache only answers when the network cannot. Other origins (the hub) are never touched:
// downloaded vectors have their own cache in the app.
const CACHE = 'persona-space-app-v1';

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

self.addEventListener('fetch', (event) => {
  const req = event.request;
  if (req.method !== 'GET') return;
  const url = new URL(req.url);
  if (url.origin !== self.location.origin) return;
  event.respondWith(
    fetch(req)
      .then((res) => {
        if (res.ok && res.type === 'basic') {
          const copy = res.clone();
          caches.open(CACHE).then((c) => c.put(req, copy)).catch(() => {});
        }
        return res;
      })
      .catch(() => caches.match(req, { ignoreSearch: url.pathname.endsWith('/') || url.pathname.endsWith('.html') }).then((hit) => hit ?? Response.error())),
  );
});
