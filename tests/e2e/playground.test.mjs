// End-to-end tests of the playground: the built dist/ served on 127.0.0.1, driven in
// headless Chromium through the page's data-testid hooks, as a user would.
//   cd tests/e2e && npm ci && node --test playground.test.mjs
// (scripts/test.sh builds dist/ and the guests first.)
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import {
  launch, openApp, serveDir, distDir, upload, guest, status, text, traceRows, byId, fill,
  waitForRun, ensureArtifacts, useApp,
} from "./harness.mjs";
import { startCorsServer } from "./cors-server.mjs";

let browser;
let server;
useApp((b, s) => {
  browser = b;
  server = s;
});

async function noConsoleErrors(page) {
  // The page must not have logged errors (a panic, a failed message decode, ...).
  assert.deepEqual(page.consoleErrors, [], "console errors");
}

test("hello: status, headers, body, guest info, trace rows; screenshot", async () => {
  const page = await openApp(browser, server.url);
  await upload(page, guest("hello"));
  assert.match(await status(page), /^200 OK/);
  await waitForRun(page);
  assert.equal((await text(page, "response-body")).trim(), "Hello from edgeplay!");
  const headers = await text(page, "response-headers");
  assert.match(headers, /content-type\s*text\/plain; charset=utf-8/);
  assert.match(headers, /x-edgeplay\s*hello/);
  const info = await text(page, "guest-info");
  assert.match(info, /hello\.wasm/);
  assert.match(info, /KiB/);
  assert.match(info, /imports: \d+ emulated/);
  const rows = await traceRows(page);
  for (const call of ["fastly_abi::init", "fastly_http_req::body_downstream_get", "fastly_http_resp::send_downstream"]) {
    assert.ok(rows.includes(call), `trace has ${call}: ${rows.join(", ")}`);
  }
  assert.match(await text(page, "timings"), /drop → answer/);
  assert.equal(await byId(page, "error").count(), 0);

  // The trace panel: a click opens the details.
  await page.click('button[data-tab="Trace"]');
  await page.click('[data-testid="trace"] tr[data-hostcall="fastly_http_resp::send_downstream"]');
  assert.match(await text(page, "trace-details"), /fastly_http_resp::send_downstream/);
  const dir = ensureArtifacts();
  await page.screenshot({ path: path.join(dir, "trace.png") });
  await page.click('button[data-tab="Response"]');
  await page.screenshot({ path: path.join(dir, "playground.png") });
  await noConsoleErrors(page);
  await page.context().close();
});

test("a guest dropped anywhere on the page loads and runs", async () => {
  const page = await openApp(browser, server.url);
  const b64 = fs.readFileSync(guest("hello")).toString("base64");
  const dt = await page.evaluateHandle((b64) => {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const dt = new DataTransfer();
    dt.items.add(new File([bytes], "dropped.wasm", { type: "application/wasm" }));
    return dt;
  }, b64);
  await page.dispatchEvent('[data-testid="logs"]', "dragover", { dataTransfer: dt });
  await page.locator(".drop-overlay").waitFor();
  await page.dispatchEvent('[data-testid="logs"]', "drop", { dataTransfer: dt });
  assert.match(await status(page), /^200/);
  assert.equal(await page.locator(".drop-overlay").count(), 0);
  assert.match(await text(page, "guest-name"), /dropped\.wasm/);
  // The load pill says where the worker's load went, a phase each.
  const phases = await byId(page, "guest-load").getAttribute("title");
  assert.match(phases, /hash [\d.]+ ms · backtrace rewrite [\d.]+ ms · parse and validate [\d.]+ ms · link [\d.]+ ms · names [\d.]+ ms/);
  await noConsoleErrors(page);
  await page.context().close();
});

test("echo: the composed request reaches the guest (method, URL, headers, body)", async () => {
  const page = await openApp(browser, server.url);
  await byId(page, "request-method").selectOption("POST");
  await fill(page, "request-url", "/echo/path?x=1&y=two");
  await fill(page, "request-headers", "X-Echo-Demo: first\nx-echo-demo: second\ncontent-type: application/json");
  await fill(page, "request-body", '{"hello":"edgeplay"}');
  await fill(page, "client-ip", "203.0.113.7");
  await upload(page, guest("echo"));
  assert.match(await status(page), /^200/);
  await waitForRun(page);
  const doc = JSON.parse(await text(page, "response-body"));
  assert.equal(doc.method, "POST");
  assert.equal(doc.path, "/echo/path");
  assert.equal(doc.query, "x=1&y=two");
  assert.equal(doc.body, '{"hello":"edgeplay"}');
  assert.equal(doc.body_len, 20);
  const values = doc.headers.filter(([n]) => n === "x-echo-demo").map(([, v]) => v);
  assert.deepEqual(values, ["first", "second"]);
  const headers = await text(page, "response-headers");
  assert.match(headers, /x-body-len\s*20/);
  assert.match(headers, /x-echo-demo\s*first/);
  assert.match(headers, /x-echo-demo\s*second/);
  await noConsoleErrors(page);
  await page.context().close();
});

test("stream: chunks show while they arrive", async () => {
  const page = await openApp(browser, server.url);
  await fill(page, "request-url", "/?chunks=6&sleep_ms=250");
  await upload(page, guest("stream"));
  // Sample the body while the guest streams: it must grow in steps before the end.
  const seen = new Set();
  const deadline = Date.now() + 30_000;
  let running = true;
  while (running && Date.now() < deadline) {
    const body = await text(page, "response-body");
    const st = await text(page, "run-status");
    if (st.startsWith("running") && body.length > 0) seen.add(body.length);
    running = !st.startsWith("done");
    await page.waitForTimeout(40);
  }
  await waitForRun(page);
  const body = await text(page, "response-body");
  for (let i = 0; i < 6; i++) assert.match(body, new RegExp(`chunk ${i}\\b`));
  assert.ok(seen.size >= 2, `saw the body grow while streaming (lengths seen: ${[...seen]})`);
  assert.match(await page.locator(".status-line").textContent(), /streamed: 6 chunks/);
  assert.match(await page.locator(".status-line").textContent(), /complete/);
  await noConsoleErrors(page);
  await page.context().close();
});

test("logging: stdout, stderr and endpoint lines, in order", async () => {
  const page = await openApp(browser, server.url);
  await upload(page, guest("logging"));
  assert.match(await status(page), /^200/);
  await waitForRun(page);
  const lines = await page.$$eval('[data-testid="logs"] .log', (els) =>
    els.map((e) => `${e.dataset.stream} :: ${e.querySelector(".log-line").textContent}`),
  );
  const want = ["stdout :: stdout line 1", "stderr :: stderr line 1", "my_endpoint :: hello endpoint", "my_endpoint :: second line"];
  let at = -1;
  for (const w of want) {
    const i = lines.indexOf(w);
    assert.ok(i > at, `${w} after the previous line in ${JSON.stringify(lines)}`);
    at = i;
  }
  assert.ok((await traceRows(page)).includes("fastly_log::write"));
  await noConsoleErrors(page);
  await page.context().close();
});

test("config: the examples menu and the fastly.toml editor (config store, dictionary, secret store)", async () => {
  const page = await openApp(browser, server.url);
  await byId(page, "examples").selectOption("config");
  assert.match(await status(page), /^200/);
  await waitForRun(page);
  assert.equal((await text(page, "response-body")).trim(), "Hello from the config store!");
  assert.match(await text(page, "guest-info"), /Config stores, dictionaries and secret stores/);

  for (const [url, want] of [["/dict/legacy/colour", "blue"], ["/secret/vault/token", "s3cr3t"]]) {
    await fill(page, "request-url", url);
    await byId(page, "run").click();
    await waitForRun(page);
    assert.match(await status(page), /^200/);
    assert.equal((await text(page, "response-body")).trim(), want);
  }

  // Edit the config: a new value is seen by the next run.
  const cfg = await byId(page, "config").inputValue();
  await fill(page, "config", cfg.replace('answer = "42"', 'answer = "forty-two"'));
  await fill(page, "request-url", "/config/settings/answer");
  await byId(page, "run").click();
  await waitForRun(page);
  assert.equal((await text(page, "response-body")).trim(), "forty-two");

  // A broken config: the error points at the line, and a run says so.
  await fill(page, "config", 'manifest_version = 3\n\n[local_server.config_stores.settings]\nformat = "inline-toml"\ncontents = 12\n');
  assert.match(await text(page, "config-status"), /line 5/);
  await fill(page, "config", "[local_server\nx = 1\n");
  assert.match(await text(page, "config-status"), /line 1/);
  await byId(page, "run").click();
  assert.match(await text(page, "error"), /config does not validate.*line 1/s);
  await noConsoleErrors(page);
  await page.context().close();
});

