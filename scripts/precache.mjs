// trunk's post_build hook (Trunk.toml): list every file of the build for the service
// worker (web/sw.js) to cache on install, so the playground opens and runs offline
// after one visit.
//   - writes precache.json: { "build": <hash>, "files": ["index.html", ...] },
//     paths relative to the app's directory, sorted; the hash is over every file's
//     path and content, so it changes whenever anything in the build does;
//   - puts that hash into sw.js (its BUILD constant), so each build's service worker
//     differs byte for byte and the browser installs it (with its new cache) on the
//     next visit.
// Runs in trunk's staging directory (TRUNK_STAGING_DIR), or on a directory given as
// the argument: node scripts/precache.mjs dist
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";

const dir = process.argv[2] || process.env.TRUNK_STAGING_DIR;
if (!dir) {
  console.error("usage: node scripts/precache.mjs DIR (or run as trunk's post_build hook)");
  process.exit(2);
}
const SW = "sw.js";
const MANIFEST = "precache.json";
// web/sw.js says `const BUILD = "__EDGEPLAY_BUILD__";`; a dist/sw.js stamped before
// (the script run again on dist/ after changing a file) has a hash there.
const STAMP = /const BUILD = "[^"]*";/;

function walk(rel) {
  const out = [];
  for (const entry of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    const p = rel ? `${rel}/${entry.name}` : entry.name;
    if (entry.isDirectory()) out.push(...walk(p));
    else if (entry.isFile()) out.push(p);
  }
  return out;
}

const files = walk("")
  .filter((f) => f !== SW && f !== MANIFEST)
  .sort();
const swPath = path.join(dir, SW);
const sw = fs.readFileSync(swPath, "utf8");
if (!STAMP.test(sw)) {
  console.error(`precache: ${swPath} has no \`const BUILD = "…";\` to stamp`);
  process.exit(1);
}
const hash = crypto.createHash("sha256");
// sw.js counts without its stamp, so running this again on unchanged files is a no-op.
const unstamped = sw.replace(STAMP, 'const BUILD = "";');
for (const f of files) {
  hash.update(f).update("\0");
  hash.update(crypto.createHash("sha256").update(fs.readFileSync(path.join(dir, f))).digest()).update("\n");
}
hash.update(SW).update("\0").update(crypto.createHash("sha256").update(unstamped).digest()).update("\n");
const build = hash.digest("hex").slice(0, 16);
// A navigation to the app's directory ("/", "/?embed") is answered index.html (sw.js).
const manifest = { build, files };
fs.writeFileSync(path.join(dir, MANIFEST), JSON.stringify(manifest, null, 1) + "\n");
fs.writeFileSync(swPath, sw.replace(STAMP, `const BUILD = ${JSON.stringify(build)};`));
const bytes = files.reduce((n, f) => n + fs.statSync(path.join(dir, f)).size, 0);
console.log(`precache: build ${build}, ${files.length} files, ${(bytes / 1048576).toFixed(1)} MiB`);
