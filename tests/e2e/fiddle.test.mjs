// End-to-end tests of fiddles in the tab (issue 10): request sequences with
// assertions, Run all, Share links opened in a fresh browser context, bad links,
// secrets, Save as file / Open file, and Fastly CLI packages.
//   cd tests/e2e && node --test fiddle.test.mjs   (after trunk build --release)
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import zlib from "node:zlib";
import { launch, openApp, serveDir, distDir, guest, upload, status, text, byId, fill, waitForRun, useApp } from "./harness.mjs";
import { startCorsServer } from "./cors-server.mjs";

let browser;
let server;
useApp((b, s) => {
  browser = b;
  server = s;
});

/** A link's payload: JSON, raw deflate, base64url (docs/fiddle.md). */
function payload(value) {
  const json = typeof value === "string" ? value : JSON.stringify(value);
  return zlib.deflateRawSync(Buffer.from(json)).toString("base64url");
}

/** The fiddle a link holds, decoded here (as a colleague's tool would). */
function decode(link) {
  const p = link.split("#f=")[1].split("&")[0];
  return JSON.parse(zlib.inflateRawSync(Buffer.from(p, "base64url")).toString());
}

/** Wait until Run all is over and every request row has a status. */
async function waitForAll(page, n, timeout = 90_000) {
  await page.waitForFunction(
    (n) => {
      const rows = [...document.querySelectorAll('[data-testid="requests"] [data-request-index]')];
      const btn = document.querySelector('[data-testid="run-all"]');
      return rows.length === n && rows.every((r) => r.dataset.status) && btn && btn.textContent === "Run all";
    },
    n,
    { timeout },
  );
}

/** Each request's status and assertion results, selecting each row in turn. */
async function results(page) {
  const n = await page.locator('[data-testid="requests"] [data-request-index]').count();
  const out = [];
  for (let i = 0; i < n; i++) {
    await page.click(`[data-request-index="${i}"] .request-pick`);
    await page.waitForFunction((i) => document.querySelector(`[data-request-index="${i}"]`)?.classList.contains("selected"), i);
    const st = await status(page);
    const body = (await text(page, "response-body")).trim();
    const asserts = await page.$$eval('[data-testid="assertion-result"]', (els) =>
      els.map((e) => `${e.dataset.pass} ${e.querySelector(".name").textContent}`),
    );
    out.push({ status: st, body: JSON.parse(body), asserts });
  }
  return out;
}

/** The echo example, with the composer set as a user would. */
async function echoFiddle(page) {
  await page.selectOption('[data-testid="examples"]', "echo");
  await status(page);
  await waitForRun(page);
  await fill(page, "assertions", [
    "clientFetch.status is 200",
    '[echoes the body] clientFetch.bodyPreview includes "edgeplay"',
    "[fails on purpose] clientFetch.status is 404",
  ].join("\n"));
  await byId(page, "add-request").click();
  await page.selectOption('[data-testid="request-method"]', "GET");
  await fill(page, "request-url", "/second?n=2");
  await fill(page, "request-body", "");
  await fill(page, "assertions", [
    'clientFetch.bodyPreview includes "/second?n=2"',
    "events.where(fnName=send_downstream).count() is 1",
  ].join("\n"));
  await byId(page, "add-request").click();
  await fill(page, "request-url", "/third");
  await fill(page, "request-headers", "x-n: 3");
  await fill(page, "assertions", 'clientFetch.bodyPreview includes "x-n"\nclientFetch.resp includes "content-type: application/json"');
}

/** Strip what differs between two runs of the same request (nothing, for echo). */
const stable = (rs) => rs.map((r) => ({ ...r, body: { ...r.body, headers: r.body.headers.filter(([n]) => n !== "host") } }));

