/// <reference types="@fastly/js-compute" />
// A small Fastly Compute program for the JS SDK (@fastly/js-compute):
// `/config/<key>` reads the config store "settings"; `/fetch/<path>` fetches <path>
// from the backend "origin" (the JS SDK sends it with send_async + a wait/select);
// anything else says hello.
import { ConfigStore } from "fastly:config-store";

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
  return new Response("Hello from JS!", {
    status: 200,
    headers: { "content-type": "text/plain", "x-js": "yes" },
  });
}
