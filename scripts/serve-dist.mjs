// Serve a directory (default: dist/) on 127.0.0.1 with the right content types
// (application/wasm for .wasm). No dependencies: Node's http module only.
//   node scripts/serve-dist.mjs [DIR] [PORT]
import http from "node:http";
import fs from "node:fs";
import path from "node:path";

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".wasm": "application/wasm",
  ".svg": "image/svg+xml",
  ".json": "application/json",
  ".webmanifest": "application/manifest+json",
  ".png": "image/png",
  ".toml": "text/plain; charset=utf-8",
};

/** Serve `dir` on `host:port` (port 0: any free port). Resolves to { url, close }. */
export function serveDir(dir, { port = 0, host = "127.0.0.1" } = {}) {
  const base = path.resolve(dir);
  const server = http.createServer((req, res) => {
    let urlPath;
    try {
      urlPath = decodeURIComponent(new URL(req.url, "http://x").pathname);
    } catch {
      res.writeHead(400).end();
      return;
    }
    let file = path.normalize(path.join(base, urlPath));
    if (file !== base && !file.startsWith(base + path.sep)) {
      res.writeHead(403).end();
      return;
    }
    if (fs.existsSync(file) && fs.statSync(file).isDirectory()) file = path.join(file, "index.html");
    fs.readFile(file, (err, data) => {
      if (err) {
        res.writeHead(404, { "content-type": "text/plain" }).end("not found");
        return;
      }
      res.writeHead(200, {
        "content-type": TYPES[path.extname(file)] || "application/octet-stream",
        "cache-control": "no-cache",
      });
      res.end(data);
    });
  });
  return new Promise((resolve, reject) => {
    server.on("error", reject);
    server.listen(port, host, () => {
      const { port } = server.address();
      resolve({ url: `http://${host}:${port}/`, close: () => new Promise((r) => server.close(r)) });
    });
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const dir = process.argv[2] || "dist";
  const port = Number(process.argv[3] || process.env.PORT || 8080);
  const { url } = await serveDir(dir, { port });
  console.log(`edgeplay is served on ${url}  (Ctrl-C to stop)`);
}
