//! Service configuration: the `[local_server]` tables of `fastly.toml` (Viceroy's
//! format), and the defaults a guest sees when nothing is configured.
//!
//! [`ServiceConfig::from_toml_str`] reads the shapes Viceroy accepts:
//!
//! - `dictionaries` / `config_stores` (one namespace): `format = "inline-toml"` with a
//!   `contents` table of strings, or `format = "json"` with `file` (a JSON object of
//!   strings). Keys are at most 256 and values at most 8000 characters.
//! - `secret_stores`: an array of `{key, data}`, `{key, file}` or `{key, env}` tables,
//!   or `{file, format = "json"}` (a JSON object of strings). Store and secret names
//!   are letters, digits, `-`, `_` and `.`, at most 255 bytes.
//! - `geolocation`: `use_default_loopback` (default true), and `format =
//!   "inline-toml"` with an `addresses` table (IP → table of scalars) or `format =
//!   "json"` with `file`.
//! - `device_detection`: `format = "inline-toml"` with a `user_agents` table (user
//!   agent → table) or `format = "json"` with `file`.
//! - `backends`: `url` (required unless `mock` is set), `override_host`, `cert_host`,
//!   `use_sni`, the timeouts, `health` (Viceroy's `"healthy"`/`"unhealthy"`/`"unknown"`),
//!   and two edgeplay extensions, `mock` and `reachable_percent` (see
//!   [`BackendConfig`]); other keys are kept in [`BackendConfig::extra`].
//! - `fake_valid_fastly_keys`: Viceroy's list of Fastly API keys that
//!   `fastly_key_is_valid` accepts in a request's `fastly-key` header.
//! - `kv_stores` / `object_stores` / `object_store` and `acls` are kept raw.
//!
//! Files named by `file` are read through the caller's reader (the core has no file
//! system), relative to the directory of the `fastly.toml` (Viceroy reads them
//! relative to its working directory, which is that directory when the Fastly CLI
//! starts it). Every error names the file, the key and the line.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::ops::Range;
use toml::de::{DeTable, DeValue};
use toml::{Spanned, Table, Value};

/// A backend as `[local_server.backends.NAME]` declares it.
///
/// Viceroy's keys (`url`, `override_host`, `cert_host`, `use_sni`, the timeouts,
/// `health`) plus two edgeplay extensions:
///
/// ```toml
/// # A flaky origin: about half of the requests reach it, the others get
/// # Fastlike's synthetic 502 (`Backend request failed: simulated backend failure
/// # (uptime=50%)`). `is_healthy` answers healthy for 1..=100 and unhealthy for 0.
/// [local_server.backends.flaky]
/// url = "http://127.0.0.1:9000"
/// reachable_percent = 50
///
/// # A mock: answered by edgeplay itself, no network (works offline and needs no
/// # CORS in the browser). Every key is optional; `status` defaults to 200.
/// [local_server.backends.api]
/// mock = { status = 200, headers = { "content-type" = "application/json" }, body = '{"ok":true}' }
///
/// # An echo mock: status 200, the request body as the response body, and headers
/// # describing the request: `x-echo-method`, `x-echo-url` (the URL as it would go
/// # on the wire), `x-echo-host` (the Host header sent) and every request header
/// # as `x-echo-header-NAME` (so `cdn-loop` shows as `x-echo-header-cdn-loop`).
/// [local_server.backends.echo]
/// mock = "echo"
///
/// # Either form takes `delay_ms`: the answer comes that much later (a first-byte
/// # timeout shorter than the delay gives the guest a timeout error instead).
/// [local_server.backends.slow]
/// mock = { echo = true, delay_ms = 250 }
/// ```
///
/// A mock backend needs no `url` (it then reads as `http://mock.invalid/` to the
/// backend getters); mock answers still appear in the trace as backend fetches.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BackendConfig {
    /// Origin URL, e.g. `http://127.0.0.1:8080/` (empty for a mock declared without one).
    pub url: String,
    /// Host header to send instead of the URL's host.
    pub override_host: Option<String>,
    /// Connect timeout in ms.
    pub connect_timeout_ms: Option<u32>,
    /// First-byte timeout in ms.
    pub first_byte_timeout_ms: Option<u32>,
    /// Between-bytes timeout in ms.
    pub between_bytes_timeout_ms: Option<u32>,
    /// SNI / certificate host.
    pub cert_host: Option<String>,
    /// Whether to use SNI.
    pub use_sni: Option<bool>,
    /// Health as Viceroy's `health` key sets it (`is_healthy` answers it).
    pub health: Option<BackendHealth>,
    /// edgeplay extension (Fastlike's `@N`): the percentage of requests, 0 to 100, that
    /// reach the origin; the others get a synthetic 502.
    pub reachable_percent: Option<u8>,
    /// edgeplay extension: answer requests from the config instead of the network.
    pub mock: Option<MockConfig>,
    /// Every other key, kept for later issues and shown by `edgeplay` when unused.
    pub extra: BTreeMap<String, toml::Value>,
}

/// A backend's health, as `fastly_backend.is_healthy` reports it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackendHealth {
    /// No health check (0).
    #[default]
    Unknown,
    /// Healthy (1).
    Healthy,
    /// Unhealthy (2).
    Unhealthy,
}

/// A mock backend's answer (`mock = ...` on a backend; see [`BackendConfig`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MockConfig {
    /// Echo the request instead of the static answer below.
    pub echo: bool,
    /// Status code of the static answer (default 200).
    pub status: u16,
    /// Headers of the static answer, in order.
    pub headers: Vec<(String, String)>,
    /// Body of the static answer.
    pub body: String,
    /// How long the answer takes, in ms (0: at once).
    pub delay_ms: u32,
}

impl Default for MockConfig {
    fn default() -> Self {
        MockConfig {
            echo: false,
            status: 200,
            headers: Vec::new(),
            body: String::new(),
            delay_ms: 0,
        }
    }
}

/// Geolocation data: `[local_server.geolocation]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GeoConfig {
    /// Answer loopback addresses that have no record with Viceroy's default record.
    pub use_default_loopback: bool,
    /// Records per address, as JSON objects (the fields `fastly_geo.lookup` returns).
    pub addresses: BTreeMap<IpAddr, serde_json::Value>,
}

impl Default for GeoConfig {
    fn default() -> Self {
        GeoConfig {
            use_default_loopback: true,
            addresses: BTreeMap::new(),
        }
    }
}

impl GeoConfig {
    /// The record for `ip`: the configured one, else the default record for a loopback
    /// address when `use_default_loopback` is on, else `None` (as Viceroy).
    pub fn lookup(&self, ip: &IpAddr) -> Option<serde_json::Value> {
        self.addresses
            .get(ip)
            .cloned()
            .or_else(|| (self.use_default_loopback && ip.is_loopback()).then(default_geo_record))
    }
}

