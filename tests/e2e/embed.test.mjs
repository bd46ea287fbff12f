// The embedded view: `?embed` (or `embed` in the fragment) shows a compact page for an
// iframe — guest, request, Run, response and trace; no config editor, no Stores or
// Cache tabs, no big header — with a link to the full page.
//   cd tests/e2e && node --test embed.test.mjs   (after trunk build --release)
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { launch, serveDir, distDir, status, text, traceRows, byId, waitForRun, ensureArtifacts, openApp, useApp } from "./harness.mjs";

let browser;
let server;
useApp((b, s) => {
  browser = b;
  server = s;
});

/** No horizontal scrollbar: the document is no wider than the frame. */
const noHorizontalScroll = (frame) =>
  frame.evaluate(() => {
    const el = document.scrollingElement;
    return { scrollWidth: el.scrollWidth, clientWidth: el.clientWidth };
  });

test("a 640×480 iframe on another site shows the embedded view: run hello, see the response and the trace", async () => {
  const context = await browser.newContext({ viewport: { width: 900, height: 700 } });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  // The host page is another site (localhost vs 127.0.0.1), as a blog embedding it is;
  // served for real (Chromium blocks a loopback iframe in a page it cannot place).
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "edgeplay-host-"));
  fs.writeFileSync(
    path.join(dir, "host.html"),
    `<!doctype html><title>host</title><h1>A post about Compute</h1>
<iframe id="play" src="${server.url}?embed" width="640" height="480" style="border:1px solid #ccc"></iframe>`,
  );
  const hostServer = await serveDir(dir);
  try {
    await page.goto(new URL("host.html", hostServer.url.replace("127.0.0.1", "localhost")).href);
    const f = await (await page.waitForSelector("#play")).contentFrame();
    await f.waitForSelector('[data-worker="ready"]', { timeout: 30_000 });
    assert.equal(await byId(f, "embed").count(), 1, "the app root says it is embedded");
    assert.match(await f.$eval(".app", (el) => el.className), /\bembed\b/);

    // What the embedded view leaves out.
    assert.equal(await byId(f, "config").isVisible(), false, "no config editor");
    assert.equal(await f.locator('button[data-tab="Stores"]').isVisible(), false, "no Stores tab");
    assert.equal(await f.locator('button[data-tab="Cache"]').isVisible(), false, "no Cache tab");
    assert.equal(await f.locator(".tagline").isVisible(), false, "no big header");
    // What it shows.
    for (const id of ["guest-info", "request-url", "run", "examples", "response-status"]) {
      assert.ok(await byId(f, id).isVisible(), `${id} is shown`);
    }
    const link = byId(f, "open-full");
    assert.equal(await link.getAttribute("target"), "_blank");
    assert.equal(await link.getAttribute("href"), server.url, "the same page without embed");
    assert.match(await link.textContent(), /Open in edgeplay ↗/);

    let { scrollWidth, clientWidth } = await noHorizontalScroll(f);
    assert.ok(scrollWidth <= clientWidth, `no horizontal scroll before a run: ${scrollWidth} > ${clientWidth}`);

    await byId(f, "examples").selectOption("hello");
    assert.match(await status(f), /^200 OK/);
    await waitForRun(f);
    assert.equal((await text(f, "response-body")).trim(), "Hello from edgeplay!");
    await f.click('button[data-tab="Trace"]');
    const rows = await traceRows(f);
    assert.ok(rows.includes("fastly_http_resp::send_downstream"), `trace rows: ${rows.join(", ")}`);
    assert.ok(await f.locator('[data-testid="trace"] tr[data-hostcall]').first().isVisible(), "the trace is shown");
    ({ scrollWidth, clientWidth } = await noHorizontalScroll(f));
    assert.ok(scrollWidth <= clientWidth, `no horizontal scroll with the trace: ${scrollWidth} > ${clientWidth}`);
    await f.click('button[data-tab="Response"]');
    ({ scrollWidth, clientWidth } = await noHorizontalScroll(f));
    assert.ok(scrollWidth <= clientWidth, `no horizontal scroll with the response: ${scrollWidth} > ${clientWidth}`);
    await f.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: path.join(ensureArtifacts(), "embed.png") });

    // The link opens the full page (in a new tab).
    const [popup] = await Promise.all([context.waitForEvent("page"), link.click()]);
    await popup.waitForSelector('[data-worker="ready"]', { timeout: 30_000 });
    assert.equal(popup.url(), server.url);
    assert.equal(await byId(popup, "embed").count(), 0);
    assert.ok(await byId(popup, "config").isVisible(), "the full page has the config editor");
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
    await hostServer.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("embed in the fragment (#…&embed) embeds too; the link keeps the rest of the fragment", async () => {
  const page = await openApp(browser, `${server.url}#x=1&embed`);
  try {
    assert.equal(await byId(page, "embed").count(), 1);
    assert.equal(await byId(page, "config").isVisible(), false);
    const link = byId(page, "open-full");
    assert.equal(await link.getAttribute("href"), `${server.url}#x=1`);
    // The fragment changed since the start (a fiddle link updated): the link follows.
    await page.evaluate(() => history.replaceState(null, "", "#x=2&embed"));
    await link.hover();
    assert.equal(await link.getAttribute("href"), `${server.url}#x=2`);
  } finally {
    await page.context().close();
  }
});

test("without embed the full page has no embed class and no open-full link", async () => {
  const page = await openApp(browser, server.url);
  try {
    assert.equal(await byId(page, "embed").count(), 0);
    assert.equal(await byId(page, "open-full").count(), 0);
    assert.ok(await page.locator(".tagline").isVisible());
    assert.ok(await byId(page, "config").isVisible());
  } finally {
    await page.context().close();
  }
});
