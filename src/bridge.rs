//! The UI side of the worker: spawn it, post messages (queued until it says
//! `Ready`), receive its messages, terminate it.

use crate::protocol::{js, FromWorker, ToWorker};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// The script that starts the worker (`web/worker-loader.js`: it loads the
/// `worker.js` and `worker_bg.wasm` trunk builds from `src/bin/worker.rs`).
pub const WORKER_URL: &str = "./worker-loader.js";

/// A running worker.
pub struct WorkerBridge {
    worker: web_sys::Worker,
    inner: Rc<RefCell<Inner>>,
    _on_message: Closure<dyn FnMut(web_sys::MessageEvent)>,
    _on_error: Closure<dyn FnMut(web_sys::Event)>,
}

struct Inner {
    ready: bool,
    queue: Vec<JsValue>,
}

impl WorkerBridge {
    /// Start a worker from `url`; `on_message` gets every message it posts, and
    /// `on_error` a message when the worker itself fails (script or wasm did not load).
    pub fn spawn(
        url: &str,
        on_message: impl Fn(FromWorker) + 'static,
        on_error: impl Fn(String) + 'static,
    ) -> Result<WorkerBridge, String> {
        let early = take_early_worker(url);
        let worker = match &early {
            Some(e) => e.worker.clone(),
            None => web_sys::Worker::new(url).map_err(|e| {
                format!("could not start the worker: {}", crate::fetch::js_error(&e))
            })?,
        };
        let inner = Rc::new(RefCell::new(Inner {
            ready: false,
            queue: Vec::new(),
        }));
        let on_error: Rc<dyn Fn(String)> = Rc::new(on_error);
        let on_decode_error = on_error.clone();
        let on_error_early = on_error.clone();
        let inner2 = inner.clone();
        let worker2 = worker.clone();
        let handle = Rc::new(move |data: JsValue| match js::decode::<FromWorker>(data) {
            Ok(FromWorker::Ready) => {
                let queued = {
                    let mut i = inner2.borrow_mut();
                    i.ready = true;
                    std::mem::take(&mut i.queue)
                };
                for m in queued {
                    let _ = worker2.post_message(&m);
                }
                on_message(FromWorker::Ready);
            }
            Ok(msg) => on_message(msg),
            Err(e) => on_decode_error(e),
        });
        let handle2 = handle.clone();
        let on_message =
            Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |ev: web_sys::MessageEvent| {
                handle2(ev.data())
            });
        worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        let on_error = Closure::<dyn FnMut(web_sys::Event)>::new(move |ev: web_sys::Event| {
            let msg = js_sys::Reflect::get(&ev, &"message".into())
                .ok()
                .and_then(|m| m.as_string())
                .unwrap_or_else(|| "the worker failed to start".into());
            on_error(format!("the guest worker failed: {msg}"));
        });
        worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        if let Some(e) = early {
            // What the worker said before the UI was up, in order, once the caller
            // holds this bridge: a microtask, so before any message still to come.
            wasm_bindgen_futures::spawn_local(async move {
                for message in e.errors {
                    on_error_early(format!("the guest worker failed: {message}"));
                }
                for m in e.messages {
                    handle(m);
                }
            });
        }
        Ok(WorkerBridge {
            worker,
            inner,
            _on_message: on_message,
            _on_error: on_error,
        })
    }

    /// Start the worker ([`WORKER_URL`]) of the service state `state` (a workspace
    /// entry's, [`crate::state_name`]; `""`: the default state). Switching entries
    /// is terminating this worker and spawning one for the other state.
    pub fn spawn_for_state(
        state: &str,
        on_message: impl Fn(FromWorker) + 'static,
        on_error: impl Fn(String) + 'static,
    ) -> Result<WorkerBridge, String> {
        let url = crate::state_name::worker_url(WORKER_URL, state)?;
        WorkerBridge::spawn(&url, on_message, on_error)
    }

    /// Post a message (queued until the worker is ready).
    pub fn post(&self, msg: &ToWorker) -> Result<(), String> {
        let v = js::encode(msg)?;
        let mut i = self.inner.borrow_mut();
        if i.ready {
            self.worker
                .post_message(&v)
                .map_err(|e| crate::fetch::js_error(&e))
        } else {
            i.queue.push(v);
            Ok(())
        }
    }

    /// True once the worker said `Ready`.
    pub fn is_ready(&self) -> bool {
        self.inner.borrow().ready
    }

    /// End the worker now, whatever it is doing. Its handlers go first: a worker
    /// ended while its script still loads may yet fire `error`, and the closures
    /// are dropped with this bridge.
    pub fn terminate(&self) {
        self.worker.set_onmessage(None);
        self.worker.set_onerror(None);
        self.worker.terminate();
    }
}

/// The worker `web/early-worker.js` started before the UI loaded, and what it said.
struct EarlyWorker {
    worker: web_sys::Worker,
    messages: Vec<JsValue>,
    errors: Vec<String>,
}

/// Take the early worker (once): it is ours when it was started from `url`; one of
/// another state is ended.
fn take_early_worker(url: &str) -> Option<EarlyWorker> {
    let window = web_sys::window()?;
    let key: JsValue = "edgeplayEarlyWorker".into();
    let early = js_sys::Reflect::get(&window, &key)
        .ok()
        .filter(JsValue::is_object)?;
    let _ = js_sys::Reflect::set(&window, &key, &JsValue::UNDEFINED);
    let get = |name: &str| js_sys::Reflect::get(&early, &name.into()).ok();
    let worker: web_sys::Worker = get("worker")?.dyn_into().ok()?;
    if get("url").and_then(|u| u.as_string()).as_deref() != Some(url) {
        worker.set_onmessage(None);
        worker.set_onerror(None);
        worker.terminate();
        return None;
    }
    let list = |name: &str| -> Vec<JsValue> {
        get(name)
            .and_then(|v| v.dyn_into::<js_sys::Array>().ok())
            .map(|a| a.iter().collect())
            .unwrap_or_default()
    };
    Some(EarlyWorker {
        worker,
        messages: list("messages"),
        errors: list("errors")
            .into_iter()
            .filter_map(|e| e.as_string())
            .collect(),
    })
}

impl Drop for WorkerBridge {
    fn drop(&mut self) {
        self.terminate();
    }
}
