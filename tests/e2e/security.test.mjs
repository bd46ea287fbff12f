// End-to-end tests of the tab's security (issue 13): the page runs under its
// Content-Security-Policy (scripts/csp.mjs: no inline script but trunk's start-up
// module by hash, no eval, WebAssembly allowed) and everything it does works under
// it; a guest's backend fetches carry no cookies (credentials: "omit"); a secret a
// guest reads never reaches the trace, even inside bytes it writes.
//   cd tests/e2e && node --test security.test.mjs   (after trunk build --release)
import { test } from "node:test";
import assert from "node:assert/strict";
import { useApp, openApp, byId, fill, status, text, waitForRun, upload, guest } from "./harness.mjs";
import { startCorsServer } from "./cors-server.mjs";

let browser;
let server;
useApp((b, s) => {
  browser = b;
  server = s;
});

/** A page that records every CSP violation in `window.__violations`. */
async function watchedPage() {
  const context = await browser.newContext();
  await context.addInitScript(() => {
    window.__violations = [];
    document.addEventListener("securitypolicyviolation", (e) => {
      window.__violations.push(`${e.violatedDirective} ${e.blockedURI}`);
    });
  });
  return openApp(browser, server.url, { context });
}

const violations = (page) => page.evaluate(() => window.__violations);

test("the page runs under its Content-Security-Policy: a guest, JavaScript mode and the editors work, an injected inline script is refused", async () => {
  const page = await watchedPage();
  const policy = await page.getAttribute('meta[http-equiv="Content-Security-Policy"]', "content");
  assert.ok(policy, "index.html has a CSP meta");
  assert.match(policy, /script-src 'self' 'wasm-unsafe-eval' 'sha256-[A-Za-z0-9+/=]+'/);
  assert.doesNotMatch(policy, /'unsafe-eval'|script-src[^;]*'unsafe-inline'/);
  assert.match(policy, /object-src 'none'/);

  // Everything the page does, under the policy: an example runs, the JS mode's
  // engine loads and builds in the worker, CodeMirror mounts on both editors.
  await byId(page, "examples").selectOption("hello");
  assert.match(await status(page), /^200/);
  await waitForRun(page);
  await page.selectOption('[data-testid="source-mode"]', "javascript");
  await page.locator(".js-card .cm-editor").waitFor();
  await page.locator(".config .cm-editor").waitFor();
  await byId(page, "run").click();
  await page.waitForFunction(() => document.querySelector('[data-testid="build-status"]')?.dataset.state === "built", null, { timeout: 120_000 });
  await waitForRun(page, 60_000);
  assert.match(await status(page), /^200/);
  assert.deepEqual(await violations(page), []);
  assert.deepEqual(page.consoleErrors, []);

  // Refused: a script element with inline text (eval is refused by the same policy,
  // which has no 'unsafe-eval'; a test's own evaluate() is not subject to it).
  const ran = await page.evaluate(async () => {
    const s = document.createElement("script");
    s.textContent = "window.__injected = true;";
    document.head.append(s);
    await new Promise((r) => setTimeout(r, 50));
    return window.__injected === true;
  });
  assert.equal(ran, false);
  const seen = await violations(page);
  assert.ok(seen.some((v) => v.startsWith("script-src") && v.endsWith("inline")), JSON.stringify(seen));
  await page.context().close();
});

test("a guest's backend fetch carries no cookies of the browser for that origin", async () => {
  const origin = await startCorsServer();
  const context = await browser.newContext();
  const host = new URL(origin.url);
  await context.addCookies([{ name: "session", value: "browser-secret", domain: host.hostname, path: "/" }]);
  const page = await openApp(browser, server.url, { context });
  try {
    await fill(page, "config", `[local_server.backends.origin]\nurl = "${origin.url}"\n`);
    await fill(page, "request-url", "/echo/cookies");
    await upload(page, guest("proxy"));
    assert.match(await status(page), /^200/);
    await waitForRun(page);
    const doc = JSON.parse(await text(page, "response-body"));
    assert.equal(doc.url, "/echo/cookies");
    assert.equal(doc.headers.cookie, undefined);
    const seen = origin.requests.find((r) => r.url === "/echo/cookies");
    assert.ok(seen, "the origin was reached");
    assert.equal(seen.headers.cookie, undefined);
    // The page's own origin has the cookie (same host): it is the fetch that left it out.
    assert.match(await page.evaluate(() => document.cookie), /session=browser-secret/);
  } finally {
    await context.close();
    await origin.close();
  }
});

test("a secret the guest reads is masked in the trace and its details, even in the body it writes", async () => {
  const page = await openApp(browser, server.url);
  await byId(page, "examples").selectOption("config");
  await waitForRun(page);
  await fill(page, "request-url", "/secret/vault/token");
  await byId(page, "run").click();
  await waitForRun(page);
  // The guest chose to answer with it: the response shows it.
  assert.equal((await text(page, "response-body")).trim(), "s3cr3t");
  await page.click('button[data-tab="Trace"]');
  const rows = page.locator('[data-testid="trace"] tr[data-hostcall^="fastly_secret_store::"]');
  assert.ok((await rows.count()) >= 2);
  // Its value is masked wherever guest bytes are shown: the body the guest wrote it to.
  const trace = await page.locator('[data-testid="trace"]').textContent();
  assert.doesNotMatch(trace, /s3cr3t/);
  assert.match(trace, /data="<secret redacted>"/);
  const plaintext = page.locator('[data-testid="trace"] tr[data-hostcall="fastly_secret_store::plaintext"]');
  await plaintext.first().click();
  const details = await text(page, "trace-details");
  assert.match(details, /redacted/);
  assert.doesNotMatch(details, /s3cr3t/);
  await page.context().close();
});
