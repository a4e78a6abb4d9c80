// The offline shell: the page's own files, network first (so a new version shows at once) and
// from the cache when the network is gone. The API is never cached here: the page keeps the last
// tip itself and queues reactions in the client's outbox.
const CACHE = "oo-shell-v1"; // a changed sw.js installs again, and addAll puts new files in this same cache
const SHELL = [
  "/",
  "/face.css",
  "/face.js",
  "/settings.js",
  "/quickadd.js",
  "/connections.js",
  "/calendars.js",
  "/firstrun.js",
  "/knows.js",
  "/signin.js",
  "/sessions.js",
  "/time.js",
  "/sdk/oo-client.js",
  "/manifest.webmanifest",
  "/icon.svg",
  "/icon-192.png",
  "/icon-512.png",
];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((key) => key !== CACHE).map((key) => caches.delete(key))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== location.origin || !SHELL.includes(url.pathname)) return;
  event.respondWith(
    fetch(event.request)
      .then((response) => {
        if (response.ok) {
          const copy = response.clone();
          caches.open(CACHE).then((cache) => cache.put(event.request, copy));
        }
        return response;
      })
      .catch(() => caches.match(event.request, { ignoreSearch: true })),
  );
});