test("the JS SDK guest answers", async () => {
  const page = await openApp(browser, server.url);
  await upload(page, guest("js-app"));
  assert.match(await status(page, 120_000), /^200/);
  await waitForRun(page, 120_000);
  assert.equal((await text(page, "response-body")).trim(), "Hello from JS!");
  assert.match(await text(page, "response-headers"), /x-js\s*yes/);
  const rows = await traceRows(page);
  assert.ok(rows.includes("fastly_http_resp::send_downstream"), rows.join(", "));
  assert.ok(rows.length > 10);
  // The JS guest reads the config store too.
  await fill(page, "request-url", "/config/answer");
  await byId(page, "run").click();
  await waitForRun(page, 60_000);
  assert.equal((await text(page, "response-body")).trim(), "42");
  // fastly:kv-store in the tab: the default config's store, seeded from fastly.toml...
  await fill(page, "request-url", "/kv/playground/greeting");
  await byId(page, "run").click();
  await waitForRun(page, 60_000);
  assert.equal((await text(page, "response-body")).trim(), "Hello from the KV store!");
  // ...put with metadata and a TTL, get, list and delete in one run...
  await fill(page, "request-url", "/kv-roundtrip/playground");
  await byId(page, "run").click();
  await waitForRun(page, 60_000);
  const doc = JSON.parse(await text(page, "response-body"));
  assert.deepEqual(
    { got: doc.got, metadata: doc.metadata, list: doc.list, after_delete: doc.after_delete },
    { got: "written by js", metadata: "js-meta", list: ["js/a"], after_delete: null },
  );
  // ...and what it left lasts for the next run.
  await fill(page, "request-url", "/kv/playground/js%2Fb");
  await byId(page, "run").click();
  await waitForRun(page, 60_000);
  assert.equal((await text(page, "response-body")).trim(), "b");
  await noConsoleErrors(page);
  await page.context().close();
});

/** The waterfall's rows as plain objects (their data-* attributes and texts). */
async function waterfallRows(page) {
  return page.$$eval('[data-testid="waterfall"] [data-backend]', (rows) =>
    rows.map((r) => ({
      backend: r.dataset.backend,
      seq: Number(r.dataset.seq),
      start: Number(r.dataset.startUs),
      firstByte: Number(r.dataset.firstByteUs),
      end: Number(r.dataset.endUs),
      status: r.dataset.status,
      mock: r.dataset.mock,
      failed: r.dataset.failed === "true",
      notSent: r.dataset.headersNotSent ? r.dataset.headersNotSent.split(",") : [],
      cache: r.dataset.cache,
      cacheOp: r.classList.contains("cache-op"),
      text: r.textContent,
    })),
  );
}

const escapeRe = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

test("backends in the tab: fetch to a CORS origin, forbidden headers and a CORS refusal in the trace, mock backends", async () => {
  const origin = await startCorsServer();
  const page = await openApp(browser, server.url);
  const pageOrigin = server.url.replace(/\/$/, "");
  try {
    await fill(page, "config", `[local_server.backends.origin]\nurl = "${origin.url}"\n`);
    await fill(page, "request-url", "/echo/hi?x=1");
    // A header that is not CORS-safelisted: the fetch needs a preflight anyway, so
    // cdn-loop costs nothing and is sent.
    await fill(page, "request-headers", "X-Demo: 1");
    await upload(page, guest("proxy"));
    assert.match(await status(page), /^200/);
    await waitForRun(page);
    const doc = JSON.parse(await text(page, "response-body"));
    assert.equal(doc.method, "GET");
    assert.equal(doc.url, "/echo/hi?x=1");
    assert.equal(doc.headers["x-demo"], "1");
    assert.match(doc.headers["cdn-loop"] || "", /edgeplay/);
    assert.match(await text(page, "response-headers"), /x-echo\s*yes/);
    // The browser sets Host itself: the page says so, in the logs...
    const notes = await page.$$eval('[data-testid="logs"] .log[data-stream="edgeplay"]', (els) => els.map((e) => e.textContent));
    assert.ok(notes.some((n) => n.includes("`host`") && n.includes("origin")), JSON.stringify(notes));
    // ... and in the trace: the fetch's row lists the headers not sent, its details
    // explain, and the waterfall row shows them.
    await page.click('button[data-tab="Trace"]');
    await byId(page, "trace-filter").selectOption("backends");
    const row = page.locator('[data-testid="trace"] tr[data-hostcall="backend::origin"]');
    assert.match(await row.locator("td.args").textContent(), /headers_not_sent=\[.*"host".*\]/);
    assert.match(await row.locator("td.args").textContent(), /status=200/);
    await row.click();
    const fetchDetails = await text(page, "trace-details");
    assert.match(fetchDetails, /headers_not_sent/);
    assert.match(fetchDetails, /headers_not_sent\s*\[.*"host".*\]/);
    let [wf] = await waterfallRows(page);
    assert.equal(wf.backend, "origin");
    assert.equal(wf.status, "200");
    assert.ok(wf.notSent.includes("host"), JSON.stringify(wf));
    assert.ok(!wf.notSent.includes("cdn-loop"), "cdn-loop is sent");
    assert.match(wf.text, /not sent: .*host/);
    assert.match(wf.text, new RegExp(`GET ${escapeRe(origin.url)}/echo/hi\\?x=1`));
    assert.ok(wf.start <= wf.firstByte && wf.firstByte <= wf.end, JSON.stringify(wf));

    // An origin that does not answer with CORS headers: the fetch is refused, and
    // the trace and the waterfall say why (CORS, the backend, the page's origin, a mock).
    await fill(page, "request-url", "/nocors");
    await byId(page, "run").click();
    await waitForRun(page);
    assert.match(await status(page), /^502/);
    await byId(page, "trace-filter").selectOption("all");
    await page.click('[data-testid="trace"] tr[data-hostcall="backend::origin"]');
    const details = await text(page, "trace-details");
    assert.match(details, /may be CORS/);
    assert.match(details, new RegExp(escapeRe(pageOrigin)));
    assert.match(details, /mock backend/);
    assert.match(details, /browser_blocked/);
    [wf] = await waterfallRows(page);
    assert.equal(wf.backend, "origin");
    assert.equal(wf.failed, true);
    assert.equal(wf.status, "browser_blocked");
    const note = await page.locator('[data-testid="waterfall"] [data-backend="origin"] [data-testid="waterfall-note"]').textContent();
    for (const want of [/may be CORS/, /backend `origin`/, new RegExp(escapeRe(pageOrigin)), /mock backend/, /\/nocors/]) {
      assert.match(note, want);
    }
    await page.screenshot({ path: path.join(ensureArtifacts(), "waterfall-cors.png") });

    // Mock backends answer in the tab; two requests at once, the faster first.
    await fill(page, "config", [
      "[local_server.backends.a]",
      'mock = { status = 200, body = "slow", delay_ms = 300 }',
      "[local_server.backends.b]",
      'mock = { status = 200, body = "fast", delay_ms = 20 }',
    ].join("\n"));
    await fill(page, "request-url", "/");
    await upload(page, guest("fanout"));
    await page.waitForFunction(() => (document.querySelector('[data-testid="response-body"]')?.textContent || "").startsWith("first="));
    assert.equal((await text(page, "response-body")).trim(), "first=b\na=slow\nb=fast");

    // An echo mock, declared in the editor: the request comes back, and the
    // waterfall marks the fetch as a mock.
    await fill(page, "config", '[local_server.backends.origin]\nmock = "echo"\n');
    await byId(page, "request-method").selectOption("POST");
    await fill(page, "request-url", "/items?id=3");
    await fill(page, "request-body", "echo me");
    await upload(page, guest("proxy"));
    await page.waitForFunction(() => document.querySelector('[data-testid="response-body"]')?.textContent.includes("echo me"));
    await waitForRun(page);
    const echoed = await text(page, "response-headers");
    assert.match(echoed, /x-echo-method\s*POST/);
    assert.match(echoed, /x-echo-url\s*http:\/\/mock\.invalid\/items\?id=3/);
    const echoRows = await waterfallRows(page);
    assert.equal(echoRows.length, 1);
    assert.equal(echoRows[0].mock, "echo");
    assert.match(echoRows[0].text, /mock \(echo\)/);
    await noConsoleErrors(page);
  } finally {
    await page.context().close();
    await origin.close();
  }
});