test("three requests with assertions: Run all, then the Share link opens in a fresh context with the same responses and results", async () => {
  const page = await openApp(browser, server.url);
  await echoFiddle(page);
  await byId(page, "run-all").click();
  await waitForAll(page, 3);
  const mine = await results(page);
  assert.equal(mine.length, 3);
  assert.deepEqual(mine[0].asserts, [
    "true clientFetch.status is 200",
    "true echoes the body",
    "false fails on purpose",
  ]);
  assert.equal(mine[1].body.path, "/second");
  assert.deepEqual(mine[1].asserts.map((a) => a.split(" ")[0]), ["true", "true"]);
  assert.deepEqual(mine[2].asserts.map((a) => a.split(" ")[0]), ["true", "true"]);
  // The failing assertion shows what was expected and what the run had.
  await page.click('[data-request-index="0"] .request-pick');
  const failing = page.locator('[data-testid="assertion-result"][data-pass="false"]');
  assert.match(await failing.locator(".expected").textContent(), /404/);
  assert.match(await failing.locator(".actual").textContent(), /200/);
  assert.match(await text(page, "assertion-summary"), /2 of 3 passed/);

  await byId(page, "share").click();
  await page.waitForFunction(() => document.querySelector('[data-testid="share-link"]')?.value.includes("#f="));
  const link = await byId(page, "share-link").inputValue();
  assert.match(await text(page, "share-size"), new RegExp(`^${link.length} characters`));
  const shared = decode(link);
  assert.deepEqual(shared.guest, { kind: "example", name: "echo" });
  assert.equal(shared.requests.length, 3);
  assert.ok(link.length < 4000, `an example fiddle's link is short: ${link.length}`);

  const ctx = await browser.newContext({ viewport: { width: 1440, height: 960 } });
  const other = await openApp(browser, link, { context: ctx });
  await waitForAll(other, 3);
  assert.match(await text(other, "opened"), /guest: example echo, 3 requests, 7 assertions/);
  // The link leaves the address bar once opened; a reload keeps the fiddle.
  assert.ok(!other.url().includes("#f="), other.url());
  const theirs = await results(other);
  assert.deepEqual(stable(theirs), stable(mine));
  await other.reload();
  await other.waitForSelector('[data-worker="ready"]');
  assert.equal(await other.locator('[data-testid="requests"] [data-request-index]').count(), 3);
  assert.deepEqual(other.consoleErrors, []);
  await ctx.close();
  await page.context().close();
});

test("bad links each say what is wrong and change nothing", async () => {
  const page = await openApp(browser, server.url);
  await page.selectOption('[data-testid="examples"]', "hello");
  await status(page);
  await waitForRun(page);
  await fill(page, "assertions", "clientFetch.status is 200");
  const snapshot = async () => ({
    rows: await page.$$eval('[data-testid="requests"] [data-request-index]', (rs) => rs.map((r) => r.textContent)),
    config: await byId(page, "config").inputValue(),
    assertions: await byId(page, "assertions").inputValue(),
    guest: await text(page, "guest-name"),
    saved: await page.evaluate(() => localStorage.getItem("edgeplay.fiddle.v1")),
  });
  const before = await snapshot();
  const hello = fs.readFileSync(guest("hello")).toString("base64");
  const good = payload({ version: 1, guest: { kind: "example", name: "hello" }, requests: [{ path: "/" }] });
  const bad = [
    ["malformed base64", "f=***not*base64***", /not base64url/],
    ["truncated", `f=${good.slice(0, Math.floor(good.length / 2))}`, /truncated or corrupt|not base64url/],
    [
      "hash mismatch",
      `f=${payload({ version: 1, guest: { kind: "inline", wasm: hello, sha256: "0".repeat(64) } })}`,
      /do not match the fiddle's SHA-256/,
    ],
    ["unknown version", `f=${payload({ version: 99, guest: { kind: "example", name: "hello" } })}`, /version 99, newer than this edgeplay/],
    ["oversized", `f=${payload(`{"version":1,"title":"${" ".repeat(17 << 20)}"}`)}`, /too large/],
    ["not a fiddle", `f=${payload([1, 2, 3])}`, /not a fiddle/],
    ["unknown example", `f=${payload({ version: 1, guest: { kind: "example", name: "nope" } })}`, /does not have/],
  ];
  for (const [what, hash, says] of bad) {
    await page.evaluate((h) => { location.hash = h; }, hash);
    await page.waitForFunction(() => document.querySelector('[data-testid="error"]'), null, { timeout: 20_000 });
    const msg = await text(page, "error");
    assert.match(msg, says, `${what}: ${msg}`);
    assert.match(msg, /Nothing was changed/, what);
    assert.deepEqual(await snapshot(), before, `${what}: the page is as it was`);
    await page.click(".banner.error button");
    await page.evaluate(() => { location.hash = ""; });
  }
  assert.deepEqual(page.consoleErrors, []);
  await page.context().close();
});

