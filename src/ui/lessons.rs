//! Lessons beside the playground ([`edgeplay_host::lessons`]): pick one from the top
//! bar's *Lessons* menu and a panel at the left shows its step's text with
//! *previous* / *next*; each step opens its fiddle (an example guest, its fastly.toml
//! and requests) and runs it, in Step mode when the step asks for it.
//!
//! A lesson gets a workspace entry of its own (“Lesson: …”) when it starts, so the
//! page's own fiddle is kept; its steps replace one another in that entry. The open
//! lesson and step are kept between visits (the page reopens the panel; the entry
//! already holds the step).

use super::fiddle_actions::{self, OpenInto};
use super::state::{AppState, Phase};
use edgeplay_host::lessons::{self, Inline, Lesson};
use edgeplay_web::storage;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// localStorage key of the open lesson and step.
const KEY: &str = "edgeplay.lesson.v1";

/// The open lesson, as kept between visits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Open {
    /// The lesson's id.
    id: String,
    /// The step, from 0.
    step: usize,
    /// The workspace entry the lesson runs in.
    #[serde(default)]
    entry: Option<String>,
}

/// The lesson panel's signals (one set per page).
#[derive(Clone, Copy)]
pub struct LessonUi {
    /// The open lesson and step, if any.
    open: RwSignal<Option<Open>>,
}

thread_local! {
    static UI: LessonUi = LessonUi { open: RwSignal::new(None) };
}

fn ui() -> LessonUi {
    UI.with(|u| *u)
}

/// Reopen the lesson of the last visit (without running it again: its workspace
/// entry holds the step), and keep the open lesson saved.
pub fn start() {
    let u = ui();
    let saved = storage::get_json::<Open>(KEY)
        .filter(|o| lessons::find(&o.id).is_some_and(|l| o.step < l.steps.len()));
    u.open.set(saved);
    Effect::new(move |_| match u.open.get() {
        Some(o) => storage::set_json(KEY, &o),
        None => storage::remove(KEY),
    });
}

/// The open lesson and step.
fn current() -> Option<(&'static Lesson, usize)> {
    let o = ui().open.get()?;
    Some((lessons::find(&o.id)?, o.step))
}

/// Go to step `step` of lesson `id`: open its fiddle and run it. A lesson that is
/// not open yet (or whose entry is no longer the current one) gets a new workspace
/// entry; otherwise the step replaces the previous one in the lesson's entry.
fn go(state: AppState, id: &str, step: usize) {
    let Some(lesson) = lessons::find(id) else {
        return;
    };
    let Some(s) = lesson.steps.get(step) else {
        return;
    };
    if state.phase.get_untracked() == Phase::Running {
        super::controller::stop(state);
    }
    let u = ui();
    let current_entry = state.workspace.current.get_untracked();
    let same_entry = u
        .open
        .get_untracked()
        .is_some_and(|o| o.id == id && o.entry.is_some() && o.entry == current_entry);
    super::step::ui().on.set(s.step_mode);
    let from = format!(
        "the lesson “{}”, step {} of {}",
        lesson.title,
        step + 1,
        lesson.steps.len()
    );
    let into = if same_entry {
        OpenInto::Current
    } else {
        OpenInto::NewEntry(Some(format!("Lesson: {}", lesson.title)))
    };
    u.open.set(Some(Open {
        id: id.to_string(),
        step,
        entry: if same_entry { current_entry } else { None },
    }));
    let lesson_id = id.to_string();
    fiddle_actions::open_fiddle_into(state, s.fiddle.clone(), from, into, move |entry| {
        if let Some(entry) = entry {
            // The lesson's own entry: its next steps go there.
            u.open.update(|o| {
                if let Some(o) = o.as_mut().filter(|o| o.id == lesson_id) {
                    o.entry = Some(entry);
                }
            });
        }
    });
}

/// Close the lesson panel (the entry and what it holds stay).
fn close() {
    ui().open.set(None);
}