test("cdn-loop in the tab: left out of a simple cross-origin request (an origin allowing simple requests only answers), sent where a preflight is due anyway", async () => {
  const origin = await startCorsServer();
  const page = await openApp(browser, server.url);
  try {
    await fill(page, "config", `[local_server.backends.origin]\nurl = "${origin.url}"\n`);
    await fill(page, "request-url", "/simple/hi?x=1");
    await upload(page, guest("proxy"));
    assert.match(await status(page), /^200/);
    await waitForRun(page);
    // /simple answers simple requests only (it refuses every preflight): it answered,
    // without cdn-loop and without a preflight.
    const doc = JSON.parse(await text(page, "response-body"));
    assert.equal(doc.url, "/simple/hi?x=1");
    assert.equal(doc.headers["cdn-loop"], undefined);
    assert.deepEqual(origin.preflights, []);
    assert.equal(origin.requests.at(-1).headers["cdn-loop"], undefined);
    // The fetch's trace event and waterfall row say it was not sent, and why.
    await page.click('button[data-tab="Trace"]');
    await byId(page, "trace-filter").selectOption("backends");
    const row = page.locator('[data-testid="trace"] tr[data-hostcall="backend::origin"]');
    assert.match(await row.locator("td.args").textContent(), /headers_not_sent=\[.*"cdn-loop".*\]/);
    assert.match(await row.locator("td.args").textContent(), /status=200/);
    const [wf] = await waterfallRows(page);
    assert.equal(wf.status, "200");
    assert.ok(wf.notSent.includes("cdn-loop") && wf.notSent.includes("host"), JSON.stringify(wf));
    assert.match(wf.text, /cdn-loop \(on this simple cross-origin request it would cost a CORS preflight\)/);
    const note = await page.locator('[data-testid="waterfall"] [data-backend="origin"] [data-testid="waterfall-note"]').textContent();
    assert.match(note, /`cdn-loop` not sent: .*CORS preflight/);
    // The Logs panel: the cdn-loop note, and the note on headers a page may not set
    // without cdn-loop in it.
    const notes = await page.$$eval('[data-testid="logs"] .log[data-stream="edgeplay"]', (els) => els.map((e) => e.textContent));
    assert.ok(notes.some((n) => n.includes("`cdn-loop` not sent")), JSON.stringify(notes));
    assert.ok(notes.some((n) => n.includes("`host`") && !n.includes("cdn-loop")), JSON.stringify(notes));

    // A header that is not safelisted needs a preflight anyway: cdn-loop goes with it
    // (here the preflight is refused, which is what cdn-loop alone would have cost).
    await byId(page, "trace-filter").selectOption("all");
    await page.click('button[data-tab="Response"]');
    await fill(page, "request-headers", "X-Demo: 1");
    // Another URL: the first answer is in the readthrough cache now (a hit would not
    // reach the origin at all).
    await fill(page, "request-url", "/simple/hi?x=2");
    await runAgain(page);
    assert.match(await status(page), /^502/);
    assert.equal(origin.preflights.length, 1, JSON.stringify(origin.preflights));
    assert.match(origin.preflights[0].headers, /cdn-loop/);
    assert.match(origin.preflights[0].headers, /x-demo/);
    await noConsoleErrors(page);
  } finally {
    await page.context().close();
    await origin.close();
  }
});

test("loop detection in the tab: a request carrying the edgeplay token five times is answered 508 without the guest", async () => {
  const page = await openApp(browser, server.url);
  await fill(page, "request-headers", "CDN-Loop: edgeplay, edgeplay, edgeplay, edgeplay, edgeplay");
  await upload(page, guest("hello"));
  assert.match(await status(page), /^508/);
  await waitForRun(page);
  assert.match(await text(page, "response-body"), /Loop detected/);
  assert.deepEqual(await traceRows(page), [], "the guest did not run");
  // Four tokens: the guest runs (a service may be passed through five times).
  await fill(page, "request-headers", "CDN-Loop: edgeplay, edgeplay, edgeplay, edgeplay");
  await runAgain(page);
  assert.match(await status(page), /^200/);
  assert.equal((await text(page, "response-body")).trim(), "Hello from edgeplay!");
  await noConsoleErrors(page);
  await page.context().close();
});

test("a backend pointing at the service itself: the tab runs the guest again for it, and a runaway self-call ends in 508 after five passes", async () => {
  const page = await openApp(browser, server.url);
  // Nothing may go to the service's address: the worker serves those fetches itself.
  const outside = [];
  await page.context().route((url) => url.href.startsWith("http://127.0.0.1:7676"), (route) => {
    outside.push(route.request().url());
    return route.abort();
  });
  await fill(page, "config", '[local_server.backends.origin]\nurl = "http://127.0.0.1:7676"\n');
  await fill(page, "request-url", "/again");
  await upload(page, guest("proxy"));
  assert.match(await status(page), /^508/);
  await waitForRun(page);
  assert.match(await text(page, "response-body"), /Loop detected/);
  // The run's one fetch was served by pass 2 (which forwarded to pass 3, ...).
  await page.click('button[data-tab="Trace"]');
  const rows = await waterfallRows(page);
  assert.equal(rows.length, 1, JSON.stringify(rows));
  assert.equal(rows[0].backend, "origin");
  assert.equal(rows[0].status, "508");
  assert.equal(rows[0].failed, false);
  const note = await page.locator('[data-testid="waterfall"] [data-backend="origin"] [data-testid="waterfall-note"]').textContent();
  assert.match(note, /served by this service itself, pass 2/);
  assert.match(note, /answered 508/);
  // Every pass is in the Logs panel; the sixth was refused without running the guest.
  const notes = await page.$$eval('[data-testid="logs"] .log[data-stream="edgeplay"]', (els) => els.map((e) => e.textContent));
  for (let pass = 2; pass <= 6; pass++) {
    assert.ok(notes.some((n) => n.includes(`served by this service itself, pass ${pass}`)), `pass ${pass}: ${JSON.stringify(notes)}`);
  }
  assert.ok(notes.some((n) => /pass 6: answered 508 without running the guest/.test(n)), JSON.stringify(notes));
  assert.ok(!notes.some((n) => n.includes("pass 7")), JSON.stringify(notes));
  assert.deepEqual(outside, [], "no fetch went to the service's address");
  await noConsoleErrors(page);
  await page.context().close();
});

