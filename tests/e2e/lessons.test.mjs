// Lessons in the tab (issue 11): a lesson opens beside the playground in a workspace
// entry of its own; each step opens its fiddle and runs it, and every assertion the
// step makes holds in the tab too; next / previous / a step from the list; Step mode
// for a step that asks for it, with the paused call's card one click away; the open
// lesson survives a reload.
//   cd tests/e2e && node --test --test-concurrency=1 lessons.test.mjs
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

/** Wait until the lesson panel shows step `n` and its `count` requests have all run. */
async function stepRan(page, n, count, timeout = 90_000) {
  await page.waitForFunction(
    ({ n, count }) => {
      const panel = document.querySelector('[data-testid="lesson"]');
      const rows = [...document.querySelectorAll('[data-testid="requests"] [data-request-index]')];
      const btn = document.querySelector('[data-testid="run-all"]');
      return (
        panel &&
        panel.dataset.step === String(n) &&
        rows.length === count &&
        rows.every((r) => r.dataset.status) &&
        btn &&
        btn.textContent === "Run all"
      );
    },
    { n, count },
    { timeout },
  );
}

/** Each request row's tally (`3/3 ✓`) and whether every assertion held. */
const tallies = (page) =>
  page.$$eval('[data-testid="requests"] [data-request-index]', (rows) =>
    rows.map((r) => {
      const t = r.querySelector('[data-testid="request-tally"]');
      return { tally: t ? t.textContent : "", ok: !!t && t.classList.contains("ok") };
    }),
  );

const entries = (page) =>
  page.$$eval('[data-testid="workspace-entry"]', (rs) =>
    rs.map((r) => `${r.dataset.current === "true" ? "*" : ""}${r.querySelector('[data-testid="workspace-open"]')?.textContent || ""}`),
  );

test("a lesson beside the playground: each step runs its fiddle with every assertion holding; previous, next, a step from the list; kept across a reload", async () => {
  const page = await openApp(browser, server.url);
  // Something of the user's own first: the lesson must not take its place.
  await byId(page, "examples").selectOption("hello");
  assert.match(await status(page), /^200/);
  await waitForRun(page);

  await byId(page, "lessons").selectOption("caching");
  const panel = byId(page, "lesson");
  await panel.waitFor();
  assert.equal(await panel.getAttribute("data-lesson"), "caching");
  assert.equal((await text(page, "lesson-progress")).trim(), "Step 1 of 3");
  assert.equal((await text(page, "lesson-step-title")).trim(), "A miss, then a hit");
  assert.match(await text(page, "lesson-text"), /readthrough cache/);
  assert.ok((await panel.locator(".lesson-text code").count()) > 0, "code is set as code");
  await stepRan(page, 1, 3);
  let t = await tallies(page);
  assert.ok(t.every((r) => r.ok), JSON.stringify(t));
  assert.deepEqual(t.map((r) => r.tally), ["1/1 ✓", "3/3 ✓", "3/3 ✓"]);
  // The hit is the selected last request? The page shows the last run: the cache answered.
  assert.match(await text(page, "guest-name"), /readthrough/);
  const ws = await entries(page);
  assert.ok(ws.includes("*Lesson: Caching"), ws.join(", "));
  assert.ok(ws.some((e) => /hello/.test(e)), `the user's entry is kept: ${ws.join(", ")}`);
  await page.screenshot({ path: path.join(ensureArtifacts(), "lesson.png") });

  // Next: step 2 replaces step 1 in the same entry; its requests wait as they say.
  await byId(page, "lesson-next").click();
  await stepRan(page, 2, 4);
  assert.equal((await text(page, "lesson-step-title")).trim(), "Overriding the TTL");
  t = await tallies(page);
  assert.ok(t.every((r) => r.ok), JSON.stringify(t));
  assert.equal((await entries(page)).filter((e) => /Lesson: Caching/.test(e)).length, 1, "one entry per lesson");

  // A step from the list, then previous.
  await panel.locator('.lesson-steps button[data-step="3"]').click();
  await stepRan(page, 3, 5);
  assert.equal(await byId(page, "lesson-next").isDisabled(), true, "the last step has no next");
  t = await tallies(page);
  assert.ok(t.every((r) => r.ok), JSON.stringify(t));
  await byId(page, "lesson-prev").click();
  await stepRan(page, 2, 4);

  // A reload keeps the lesson open at its step.
  await page.reload();
  await byId(page, "lesson").waitFor();
  assert.equal(await byId(page, "lesson").getAttribute("data-step"), "2");
  assert.equal(await byId(page, "lessons").inputValue(), "caching");
  await byId(page, "lesson-close").click();
  await byId(page, "lesson").waitFor({ state: "detached" });
  await page.close();
});

test("a step in Step mode pauses before each hostcall, the paused call's card opens, and the next step runs unpaused", async () => {
  const page = await openApp(browser, server.url);
  await byId(page, "lessons").selectOption("life-of-a-request");
  await stepRan(page, 1, 1);
  assert.match(await status(page), /^200/);
  assert.equal(await byId(page, "step-mode").isChecked(), false);

  await byId(page, "lesson").locator('.lesson-steps button[data-step="2"]').click();
  const call = byId(page, "pending-call");
  await call.waitFor({ timeout: 30_000 });
  assert.equal(await byId(page, "step-mode").isChecked(), true);
  const hostcall = await call.getAttribute("data-hostcall");
  assert.ok(hostcall && hostcall.includes("::"), `paused at ${hostcall}`);
  // Explain the paused call.
  await call.locator('[data-testid="explain"]').click();
  const card = byId(page, "hostcall-card");
  await card.waitFor();
  assert.equal(await card.getAttribute("data-hostcall"), hostcall);
  await byId(page, "card-close").click();
  await card.waitFor({ state: "detached" });
  await byId(page, "run-to-end").click();
  await stepRan(page, 2, 1);
  assert.match(await status(page), /^200/);
  let t = await tallies(page);
  assert.ok(t.every((r) => r.ok), JSON.stringify(t));

  await byId(page, "lesson-next").click();
  await stepRan(page, 3, 1);
  assert.equal(await byId(page, "step-mode").isChecked(), false);
  assert.match(await status(page), /^200/);
  assert.match(await text(page, "response-body"), /x-echo-demo/);
  t = await tallies(page);
  assert.ok(t.every((r) => r.ok), JSON.stringify(t));
  await page.close();
});