/// Viceroy's geolocation record for loopback addresses (Fastly's office in San Francisco).
pub fn default_geo_record() -> serde_json::Value {
    // Keys in alphabetical order, as Viceroy serializes them.
    serde_json::json!({
        "area_code": 415,
        "as_name": "Fastly, Inc",
        "as_number": 54113,
        "city": "San Francisco",
        "conn_speed": "broadband",
        "conn_type": "wired",
        "continent": "NA",
        "country_code": "US",
        "country_code3": "USA",
        "country_name": "United States of America",
        "latitude": 37.77869,
        "longitude": -122.39557,
        "metro_code": 0,
        "postal_code": "94107",
        "proxy_description": "?",
        "proxy_type": "?",
        "region": "CA",
        "utc_offset": -700
    })
}

/// Everything a service is configured with.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceConfig {
    /// `name` from fastly.toml, if given.
    pub name: Option<String>,
    /// Config stores and dictionaries (one namespace, as on the platform): store → key → value.
    pub config_stores: BTreeMap<String, BTreeMap<String, String>>,
    /// Secret stores: store → name → plaintext.
    pub secret_stores: BTreeMap<String, BTreeMap<String, Vec<u8>>>,
    /// Geolocation data.
    pub geolocation: GeoConfig,
    /// Device detection: user agent → JSON record.
    pub device_detection: BTreeMap<String, serde_json::Value>,
    /// Backends by name.
    pub backends: BTreeMap<String, BackendConfig>,
    /// KV stores (raw, for the KV issue).
    pub kv_stores: BTreeMap<String, toml::Value>,
    /// ACLs (raw, for the ACL issue).
    pub acls: BTreeMap<String, toml::Value>,
    /// Fastly API keys `fastly_key_is_valid` accepts (Viceroy's `fake_valid_fastly_keys`).
    pub fake_valid_fastly_keys: Vec<String>,
}

/// A `fastly.toml` (or a file it names) that could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{file}{}{}: {message}", line_part(.line), key_part(.key))]
pub struct ConfigError {
    /// The file with the problem (the `fastly.toml`, or a JSON file it names).
    pub file: String,
    /// 1-based line number, when known.
    pub line: Option<usize>,
    /// The key path, e.g. `local_server.config_stores.settings.contents`.
    pub key: Option<String>,
    /// What is wrong.
    pub message: String,
}

fn line_part(line: &Option<usize>) -> String {
    line.map(|l| format!(", line {l}")).unwrap_or_default()
}

fn key_part(key: &Option<String>) -> String {
    key.as_ref()
        .map(|k| format!(", key `{k}`"))
        .unwrap_or_default()
}

/// Longest config store key, in characters (the platform's limit, checked by Viceroy).
pub const CONFIG_KEY_MAX_CHARS: usize = 256;
/// Longest config store value, in characters.
pub const CONFIG_VALUE_MAX_CHARS: usize = 8000;
/// Newest `manifest_version` understood.
pub const MAX_MANIFEST_VERSION: i64 = 3;

impl ServiceConfig {
    /// Parse a `fastly.toml`. `path` names it in errors and is the base for relative
    /// `file` references; `read_file` reads those files (the CLI passes the file
    /// system, the browser an in-memory map). `env` secrets read as empty: use
    /// [`ServiceConfig::from_toml_str_with_env`] to give them values.
    pub fn from_toml_str(
        text: &str,
        path: &str,
        read_file: &dyn Fn(&str) -> Result<String, String>,
    ) -> Result<ServiceConfig, ConfigError> {
        Self::from_toml_str_with_env(text, path, read_file, &|_| None)
    }

    /// [`ServiceConfig::from_toml_str`], with `read_env` answering the environment
    /// variables secret stores name with `env = "VAR"` (unset reads as empty, as in Viceroy).
    pub fn from_toml_str_with_env(
        text: &str,
        path: &str,
        read_file: &dyn Fn(&str) -> Result<String, String>,
        read_env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<ServiceConfig, ConfigError> {
        let root: Table = toml::from_str(text).map_err(|e| ConfigError {
            file: path.to_string(),
            line: e.span().map(|s| line_at(text, s.start)),
            key: None,
            message: format!("invalid TOML: {}", e.message().trim_end()),
        })?;
        let spans = DeTable::parse(text).ok();
        let p = Parser {
            file: path,
            text,
            base_dir: base_dir(path),
            spans,
            read_file,
            read_env,
        };
        p.root(root)
    }
}

/// The 1-based line of byte `offset` in `text`.
fn line_at(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// The directory part of `path` ("" for a bare file name).
fn base_dir(path: &str) -> String {
    match path.rfind(['/', '\\']) {
        Some(0) => "/".to_string(),
        Some(i) => path[..i].to_string(),
        None => String::new(),
    }
}

/// One step of a key path.
#[derive(Clone, Debug)]
enum Seg {
    Key(String),
    Index(usize),
}

/// Where a value sits in the document, e.g. `local_server.backends."my.origin".url`.
#[derive(Clone, Debug, Default)]
struct KeyPath(Vec<Seg>);

impl KeyPath {
    fn key(&self, k: &str) -> KeyPath {
        let mut v = self.0.clone();
        v.push(Seg::Key(k.to_string()));
        KeyPath(v)
    }

    fn index(&self, i: usize) -> KeyPath {
        let mut v = self.0.clone();
        v.push(Seg::Index(i));
        KeyPath(v)
    }
}

impl std::fmt::Display for KeyPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(k) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    let bare = !k.is_empty()
                        && k.chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                    if bare {
                        f.write_str(k)?;
                    } else {
                        write!(f, "{k:?}")?;
                    }
                }
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// The span of the deepest part of `path` present in the document.
fn find_span(table: &DeTable<'_>, path: &[Seg]) -> Option<Range<usize>> {
    let (first, rest) = path.split_first()?;
    let Seg::Key(k) = first else { return None };
    let (key, val) = table.iter().find(|(key, _)| {
        let name: &str = key.get_ref();
        name == k
    })?;
    let deeper = match val.get_ref() {
        DeValue::Table(t) => find_span(t, rest),
        DeValue::Array(a) => find_in_array(a, rest),
        _ => None,
    };
    Some(
        deeper.unwrap_or_else(|| match (rest.is_empty(), val.get_ref()) {
            (true, DeValue::Table(_) | DeValue::Array(_)) | (false, _) => key.span(),
            (true, _) => val.span(),
        }),
    )
}

fn find_in_array(items: &[Spanned<DeValue<'_>>], path: &[Seg]) -> Option<Range<usize>> {
    let (first, rest) = path.split_first()?;
    let Seg::Index(i) = first else { return None };
    let item = items.get(*i)?;
    let deeper = match item.get_ref() {
        DeValue::Table(t) => find_span(t, rest),
        DeValue::Array(a) => find_in_array(a, rest),
        _ => None,
    };
    Some(deeper.unwrap_or_else(|| item.span()))
}

/// How a TOML value's type reads in an error.
fn type_name(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "a string",
        Value::Integer(_) => "an integer",
        Value::Float(_) => "a float",
        Value::Boolean(_) => "a boolean",
        Value::Datetime(_) => "a date-time",
        Value::Array(_) => "an array",
        Value::Table(_) => "a table",
    }
}

/// How a JSON value's type reads in an error.
fn json_type_name(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Store and secret names: letters, digits, `-`, `_`, `.`; 1 to 255 bytes (as Viceroy).
fn is_valid_secret_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
}

struct Parser<'a> {
    file: &'a str,
    text: &'a str,
    base_dir: String,
    spans: Option<Spanned<DeTable<'a>>>,
    read_file: &'a dyn Fn(&str) -> Result<String, String>,
    read_env: &'a dyn Fn(&str) -> Option<String>,
}