test("the waterfall: the fanout example's two delayed mock backends overlap, offline; screenshot", async () => {
  const page = await openApp(browser, server.url);
  // Block every request that leaves the page's own origin: the example needs no network.
  const outside = [];
  await page.context().route((url) => !url.href.startsWith(server.url), (route) => {
    outside.push(route.request().url());
    return route.abort();
  });
  // A config without the example's backends: picking the example adds them.
  await fill(page, "config", 'manifest_version = 3\n[local_server.config_stores.s]\nformat = "inline-toml"\n[local_server.config_stores.s.contents]\nk = "v"\n');
  await byId(page, "examples").selectOption("fanout");
  assert.match(await status(page), /^200/);
  await waitForRun(page);
  const cfg = await byId(page, "config").inputValue();
  assert.match(cfg, /k = "v"/, "the user's config is kept");
  assert.match(cfg, /\[local_server\.backends\.a\]\nmock = .*delay_ms = 400/);
  assert.match(cfg, /\[local_server\.backends\.b\]\nmock = .*delay_ms = 150/);
  assert.equal(
    (await text(page, "response-body")).trim(),
    "first=b\na=slow answer from a\nb=fast answer from b",
  );
  assert.match(await text(page, "guest-info"), /waterfall/);

  await page.click('button[data-tab="Trace"]');
  const wf = byId(page, "waterfall");
  await wf.waitFor();
  const rows = await waterfallRows(page);
  assert.deepEqual(rows.map((r) => r.backend).sort(), ["a", "b"]);
  const a = rows.find((r) => r.backend === "a");
  const b = rows.find((r) => r.backend === "b");
  for (const r of [a, b]) {
    assert.equal(r.mock, "static", "marked as a mock");
    assert.equal(r.status, "200");
    assert.equal(r.failed, false);
    assert.ok(r.start <= r.firstByte && r.firstByte <= r.end, JSON.stringify(r));
    assert.match(r.text, /mock \(static\)/);
    assert.match(r.text, /GET http:\/\/mock\.invalid\//);
  }
  // Sent in parallel: both started before either ended (the bars overlap on the axis).
  assert.ok(a.start < b.end && b.start < a.end, `overlap: ${JSON.stringify({ a, b })}`);
  // b (the shorter delay) ends first, and both fit on the axis.
  assert.ok(b.end < a.end, JSON.stringify({ a, b }));
  const span = Number(await wf.getAttribute("data-span-us"));
  assert.ok(span >= a.end, `axis ${span} covers ${a.end}`);
  assert.match(await text(page, "waterfall-summary"), /2 backend fetches .*up to 2 at once/);
  // The drawn bars overlap too.
  const boxes = await page.$$eval('[data-testid="waterfall"] [data-backend] .wf-bar', (bars) =>
    bars.map((b) => {
      const r = b.getBoundingClientRect();
      return { left: r.left, right: r.right, backend: b.closest("[data-backend]").dataset.backend };
    }),
  );
  const [ba, bb] = ["a", "b"].map((n) => boxes.find((x) => x.backend === n));
  assert.ok(ba.left < bb.right && bb.left < ba.right, JSON.stringify(boxes));
  assert.ok(bb.right < ba.right, JSON.stringify(boxes));
  // A click on a row opens the fetch's trace event.
  await page.click('[data-testid="waterfall"] [data-backend="a"]');
  assert.match(await text(page, "trace-details"), /backend::a/);
  assert.match(await text(page, "trace-details"), /first_byte_us/);
  assert.deepEqual(outside, [], "no request left the page's origin");
  await wf.screenshot({ path: path.join(ensureArtifacts(), "waterfall.png") });
  await page.screenshot({ path: path.join(ensureArtifacts(), "waterfall-page.png") });
  await noConsoleErrors(page);
  await page.context().close();
});

test("the JS SDK guest fetches from a CORS origin through the tab (send_async + wait/select)", async () => {
  const origin = await startCorsServer();
  const page = await openApp(browser, server.url);
  try {
    await fill(page, "config", `[local_server.backends.origin]\nurl = "${origin.url}"\n`);
    await fill(page, "request-url", "/fetch/echo/js?x=1");
    await upload(page, guest("js-app"));
    assert.match(await status(page, 120_000), /^200/);
    await waitForRun(page, 120_000);
    const body = await text(page, "response-body");
    assert.match(body, /^origin said: /);
    const doc = JSON.parse(body.slice("origin said: ".length));
    assert.equal(doc.method, "GET");
    assert.equal(doc.url, "/echo/js?x=1");
    assert.equal(doc.headers["x-from"], "js");
    assert.match(doc.headers["cdn-loop"] || "", /edgeplay/);
    const headers = await text(page, "response-headers");
    assert.match(headers, /x-js\s*yes/);
    assert.match(headers, /x-origin-status\s*200/);
    // The JS SDK sends asynchronously and waits: the hostcalls are in the trace.
    const calls = await traceRows(page);
    assert.ok(calls.some((c) => /^fastly_http_req::send_async/.test(c)), calls.join(", "));
    assert.ok(
      calls.some((c) => /pending_req_wait|fastly_async_io::select/.test(c)),
      calls.filter((c) => /req|async/.test(c)).join(", "),
    );
    // The fetch is a backend trace row and a waterfall row.
    await page.click('button[data-tab="Trace"]');
    await byId(page, "trace-filter").selectOption("backends");
    const row = page.locator('[data-testid="trace"] tr[data-hostcall="backend::origin"]');
    assert.equal(await row.count(), 1);
    assert.match(await row.locator("td.args").textContent(), /status=200/);
    assert.match(await row.locator("td.args").textContent(), new RegExp(escapeRe(`${origin.url}/echo/js?x=1`)));
    // Beside it, the cache storing the response (a cache work span).
    const all = await waterfallRows(page);
    assert.deepEqual(all.filter((r) => r.cacheOp).map((r) => r.backend), ["cache fill"]);
    const rows = all.filter((r) => !r.cacheOp);
    assert.equal(rows.length, 1);
    assert.equal(rows[0].cache, "MISS");
    assert.equal(rows[0].backend, "origin");
    assert.equal(rows[0].status, "200");
    assert.equal(rows[0].mock, undefined);
    assert.ok(rows[0].start <= rows[0].firstByte && rows[0].firstByte <= rows[0].end, JSON.stringify(rows[0]));
    await noConsoleErrors(page);
  } finally {
    await page.context().close();
    await origin.close();
  }
});

/** Click Run and wait for that run to be over: a run that ends before the page is
 * polled still counts (a MutationObserver sees the status go to "running…"). */
async function runAgain(page, timeout = 60_000) {
  await page.evaluate(() => {
    window.__edgeplayRunStarted = false;
    const s = document.querySelector('[data-testid="run-status"]');
    const seen = () => s.textContent.startsWith("running") && (window.__edgeplayRunStarted = true);
    new MutationObserver((_, obs) => seen() && obs.disconnect()).observe(s, { childList: true, characterData: true, subtree: true });
  });
  await byId(page, "run").click();
  await page.waitForFunction(() => window.__edgeplayRunStarted, null, { timeout });
  await waitForRun(page, timeout);
}

test("a streaming upload (send_async_streaming) in the tab: buffered and sent whole; abandoned or awaited unclosed, it fails plainly", async () => {
  const origin = await startCorsServer();
  const page = await openApp(browser, server.url);
  const uploads = () => origin.requests.filter((r) => r.url.startsWith("/upload"));
  // The details of the upload's trace row (then back to the Response tab).
  const originDetails = async () => {
    await page.click('button[data-tab="Trace"]');
    await page.click('[data-testid="trace"] tr[data-hostcall="backend::origin"]');
    const details = await text(page, "trace-details");
    await page.click('button[data-tab="Response"]');
    return details;
  };
  try {
    await fill(page, "config", [
      "[local_server.backends.origin]",
      `url = "${origin.url}"`,
      "[local_server.backends.marker]",
      `url = "${origin.url}"`,
    ].join("\n"));
    await fill(page, "request-url", "/");
    await upload(page, guest("upload"));
    assert.match(await status(page), /^200/);
    await waitForRun(page);
    // The origin received the whole body, in one request.
    assert.equal((await text(page, "response-body")).trim(), "origin said: first-chunk;second-chunk");
    assert.deepEqual(uploads().map((r) => [r.method, r.body]), [["POST", "first-chunk;second-chunk"]]);
    assert.ok(origin.requests.some((r) => r.url === "/marker"), JSON.stringify(origin.requests));
    // The fetch's trace event says the tab buffered the upload.
    await page.click('button[data-tab="Trace"]');
    await byId(page, "trace-filter").selectOption("backends");
    const row = page.locator('[data-testid="trace"] tr[data-hostcall="backend::origin"]');
    assert.equal(await row.count(), 1);
    assert.match(await row.locator("td.args").textContent(), /status=200/);
    await row.click();
    const details = await text(page, "trace-details");
    assert.match(details, /streaming upload: a browser cannot stream a request body/);
    assert.match(details, /sent it whole when the guest closed it/);
    await byId(page, "trace-filter").selectOption("all");
    await page.click('button[data-tab="Response"]');

    // Abandoned after the first chunk: the send fails and nothing reaches the origin.
    await fill(page, "request-url", "/?abandon=1");
    await runAgain(page);
    assert.match(await status(page), /^502/);
    const abandoned = await text(page, "response-body");
    assert.match(abandoned, /^send failed: /);
    assert.equal(uploads().length, 1, JSON.stringify(origin.requests));
    // The guest sees a generic send error; the fetch's trace event explains it.
    assert.match(await originDetails(), /abandoned the streaming request body.*never sent/);

    // Waiting for the response before closing the body: an explained failure, not a hang.
    await fill(page, "request-url", "/?early=1");
    await runAgain(page, 20_000);
    assert.match(await status(page), /^502/);
    const early = await text(page, "response-body");
    assert.match(early, /^send failed: /);
    assert.equal(uploads().length, 1, JSON.stringify(origin.requests));
    assert.match(await originDetails(), /waits for the response of a streaming upload it has not closed/);
    await noConsoleErrors(page);
  } finally {
    await page.context().close();
    await origin.close();
  }
});

test("a runaway guest: the CPU limit stops it, the page stays responsive, Stop works", async () => {
  const page = await openApp(browser, server.url);
  // Default limit: 50 ms of estimated CPU.
  await upload(page, guest("loop_forever"));
  await waitForRun(page, 60_000);
  assert.match(await text(page, "error"), /CPU limit.*50 ms.*estimate/s);
  assert.match(await status(page), /^500/);

  // No limit: the guest spins until Stop. The page answers clicks meanwhile.
  await fill(page, "cpu-limit", "0");
  await byId(page, "run").click();
  await page.waitForFunction(() => document.querySelector('[data-testid="run-status"]')?.textContent.startsWith("running"));
  await page.waitForTimeout(300);
  for (const tab of ["Logs", "Trace", "Response"]) {
    const t0 = Date.now();
    await page.click(`button[data-tab="${tab}"]`, { timeout: 2000 });
    assert.ok(Date.now() - t0 < 2000, "the tab switched at once");
  }
  await fill(page, "request-url", "/typed-while-running");
  assert.equal(await byId(page, "request-url").inputValue(), "/typed-while-running");
  assert.match(await text(page, "run-status"), /^running/, "still running while the page answered");
  const t0 = Date.now();
  await byId(page, "stop").click();
  await page.waitForFunction(() => document.querySelector('[data-testid="run-status"]')?.textContent === "stopped");
  assert.ok(Date.now() - t0 < 3000, "Stop is immediate");
  assert.match(await text(page, "error"), /Stopped/);

  // A fresh worker: the page keeps working.
  await fill(page, "cpu-limit", "50");
  await fill(page, "request-url", "/");
  await upload(page, guest("hello"));
  await page.waitForFunction(() => (document.querySelector('[data-testid="response-body"]')?.textContent || "").includes("Hello from edgeplay!"));
  assert.match(await status(page), /^200/);
  await noConsoleErrors(page);
  await page.context().close();
});

// (module (import "acme_telemetry" "report" (func (param i32))) (memory (export "memory") 1) (func (export "_start")))
const UNKNOWN_IMPORT_WASM = [0, 97, 115, 109, 1, 0, 0, 0, 1, 8, 2, 96, 1, 127, 0, 96, 0, 0, 2, 25, 1, 14, 97, 99, 109, 101, 95, 116, 101, 108, 101, 109, 101, 116, 114, 121, 6, 114, 101, 112, 111, 114, 116, 0, 0, 3, 2, 1, 1, 5, 3, 1, 0, 1, 7, 19, 2, 6, 109, 101, 109, 111, 114, 121, 2, 0, 6, 95, 115, 116, 97, 114, 116, 0, 1, 10, 4, 1, 2, 0, 11];
// (module (tag $oops (param i32)) (memory (export "memory") 1) (func (export "_start") (throw $oops (i32.const 1))))
const EXCEPTIONS_WASM = [0, 97, 115, 109, 1, 0, 0, 0, 1, 8, 2, 96, 1, 127, 0, 96, 0, 0, 3, 2, 1, 1, 5, 3, 1, 0, 1, 13, 3, 1, 0, 0, 7, 19, 2, 6, 109, 101, 109, 111, 114, 121, 2, 0, 6, 95, 115, 116, 97, 114, 116, 0, 0, 10, 8, 1, 6, 0, 65, 1, 8, 0, 11];

test("an import the host does not know is named plainly; the guest still runs", async () => {
  const page = await openApp(browser, server.url);
  await upload(page, { name: "telemetry.wasm", buffer: Buffer.from(UNKNOWN_IMPORT_WASM) });
  await byId(page, "guest-warning").waitFor();
  assert.match(await text(page, "guest-warning"), /1 function the host does not know: acme_telemetry::report/);
  assert.match(await text(page, "guest-info"), /1 unknown/);
  assert.match(await status(page), /^200/);
  await noConsoleErrors(page);
  await page.context().close();
});

test("bad files give a clear message and the page keeps working", async () => {
  const page = await openApp(browser, server.url);
  const hello = fs.readFileSync(guest("hello"));
  const cases = [
    [{ name: "notes.txt", buffer: Buffer.from("hello, I am not wasm\n") }, /not a WebAssembly module/],
    [{ name: "truncated.wasm", buffer: hello.subarray(0, 1000) }, /malformed or truncated/],
    [{ name: "component.wasm", buffer: Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00]) }, /WebAssembly component/],
    [{ name: "empty.wasm", buffer: Buffer.alloc(0) }, /not a WebAssembly module.*empty/s],
    // (tag $oops (param i32)) and a `throw`: the exception-handling proposal.
    [{ name: "exceptions.wasm", buffer: Buffer.from(EXCEPTIONS_WASM) }, /WebAssembly feature .*wasmi.* does not support.*exceptions/s],
  ];
  for (const [file, want] of cases) {
    await upload(page, file);
    await byId(page, "error").waitFor();
    const msg = await text(page, "error");
    assert.match(msg, want, `${file.name}: ${msg}`);
    assert.match(msg, new RegExp(file.name.replace(".", "\\.")));
  }
  await upload(page, guest("hello"));
  assert.match(await status(page), /^200/);
  await waitForRun(page);
  assert.equal(await byId(page, "error").count(), 0);
  await noConsoleErrors(page);
  await page.context().close();
});

