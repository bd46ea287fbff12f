// Step-through in the tab: with Step on, a run pauses before its first hostcall with
// the call decoded; each Step runs one call (one more trace row); a breakpoint on
// `send` stops there with the backend's name; Run to end gives what an unpaused run
// gives.
//   cd tests/e2e && node --test --test-concurrency=1 step.test.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { openApp, upload, guest, status, text, traceRows, byId, fill, waitForRun, ensureArtifacts, useApp } from "./harness.mjs";

let browser;
let server;
useApp((b, s) => {
  browser = b;
  server = s;
});

/** Wait for the `n`th pause of the page and return the paused call's import. */
async function pause(page, n) {
  const call = page.locator(`[data-testid="pending-call"][data-pause="${n}"]`);
  await call.waitFor({ timeout: 30_000 });
  return call.getAttribute("data-hostcall");
}

test("step through hostcalls: pause at the first, step three times, break on send, run to end", async () => {
  const page = await openApp(browser, server.url);
  try {
    await fill(page, "config", '[local_server.backends.origin]\nmock = "echo"\n');
    await byId(page, "request-method").selectOption("POST");
    await fill(page, "request-url", "/step?x=1");
    await fill(page, "request-body", "step me");

    // The same request unpaused, for comparison.
    await upload(page, guest("proxy"));
    await waitForRun(page);
    const plainStatus = await status(page);
    const plainBody = await text(page, "response-body");
    const plainHeaders = await text(page, "response-headers");
    const plainRows = (await traceRows(page)).length;
    assert.match(plainStatus, /^200/);
    assert.equal(plainBody.trim(), "step me");
    assert.match(plainHeaders, /x-echo-url\s*http:\/\/mock\.invalid\/step\?x=1/);

    // Step on: the run pauses before its first hostcall, the page still answers.
    await byId(page, "step-mode").check();
    await byId(page, "run").click();
    const first = await pause(page, 1);
    assert.ok(first && first.includes("::"), `paused at ${first}`);
    assert.ok(!(await traceRows(page)).includes(first), "the first call has not run");
    assert.match(await text(page, "run-status"), /running/);
    const rows0 = (await traceRows(page)).length;

    // Step three times: exactly three more trace rows, one per call.
    for (let n = 2; n <= 4; n++) {
      await byId(page, "step").click();
      await pause(page, n);
    }
    assert.equal((await traceRows(page)).length, rows0 + 3);

    // A breakpoint on send: Continue stops at the send, its backend decoded.
    await page.locator('[data-testid="breakpoints"] summary').click();
    await page.locator('[data-testid="breakpoints"] input[data-break="send"]').check();
    await byId(page, "continue").click();
    const atSend = await pause(page, 5);
    assert.match(atSend, /^fastly_http_req::send/);
    const shown = await text(page, "pending-call");
    assert.match(shown, /"origin"/);
    assert.match(shown, /backend_ptr/);
    await page.screenshot({ path: path.join(ensureArtifacts(), "step-paused-at-send.png") });

    // Run to end: the response an unpaused run gives.
    await byId(page, "run-to-end").click();
    await waitForRun(page);
    assert.equal(await status(page), plainStatus);
    assert.equal(await text(page, "response-body"), plainBody);
    assert.equal(await text(page, "response-headers"), plainHeaders);
    assert.equal((await traceRows(page)).length, plainRows);
    assert.equal(await page.locator('[data-testid="pending-call"]').count(), 0);
    assert.deepEqual(page.consoleErrors, [], "console errors");
  } finally {
    await page.context().close();
  }
});