test("secrets stay out of a link unless the user opts in, with a warning", async () => {
  const page = await openApp(browser, server.url);
  await page.selectOption('[data-testid="examples"]', "config");
  await status(page);
  await waitForRun(page);
  const config = await byId(page, "config").inputValue();
  assert.match(config, /vault = \[\{ key = "token", data = "s3cr3t" \}\]/, "the default config has a secret");
  await byId(page, "share").click();
  await page.waitForFunction(() => document.querySelector('[data-testid="share-link"]')?.value.includes("#f="));
  const without = decode(await byId(page, "share-link").inputValue());
  assert.match(await text(page, "share-note"), /Left out of the link: the secret/);
  assert.doesNotMatch(without.fastly_toml, /s3cr3t/, without.fastly_toml);
  assert.match(await text(page, "share-note"), /vault\/token/);
  await byId(page, "share-secrets").check();
  await page.waitForFunction(() => /contains \d+ secret/.test(document.querySelector('[data-testid="share-note"]')?.textContent || ""));
  const withSecrets = decode(await byId(page, "share-link").inputValue());
  assert.equal(withSecrets.fastly_toml, config);
  assert.equal(await page.locator('[data-testid="share-note"].warning').count(), 1);
  await page.context().close();
});

test("Save as file and Open file give back the same fiddle; a dropped guest travels inline", async () => {
  const page = await openApp(browser, server.url);
  await byId(page, "guest-file").setInputFiles(guest("echo"));
  await status(page);
  await waitForRun(page);
  await fill(page, "assertions", "clientFetch.status is 200\nclientFetch.bodyBytesReceived isMoreThan 10");
  await byId(page, "share").click();
  await page.waitForFunction(() => document.querySelector('[data-testid="share-link"]')?.value.includes("#f="));
  const inline = decode(await byId(page, "share-link").inputValue());
  assert.equal(inline.guest.kind, "inline");
  const [download] = await Promise.all([page.waitForEvent("download"), byId(page, "save-fiddle").click()]);
  assert.equal(download.suggestedFilename(), "echo.fiddle.json");
  const file = path.join(os.tmpdir(), `edgeplay-${process.pid}.fiddle.json`);
  await download.saveAs(file);
  const saved = JSON.parse(fs.readFileSync(file, "utf8"));
  assert.equal(saved.version, 1);
  assert.equal(saved.guest.kind, "inline");
  assert.equal(saved.requests[0].assertions, "clientFetch.status is 200\nclientFetch.bodyBytesReceived isMoreThan 10");

  const ctx = await browser.newContext();
  const other = await openApp(browser, server.url, { context: ctx });
  await byId(other, "open-fiddle").setInputFiles(file);
  await waitForAll(other, 1);
  assert.match(await text(other, "guest-name"), /echo/);
  const rs = await other.$$eval('[data-testid="assertion-result"]', (els) => els.map((e) => e.dataset.pass));
  assert.deepEqual(rs, ["true", "true"]);
  // A broken file: a clear message, nothing changed.
  await byId(other, "open-fiddle").setInputFiles({ name: "broken.json", mimeType: "application/json", buffer: Buffer.from('{"version": 1, "guest": ') });
  await other.waitForSelector('[data-testid="error"]');
  assert.match(await text(other, "error"), /Could not open broken\.json: not a fiddle: invalid JSON.*Nothing was changed/);
  assert.match(await text(other, "guest-name"), /echo/);
  fs.rmSync(file);
  await ctx.close();
  await page.context().close();
});

