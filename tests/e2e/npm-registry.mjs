// A local npm registry for the e2e tests and the benchmark (127.0.0.1, CORS open):
// package metadata and tarballs `npm pack` made from the files given, with their
// sha512 integrity, as registry.npmjs.org serves them. `hits` counts requests by path.
import { execFileSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";

/** The packages the registry holds: name → version → files. */
export const PACKAGES = {
  greet: {
    "1.0.0": {
      "package.json": { name: "greet", version: "1.0.0", main: "index.js" },
      "index.js": "module.exports.greet = (n) => 'old greet ' + n;",
    },
    "1.2.0": {
      "package.json": {
        name: "greet",
        version: "1.2.0",
        type: "module",
        exports: { ".": { fastly: "./fastly.js", default: "./node.js" } },
        dependencies: { shout: "^1" },
      },
      "fastly.js": 'import shout from "shout";\nexport function greet(n) {\n  return shout("hello " + n) + " (fastly condition)";\n}\n',
      "node.js": "export function greet(n) { return 'the node build of greet'; }\n",
    },
    "2.0.0": {
      "package.json": { name: "greet", version: "2.0.0", main: "index.js" },
      "index.js": "module.exports.greet = () => 'greet two';",
    },
  },
  shout: {
    "1.0.1": {
      "package.json": { name: "shout", version: "1.0.1", main: "lib/index.js" },
      "lib/index.js": 'const bang = require("./bang.json");\nmodule.exports = (s) => s.toUpperCase() + bang.mark;\n',
      "lib/bang.json": '{ "mark": "!" }',
    },
  },
};

/** Serve `packages` (name → version → files); the last version listed is `latest`. */
export async function startRegistry(packages) {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "edgeplay-npm-"));
  const tarballs = new Map();
  const meta = {};
  for (const [name, versions] of Object.entries(packages)) {
    meta[name] = { name, "dist-tags": {}, versions: {} };
    for (const [version, files] of Object.entries(versions)) {
      const dir = path.join(work, `${name}-${version}`);
      for (const [f, content] of Object.entries(files)) {
        fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
        fs.writeFileSync(path.join(dir, f), typeof content === "string" ? content : JSON.stringify(content));
      }
      const out = execFileSync("npm", ["pack", "--silent", "--pack-destination", work], { cwd: dir }).toString().trim().split("\n").pop();
      const bytes = fs.readFileSync(path.join(work, out));
      const tgzPath = `/${name}/-/${name}-${version}.tgz`;
      tarballs.set(tgzPath, bytes);
      meta[name].versions[version] = {
        name,
        version,
        dist: { tarball: `REGISTRY${tgzPath}`, integrity: "sha512-" + crypto.createHash("sha512").update(bytes).digest("base64") },
      };
      meta[name]["dist-tags"].latest = version;
    }
  }
  const hits = new Map();
  let url = "";
  const server = http.createServer((req, res) => {
    const p = decodeURIComponent(req.url.split("?")[0]);
    hits.set(p, (hits.get(p) || 0) + 1);
    res.setHeader("access-control-allow-origin", "*");
    const name = p.slice(1);
    if (tarballs.has(p)) {
      res.writeHead(200, { "content-type": "application/octet-stream" });
      res.end(tarballs.get(p));
    } else if (meta[name]) {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(meta[name]).replaceAll("REGISTRY", url));
    } else {
      res.writeHead(404, { "content-type": "application/json" });
      res.end('{"error":"Not found"}');
    }
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${server.address().port}`;
  return { url, hits, close: () => new Promise((r) => server.close(r)) };
}
