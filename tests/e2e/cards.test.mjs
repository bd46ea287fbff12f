// End-to-end tests of the hostcall cards ("explain this hostcall", issue 11): a card
// opens from a trace row with that row's status highlighted, and from the guest's
// import list; it closes again.
//   cd tests/e2e && node --test --test-concurrency=1 cards.test.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { openApp, byId, text, status, waitForRun, ensureArtifacts, useApp } from "./harness.mjs";

let browser;
let server;
useApp((b, s) => {
  browser = b;
  server = s;
});

/** The open card: its import, summary and the status rows marked current. */
async function openCard(page) {
  const card = byId(page, "hostcall-card");
  await card.waitFor({ state: "visible" });
  return {
    hostcall: await card.getAttribute("data-hostcall"),
    name: (await text(page, "card-name")).trim(),
    summary: (await text(page, "card-summary")).trim(),
    current: await card.locator('[data-testid="card-statuses"] tr.current').evaluateAll((rows) => rows.map((r) => r.dataset.status)),
    statuses: await card.locator('[data-testid="card-statuses"] tr[data-status]').evaluateAll((rows) => rows.map((r) => r.dataset.status)),
  };
}

test("a card opens from a trace row with the row's status highlighted, and closes", async () => {
  const page = await openApp(browser, server.url);
  await byId(page, "examples").selectOption("hello");
  assert.match(await status(page), /^200/);
  await waitForRun(page);
  await page.click('button[data-tab="Trace"]');

  const row = page.locator('[data-testid="trace"] tr[data-hostcall="fastly_http_resp::send_downstream"]').first();
  const rowStatus = ((await row.locator("td.st").textContent()) || "").trim();
  assert.equal(rowStatus, "ok");
  await row.locator('[data-testid="explain"]').click();
  const card = await openCard(page);
  assert.equal(card.hostcall, "fastly_http_resp::send_downstream");
  assert.equal(card.name, "fastly_http_resp::send_downstream");
  assert.match(card.summary, /^Sends a response to the client/);
  assert.deepEqual(card.current, ["ok"]);
  assert.ok(card.statuses.includes("badf") && card.statuses.includes("error"), card.statuses.join(", "));
  assert.match(await text(page, "hostcall-card"), /fastly::Response::send_to_client/);
  assert.match(await text(page, "hostcall-card"), /event\.respondWith/);
  // The ? button opens the card without selecting the row.
  assert.equal(await byId(page, "trace-details").count(), 0);
  await page.screenshot({ path: path.join(ensureArtifacts(), "card.png") });
  await byId(page, "card-close").click();
  await byId(page, "hostcall-card").waitFor({ state: "detached" });

  // Every hostcall row of the run has a card, and each opens with its own status marked.
  const rows = await page.$$eval('[data-testid="trace"] tr.hostcall[data-hostcall]', (trs) =>
    trs.map((tr) => ({
      seq: tr.dataset.seq,
      hostcall: tr.dataset.hostcall,
      explain: !!tr.querySelector('[data-testid="explain"]'),
      st: (tr.querySelector("td.st")?.textContent || "").replace(" (unsupported)", "").trim(),
    })),
  );
  assert.ok(rows.length > 5, JSON.stringify(rows));
  assert.deepEqual(rows.filter((r) => !r.explain), [], "rows without a card");
  const other = rows.find((r) => r.st && r.st !== "ok") || rows.find((r) => r.hostcall.startsWith("fastly_http_req::"));
  await page.click(`[data-testid="trace"] tr[data-seq="${other.seq}"] [data-testid="explain"]`);
  const second = await openCard(page);
  assert.equal(second.hostcall, other.hostcall);
  assert.deepEqual(second.current, [other.st], `${other.hostcall} answered ${other.st}`);
  await page.click(".card-overlay", { position: { x: 5, y: 5 } });
  await byId(page, "hostcall-card").waitFor({ state: "detached" });
  // Escape closes it too.
  await page.click(`[data-testid="trace"] tr[data-seq="${other.seq}"] [data-testid="explain"]`);
  await byId(page, "hostcall-card").waitFor({ state: "visible" });
  await page.keyboard.press("Escape");
  await byId(page, "hostcall-card").waitFor({ state: "detached" });
  assert.deepEqual(page.consoleErrors, [], "console errors");
  await page.context().close();
});

test("a card opens from the guest's import list", async () => {
  const page = await openApp(browser, server.url);
  await byId(page, "examples").selectOption("hello");
  await waitForRun(page);
  await page.click("details.imports > summary");
  const group = page.locator(".import-group", { has: page.locator(".import-module code", { hasText: /^fastly_http_req$/ }) });
  await group.locator(".chip", { hasText: /^body_downstream_get$/ }).click();
  const card = await openCard(page);
  assert.equal(card.hostcall, "fastly_http_req::body_downstream_get");
  assert.match(card.summary, /client request/);
  assert.deepEqual(card.current, [], "no event at hand: nothing highlighted");
  await byId(page, "card-close").click();
  await byId(page, "hostcall-card").waitFor({ state: "detached" });
  assert.deepEqual(page.consoleErrors, [], "console errors");
  await page.context().close();
});
