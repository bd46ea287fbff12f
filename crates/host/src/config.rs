//! Service configuration: the `[local_server]` tables of `fastly.toml` (Viceroy's
//! format), and the defaults a guest sees when nothing is configured.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// A backend as `[local_server.backends.NAME]` declares it (used by the backends issue).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BackendConfig {
    /// Origin URL, e.g. `http://127.0.0.1:8080/`.
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
    /// Every other key, kept for later issues and shown by `edgeplay` when unused.
    pub extra: BTreeMap<String, toml::Value>,
}

/// Geolocation data: `[local_server.geolocation]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GeoConfig {
    /// Answer loopback and unconfigured addresses with Viceroy's default record.
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
}
