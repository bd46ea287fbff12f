//! JavaScript in the worker (issue 12): the JS SDK's engine, fetched from
//! `engine/` beside the page (the trunk build stages the npm package's
//! `fastly.wasm` there) and compiled once — in the background as soon as the UI
//! asks (`ToWorker::PrepareEngine`), or on the first build — and builds with the
//! core ([`Builder`]). A build's guest becomes the worker's current guest: each run
//! starts from the build's snapshot, nothing is reloaded.
//!
//! ```text
//! PrepareEngine  -> fetch engine.json, fastly.wasm; compile   -> EngineReady
//! BuildJs        -> (wait for the engine) build or cache hit  -> Built | BuildFailed
//! JsModule       -> Wizer's rewrite of the current build      -> JsModule
//! ```

use crate::jsbuild_tab::{BuildFailure, Builder, EngineManifest, ENGINE_MANIFEST_URL};
use crate::platform::now_ms;
use crate::protocol::{Bytes, FromWorker};
use crate::worker::post;
use edgeplay_host::{Engine, Guest};
use futures_util::future::{FutureExt, LocalBoxFuture, Shared};
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

/// The engine once compiled, shared by every build.
type EngineFuture = Shared<LocalBoxFuture<'static, Result<Rc<RefCell<Builder>>, String>>>;

/// The worker's JavaScript side (cheap to clone: one per worker).
#[derive(Clone, Default)]
pub struct JsSide {
    inner: Rc<RefCell<Inner>>,
}

#[derive(Default)]
struct Inner {
    engine: Option<EngineFuture>,
    /// The build whose guest should become current (`None`: a `.wasm` was loaded since).
    wanted: Option<u32>,
    /// The current guest's build key, when the current guest is a JS build.
    current_key: Option<String>,
}

impl JsSide {
    /// The engine: its load starts now unless it started already (a failed load
    /// is tried again).
    pub fn prepare(&self, engine: Rc<Engine>) -> EngineFuture {
        let mut i = self.inner.borrow_mut();
        if let Some(f) = &i.engine {
            if !matches!(f.peek(), Some(Err(_))) {
                return f.clone();
            }
        }
        let fut = load_engine(engine).boxed_local().shared();
        i.engine = Some(fut.clone());
        let driven = fut.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let _ = driven.await;
        });
        fut
    }

    /// `build_id` is the newest build asked for: its guest becomes current when it
    /// is built (call when the request arrives).
    pub fn want(&self, build_id: u32) {
        self.inner.borrow_mut().wanted = Some(build_id);
    }

    /// A `.wasm` guest was loaded: no build in flight replaces it.
    pub fn supersede(&self) {
        let mut i = self.inner.borrow_mut();
        i.wanted = None;
        i.current_key = None;
    }

    /// Build `source`; on success `set_guest` gets the build's guest before
    /// `Built` is posted (so a run the UI sends on `Built` finds it), unless
    /// another build ([`Self::want`]) or a `.wasm` load came after this one.
    pub async fn build(
        &self,
        engine: Rc<Engine>,
        build_id: u32,
        file_name: String,
        source: String,
        set_guest: impl FnOnce(Arc<Guest>),
    ) {
        let t0 = now_ms();
        let builder = match self.prepare(engine.clone()).await {
            Ok(b) => b,
            Err(message) => {
                post(&FromWorker::BuildFailed {
                    build_id,
                    message,
                    line: None,
                    column: None,
                });
                return;
            }
        };
        let t1 = now_ms();
        let result = builder.borrow_mut().build(&engine, &file_name, &source);
        let build_ms = now_ms() - t1;
        match result {
            Ok(b) => {
                let current = self.inner.borrow().wanted == Some(build_id);
                if current {
                    self.inner.borrow_mut().current_key = Some(b.key.clone());
                    set_guest(b.guest.clone());
                }
                post(&FromWorker::Built {
                    build_id,
                    info: b.guest.info.clone(),
                    build_ms,
                    engine_wait_ms: t1 - t0,
                    cached: b.cached,
                    key: b.key,
                    output: b.output,
                });
            }
            Err(BuildFailure {
                message,
                line,
                column,
            }) => post(&FromWorker::BuildFailed {
                build_id,
                message,
                line,
                column,
            }),
        }
    }

    /// The deployable module of the current build.
    pub fn module(&self, req_id: u32) -> FromWorker {
        let result = (|| {
            let i = self.inner.borrow();
            let key = i
                .current_key
                .clone()
                .ok_or("the current guest is not a JavaScript build: run the app first")?;
            let engine = i.engine.as_ref().and_then(|f| f.peek().cloned());
            let builder = match engine {
                Some(Ok(b)) => b,
                _ => return Err("the JavaScript engine is not loaded".to_string()),
            };
            let wasm = builder.borrow().module(&key)?;
            Ok(Bytes::from(wasm))
        })();
        FromWorker::JsModule { req_id, result }
    }
}

/// Fetch the manifest and the engine beside the worker's script and compile it.
async fn load_engine(engine: Rc<Engine>) -> Result<Rc<RefCell<Builder>>, String> {
    let t0 = now_ms();
    let result: Result<_, String> = async {
        let text = fetch_bytes(ENGINE_MANIFEST_URL).await.map_err(|e| {
            format!(
                "the JavaScript engine could not be fetched ({ENGINE_MANIFEST_URL}: {e}); the trunk build stages it from npm's @fastly/js-compute (scripts/stage-examples.sh)"
            )
        })?;
        let manifest = EngineManifest::parse(&String::from_utf8_lossy(&text))?;
        post(&FromWorker::EngineLoading {
            version: manifest.label(),
        });
        let url = manifest.engine_url();
        let wasm = fetch_bytes(&url)
            .await
            .map_err(|e| format!("the JavaScript engine ({url}) could not be fetched: {e}"))?;
        let t1 = now_ms();
        let builder = Builder::new(&engine, &wasm, manifest)?;
        post(&FromWorker::EngineReady {
            version: builder.manifest().label(),
            load_ms: now_ms() - t0,
            compile_ms: now_ms() - t1,
        });
        Ok(Rc::new(RefCell::new(builder)))
    }
    .await;
    if let Err(message) = &result {
        post(&FromWorker::EngineFailed {
            message: message.clone(),
        });
    }
    result
}

/// GET `url` (relative to the worker's script) with the worker's `fetch`.
async fn fetch_bytes(url: &str) -> Result<Vec<u8>, String> {
    let scope: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    let resp: web_sys::Response = JsFuture::from(scope.fetch_with_str(url))
        .await
        .map_err(|e| crate::fetch::js_error(&e))?
        .dyn_into()
        .map_err(|_| "not a response".to_string())?;
    if !resp.ok() {
        return Err(format!("HTTP {}", resp.status()));
    }
    let buf = JsFuture::from(
        resp.array_buffer()
            .map_err(|e| crate::fetch::js_error(&e))?,
    )
    .await
    .map_err(|e| crate::fetch::js_error(&e))?;
    Ok(js_sys::Uint8Array::new(&buf).to_vec())
}
