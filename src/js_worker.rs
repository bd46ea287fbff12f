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
//!
//! A build with npm packages (or a source that imports one) installs them first
//! ([`crate::npm::install`], through the worker's `fetch`, downloads kept for the
//! worker's life) and bundles them with the source by esbuild-wasm (`bundler.js`
//! beside the worker, which loads `esbuild/` the first time), posting
//! `BuildProgress` on the way; an error the engine reports in the bundle is mapped
//! back through the bundle's source map to the editor's line.

use crate::jsbuild_tab::{BuildFailure, Builder, EngineManifest, ENGINE_MANIFEST_URL};
use crate::npm::{self, Dependency, Placed};
use crate::platform::now_ms;
use crate::protocol::{Bytes, FromWorker};
use crate::worker::post;
use edgeplay_host::{Engine, Guest};
use futures_util::future::{FutureExt, LocalBoxFuture, Shared};
use serde::Deserialize;
use serde::Serialize as _;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::sync::Arc;
use wasm_bindgen::{JsCast, JsValue};
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
    /// npm downloads (metadata and tarballs) by URL, kept for the worker's life.
    downloads: HashMap<String, Rc<Vec<u8>>>,
}

/// Where the app's file is in the bundler's file system.
const APP_ENTRY: &str = "/app/app.js";

/// The source the engine builds: the editor's, or a bundle of it with packages.
struct Prepared {
    code: String,
    /// The bundle's source map (bundles only).
    map: Option<String>,
    packages: Vec<Placed>,
}

/// `edgeplayBundle`'s answer (web/bundler.js).
#[derive(Deserialize)]
struct BundleAnswer {
    #[serde(default)]
    code: String,
    #[serde(default)]
    map: String,
    #[serde(default)]
    errors: Vec<BundleError>,
}

#[derive(Deserialize)]
struct BundleError {
    text: String,
    file: Option<String>,
    line: Option<u32>,
    column: Option<u32>,
}

/// `edgeplayMapPosition`'s answer.
#[derive(Deserialize)]
struct Position {
    source: String,
    line: u32,
    column: u32,
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
    #[allow(clippy::too_many_arguments)]
    pub async fn build(
        &self,
        engine: Rc<Engine>,
        build_id: u32,
        file_name: String,
        source: String,
        packages: Vec<Dependency>,
        registry: String,
        set_guest: impl FnOnce(Arc<Guest>),
    ) {
        let t_bundle = now_ms();
        let prepared = match self
            .prepare_source(build_id, source, &packages, &registry)
            .await
        {
            Ok(p) => p,
            Err(failure) => {
                post(&FromWorker::BuildFailed {
                    build_id,
                    message: failure.message,
                    line: failure.line,
                    column: failure.column,
                });
                return;
            }
        };
        let source = prepared.code.clone();
        let bundle_ms = if prepared.map.is_some() {
            now_ms() - t_bundle
        } else {
            0.0
        };
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
                    bundle_ms,
                    cached: b.cached,
                    key: b.key,
                    output: b.output,
                    packages: prepared.packages,
                });
            }
            Err(failure) => {
                let BuildFailure {
                    message,
                    line,
                    column,
                } = map_failure(failure, prepared.map.as_deref());
                post(&FromWorker::BuildFailed {
                    build_id,
                    message,
                    line,
                    column,
                })
            }
        }
    }

    /// The source as the engine should build it: as it is when it imports no npm
    /// package, else installed and bundled.
    async fn prepare_source(
        &self,
        build_id: u32,
        source: String,
        packages: &[Dependency],
        registry: &str,
    ) -> Result<Prepared, BuildFailure> {
        let plain = |message: String| BuildFailure {
            message,
            line: None,
            column: None,
        };
        if !npm::needs_bundling(&source, packages) {
            return Ok(Prepared {
                code: source,
                map: None,
                packages: Vec::new(),
            });
        }
        let registry = if registry.trim().is_empty() {
            npm::DEFAULT_REGISTRY
        } else {
            registry.trim()
        };
        let progress = |stage: &str| {
            post(&FromWorker::BuildProgress {
                build_id,
                stage: stage.to_string(),
            })
        };
        let installed = npm::install(registry, packages, |url| self.download(url), progress)
            .await
            .map_err(plain)?;
        progress("bundling with esbuild");
        let mut files: BTreeMap<String, String> = installed.files;
        files.insert(APP_ENTRY.into(), source);
        let answer = bundle(&files).await.map_err(plain)?;
        if let Some(e) = answer.errors.into_iter().next() {
            let in_app = e.file.as_deref() == Some(APP_ENTRY);
            let message = match (&e.file, e.line) {
                (Some(f), Some(l)) if !in_app => format!("{} (in {f}:{l})", e.text),
                _ => e.text,
            };
            return Err(BuildFailure {
                message: format!("esbuild: {message}"),
                line: e.line.filter(|_| in_app),
                column: e.column.filter(|_| in_app),
            });
        }
        Ok(Prepared {
            code: answer.code,
            map: Some(answer.map),
            packages: installed.packages,
        })
    }

    /// GET `url` once per worker (npm's files do not change under a version).
    fn download(&self, url: String) -> LocalBoxFuture<'static, Result<Vec<u8>, String>> {
        let inner = self.inner.clone();
        async move {
            if let Some(b) = inner.borrow().downloads.get(&url) {
                return Ok(b.as_ref().clone());
            }
            let bytes = fetch_bytes(&url).await?;
            if bytes.len() > npm::MAX_DOWNLOAD_BYTES {
                return Err(format!("over {} bytes", npm::MAX_DOWNLOAD_BYTES));
            }
            inner
                .borrow_mut()
                .downloads
                .insert(url, Rc::new(bytes.clone()));
            Ok(bytes)
        }
        .boxed_local()
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

