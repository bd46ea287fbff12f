// The playground's benchmark (not a test): in headless Chromium, against the built
// dist/ served on 127.0.0.1 —
//   - app load to interactive (navigation to the guest worker ready),
//   - drop → response for the hello example and the JS SDK guest (a fresh page each
//     time: cold worker, cold module cache),
//   - the wasm-in-wasm overhead: the CPU-bound guest (tests/guests cpu.wasm, /?n=5)
//     in the tab vs the native runner (`edgeplay request --json`, timing.run_us),
//   - the concurrency ratio in the tab: the `fanout` guest (`send_async` to two slow
//     origins, then `select`/`wait`) against the `proxy` guest run twice (one `send`
//     to each), as crates/cli/benches/concurrency.rs measures it natively. The slow
//     origins are two CORS servers on 127.0.0.1 (tests/e2e/cors-server.mjs,
//     `/delay/200`), so the real `fetch()` path is measured; a second row does the
//     same with two mock backends (`delay_ms = 200`, no network).
//   - the service state in the tab (`kv`): KV insert and lookup latency inside a guest
//     (tests/guests visits.wasm, `/?bench=insert&n=1000`: run time ÷ n, each slice's
//     writes committed to IndexedDB before the run is done), importing 10,000 keys
//     through the Stores panel, listing them there, and a reload: worker start to the
//     10,000 keys loaded from IndexedDB.
//   - the cache in the tab (`cache`): a readthrough hit against a miss to a local CORS
//     origin (tests/guests readthrough.wasm: one `send`; a new path each time misses,
//     the same path again hits), and worker start with 10,000 cached objects stored
//     in IndexedDB (cache.wasm `/core/fill?n=10000`, then a reload).
//   - links (`link`): opening a fiddle link in a fresh page to its first response, for
//     the hello example (the guest travels by name) and the hello guest inline (the
//     wasm inside the link), with each link's size.
//   - JavaScript in the tab (`js`): the engine's load (fetch and compile the JS SDK's
//     fastly.wasm in the worker, from entering JavaScript mode), then edit → response
//     for the hello template with the engine warm (type a changed source, press Run:
//     the build and the run), and a Run with no edit (the build's snapshot only).
// Prints Markdown for the README. Run by scripts/bench.sh.
// BENCH_ONLY=concurrency (or load, drop, cpu, kv, cache, link, js, npm) runs one part.
import { execFileSync } from "node:child_process";
import zlib from "node:zlib";
import path from "node:path";
import fs from "node:fs";
import { launch, openApp, serveDir, distDir, upload, guest, byId, targetDir } from "./harness.mjs";
import { startRegistry, PACKAGES } from "./npm-registry.mjs";
import { startCorsServer } from "./cors-server.mjs";

