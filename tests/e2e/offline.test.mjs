// The playground offline and installable: the service worker (web/sw.js) caches the
// whole build (dist/precache.json) on the first visit, so a reload with no network
// opens the page and runs an example; the web app manifest is linked; a guest's
// cross-origin backend fetches pass through to the network, never cached.
//   cd tests/e2e && node --test offline.test.mjs   (after trunk build --release)
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { launch, openApp, serveDir, distDir, root, status, text, byId, waitForRun, ensureArtifacts, useApp } from "./harness.mjs";
import { startCorsServer } from "./cors-server.mjs";

let browser;
let server;
useApp((b, s) => {
  browser = b;
  server = s;
});

const precache = () => JSON.parse(fs.readFileSync(path.join(distDir, "precache.json"), "utf8"));

/** Wait until the service worker controls the page with every precache entry cached. */
async function offlineReady(page) {
  await page.waitForSelector('html[data-offline="ready"]', { timeout: 120_000 });
  return page.evaluate(() => navigator.serviceWorker.controller?.scriptURL);
}

test("precache.json lists every file of the build, and sw.js carries its build hash", () => {
  const { build, files } = precache();
  assert.match(build, /^[0-9a-f]{16}$/);
  const all = [];
  const walk = (rel) => {
    for (const e of fs.readdirSync(path.join(distDir, rel), { withFileTypes: true })) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(p);
      else all.push(p);
    }
  };
  walk("");
  assert.deepEqual(files, all.filter((f) => f !== "sw.js" && f !== "precache.json").sort());
  for (const f of ["index.html", "worker-loader.js", "worker.js", "worker_bg.wasm", "examples/fanout.wasm", "manifest.webmanifest", "icons/icon-512.png"]) {
    assert.ok(files.includes(f), `precache lists ${f}`);
  }
  assert.ok(files.some((f) => /^edgeplay-web-.*\.wasm$/.test(f)), "the page's hashed wasm");
  const sw = fs.readFileSync(path.join(distDir, "sw.js"), "utf8");
  assert.ok(sw.includes(`const BUILD = "${build}";`), "sw.js names the build");
});

test("after one visit the page opens offline and runs the fanout example on its mock backends", async () => {
  const page = await openApp(browser, server.url);
  try {
    const script = await offlineReady(page);
    assert.equal(script, new URL("sw.js", server.url).href);
    const { build, files } = precache();
    const cached = await page.evaluate(async (files) => {
      const out = [];
      for (const f of files) if (await caches.match(f)) out.push(f);
      return { names: await caches.keys(), out };
    }, files);
    assert.deepEqual(cached.names, [`edgeplay-${build}`]);
    assert.deepEqual(cached.out, files);

    await page.context().setOffline(true);
    assert.equal(await page.evaluate(() => navigator.onLine), false);
    // The page, its wasm, the worker and the example all come from the cache.
    await page.reload();
    await page.waitForSelector('[data-worker="ready"]', { timeout: 30_000 });
    assert.ok(await page.evaluate(() => !!navigator.serviceWorker.controller), "controlled after the reload");
    await byId(page, "examples").selectOption("fanout");
    assert.match(await status(page), /^200/);
    await waitForRun(page);
    assert.equal((await text(page, "response-body")).trim(), "first=b\na=slow answer from a\nb=fast answer from b");
    await page.click('button[data-tab="Trace"]');
    await byId(page, "waterfall").waitFor();
    const rows = await page.$$eval('[data-testid="waterfall"] [data-backend]', (rows) =>
      rows.map((r) => ({ backend: r.dataset.backend, mock: r.dataset.mock, status: r.dataset.status })),
    );
    assert.deepEqual(
      rows.sort((a, b) => a.backend.localeCompare(b.backend)),
      [
        { backend: "a", mock: "static", status: "200" },
        { backend: "b", mock: "static", status: "200" },
      ],
    );
    await page.screenshot({ path: path.join(ensureArtifacts(), "offline.png") });

    // Every way the page is opened is answered index.html offline (a fragment, as
    // in a #f= fiddle link, never reaches the service worker).
    for (const suffix of ["?embed", "index.html", "#embed", "index.html?a=1#x"]) {
      const res = await page.goto(server.url + suffix);
      assert.equal(res.status(), 200, suffix);
      assert.ok(res.fromServiceWorker(), `${suffix}: from the service worker`);
      await page.waitForSelector('[data-worker="ready"]', { timeout: 30_000 });
    }
    assert.deepEqual(page.consoleErrors, [], "console errors");
  } finally {
    await page.context().close();
  }
});