/// An engine error at a line of the bundle, moved to the editor's line when the
/// source map says it came from the app (else the message names the package file).
fn map_failure(failure: BuildFailure, map: Option<&str>) -> BuildFailure {
    let (Some(map), Some(line)) = (map, failure.line) else {
        return failure;
    };
    let column = failure.column.unwrap_or(1);
    let call = || -> Option<Position> {
        let global = js_sys::global();
        let f: js_sys::Function = js_sys::Reflect::get(&global, &"edgeplayMapPosition".into())
            .ok()?
            .dyn_into()
            .ok()?;
        let v = f
            .call3(&global, &map.into(), &line.into(), &column.into())
            .ok()?;
        serde_wasm_bindgen::from_value(v).ok()
    };
    match call() {
        Some(p) if p.source == APP_ENTRY => BuildFailure {
            message: failure.message,
            line: Some(p.line),
            column: Some(p.column),
        },
        Some(p) => BuildFailure {
            message: format!(
                "{} (in {}:{}:{})",
                failure.message, p.source, p.line, p.column
            ),
            line: None,
            column: None,
        },
        None => BuildFailure {
            message: format!("{} (at line {line} of the bundle)", failure.message),
            line: None,
            column: None,
        },
    }
}

/// `bundler.js`'s function `name`, the script imported the first time.
fn bundler_fn(name: &str) -> Result<js_sys::Function, String> {
    let global = js_sys::global();
    let key: JsValue = name.into();
    if !js_sys::Reflect::has(&global, &key).unwrap_or(false) {
        let scope: web_sys::WorkerGlobalScope = global.clone().unchecked_into();
        scope.import_scripts_1("bundler.js").map_err(|e| {
            format!(
                "the bundler (bundler.js) could not be loaded: {}",
                crate::fetch::js_error(&e)
            )
        })?;
    }
    js_sys::Reflect::get(&global, &key)
        .ok()
        .and_then(|f| f.dyn_into().ok())
        .ok_or_else(|| format!("bundler.js does not define {name}"))
}

/// Start loading esbuild-wasm (`ToWorker::PrepareBundler`); a failure is reported by
/// the build that needs it.
pub fn prepare_bundler() {
    if let Ok(f) = bundler_fn("edgeplayBundlerPrepare") {
        let _ = f.call0(&js_sys::global());
    }
}

/// Bundle `files` from [`APP_ENTRY`] with esbuild (web/bundler.js, loaded on first use).
async fn bundle(files: &BTreeMap<String, String>) -> Result<BundleAnswer, String> {
    let global = js_sys::global();
    let f = bundler_fn("edgeplayBundle")?;
    let files = files
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| e.to_string())?;
    let builtins: js_sys::Array = npm::NODE_BUILTINS
        .iter()
        .map(|b| JsValue::from(*b))
        .collect();
    let promise: js_sys::Promise = f
        .call3(&global, &files, &APP_ENTRY.into(), &builtins)
        .map_err(|e| crate::fetch::js_error(&e))?
        .dyn_into()
        .map_err(|_| "edgeplayBundle did not return a promise".to_string())?;
    let answer = JsFuture::from(promise).await.map_err(|e| {
        format!(
            "esbuild could not be started ({}); the trunk build stages it from npm's esbuild-wasm",
            crate::fetch::js_error(&e)
        )
    })?;
    serde_wasm_bindgen::from_value(answer).map_err(|e| format!("esbuild's answer: {e}"))
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