test("a Fastly CLI package (pkg/NAME.tar.gz) opens in the tab: its guest and its fastly.toml; a bad archive is refused plainly", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "edgeplay-pkg-"));
  fs.mkdirSync(path.join(dir, "my-service", "bin"), { recursive: true });
  fs.copyFileSync(guest("config"), path.join(dir, "my-service", "bin", "main.wasm"));
  const toml = [
    'name = "my-service"',
    'manifest_version = 3',
    "",
    "[local_server.config_stores.settings]",
    'format = "inline-toml"',
    "[local_server.config_stores.settings.contents]",
    'greeting = "hello from the package"',
    "",
  ].join("\n");
  fs.writeFileSync(path.join(dir, "my-service", "fastly.toml"), toml);
  const pkg = path.join(dir, "my-service.tar.gz");
  execFileSync("tar", ["-czf", pkg, "-C", dir, "my-service"]);

  const page = await openApp(browser, server.url);
  await byId(page, "open-fiddle").setInputFiles(pkg);
  await waitForAll(page, 1);
  assert.match(await text(page, "guest-name"), /my-service\.wasm/);
  assert.equal(await byId(page, "config").inputValue(), toml);
  assert.match(await text(page, "opened"), /the package|inline wasm/);
  // The package's fiddle has one request, GET /: the config guest says what to try.
  assert.match(await status(page), /^404/);
  await fill(page, "request-url", "/config/settings/greeting");
  await byId(page, "run").click();
  await page.waitForFunction(() => /hello from the package/.test(document.querySelector('[data-testid="response-body"]')?.textContent || ""));
  assert.match(await status(page), /^200/);
  // Not a package: a clear message, nothing changed.
  await byId(page, "open-fiddle").setInputFiles({ name: "bad.tar.gz", mimeType: "application/gzip", buffer: Buffer.from([0x1f, 0x8b, 8, 0, 1, 2, 3]) });
  await page.waitForSelector('[data-testid="error"]');
  assert.match(await text(page, "error"), /Could not open bad\.tar\.gz: not a Fastly package.*Nothing was changed/);
  assert.equal(await byId(page, "config").inputValue(), toml);
  fs.rmSync(dir, { recursive: true });
  await page.context().close();
});

test("Chromium's URL limit, which Share keeps links under: 2 MiB characters open, longer ones do not", async () => {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  const limit = 2 * 1024 * 1024; // fiddle_tab::CHROMIUM_MAX_URL_CHARS
  const prefix = `${server.url}#x=`;
  // A fragment that is not a fiddle: the page opens and leaves it alone.
  const fits = prefix + "a".repeat(limit - prefix.length);
  await page.goto(fits);
  assert.equal(await page.evaluate(() => location.href.length), limit);
  await assert.rejects(page.goto(prefix + "a".repeat(limit - prefix.length + 1)), /ERR_ABORTED/);
  await ctx.close();
});

/** Wait until the response body matches `re`. */
async function body(page, re, timeout = 60_000) {
  await page.waitForFunction((src) => new RegExp(src).test(document.querySelector('[data-testid="response-body"]')?.textContent || ""), re.source, { timeout });
  return (await text(page, "response-body")).trim();
}

const entries = (page) =>
  page.$$eval('[data-testid="workspace-entry"]', (rs) => rs.map((r) => `${r.dataset.current === "true" ? "*" : ""}${r.querySelector(".entry-open, input").textContent || r.querySelector("input")?.value}`));

async function waitEntries(page, n) {
  await page.waitForFunction((n) => document.querySelectorAll('[data-testid="workspace-entry"]').length === n, n, { timeout: 20_000 });
}