const RUNS = Number(process.env.BENCH_RUNS || 5);
const native = process.env.EDGEPLAY_BIN || path.join(targetDir, "release", "edgeplay");
const ONLY = process.env.BENCH_ONLY || "";
const part = (name) => ONLY === "" || ONLY === name;
/** How long each slow origin takes to answer (as the native benchmark). */
const DELAY_MS = 200;

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const fmt = (ms) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(1)} ms`);

async function timings(page) {
  await page.waitForFunction(() => document.querySelector('[data-testid="timings"]')?.dataset.wallMs !== undefined, null, {
    timeout: 300_000,
  });
  return page.evaluate(() => {
    const d = document.querySelector('[data-testid="timings"]').dataset;
    const n = (v) => (v === undefined ? undefined : Number(v));
    return { read: n(d.readMs), load: n(d.loadMs), instantiate: n(d.instantiateMs), firstByte: n(d.firstByteMs), run: n(d.runMs), wall: n(d.wallMs) };
  });
}

/** Run the loaded guest again with `config` and `url`; its instantiate + run time (ms). */
async function rerun(page, config, url) {
  await byId(page, "config").fill(config);
  await byId(page, "request-url").fill(url);
  const before = await page.locator('[data-testid="timings"] .request-id').textContent();
  await byId(page, "run").click();
  await page.waitForFunction(
    (before) => {
      const st = document.querySelector('[data-testid="run-status"]')?.textContent || "";
      const rid = document.querySelector('[data-testid="timings"] .request-id')?.textContent || "";
      return st.startsWith("done") && rid !== "" && rid !== before;
    },
    before,
    { timeout: 60_000 },
  );
  const status = await byId(page, "response-status").textContent();
  if (!status.startsWith("200")) throw new Error(`${url}: ${status} ${await byId(page, "response-body").textContent()}`);
  const t = await timings(page);
  return t.instantiate + t.run;
}

/** A page with `name` loaded (and run once with `config`: the warm-up). */
async function pageWith(name, config) {
  const page = await openApp(browser, server.url);
  await byId(page, "cpu-limit").fill("0");
  await byId(page, "config").fill(config);
  await upload(page, guest(name));
  await timings(page);
  return page;
}

/** Parallel (`fanout` to backends a and b) vs sequential (`proxy` to a, then to b). */
async function concurrency(a, b) {
  const both = `[local_server.backends.a]\n${a}\n[local_server.backends.b]\n${b}\n`;
  const toA = `[local_server.backends.origin]\n${a}\n`;
  const toB = `[local_server.backends.origin]\n${b}\n`;
  const fan = await pageWith("fanout", both);
  const prx = await pageWith("proxy", toA);
  await rerun(fan, both, "/");
  await rerun(prx, toB, "/");
  const par = [];
  const seq = [];
  for (let i = 0; i < RUNS; i++) {
    par.push(await rerun(fan, both, "/"));
    seq.push((await rerun(prx, toA, "/")) + (await rerun(prx, toB, "/")));
  }
  await fan.context().close();
  await prx.context().close();
  if (process.env.BENCH_VERBOSE) console.error({ parallel: par, sequential: seq });
  return [median(par), median(seq)];
}

const server = await serveDir(distDir);
const browser = await launch();
const rows = [];
const concurrencyRows = [];
try {
  if (part("concurrency")) {
    const a = await startCorsServer();
    const b = await startCorsServer();
    try {
      concurrencyRows.push([
        "guest: `fanout` (`send_async` ×2 + `select`) vs `proxy` (`send`) twice, two CORS origins on 127.0.0.1 through `fetch()`",
        await concurrency(`url = "${a.url}/delay/${DELAY_MS}"`, `url = "${b.url}/delay/${DELAY_MS}"`),
      ]);
      concurrencyRows.push([
        `same guests, two mock backends (\`delay_ms = ${DELAY_MS}\`, no network)`,
        await concurrency(
          `mock = { status = 200, body = "ok", delay_ms = ${DELAY_MS} }`,
          `mock = { status = 200, body = "ok", delay_ms = ${DELAY_MS} }`,
        ),
      ]);
    } finally {
      await a.close();
      await b.close();
    }
  }
  if (part("load")) {
    // App load to interactive.
    const loads = [];
    for (let i = 0; i < RUNS; i++) {
      const ctx = await browser.newContext();
      const page = await ctx.newPage();
      const t0 = Date.now();
      await page.goto(server.url);
      await page.waitForSelector('[data-worker="ready"]', { timeout: 60_000 });
      loads.push(Date.now() - t0);
      await ctx.close();
    }
    rows.push(["app load to interactive (navigation → guest worker ready)", fmt(median(loads))]);
  }

  if (part("drop")) {
    // Drop → response.
    for (const [name, label] of [["hello", "hello example"], ["js-app", "JS SDK guest"]]) {
      const walls = [];
      const outside = [];
      const parts = { read: [], load: [], instantiate: [], run: [] };
      const phases = {};
      let size = 0;
      for (let i = 0; i < RUNS; i++) {
        const page = await openApp(browser, server.url);
        size = fs.statSync(guest(name)).size;
        const t0 = Date.now();
        await upload(page, guest(name));
        const t = await timings(page);
        outside.push(Date.now() - t0);
        walls.push(t.wall);
        for (const k of Object.keys(parts)) if (t[k] !== undefined) parts[k].push(t[k]);
        // The load pill's title: "hash 12 ms · backtrace rewrite 80 ms · …".
        const title = (await byId(page, "guest-load").getAttribute("title")) || "";
        for (const m of title.matchAll(/([a-z ]+?) ([0-9.]+) (ms|µs|s)\b/g)) {
          const v = Number(m[2]) * (m[3] === "s" ? 1000 : m[3] === "µs" ? 0.001 : 1);
          (phases[m[1].trim()] ||= []).push(v);
        }
        const status = await byId(page, "response-status").textContent();
        if (!status.startsWith("200")) throw new Error(`${name}: ${status}`);
        await page.context().close();
      }
      rows.push([`drop → response, ${label} (${(size / 1024 / 1024).toFixed(1)} MiB, cold)`, `${fmt(median(walls))} (as the page measures; ${fmt(median(outside))} as the test driver sees it)`]);
      const split = Object.entries(parts)
        .filter(([, xs]) => xs.length)
        .map(([k, xs]) => `${k} ${fmt(median(xs))}`)
        .join(" · ");
      const inLoad = Object.entries(phases)
        .map(([k, xs]) => `${k} ${fmt(median(xs))}`)
        .join(" · ");
      rows.push([`  where it went, ${label}`, `${split}${inLoad ? ` (the load: ${inLoad})` : ""}`]);
    }
  }

  if (part("cpu")) {
    // Wasm-in-wasm: the same CPU-bound guest in the tab and natively.
    const tab = [];
    const tabWarm = [];
    for (let i = 0; i < RUNS; i++) {
      const page = await openApp(browser, server.url);
      await byId(page, "cpu-limit").fill("0");
      await byId(page, "request-url").fill("/?n=5");
      await upload(page, guest("cpu"));
      const t = await timings(page);
      tab.push(t.instantiate + t.run);
      // The same page again: the module's functions are already translated.
      await byId(page, "run").click();
      await page.waitForFunction(() => document.querySelector('[data-testid="run-status"]')?.textContent.startsWith("done"));
      const t2 = await timings(page);
      tabWarm.push(t2.instantiate + t2.run);
      await page.context().close();
    }
    const nat = [];
    for (let i = 0; i < RUNS; i++) {
      const out = execFileSync(native, ["request", "--json", guest("cpu"), "/?n=5"], { encoding: "utf8" });
      nat.push(JSON.parse(out).timing.run_us / 1000);
    }
    const ratio = median(tab) / median(nat);
    rows.push(["cpu.wasm `/?n=5` (SHA-256 of 5 MiB) in the tab, cold", fmt(median(tab))]);
    rows.push(["same, second run in the same tab", fmt(median(tabWarm))]);
    rows.push(["same guest, native runner (`edgeplay request`)", fmt(median(nat))]);
    rows.push(["**wasm-in-wasm overhead** (tab ÷ native, cold)", `**${ratio.toFixed(2)}×**`]);
  }
  if (part("kv")) {
    const N = 1000;
    const KEYS = 10_000;
    const ins = [];
    const look = [];
    const imports = [];
    const lists = [];
    const shown = [];
    const starts = [];
    const loads = [];
    for (let i = 0; i < RUNS; i++) {
      const page = await openApp(browser, server.url);
      await byId(page, "cpu-limit").fill("0");
      await byId(page, "request-url").fill(`/?bench=insert&n=${N}`);
      await upload(page, guest("visits"));
      ins.push((await timings(page)).run / N);
      look.push((await rerun(page, await byId(page, "config").inputValue(), `/?bench=lookup&n=${N}`)) / N);
      // 10,000 keys imported through the panel (one write, committed), then listed.
      await page.click('button[data-tab="Stores"]');
      await page.click('[data-testid="store"][data-store-kind="kv"][data-store-name="playground"]');
      const file = Object.fromEntries(Array.from({ length: KEYS }, (_, k) => [`key-${String(k).padStart(5, "0")}`, `value ${k}`]));
      let t0 = Date.now();
      await byId(page, "store-import").setInputFiles({ name: "big.json", mimeType: "application/json", buffer: Buffer.from(JSON.stringify(file)) });
      await page.waitForFunction(() => /^Imported/.test(document.querySelector('[data-testid="store-message"]')?.textContent || ""), null, { timeout: 120_000 });
      imports.push(Date.now() - t0);
      t0 = Date.now();
      await byId(page, "store-show-all").click();
      await page.waitForFunction((n) => document.querySelectorAll('[data-testid="store-entry"]').length >= n, KEYS, { timeout: 120_000, polling: 50 });
      shown.push(Date.now() - t0);
      lists.push(Number(await byId(page, "store-count").getAttribute("data-list-ms")));
      // Worker start → loaded state, with the 10,000 keys (and the N bench keys) stored.
      await page.reload();
      await page.waitForSelector('[data-worker="ready"]', { timeout: 60_000 });
      const st = byId(page, "state-status");
      starts.push(Number(await st.getAttribute("data-since-start-ms")));
      loads.push(Number(await st.getAttribute("data-load-ms")));
      await page.context().close();
    }
    rows.push([`KV insert in a guest (visits.wasm, ${N} inserts in one run, durable at the end)`, `${(median(ins) * 1000).toFixed(0)} µs per insert`]);
    rows.push([`KV lookup in a guest (${N} lookups in one run)`, `${(median(look) * 1000).toFixed(0)} µs per lookup`]);
    rows.push([`Stores panel: import ${KEYS} keys (JSON file → committed to IndexedDB → answered)`, fmt(median(imports))]);
    rows.push([`Stores panel: list ${KEYS} keys (worker round trip)`, fmt(median(lists))]);
    rows.push([`Stores panel: list ${KEYS} keys (click → all rows in the page)`, fmt(median(shown))]);
    rows.push([`worker start → loaded state of ${KEYS + N} keys from IndexedDB (reading IndexedDB: ${fmt(median(loads))})`, fmt(median(starts))]);
  }
  if (part("cache")) {
    const origin = await startCorsServer();
    const config = `[local_server.backends.origin]\nurl = "${origin.url}"\n`;
    const miss = [];
    const hit = [];
    const page = await pageWith("readthrough", config);
    await rerun(page, config, "/echo/hot");
    for (let i = 0; i < RUNS * 4; i++) {
      miss.push(await rerun(page, config, `/echo/miss-${i}`));
      hit.push(await rerun(page, config, "/echo/hot"));
    }
    await page.context().close();
    await origin.close();
    rows.push(["readthrough.wasm, cache miss (a CORS origin on 127.0.0.1 through `fetch()`; instantiate + run)", fmt(median(miss))]);
    rows.push(["same, cache hit (no fetch)", fmt(median(hit))]);
    const N = 10_000;
    const starts = [];
    const loads = [];
    for (let i = 0; i < RUNS; i++) {
      const p = await openApp(browser, server.url);
      await byId(p, "cpu-limit").fill("0");
      await byId(p, "request-url").fill(`/core/fill?n=${N}`);
      await upload(p, guest("cache"));
      await timings(p);
      const status = await byId(p, "response-status").textContent();
      if (!status.startsWith("200")) throw new Error(`fill: ${status} ${await byId(p, "response-body").textContent()}`);
      await p.reload();
      await p.waitForSelector('[data-worker="ready"]', { timeout: 60_000 });
      const st = byId(p, "state-status");
      starts.push(Number(await st.getAttribute("data-since-start-ms")));
      loads.push(Number(await st.getAttribute("data-load-ms")));
      await p.context().close();
    }
    rows.push([`worker start → loaded state with ${N} cached objects of 1 KiB in IndexedDB (reading IndexedDB: ${fmt(median(loads))})`, fmt(median(starts))]);
  }
  if (part("link")) {
    // A link made the way Share makes one (docs/fiddle.md): JSON, raw deflate, base64url.
    const linkOf = (fiddle) => `${server.url}#f=${zlib.deflateRawSync(Buffer.from(JSON.stringify(fiddle)), { level: 9 }).toString("base64url")}`;
    const hello = fs.readFileSync(guest("hello"));
    const sha256 = (await import("node:crypto")).createHash("sha256").update(hello).digest("hex");
    const cases = [
      ["hello example (the guest by name)", { version: 1, guest: { kind: "example", name: "hello" }, requests: [{ path: "/" }] }],
      [`hello guest inline (${(hello.length / 1024).toFixed(0)} KiB of wasm in the link)`, { version: 1, guest: { kind: "inline", wasm: hello.toString("base64"), sha256 }, requests: [{ path: "/" }] }],
    ];
    for (const [what, fiddle] of cases) {
      const link = linkOf(fiddle);
      const ts = [];
      for (let i = 0; i < RUNS; i++) {
        const ctx = await browser.newContext();
        const page = await ctx.newPage();
        const t0 = Date.now();
        await page.goto(link);
        await page.waitForFunction(() => /^\d{3}/.test(document.querySelector('[data-testid="response-status"]')?.textContent || ""), null, { timeout: 120_000 });
        ts.push(Date.now() - t0);
        await ctx.close();
      }
      rows.push([`open a link → first response, ${what}; link ${link.length.toLocaleString("en")} characters`, fmt(median(ts))]);
    }
  }
  if (part("js")) {
    const engineMs = [];
    const editMs = [];
    const buildMs = [];
    const rerunMs = [];
    for (let i = 0; i < RUNS; i++) {
      const page = await openApp(browser, server.url);
      const t0 = Date.now();
      await page.selectOption('[data-testid="source-mode"]', "javascript");
      await page.waitForFunction(() => document.querySelector('[data-testid="engine-version"]')?.dataset.loaded === "true", null, { timeout: 120_000 });
      engineMs.push(Date.now() - t0);
      await page.selectOption('[data-testid="js-template"]', "hello");
      const hello = await byId(page, "js-source").inputValue();
      // A warm-up edit and run, then the measured ones: each a new source.
      for (let j = 0; j <= 2; j++) {
        const marker = `edit ${i}.${j}`;
        await byId(page, "js-source").fill(hello.replace("Hello from JavaScript!", marker));
        const t1 = Date.now();
        await byId(page, "run").click();
        await page.waitForFunction((m) => document.querySelector('[data-testid="response-body"]')?.textContent.includes(m), marker, { timeout: 120_000 });
        if (j > 0) {
          editMs.push(Date.now() - t1);
          buildMs.push(Number(await byId(page, "build-status").getAttribute("data-build-ms")));
        }
      }
      await page.waitForFunction(() => !document.querySelector('[data-testid="run-status"]')?.textContent.startsWith("running"));
      const t2 = Date.now();
      await byId(page, "run").click();
      await page.waitForFunction(() => document.querySelector('[data-testid="timings"]')?.dataset.wallMs !== undefined && !document.querySelector('[data-testid="run-status"]')?.textContent.startsWith("running"), null, { timeout: 60_000 });
      rerunMs.push(Date.now() - t2);
      await page.context().close();
    }
    rows.push(["JS engine load in the tab (enter JavaScript mode → engine compiled: fetch 10 MB + prepare + compile)", fmt(median(engineMs))]);
    rows.push(["**edit → response, hello template, engine warm** (type, Run: build + run)", `**${fmt(median(editMs))}**`]);
    rows.push(["of which the build in the worker (engine init + snapshot)", fmt(median(buildMs))]);
    rows.push(["Run again with no edit (from the snapshot)", fmt(median(rerunMs))]);
  }
  if (part("npm")) {
    // An app importing a package with a dependency (tests/e2e/npm-registry.mjs, on
    // 127.0.0.1): the first build in a fresh page (esbuild-wasm loaded, metadata and
    // tarballs fetched, installed, bundled, built; the engine already compiled), then
    // an edit (downloads kept, esbuild warm).
    const reg = await startRegistry(PACKAGES);
    const firstMs = [];
    const editMs = [];
    const app = (word) => `import { greet } from "greet";\naddEventListener("fetch", (e) => e.respondWith(new Response(greet(${JSON.stringify(word)}))));\n`;
    try {
      for (let i = 0; i < RUNS; i++) {
        const page = await openApp(browser, server.url);
        await page.selectOption('[data-testid="source-mode"]', "javascript");
        await page.waitForFunction(() => document.querySelector('[data-testid="engine-version"]')?.dataset.loaded === "true", null, { timeout: 120_000 });
        await page.locator(".npm-registry summary").click();
        await byId(page, "npm-registry").fill(reg.url);
        await byId(page, "npm-add").fill("greet@^1");
        await byId(page, "npm-add").press("Enter");
        for (let j = 0; j <= 2; j++) {
          const word = `w${i}x${j}`;
          await byId(page, "js-source").fill(app(word));
          const t0 = Date.now();
          await byId(page, "run").click();
          await page.waitForFunction((w) => document.querySelector('[data-testid="response-body"]')?.textContent.includes(w.toUpperCase()), word, { timeout: 120_000 });
          (j === 0 ? firstMs : editMs).push(Date.now() - t0);
          await page.waitForFunction(() => !document.querySelector('[data-testid="run-status"]')?.textContent.startsWith("running"));
        }
        await page.context().close();
      }
    } finally {
      await reg.close();
    }
    rows.push(["npm package app, first Run in a fresh page (engine warm): load esbuild-wasm, fetch + install 2 packages, bundle, build, run", fmt(median(firstMs))]);
    rows.push(["**npm package app, edit → response** (downloads kept, esbuild warm: bundle + build + run)", `**${fmt(median(editMs))}**`]);
  }
} finally {
  await browser.close();
  await server.close();
}

const chromium = execFileSync(process.env.CHROMIUM || "/usr/bin/chromium", ["--version"], { encoding: "utf8" }).trim();
console.log(`Headless ${chromium.replace(/^.*?(Chromium [\d.]+).*$/s, "$1")}, ${RUNS} runs each, medians:\n`);
if (rows.length) {
  console.log("| measurement | result |");
  console.log("|---|---|");
  for (const [k, v] of rows) console.log(`| ${k} | ${v} |`);
}
if (concurrencyRows.length) {
  if (rows.length) console.log("");
  // The same columns as the native benchmark (crates/cli/benches/concurrency.rs).
  console.log(`| two slow origins (${DELAY_MS} ms each), in the tab | parallel | sequential | ratio (0.50 = full overlap) |`);
  console.log("|---|---:|---:|---:|");
  for (const [k, [p, q]] of concurrencyRows) console.log(`| ${k} | ${p.toFixed(1)} ms | ${q.toFixed(1)} ms | **${(p / q).toFixed(2)}** |`);
}
