//! The edgeplay web app. The browser UI (Leptos, built with trunk for
//! `wasm32-unknown-unknown`) lands with the playground issue; until then this
//! binary only proves the host core links into the web build.

fn main() {
    let engine = edgeplay_host::Engine::new(edgeplay_host::Platform::deterministic());
    let _ = engine.coverage();
}