test("a reload keeps the config, the request and the last guest; bad stored data is ignored", async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await openApp(browser, server.url, { context });
  await fill(page, "config", '[local_server.config_stores.s]\nformat = "inline-toml"\n[local_server.config_stores.s.contents]\nk = "kept"\n');
  await fill(page, "request-url", "/config/s/k");
  await upload(page, guest("config"));
  await waitForRun(page);
  assert.equal((await text(page, "response-body")).trim(), "kept");
  // The guest is saved to IndexedDB asynchronously.
  await page.waitForTimeout(500);

  await page.reload();
  await page.waitForSelector('[data-worker="ready"]');
  await page.waitForFunction(() => document.querySelector('[data-testid="guest-name"]')?.textContent === "config.wasm");
  assert.match(await byId(page, "config").inputValue(), /k = "kept"/);
  assert.equal(await byId(page, "request-url").inputValue(), "/config/s/k");
  await byId(page, "run").click();
  await waitForRun(page);
  assert.equal((await text(page, "response-body")).trim(), "kept");

  // Corrupt everything that is stored: the page still comes up and works.
  await page.evaluate(async () => {
    localStorage.setItem("edgeplay.request.v1", "{not json");
    localStorage.setItem("edgeplay.config.v1", "\u0000\u0001 not toml [");
    await new Promise((resolve, reject) => {
      const open = indexedDB.open("edgeplay");
      open.onerror = reject;
      open.onsuccess = () => {
        const tx = open.result.transaction(["guests", "state"], "readwrite");
        tx.objectStore("guests").put({ name: 42, bytes: "nope" }, "last");
        // A service state record that is not bytes: skipped, kept, and said so.
        tx.objectStore("state").put("not bytes", "a string key");
        tx.oncomplete = () => { open.result.close(); resolve(); };
        tx.onerror = reject;
      };
    });
  });
  await page.reload();
  await page.waitForSelector('[data-worker="ready"]');
  assert.match(await text(page, "notice"), /1 stored state record could not be read; it was left as it was/);
  assert.equal(await byId(page, "request-url").inputValue(), "/");
  // The stored config text is not TOML: the editor shows it, with the error.
  assert.match(await text(page, "config-status"), /✗/);
  await byId(page, "config-reset").click();
  assert.match(await text(page, "config-status"), /✓/);
  await upload(page, guest("hello"));
  assert.match(await status(page), /^200/);
  await noConsoleErrors(page);
  await context.close();
});

// ---- The service state in the tab: IndexedDB, two tabs, the Stores panel ----

/** Run the KV guest (visits.wasm) with `url`; returns the response body. */
async function runVisits(page, url, { upload: first = false } = {}) {
  // A page in the background has its animation frames (which waitForFunction polls
  // on) and timers throttled: work on the page in front, as a user would.
  await page.bringToFront();
  await fill(page, "request-url", url);
  if (first) await upload(page, guest("visits"));
  else await byId(page, "run").click();
  await waitForRun(page);
  return (await text(page, "response-body")).trim();
}

/** Open the Stores tab on a store. */
async function openStore(page, kind, name) {
  await page.bringToFront();
  await page.click('button[data-tab="Stores"]');
  await page.click(`[data-testid="store"][data-store-kind="${kind}"][data-store-name="${name}"]`);
}

const entry = (page, key) => page.locator(`[data-testid="store-entry"][data-key="${key}"]`);

/** The keys the open store lists, in order. */
const entryKeys = (page) =>
  page.$$eval('[data-testid="store-entry"]', (rows) => rows.map((r) => r.dataset.key));

async function waitForKeys(page, want, what) {
  try {
    await page.waitForFunction(
      (want) => JSON.stringify([...document.querySelectorAll('[data-testid="store-entry"]')].map((r) => r.dataset.key)) === JSON.stringify(want),
      want,
      { timeout: 10_000 },
    );
  } catch {
    assert.deepEqual(await entryKeys(page), want, what);
  }
}

test("KV state lasts: a run's write is listed as written (with its trace call), and a reload keeps it", async () => {
  const context = await browser.newContext({ viewport: { width: 1440, height: 960 } });
  const page = await openApp(browser, server.url, { context });
  assert.match(await runVisits(page, "/?key=name&value=ada", { upload: true }), /wrote name = ada/);
  await openStore(page, "kv", "playground");
  // The seed from fastly.toml and the guest's write; only the written one is marked.
  await waitForKeys(page, ["greeting", "name"], "the store lists the seed and the write");
  assert.equal(await entry(page, "name").getAttribute("data-touched"), "write");
  assert.equal(await entry(page, "greeting").getAttribute("data-touched"), null);
  await entry(page, "name").click();
  assert.equal((await text(page, "store-value-body")).trim(), "ada");
  assert.match(await text(page, "store-value-facts"), /generation \d+ · no TTL/);
  // The link selects the call in the trace.
  await entry(page, "name").locator('[data-testid="store-entry-trace"]').click();
  assert.match(await text(page, "trace-details"), /fastly_kv_store::insert/);
  // A read marks the key read.
  assert.equal(await runVisits(page, "/?key=greeting"), "Hello from the KV store!");
  await openStore(page, "kv", "playground");
  await page.waitForSelector('[data-testid="store-entry"][data-key="greeting"][data-touched="read"]');
  assert.equal(await entry(page, "name").getAttribute("data-touched"), null, "the last run did not touch it");

  await page.reload();
  await page.waitForSelector('[data-worker="ready"]');
  assert.match(await text(page, "state-status"), /stored keys loaded .* after the worker started · kept in this browser/);
  await openStore(page, "kv", "playground");
  await waitForKeys(page, ["greeting", "name"], "a reload keeps the write");
  await page.waitForFunction(() => document.querySelector('[data-testid="guest-name"]')?.textContent === "visits.wasm");
  assert.equal(await runVisits(page, "/?key=name"), "ada");
  await noConsoleErrors(page);
  await context.close();
});

test("Stop during a run loses nothing earlier runs wrote", async () => {
  const context = await browser.newContext({ viewport: { width: 1440, height: 960 } });
  const page = await openApp(browser, server.url, { context });
  assert.match(await runVisits(page, "/?key=before&value=1", { upload: true }), /wrote before = 1/);
  // Writes, then spins with no CPU limit until Stop terminates the worker.
  await fill(page, "cpu-limit", "0");
  await fill(page, "request-url", "/?key=during&value=2&spin=1");
  await byId(page, "run").click();
  await page.waitForFunction(() => document.querySelector('[data-testid="run-status"]')?.textContent.startsWith("running"));
  await page.waitForTimeout(500);
  await byId(page, "stop").click();
  await page.waitForFunction(() => document.querySelector('[data-testid="run-status"]')?.textContent === "stopped");
  await page.waitForSelector('[data-worker="ready"]');
  await openStore(page, "kv", "playground");
  await entry(page, "before").waitFor();
  await page.reload();
  await page.waitForSelector('[data-worker="ready"]');
  await openStore(page, "kv", "playground");
  await entry(page, "before").waitFor();
  await fill(page, "cpu-limit", "50");
  await page.waitForFunction(() => document.querySelector('[data-testid="guest-name"]')?.textContent === "visits.wasm");
  assert.equal(await runVisits(page, "/?key=before"), "1");
  await noConsoleErrors(page);
  await context.close();
});

