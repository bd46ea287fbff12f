//! Helpers the config unit tests share: a `fastly.toml` at `proj/fastly.toml`, files
//! from a map, and one environment variable (`MY_SECRET_VAR=from-env`).

use super::{ConfigError, ServiceConfig};
use std::collections::HashMap;

/// Files by resolved path.
pub(super) fn files(list: &[(&str, &str)]) -> HashMap<String, String> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Parse `text` as `proj/fastly.toml`, with `fs` beside it.
pub(super) fn parse_with(
    text: &str,
    fs: &HashMap<String, String>,
) -> Result<ServiceConfig, ConfigError> {
    let read = |p: &str| fs.get(p).cloned().ok_or_else(|| "no such file".to_string());
    let env = |v: &str| (v == "MY_SECRET_VAR").then(|| "from-env".to_string());
    ServiceConfig::from_toml_str_with_env(text, "proj/fastly.toml", &read, &env)
}

/// Parse `text` with no files.
pub(super) fn parse(text: &str) -> Result<ServiceConfig, ConfigError> {
    parse_with(text, &HashMap::new())
}

/// The error `text` gives.
pub(super) fn err(text: &str) -> ConfigError {
    parse(text).expect_err("config should be rejected")
}

/// The error `text` gives with `fs` beside it.
pub(super) fn err_with(text: &str, fs: &HashMap<String, String>) -> ConfigError {
    parse_with(text, fs).expect_err("config should be rejected")
}