test("a workspace entry's worker (worker-loader.js?state=ID) served by the service worker keeps its own state, also offline", async () => {
  const ctx = await browser.newContext();
  const page = await openApp(browser, server.url, { context: ctx });
  await offlineReady(page);
  await ctx.setOffline(true);
  // The worker opens its state's own database (edgeplay-state-ID) as it starts.
  const dbs = await page.evaluate(async () => {
    const w = new Worker("./worker-loader.js?state=probe1");
    await new Promise((resolve, reject) => {
      w.onmessage = () => resolve();
      w.onerror = (e) => reject(new Error(e.message));
    });
    await new Promise((r) => setTimeout(r, 300));
    w.terminate();
    return (await indexedDB.databases()).map((d) => d.name);
  });
  assert.ok(dbs.includes("edgeplay-state-probe1"), JSON.stringify(dbs));
  await ctx.close();
});

test("the web app manifest is linked, with the fields an install needs", async () => {
  const page = await openApp(browser, server.url);
  try {
    const href = await page.$eval('link[rel="manifest"]', (l) => l.href);
    assert.equal(href, new URL("manifest.webmanifest", server.url).href);
    const res = await page.request.get(href);
    assert.equal(res.status(), 200);
    assert.match(res.headers()["content-type"], /^application\/manifest\+json/);
    const m = await res.json();
    assert.equal(m.short_name, "edgeplay");
    assert.match(m.name, /edgeplay/);
    assert.equal(m.start_url, ".");
    assert.equal(m.display, "standalone");
    assert.equal(m.theme_color, "#161b26");
    assert.equal(m.background_color, "#f6f7f9");
    const icons = Object.fromEntries(m.icons.map((i) => [i.sizes, i]));
    assert.equal(icons.any.src, "favicon.svg");
    assert.equal(icons.any.type, "image/svg+xml");
    for (const size of [192, 512]) {
      const icon = icons[`${size}x${size}`];
      assert.equal(icon.type, "image/png");
      const png = await page.request.get(new URL(icon.src, href).href);
      assert.equal(png.status(), 200, icon.src);
      const bytes = await png.body();
      // PNG signature, then the IHDR chunk's width and height.
      assert.equal(bytes.subarray(1, 4).toString(), "PNG");
      assert.deepEqual([bytes.readUInt32BE(16), bytes.readUInt32BE(20)], [size, size], icon.src);
    }
    const svg = await page.request.get(new URL(icons.any.src, href).href);
    assert.equal(svg.status(), 200);
    assert.match(await svg.text(), /<svg/);
    assert.equal(await page.$eval('meta[name="theme-color"]', (m) => m.content), "#161b26");
  } finally {
    await page.context().close();
  }
});

test("cross-origin requests pass through the service worker to the network and are never cached", async () => {
  const origin = await startCorsServer();
  const page = await openApp(browser, server.url);
  try {
    await offlineReady(page);
    const url = `${origin.url}/echo/sw-probe`;
    const seen = await page.evaluate(async (url) => {
      const bodies = [];
      for (let i = 0; i < 2; i++) bodies.push(await (await fetch(url)).json());
      const cached = [];
      for (const name of await caches.keys()) {
        for (const req of await (await caches.open(name)).keys()) cached.push(req.url);
      }
      return { bodies, cached, hit: !!(await caches.match(url)) };
    }, url);
    assert.equal(seen.bodies.length, 2);
    assert.equal(seen.hit, false, "the cross-origin answer is not in any cache");
    assert.ok(seen.cached.every((u) => u.startsWith(server.url)), `only the app's own files are cached: ${seen.cached.filter((u) => !u.startsWith(server.url))}`);
    assert.equal(origin.requests.filter((r) => r.url === "/echo/sw-probe").length, 2, "both reached the origin");

    // A guest's backend fetch to that origin goes to the network too: offline it fails
    // (nothing answers it from a cache), while the app's own files still load.
    await page.context().setOffline(true);
    const offline = await page.evaluate(async (url) => {
      const cross = await fetch(url).then(() => "answered", (e) => `failed: ${e.message}`);
      const own = (await fetch("examples/hello.wasm")).status;
      return { cross, own };
    }, url);
    assert.match(offline.cross, /^failed/);
    assert.equal(offline.own, 200);
    assert.equal(origin.requests.filter((r) => r.url === "/echo/sw-probe").length, 2);
  } finally {
    await page.context().close();
    await origin.close();
  }
});