test("two pages of one origin write the same store and both see both writes", async () => {
  const context = await browser.newContext({ viewport: { width: 1440, height: 960 } });
  const a = await openApp(browser, server.url, { context });
  const b = await openApp(browser, server.url, { context });
  assert.match(await runVisits(a, "/?key=from-a&value=1", { upload: true }), /wrote/);
  assert.match(await runVisits(b, "/?key=from-b&value=2", { upload: true }), /wrote/);
  for (const page of [a, b]) {
    await openStore(page, "kv", "playground");
    await waitForKeys(page, ["from-a", "from-b", "greeting"], "each page lists both writes");
  }
  // A's worker reads B's write (applied from the broadcast, not only on reload).
  assert.equal(await runVisits(a, "/?key=from-b"), "2");
  // The same key from both: both end with the same (last committed) value.
  await runVisits(a, "/?key=same&value=a");
  await runVisits(b, "/?key=same&value=b");
  const seen = [await runVisits(a, "/?key=same"), await runVisits(b, "/?key=same")];
  assert.deepEqual(seen, ["b", "b"], "the last writer wins, in both tabs");
  for (const page of [a, b]) await noConsoleErrors(page);
  await context.close();
});

test("reset to config puts the seed back, for this page, the next load and the other tab", async () => {
  const context = await browser.newContext({ viewport: { width: 1440, height: 960 } });
  const page = await openApp(browser, server.url, { context });
  const other = await openApp(browser, server.url, { context });
  await runVisits(page, "/?key=greeting&value=overwritten", { upload: true });
  await runVisits(page, "/?key=extra&value=x");
  await openStore(page, "kv", "playground");
  await waitForKeys(page, ["extra", "greeting"]);
  await openStore(other, "kv", "playground");
  await waitForKeys(other, ["extra", "greeting"]);
  await byId(page, "store-reset").click();
  await waitForKeys(page, ["greeting"], "only the seed is left");
  await entry(page, "greeting").click();
  assert.equal((await text(page, "store-value-body")).trim(), "Hello from the KV store!");
  await other.bringToFront();
  await waitForKeys(other, ["greeting"], "the other tab sees the reset");
  await page.reload();
  await page.waitForSelector('[data-worker="ready"]');
  await openStore(page, "kv", "playground");
  await waitForKeys(page, ["greeting"], "the reset was stored");
  await noConsoleErrors(page);
  await context.close();
});

test("a KV store imports and exports as JSON (Viceroy's and Fastlike's shapes); a bad file changes nothing", async () => {
  const context = await browser.newContext({ viewport: { width: 1440, height: 960 }, acceptDownloads: true });
  const page = await openApp(browser, server.url, { context });
  await openStore(page, "kv", "playground");
  await waitForKeys(page, ["greeting"]);
  const file = (name, obj) => ({ name, mimeType: "application/json", buffer: Buffer.from(typeof obj === "string" ? obj : JSON.stringify(obj)) });
  await byId(page, "store-import").setInputFiles(file("viceroy.json", { one: "1", two: { data: "2", metadata: "m2" } }));
  await waitForKeys(page, ["greeting", "one", "two"]);
  await byId(page, "store-import").setInputFiles(file("fastlike.json", { three: { body: "3", metadata: "m3" } }));
  await waitForKeys(page, ["greeting", "one", "three", "two"]);
  await entry(page, "two").click();
  assert.match(await text(page, "store-value-facts"), /metadata: m2/);

  const exported = async (id) => {
    const [download] = await Promise.all([page.waitForEvent("download"), byId(page, id).click()]);
    return JSON.parse(fs.readFileSync(await download.path(), "utf8"));
  };
  const viceroy = await exported("store-export");
  assert.deepEqual(viceroy, {
    greeting: "Hello from the KV store!", one: "1",
    three: { data: "3", metadata: "m3" }, two: { data: "2", metadata: "m2" },
  });
  const fastlike = await exported("store-export-fastlike");
  assert.deepEqual(fastlike.two, { body: "2", metadata: "m2" });

  // Round trip: replace the store with its own export.
  await byId(page, "store-import-replace").check();
  await byId(page, "store-import").setInputFiles(file("back.json", { one: viceroy.one, two: viceroy.two }));
  await waitForKeys(page, ["one", "two"], "replace drops the other keys");
  // Malformed files: a clear message, nothing changed.
  for (const [bad, says] of [["{not json", /not valid JSON/], [{ k: 5 }, /a number/], [{ "a\nb": "x" }, /key/]]) {
    await byId(page, "store-import").setInputFiles(file("bad.json", bad));
    await page.waitForFunction((re) => new RegExp(re).test(document.querySelector('[data-testid="store-message"]')?.textContent || ""), says.source);
    await waitForKeys(page, ["one", "two"], "a bad import changes nothing");
  }
  await noConsoleErrors(page);
  await context.close();
});

test("config stores and secret stores in the Stores panel are the fastly.toml text", async () => {
  const page = await openApp(browser, server.url);
  await page.click('button[data-tab="Stores"]');
  const kinds = await page.$$eval('[data-testid="store"]', (rows) => rows.map((r) => `${r.dataset.storeKind}:${r.dataset.storeName}`));
  assert.deepEqual(kinds, ["kv:playground", "config:legacy", "config:settings", "secret:vault"]);
  await openStore(page, "config", "settings");
  await waitForKeys(page, ["answer", "greeting"]);
  await fill(page, "store-edit-key", "added");
  await fill(page, "store-edit-value", "in the panel");
  await byId(page, "store-save").click();
  await waitForKeys(page, ["added", "answer", "greeting"]);
  assert.match(await byId(page, "config").inputValue(), /added = "in the panel"/);
  // And the other way: editing the config updates the panel.
  const cfg = await byId(page, "config").inputValue();
  await fill(page, "config", cfg.replace('answer = "42"', 'answer = "42"\nfrom_editor = "yes"'));
  await waitForKeys(page, ["added", "answer", "from_editor", "greeting"]);
  // Secrets are masked until revealed.
  await openStore(page, "secret", "vault");
  await entry(page, "token").click();
  assert.doesNotMatch(await text(page, "store-value-body"), /s3cr3t/);
  await byId(page, "store-reveal").click();
  assert.equal((await text(page, "store-value-body")).trim(), "s3cr3t");
  await entry(page, "token").locator('[data-testid="store-entry-delete"]').click();
  await waitForKeys(page, []);
  assert.doesNotMatch(await byId(page, "config").inputValue(), /s3cr3t/);
  await noConsoleErrors(page);
  await page.context().close();
});

test("an ACL in the Stores panel: its entries are listed from the state it seeds, and edits go into fastly.toml", async () => {
  const page = await openApp(browser, server.url);
  const cfg = await byId(page, "config").inputValue();
  await fill(
    page,
    "config",
    `${cfg}\n[local_server.acls]\nblocklist = { entries = [\n  { prefix = "192.0.2.0/24", action = "BLOCK" },\n] }\n`,
  );
  await page.click('button[data-tab="Stores"]');
  await openStore(page, "acl", "blocklist");
  await waitForKeys(page, ["192.0.2.0/24"]);
  await entry(page, "192.0.2.0/24").click();
  assert.equal((await text(page, "store-value-body")).trim(), "BLOCK");
  // Add an entry (its prefix written loosely: it is stored normalised).
  await fill(page, "store-edit-key", "10.1.2.3/8");
  await fill(page, "store-edit-value", "allow");
  await byId(page, "store-save").click();
  await waitForKeys(page, ["10.0.0.0/8", "192.0.2.0/24"]);
  assert.match(await byId(page, "config").inputValue(), /prefix = "10\.0\.0\.0\/8", action = "ALLOW"/);
  // A bad prefix is refused with a reason; nothing changes.
  await fill(page, "store-edit-key", "not-an-ip");
  await byId(page, "store-save").click();
  assert.match(await text(page, "store-message"), /not an IP prefix/);
  await waitForKeys(page, ["10.0.0.0/8", "192.0.2.0/24"]);
  // Delete one: gone from the config and, once seeded, from the state.
  await entry(page, "192.0.2.0/24").locator('[data-testid="store-entry-delete"]').click();
  await waitForKeys(page, ["10.0.0.0/8"]);
  assert.doesNotMatch(await byId(page, "config").inputValue(), /192\.0\.2\.0/);
  await noConsoleErrors(page);
  await page.context().close();
});

test("a Go guest (GOOS=wasip1, the ABI through //go:wasmimport) answers in the tab; none of its imports is unknown", async () => {
  const page = await openApp(browser, server.url);
  await upload(page, guest("go-app"));
  assert.match(await status(page, 60_000), /^200/);
  await waitForRun(page, 60_000);
  assert.equal((await text(page, "response-body")).trim(), "Hello from Go!");
  assert.match(await text(page, "response-headers"), /x-go\s*yes/);
  const rows = await traceRows(page);
  assert.ok(rows.some((r) => r.startsWith("wasi_snapshot_preview1::")), rows.join(", "));
  assert.equal(await page.locator('[data-testid="guest-warning"]').count(), 0, "no unknown import");
  // The default config's `settings` config store, through the Go guest.
  await fill(page, "request-url", "/config/answer");
  await byId(page, "run").click();
  await waitForRun(page, 60_000);
  assert.equal((await text(page, "response-body")).trim(), "42");
  await noConsoleErrors(page);
  await page.context().close();
});

// ---- The cache in the tab: the Cache inspector, purges, persistence, fresh cache ----

const sha256 = (b) => crypto.createHash("sha256").update(b).digest();

