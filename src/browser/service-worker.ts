/**
 * The exported site's service worker: on install it stores every file of the site, and it then
 * answers the site's own requests from that store first, so the page works offline after its
 * first visit. A new export (another `version`) replaces the store.
 */
export function serviceWorker(files: readonly string[], version: string): string {
  return `const CACHE = ${JSON.stringify(`facegender-${version}`)};
const FILES = ${JSON.stringify(files)};
self.addEventListener('install', (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(FILES)).then(() => self.skipWaiting()));
});
self.addEventListener('activate', (event) => {
  event.waitUntil(caches.keys().then((keys) => Promise.all(keys.filter((k) => k.startsWith('facegender-') && k !== CACHE).map((k) => caches.delete(k)))).then(() => self.clients.claim()));
});
self.addEventListener('fetch', (event) => {
  if (event.request.method !== 'GET' || new URL(event.request.url).origin !== self.location.origin) return;
  event.respondWith(caches.match(event.request, { ignoreSearch: true }).then((hit) => hit || fetch(event.request)));
});
`;
}
