//! Serde for bytes as standard base64 text, for `#[serde(with = "crate::serde_b64")]`:
//! readable JSON for what the core stores or hands to a worker (cache metas,
//! snapshots' memory images).

use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serializer};

/// Write `bytes` as base64 text.
pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// Read base64 text back into bytes.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    let s = String::deserialize(d)?;
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(serde::de::Error::custom)
}
