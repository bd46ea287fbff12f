//! "Explain this hostcall" cards: for every guest import, what it does on the Compute
//! platform, its arguments and results, each status it can return and when, the SDK
//! calls that reach it, the limits that apply, and where edgeplay differs.
//!
//! The cards are reviewed text kept as data, one TOML file per import module in
//! `crates/host/cards/`, compiled in with `include_str!` and parsed once on first use.
//! Each file has one table per import:
//!
//! ```toml
//! [uri_get]
//! summary = "..."
//! args = [["req_handle", "..."], ["buf", "..."]]      # in ABI order, one per wasm param
//! results = [["nwritten_out", "..."]]                 # what the call writes back
//! statuses = [["ok", "..."], ["buflen", "..."]]       # status name (as the trace shows it) → when
//! rust = ["fastly::Request::get_url_str"]             # `fastly` crate calls that reach it
//! js = ["Request.url"]                                # `@fastly/js-compute` names
//! limits = ["..."]
//! host = "..."                                        # optional: where edgeplay differs
//! ```
//!
//! A legacy name (`env.xqd_*`, Fastlike's `fastly.init`) has `alias_of = "module::name"`
//! and gets the card of its current twin; fields it sets itself (`host`, `args`, ...)
//! replace the twin's.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// `(module, TOML text)` for each named card file of `crates/host/cards/`.
macro_rules! card_files {
    ($($module:literal),* $(,)?) => {
        &[$(($module, include_str!(concat!("../cards/", $module, ".toml")))),*]
    };
}

/// The card files, `(import module, TOML text)`, one per import module.
pub const SOURCES: &[(&str, &str)] = card_files![
    "env",
    "fastly",
    "fastly_abi",
    "fastly_acl",
    "fastly_async_io",
    "fastly_backend",
    "fastly_cache",
    "fastly_compute_runtime",
    "fastly_config_store",
    "fastly_device_detection",
    "fastly_dictionary",
    "fastly_erl",
    "fastly_geo",
    "fastly_http_body",
    "fastly_http_cache",
    "fastly_http_downstream",
    "fastly_http_req",
    "fastly_http_resp",
    "fastly_image_optimizer",
    "fastly_kv_store",
    "fastly_log",
    "fastly_object_store",
    "fastly_purge",
    "fastly_secret_store",
    "fastly_shielding",
    "fastly_uap",
    "wasi_snapshot_preview1",
];

/// One import's card.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Card {
    /// Import module (`fastly_http_req`, `env`, `wasi_snapshot_preview1`, ...).
    pub module: String,
    /// Import name (`uri_get`).
    pub name: String,
    /// What the call does on the platform, in a sentence or two.
    pub summary: String,
    /// Its arguments in ABI order: `(name, meaning)`. Out-pointers say `out:`.
    pub args: Vec<(String, String)>,
    /// What it writes back through out-pointers: `(argument, meaning)`.
    pub results: Vec<(String, String)>,
    /// Each status it can return, `(name, when)`; names as the trace spells them
    /// (`ok`, `buflen`, ..., or a WASI errno name such as `badf`).
    pub statuses: Vec<(String, String)>,
    /// `fastly` crate (0.13) functions that reach it.
    pub rust: Vec<String>,
    /// `@fastly/js-compute` (3.x) APIs that reach it.
    pub js: Vec<String>,
    /// Platform limits that apply.
    pub limits: Vec<String>,
    /// Where edgeplay's host differs from the platform, if it does.
    pub host: Option<String>,
    /// For a legacy name: the `module::name` of the current import it stands for.
    pub alias_of: Option<String>,
}

impl Card {
    /// `module::name`, as trace rows and `data-hostcall` spell the import.
    pub fn id(&self) -> String {
        format!("{}::{}", self.module, self.name)
    }

