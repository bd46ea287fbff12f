// End-to-end tests of the page's editors (issue 12): npm packages bundled with a
// JavaScript app by esbuild-wasm in the worker (from a registry: here a local one on
// 127.0.0.1 serving tarballs `npm pack` made), with their dependencies, errors at the
// app's line, and links that carry the packages; and the fastly.toml editor, the
// same CodeMirror editor with TOML highlighting and its errors marked at their line.
//   cd tests/e2e && node --test editor.test.mjs   (after trunk build --release)
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { useApp, openApp, byId, fill, status, text, waitForRun, distDir } from "./harness.mjs";
import { startRegistry, PACKAGES } from "./npm-registry.mjs";

let browser;
let server;
useApp((b, s) => {
  browser = b;
  server = s;
});

let registry;
let registryUrl;
let hits;

before(async () => {
  assert.ok(fs.existsSync(path.join(distDir, "esbuild", "esbuild.wasm")), "dist/esbuild/esbuild.wasm is missing: the trunk build stages it");
  registry = await startRegistry(PACKAGES);
  registryUrl = registry.url;
  hits = registry.hits;
});

after(async () => {
  await registry?.close();
});

const APP = `import { greet } from "greet";
addEventListener("fetch", (event) => {
  console.log("greeting");
  event.respondWith(new Response(greet("world")));
});
`;

async function jsPage(context) {
  const page = await openApp(browser, server.url, context ? { context } : {});
  await page.selectOption('[data-testid="source-mode"]', "javascript");
  await byId(page, "js-source").waitFor();
  return page;
}

async function useRegistry(page) {
  await page.locator(".npm-registry summary").click();
  await fill(page, "npm-registry", registryUrl);
}

async function addPackage(page, spec) {
  await fill(page, "npm-add", spec);
  await byId(page, "npm-add").press("Enter");
}

/** Wait until the build is done: "built" or an error. */
async function built(page, timeout = 120_000) {
  await page.waitForFunction(
    () => document.querySelector('[data-testid="build-status"]')?.dataset.state === "built" ||
      document.querySelector('[data-testid="build-error"]'),
    null,
    { timeout },
  );
}

const body = async (page) => (await text(page, "response-body")).trim();

test("an app that imports an npm package: installed with its dependency from the registry, bundled with esbuild in the worker, run; the link carries the packages", async () => {
  const page = await jsPage();
  await useRegistry(page);
  await addPackage(page, "greet@^1");
  const chip = page.locator('[data-testid="npm-package"][data-name="greet"]');
  assert.equal((await chip.textContent()).replace("×", "").trim(), "greet@^1");
  await fill(page, "js-source", APP);
  await byId(page, "run").click();
  await built(page);
  assert.equal(await page.locator('[data-testid="build-error"]').count(), 0, await page.locator('[data-testid="build-error"]').textContent().catch(() => ""));
  await status(page, 60_000);
  await waitForRun(page);
  // The `fastly` condition picked fastly.js; ^1 chose 1.2.0 over 1.0.0 and 2.0.0; its
  // CommonJS dependency (with a JSON file) came along.
  assert.equal(await body(page), "HELLO WORLD! (fastly condition)");
  assert.equal(await chip.getAttribute("data-version"), "1.2.0");
  assert.equal(await text(page, "npm-installed"), "+1 dependencies");
  assert.equal(hits.get("/greet"), 1);
  assert.equal(hits.get("/shout"), 1);
  assert.equal(hits.get("/greet/-/greet-1.2.0.tgz"), 1);

  // An edit rebuilds; the packages come from the worker's downloads, not the registry.
  await fill(page, "js-source", APP.replace('greet("world")', 'greet("again")'));
  await byId(page, "run").click();
  await page.waitForFunction(() => document.querySelector('[data-testid="response-body"]')?.textContent.trim() === "HELLO AGAIN! (fastly condition)", null, { timeout: 120_000 });
  await waitForRun(page);
  assert.equal(hits.get("/greet"), 1);
  assert.equal(hits.get("/greet/-/greet-1.2.0.tgz"), 1);

  // The link holds the source, the packages and the registry: it opens elsewhere,
  // installs, bundles and runs.
  await byId(page, "share").click();
  await page.waitForFunction(() => document.querySelector('[data-testid="share-link"]')?.value.includes("#f="));
  const link = await byId(page, "share-link").inputValue();
  const fiddle = JSON.parse(zlib.inflateRawSync(Buffer.from(link.split("#f=")[1].split("&")[0], "base64url")).toString());
  assert.equal(fiddle.guest.kind, "source");
  assert.deepEqual(fiddle.guest.dependencies, { greet: "^1" });
  assert.equal(fiddle.guest.registry, registryUrl);
  assert.deepEqual(page.consoleErrors, []);
  await page.context().close();

  const context = await browser.newContext();
  const other = await context.newPage();
  await other.goto(link);
  await other.waitForFunction(() => document.querySelector('[data-testid="response-body"]')?.textContent.trim() === "HELLO AGAIN! (fastly condition)", null, { timeout: 120_000 });
  assert.equal(await other.locator('[data-testid="npm-package"][data-name="greet"]').getAttribute("data-version"), "1.2.0");
  await context.close();
});

