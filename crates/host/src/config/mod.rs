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
//!   `use_sni`, `grpc`, the timeouts, `health` (Viceroy's `"healthy"`/`"unhealthy"`/`"unknown"`),
//!   and three edgeplay extensions, `mock`, `reachable_percent` and `ca_certificate` (see
//!   [`BackendConfig`]); other keys are kept in [`BackendConfig::extra`].
//! - `fake_valid_fastly_keys`: Viceroy's list of Fastly API keys that
//!   `fastly_key_is_valid` accepts in a request's `fastly-key` header.
//! - `kv_stores` / `object_stores` / `object_store` (one namespace): an array of `{key,
//!   data|file, metadata}` tables, or `{file, format = "json"}` (a JSON object of key →
//!   string, or key → `{data|file, metadata}`); see [`KvStoreConfig`]. Keys follow the
//!   platform's rules ([`check_kv_key`]).
//! - `shielding_sites`: shield POP name → `"Local"` or `{unencrypted, encrypted}`
//!   URLs (Viceroy's table); see [`ShieldingSite`].
//! - `ngwaf` (an edgeplay extension): the Next-Gen WAF's verdicts, a default and
//!   rules; see [`NgwafConfig`].
//! - `acls`: a JSON file name, `{file}`, or (an edgeplay extension, for the browser
//!   tab) `{entries = [{prefix, action}, ...]}`; the JSON is Fastly's ACL format, `{
//!   "entries": [{"prefix": "192.168.0.0/16", "action": "BLOCK"}] }`; see [`AclConfig`].
//!
//! Files named by `file` are read through the caller's reader (the core has no file
//! system), relative to the directory of the `fastly.toml` (Viceroy reads them
//! relative to its working directory, which is that directory when the Fastly CLI
//! starts it). Every error names the file, the key and the line.
//!
//! The parsers live beside each other, one file per table, as in Viceroy's
//! `lib/src/config/`: `parse` (the error type, key paths, spans and file reading they
//! share), `backends`, `stores` (config and secret stores), `geo`,
//! `device_detection`, `kv_stores`, `acls`, `shielding`, `ngwaf`. This module is the bottom layer of the
//! crate: it uses no other part of it (the backend URL check and Fastlike's
//! `--backend` flag, [`check_backend_url`] and [`parse_backend_flag`], live here for
//! that reason), so every other part can use it.

mod acls;
mod backends;
mod device_detection;
mod geo;
mod kv_stores;
mod ngwaf;
mod parse;
mod shielding;
mod stores;
#[cfg(test)]
mod testing;

pub use acls::{AclConfig, AclEntry, IpPrefix};
pub use backends::{
    check_backend_url, parse_backend_flag, split_url, BackendConfig, BackendHealth, MockConfig,
    UrlParts,
};
pub use geo::{default_geo_record, GeoConfig};
pub use kv_stores::{check_kv_key, KvEntryConfig, KvStoreConfig, KV_KEY_MAX_BYTES};
pub use ngwaf::{NgwafConfig, NgwafRule, NgwafVerdict};
pub use parse::ConfigError;
pub use shielding::ShieldingSite;
pub use stores::{CONFIG_KEY_MAX_CHARS, CONFIG_VALUE_MAX_CHARS};

use parse::{base_dir, line_at, KeyPath, Parser, R};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use toml::de::DeTable;
use toml::{Table, Value};

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
    /// KV stores by name (`kv_stores`, or Viceroy's older `object_stores` / `object_store`).
    pub kv_stores: BTreeMap<String, KvStoreConfig>,
    /// ACLs by name.
    pub acls: BTreeMap<String, AclConfig>,
    /// Fastly API keys `fastly_key_is_valid` accepts (Viceroy's `fake_valid_fastly_keys`).
    pub fake_valid_fastly_keys: Vec<String>,
    /// The cache's bounds (`[local_server.cache]`, an edgeplay extension).
    pub cache: CacheConfig,
    /// Shield POPs by name (`[local_server.shielding_sites]`, Viceroy's table).
    #[serde(default)]
    pub shielding_sites: BTreeMap<String, ShieldingSite>,
    /// The Next-Gen WAF's rules (`[local_server.ngwaf]`, an edgeplay extension).
    #[serde(default)]
    pub ngwaf: NgwafConfig,
}