test("a new deploy: the next visit installs the new build's cache and drops the old one; the reload after runs it", async () => {
  // A deploy of its own: a copy of dist/ served from another port (another origin).
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "edgeplay-deploy-"));
  fs.cpSync(distDir, dir, { recursive: true });
  const deploy = await serveDir(dir);
  const buildOf = () => JSON.parse(fs.readFileSync(path.join(dir, "precache.json"), "utf8")).build;
  const page = await openApp(browser, deploy.url);
  try {
    await offlineReady(page);
    const first = buildOf();
    assert.deepEqual(await page.evaluate(() => caches.keys()), [`edgeplay-${first}`]);
    const before = await page.title();

    // Deploy a change (the page's title), listed and stamped as trunk's hook does.
    const html = path.join(dir, "index.html");
    fs.writeFileSync(html, fs.readFileSync(html, "utf8").replace("<title>", "<title>v2 "));
    execFileSync("node", [path.join(root, "scripts/precache.mjs"), dir]);
    const second = buildOf();
    assert.notEqual(second, first);

    // The next visit still runs the build it has (from the cache), and installs the
    // new one meanwhile: its worker takes over and the old cache goes.
    await page.reload();
    assert.equal(await page.title(), before, "this visit: the cached build");
    const swState = () =>
      page.evaluate(async () => {
        const reg = await navigator.serviceWorker.getRegistration();
        return { keys: await caches.keys(), active: reg?.active?.state, waiting: !!reg?.waiting, installing: !!reg?.installing };
      });
    const deadline = Date.now() + 120_000;
    let state = await swState();
    // Activated and alone: the new cache complete (installed), the old one deleted.
    while (!(state.keys.length === 1 && state.keys[0] === `edgeplay-${second}` && state.active === "activated" && !state.installing && !state.waiting)) {
      assert.ok(Date.now() < deadline, `the new build installs: ${JSON.stringify(state)}`);
      await new Promise((r) => setTimeout(r, 200));
      state = await swState();
    }
    assert.ok(await page.evaluate(() => navigator.serviceWorker.controller?.state === "activated"));
    // The visit after runs the new build, offline too.
    await page.context().setOffline(true);
    await page.reload();
    await page.waitForSelector('[data-worker="ready"]', { timeout: 30_000 });
    assert.equal(await page.title(), `v2 ${before}`, "the next visit: the new build");
  } finally {
    await page.context().close();
    await deploy.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("with no service workers the page works online as before: one console line, no error", async () => {
  const context = await browser.newContext();
  // As on a page that is not a secure context (or file://): no navigator.serviceWorker.
  await context.addInitScript(() => Object.defineProperty(Navigator.prototype, "serviceWorker", { get: () => undefined }));
  const logs = [];
  context.on("console", (m) => logs.push(`${m.type()}: ${m.text()}`));
  const page = await openApp(browser, server.url, { context });
  try {
    await page.waitForSelector('html[data-offline="unavailable"]', { timeout: 30_000 });
    const notes = logs.filter((l) => l.includes("no offline copy"));
    assert.equal(notes.length, 1, logs.join("\n"));
    assert.match(notes[0], /^info: /);
    await byId(page, "examples").selectOption("hello");
    assert.match(await status(page), /^200/);
    assert.deepEqual(page.consoleErrors, [], "console errors");
  } finally {
    await context.close();
  }
});
