// The Profile view in the tab: for a guest that allocates 4 MiB in eight steps with a
// hostcall (a printed line) after each, the heap curve rises step by step; the flame
// graph names the guest's own functions; the time split adds up; bodies and headers
// are summed; both downloads (Fastlike's JSON, a Perfetto trace) hold the run.
//   cd tests/e2e && node --test --test-concurrency=1 profile.test.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { openApp, upload, guest, status, byId, waitForRun, useApp } from "./harness.mjs";

let browser;
let server;
useApp((b, s) => {
  browser = b;
  server = s;
});

/** Save a download the click starts, parse it as JSON; returns [name, value]. */
async function downloadJson(page, id) {
  const [download] = await Promise.all([page.waitForEvent("download"), byId(page, id).click()]);
  const file = path.join(os.tmpdir(), `edgeplay-${process.pid}-${download.suggestedFilename()}`);
  await download.saveAs(file);
  return [download.suggestedFilename(), JSON.parse(fs.readFileSync(file, "utf8"))];
}

test("the profile view shows a rising heap curve, the guest's functions and the time split", async () => {
  const page = await openApp(browser, server.url);
  try {
    await upload(page, guest("heap"));
    await waitForRun(page);
    assert.match(await status(page), /^200/);
    await page.click('button[data-tab="Trace"]');
    const view = byId(page, "profile");
    await view.waitFor({ timeout: 30_000 });
    assert.equal(await view.getAttribute("data-outcome"), "normal");
    assert.ok(await view.isVisible());

    // The heap curve: samples (µs:bytes) in time order, rising by the 4 MiB kept.
    const curve = byId(page, "heap-curve");
    assert.ok(await curve.isVisible());
    const points = (await curve.getAttribute("data-heap-points"))
      .split(" ")
      .map((p) => p.split(":").map(Number));
    assert.ok(points.length >= 5, `samples: ${points.length}`);
    for (let i = 1; i < points.length; i++) {
      assert.ok(points[i][0] >= points[i - 1][0], "in time order");
      assert.ok(points[i][1] >= points[i - 1][1], "the heap only grows");
    }
    const first = points[0][1];
    const max = Number(await curve.getAttribute("data-heap-max"));
    assert.equal(max, Math.max(...points.map((p) => p[1])));
    assert.ok(max - first >= 3.5 * 1024 * 1024, `heap ${first} → ${max}`);
    assert.ok(new Set(points.map((p) => p[1])).size >= 5, "it rises in steps");
    // Drawn: the curve ends higher (a smaller y) than it starts.
    const line = (await curve.locator("polyline").getAttribute("points")).split(" ").map((p) => p.split(",").map(Number));
    assert.ok(line.length >= points.length);
    assert.ok(line[line.length - 1][1] < line[0][1], "the curve rises");
    const box = await curve.locator("svg").boundingBox();
    assert.ok(box.width > 200 && box.height > 20, JSON.stringify(box));

    // The flame of guest functions: named from the module's name section.
    const main = page.locator('[data-testid="flame"] .pf-frame[data-name="heap::main"]');
    assert.ok(await main.count() >= 1, "heap::main in the flame");
    assert.ok(Number(await main.first().getAttribute("data-fuel")) > 0);
    const root = page.locator('[data-testid="flame"] .pf-frame[data-depth="0"]');
    assert.equal(await root.getAttribute("data-name"), "all");
    assert.ok(Number(await main.first().getAttribute("data-depth")) > 0);

    // The time split adds up to the run's wall time.
    const time = byId(page, "profile-time");
    const [wall, guestUs, hostcallUs, waitUs] = await Promise.all(
      ["data-wall-us", "data-guest-us", "data-hostcall-us", "data-io-wait-us"].map(async (a) => Number(await time.getAttribute(a))),
    );
    assert.ok(guestUs > 0 && hostcallUs > 0, `${guestUs} ${hostcallUs}`);
    assert.ok(Math.abs(guestUs + hostcallUs + waitUs - wall) <= 2, `${guestUs}+${hostcallUs}+${waitUs} vs ${wall}`);
    assert.match(await time.textContent(), /guest CPU [\d.]+ ms · hostcalls [\d.]+ ms · waiting on I\/O [\d.]+ ms/);

    // Bytes per body handle: the response body the guest wrote.
    const written = await page.$$eval('[data-testid="profile-bodies"] tr[data-handle]', (rows) => rows.map((r) => Number(r.dataset.bytesWritten)));
    assert.ok(written.some((n) => n >= 30), `written: ${written}`);
    // Header summaries of the downstream request and response.
    const whats = await page.$$eval('[data-testid="profile-headers"] tr[data-what]', (rows) => rows.map((r) => r.dataset.what));
    assert.ok(whats.includes("downstream request") && whats.includes("downstream response"), whats.join());

    // Downloads: Fastlike's profile JSON and a Perfetto trace of the same run.
    const [fname, fastlike] = await downloadJson(page, "download-fastlike");
    assert.match(fname, /^[0-9a-f]{32}\.json$/);
    assert.equal(fastlike.status, 200);
    assert.equal(fastlike.outcome, "normal");
    assert.ok(fastlike.spans.length > 8 && fastlike.spans.every((s) => typeof s.name === "string" && s.tag_slots.length === 4));
    assert.equal(Math.max(...fastlike.deep.heap_samples.map((s) => s.memory_bytes)), max);
    const [cname, chrome] = await downloadJson(page, "download-chrome-profile");
    assert.match(cname, /\.chrome\.json$/);
    const heapCounters = chrome.traceEvents.filter((e) => e.ph === "C" && e.name === "wasm heap");
    assert.equal(heapCounters.length, points.length);
    const track = chrome.traceEvents.find((e) => e.ph === "M" && e.args?.name === "guest functions");
    assert.ok(track, "a guest functions track");
    assert.ok(chrome.traceEvents.some((e) => e.ph === "X" && e.tid === track.tid && e.name === "heap::main"));

    assert.deepEqual(page.consoleErrors, []);
  } finally {
    await page.close();
  }
});