/** Open the workspace entry called `name` and wait for its guest. */
async function openEntry(page, name) {
  await page.locator('[data-testid="workspace-entry"]', { hasText: name }).locator('[data-testid="workspace-open"]').click();
  await page.waitForFunction((name) => {
    const cur = document.querySelector('[data-testid="workspace-entry"][data-current="true"]');
    return cur && cur.textContent.includes(name) && document.querySelector('[data-worker="ready"]') && /visits/.test(document.querySelector('[data-testid="guest-name"]')?.textContent || "");
  }, name, { timeout: 30_000 });
}

test("the workspace: saved fiddles, each with its own service state; rename, duplicate, delete; a link opens as a new entry; the current one survives a reload", async () => {
  const page = await openApp(browser, server.url);
  await page.selectOption('[data-testid="examples"]', "kv");
  assert.equal(await body(page, /visits:\/: 1/), "visits:/: 1");
  await waitForRun(page);
  await waitEntries(page, 1);
  await byId(page, "run").click();
  assert.equal(await body(page, /visits:\/: 2/), "visits:/: 2");
  await waitForRun(page);
  // The entry nobody named takes its guest's name once the page is saved.
  await page.waitForFunction(() => /^visits/.test(document.querySelector('[data-testid="workspace-entry"][data-current="true"] [data-testid="workspace-open"]')?.textContent || ""));

  // Duplicate: a copy with a copy of the state; rename it.
  await page.click('[data-testid="workspace-entry"][data-current="true"] [data-testid="workspace-duplicate"]');
  await waitEntries(page, 2);
  const copy = page.locator('[data-testid="workspace-entry"][data-current="false"]');
  await copy.locator('[data-testid="workspace-rename"]').click();
  await copy.locator('[data-testid="workspace-name-input"]').fill("the copy");
  await copy.locator('[data-testid="workspace-name-input"]').press("Enter");
  await page.waitForFunction(() => [...document.querySelectorAll('[data-testid="workspace-open"]')].some((b) => b.textContent === "the copy"));

  // The copy's state went on from the original's; each counts on its own after that.
  await openEntry(page, "the copy");
  await byId(page, "run").click();
  assert.equal(await body(page, /visits:\/: 3/), "visits:/: 3");
  await waitForRun(page);
  await byId(page, "run").click();
  assert.equal(await body(page, /visits:\/: 4/), "visits:/: 4");
  await waitForRun(page);
  await openEntry(page, "visits");
  await byId(page, "run").click();
  assert.equal(await body(page, /visits:\/: 3/), "visits:/: 3", "the original's own state");
  await waitForRun(page);

  // A link opens as a new entry with a fresh state; the others are kept.
  const config = await byId(page, "config").inputValue();
  const link = `${server.url}#f=${payload({ version: 1, title: "from a link", guest: { kind: "example", name: "kv" }, fastly_toml: config, requests: [{ path: "/" }] })}`;
  await page.evaluate((h) => { location.hash = h; }, link.slice(link.indexOf("#")));
  await waitEntries(page, 3);
  assert.equal(await body(page, /visits:\/: 1/), "visits:/: 1", "a fresh state for the opened link");
  await waitForAll(page, 1);
  assert.ok((await entries(page)).includes("*from a link"), JSON.stringify(await entries(page)));

  // A reload keeps the current entry (and its state).
  await page.reload();
  await page.waitForSelector('[data-worker="ready"]');
  await waitEntries(page, 3);
  assert.ok((await entries(page)).includes("*from a link"), JSON.stringify(await entries(page)));
  await page.waitForFunction(() => /visits/.test(document.querySelector('[data-testid="guest-name"]')?.textContent || ""));
  await byId(page, "run").click();
  assert.equal(await body(page, /visits:\/: 2/), "visits:/: 2");
  await waitForRun(page);

  // Delete the copy (the open entry cannot be deleted).
  assert.equal(await page.locator('[data-testid="workspace-entry"][data-current="true"] [data-testid="workspace-delete"]').isDisabled(), true);
  await page.locator('[data-testid="workspace-entry"]', { hasText: "the copy" }).locator('[data-testid="workspace-delete"]').click();
  await waitEntries(page, 2);
  assert.ok(!(await entries(page)).some((e) => e.includes("the copy")));
  assert.deepEqual(page.consoleErrors, []);
  await page.context().close();
});

