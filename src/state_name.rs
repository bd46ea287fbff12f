//! Which service state a worker uses: one per workspace entry (each saved fiddle has
//! its own KV stores, cache, rate counters, ...). Platform-neutral.
//!
//! A state has a name: [`DEFAULT_STATE`] (empty) is the state the tab always had —
//! the `state` store of the `edgeplay` database, announced on `edgeplay-state` — so
//! an existing user keeps it; any other name (1 to [`MAX_STATE_NAME`] characters of
//! `A-Z a-z 0-9 _ -`) has a database and a `BroadcastChannel` of its own
//! (`edgeplay-state-NAME`, same schema). The worker learns its state from its URL's
//! query (`worker-loader.js?state=NAME`, [`worker_url`], [`from_query`]): the UI
//! spawns a fresh worker when the user switches entries
//! (`WorkerBridge::spawn_for_state`).

/// The state the tab had before workspaces (the `edgeplay` database).
pub const DEFAULT_STATE: &str = "";

/// The default state's database (`crate::storage::DB_NAME`; it also holds the last
/// guest).
pub const DEFAULT_DB: &str = "edgeplay";

/// The default state's channel (`crate::persist::CHANNEL`).
pub const DEFAULT_CHANNEL: &str = "edgeplay-state";

/// The longest state name.
pub const MAX_STATE_NAME: usize = 64;

/// `Ok(())` when `name` is a state name (empty: the default).
pub fn check(name: &str) -> Result<(), String> {
    if name.len() > MAX_STATE_NAME {
        return Err(format!(
            "a state name has at most {MAX_STATE_NAME} characters ({} given)",
            name.len()
        ));
    }
    match name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
    {
        Some(c) => Err(format!(
            "a state name is letters, digits, `_` and `-` only: {name:?} has {c:?}"
        )),
        None => Ok(()),
    }
}

/// The IndexedDB database of the state `name`.
pub fn db_name(name: &str) -> Result<String, String> {
    check(name)?;
    Ok(if name.is_empty() {
        DEFAULT_DB.to_string()
    } else {
        format!("{}-state-{name}", DEFAULT_DB)
    })
}

/// The `BroadcastChannel` the workers of the state `name` announce writes on.
pub fn channel_name(name: &str) -> Result<String, String> {
    check(name)?;
    Ok(if name.is_empty() {
        DEFAULT_CHANNEL.to_string()
    } else {
        format!("{}-{name}", DEFAULT_CHANNEL)
    })
}

/// The worker script's URL for the state `name` (`base` itself for the default).
pub fn worker_url(base: &str, name: &str) -> Result<String, String> {
    check(name)?;
    Ok(if name.is_empty() {
        base.to_string()
    } else {
        format!("{base}?state={name}")
    })
}

/// The state a worker's URL query (`location.search`, `?state=NAME&...`) names:
/// the default when it names none. A name that is not a state name is an error
/// (the worker then keeps its state in memory rather than in the wrong database).
pub fn from_query(search: &str) -> Result<String, String> {
    let query = search.strip_prefix('?').unwrap_or(search);
    let mut found = DEFAULT_STATE.to_string();
    for pair in query.split('&') {
        if let Some(v) = pair.strip_prefix("state=") {
            found = v.to_string();
        }
    }
    check(&found)?;
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_state_is_the_database_the_tab_always_had() {
        assert_eq!(db_name(DEFAULT_STATE).unwrap(), "edgeplay");
        assert_eq!(channel_name(DEFAULT_STATE).unwrap(), "edgeplay-state");
        assert_eq!(
            worker_url("./worker-loader.js", "").unwrap(),
            "./worker-loader.js"
        );
        assert_eq!(from_query("").unwrap(), "");
        assert_eq!(from_query("?other=1").unwrap(), "");
    }

    #[test]
    fn a_named_state_has_a_database_and_channel_of_its_own() {
        assert_eq!(db_name("f1a2").unwrap(), "edgeplay-state-f1a2");
        assert_eq!(channel_name("f1a2").unwrap(), "edgeplay-state-f1a2");
        let url = worker_url("./worker-loader.js", "f1a2").unwrap();
        assert_eq!(url, "./worker-loader.js?state=f1a2");
        assert_eq!(from_query("?state=f1a2").unwrap(), "f1a2");
        assert_eq!(from_query("?x=1&state=a_b-C").unwrap(), "a_b-C");
    }

    #[test]
    fn names_that_could_reach_another_database_are_refused() {
        for bad in ["a b", "../x", "a%2Fb", "é", &"x".repeat(65)] {
            assert!(check(bad).is_err(), "{bad}");
            assert!(db_name(bad).is_err() && worker_url("w.js", bad).is_err());
        }
        assert!(from_query("?state=a%20b").is_err());
        assert!(check(&"x".repeat(64)).is_ok());
    }
}
