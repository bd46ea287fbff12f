// Production limits you can see: the switch (on by default) and, after each run, a
// gauge per limit — CPU (estimated) against 50 ms, heap against 128 MB, backend
// requests against 32, dictionary lookups against 16, wall time against 2 minutes,
// package size against 100 MB. A run that passes a limit names it in red with what
// the platform would have done.
//   cd tests/e2e && node --test --test-concurrency=1 limits.test.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import { openApp, upload, guest, status, byId, text, fill, waitForRun, useApp } from "./harness.mjs";

let browser;
let server;
useApp((b, s) => {
  browser = b;
  server = s;
});

/** The gauges shown: name → { over, text }. */
async function gauges(page) {
  await byId(page, "limits").waitFor({ timeout: 30_000 });
  return page.$$eval("[data-testid=limits] .gauge", (els) =>
    Object.fromEntries(
      els.map((e) => [e.dataset.gauge, { over: e.dataset.over === "true", text: e.textContent, red: getComputedStyle(e).color }]),
    ),
  );
}

test("after a run every production limit has its gauge, none passed by hello", async () => {
  const page = await openApp(browser, server.url);
  try {
    assert.equal(await byId(page, "production-limits").isChecked(), true, "on by default");
    await upload(page, guest("hello"));
    await waitForRun(page);
    assert.match(await status(page), /^200/);
    const g = await gauges(page);
    assert.deepEqual(Object.keys(g), ["cpu", "heap", "backend", "dictionary", "wall", "package"]);
    for (const [name, v] of Object.entries(g)) assert.equal(v.over, false, name);
    assert.match(g.cpu.text, /of 50 ms/);
    assert.match(g.heap.text, /of 134 MB/);
    assert.match(g.backend.text, /0 of 32/);
    assert.match(g.dictionary.text, /0 of 16/);
    assert.match(g.wall.text, /of 120000 ms/);
    assert.match(g.package.text, /of 100 MB/);
    assert.match(await text(page, "limits"), /production limits \(enforced\)/);
  } finally {
    await page.close();
  }
});

test("with production limits off a CPU-heavy guest runs on, and its CPU gauge says what the platform would do", async () => {
  const page = await openApp(browser, server.url);
  try {
    await byId(page, "production-limits").uncheck();
    await upload(page, guest("cpu"));
    await waitForRun(page);
    // SHA-256 over 20 MiB: far over the platform's 50 ms of (estimated) CPU.
    assert.match(await status(page), /^200/);
    const g = await gauges(page);
    assert.equal(g.cpu.over, true);
    assert.match(g.cpu.text, /over: the platform stops the execution and answers 503/);
    assert.notEqual(g.cpu.red, g.heap.red, "the passed limit is coloured");
    assert.match(await text(page, "limits"), /not enforced/);
    // The switch is kept between visits; on again, the limit stops the guest.
    await page.reload();
    assert.equal(await byId(page, "production-limits").isChecked(), false);
    await byId(page, "production-limits").check();
    await fill(page, "cpu-limit", "50");
    await upload(page, guest("cpu"));
    await waitForRun(page);
    assert.match(await text(page, "error"), /CPU limit.*50 ms/s);
    assert.equal((await gauges(page)).cpu.over, true);
  } finally {
    await page.close();
  }
});

test("the JS SDK guest computing fib(10) answers under the platform's 50 ms CPU limit", async () => {
  const page = await openApp(browser, server.url);
  try {
    assert.equal(await byId(page, "production-limits").isChecked(), true);
    await fill(page, "cpu-limit", "50");
    await fill(page, "request-url", "/fib/10");
    await upload(page, guest("js-app"));
    await waitForRun(page);
    assert.match(await status(page), /^200/);
    assert.match(await text(page, "response-body"), /fib\(10\) = 55/);
    const g = await gauges(page);
    assert.equal(g.cpu.over, false, g.cpu.text);
  } finally {
    await page.close();
  }
});