/// `lessons`: the top bar's menu of lessons.
#[component]
pub fn LessonPicker() -> impl IntoView {
    let state = expect_context::<AppState>();
    let list = lessons::all().map(<[Lesson]>::to_vec).unwrap_or_default();
    let on_pick = move |ev: web_sys::Event| {
        let id = event_target_value(&ev);
        if !id.is_empty() {
            go(state, &id, 0);
        }
    };
    let value = move || {
        ui().open
            .with(|o| o.as_ref().map(|o| o.id.clone()).unwrap_or_default())
    };
    view! {
        <select data-testid="lessons" prop:value=value on:change=on_pick title="Lessons: a short text and a fiddle per step, shown beside the playground">
            <option value="">"Lessons…"</option>
            {list
                .into_iter()
                .map(|l| view! { <option value=l.id.clone() title=l.summary.clone()>{l.title.clone()}</option> })
                .collect_view()}
        </select>
    }
}

/// `lesson`: the open lesson's step, its text, and previous / next.
#[component]
pub fn LessonPanel() -> impl IntoView {
    view! {
        {move || current().map(|(lesson, step)| view! { <StepView lesson=lesson step=step/> })}
    }
}

#[component]
fn StepView(lesson: &'static Lesson, step: usize) -> impl IntoView {
    let state = expect_context::<AppState>();
    let n = lesson.steps.len();
    let s = &lesson.steps[step];
    let id = lesson.id.as_str();
    let steps = lesson
        .steps
        .iter()
        .enumerate()
        .map(|(i, st)| {
            let class = if i == step { "lesson-step-link current" } else { "lesson-step-link" };
            view! {
                <li>
                    <button class=class data-step={i + 1} aria-current={(i == step).then_some("step")} on:click=move |_| go(state, id, i)>
                        {st.title.clone()}
                    </button>
                </li>
            }
        })
        .collect_view();
    view! {
        <aside class="lesson card" data-testid="lesson" data-lesson=id data-step={step + 1} data-steps=n>
            <div class="lesson-head">
                <span class="lesson-title">{lesson.title.clone()}</span>
                <button class="link" data-testid="lesson-close" title="Close the lesson (its workspace entry stays)" on:click=move |_| close()>"×"</button>
            </div>
            <div class="muted small" data-testid="lesson-progress">{format!("Step {} of {n}", step + 1)}</div>
            <h3 data-testid="lesson-step-title">{s.title.clone()}</h3>
            <div class="lesson-text" data-testid="lesson-text">{render_text(&s.text)}</div>
            {s.step_mode.then(|| view! {
                <p class="lesson-note small">"This step runs in Step mode: the guest pauses before each hostcall. Use Step, Continue and Run to end beside Run."</p>
            })}
            <div class="lesson-nav">
                <button data-testid="lesson-prev" disabled={step == 0} on:click=move |_| go(state, id, step.saturating_sub(1))>"← Previous"</button>
                <button data-testid="lesson-rerun" title="Open this step's fiddle again and run it" on:click=move |_| go(state, id, step)>"Run this step"</button>
                <button class="primary" data-testid="lesson-next" disabled={step + 1 >= n} on:click=move |_| go(state, id, step + 1)>"Next →"</button>
            </div>
            <ol class="lesson-steps" data-testid="lesson-steps">{steps}</ol>
        </aside>
    }
}

/// A step's text: paragraphs with `code`.
fn render_text(text: &str) -> impl IntoView {
    lessons::paragraphs(text)
        .into_iter()
        .map(|p| {
            let parts = p
                .into_iter()
                .map(|i| match i {
                    Inline::Text(t) => view! { <span>{t}</span> }.into_any(),
                    Inline::Code(c) => view! { <code>{c}</code> }.into_any(),
                })
                .collect_view();
            view! { <p>{parts}</p> }
        })
        .collect_view()
}