    /// The `when` text of status `name`, if the card lists it.
    pub fn status(&self, name: &str) -> Option<&str> {
        self.statuses
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, w)| w.as_str())
    }

    /// The card as plain text, for a terminal: the status `current` (the one of the
    /// event at hand, if any) is marked with `>`.
    pub fn to_text(&self, current: Option<&str>) -> String {
        let mut out = format!("{}\n\n{}\n", self.id(), self.summary);
        if let Some(a) = &self.alias_of {
            out.push_str(&format!("\nLegacy name of {a}.\n"));
        }
        let section = |out: &mut String, title: &str, rows: &[(String, String)]| {
            if rows.is_empty() {
                return;
            }
            out.push_str(&format!("\n{title}:\n"));
            let w = rows.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
            for (n, m) in rows {
                out.push_str(&format!("  {n:<w$}  {m}\n"));
            }
        };
        section(&mut out, "Arguments", &self.args);
        section(&mut out, "Results", &self.results);
        if !self.statuses.is_empty() {
            out.push_str("\nStatuses:\n");
            let w = self
                .statuses
                .iter()
                .map(|(n, _)| n.len())
                .max()
                .unwrap_or(0);
            for (n, m) in &self.statuses {
                let mark = if Some(n.as_str()) == current {
                    '>'
                } else {
                    ' '
                };
                out.push_str(&format!("{mark} {n:<w$}  {m}\n"));
            }
        }
        let list = |out: &mut String, title: &str, items: &[String]| {
            if items.is_empty() {
                return;
            }
            out.push_str(&format!("\n{title}:\n"));
            for i in items {
                out.push_str(&format!("  {i}\n"));
            }
        };
        list(&mut out, "Rust SDK (fastly)", &self.rust);
        list(&mut out, "JavaScript SDK (@fastly/js-compute)", &self.js);
        list(&mut out, "Limits", &self.limits);
        if let Some(h) = &self.host {
            out.push_str(&format!("\nIn edgeplay: {h}\n"));
        }
        out
    }
}

/// A card as written in its file (before aliases are resolved).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCard {
    summary: Option<String>,
    args: Option<Vec<(String, String)>>,
    results: Option<Vec<(String, String)>>,
    statuses: Option<Vec<(String, String)>>,
    rust: Option<Vec<String>>,
    js: Option<Vec<String>>,
    limits: Option<Vec<String>>,
    host: Option<String>,
    alias_of: Option<String>,
}

/// Every card, by `(module, name)`, and the problems found while reading them.
#[derive(Debug, Default)]
pub struct Cards {
    /// The cards, aliases resolved.
    pub cards: BTreeMap<(String, String), Card>,
    /// What was wrong with the files (unparsable TOML, an alias to nothing): empty
    /// when the data is sound; a test checks it.
    pub errors: Vec<String>,
}

/// Parse card files (`(module, TOML text)` pairs); aliases resolve within them.
pub fn parse(sources: &[(&str, &str)]) -> Cards {
    let mut raw: BTreeMap<(String, String), RawCard> = BTreeMap::new();
    let mut errors = Vec::new();
    for (module, text) in sources {
        match toml::from_str::<BTreeMap<String, RawCard>>(text) {
            Ok(t) => {
                for (name, c) in t {
                    raw.insert((module.to_string(), name), c);
                }
            }
            Err(e) => errors.push(format!("cards/{module}.toml: {e}")),
        }
    }
    let mut cards = BTreeMap::new();
    for ((module, name), c) in &raw {
        let base = match &c.alias_of {
            Some(target) => {
                let t = target
                    .split_once("::")
                    .and_then(|(m, n)| raw.get(&(m.to_string(), n.to_string())));
                match t {
                    Some(t) if t.alias_of.is_none() => t.clone(),
                    _ => {
                        errors.push(format!(
                            "{module}::{name}: alias_of {target} is not a card of its own"
                        ));
                        RawCard::default()
                    }
                }
            }
            None => RawCard::default(),
        };
        let pick = |own: &Option<Vec<(String, String)>>, b: &Option<Vec<(String, String)>>| {
            own.clone().or_else(|| b.clone()).unwrap_or_default()
        };
        let pick_list = |own: &Option<Vec<String>>, b: &Option<Vec<String>>| {
            own.clone().or_else(|| b.clone()).unwrap_or_default()
        };
        let card = Card {
            module: module.clone(),
            name: name.clone(),
            summary: c.summary.clone().or(base.summary).unwrap_or_default(),
            args: pick(&c.args, &base.args),
            results: pick(&c.results, &base.results),
            statuses: pick(&c.statuses, &base.statuses),
            rust: pick_list(&c.rust, &base.rust),
            js: pick_list(&c.js, &base.js),
            limits: pick_list(&c.limits, &base.limits),
            host: c.host.clone().or(base.host),
            alias_of: c.alias_of.clone(),
        };
        cards.insert((module.clone(), name.clone()), card);
    }
    Cards { cards, errors }
}

/// Every card compiled into this build, parsed on first use.
pub fn all() -> &'static Cards {
    static CARDS: OnceLock<Cards> = OnceLock::new();
    CARDS.get_or_init(|| parse(SOURCES))
}

/// The card of import `module::name`, if there is one.
pub fn card(module: &str, name: &str) -> Option<&'static Card> {
    all().cards.get(&(module.to_string(), name.to_string()))
}

/// The card of an import spelled `module::name` (or `module.name`).
pub fn lookup(id: &str) -> Option<&'static Card> {
    let (m, n) = id.split_once("::").or_else(|| id.split_once('.'))?;
    card(m, n)
}
