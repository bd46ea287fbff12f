// A tiny origin for the browser tests: on 127.0.0.1, it answers with CORS headers on
// /echo, /slow, /trickle (a body in two pieces), /stall (a body that stops), /upload (the request body it received, as text), /marker (200, empty),
// /cached/... (cacheable for 60 s, `surrogate-key` from the `sk` query parameter,
// exposed to the page; the body counts the requests for that URL that reached it)
// and /delay/<ms>/... (after <ms> milliseconds, at most 10 s: the benchmark's slow
// origin), and without them on /nocors. /simple/... allows simple requests only: it
// echoes like /echo with `access-control-allow-origin: *`, but answers a preflight
// without any allow headers, so a request that needs one is refused. Every request but
// a preflight is recorded (method, URL, headers, body) in `requests`, every preflight
// (URL, requested method and headers) in `preflights`. Used by tests/browser.rs (through
// scripts/test.sh, which runs this file: it prints its origin on the first line of
// stdout) and by the end-to-end tests (startCorsServer).
import http from "node:http";

const cors = {
  "access-control-allow-origin": "*",
  "access-control-allow-methods": "*",
  "access-control-allow-headers": "*",
  "access-control-expose-headers": "x-echo",
};

const handle = (requests, preflights) => (req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    const url = new URL(req.url, "http://x");
    const simple = url.pathname === "/simple" || url.pathname.startsWith("/simple/");
    if (req.method === "OPTIONS") {
      preflights.push({
        url: req.url,
        method: req.headers["access-control-request-method"] || "",
        headers: req.headers["access-control-request-headers"] || "",
      });
    } else {
      requests.push({ method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString("utf8") });
    }
    if (req.method === "OPTIONS" && simple) {
      // No access-control-allow-* at all: the browser refuses the request.
      res.writeHead(204).end();
    } else if (req.method === "OPTIONS") {
      res.writeHead(204, cors).end();
    } else if (simple) {
      const body = Buffer.concat(chunks).toString("utf8");
      res.writeHead(200, { "access-control-allow-origin": "*", "content-type": "application/json" });
      res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body }));
    } else if (url.pathname.startsWith("/echo")) {
      const body = Buffer.concat(chunks).toString("utf8");
      res.writeHead(200, { ...cors, "content-type": "application/json", "x-echo": "yes" });
      res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body }));
    } else if (/^\/delay\/\d+(\/|$)/.test(url.pathname)) {
      const ms = Math.min(Number(url.pathname.split("/")[2]), 10_000);
      setTimeout(() => res.writeHead(200, { ...cors, "content-type": "text/plain" }).end(`after ${ms} ms`), ms);
    } else if (url.pathname.startsWith("/cached")) {
      const n = requests.filter((r) => r.url === req.url).length;
      const headers = {
        ...cors,
        "access-control-expose-headers": "surrogate-key, x-origin-hits",
        "content-type": "text/plain",
        "cache-control": "max-age=60, stale-while-revalidate=30",
        "x-origin-hits": String(n),
      };
      const sk = url.searchParams.get("sk");
      if (sk) headers["surrogate-key"] = sk;
      res.writeHead(200, headers).end(`origin hit ${n} for ${url.pathname}`);
    } else if (url.pathname === "/upload") {
      res.writeHead(200, { ...cors, "content-type": "text/plain" }).end(Buffer.concat(chunks));
    } else if (url.pathname === "/marker") {
      res.writeHead(200, cors).end();
    } else if (url.pathname === "/slow") {
      setTimeout(() => res.writeHead(200, cors).end("late"), 3000);
    } else if (url.pathname === "/trickle") {
      // A body in two pieces, 400 ms apart.
      res.writeHead(200, { ...cors, "content-type": "text/plain" });
      res.write("hello");
      setTimeout(() => res.end(" world"), 400);
    } else if (url.pathname === "/stall") {
      // A body that stops after its first piece (the connection stays open).
      res.writeHead(200, { ...cors, "content-type": "text/plain" });
      res.write("hello");
      setTimeout(() => res.end(), 30_000);
    } else if (url.pathname === "/nocors") {
      res.writeHead(200, { "content-type": "text/plain" }).end("no CORS headers here");
    } else {
      res.writeHead(404, cors).end("not found");
    }
  });
};

/** Start the origin on 127.0.0.1 (port 0: any free port). Resolves to { url, close, requests, preflights }. */
export function startCorsServer(port = 0) {
  const requests = [];
  const preflights = [];
  const server = http.createServer(handle(requests, preflights));
  return new Promise((resolve) => {
    server.listen(port, "127.0.0.1", () => {
      resolve({
        url: `http://127.0.0.1:${server.address().port}`,
        close: () => new Promise((r) => server.close(r)),
        requests,
        preflights,
      });
    });
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { url } = await startCorsServer(Number(process.env.PORT || 0));
  console.log(url);
}
