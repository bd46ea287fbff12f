// The worker of a workspace entry: `worker-loader.js?state=NAME` (src/state_name.rs)
// opens that entry's own service state, in the built dist/, as the UI's
// WorkerBridge::spawn_for_state starts it. The messages are the worker protocol's
// (src/protocol.rs) as serde-wasm-bindgen encodes them.
//   cd tests/e2e && npm ci && node --test worker-state.test.mjs
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { launch, openApp, serveDir, distDir, useApp } from "./harness.mjs";

let browser;
let server;
useApp((b, s) => {
  browser = b;
  server = s;
});

test("a worker spawned for a state name keeps that entry's state apart", async () => {
  const page = await openApp(browser, server.url);
  const result = await page.evaluate(async () => {
    const enc = new TextEncoder();
    const key = enc.encode("kv/s\0k");
    // Start a worker for `state` (empty: the default), run `ops` (StoreOps) in
    // order, and return how it loaded and the answers.
    const inWorker = (state, ops) =>
      new Promise((resolve, reject) => {
        const w = new Worker(state ? `./worker-loader.js?state=${state}` : "./worker-loader.js");
        const answers = [];
        let loaded = null;
        let next = 0;
        const send = () => {
          if (next === ops.length) {
            w.terminate();
            resolve({ loaded, answers });
            return;
          }
          w.postMessage({ Store: { req_id: next, op: ops[next] } });
          next += 1;
        };
        w.onerror = (e) => reject(new Error(`worker failed: ${e.message}`));
        w.onmessage = (ev) => {
          const m = ev.data;
          if (m === "Ready") return send();
          if (m && m.StateLoaded) loaded = m.StateLoaded;
          if (m && m.StoreReply) {
            const r = m.StoreReply.result;
            answers.push(r.Ok ? r.Ok : { error: r.Err });
            send();
          }
        };
      });
    const get = { Get: { key } };
    const value = (answer) => (answer.Value && answer.Value.value ? new TextDecoder().decode(answer.Value.value) : null);
    const a1 = await inWorker("e2e-a", [{ Put: { key, value: enc.encode("from a") } }, get]);
    const b = await inWorker("e2e-b", [get]);
    const def = await inWorker("", [get]);
    const a2 = await inWorker("e2e-a", [get]);
    const bad = await inWorker("..%2Fedgeplay", [get]);
    return {
      a1: [a1.loaded.not_durable ?? null, value(a1.answers[1])],
      b: [b.loaded.keys, value(b.answers[0])],
      def: value(def.answers[0]),
      a2: [a2.loaded.keys, value(a2.answers[0])],
      bad: bad.loaded.not_durable,
    };
  });
  assert.deepEqual(result.a1, [null, "from a"], "state a is durable and holds the write");
  assert.deepEqual(result.b, [0, null], "state b sees nothing of a's");
  assert.equal(result.def, null, "the default state sees nothing of a's");
  assert.deepEqual(result.a2, [1, "from a"], "a's next worker loads what it wrote");
  assert.match(result.bad, /state name/, "a bad name keeps the state in memory and says why");
  assert.deepEqual(page.consoleErrors, [], "console errors");
});
