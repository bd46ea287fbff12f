//! The web worker that runs guests: it owns the host core's engine and drives the
//! resumable guest off the UI thread (see `edgeplay_web::worker`). trunk builds it
//! with `data-type="worker"` (wasm-bindgen `no-modules` target, loaded by
//! `web/worker-loader.js`).

#[cfg(target_arch = "wasm32")]
fn main() {
    edgeplay_web::worker::start();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("the edgeplay worker runs in a browser: build and serve it with scripts/run.sh");
}
