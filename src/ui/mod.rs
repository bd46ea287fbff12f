//! The Leptos UI: state (signals), the controller (what the UI does), and one module
//! per part of the page.

pub mod cache;
pub mod cache_actions;
pub mod card;
pub mod code_editor;
pub mod controller;
pub mod embed;
pub mod fiddle;
pub mod fiddle_actions;
pub mod guest;
pub mod history;
pub mod history_actions;
pub mod js;
pub mod js_actions;
pub mod lessons;
pub mod limits;
pub mod panels;
pub mod presenter;
pub mod profile;
pub mod request;
pub mod state;
pub mod step;
pub mod store_actions;
pub mod stores;
pub mod trace;
pub mod waterfall;
pub mod workspace;
pub mod workspace_actions;

/// The file a `<input type="file">` change event picked, if any. The input is cleared,
/// so picking the same file again fires another change.
pub fn picked_file(ev: &web_sys::Event) -> Option<web_sys::File> {
    use wasm_bindgen::JsCast;
    let input = ev
        .target()
        .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())?;
    let file = input.files().and_then(|f| f.get(0));
    input.set_value("");
    file
}
