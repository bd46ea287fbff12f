// End-to-end test of a trace a room can read (issue 11): on a projector-sized window
// (1280×800) every column of the trace shows and each event is one line, a long value
// ellipsizes with the whole of it in the cell's title; presenter mode enlarges the
// page and survives a reload.
//   cd tests/e2e && node --test trace-layout.test.mjs   (after trunk build --release)
import { test } from "node:test";
import assert from "node:assert/strict";
import { useApp, byId, status, waitForRun } from "./harness.mjs";

let browser;
let server;
useApp((b, s) => {
  browser = b;
  server = s;
});

/** The trace table's geometry: each header cell's edges and the rows' heights. */
const geometry = (page) =>
  page.evaluate(() => {
    const wrap = document.querySelector(".trace-wrap").getBoundingClientRect();
    const heads = [...document.querySelectorAll("table.trace thead th")].map((th) => {
      const r = th.getBoundingClientRect();
      return { text: th.textContent.trim(), left: r.left, right: r.right, width: r.width };
    });
    const rows = [...document.querySelectorAll('[data-testid="trace"] tr[data-hostcall]')].map((tr) => tr.getBoundingClientRect().height);
    const line = parseFloat(getComputedStyle(document.querySelector('[data-testid="trace"] td.args')).lineHeight) || 18;
    return { wrap: { left: wrap.left, right: wrap.right }, heads, rows, line };
  });

async function tracePage(viewport) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  page.consoleErrors = [];
  page.on("console", (m) => m.type() === "error" && page.consoleErrors.push(m.text()));
  await page.goto(server.url);
  await page.waitForFunction(() => document.querySelector("[data-worker]")?.dataset.worker === "ready", null, { timeout: 60_000 });
  await byId(page, "examples").selectOption("echo");
  assert.match(await status(page), /^200/);
  await waitForRun(page);
  await page.click('button[data-tab="Trace"]');
  await page.locator('[data-testid="trace"] tr[data-hostcall]').first().waitFor();
  return page;
}

function assertReadable(g, what) {
  assert.deepEqual(g.heads.map((h) => h.text), ["#", "time", "module", "name", "arguments", "status", "duration"], what);
  for (const h of g.heads) {
    assert.ok(h.right <= g.wrap.right + 1 && h.left >= g.wrap.left - 1, `${what}: the ${h.text} column is inside the trace (${JSON.stringify(h)} in ${JSON.stringify(g.wrap)})`);
  }
  const args = g.heads.find((h) => h.text === "arguments");
  assert.ok(args.width >= 180, `${what}: the arguments column is ${args.width} px wide`);
  const tallest = Math.max(...g.rows);
  assert.ok(tallest < g.line * 2, `${what}: every event is one line (tallest row ${tallest} px, line ${g.line} px)`);
}

test("at 1280×800 every trace column shows, one line per event; a long value ellipsizes with the whole of it in its title", async () => {
  const page = await tracePage({ width: 1280, height: 800 });
  assertReadable(await geometry(page), "1280×800");
  // A cut value keeps its whole text: the cell's title, and the details.
  const cell = page.locator('[data-testid="trace"] tr[data-hostcall="fastly_http_req::header_values_get"] td.args').first();
  const full = await cell.textContent();
  assert.equal(await cell.getAttribute("title"), full);
  assert.ok(await cell.evaluate((td) => td.scrollWidth >= td.clientWidth));
  await cell.click();
  assert.match(await byId(page, "trace-details").textContent(), /name/);
  // Wider windows keep the layout.
  await page.setViewportSize({ width: 1920, height: 1080 });
  assertReadable(await geometry(page), "1920×1080");
  assert.deepEqual(page.consoleErrors, []);
  await page.context().close();
});

test("presenter mode enlarges the page for a room, keeps every trace column, and survives a reload", async () => {
  const page = await tracePage({ width: 1280, height: 800 });
  const rowHeight = async () => (await geometry(page)).rows[0];
  const before = await rowHeight();
  const toggle = byId(page, "presenter");
  assert.equal(await toggle.getAttribute("aria-pressed"), "false");
  await toggle.click();
  assert.equal(await toggle.getAttribute("aria-pressed"), "true");
  const after = await rowHeight();
  assert.ok(after >= before * 1.25, `rows ${before} → ${after} px`);
  assertReadable(await geometry(page), "presenter at 1280×800");
  await page.reload();
  await page.waitForFunction(() => document.querySelector("[data-worker]")?.dataset.worker === "ready", null, { timeout: 60_000 });
  await page.click('button[data-tab="Trace"]');
  assert.equal(await byId(page, "presenter").getAttribute("aria-pressed"), "true");
  await byId(page, "presenter").click();
  assert.equal(await byId(page, "presenter").getAttribute("aria-pressed"), "false");
  await page.context().close();
});
