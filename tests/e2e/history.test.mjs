// Run history and diff in the tab: every finished run is kept (IndexedDB, per
// workspace entry); two runs of the echo example with a changed request header are
// listed, compared (the echoed response header shows as changed, the first diverging
// hostcall is marked with its name), and still there after a reload. A damaged
// record is skipped with a note; a run whose record cannot be stored still runs.
// Trimming to the last 50 is tested natively (src/history.rs).
//   cd tests/e2e && node --test --test-concurrency=1 history.test.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { openApp, status, text, byId, fill, waitForRun, ensureArtifacts, useApp } from "./harness.mjs";

let browser;
let server;
useApp((b, s) => {
  browser = b;
  server = s;
});

/** Every key of the history database's `runs` store, read in the page. */
const historyKeys = (page) =>
  page.evaluate(async () => {
    const db = await new Promise((ok) => {
      const r = indexedDB.open("edgeplay-history");
      r.onsuccess = () => ok(r.result);
    });
    const got = await new Promise((ok) => {
      const r = db.transaction("runs").objectStore("runs").getAllKeys();
      r.onsuccess = () => ok(r.result);
    });
    db.close();
    return got;
  });

const rows = (page) => page.locator('[data-testid="history"] tr[data-run-id]');

async function openHistory(page, n) {
  await page.locator('[data-tab="History"]').click();
  await page.waitForFunction(
    (n) => document.querySelectorAll('[data-testid="history"] tr[data-run-id]').length === n,
    n,
    { timeout: 15_000 },
  );
}

test("history: two runs with a changed header are kept, diffed call by call, and survive a reload", async () => {
  const page = await openApp(browser, server.url);
  try {
    // The echo example runs once with its own request (x-echo-demo: copied back)...
    await byId(page, "examples").selectOption("echo");
    await waitForRun(page);
    assert.match(await status(page), /^200/);
    // ... and once with the header changed.
    await fill(page, "request-headers", "content-type: application/json\nx-echo-demo: changed value");
    await byId(page, "run").click();
    await waitForRun(page);
    assert.match(await text(page, "response-headers"), /x-echo-demo\s*changed value/);

    await openHistory(page, 2);
    const shown = await rows(page).allTextContents();
    for (const r of shown) {
      assert.match(r, /\d\d:\d\d:\d\d/, "the time");
      assert.match(r, /POST \/echo\?lang=en/, "method and path");
      assert.match(r, /200/, "the status");
      assert.match(r, /\d(\.\d+)? ?(ms|µs|s)/, "the duration");
    }
    const ids = await rows(page).evaluateAll((rs) => rs.map((r) => r.dataset.runId));
    assert.notEqual(ids[0], ids[1]);

    // Tick both and compare.
    assert.ok(await byId(page, "history-compare").isDisabled());
    for (const id of ids) await page.locator(`tr[data-run-id="${id}"] [data-testid="history-pick"]`).check();
    await byId(page, "history-compare").click();
    const diff = byId(page, "diff");
    await diff.waitFor();

    // The changed response header, both values, marked as changed.
    const header = page.locator('[data-testid="diff-headers"] tr[data-header="x-echo-demo"]');
    assert.equal(await header.getAttribute("data-change"), "changed");
    assert.match(await header.textContent(), /copied back.*changed value/);
    // ... and the request header that caused it.
    assert.match(await text(page, "diff-request-headers"), /x-echo-demo.*copied back.*changed value/);
    assert.match(await text(page, "diff-status"), /200 in both/);
    // The body (the echoed headers) line by line.
    const added = await page.locator('[data-testid="diff-body"] [data-op="added"]').allTextContents();
    assert.ok(added.some((l) => l.includes("changed value")), `added body lines: ${added}`);

    // The traces aligned: one step is the first divergence, highlighted and named.
    const first = page.locator('[data-testid="diff-trace"] tr[data-first-divergence]');
    assert.equal(await first.count(), 1);
    const call = await first.getAttribute("data-hostcall");
    assert.equal(call, "fastly_http_body::write", "the echoed body is the first thing that differs");
    assert.match(await first.getAttribute("class"), /first-divergence/);
    assert.equal(await first.getAttribute("data-kind"), "changed");
    assert.notEqual(await first.evaluate((e) => getComputedStyle(e).outlineStyle), "none", "highlighted");
    const before = await page
      .locator('[data-testid="diff-trace"] tbody tr')
      .evaluateAll((rs) => rs.slice(0, rs.findIndex((r) => r.hasAttribute("data-first-divergence"))).map((r) => r.dataset.kind));
    assert.ok(before.length > 3 && before.every((k) => k === "same"), `steps before it: ${before}`);
    assert.match(await text(page, "diff-first"), /First divergence: fastly_http_body::write/);
    assert.equal(await byId(page, "diff-first").getAttribute("data-hostcall"), call);
    // The header_append with the new value is a changed step too.
    const changed = await page.locator('[data-testid="diff-trace"] tr[data-kind="changed"]').evaluateAll((rs) => rs.map((r) => r.dataset.hostcall));
    assert.ok(changed.includes("fastly_http_resp::header_append"), `changed steps: ${changed}`);
    // The trace's box is scrolled so the first divergence is in view.
    const inView = await first.evaluate((row) => {
      const box = row.closest(".trace-wrap").getBoundingClientRect();
      const r = row.getBoundingClientRect();
      return r.top >= box.top && r.bottom <= box.bottom;
    });
    assert.ok(inView, "the first divergence is scrolled into view");
    // Only the steps that differ.
    await byId(page, "diff-only-changes").check();
    const visible = await page
      .locator('[data-testid="diff-trace"] tbody tr')
      .evaluateAll((rs) => rs.filter((r) => r.offsetParent !== null).map((r) => r.dataset.kind));
    assert.ok(visible.length >= 2 && visible.every((k) => k !== "same"), `visible steps: ${visible}`);
    await byId(page, "diff-only-changes").uncheck();
    // Timings side by side.
    assert.equal(await page.locator('[data-testid="diff-timings"] tr[data-timing]').count(), 6);
    assert.match(await page.locator('[data-testid="diff-timings"] tr[data-timing="fuel"]').textContent(), /\d+.*\d+/);
    await diff.screenshot({ path: path.join(ensureArtifacts(), "history-diff.png") });

    // A reload keeps the history.
    await page.reload();
    await page.waitForSelector('[data-worker="ready"]', { timeout: 30_000 });
    await openHistory(page, 2);
    assert.deepEqual(await rows(page).evaluateAll((rs) => rs.map((r) => r.dataset.runId)), ids);
    // "vs previous" compares a run with the one before it.
    await page.locator(`tr[data-run-id="${ids[0]}"] [data-testid="history-vs-previous"]`).click();
    await byId(page, "diff").waitFor();
    assert.equal(await page.locator('[data-testid="diff-trace"] tr[data-first-divergence]').getAttribute("data-hostcall"), call);
    assert.deepEqual(page.consoleErrors, [], "console errors");
  } finally {
    await page.context().close();
  }
});