test("a fiddle recorded against a local CORS origin replays with the origin stopped, also from its link in a fresh context", async () => {
  const origin = await startCorsServer();
  const page = await openApp(browser, server.url);
  await fill(page, "config", `[local_server.backends.origin]\nurl = "${origin.url}"\n`);
  await fill(page, "request-url", "/echo?from=recording");
  await byId(page, "record").check();
  await upload(page, guest("proxy"));
  assert.match(await status(page), /^200/);
  await waitForRun(page);
  await page.waitForFunction(() => document.querySelector('[data-testid="recordings"]')?.dataset.count === "1");
  assert.match(await text(page, "record-note"), /Recorded 1 backend exchange/);
  const recorded = await text(page, "response-body");
  assert.match(recorded, /from=recording/);
  assert.equal(origin.requests.length, 1);
  await byId(page, "record").uncheck();
  await fill(page, "assertions", "originFetches.count() is 1\nclientFetch.status is 200");

  await byId(page, "share").click();
  await page.waitForFunction(() => document.querySelector('[data-testid="share-link"]')?.value.includes("#f="));
  const link = await byId(page, "share-link").inputValue();
  assert.equal(decode(link).recordings.length, 1);
  await origin.close();

  // Here, with the origin gone: answered from the recording (with a fresh cache: the
  // first run's response is in the cache, and a hit would not reach any backend).
  await byId(page, "fresh-cache").check();
  await byId(page, "run").click();
  await waitForRun(page);
  assert.match(await status(page), /^200/);
  assert.equal(await text(page, "response-body"), recorded);
  const notes = await page.$$eval('[data-testid="logs"] .log[data-stream="edgeplay"]', (els) => els.map((e) => e.textContent));
  assert.ok(notes.some((n) => /replayed from a recording \(no network\)/.test(n)), JSON.stringify(notes));

  // A colleague's fresh browser: the link replays it, no origin anywhere.
  const ctx = await browser.newContext();
  const other = await openApp(browser, link, { context: ctx });
  await waitForAll(other, 1);
  assert.match(await status(other), /^200/);
  assert.equal(await text(other, "response-body"), recorded);
  const rs = await other.$$eval('[data-testid="assertion-result"]', (els) => els.map((e) => e.dataset.pass));
  assert.deepEqual(rs, ["true", "true"]);
  assert.equal(await other.locator('[data-testid="recordings"]').getAttribute("data-count"), "1");
  await ctx.close();
  await page.context().close();
});

test("offline: after one visit, a shared fiddle with mock backends opens and passes its assertions with no network", async () => {
  const ctx = await browser.newContext();
  const page = await openApp(browser, server.url, { context: ctx });
  await page.waitForSelector('html[data-offline="ready"]', { timeout: 120_000 });
  const fastly_toml = [
    "[local_server.backends.a]",
    'mock = { status = 200, headers = { "content-type" = "text/plain" }, body = "slow answer from a", delay_ms = 100 }',
    "[local_server.backends.b]",
    'mock = { status = 200, headers = { "content-type" = "text/plain" }, body = "fast answer from b", delay_ms = 50 }',
    "",
  ].join("\n");
  const link = `${server.url}#f=${payload({
    version: 1,
    title: "fanout offline",
    guest: { kind: "example", name: "fanout" },
    fastly_toml,
    requests: [{ path: "/", assertions: 'clientFetch.status is 200\noriginFetches.count() is 2\nclientFetch.bodyPreview includes "fast answer from b"' }],
  })}`;
  await ctx.setOffline(true);
  await page.goto(link);
  await page.waitForSelector('[data-worker="ready"]');
  await waitForAll(page, 1);
  const rs = await page.$$eval('[data-testid="assertion-result"]', (els) => els.map((e) => `${e.dataset.pass} ${e.textContent}`));
  assert.deepEqual(rs.map((r) => r.split(" ")[0]), ["true", "true", "true"], JSON.stringify(rs));
  await ctx.close();
});
