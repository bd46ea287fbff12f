//! Offline: the page registers the service worker (`web/sw.js`), which caches every
//! file of the build (`precache.json`, written by `scripts/precache.mjs`), so after
//! one visit the playground opens and runs with no network.
//!
//! [`register`] says how far it got on the page's root element, as `data-offline`
//! on `<html>`: `installing` (registered, not yet active), `cached` (active, every
//! precache entry in the cache, the page not yet controlled), `ready` (the service
//! worker controls the page and the cache holds every file: the page can be reloaded
//! offline), `incomplete` (an entry is missing from the cache) or `unavailable` (no
//! service workers here: an old browser, a `file://` page, a page that is not a
//! secure context; or the registration failed). Nothing here is an error for the
//! user: a failure is logged to the console once, and the page works as it did.

use js_sys::{Array, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

/// The attribute on `<html>` that says how far the offline setup got.
pub const ATTR: &str = "data-offline";

/// The service worker's script, beside the page (its directory is the scope).
pub const SCRIPT: &str = "./sw.js";

/// What the service worker caches, beside the page.
pub const MANIFEST: &str = "precache.json";

#[wasm_bindgen]
extern "C" {
    /// `navigator.serviceWorker` (typed here: web-sys's needs extra features).
    #[wasm_bindgen(extends = web_sys::EventTarget)]
    type Container;
    #[wasm_bindgen(method, catch)]
    fn register(this: &Container, url: &str) -> Result<Promise, JsValue>;
    #[wasm_bindgen(method, getter)]
    fn ready(this: &Container) -> Promise;
    #[wasm_bindgen(method, getter)]
    fn controller(this: &Container) -> JsValue;

    /// `caches`, the origin's `CacheStorage`.
    type Caches;
    #[wasm_bindgen(method, js_name = "match")]
    fn match_url(this: &Caches, url: &str) -> Promise;
}

/// Register the service worker and mark the page `data-offline="ready"` once it
/// controls the page with the whole build cached. Returns at once (the work goes on
/// in the background); never fails: a failure is logged once and marked
/// `unavailable`.
pub fn register() {
    wasm_bindgen_futures::spawn_local(async {
        if let Err(e) = setup().await {
            let why = e
                .as_string()
                .or_else(|| e.dyn_ref::<js_sys::Error>().map(|e| e.message().into()))
                .unwrap_or_else(|| format!("{e:?}"));
            web_sys::console::info_1(
                &format!("edgeplay: no offline copy (the page works online as usual): {why}")
                    .into(),
            );
            mark("unavailable");
        }
    });
}

fn mark(state: &str) {
    if let Some(root) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.document_element())
    {
        let _ = root.set_attribute(ATTR, state);
    }
}

async fn setup() -> Result<(), JsValue> {
    let window = web_sys::window().ok_or("no window")?;
    let navigator = Reflect::get(&window, &"navigator".into())?;
    let sw = Reflect::get(&navigator, &"serviceWorker".into())?;
    if sw.is_undefined() || sw.is_null() {
        return Err("this page has no service workers (not a secure context, or file://)".into());
    }
    let sw: Container = sw.unchecked_into();
    mark("installing");
    JsFuture::from(sw.register(SCRIPT)?).await?;
    JsFuture::from(sw.ready()).await?;
    if !complete(&window).await? {
        mark("incomplete");
        return Ok(());
    }
    if sw.controller().is_null() {
        mark("cached");
        // The first visit: the worker claims the page when it activates.
        let claimed = Promise::new(&mut |resolve, _| {
            let _ = sw.add_event_listener_with_callback("controllerchange", &resolve);
        });
        JsFuture::from(claimed).await?;
    }
    mark("ready");
    // From now on a change of controller is a new build's worker taking over (an
    // update, found on a later visit): this page still runs the build it loaded.
    let on_update = Closure::<dyn FnMut()>::new(|| {
        web_sys::console::info_1(
            &"edgeplay: a new version is installed; reload the page to run it".into(),
        );
    });
    sw.add_event_listener_with_callback("controllerchange", on_update.as_ref().unchecked_ref())?;
    on_update.forget();
    Ok(())
}

/// Whether the origin's caches hold every file `precache.json` lists.
async fn complete(window: &web_sys::Window) -> Result<bool, JsValue> {
    let res: web_sys::Response = JsFuture::from(window.fetch_with_str(MANIFEST))
        .await?
        .dyn_into()?;
    if !res.ok() {
        return Err(format!("{MANIFEST}: HTTP {}", res.status()).into());
    }
    let manifest = JsFuture::from(res.json()?).await?;
    let files: Array = Reflect::get(&manifest, &"files".into())?.dyn_into()?;
    let caches: Caches = Reflect::get(window, &"caches".into())?.unchecked_into();
    for file in files.iter() {
        let file = file
            .as_string()
            .ok_or("precache.json: a file that is not a string")?;
        if JsFuture::from(caches.match_url(&file))
            .await?
            .is_undefined()
        {
            return Ok(false);
        }
    }
    Ok(true)
}
