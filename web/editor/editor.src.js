// The tab's code editor (src/ui/code_editor.rs): CodeMirror 6 with JavaScript (app.js)
// or TOML (fastly.toml) highlighting and line numbers, an error's line marked with
// its message, mounted over the editor's <textarea>, which stays the source of truth
// (the page's signal binds to it, tests fill it). Bundled by esbuild at build time
// (scripts/stage-examples.sh) into web/codemirror/editor.js; without it the textarea
// is the editor.
import { EditorView, basicSetup } from "codemirror";
import { javascript } from "@codemirror/lang-javascript";
import { StreamLanguage } from "@codemirror/language";
import { toml } from "@codemirror/legacy-modes/mode/toml";
import { StateEffect, StateField } from "@codemirror/state";
import { Decoration } from "@codemirror/view";

const LANGUAGES = {
  javascript: () => javascript(),
  toml: () => StreamLanguage.define(toml),
};

const markLine = StateEffect.define();
const errorLine = StateField.define({
  create: () => Decoration.none,
  update(deco, tr) {
    deco = deco.map(tr.changes);
    for (const e of tr.effects) {
      if (!e.is(markLine)) continue;
      const { line: n, message } = e.value;
      deco = n && n >= 1 && n <= tr.state.doc.lines
        ? Decoration.set([
            Decoration.line({
              class: "cm-error-line",
              attributes: { title: message || "", "data-error-line": String(n) },
            }).range(tr.state.doc.line(n).from),
          ])
        : Decoration.none;
    }
    return deco;
  },
  provide: (f) => EditorView.decorations.from(f),
});

const views = new WeakMap();

function setText(view, text) {
  const now = view.state.doc.toString();
  if (now !== text) view.dispatch({ changes: { from: 0, to: now.length, insert: text } });
}

window.edgeplayEditor = {
  /** Mount an editor for `language` (javascript, toml) before `textarea` (in its
   *  parent); true when mounted. */
  mount(textarea, language) {
    if (views.has(textarea)) return true;
    const lang = LANGUAGES[language] || LANGUAGES.javascript;
    const view = new EditorView({
      doc: textarea.value,
      extensions: [
        basicSetup,
        lang(),
        errorLine,
        EditorView.updateListener.of((u) => {
          if (!u.docChanged || textarea.value === u.state.doc.toString()) return;
          textarea.value = u.state.doc.toString();
          textarea.dispatchEvent(new Event("input", { bubbles: true }));
        }),
      ],
    });
    textarea.parentElement.insertBefore(view.dom, textarea);
    // Typing (or a test's fill) into the textarea reaches the editor.
    textarea.addEventListener("input", () => setText(view, textarea.value));
    views.set(textarea, view);
    return true;
  },
  /** The page changed the text (a template, an opened link). */
  setText(textarea, text) {
    const view = views.get(textarea);
    if (view) setText(view, text);
  },
  /** Mark line `line` (1-based; 0: none) as the error, `message` on it. */
  mark(textarea, line, message) {
    const view = views.get(textarea);
    if (view) view.dispatch({ effects: [markLine.of({ line, message })] });
  },
  /** Select line `line` (1-based) and scroll to it. */
  select(textarea, line) {
    const view = views.get(textarea);
    if (!view || !(line >= 1 && line <= view.state.doc.lines)) return;
    const l = view.state.doc.line(line);
    view.dispatch({ selection: { anchor: l.from, head: l.to }, scrollIntoView: true });
    view.focus();
  },
};