/**
 * The service-state records of cached objects, as the cache engine lays them out
 * (crates/host/src/cache/mod.rs): meta, body, surrogate-key index, use order, totals.
 * Each object: { key, body, surrogateKeys, url, status, headers, vary, swrS }.
 */
function cacheRecords(objects) {
  const nowNs = BigInt(Date.now()) * 1_000_000n;
  const records = [];
  let bytes = 0;
  for (const o of objects) {
    const key = Buffer.from(o.key);
    const vary = o.vary || [];
    const variant = Buffer.concat(
      vary.flatMap(([n, v]) => [Buffer.from(n), Buffer.from([0]), v == null ? Buffer.from([0]) : Buffer.concat([Buffer.from([1]), Buffer.from(v)]), Buffer.from([0])]),
    );
    const id = `${sha256(key).subarray(0, 16).toString("hex")}/${sha256(variant).subarray(0, 8).toString("hex")}`;
    const body = Buffer.from(o.body);
    const meta = {
      v: 1,
      kind: o.status ? "http" : "core",
      key: key.toString("base64"),
      url: o.url ?? null,
      vary,
      inserted_ns: "@NOW@",
      initial_age_ns: 0,
      max_age_ns: 600_000_000_000,
      swr_ns: (o.swrS ?? 60) * 1_000_000_000,
      sie_ns: 0,
      surrogate_keys: o.surrogateKeys || [],
      hits: 0,
      used_ns: "@NOW@",
      size: body.length,
      response: o.status
        ? { status: o.status, headers: { entries: Object.entries(o.headers || {}).map(([n, v]) => [n, [...Buffer.from(v)]]) } }
        : null,
    };
    const json = JSON.stringify(meta).replaceAll('"@NOW@"', nowNs.toString());
    records.push([Buffer.from(`cache/o/${id}`), Buffer.from(json)]);
    records.push([Buffer.from(`cache/b/${id}`), body]);
    for (const sk of meta.surrogate_keys) {
      records.push([Buffer.concat([Buffer.from(`cache/sk/${sk}`), Buffer.from([0]), Buffer.from(id)]), Buffer.alloc(0)]);
    }
    records.push([Buffer.from(`cache/lru/${nowNs.toString(16).padStart(16, "0")}/${id}`), Buffer.alloc(0)]);
    bytes += body.length;
  }
  records.push([Buffer.from("cache/n"), Buffer.from(`${objects.length} ${bytes}`)]);
  return records.map(([k, v]) => [[...k], [...v]]);
}

/** Write records into the page's stored service state (IndexedDB `edgeplay`, store `state`). */
async function putState(page, records) {
  await page.evaluate(async (records) => {
    const db = await new Promise((resolve, reject) => {
      const r = indexedDB.open("edgeplay");
      r.onsuccess = () => resolve(r.result);
      r.onerror = () => reject(r.error);
    });
    await new Promise((resolve, reject) => {
      const tx = db.transaction(["state"], "readwrite");
      const store = tx.objectStore("state");
      for (const [k, v] of records) store.put(new Uint8Array(v), new Uint8Array(k));
      tx.oncomplete = resolve;
      tx.onerror = () => reject(tx.error);
    });
    db.close();
  }, records);
}

/** Open the Cache tab. */
async function openCache(page) {
  await page.bringToFront();
  await page.click('button[data-tab="Cache"]');
  await byId(page, "cache-inspector").waitFor();
}

/** The inspector's entries: { key, hits, state, url, surrogateKeys }, most recent first. */
const cacheEntries = (page) =>
  page.$$eval('[data-testid="cache-entry"]', (rows) =>
    rows.map((r) => ({ key: r.dataset.key, hits: Number(r.dataset.hits), state: r.dataset.state, url: r.dataset.url, surrogateKeys: r.dataset.surrogateKeys })),
  );

/** Wait until the inspector lists exactly `want` (keys, in any order). */
async function waitForCacheKeys(page, want, what) {
  const sorted = [...want].sort();
  try {
    await page.waitForFunction(
      (want) => {
        const keys = [...document.querySelectorAll('[data-testid="cache-entry"]')].map((r) => r.dataset.key).sort();
        return document.querySelector('[data-testid="cache-count"]')?.dataset.count === String(want.length) && JSON.stringify(keys) === JSON.stringify(want);
      },
      sorted,
      { timeout: 10_000 },
    );
  } catch {
    assert.deepEqual((await cacheEntries(page)).map((e) => e.key).sort(), sorted, what);
  }
}

/** Wait until the element `id` says something matching `re`. */
async function waitForText(page, id, re) {
  try {
    await page.waitForFunction(
      ([id, re]) => new RegExp(re).test(document.querySelector(`[data-testid="${id}"]`)?.textContent || ""),
      [id, re.source],
      { timeout: 10_000 },
    );
  } catch {
    assert.match(await text(page, id), re);
  }
}

const cacheEntry = (page, key) => page.locator(`[data-testid="cache-entry"][data-key="${key}"]`);

test("the Cache inspector: stored objects with their facts and bodies; purge by surrogate key (soft, hard), one object, all; a reload and the other tab agree", async () => {
  const context = await browser.newContext({ viewport: { width: 1440, height: 960 } });
  const page = await openApp(browser, server.url, { context });
  await putState(
    page,
    cacheRecords([
      { key: "greeting", body: "hello from the cache", surrogateKeys: ["news", "all"] },
      {
        key: "article/2",
        body: "<p>two</p>",
        surrogateKeys: ["news"],
        url: "http://origin.example/article/2",
        status: 200,
        headers: { "content-type": "text/html", "surrogate-key": "news" },
        vary: [["accept-encoding", "gzip"]],
      },
      { key: [0xff, 0x00, 0x01], body: [0x00, 0x9f, 0x92, 0x96], surrogateKeys: ["all"] },
      { key: "extra", body: "x" },
    ]),
  );
  // The worker reads the stored state when it starts.
  await page.reload();
  await page.waitForSelector('[data-worker="ready"]');
  await openCache(page);
  await waitForCacheKeys(page, ["greeting", "article/2", "ff0001", "extra"], "every stored object is listed");
  assert.match(await text(page, "cache-count"), /^4 objects · 35 B/);
  const article = cacheEntry(page, "article/2");
  assert.equal(await article.getAttribute("data-url"), "http://origin.example/article/2");
  assert.equal(await article.getAttribute("data-hits"), "0");
  assert.equal(await article.getAttribute("data-state"), "fresh");
  const facts = await article.textContent();
  for (const want of [/variant accept-encoding: gzip/, /TTL left \d+ s/, /SWR 60 s · SIE 0 s/, /size 10 B/, /surrogate keys news/, /response 200 · 2 headers/, /content-typetext\/html/]) {
    assert.match(facts, want);
  }
  assert.equal(await cacheEntry(page, "ff0001").locator(".entry-key").getAttribute("data-key-kind"), "hex");
  // One click shows the body: text, or hex for bytes.
  await cacheEntry(page, "greeting").click();
  await page.waitForSelector('[data-testid="cache-body"][data-text="true"]');
  assert.equal((await byId(page, "cache-body").locator("pre").textContent()), "hello from the cache");
  await cacheEntry(page, "ff0001").click();
  await page.waitForSelector('[data-testid="cache-body"][data-text="false"]');
  assert.match(await text(page, "cache-body-facts"), /4 B · binary: hex/);
  assert.match(await byId(page, "cache-body").locator("pre").textContent(), /00 9f 92 96/);
  await page.screenshot({ path: path.join(ensureArtifacts(), "cache-inspector.png") });

  // Soft purge: marked stale, still there; hard purge: only what carries the key goes.
  await fill(page, "purge-key-input", "news");
  await byId(page, "purge-key-soft").check();
  await byId(page, "purge-key-button").click();
  await waitForText(page, "cache-message", /Soft-purged "news": 2 objects marked stale/);
  await page.waitForSelector('[data-testid="cache-entry"][data-key="greeting"][data-state="stale"]');
  assert.equal(await cacheEntry(page, "article/2").getAttribute("data-state"), "stale");
  assert.equal(await cacheEntry(page, "extra").getAttribute("data-state"), "fresh");
  await byId(page, "purge-key-soft").uncheck();
  await byId(page, "purge-key-button").click();
  await waitForText(page, "cache-message", /Purged "news": 2 objects removed/);
  await waitForCacheKeys(page, ["ff0001", "extra"], "a hard purge removes only the objects with the key");

  // The purge is stored: a reload lists what is left; another tab agrees.
  await page.reload();
  await page.waitForSelector('[data-worker="ready"]');
  await openCache(page);
  await waitForCacheKeys(page, ["ff0001", "extra"], "a reload keeps the cache as purged");
  const other = await openApp(browser, server.url, { context });
  await openCache(other);
  await waitForCacheKeys(other, ["ff0001", "extra"]);
  // One object, here: the other tab hears of it.
  await openCache(page);
  await cacheEntry(page, "extra").locator('[data-testid="cache-entry-remove"]').click();
  await waitForCacheKeys(page, ["ff0001"]);
  await openCache(other);
  await waitForCacheKeys(other, ["ff0001"], "the other tab hears of the removal");
  // Everything, there: this tab hears of it.
  await byId(other, "purge-all").click();
  await waitForText(other, "cache-message", /Purged everything: 1 object\b/);
  await byId(other, "cache-empty").waitFor();
  await openCache(page);
  await byId(page, "cache-empty").waitFor();
  assert.match(await text(page, "cache-count"), /^0 objects/);
  await page.screenshot({ path: path.join(ensureArtifacts(), "cache-inspector-empty.png") });
  for (const p of [page, other]) await noConsoleErrors(p);
  await context.close();
});

