//! The page's code editor, shared by `app.js` ([`super::js`]) and `fastly.toml`
//! ([`super::request`]): a textarea bound to a signal, with CodeMirror 6 mounted over
//! it when its script loaded (`web/editor/editor.src.js`: JavaScript or TOML
//! highlighting, line numbers, the error's line marked with its message). The
//! textarea stays the source of truth (the signal binds to it, tests fill it);
//! without CodeMirror it is the editor, with a line-number gutter beside it.

use edgeplay_web::format::line_span;
use leptos::prelude::*;
use wasm_bindgen::{JsCast, JsValue};

/// Call `window.edgeplayEditor[method](...args)`; `None` when the editor's script
/// is not there.
fn editor_call(method: &str, args: &[JsValue]) -> Option<JsValue> {
    let editor = js_sys::Reflect::get(&window(), &"edgeplayEditor".into())
        .ok()
        .filter(JsValue::is_object)?;
    let f: js_sys::Function = js_sys::Reflect::get(&editor, &method.into())
        .ok()?
        .dyn_into()
        .ok()?;
    f.apply(&editor, &args.iter().cloned().collect::<js_sys::Array>())
        .ok()
}

/// An error to show in the editor: its 1-based line and its message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Marked {
    /// The line.
    pub line: u32,
    /// The message (CodeMirror shows it on the line).
    pub message: String,
}

/// A code editor over `text`. `language` is `javascript` or `toml`; `error` marks a
/// line; with `select_error` a new error's line is also selected and scrolled to (a
/// build's error; validation as you type only marks). Setting `jump` selects a line
/// (the "show line" buttons).
#[component]
pub fn CodeEditor(
    text: RwSignal<String>,
    language: &'static str,
    testid: &'static str,
    #[prop(into)] error: Signal<Option<Marked>>,
    select_error: bool,
    jump: RwSignal<Option<u32>>,
    rows: u32,
) -> impl IntoView {
    let editor = NodeRef::<leptos::html::Textarea>::new();
    let gutter = NodeRef::<leptos::html::Pre>::new();
    let mounted = RwSignal::new(false);
    Effect::new(move |_| {
        if let Some(el) = editor.get() {
            let ok =
                editor_call("mount", &[el.into(), language.into()]).is_some_and(|v| v.is_truthy());
            mounted.set(ok);
        }
    });
    // Text the page sets (a template, an opened link, an import) reaches CodeMirror.
    Effect::new(move |_| {
        let t = text.get();
        if let (true, Some(el)) = (mounted.get(), editor.get_untracked()) {
            editor_call("setText", &[el.into(), t.into()]);
        }
    });
    let select_line = move |line: u32| {
        let Some(el) = editor.get_untracked() else {
            return;
        };
        let t = text.get_untracked();
        if let Some((start, end)) = line_span(&t, line as usize) {
            // The textarea keeps the selection too (it is the source of truth); it
            // counts UTF-16 code units.
            let u = |byte: usize| t[..byte].encode_utf16().count() as u32;
            if !mounted.get_untracked() {
                let _ = el.focus();
            }
            let _ = el.set_selection_range(u(start), u(end));
        }
        if mounted.get_untracked() {
            editor_call("select", &[el.into(), line.into()]);
        }
    };
    // The error's line is marked (and, for a build, selected); none clears the mark.
    Effect::new(move |_| {
        let e = error.get();
        mounted.track();
        if let (true, Some(el)) = (mounted.get_untracked(), editor.get_untracked()) {
            let (line, message) = e
                .as_ref()
                .map_or((0, String::new()), |e| (e.line, e.message.clone()));
            editor_call("mark", &[el.into(), line.into(), message.into()]);
        }
        if let (true, Some(e)) = (select_error, e) {
            select_line(e.line);
        }
    });
    Effect::new(move |_| {
        if let Some(line) = jump.get() {
            select_line(line);
            jump.set(None);
        }
    });
    let on_scroll = move |_| {
        if let (Some(t), Some(g)) = (editor.get(), gutter.get()) {
            g.set_scroll_top(t.scroll_top());
        }
    };
    let error_line = move || error.with(|e| e.as_ref().map(|e| e.line));
    let gutter_lines = move || {
        let n = text.with(|s| s.split('\n').count());
        let err = error_line();
        (1..=n as u32)
            .map(|i| {
                let class = if Some(i) == err { "err" } else { "" };
                view! { <span class=class>{i}"\n"</span> }
            })
            .collect_view()
    };
    view! {
        <div class=format!("js-editor lang-{language}") class:cm=move || mounted.get()>
            <pre node_ref=gutter class="js-gutter" aria-hidden="true">{gutter_lines}</pre>
            <textarea
                node_ref=editor
                class="code"
                data-testid=testid
                rows=rows
                spellcheck="false"
                data-error-line=move || error_line().map(|l| l.to_string())
                on:scroll=on_scroll
                bind:value=text
            ></textarea>
        </div>
    }
}
