// End-to-end tests of JavaScript in the tab (issue 12): write a JS Compute app in
// the page, build it in the worker with the JS SDK's own engine (shipped in dist/),
// run it, see its response and its console.log line; rebuild on edit; build errors
// at their line and column; links that carry the source; the starter templates;
// Download .wasm and Download package, answered the same by the native runner.
//   cd tests/e2e && node --test js.test.mjs   (after trunk build --release, and
//   cargo build -p edgeplay-cli for the runner)
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import zlib from "node:zlib";
import { launch, openApp, serveDir, distDir, targetDir, status, text, byId, fill, waitForRun } from "./harness.mjs";

let browser;
let server;
const edgeplay = path.join(targetDir, "debug", "edgeplay");

before(async () => {
  assert.ok(fs.existsSync(path.join(distDir, "index.html")), `${distDir} has no index.html: run trunk build --release`);
  assert.ok(fs.existsSync(path.join(distDir, "engine", "fastly.wasm")), "dist/engine/fastly.wasm is missing: the trunk build stages it");
  assert.ok(fs.existsSync(edgeplay), `${edgeplay} is missing: cargo build -p edgeplay-cli`);
  server = await serveDir(distDir);
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await server?.close();
});

/** A small app that answers `answer` and logs `line`. */
const app = (answer, line) => `addEventListener("fetch", (event) => {
  console.log(${JSON.stringify(line)});
  event.respondWith(new Response(${JSON.stringify(answer)}, { headers: { "x-app": "typed" } }));
});
`;

/** A page in JavaScript mode. */
async function jsPage(context) {
  const page = await openApp(browser, server.url, context ? { context } : {});
  await page.selectOption('[data-testid="source-mode"]', "javascript");
  await byId(page, "js-source").waitFor();
  return page;
}

async function waitForBuiltAndRun(page, timeout = 90_000) {
  await page.waitForFunction(
    () => document.querySelector('[data-testid="build-status"]')?.dataset.state === "built" ||
      document.querySelector('[data-testid="build-error"]'),
    null,
    { timeout },
  );
  await status(page, timeout);
  await waitForRun(page, timeout);
}

const body = async (page) => (await text(page, "response-body")).trim();

/** The log lines of the Logs panel, as "stream: line". */
const logs = (page) =>
  page.$$eval('[data-testid="logs"] [data-stream]', (rows) =>
    rows.map((r) => `${r.dataset.stream}: ${r.querySelector(".log-line").textContent}`),
  );

test("type an app, run it: the response and its console.log line; edit it, run again: rebuilt, a new response", async () => {
  const page = await jsPage();
  const engine = byId(page, "engine-version");
  await fill(page, "js-source", app("first answer", "log line one"));
  await fill(page, "request-url", "/");
  await byId(page, "run").click();
  await waitForBuiltAndRun(page);
  assert.match(await status(page), /^200/);
  assert.equal(await body(page), "first answer");
  assert.ok((await logs(page)).includes("stdout: log line one"), String(await logs(page)));
  assert.equal(await engine.getAttribute("data-loaded"), "true");
  assert.equal(await engine.getAttribute("data-version"), "@fastly/js-compute 3.46.0");
  assert.equal(await byId(page, "build-status").getAttribute("data-cached"), "false");
  assert.equal(await text(page, "guest-name"), "app.js");

  // Edited: built again, a new response.
  await fill(page, "js-source", app("second answer", "log line two"));
  assert.equal(await byId(page, "build-status").getAttribute("data-state"), "stale");
  await byId(page, "run").click();
  await page.waitForFunction(() => document.querySelector('[data-testid="response-body"]')?.textContent.trim() === "second answer", null, { timeout: 60_000 });
  await waitForRun(page);
  assert.ok((await logs(page)).includes("stdout: log line two"), String(await logs(page)));
  assert.ok(!(await logs(page)).includes("stdout: log line one"));
  assert.equal(await byId(page, "build-status").getAttribute("data-cached"), "false");

  // The first source again: the worker's cache answers, no new build.
  await fill(page, "js-source", app("first answer", "log line one"));
  await byId(page, "run").click();
  await page.waitForFunction(() => document.querySelector('[data-testid="response-body"]')?.textContent.trim() === "first answer", null, { timeout: 60_000 });
  await waitForRun(page);
  assert.equal(await byId(page, "build-status").getAttribute("data-cached"), "true");

  // Run again without an edit: no build at all, the same answer.
  await byId(page, "run").click();
  await waitForRun(page);
  assert.equal(await body(page), "first answer");
  assert.equal(await byId(page, "build-status").getAttribute("data-state"), "built");

  // The editor is CodeMirror (JS highlighting, line numbers) over the textarea:
  // typing in it is the source, and Run builds what was typed.
  await page.locator(".js-card .js-editor .cm-content").click();
  await page.keyboard.press("Control+End");
  await page.keyboard.type("// typed in CodeMirror\n");
  await page.waitForFunction(() => document.querySelector('[data-testid="js-source"]').value.endsWith("// typed in CodeMirror\n"));
  assert.equal(await byId(page, "build-status").getAttribute("data-state"), "stale");
  assert.ok((await page.locator(".js-card .js-editor .cm-lineNumbers .cm-gutterElement").count()) >= 4);
  await byId(page, "run").click();
  await page.waitForFunction(() => document.querySelector('[data-testid="build-status"]')?.dataset.state === "built", null, { timeout: 60_000 });
  await waitForRun(page);
  assert.equal(await body(page), "first answer");
  assert.deepEqual(page.consoleErrors, []);
  await page.context().close();
});

