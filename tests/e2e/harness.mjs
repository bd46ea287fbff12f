// Shared pieces of the end-to-end tests and the benchmark: a static file server for
// dist/ on 127.0.0.1, headless Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core), and helpers that drive the page through its data-testid hooks.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import { before, after } from "node:test";
import { chromium } from "playwright-core";

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const targetDir = process.env.CARGO_TARGET_DIR || path.join(root, "target");
export const distDir = process.env.EDGEPLAY_DIST || path.join(root, "dist");
export const guestsDir = process.env.EDGEPLAY_GUESTS || path.join(targetDir, "guests", "wasm");
export const artifactsDir = path.join(targetDir, "e2e");

import { serveDir } from "../../scripts/serve-dist.mjs";

export { serveDir };

export const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";

/** Headless Chromium with a fresh profile. */
export async function launch() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/** A new page (fresh storage) on the app, once its worker is ready. */
export async function openApp(browser, url, { context } = {}) {
  const ctx = context || (await browser.newContext({ viewport: { width: 1440, height: 960 } }));
  const page = await ctx.newPage();
  page.consoleErrors = [];
  page.on("console", (m) => {
    if (m.type() === "error") page.consoleErrors.push(m.text());
  });
  page.on("pageerror", (e) => page.consoleErrors.push(String(e)));
  await page.goto(url);
  await page.waitForSelector('[data-worker="ready"]', { timeout: 30_000 });
  return page;
}

export const byId = (page, id) => page.locator(`[data-testid="${id}"]`);

/** Upload a file through the file input (a path, or { name, buffer }). */
export async function upload(page, file) {
  const files = typeof file === "string" ? file : { name: file.name, mimeType: "application/wasm", buffer: file.buffer };
  await byId(page, "guest-file").setInputFiles(files);
}

export const guest = (name) => path.join(guestsDir, `${name}.wasm`);

/** Wait until the run is over (the Run button is enabled again and the status is set). */
export async function waitForRun(page, timeout = 60_000) {
  await page.waitForFunction(
    () => {
      const s = document.querySelector('[data-testid="run-status"]');
      const run = document.querySelector('[data-testid="run"]');
      return s && run && s.textContent !== "" && !s.textContent.startsWith("running");
    },
    null,
    { timeout },
  );
}

/** Wait for the response status to be shown and return it. */
export async function status(page, timeout = 60_000) {
  await page.waitForFunction(
    () => /^\d{3}/.test(document.querySelector('[data-testid="response-status"]')?.textContent || ""),
    null,
    { timeout },
  );
  return (await byId(page, "response-status").textContent()).trim();
}

export const text = async (page, id) => (await byId(page, id).textContent()) || "";

/** Every trace row's data-hostcall, in order. */
export const traceRows = (page) =>
  page.$$eval('[data-testid="trace"] tr[data-hostcall]', (rows) => rows.map((r) => r.dataset.hostcall));

/** Set a composer field (input or textarea). */
export async function fill(page, id, value) {
  await byId(page, id).fill(value);
}

export function ensureArtifacts() {
  fs.mkdirSync(artifactsDir, { recursive: true });
  return artifactsDir;
}

/**
 * For a test file: before its tests, serve dist/ on 127.0.0.1 and start Chromium,
 * handing both to `ready(browser, server)`; after them, stop both. A missing dist/
 * fails (never skips) the file.
 */
export function useApp(ready) {
  let browser;
  let server;
  before(async () => {
    assert.ok(fs.existsSync(path.join(distDir, "index.html")), `${distDir} has no index.html: run trunk build --release`);
    server = await serveDir(distDir);
    browser = await launch();
    ready(browser, server);
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });
}