test("bundling errors say what to do: an import not among the packages, a Node built-in, an unknown package, a bad name; a top-level throw is at the app's own line", async () => {
  const page = await jsPage();
  await useRegistry(page);
  let last = "";
  const error = async (source) => {
    await fill(page, "js-source", source);
    await byId(page, "run").click();
    const err = byId(page, "build-error");
    // A new error (the last one stays until the build is answered).
    await page.waitForFunction((before) => {
      const e = document.querySelector('[data-testid="build-error"]');
      return e && e.textContent !== before;
    }, last, { timeout: 120_000 });
    last = await err.textContent();
    return { text: await err.textContent(), line: await err.getAttribute("data-line"), column: await err.getAttribute("data-column") };
  };

  let e = await error('// an app\nimport { x } from "left-pad-ish";\naddEventListener("fetch", () => {});\n');
  assert.match(e.text, /"left-pad-ish" could not be resolved: add its package under Packages/);
  assert.equal(e.line, "2");
  assert.equal(e.column, "19");

  e = await error('import fs from "fs";\naddEventListener("fetch", () => {});\n');
  assert.match(e.text, /"fs" is one of Node's built-in modules, which Compute does not have/);
  assert.equal(e.line, "1");

  // A package the registry does not have: the error names it and the URL.
  await addPackage(page, "no-such-package");
  e = await error(APP.replace('"greet"', '"no-such-package"'));
  assert.match(e.text, new RegExp(`no-such-package: ${registryUrl}/no-such-package could not be fetched: HTTP 404`));
  await page.locator('[data-testid="npm-package"][data-name="no-such-package"] [data-testid="npm-remove"]').click();
  assert.equal(await page.locator('[data-testid="npm-package"]').count(), 0);

  // Not a package name: refused at once, with why.
  await addPackage(page, "Not A Name");
  assert.match(await text(page, "npm-error"), /is not an npm package name/);
  assert.equal(await page.locator('[data-testid="npm-package"]').count(), 0);

  // An exception at the top level of a bundled app: the engine's line in the bundle,
  // mapped back through the source map to the app's line.
  await addPackage(page, "greet");
  e = await error('import { greet } from "greet";\n\nthrow new Error("top of " + greet("x"));\n');
  // `greet` with no version is the registry's latest, 2.0.0 (CommonJS `main`).
  assert.match(e.text, /top of greet two/);
  assert.equal(e.line, "3");
  // Once a build with it succeeds, `greet` without a version is pinned to what the
  // build installed, as npm does.
  await fill(page, "js-source", 'import { greet } from "greet";\naddEventListener("fetch", (e) => e.respondWith(new Response(greet())));\n');
  await byId(page, "run").click();
  await page.waitForFunction(() => document.querySelector('[data-testid="response-body"]')?.textContent.trim() === "greet two", null, { timeout: 120_000 });
  assert.equal((await page.locator('[data-testid="npm-package"][data-name="greet"]').textContent()).replace("×", "").trim(), "greet@^2.0.0");
  await page.context().close();
});

test("fastly.toml is edited in CodeMirror with TOML highlighting; an error is marked at its line with its message, and goes when mended", async () => {
  const page = await openApp(browser, server.url);
  const cm = page.locator(".config .lang-toml .cm-editor");
  await cm.waitFor();
  // Highlighted: a table header and a string are styled spans of their own.
  const styled = await page.$$eval(".config .lang-toml .cm-line span", (spans) => spans.filter((s) => {
    const line = s.closest(".cm-line");
    return getComputedStyle(s).color !== getComputedStyle(line).color;
  }).length);
  assert.ok(styled >= 2, `${styled} highlighted tokens`);
  assert.ok((await page.locator(".config .lang-toml .cm-lineNumbers .cm-gutterElement").count()) >= 3);

  await fill(page, "config", '[local_server]\n\n[local_server.backends.origin]\nurl = = "http://127.0.0.1"\n');
  const st = byId(page, "config-status");
  await page.waitForFunction(() => document.querySelector('[data-testid="config-status"]')?.classList.contains("err"));
  assert.match(await st.textContent(), /show line 4/);
  const marked = page.locator(".config .cm-error-line");
  assert.equal(await marked.count(), 1);
  assert.equal(await marked.textContent(), 'url = = "http://127.0.0.1"');
  assert.ok((await marked.getAttribute("title")).length > 0);
  assert.equal(await byId(page, "config").getAttribute("data-error-line"), "4");

  // Typing in CodeMirror mends it: the textarea (the page's config) follows.
  await page.locator(".config .cm-error-line").click();
  await page.keyboard.press("End");
  await page.keyboard.press("Home");
  await page.keyboard.press("Shift+End");
  await page.keyboard.type('url = "http://127.0.0.1:9"');
  await page.waitForFunction(() => document.querySelector('[data-testid="config-status"]')?.classList.contains("ok"));
  assert.equal(await page.locator(".config .cm-error-line").count(), 0);
  assert.match(await byId(page, "config").inputValue(), /url = "http:\/\/127.0.0.1:9"/);
  assert.match(await st.textContent(), /1 backend/);
  assert.deepEqual(page.consoleErrors, []);
  await page.context().close();
});
