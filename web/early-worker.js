// Start the guest worker at once, before the UI's wasm is fetched and compiled, so
// the two load side by side (src/bridge.rs adopts this worker when the UI asks for
// the same one, and replays what it posted meanwhile; otherwise it ends it). Not for
// a link (`#f=`): opening one starts its worker on a state of its own. The state is
// the one the workspace last used (src/ui/controller.rs STATE_KEY).
(function () {
  try {
    if (/(^#|&)f=/.test(location.hash)) return;
    var state = localStorage.getItem("edgeplay.workspace.state") || "";
    var url = "./worker-loader.js" + (state ? "?state=" + state : "");
    var early = { worker: new Worker(url), url: url, messages: [], errors: [] };
    early.worker.onmessage = function (e) {
      early.messages.push(e.data);
    };
    early.worker.onerror = function (e) {
      early.errors.push((e && e.message) || "the worker failed to start");
    };
    window.edgeplayEarlyWorker = early;
  } catch (e) {
    // No worker here (storage refused, no Worker): the UI starts its own and says why.
  }
})();