test("history: damaged records are skipped, and a run whose record cannot be stored still runs", async () => {
  const page = await openApp(browser, server.url);
  try {
    await byId(page, "examples").selectOption("echo");
    await waitForRun(page);
    await openHistory(page, 1);
    // Damage: records under this fiddle's keys that are not runs.
    await page.evaluate(async () => {
      const db = await new Promise((ok, err) => {
        const r = indexedDB.open("edgeplay-history");
        r.onsuccess = () => ok(r.result);
        r.onerror = () => err(r.error);
      });
      const tx = db.transaction("runs", "readwrite");
      const store = tx.objectStore("runs");
      const key = await new Promise((ok) => {
        const r = store.getAllKeys();
        r.onsuccess = () => ok(r.result[0]);
      });
      const fiddle = key.split("\u001f")[0];
      store.put("{not json", `${fiddle}\u001f000000000000001-0001`);
      store.put(JSON.stringify({ version: 99 }), `${fiddle}\u001f000000000000002-0001`);
      store.put(new Uint8Array([1, 2, 3]), `${fiddle}\u001f000000000000003-0001`);
      await new Promise((ok) => (tx.oncomplete = ok));
      db.close();
    });
    await page.reload();
    await page.waitForSelector('[data-worker="ready"]', { timeout: 30_000 });
    await openHistory(page, 1);
    assert.match(await text(page, "history-error"), /3 kept runs could not be read/);

    // Trimming: with 60 records under this fiddle, the next run leaves the last 50.
    const keys = () => historyKeys(page);
    const before = await keys();
    await page.evaluate(async (fiddle) => {
      const db = await new Promise((ok) => {
        const r = indexedDB.open("edgeplay-history");
        r.onsuccess = () => ok(r.result);
      });
      const tx = db.transaction("runs", "readwrite");
      for (let i = 0; i < 56; i++) tx.objectStore("runs").put("old", `${fiddle}\u001f0000000000001${String(i).padStart(2, "0")}-0001`);
      await new Promise((ok) => (tx.oncomplete = ok));
      db.close();
    }, before[0].split("\u001f")[0]);
    assert.equal((await keys()).length, 60);
    await byId(page, "run").click();
    await waitForRun(page);
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="history"] tr[data-run-id]').length === 2);
    const after = await keys();
    assert.equal(after.length, 50);
    const real = before.filter((k) => !/\u001f00000000000000[123]-/.test(k));
    assert.equal(real.length, 1);
    assert.ok(after.includes(real[0]), "the newest runs stay");
    assert.ok(!after.some((k) => /\u001f00000000000000[123]-/.test(k)), "the oldest go first");

    // The history database cannot be opened: the run still answers, the panel says why.
    await page.evaluate(() => {
      const open = indexedDB.open.bind(indexedDB);
      indexedDB.open = (name, ...rest) => {
        if (name === "edgeplay-history") throw new DOMException("blocked for the test", "UnknownError");
        return open(name, ...rest);
      };
    });
    await byId(page, "run").click();
    await waitForRun(page);
    assert.match(await status(page), /^200/);
    await page.waitForFunction(() => /not kept in the history/.test(document.querySelector('[data-testid="history-error"]')?.textContent || ""));
    // Shown for this page's life all the same.
    assert.equal(await rows(page).count(), 3);
    assert.deepEqual(page.consoleErrors, [], "console errors");
  } finally {
    await page.context().close();
  }
});

