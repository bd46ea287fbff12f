// edgeplay's service worker: after one visit the playground opens and runs with no
// network. Registered by src/offline.rs; copied into dist/ by trunk, where
// scripts/precache.mjs (trunk's post_build hook) writes dist/precache.json — every
// file of the build — and puts that build's hash in BUILD below, so each build's
// sw.js differs and the browser installs it on the next visit.
//
// install:  fetch precache.json and cache every file it lists (one cache per build).
// activate: delete other builds' caches, take control of the open pages.
// fetch:    same-origin GETs from the cache (network when not cached); a navigation
//           to the page (`/`, `/?embed`, `/index.html#f=…`) is answered index.html.
//           Cross-origin requests (a guest's backend fetches) are not touched: they
//           go to the network as if there were no service worker, and are never cached.
const BUILD = "__EDGEPLAY_BUILD__";
const PREFIX = "edgeplay-";
const CACHE = PREFIX + BUILD;
const MANIFEST = "precache.json";

// The directory the worker is served from (the app's scope), e.g. "/" or "/play/".
const base = new URL("./", self.location.href);

self.addEventListener("install", (event) => {
  event.waitUntil(
    (async () => {
      const res = await fetch(new URL(MANIFEST, base), { cache: "no-store" });
      if (!res.ok) throw new Error(`${MANIFEST}: HTTP ${res.status}`);
      const manifest = await res.clone().json();
      // A precache.json of another build (a deploy half done): do not install; the
      // browser tries again on the next visit.
      if (manifest.build !== BUILD) throw new Error(`${MANIFEST} is build ${manifest.build}, this worker ${BUILD}`);
      const cache = await caches.open(CACHE);
      // `reload`: past the HTTP cache, so every file is this build's.
      await cache.addAll(manifest.files.map((f) => new Request(new URL(f, base), { cache: "reload" })));
      await cache.put(new URL(MANIFEST, base), res);
      await self.skipWaiting();
    })(),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      for (const name of await caches.keys()) {
        if (name.startsWith(PREFIX) && name !== CACHE) await caches.delete(name);
      }
      await self.clients.claim();
    })(),
  );
});

/** The page's own URL (index.html) for a navigation to the app, else null. */
function pageFor(request, url) {
  if (request.mode !== "navigate") return null;
  const path = url.pathname;
  if (path === base.pathname || path === base.pathname + "index.html") return new URL("index.html", base);
  return null;
}

async function answer(request, url) {
  const cache = await caches.open(CACHE);
  const page = pageFor(request, url);
  const hit = page ? await cache.match(page) : await cache.match(request);
  if (hit) return hit;
  // The app's files do not vary by query: `worker-loader.js?state=ID` (a workspace
  // entry's worker) is the cached worker-loader.js, which reads its own query. A
  // worker's location is its script response's URL, so the answer must not carry
  // the cached URL (without the query): a new Response has none, and the worker
  // keeps the URL it was started with.
  const same = await cache.match(request, { ignoreSearch: true });
  if (same) return new Response(same.body, { status: same.status, statusText: same.statusText, headers: same.headers });
  return fetch(request);
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  // Cross-origin (a guest's backends) or outside the app: straight to the network.
  if (url.origin !== self.location.origin || !url.pathname.startsWith(base.pathname)) return;
  event.respondWith(answer(request, url));
});
