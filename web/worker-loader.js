// Starts the guest worker (src/bin/worker.rs). trunk emits worker.js (wasm-bindgen's
// no-modules glue) and worker_bg.wasm beside the page; the UI creates this worker.
// `?state=NAME` on this script's URL picks the service state (src/state_name.rs): the
// worker reads it from its own location.
importScripts("./worker.js");
wasm_bindgen({ module_or_path: "./worker_bg.wasm" });