type R<T> = Result<T, ConfigError>;

impl Parser<'_> {
    fn err(&self, path: &KeyPath, message: impl Into<String>) -> ConfigError {
        let line = self
            .spans
            .as_ref()
            .and_then(|t| find_span(t.get_ref(), &path.0))
            .map(|s| line_at(self.text, s.start));
        ConfigError {
            file: self.file.to_string(),
            line,
            key: Some(path.to_string()),
            message: message.into(),
        }
    }

    fn expected(&self, path: &KeyPath, what: &str, found: &Value) -> ConfigError {
        self.err(path, format!("expected {what}, found {}", type_name(found)))
    }

    fn table(&self, path: &KeyPath, v: Value, what: &str) -> R<Table> {
        match v {
            Value::Table(t) => Ok(t),
            other => Err(self.expected(path, what, &other)),
        }
    }

    fn string(&self, path: &KeyPath, v: Value) -> R<String> {
        match v {
            Value::String(s) => Ok(s),
            other => Err(self.expected(path, "a string", &other)),
        }
    }

    fn no_other_keys(&self, path: &KeyPath, t: &Table) -> R<()> {
        match t.keys().next() {
            Some(k) => Err(self.err(&path.key(k), format!("unknown key `{k}`"))),
            None => Ok(()),
        }
    }

    /// Resolve a `file` reference against the fastly.toml's directory.
    fn resolve(&self, file: &str) -> String {
        let absolute = file.starts_with('/')
            || file.starts_with('\\')
            || matches!(file.get(1..3), Some(":\\") | Some(":/"));
        if absolute || self.base_dir.is_empty() {
            file.to_string()
        } else if self.base_dir.ends_with('/') {
            format!("{}{file}", self.base_dir)
        } else {
            format!("{}/{file}", self.base_dir)
        }
    }

    /// Take the `file` key of `t`, read the file, and parse it as a JSON object.
    fn json_object_file(
        &self,
        path: &KeyPath,
        t: &mut Table,
    ) -> R<(String, serde_json::Map<String, serde_json::Value>)> {
        let fpath = path.key("file");
        let file = match t.remove("file") {
            None => {
                return Err(self.err(path, "`format = \"json\"` needs a `file` key"));
            }
            Some(v) => self.string(&fpath, v)?,
        };
        if file.is_empty() {
            return Err(self.err(&fpath, "the file name is empty"));
        }
        let resolved = self.resolve(&file);
        let text = (self.read_file)(&resolved)
            .map_err(|e| self.err(&fpath, format!("cannot read {resolved}: {e}")))?;
        let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| ConfigError {
            file: resolved.clone(),
            line: Some(e.line()),
            key: None,
            message: format!("invalid JSON (named by `{fpath}` in {}): {e}", self.file),
        })?;
        match json {
            serde_json::Value::Object(map) => Ok((resolved, map)),
            other => Err(ConfigError {
                file: resolved,
                line: None,
                key: None,
                message: format!(
                    "expected a JSON object (named by `{fpath}` in {}), found {}",
                    self.file,
                    json_type_name(&other)
                ),
            }),
        }
    }

    /// `format`: `Some("inline-toml" | "json")`, or `None` when absent.
    fn format(&self, path: &KeyPath, t: &mut Table) -> R<Option<String>> {
        let fpath = path.key("format");
        match t.remove("format") {
            None => Ok(None),
            Some(v) => {
                let f = self.string(&fpath, v)?;
                match f.as_str() {
                    "inline-toml" | "json" => Ok(Some(f)),
                    "" => Err(self.err(
                        &fpath,
                        "the format is empty: use \"inline-toml\" or \"json\"",
                    )),
                    other => Err(self.err(
                        &fpath,
                        format!("unknown format {other:?}: use \"inline-toml\" or \"json\""),
                    )),
                }
            }
        }
    }

    /// `format`, or when it is absent the format the table's keys imply: `inline_key`
    /// means inline-toml, `file` json. Viceroy needs `format`; a table with those keys
    /// and no format is read as the format they imply instead of being ignored.
    fn format_or_implied(
        &self,
        path: &KeyPath,
        t: &mut Table,
        inline_key: &str,
    ) -> R<Option<String>> {
        Ok(match self.format(path, t)? {
            Some(f) => Some(f),
            None if t.contains_key(inline_key) => Some("inline-toml".to_string()),
            None if t.contains_key("file") => Some("json".to_string()),
            None => None,
        })
    }

    /// Take the `key` table of `t` that `format = "inline-toml"` needs (`needs` names it
    /// in the error when it is missing, `what` when it is not a table), with its path.
    fn inline_table(
        &self,
        path: &KeyPath,
        t: &mut Table,
        key: &str,
        needs: &str,
        what: &str,
    ) -> R<(KeyPath, Table)> {
        let kp = path.key(key);
        match t.remove(key) {
            None => Err(self.err(
                path,
                format!("`format = \"inline-toml\"` needs {needs} table"),
            )),
            Some(v) => {
                let table = self.table(&kp, v, what)?;
                Ok((kp, table))
            }
        }
    }

    fn root(&self, mut root: Table) -> R<ServiceConfig> {
        let top = KeyPath::default();
        let mut config = ServiceConfig::default();
        if let Some(v) = root.remove("name") {
            config.name = Some(self.string(&top.key("name"), v)?);
        }
        if let Some(v) = root.remove("manifest_version") {
            let p = top.key("manifest_version");
            match v {
                Value::Integer(n) if n > MAX_MANIFEST_VERSION => {
                    return Err(self.err(
                        &p,
                        format!(
                        "manifest_version {n} is not supported (at most {MAX_MANIFEST_VERSION})"
                    ),
                    ))
                }
                Value::Integer(n) if n >= 0 => {}
                other => return Err(self.expected(&p, "a non-negative integer", &other)),
            }
        }
        if let Some(v) = root.remove("local_server") {
            let p = top.key("local_server");
            let t = self.table(&p, v, "a table")?;
            self.local_server(&p, t, &mut config)?;
        }
        Ok(config)
    }

    fn local_server(&self, path: &KeyPath, t: Table, config: &mut ServiceConfig) -> R<()> {
        for (name, v) in t {
            let p = path.key(&name);
            match name.as_str() {
                "dictionaries" | "config_stores" => {
                    for (store, def) in self.table(&p, v, "a table of stores")? {
                        let sp = p.key(&store);
                        let contents = self.config_store(&sp, def)?;
                        if config.config_stores.contains_key(&store) {
                            return Err(self.err(
                                &sp,
                                format!("config store {store:?} is defined twice (dictionaries and config stores share one namespace)"),
                            ));
                        }
                        config.config_stores.insert(store, contents);
                    }
                }
                "secret_stores" => {
                    for (store, def) in self.table(&p, v, "a table of stores")? {
                        let sp = p.key(&store);
                        let secrets = self.secret_store(&sp, &store, def)?;
                        config.secret_stores.insert(store, secrets);
                    }
                }
                "geolocation" => {
                    let t = self.table(&p, v, "a table")?;
                    config.geolocation = self.geolocation(&p, t)?;
                }
                "device_detection" => {
                    let t = self.table(&p, v, "a table")?;
                    config.device_detection = self.device_detection(&p, t)?;
                }
                "backends" => {
                    for (backend, def) in self.table(&p, v, "a table of backends")? {
                        let bp = p.key(&backend);
                        let b = self.backend(&bp, def)?;
                        config.backends.insert(backend, b);
                    }
                }
                "kv_stores" | "object_stores" | "object_store" => {
                    for (store, def) in self.table(&p, v, "a table of stores")? {
                        if config.kv_stores.contains_key(&store) {
                            return Err(self.err(
                                &p.key(&store),
                                format!("KV store {store:?} is defined twice"),
                            ));
                        }
                        config.kv_stores.insert(store, def);
                    }
                }
                "acls" => {
                    for (acl, def) in self.table(&p, v, "a table of ACLs")? {
                        config.acls.insert(acl, def);
                    }
                }
                "fake_valid_fastly_keys" => {
                    let Value::Array(items) = v else {
                        return Err(self.expected(&p, "an array of strings", &v));
                    };
                    for (i, item) in items.into_iter().enumerate() {
                        let key = self.string(&p.index(i), item)?;
                        config.fake_valid_fastly_keys.push(key);
                    }
                }
                // Viceroy ignores keys it does not know; so do we (shielding_sites, ...
                // belong to other parts of the runner).
                _ => {}
            }
        }
        Ok(())
    }

    fn config_store(&self, path: &KeyPath, v: Value) -> R<BTreeMap<String, String>> {
        let mut t = self.table(
            path,
            v,
            "a table with `format = \"inline-toml\"` and `contents`, or `format = \"json\"` and `file`",
        )?;
        let contents = match self.format(path, &mut t)?.as_deref() {
            None => return Err(self.err(
                path,
                "missing `format`: use \"inline-toml\" (with `contents`) or \"json\" (with `file`)",
            )),
            Some("inline-toml") => {
                let (cp, raw) = self.inline_table(
                    path,
                    &mut t,
                    "contents",
                    "a `contents`",
                    "a table of strings",
                )?;
                let mut contents = BTreeMap::new();
                for (k, v) in raw {
                    let value = self.string(&cp.key(&k), v)?;
                    contents.insert(k, value);
                }
                self.check_limits(&cp, &contents, None)?;
                contents
            }
            Some(_) => {
                let (file, map) = self.json_object_file(path, &mut t)?;
                let mut contents = BTreeMap::new();
                for (k, v) in map {
                    match v {
                        serde_json::Value::String(s) => {
                            contents.insert(k, s);
                        }
                        other => {
                            return Err(ConfigError {
                                file,
                                line: None,
                                key: Some(k),
                                message: format!(
                                    "config store values must be strings, found {}",
                                    json_type_name(&other)
                                ),
                            })
                        }
                    }
                }
                self.check_limits(path, &contents, Some(&file))?;
                contents
            }
        };
        self.no_other_keys(path, &t)?;
        Ok(contents)
    }

    fn check_limits(
        &self,
        path: &KeyPath,
        contents: &BTreeMap<String, String>,
        json_file: Option<&str>,
    ) -> R<()> {
        for (k, v) in contents {
            let problem = if k.chars().count() > CONFIG_KEY_MAX_CHARS {
                format!("key {k:?} is longer than {CONFIG_KEY_MAX_CHARS} characters")
            } else if v.chars().count() > CONFIG_VALUE_MAX_CHARS {
                format!("the value of {k:?} is longer than {CONFIG_VALUE_MAX_CHARS} characters")
            } else {
                continue;
            };
            return Err(match json_file {
                Some(file) => ConfigError {
                    file: file.to_string(),
                    line: None,
                    key: Some(k.clone()),
                    message: problem,
                },
                None => self.err(&path.key(k), problem),
            });
        }
        Ok(())
    }

    fn secret_store(&self, path: &KeyPath, store: &str, v: Value) -> R<BTreeMap<String, Vec<u8>>> {
        if !is_valid_secret_name(store) {
            return Err(self.err(
                path,
                format!("invalid secret store name {store:?}: use letters, digits, '-', '_' and '.', at most 255 bytes"),
            ));
        }
        let mut secrets = BTreeMap::new();
        match v {
            Value::Table(mut t) => {
                match (t.contains_key("file"), t.contains_key("format")) {
                    (true, true) => {}
                    (false, false) => {
                        return Err(self.err(
                            path,
                            "expected an array of {key, data|file|env} tables, or a table with `file` and `format = \"json\"`",
                        ))
                    }
                    _ => {
                        return Err(self.err(
                            path,
                            "`file` and `format` go together: set both, or use an array of secrets",
                        ))
                    }
                }
                let fpath = path.key("format");
                let format = self.string(&fpath, t.remove("format").unwrap_or(Value::Boolean(false)))?;
                if format != "json" {
                    return Err(self.err(&fpath, format!("unknown format {format:?}: secret store files are \"json\"")));
                }
                let (file, map) = self.json_object_file(path, &mut t)?;
                for (k, v) in map {
                    let serde_json::Value::String(s) = v else {
                        return Err(ConfigError {
                            file,
                            line: None,
                            key: Some(k),
                            message: format!("secrets must be strings, found {}", json_type_name(&v)),
                        });
                    };
                    if !is_valid_secret_name(&k) {
                        return Err(ConfigError {
                            file,
                            line: None,
                            key: Some(k.clone()),
                            message: format!("invalid secret name {k:?}: use letters, digits, '-', '_' and '.', at most 255 bytes"),
                        });
                    }
                    secrets.insert(k, s.into_bytes());
                }
                self.no_other_keys(path, &t)?;
            }
            Value::Array(items) => {
                for (i, item) in items.into_iter().enumerate() {
                    let ip = path.index(i);
                    let mut t = self.table(&ip, item, "a table with `key` and one of `data`, `file`, `env`")?;
                    let key = match t.remove("key") {
                        None => return Err(self.err(&ip, "missing `key`")),
                        Some(v) => self.string(&ip.key("key"), v)?,
                    };
                    if !is_valid_secret_name(&key) {
                        return Err(self.err(
                            &ip.key("key"),
                            format!("invalid secret name {key:?}: use letters, digits, '-', '_' and '.', at most 255 bytes"),
                        ));
                    }
                    let sources: Vec<(String, Value)> = ["data", "file", "env"]
                        .iter()
                        .filter_map(|k| t.remove(*k).map(|v| (k.to_string(), v)))
                        .collect();
                    let mut sources = sources.into_iter();
                    let (kind, v) = match (sources.next(), sources.next()) {
                        (Some(one), None) => one,
                        (None, _) => {
                            return Err(self.err(&ip, format!("secret {key:?} needs one of `data`, `file` or `env`")))
                        }
                        (Some(_), Some(_)) => {
                            return Err(self.err(&ip, format!("secret {key:?} has more than one of `data`, `file` and `env`")))
                        }
                    };
                    let sp = ip.key(&kind);
                    let text = self.string(&sp, v)?;
                    let bytes = match kind.as_str() {
                        "data" => text.into_bytes(),
                        "file" => {
                            let resolved = self.resolve(&text);
                            (self.read_file)(&resolved)
                                .map_err(|e| self.err(&sp, format!("cannot read {resolved}: {e}")))?
                                .into_bytes()
                        }
                        _ => (self.read_env)(&text).unwrap_or_default().into_bytes(),
                    };
                    self.no_other_keys(&ip, &t)?;
                    secrets.insert(key, bytes);
                }
            }
            other => {
                return Err(self.expected(
                    path,
                    "an array of {key, data|file|env} tables, or a table with `file` and `format = \"json\"`",
                    &other,
                ))
            }
        }
        Ok(secrets)
    }

    fn geolocation(&self, path: &KeyPath, mut t: Table) -> R<GeoConfig> {
        let mut geo = GeoConfig::default();
        if let Some(v) = t.remove("use_default_loopback") {
            geo.use_default_loopback = match v {
                Value::Boolean(b) => b,
                other => {
                    return Err(self.expected(
                        &path.key("use_default_loopback"),
                        "a boolean",
                        &other,
                    ))
                }
            };
        }
        match self
            .format_or_implied(path, &mut t, "addresses")?
            .as_deref()
        {
            None => {}
            Some("inline-toml") => {
                let (ap, raw) = self.inline_table(
                    path,
                    &mut t,
                    "addresses",
                    "an `addresses`",
                    "a table of addresses",
                )?;
                for (addr, rec) in raw {
                    let rp = ap.key(&addr);
                    let ip: IpAddr = addr
                        .parse()
                        .map_err(|_| self.err(&rp, format!("{addr:?} is not an IP address")))?;
                    let fields = self.table(&rp, rec, "a table of fields")?;
                    let mut obj = serde_json::Map::new();
                    for (field, v) in fields {
                        let json = scalar_to_json(&v).ok_or_else(|| {
                            self.expected(&rp.key(&field), "a string, number or boolean", &v)
                        })?;
                        obj.insert(field, json);
                    }
                    geo.addresses.insert(ip, serde_json::Value::Object(obj));
                }
            }
            Some(_) => {
                let (file, map) = self.json_object_file(path, &mut t)?;
                for (addr, rec) in map {
                    let bad = |message: String| ConfigError {
                        file: file.clone(),
                        line: None,
                        key: Some(addr.clone()),
                        message,
                    };
                    let ip: IpAddr = addr
                        .parse()
                        .map_err(|_| bad(format!("{addr:?} is not an IP address")))?;
                    if !rec.is_object() {
                        return Err(bad(format!(
                            "expected an object, found {}",
                            json_type_name(&rec)
                        )));
                    }
                    geo.addresses.insert(ip, rec);
                }
            }
        }
        self.no_other_keys(path, &t)?;
        Ok(geo)
    }

    fn device_detection(
        &self,
        path: &KeyPath,
        mut t: Table,
    ) -> R<BTreeMap<String, serde_json::Value>> {
        let mut out = BTreeMap::new();
        match self
            .format_or_implied(path, &mut t, "user_agents")?
            .as_deref()
        {
            None => {}
            Some("inline-toml") => {
                let (up, raw) = self.inline_table(
                    path,
                    &mut t,
                    "user_agents",
                    "a `user_agents`",
                    "a table of user agents",
                )?;
                for (ua, rec) in raw {
                    let rp = up.key(&ua);
                    let fields = self.table(&rp, rec, "a table")?;
                    let json = self.toml_table_to_json(&rp, fields)?;
                    out.insert(ua, json);
                }
            }
            Some(_) => {
                let (file, map) = self.json_object_file(path, &mut t)?;
                for (ua, rec) in map {
                    if !rec.is_object() {
                        return Err(ConfigError {
                            file,
                            line: None,
                            key: Some(ua),
                            message: format!("expected an object, found {}", json_type_name(&rec)),
                        });
                    }
                    out.insert(ua, rec);
                }
            }
        }
        self.no_other_keys(path, &t)?;
        Ok(out)
    }

    /// A table of scalars and tables as a JSON object (device detection records).
    fn toml_table_to_json(&self, path: &KeyPath, t: Table) -> R<serde_json::Value> {
        let mut obj = serde_json::Map::new();
        for (k, v) in t {
            let p = path.key(&k);
            let json = match v {
                Value::Table(inner) => self.toml_table_to_json(&p, inner)?,
                other => scalar_to_json(&other).ok_or_else(|| {
                    self.expected(&p, "a string, number, boolean or table", &other)
                })?,
            };
            obj.insert(k, json);
        }
        Ok(serde_json::Value::Object(obj))
    }

    fn backend(&self, path: &KeyPath, v: Value) -> R<BackendConfig> {
        let mut t = self.table(path, v, "a table with a `url`")?;
        let mock = match t.remove("mock") {
            None => None,
            Some(v) => Some(self.mock(&path.key("mock"), v)?),
        };
        let url = match t.remove("url") {
            None if mock.is_some() => String::new(),
            None => return Err(self.err(path, "missing `url`")),
            Some(v) => self.string(&path.key("url"), v)?,
        };
        if !url.is_empty() {
            if let Err(e) = crate::backends::check_backend_url(&url) {
                return Err(self.err(&path.key("url"), e));
            }
        }
        let mut b = BackendConfig {
            url,
            mock,
            ..BackendConfig::default()
        };
        let non_empty = |key: &str, v: Value| -> R<String> {
            let p = path.key(key);
            let s = self.string(&p, v)?;
            if s.trim().is_empty() {
                Err(self.err(&p, "must not be empty"))
            } else {
                Ok(s)
            }
        };
        if let Some(v) = t.remove("override_host") {
            let host = non_empty("override_host", v)?;
            if http::HeaderValue::from_str(&host).is_err() {
                return Err(self.err(&path.key("override_host"), "not a valid Host header value"));
            }
            b.override_host = Some(host);
        }
        if let Some(v) = t.remove("cert_host") {
            b.cert_host = Some(non_empty("cert_host", v)?);
        }
        if let Some(v) = t.remove("use_sni") {
            b.use_sni = Some(match v {
                Value::Boolean(x) => x,
                other => return Err(self.expected(&path.key("use_sni"), "a boolean", &other)),
            });
        }
        let ms = |key: &str, v: Value| -> R<u32> {
            match v {
                Value::Integer(n) => u32::try_from(n).map_err(|_| {
                    self.err(
                        &path.key(key),
                        format!("{n} is not a timeout in milliseconds (0 to {})", u32::MAX),
                    )
                }),
                other => Err(self.expected(&path.key(key), "an integer (milliseconds)", &other)),
            }
        };
        if let Some(v) = t.remove("connect_timeout_ms") {
            b.connect_timeout_ms = Some(ms("connect_timeout_ms", v)?);
        }
        if let Some(v) = t.remove("first_byte_timeout_ms") {
            b.first_byte_timeout_ms = Some(ms("first_byte_timeout_ms", v)?);
        }
        if let Some(v) = t.remove("between_bytes_timeout_ms") {
            b.between_bytes_timeout_ms = Some(ms("between_bytes_timeout_ms", v)?);
        }
        if let Some(v) = t.remove("health") {
            let p = path.key("health");
            let h = self.string(&p, v)?;
            b.health = Some(match h.to_ascii_lowercase().as_str() {
                "unknown" => BackendHealth::Unknown,
                "healthy" => BackendHealth::Healthy,
                "unhealthy" => BackendHealth::Unhealthy,
                _ => {
                    return Err(self.err(
                        &p,
                        format!(
                            "unknown health {h:?}: use \"healthy\", \"unhealthy\" or \"unknown\""
                        ),
                    ))
                }
            });
        }
        if let Some(v) = t.remove("reachable_percent") {
            let p = path.key("reachable_percent");
            b.reachable_percent = Some(match v {
                Value::Integer(n) if (0..=100).contains(&n) => n as u8,
                Value::Integer(n) => {
                    return Err(self.err(&p, format!("{n} is not a percentage (0 to 100)")))
                }
                other => return Err(self.expected(&p, "an integer from 0 to 100", &other)),
            });
        }
        // Keys Viceroy accepts that edgeplay keeps but does not act on yet; anything else
        // is a mistake (a misspelt timeout would silently do nothing), as in Viceroy.
        const KEPT: &[&str] = &["client_certificate", "ca_certificate", "grpc"];
        if let Some(unknown) = t.keys().find(|k| !KEPT.contains(&k.as_str())) {
            return Err(self.err(
                &path.key(unknown),
                format!(
                    "unknown backend key `{unknown}`; backends take url, override_host, cert_host, use_sni, connect_timeout_ms, first_byte_timeout_ms, between_bytes_timeout_ms, health, reachable_percent, mock, {}",
                    KEPT.join(", ")
                ),
            ));
        }
        b.extra = t.into_iter().collect();
        Ok(b)
    }

    /// `mock = "echo"` or `mock = { status, headers, body, delay_ms }` / `{ echo = true, delay_ms }`.
    fn mock(&self, path: &KeyPath, v: Value) -> R<MockConfig> {
        let mut t = match v {
            Value::String(s) if s == "echo" => {
                return Ok(MockConfig {
                    echo: true,
                    ..MockConfig::default()
                })
            }
            Value::String(s) => {
                return Err(self.err(
                    path,
                    format!("unknown mock {s:?}: use \"echo\" or a table like {{ status = 200, body = \"...\" }}"),
                ))
            }
            Value::Table(t) => t,
            other => {
                return Err(self.expected(
                    path,
                    "\"echo\" or a table with `status`, `headers`, `body`, `delay_ms`",
                    &other,
                ))
            }
        };
        let mut m = MockConfig::default();
        if let Some(v) = t.remove("echo") {
            m.echo = match v {
                Value::Boolean(b) => b,
                other => return Err(self.expected(&path.key("echo"), "a boolean", &other)),
            };
        }
        if let Some(v) = t.remove("delay_ms") {
            let p = path.key("delay_ms");
            m.delay_ms = match v {
                Value::Integer(n) => u32::try_from(n).map_err(|_| {
                    self.err(
                        &p,
                        format!("{n} is not a delay in milliseconds (0 to {})", u32::MAX),
                    )
                })?,
                other => return Err(self.expected(&p, "an integer (milliseconds)", &other)),
            };
        }
        if let Some(v) = t.remove("status") {
            let p = path.key("status");
            m.status = match v {
                Value::Integer(n) if (100..=999).contains(&n) => n as u16,
                Value::Integer(n) => {
                    return Err(self.err(&p, format!("{n} is not a status code (100 to 999)")))
                }
                other => return Err(self.expected(&p, "an integer status code", &other)),
            };
        }
        if let Some(v) = t.remove("headers") {
            let p = path.key("headers");
            for (name, value) in self.table(&p, v, "a table of header names to strings")? {
                let hp = p.key(&name);
                if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                    return Err(self.err(&hp, format!("{name:?} is not a valid header name")));
                }
                let values = match value {
                    Value::String(s) => vec![s],
                    Value::Array(items) => {
                        let mut out = Vec::new();
                        for (i, item) in items.into_iter().enumerate() {
                            out.push(self.string(&hp.index(i), item)?);
                        }
                        out
                    }
                    other => {
                        return Err(self.expected(&hp, "a string or an array of strings", &other))
                    }
                };
                for value in values {
                    if http::HeaderValue::from_str(&value).is_err() {
                        return Err(self.err(&hp, "not a valid header value"));
                    }
                    m.headers.push((name.to_ascii_lowercase(), value));
                }
            }
        }
        if let Some(v) = t.remove("body") {
            m.body = self.string(&path.key("body"), v)?;
        }
        if m.echo && (m.status != 200 || !m.headers.is_empty() || !m.body.is_empty()) {
            return Err(self.err(
                path,
                "an echo mock answers with the request: it takes no `status`, `headers` or `body`",
            ));
        }
        self.no_other_keys(path, &t)?;
        Ok(m)
    }
}