/// `[local_server.cache]` (edgeplay's own table; Viceroy has no cache): how big the
/// service's cache may grow before the least recently used objects are evicted, and
/// whether the service has the HTTP cache API enabled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CacheConfig {
    /// Objects at most (`max_entries`, default 20,000).
    pub max_entries: usize,
    /// Body bytes at most over all objects (`max_bytes`, default 512 MiB).
    pub max_bytes: u64,
    /// `http_cache_api` (default true, as on the platform):
    /// `fastly_http_cache.is_request_cacheable` answers, so the Rust SDK caches on the
    /// guest side (`send` runs the HTTP cache transaction and its hooks). `false`
    /// emulates a service without the API: it answers UNSUPPORTED and the SDKs leave
    /// caching to the host's readthrough cache.
    pub http_cache_api: bool,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            max_entries: 20_000,
            max_bytes: 512 * 1024 * 1024,
            http_cache_api: true,
        }
    }
}

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

impl Parser<'_> {
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
                        let sp = p.key(&store);
                        if store.is_empty() {
                            return Err(self.err(&sp, "the KV store name is empty"));
                        }
                        if config.kv_stores.contains_key(&store) {
                            return Err(self.err(
                                &sp,
                                format!("KV store {store:?} is defined twice (kv_stores, object_stores and object_store share one namespace)"),
                            ));
                        }
                        let kv = self.kv_store(&sp, def)?;
                        config.kv_stores.insert(store, kv);
                    }
                }
                "acls" => {
                    for (name, def) in self.table(&p, v, "a table of ACLs")? {
                        let ap = p.key(&name);
                        if name.is_empty() {
                            return Err(self.err(&ap, "the ACL name is empty"));
                        }
                        let acl = self.acl(&ap, def)?;
                        config.acls.insert(name, acl);
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
                "cache" => {
                    let t = self.table(&p, v, "a table")?;
                    config.cache = self.cache(&p, t)?;
                }
                "shielding_sites" => {
                    for (site, def) in self.table(&p, v, "a table of shielding sites")? {
                        let sp = p.key(&site);
                        let s = self.shielding_site(&sp, def)?;
                        config.shielding_sites.insert(site, s);
                    }
                }
                "ngwaf" => {
                    let t = self.table(&p, v, "a table")?;
                    config.ngwaf = self.ngwaf(&p, t)?;
                }
                // Viceroy ignores keys it does not know; so do we.
                _ => {}
            }
        }
        Ok(())
    }

    fn cache(&self, path: &KeyPath, t: Table) -> R<CacheConfig> {
        let mut c = CacheConfig::default();
        for (name, v) in t {
            let p = path.key(&name);
            if name == "http_cache_api" {
                c.http_cache_api = match v {
                    Value::Boolean(b) => b,
                    other => return Err(self.expected(&p, "true or false", &other)),
                };
                continue;
            }
            let n = match v {
                Value::Integer(n) if n > 0 => n as u64,
                other => return Err(self.expected(&p, "a positive integer", &other)),
            };
            match name.as_str() {
                "max_entries" => c.max_entries = usize::try_from(n).unwrap_or(usize::MAX),
                "max_bytes" => c.max_bytes = n,
                _ => {
                    return Err(self.err(
                        &p,
                        format!(
                        "unknown key {name:?} (expected max_entries, max_bytes or http_cache_api)"
                    ),
                    ))
                }
            }
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{err, files, parse, parse_with};
    use super::*;

    #[test]
    fn empty_and_package_only_configs_parse() {
        assert_eq!(parse("").unwrap(), ServiceConfig::default());
        let c = parse("name = \"app\"\nmanifest_version = 3\nlanguage = \"rust\"\n").unwrap();
        assert_eq!(c.name.as_deref(), Some("app"));
        assert!(c.geolocation.use_default_loopback);
    }

    #[test]
    fn the_cache_table_bounds_the_cache_and_switches_the_http_cache_api() {
        assert!(parse("").unwrap().cache.http_cache_api, "on by default");
        let c = parse("[local_server.cache]\nmax_entries = 5\nhttp_cache_api = false\n").unwrap();
        assert_eq!((c.cache.max_entries, c.cache.http_cache_api), (5, false));
        let e = err("[local_server.cache]\nhttp_cache_api = 1\n");
        assert!(e.to_string().contains("true or false"), "{e}");
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
    fn manifest_version_is_checked() {
        let e = err("manifest_version = 9\n");
        assert_eq!(e.line, Some(1));
        assert_eq!(e.key.as_deref(), Some("manifest_version"));
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
}