/** The waterfall rows' `data-cache` outcomes (backend fetches only). */
const cacheOutcomes = (page) =>
  page.$$eval('[data-testid="waterfall"] [data-backend]:not(.cache-op):not(.kv)', (rows) => rows.map((r) => r.dataset.cache || ""));

test("the readthrough cache in the tab: a MISS stores the response, the next run is a HIT the origin never sees; fresh cache misses and keeps the stored object; Stop, a reload and purges", async () => {
  const origin = await startCorsServer();
  const context = await browser.newContext({ viewport: { width: 1440, height: 960 } });
  const page = await openApp(browser, server.url, { context });
  const originHits = () => origin.requests.filter((r) => r.url.startsWith("/cached/a")).length;
  // The readthrough key (and the URL the inspector shows) is the request's URL as the
  // guest sent it, before the backend's origin replaced its host.
  const url = "http://127.0.0.1:7676/cached/a?sk=news";
  /** Run (or load `guest` and run); returns the response body. */
  const run = async (g) => {
    await page.bringToFront();
    if (g) {
      await upload(page, guest(g));
      // Loaded, and so started (the load runs it): the run that ends next is this one.
      await page.waitForFunction((name) => document.querySelector('[data-testid="guest-name"]')?.textContent === name, `${g}.wasm`);
    } else await byId(page, "run").click();
    await waitForRun(page);
    assert.match(await status(page), /^200/);
    return (await text(page, "response-body")).trim();
  };
  const outcomes = async () => {
    await page.click('button[data-tab="Trace"]');
    return cacheOutcomes(page);
  };
  try {
    await fill(page, "config", `[local_server.backends.origin]\nurl = "${origin.url}"\n`);
    await fill(page, "request-url", "/cached/a?sk=news");
    // First run: a MISS; the origin answers and the response is stored.
    assert.equal(await run("proxy"), "origin hit 1 for /cached/a");
    assert.equal(originHits(), 1);
    assert.deepEqual(await outcomes(), ["MISS"]);
    assert.equal(await byId(page, "response-cache").getAttribute("data-all-hit"), "false");
    await openCache(page);
    await page.waitForSelector(`[data-testid="cache-entry"][data-url="${url}"][data-hits="0"]`);
    const [stored] = await cacheEntries(page);
    assert.equal(stored.surrogateKeys, "news");
    assert.equal(stored.state, "fresh");

    // Second run: a HIT, served without the origin.
    assert.equal(await run(), "origin hit 1 for /cached/a", "the stored body");
    assert.equal(originHits(), 1, "the origin saw no second request");
    assert.deepEqual(await outcomes(), ["HIT"]);
    await page.click('button[data-tab="Response"]');
    assert.equal(await byId(page, "response-cache").getAttribute("data-all-hit"), "true");
    assert.match(await text(page, "response-cache"), /served from the cache.*no origin contacted/);
    await openCache(page);
    await page.waitForSelector(`[data-testid="cache-entry"][data-url="${url}"][data-hits="1"]`);

    // Fresh cache: the run misses and reaches the origin; the stored object stays as it was.
    await byId(page, "fresh-cache").check();
    assert.equal(await run(), "origin hit 2 for /cached/a");
    assert.equal(originHits(), 2);
    assert.deepEqual(await outcomes(), ["MISS"]);
    const notes = await page.$$eval('[data-testid="logs"] .log[data-stream="edgeplay"]', (els) => els.map((e) => e.textContent));
    assert.ok(notes.some((n) => /fresh cache/.test(n)), JSON.stringify(notes));
    await openCache(page);
    await page.waitForSelector(`[data-testid="cache-entry"][data-url="${url}"][data-hits="1"]`);
    assert.equal((await cacheEntries(page)).length, 1, "the fresh run's object was thrown away");
    await byId(page, "fresh-cache").uncheck();
    assert.equal(await run(), "origin hit 1 for /cached/a", "the stored object again");
    assert.equal(originHits(), 2);

    // Stop during a later run loses nothing stored; a reload keeps the cache.
    await fill(page, "cpu-limit", "0");
    await upload(page, guest("loop_forever"));
    await page.waitForFunction(() => document.querySelector('[data-testid="run-status"]')?.textContent.startsWith("running"));
    await byId(page, "stop").click();
    await page.waitForSelector('[data-worker="ready"]');
    await openCache(page);
    await page.waitForSelector(`[data-testid="cache-entry"][data-url="${url}"][data-hits="2"]`);
    await page.reload();
    await page.waitForSelector('[data-worker="ready"]');
    await openCache(page);
    await page.waitForSelector(`[data-testid="cache-entry"][data-url="${url}"][data-hits="2"]`);
    await fill(page, "cpu-limit", "50");
    assert.equal(await run("proxy"), "origin hit 1 for /cached/a", "a HIT after the reload");
    assert.equal(originHits(), 2);

    // A purge by surrogate key: the next run misses again.
    await openCache(page);
    await fill(page, "purge-key-input", "news");
    await byId(page, "purge-key-button").click();
    await byId(page, "cache-empty").waitFor();
    assert.equal(await run(), "origin hit 3 for /cached/a");
    assert.deepEqual(await outcomes(), ["MISS"]);
    await page.screenshot({ path: path.join(ensureArtifacts(), "waterfall-cache.png") });

    // A guest's purge (fastly_purge) is a change to the same state: the inspector shows it.
    await fill(page, "request-url", "/purge/news?soft=1");
    assert.equal(await run("readthrough"), "purged news");
    await page.click('button[data-tab="Trace"]');
    assert.ok((await waterfallRows(page)).some((r) => r.cacheOp && r.backend === "cache soft_purge"), "the purge is a cache span");
    await openCache(page);
    await page.waitForSelector(`[data-testid="cache-entry"][data-url="${url}"][data-state="stale"]`);
    await fill(page, "request-url", "/purge/news");
    assert.equal(await run(), "purged news");
    await openCache(page);
    await byId(page, "cache-empty").waitFor();
    await noConsoleErrors(page);
  } finally {
    await context.close();
    await origin.close();
  }
});

test("the core cache in the tab: an insert is listed with its text key and surrogate keys, a lookup counts a hit; a fresh-cache run sees an empty cache and leaves the stored one alone", async () => {
  const context = await browser.newContext({ viewport: { width: 1440, height: 960 } });
  const page = await openApp(browser, server.url, { context });
  const run = async (method, url, { load = false } = {}) => {
    await page.bringToFront();
    await byId(page, "request-method").selectOption(method);
    await fill(page, "request-url", url);
    if (load) {
      await upload(page, guest("cache"));
      await page.waitForFunction(() => document.querySelector('[data-testid="guest-name"]')?.textContent === "cache.wasm");
    } else await byId(page, "run").click();
    await waitForRun(page);
    return [await status(page), (await text(page, "response-body")).trim()];
  };
  try {
    const [st] = await run("POST", "/core/insert?key=greeting&value=hello-core&sk=news,all&meta=m1", { load: true });
    assert.match(st, /^200/);
    await openCache(page);
    await waitForCacheKeys(page, ["greeting"], "the inserted object is listed");
    const greeting = cacheEntry(page, "greeting");
    assert.equal(await greeting.getAttribute("data-surrogate-keys"), "news all");
    assert.equal(await greeting.getAttribute("data-hits"), "0");
    assert.equal(await greeting.locator(".entry-key").getAttribute("data-key-kind"), "text");
    assert.match(await greeting.textContent(), /user metadata m1/);
    await greeting.click();
    await page.waitForSelector('[data-testid="cache-body"][data-text="true"]');
    assert.equal(await byId(page, "cache-body").locator("pre").textContent(), "hello-core");

    // A lookup finds it: a hit, and the waterfall draws the cache span.
    const [found, body] = await run("GET", "/core/lookup?key=greeting");
    assert.match(found, /^200/);
    assert.equal(body, "hello-core");
    await page.click('button[data-tab="Trace"]');
    const spans = (await waterfallRows(page)).filter((r) => r.cacheOp);
    assert.ok(spans.some((r) => r.backend === "cache lookup" && r.status === "hit" && /greeting/.test(r.text)), JSON.stringify(spans));
    await openCache(page);
    await page.waitForSelector('[data-testid="cache-entry"][data-key="greeting"][data-hits="1"]');

    // Fresh cache: the lookup misses; what the run inserts is thrown away.
    await byId(page, "fresh-cache").check();
    assert.deepEqual(await run("GET", "/core/lookup?key=greeting"), ["404 Not Found", "miss"]);
    await run("POST", "/core/insert?key=throwaway&value=x");
    await openCache(page);
    await page.waitForSelector('[data-testid="cache-entry"][data-key="greeting"][data-hits="1"]');
    await waitForCacheKeys(page, ["greeting"], "the stored cache is as it was");
    await byId(page, "fresh-cache").uncheck();
    assert.deepEqual(await run("GET", "/core/lookup?key=greeting"), ["200 OK", "hello-core"]);
    await noConsoleErrors(page);
  } finally {
    await context.close();
  }
});
