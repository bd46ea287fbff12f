// trunk's post_build hook (Trunk.toml, before precache.mjs): give index.html its
// Content-Security-Policy, as a <meta> first in <head> (a static host may send none).
//   - scripts: the app's own files and the inline module trunk writes to start the
//     UI, allowed by its SHA-256 (computed here, so nothing else inline runs);
//     'wasm-unsafe-eval' compiles WebAssembly, never eval();
//   - connect-src *: a guest's backends are whatever origins its fastly.toml names
//     (fetch()ed from the worker; the worker's own policy comes from its script's
//     response, not this meta), the npm registry, a link's guest URL;
//   - styles: the stylesheet and CodeMirror's generated <style> rules;
//   - images: a response preview (the sandboxed iframe) may show any image;
//   - no plugins, no <base>, forms only to this origin.
// Runs in trunk's staging directory (TRUNK_STAGING_DIR), or on a directory given as
// the argument: node scripts/csp.mjs dist
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";

const dir = process.argv[2] || process.env.TRUNK_STAGING_DIR;
if (!dir) {
  console.error("usage: node scripts/csp.mjs DIR (or run as trunk's post_build hook)");
  process.exit(2);
}
const file = path.join(dir, "index.html");
let html = fs.readFileSync(file, "utf8");
// A policy written before (the script run again on dist/) goes first.
html = html.replace(/\s*<meta http-equiv="Content-Security-Policy"[^>]*>/, "");
const hashes = [];
for (const m of html.matchAll(/<script(\s[^>]*)?>([\s\S]*?)<\/script>/g)) {
  const attrs = m[1] || "";
  if (/\ssrc=/.test(attrs)) continue;
  hashes.push(`'sha256-${crypto.createHash("sha256").update(m[2]).digest("base64")}'`);
}
const policy = [
  "default-src 'self'",
  `script-src 'self' 'wasm-unsafe-eval' ${hashes.join(" ")}`.trim(),
  "worker-src 'self'",
  "connect-src * data: blob:",
  "style-src 'self' 'unsafe-inline'",
  "img-src * data: blob:",
  "frame-src 'self' blob: data:",
  "object-src 'none'",
  "base-uri 'self'",
  "form-action 'self'",
  "manifest-src 'self'",
].join("; ");
const meta = `<meta http-equiv="Content-Security-Policy" content="${policy}" />`;
const at = html.indexOf("<meta charset");
if (at < 0) {
  console.error(`csp: ${file} has no <meta charset> to put the policy after`);
  process.exit(1);
}
const end = html.indexOf(">", at) + 1;
html = html.slice(0, end) + "\n    " + meta + html.slice(end);
fs.writeFileSync(file, html);
console.log(`csp: ${hashes.length} inline script(s) allowed by hash`);
