//! The edgeplay web app's library: the browser adapters around the host core and
//! the pieces the UI (`src/main.rs`) and the worker (`src/bin/worker.rs`) share.
//!
//! Platform-neutral (also built and tested natively): [`protocol`] (UI ↔ worker
//! messages), [`request`] (composer → downstream request, config text → service
//! config), [`store_ops`] (the Stores panel's and the Cache inspector's operations on
//! the state), [`cache_view`] (what the Cache inspector shows), [`fresh_cache`] (a
//! run's throwaway cache over the state), [`stores`]
//! (what the Stores panel shows: stores, values, import/export, config edits),
//! [`tap`] (recording and replaying backend exchanges), [`state_name`] (which
//! service state a worker uses: one per workspace entry),
//! [`examples`], [`embed`] (the embedded view's URLs), [`fiddle_tab`] (fiddles in the tab: composer ↔ request, links),
//! [`jsbuild_tab`] (JavaScript in the tab: the engine, the builder, templates),
//! [`format`] (presentation helpers), [`waterfall`] (the
//! backend waterfall's rows and geometry), [`warmup`] (the interpreter's warm-up in
//! the worker), [`history`] (run history: records, trimming, the diff view).
//!
//! Browser-only: [`platform`] (the core's `Clock` and `Random` on `performance` and
//! Web Crypto), [`fetch`] (backend fetches with the browser's `fetch`), [`worker`]
//! (the worker's driver loop), [`js_worker`] (the JS engine and builds in the worker), [`bridge`] (the UI's handle on the worker),
//! [`storage`] (localStorage and IndexedDB), [`history_db`] (the run history in IndexedDB), [`state_db`] (the service state in
//! IndexedDB), [`persist`] (the worker's state: durable, shared between tabs), [`workspace`]
//! (the saved fiddles, each with its own service state), [`offline`] (the service
//! worker that keeps the app usable with no network).

pub mod cache_view;
pub mod embed;
pub mod examples;
pub mod fiddle_tab;
pub mod format;
pub mod fresh_cache;
pub mod history;
pub mod jsbuild_tab;
pub mod npm;
pub mod protocol;
pub mod request;
pub mod state_name;
pub mod store_ops;
pub mod stores;
pub mod tap;
pub mod warmup;
pub mod waterfall;

#[cfg(target_arch = "wasm32")]
pub mod bridge;
#[cfg(target_arch = "wasm32")]
pub mod fetch;
#[cfg(target_arch = "wasm32")]
pub mod history_db;
#[cfg(target_arch = "wasm32")]
pub mod js_worker;
#[cfg(target_arch = "wasm32")]
pub mod offline;
#[cfg(target_arch = "wasm32")]
pub mod persist;
#[cfg(target_arch = "wasm32")]
pub mod platform;
#[cfg(target_arch = "wasm32")]
pub mod state_db;
#[cfg(target_arch = "wasm32")]
pub mod storage;
#[cfg(target_arch = "wasm32")]
pub mod worker;
#[cfg(target_arch = "wasm32")]
pub mod workspace;