test("a syntax error and a top-level throw show the engine's message at their line and column, and change nothing else", async () => {
  const page = await jsPage();
  await fill(page, "js-source", app("still here", "ok"));
  await byId(page, "run").click();
  await waitForBuiltAndRun(page);
  assert.equal(await body(page), "still here");

  await fill(page, "js-source", 'addEventListener("fetch", (event) => {\n  event.respondWith(new Response("x"));\n  const broken = ;\n});\n');
  await byId(page, "run").click();
  const err = byId(page, "build-error");
  await err.waitFor({ timeout: 60_000 });
  assert.equal(await err.getAttribute("data-line"), "3");
  assert.equal(await err.getAttribute("data-column"), "18");
  assert.match(await err.textContent(), /SyntaxError: expected expression, got ';'/);
  // The editor marks the line: the gutter and the selection.
  assert.equal(await page.locator(".js-gutter span.err").textContent(), "3\n");
  const selected = await page.$eval('[data-testid="js-source"]', (t) => t.value.slice(t.selectionStart, t.selectionEnd));
  assert.equal(selected, "  const broken = ;");
  const marked = page.locator(".js-card .js-editor .cm-editor .cm-error-line");
  assert.equal(await marked.count(), 1);
  assert.equal(await marked.textContent(), "  const broken = ;");
  // Nothing else changed: the last response, the guest, no run.
  assert.equal(await body(page), "still here");
  assert.equal(await text(page, "guest-name"), "app.js");
  assert.equal(await page.locator('[data-testid="error"]').count(), 0);

  await fill(page, "js-source", "// top\nthrow new Error(\"boom at the top\");\n");
  await byId(page, "run").click();
  await page.waitForFunction(() => /boom at the top/.test(document.querySelector('[data-testid="build-error"]')?.textContent || ""), null, { timeout: 60_000 });
  assert.equal(await err.getAttribute("data-line"), "2");
  assert.equal(await err.getAttribute("data-column"), "7");
  assert.equal(await body(page), "still here");

  // Fixed: the error goes, the new app answers.
  await fill(page, "js-source", app("fixed", "ok"));
  await byId(page, "run").click();
  await page.waitForFunction(() => document.querySelector('[data-testid="response-body"]')?.textContent.trim() === "fixed", null, { timeout: 60_000 });
  assert.equal(await page.locator('[data-testid="build-error"]').count(), 0);
  assert.equal(await page.locator(".js-card .js-editor .cm-error-line").count(), 0);
  await page.context().close();
});

test("an endless loop in top-level code is ended by Stop build; the next build works", async () => {
  const page = await jsPage();
  await fill(page, "js-source", "// never ends\nwhile (true) {}\n");
  await byId(page, "run").click();
  await byId(page, "stop-build").click({ timeout: 60_000 });
  const err = byId(page, "build-error");
  await err.waitFor();
  assert.match(await err.textContent(), /Stopped: you stopped the build/);
  await fill(page, "js-source", app("after the loop", "ok"));
  await byId(page, "run").click();
  await page.waitForFunction(() => document.querySelector('[data-testid="response-body"]')?.textContent.trim() === "after the loop", null, { timeout: 90_000 });
  assert.equal(await page.locator('[data-testid="build-error"]').count(), 0);
  await page.context().close();
});