test("history: each workspace entry keeps its own runs; deleting an entry deletes them", async () => {
  const page = await openApp(browser, server.url);
  const entry = (id) => page.locator(`[data-testid="workspace-entry"][data-entry-id="${id}"]`);
  const open = async (id) => {
    await entry(id).locator('[data-testid="workspace-open"]').click();
    await page.waitForFunction(
      (id) =>
        document.querySelector(`[data-testid="workspace-entry"][data-entry-id="${id}"]`)?.dataset.current === "true" &&
        document.querySelector('[data-worker="ready"]') &&
        /echo/.test(document.querySelector('[data-testid="guest-name"]')?.textContent || ""),
      id,
      { timeout: 30_000 },
    );
  };
  try {
    await byId(page, "examples").selectOption("echo");
    await waitForRun(page);
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="workspace-entry"]').length === 1);
    const a = await page.locator('[data-testid="workspace-entry"][data-current="true"]').getAttribute("data-entry-id");
    await openHistory(page, 1);
    const aRun = await rows(page).first().getAttribute("data-run-id");

    // A copy of the entry starts with no runs of its own.
    await page.click('[data-testid="workspace-entry"][data-current="true"] [data-testid="workspace-duplicate"]');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="workspace-entry"]').length === 2);
    const b = await page.locator('[data-testid="workspace-entry"][data-current="false"]').getAttribute("data-entry-id");
    await open(b);
    await openHistory(page, 0);
    await byId(page, "run").click();
    await waitForRun(page);
    await openHistory(page, 1);
    const bRun = await rows(page).first().getAttribute("data-run-id");
    assert.notEqual(bRun, aRun);

    // Back in the first entry: its own run only.
    await open(a);
    await openHistory(page, 1);
    assert.equal(await rows(page).first().getAttribute("data-run-id"), aRun);

    // Deleting the copy deletes its runs; the first entry's stay. (After a reload,
    // as the workspace test deletes: right after a switch, deleting the entry just
    // left can wait on its state database.)
    assert.ok((await historyKeys(page)).some((k) => k.startsWith(`${b}\u001f`)));
    await page.reload();
    await page.waitForSelector('[data-worker="ready"]', { timeout: 30_000 });
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="workspace-entry"]').length === 2);
    await entry(b).locator('[data-testid="workspace-delete"]').click();
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="workspace-entry"]').length === 1);
    await page.waitForFunction(
      async (b) => {
        const db = await new Promise((ok) => {
          const r = indexedDB.open("edgeplay-history");
          r.onsuccess = () => ok(r.result);
        });
        const keys = await new Promise((ok) => {
          const r = db.transaction("runs").objectStore("runs").getAllKeys();
          r.onsuccess = () => ok(r.result);
        });
        db.close();
        return !keys.some((k) => k.startsWith(`${b}\u001f`));
      },
      b,
      { timeout: 10_000 },
    );
    assert.deepEqual(await historyKeys(page), [`${a}\u001f${aRun}`]);
    assert.deepEqual(page.consoleErrors, [], "console errors");
  } finally {
    await page.context().close();
  }
});
