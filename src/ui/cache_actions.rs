//! What the Cache inspector does. The cache is service state: the worker holds it,
//! so every listing, body and purge is a request to it ([`controller::store_request`],
//! performed by `edgeplay_web::store_ops` with the cache engine). A purge is answered
//! once it committed to IndexedDB, and the other tabs hear of it as of any state
//! write; the inspector lists again when the state changed (`state_version`).

use super::controller;
use super::state::{AppState, OpenBody};
use edgeplay_web::cache_view::{body_text, CacheRow};
use edgeplay_web::protocol::{StoreAnswer, StoreOp};
use leptos::prelude::*;

fn say(state: AppState, message: impl Into<String>) {
    state.cache.message.set(Some(message.into()));
}

fn objects(n: u32) -> String {
    format!("{n} object{}", if n == 1 { "" } else { "s" })
}

/// List the cache's objects again.
pub fn refresh(state: AppState) {
    controller::store_request(state, StoreOp::CacheList, move |r| match r {
        Ok(StoreAnswer::Cache {
            objects,
            now_unix_ns,
        }) => {
            let rows = CacheRow::list(&objects, now_unix_ns);
            // The open body goes when its object did.
            let gone = state.cache.open.with_untracked(|o| {
                o.as_ref()
                    .is_some_and(|o| !rows.iter().any(|r| r.id == o.id))
            });
            if gone {
                state.cache.open.set(None);
            }
            state.cache.rows.set(Some(rows));
        }
        Ok(_) => {}
        Err(e) => say(state, format!("Could not list the cache: {e}")),
    });
}

/// Show an object's body (a second click on the same object hides it).
pub fn toggle_body(state: AppState, id: String) {
    if state
        .cache
        .open
        .with_untracked(|o| o.as_ref().is_some_and(|o| o.id == id))
    {
        state.cache.open.set(None);
        return;
    }
    controller::store_request(state, StoreOp::CacheBody { id }, move |r| match r {
        Ok(StoreAnswer::CacheBody {
            id,
            body: Some(body),
        }) => {
            let (text, is_text) = body_text(&body);
            state.cache.open.set(Some(OpenBody {
                id,
                text,
                is_text,
                size: body.len(),
            }));
        }
        Ok(StoreAnswer::CacheBody { body: None, .. }) => say(
            state,
            "That object is gone (purged or evicted since it was listed).",
        ),
        Ok(_) => {}
        Err(e) => say(state, format!("Could not read the body: {e}")),
    });
}

/// Remove every object.
pub fn purge_all(state: AppState) {
    controller::store_request(state, StoreOp::CachePurgeAll, move |r| match r {
        Ok(StoreAnswer::Done { changed }) => {
            say(state, format!("Purged everything: {}.", objects(changed)))
        }
        Ok(_) => {}
        Err(e) => say(state, format!("Not purged: {e}")),
    });
}

/// Purge the objects carrying the form's surrogate key (hard or soft, as the form says).
pub fn purge_key(state: AppState) {
    let surrogate_key = state.cache.purge_key.get_untracked().trim().to_string();
    if surrogate_key.is_empty() {
        say(state, "Give the surrogate key to purge.");
        return;
    }
    let soft = state.cache.purge_soft.get_untracked();
    let op = StoreOp::CachePurgeKey {
        surrogate_key: surrogate_key.clone(),
        soft,
    };
    controller::store_request(state, op, move |r| match r {
        Ok(StoreAnswer::Done { changed }) => say(
            state,
            if soft {
                format!(
                    "Soft-purged {surrogate_key:?}: {} marked stale.",
                    objects(changed)
                )
            } else {
                format!("Purged {surrogate_key:?}: {} removed.", objects(changed))
            },
        ),
        Ok(_) => {}
        Err(e) => say(state, format!("Not purged: {e}")),
    });
}

/// Remove one object.
pub fn remove(state: AppState, id: String) {
    controller::store_request(state, StoreOp::CacheRemove { id }, move |r| match r {
        Ok(StoreAnswer::Done { changed: 1 }) => say(state, "Removed the object."),
        Ok(StoreAnswer::Done { .. }) => say(state, "That object was gone already."),
        Ok(_) => {}
        Err(e) => say(state, format!("Not removed: {e}")),
    });
}