test("Share makes a link with the source; it opens in a fresh context in JavaScript mode, builds and runs", async () => {
  const page = await jsPage();
  const source = app("shared answer", "shared log");
  await fill(page, "js-source", source);
  await fill(page, "request-url", "/shared?x=1");
  await byId(page, "run").click();
  await waitForBuiltAndRun(page);
  assert.equal(await body(page), "shared answer");
  await byId(page, "share").click();
  await page.waitForFunction(() => document.querySelector('[data-testid="share-link"]')?.value.includes("#f="));
  const link = await byId(page, "share-link").inputValue();
  const fiddle = JSON.parse(zlib.inflateRawSync(Buffer.from(link.split("#f=")[1].split("&")[0], "base64url")).toString());
  assert.deepEqual(fiddle.guest, { kind: "source", language: "javascript", text: source });
  assert.equal(fiddle.requests[0].path, "/shared?x=1");
  assert.ok(link.length < 4000, `a JS link is a few KB, not ${link.length} characters`);
  await page.context().close();

  const fresh = await browser.newContext({ viewport: { width: 1440, height: 960 } });
  const other = await fresh.newPage();
  other.consoleErrors = [];
  await other.goto(link);
  await other.waitForSelector('[data-worker="ready"]', { timeout: 30_000 });
  await waitForBuiltAndRun(other);
  await other.waitForFunction(() => document.querySelector('[data-testid="response-body"]')?.textContent.trim() === "shared answer", null, { timeout: 60_000 });
  assert.equal(await other.$eval('[data-testid="source-mode"]', (s) => s.value), "javascript");
  assert.equal(await byId(other, "js-source").inputValue(), source);
  assert.ok((await logs(other)).includes("stdout: shared log"));
  await fresh.close();
});

test("the source and the mode survive a reload; every template builds and answers", async () => {
  const page = await jsPage();
  await fill(page, "js-source", app("kept", "kept"));
  await page.waitForTimeout(300);
  await page.reload();
  await page.waitForSelector('[data-worker="ready"]', { timeout: 30_000 });
  assert.equal(await page.$eval('[data-testid="source-mode"]', (s) => s.value), "javascript");
  assert.equal(await byId(page, "js-source").inputValue(), app("kept", "kept"));
  await byId(page, "run").click();
  await page.waitForFunction(() => document.querySelector('[data-testid="response-body"]')?.textContent.trim() === "kept", null, { timeout: 60_000 });
  await waitForRun(page);

  const expect = {
    hello: "Hello from JavaScript! You asked for /",
    proxy: "backend b said: fast answer from b",
    "config-store": "greeting: Hello from the config store!",
    "kv-store": "Hello from the KV store!",
    "cache-override": "slow answer from a",
    streaming: "chunk 5",
  };
  await fill(page, "request-url", "/");
  for (const [name, want] of Object.entries(expect)) {
    await page.selectOption('[data-testid="js-template"]', name);
    // CodeMirror shows the template (its lines, the first one's text).
    const src = await byId(page, "js-source").inputValue();
    assert.equal(await page.locator(".js-card .js-editor .cm-line").count(), src.split("\n").length, name);
    assert.equal(await page.locator(".js-card .js-editor .cm-line").nth(1).textContent(), src.split("\n")[1], name);
    await byId(page, "run").click();
    await page.waitForFunction(
      (want) => document.querySelector('[data-testid="response-body"]')?.textContent.includes(want) &&
        !document.querySelector('[data-testid="run-status"]')?.textContent.startsWith("running"),
      want,
      { timeout: 60_000 },
    );
    assert.match(await status(page), /^200/, name);
  }
  await page.context().close();
});

test("Download .wasm gives the deployable module and Download package a Fastly CLI package: the native runner answers the same", async () => {
  const page = await jsPage();
  await fill(page, "js-source", app("downloaded answer", "dl"));
  await byId(page, "run").click();
  await waitForBuiltAndRun(page);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "edgeplay-js-e2e-"));
  try {
    const [wasmDl] = await Promise.all([page.waitForEvent("download", { timeout: 60_000 }), byId(page, "download-wasm").click()]);
    assert.equal(wasmDl.suggestedFilename(), "app.wasm");
    const wasm = path.join(dir, "app.wasm");
    await wasmDl.saveAs(wasm);
    const bytes = fs.readFileSync(wasm);
    assert.deepEqual([...bytes.subarray(0, 4)], [0, 0x61, 0x73, 0x6d]);
    const out = JSON.parse(execFileSync(edgeplay, ["request", wasm, "/", "--json"], { maxBuffer: 64 << 20 }).toString());
    assert.equal(out.status, 200);
    assert.equal(out.body, "downloaded answer");
    assert.match(out.stdout, /dl/);

    const [pkgDl] = await Promise.all([page.waitForEvent("download", { timeout: 60_000 }), byId(page, "download-package").click()]);
    assert.equal(pkgDl.suggestedFilename(), "playground.tar.gz");
    const pkg = path.join(dir, "playground.tar.gz");
    await pkgDl.saveAs(pkg);
    const listing = execFileSync("tar", ["tzf", pkg]).toString().split("\n").filter(Boolean).sort();
    assert.deepEqual(listing, ["playground/bin/main.wasm", "playground/fastly.toml"]);
    const viaPkg = JSON.parse(execFileSync(edgeplay, ["request", pkg, "/", "--json"], { maxBuffer: 64 << 20 }).toString());
    assert.equal(viaPkg.body, "downloaded answer");
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  await page.context().close();
});