/// A TOML scalar as JSON (`None` for arrays, tables, date-times, and NaN/infinite floats).
fn scalar_to_json(v: &Value) -> Option<serde_json::Value> {
    Some(match v {
        Value::String(s) => serde_json::Value::String(s.clone()),
        Value::Integer(i) => serde_json::Value::Number((*i).into()),
        Value::Float(f) => serde_json::Value::Number(serde_json::Number::from_f64(*f)?),
        Value::Boolean(b) => serde_json::Value::Bool(*b),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn files(list: &[(&str, &str)]) -> HashMap<String, String> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn parse_with(text: &str, fs: &HashMap<String, String>) -> Result<ServiceConfig, ConfigError> {
        let read = |p: &str| fs.get(p).cloned().ok_or_else(|| "no such file".to_string());
        let env = |v: &str| (v == "MY_SECRET_VAR").then(|| "from-env".to_string());
        ServiceConfig::from_toml_str_with_env(text, "proj/fastly.toml", &read, &env)
    }

    fn parse(text: &str) -> Result<ServiceConfig, ConfigError> {
        parse_with(text, &HashMap::new())
    }

    fn err(text: &str) -> ConfigError {
        parse(text).expect_err("config should be rejected")
    }

    #[test]
    fn empty_and_package_only_configs_parse() {
        assert_eq!(parse("").unwrap(), ServiceConfig::default());
        let c = parse("name = \"app\"\nmanifest_version = 3\nlanguage = \"rust\"\n").unwrap();
        assert_eq!(c.name.as_deref(), Some("app"));
        assert!(c.geolocation.use_default_loopback);
    }

    #[test]
    fn config_stores_and_dictionaries_inline_and_json() {
        let fs = files(&[(
            "proj/data/animals.json",
            r#"{"cat": "meow", "dog": "woof"}"#,
        )]);
        let c = parse_with(
            r#"
[local_server.config_stores.settings]
format = "inline-toml"
[local_server.config_stores.settings.contents]
greeting = "hello"
"dotted.key" = "x"

[local_server.dictionaries.animals]
file = "data/animals.json"
format = "json"
"#,
            &fs,
        )
        .unwrap();
        assert_eq!(c.config_stores["settings"]["greeting"], "hello");
        assert_eq!(c.config_stores["settings"]["dotted.key"], "x");
        assert_eq!(c.config_stores["animals"]["dog"], "woof");
    }

    #[test]
    fn absolute_file_paths_are_kept() {
        let fs = files(&[("/abs/d.json", r#"{"a": "b"}"#)]);
        let c = parse_with(
            "[local_server.config_stores.d]\nformat = \"json\"\nfile = \"/abs/d.json\"\n",
            &fs,
        )
        .unwrap();
        assert_eq!(c.config_stores["d"]["a"], "b");
    }

    #[test]
    fn secret_stores_every_shape() {
        let fs = files(&[
            ("proj/secret.txt", "file-secret"),
            ("proj/secrets.json", r#"{"first": "one", "second": "two"}"#),
        ]);
        let c = parse_with(
            r#"
[local_server]
secret_stores.store_one = [
  {key = "inline", data = "This is some data"},
  {key = "from-file", file = "secret.txt"},
  {key = "from-env", env = "MY_SECRET_VAR"},
  {key = "unset-env", env = "NOT_SET"},
]
secret_stores.store_two = {file = "secrets.json", format = "json"}
"#,
            &fs,
        )
        .unwrap();
        let one = &c.secret_stores["store_one"];
        assert_eq!(one["inline"], b"This is some data");
        assert_eq!(one["from-file"], b"file-secret");
        assert_eq!(one["from-env"], b"from-env");
        assert_eq!(one["unset-env"], b"");
        assert_eq!(c.secret_stores["store_two"]["second"], b"two");
    }

    #[test]
    fn geolocation_inline_json_and_default() {
        let c = parse(
            r#"
[local_server.geolocation]
use_default_loopback = false
format = "inline-toml"
[local_server.geolocation.addresses."127.0.0.1"]
city = "Test City"
as_number = 12345
latitude = 12.345
[local_server.geolocation.addresses."0000:0000:0000:0000:0000:0000:0000:0001"]
city = "Test City IPv6"
"#,
        )
        .unwrap();
        assert!(!c.geolocation.use_default_loopback);
        let v4: IpAddr = "127.0.0.1".parse().unwrap();
        let rec = c.geolocation.lookup(&v4).unwrap();
        assert_eq!(rec["city"], "Test City");
        assert_eq!(rec["as_number"], 12345);
        let v6: IpAddr = "::1".parse().unwrap();
        assert_eq!(c.geolocation.lookup(&v6).unwrap()["city"], "Test City IPv6");
        assert_eq!(c.geolocation.lookup(&"127.0.0.2".parse().unwrap()), None);

        let fs = files(&[("proj/geo.json", r#"{"10.0.0.1": {"city": "Ten"}}"#)]);
        let c = parse_with(
            "[local_server.geolocation]\nformat = \"json\"\nfile = \"geo.json\"\n",
            &fs,
        )
        .unwrap();
        assert_eq!(
            c.geolocation.lookup(&"10.0.0.1".parse().unwrap()).unwrap()["city"],
            "Ten"
        );
        // Default loopback stays on.
        assert_eq!(c.geolocation.lookup(&v4).unwrap()["as_number"], 54113);
        assert_eq!(c.geolocation.lookup(&"192.0.2.1".parse().unwrap()), None);
    }

    #[test]
    fn device_detection_inline_and_json() {
        let c = parse(
            r#"
[local_server.device_detection]
format = "inline-toml"
[local_server.device_detection.user_agents."Mozilla/5.0 (iPhone)"]
user_agent = {}
os = {}
device = {name = "iPhone", brand = "Apple", is_mobile = true}
"#,
        )
        .unwrap();
        let rec = &c.device_detection["Mozilla/5.0 (iPhone)"];
        assert_eq!(rec["device"]["brand"], "Apple");
        assert_eq!(rec["device"]["is_mobile"], true);

        let fs = files(&[("proj/dd.json", r#"{"ua": {"device": {"name": "X"}}}"#)]);
        let c = parse_with(
            "[local_server.device_detection]\nformat = \"json\"\nfile = \"dd.json\"\n",
            &fs,
        )
        .unwrap();
        assert_eq!(c.device_detection["ua"]["device"]["name"], "X");
    }

    #[test]
    fn backends_kv_stores_and_acls() {
        let c = parse(
            r#"
[local_server.backends.origin]
url = "http://127.0.0.1:8080/"
override_host = "example.com"
cert_host = "example.com"
use_sni = false
first_byte_timeout_ms = 5000
between_bytes_timeout_ms = 1000
connect_timeout_ms = 250
grpc = true

[local_server.backends."shark.server"]
url = "https://example.org"

[local_server.kv_stores]
store_one = [{key = "first", data = "This is some data"}]
[local_server.object_stores]
store_two = {file = "kv.json", format = "json"}

[local_server.acls]
my_acl = "acl.json"
"#,
        )
        .unwrap();
        let o = &c.backends["origin"];
        assert_eq!(o.url, "http://127.0.0.1:8080/");
        assert_eq!(o.override_host.as_deref(), Some("example.com"));
        assert_eq!(o.use_sni, Some(false));
        assert_eq!(o.first_byte_timeout_ms, Some(5000));
        assert_eq!(o.connect_timeout_ms, Some(250));
        assert_eq!(o.extra["grpc"], Value::Boolean(true));
        assert_eq!(c.backends["shark.server"].url, "https://example.org");
        assert!(c.kv_stores.contains_key("store_one"));
        assert!(c.kv_stores.contains_key("store_two"));
        assert_eq!(c.acls["my_acl"], Value::String("acl.json".into()));
    }

    #[test]
    fn malformed_toml_names_file_and_line() {
        let e = err("name = \"x\"\n[local_server\nfoo = 1\n");
        assert_eq!(e.file, "proj/fastly.toml");
        assert_eq!(e.line, Some(2));
        let shown = e.to_string();
        assert!(
            shown.starts_with("proj/fastly.toml, line 2: invalid TOML"),
            "{shown}"
        );
    }

    #[test]
    fn wrong_types_name_file_key_and_line() {
        let e = err(
            "name = \"x\"\n\n[local_server.config_stores.settings]\nformat = \"inline-toml\"\ncontents = \"oops\"\n",
        );
        assert_eq!(
            e.key.as_deref(),
            Some("local_server.config_stores.settings.contents")
        );
        assert_eq!(e.line, Some(5));
        assert_eq!(
            e.to_string(),
            "proj/fastly.toml, line 5, key `local_server.config_stores.settings.contents`: expected a table of strings, found a string"
        );

        let e = err("[local_server.config_stores.s]\nformat = \"inline-toml\"\n[local_server.config_stores.s.contents]\na = \"ok\"\nb = 2\n");
        assert_eq!(
            e.key.as_deref(),
            Some("local_server.config_stores.s.contents.b")
        );
        assert_eq!(e.line, Some(5));

        let e = err("[local_server.backends.\"my.origin\"]\nurl = 5\n");
        assert_eq!(
            e.key.as_deref(),
            Some("local_server.backends.\"my.origin\".url")
        );
        assert_eq!(e.line, Some(2));

        let e = err("[local_server.backends.o]\nurl = \"http://x/\"\nfirst_byte_timeout_ms = -1\n");
        assert_eq!(e.line, Some(3));

        let e = err("[local_server.geolocation]\nuse_default_loopback = \"yes\"\n");
        assert_eq!(
            e.key.as_deref(),
            Some("local_server.geolocation.use_default_loopback")
        );
        assert_eq!(e.line, Some(2));

        let e = err("[local_server]\nsecret_stores.s = [{key = \"a\"}]\n");
        assert_eq!(e.key.as_deref(), Some("local_server.secret_stores.s[0]"));
        assert_eq!(e.line, Some(2));
        assert!(e.message.contains("needs one of"), "{}", e.message);

        let e = err("[local_server]\nsecret_stores.s = 1\n");
        assert_eq!(e.line, Some(2));

        let e = err("[local_server.config_stores.s]\nformat = \"yaml\"\n");
        assert_eq!(
            e.key.as_deref(),
            Some("local_server.config_stores.s.format")
        );
        assert!(e.message.contains("unknown format"));

        let e = err(
            "[local_server.config_stores.s]\nformat = \"inline-toml\"\ncontents = {}\nextra = 1\n",
        );
        assert_eq!(e.key.as_deref(), Some("local_server.config_stores.s.extra"));
        assert_eq!(e.line, Some(4));

        let e = err("[local_server.geolocation]\nformat = \"inline-toml\"\n[local_server.geolocation.addresses.\"not-an-ip\"]\ncity = \"x\"\n");
        assert!(e.message.contains("not an IP address"));
        assert_eq!(e.line, Some(3));

        let e = err("manifest_version = 9\n");
        assert_eq!(e.line, Some(1));
    }

    #[test]
    fn referenced_files_report_their_own_errors() {
        let e = err("[local_server.config_stores.a]\nformat = \"json\"\nfile = \"missing.json\"\n");
        assert_eq!(e.file, "proj/fastly.toml");
        assert_eq!(e.line, Some(3));
        assert!(
            e.message.contains("cannot read proj/missing.json"),
            "{}",
            e.message
        );

        let fs = files(&[("proj/bad.json", "{\n  \"a\": \"b\",\n  oops\n}")]);
        let e = parse_with(
            "[local_server.config_stores.a]\nformat = \"json\"\nfile = \"bad.json\"\n",
            &fs,
        )
        .unwrap_err();
        assert_eq!(e.file, "proj/bad.json");
        assert_eq!(e.line, Some(3));
        assert!(
            e.message.contains("local_server.config_stores.a.file"),
            "{}",
            e.message
        );

        let fs = files(&[("proj/nums.json", r#"{"a": 1}"#)]);
        let e = parse_with(
            "[local_server.config_stores.a]\nformat = \"json\"\nfile = \"nums.json\"\n",
            &fs,
        )
        .unwrap_err();
        assert_eq!(e.file, "proj/nums.json");
        assert_eq!(e.key.as_deref(), Some("a"));
    }

    #[test]
    fn limits_and_names_are_checked() {
        let long = "x".repeat(CONFIG_VALUE_MAX_CHARS + 1);
        let e = err(&format!(
            "[local_server.config_stores.s]\nformat = \"inline-toml\"\ncontents = {{ k = \"{long}\" }}\n"
        ));
        assert!(e.message.contains("longer than 8000"));
        let e = err("[local_server]\nsecret_stores.\"bad name\" = []\n");
        assert!(e.message.contains("invalid secret store name"));
        let e = err("[local_server.config_stores.a]\nformat = \"inline-toml\"\ncontents = {}\n[local_server.dictionaries.a]\nformat = \"inline-toml\"\ncontents = {}\n");
        assert!(e.message.contains("defined twice"));
    }
}
