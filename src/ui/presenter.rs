//! Presenter mode: the page enlarged for a room (a projector), one column with the
//! results first (web/style.css `.presenter`), kept between visits. The toggle sits in
//! the trace's tools, where a workshop looks.

use edgeplay_web::storage;
use leptos::prelude::*;

/// Whether presenter mode is on (the page's root carries `class="presenter"`).
#[derive(Clone, Copy)]
pub struct Presenter(pub RwSignal<bool>);

impl Presenter {
    const KEY: &'static str = "edgeplay.presenter";

    /// The saved mode, saved again whenever it changes; provided as context.
    pub fn restore() -> Presenter {
        let on = RwSignal::new(storage::get(Self::KEY).as_deref() == Some("1"));
        Effect::new(move |_| storage::set(Self::KEY, if on.get() { "1" } else { "0" }));
        let p = Presenter(on);
        provide_context(p);
        p
    }
}

/// `presenter`: the switch (`aria-pressed`).
#[component]
pub fn PresenterToggle() -> impl IntoView {
    let Some(Presenter(on)) = use_context::<Presenter>() else {
        return ().into_any();
    };
    view! {
        <button
            class="small presenter-toggle"
            data-testid="presenter"
            aria-pressed=move || on.get().to_string()
            title="Presenter mode: the page larger, for a room"
            on:click=move |_| on.update(|p| *p = !*p)
        >
            {move || if on.get() { "presenter: on" } else { "presenter" }}
        </button>
    }
    .into_any()
}
