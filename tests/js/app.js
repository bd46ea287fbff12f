/// <reference types="@fastly/js-compute" />
// A small Fastly Compute program for the JS SDK (@fastly/js-compute):
// `/config/<key>` reads the config store "settings"; `/fetch/<path>` fetches <path>
// from the backend "origin" (the JS SDK sends it with send_async + a wait/select);
// `/kv/<store>/<key>` reads a KV store entry (its metadata in `x-kv-metadata`);
// `/kv-roundtrip/<store>` puts (with metadata and a TTL), gets, lists and deletes in
// one execution and answers what it saw as JSON; `/fib/<n>` computes fib(n) (at most
// 30) the naive way; anything else says hello.
import { ConfigStore } from "fastly:config-store";
import { KVStore } from "fastly:kv-store";
import { CacheOverride } from "fastly:cache-override";
import { CoreCache, SimpleCache } from "fastly:cache";

addEventListener("fetch", (event) => event.respondWith(handle(event)));

async function handle(event) {
  const url = new URL(event.request.url);
  const match = url.pathname.match(/^\/config\/(.+)$/);
  if (match) {
    const key = decodeURIComponent(match[1]);
    const value = new ConfigStore("settings").get(key);
    if (value === null) {
      return new Response(`missing ${key}`, { status: 404 });
    }
    return new Response(value, { status: 200 });
  }
  const kv = url.pathname.match(/^\/kv\/([^/]+)\/(.+)$/);
  if (kv) {
    const entry = await new KVStore(kv[1]).get(decodeURIComponent(kv[2]));
    if (entry === null) {
      return new Response(`missing ${kv[2]}`, { status: 404 });
    }
    const headers = {};
    const meta = entry.metadataText();
    if (meta !== null) {
      headers["x-kv-metadata"] = meta;
    }
    return new Response(await entry.text(), { status: 200, headers });
  }
  const roundtrip = url.pathname.match(/^\/kv-roundtrip\/([^/]+)$/);
  if (roundtrip) {
    const store = new KVStore(roundtrip[1]);
    await store.put("js/a", "written by js", { metadata: "js-meta", ttl: 60 });
    await store.put("js/b", "b");
    const entry = await store.get("js/a");
    const page = await store.list({ prefix: "js/", limit: 1 });
    await store.delete("js/a");
    const gone = await store.get("js/a");
    return new Response(
      JSON.stringify({
        got: await entry.text(),
        metadata: entry.metadataText(),
        list: page.list,
        cursor: page.cursor,
        after_delete: gone,
      }),
      { status: 200, headers: { "content-type": "application/json" } },
    );
  }
  // SimpleCache: `/simple-cache/<key>?value=V` answers the cached value and whether
  // the set function ran; `?purge=1` purges the key first.
  const simple = url.pathname.match(/^\/simple-cache\/(.+)$/);
  if (simple) {
    if (url.searchParams.get("purge") === "1") {
      SimpleCache.purge(simple[1], { scope: "pop" });
    }
    let ran = false;
    const entry = await SimpleCache.getOrSet(simple[1], async () => {
      ran = true;
      return { value: url.searchParams.get("value") ?? "none", ttl: 60 };
    });
    return new Response(await entry.text(), { headers: { "x-set-ran": String(ran) } });
  }
  // CoreCache: `/core-cache/<key>?value=V` inserts V (60 s), without `value` looks up.
  const core = url.pathname.match(/^\/core-cache\/(.+)$/);
  if (core) {
    const value = url.searchParams.get("value");
    if (value !== null) {
      const writer = CoreCache.insert(core[1], { maxAge: 60_000 });
      writer.append(value);
      writer.close();
      return new Response("inserted");
    }
    const found = CoreCache.lookup(core[1]);
    if (found === null) {
      return new Response("miss", { status: 404 });
    }
    const text = await new Response(found.body()).text();
    return new Response(text, { headers: { "x-hits": String(found.hits()) } });
  }
  // The readthrough cache with a CacheOverride: `?ttl=N` or `?pass=1`.
  if (url.pathname.startsWith("/cached/")) {
    const ttl = url.searchParams.get("ttl");
    const cacheOverride = url.searchParams.get("pass") === "1"
      ? new CacheOverride("pass")
      : ttl ? new CacheOverride("override", { ttl: Number(ttl) }) : undefined;
    const upstream = await fetch(`http://origin.example/${url.pathname.slice(8)}`, {
      backend: "origin",
      cacheOverride,
    });
    const text = await upstream.text();
    return new Response(`origin said: ${text}`, {
      status: upstream.status,
      headers: { "x-age": upstream.headers.get("age") ?? "none" },
    });
  }
  if (url.pathname.startsWith("/fetch/")) {
    const upstream = await fetch(`http://origin.example/${url.pathname.slice(7)}${url.search}`, {
      backend: "origin",
      headers: { "x-from": "js" },
    });
    const text = await upstream.text();
    return new Response(`origin said: ${text}`, {
      status: upstream.status,
      headers: { "x-js": "yes", "x-origin-status": String(upstream.status) },
    });
  }
  const fibMatch = url.pathname.match(/^\/fib\/(\d+)$/);
  if (fibMatch) {
    const n = Math.min(Number(fibMatch[1]), 30);
    return new Response(`fib(${n}) = ${fib(n)}\n`, { headers: { "x-js": "yes" } });
  }
  return new Response("Hello from JS!", {
    status: 200,
    headers: { "content-type": "text/plain", "x-js": "yes" },
  });
}

/** CPU-bound work for the CPU estimate's calibration: naive Fibonacci. */
function fib(n) {
  return n < 2 ? n : fib(n - 1) + fib(n - 2);
}
