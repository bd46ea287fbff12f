//! The embedded view: `?embed` in the query (or `embed` in the fragment, `#f=…&embed`)
//! shows a compact, iframe-friendly page. Decided once at start from
//! `window.location` (`edgeplay_web::embed`); the app root gets the class `embed`,
//! and `web/style.css` (its `/* embed */` rules) hides what the embedded view does not
//! show: the config editor, the Stores and Cache tabs, the big header's tagline.

use edgeplay_web::embed;
use leptos::prelude::*;
use wasm_bindgen::JsCast;

thread_local! {
    static EMBEDDED: bool = web_sys::window()
        .map(|w| w.location())
        .map(|l| embed::is_embedded(&l.search().unwrap_or_default(), &l.hash().unwrap_or_default()))
        .unwrap_or(false);
}

/// Whether this page is the embedded view (read from the URL the page opened with).
pub fn embedded() -> bool {
    EMBEDDED.with(|e| *e)
}

/// The app root's class: `app`, or `app embed` in the embedded view.
pub fn root_class() -> &'static str {
    if embedded() {
        "app embed"
    } else {
        "app"
    }
}

/// The app root's `data-testid`: `embed` in the embedded view, none otherwise.
pub fn root_testid() -> Option<&'static str> {
    embedded().then_some("embed")
}

/// This page without `embed`, as it is now (the fragment may have changed since the
/// start).
fn full_href() -> String {
    web_sys::window()
        .and_then(|w| w.location().href().ok())
        .map(|h| embed::full_view_url(&h))
        .unwrap_or_default()
}

/// Point the link (the event's target) at the page as it is now.
fn refresh<E: AsRef<web_sys::Event>>(ev: E) {
    if let Some(a) = ev
        .as_ref()
        .current_target()
        .and_then(|t| t.dyn_into::<web_sys::HtmlAnchorElement>().ok())
    {
        a.set_href(&full_href());
    }
}

/// "Open in edgeplay ↗": the same page without `embed`, in a new tab (embedded view
/// only). Its address follows the current URL: it is read again when the link is
/// pointed at, focused or clicked.
#[component]
pub fn OpenFull() -> impl IntoView {
    embedded().then(|| {
        view! {
            <a class="open-full" data-testid="open-full" href=full_href() target="_blank" rel="noopener"
               on:pointerenter=refresh on:focus=refresh on:click=refresh>
                "Open in edgeplay ↗"
            </a>
        }
    })
}
