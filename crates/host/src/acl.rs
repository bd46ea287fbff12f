//! The ACL engine: Compute ACLs as service state, and longest-prefix lookups.
//!
//! On the platform an ACL is service data managed through Fastly's API; here each
//! ACL of `[local_server.acls]` is seeded into the service's [`Storage`] (see
//! [`crate::seed`]) and every lookup reads it from there, so the browser's Stores
//! panel and a state directory see exactly what guests see.
//!
//! # Storage layout
//!
//! One key per entry: `acl/<acl>\0<prefix>` → the entry, where `<prefix>` is the
//! entry's network in its canonical text (host bits cleared, e.g. `192.0.2.0/24`,
//! `2001:db8::/32`; see [`IpPrefix`]). The value is the entry as JSON,
//! `{"prefix":"192.0.2.0/24","action":"BLOCK"}` ([`encode`] / [`decode`]): the same
//! shape Fastly's ACL API uses and the lookup answers. Two entries of one ACL with
//! the same network are one key: the later one wins, as in Viceroy (where the last
//! of equally long matches wins).
//!
//! # Lookup
//!
//! [`lookup`] answers the entry with the longest prefix containing the address
//! (IPv4 and IPv6; the families never mix, IPv4-mapped or not, as in Viceroy). It does
//! not scan the ACL: for each prefix length, longest first, it reads the one key
//! that length could match (at most 33 reads for IPv4, 129 for IPv6), so a lookup
//! costs the same for a 10-entry and a 100 000-entry ACL.

use crate::config::{AclConfig, AclEntry, IpPrefix};
use crate::storage::Storage;
use std::net::IpAddr;

/// The storage prefix every ACL key starts with.
pub const KEY_PREFIX: &str = "acl/";

/// The seed kind of ACL stores (`seed/acl/<name>` markers).
pub const SEED_KIND: &str = "acl";

/// The storage prefix of ACL `acl`'s entries: `acl/<acl>\0`.
pub fn store_prefix(acl: &str) -> Vec<u8> {
    let mut k = format!("{KEY_PREFIX}{acl}").into_bytes();
    k.push(0);
    k
}

/// The storage key of the entry for `prefix` in ACL `acl`.
pub fn entry_key(acl: &str, prefix: &IpPrefix) -> Vec<u8> {
    let mut k = store_prefix(acl);
    k.extend_from_slice(prefix.to_string().as_bytes());
    k
}

/// An entry's stored value, which is also the body a matching lookup answers:
/// `{"prefix":"192.0.2.0/24","action":"BLOCK"}` (compact JSON, `prefix` first).
pub fn encode(entry: &AclEntry) -> Vec<u8> {
    // Built by hand so the field order is fixed (serde_json's maps sort keys).
    let prefix = serde_json::Value::String(entry.prefix.to_string());
    let action = serde_json::Value::String(entry.action.clone());
    format!("{{\"prefix\":{prefix},\"action\":{action}}}").into_bytes()
}

/// Why stored bytes are not an ACL entry.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not an ACL entry: {0}")]
pub struct DecodeError(pub String);

/// An entry from its stored value ([`encode`]'s JSON). Total: any bytes give an
/// entry or an error, never a panic. The prefix must be canonical text and the
/// action `ALLOW` or `BLOCK`.
pub fn decode(value: &[u8]) -> Result<AclEntry, DecodeError> {
    let v: serde_json::Value =
        serde_json::from_slice(value).map_err(|e| DecodeError(e.to_string()))?;
    let obj = v
        .as_object()
        .ok_or_else(|| DecodeError("expected a JSON object".into()))?;
    let field = |name: &str| {
        obj.get(name)
            .and_then(|v| v.as_str())
            .ok_or_else(|| DecodeError(format!("`{name}` is missing or not a string")))
    };
    let text = field("prefix")?;
    let prefix: IpPrefix = text.parse().map_err(DecodeError)?;
    if prefix.to_string() != text {
        return Err(DecodeError(format!(
            "prefix {text:?} is not canonical (it reads as {prefix})"
        )));
    }
    let action = field("action")?;
    if action != "ALLOW" && action != "BLOCK" {
        return Err(DecodeError(format!(
            "action {action:?} is not ALLOW or BLOCK"
        )));
    }
    if let Some(k) = obj.keys().find(|k| *k != "prefix" && *k != "action") {
        return Err(DecodeError(format!("unknown field `{k}`")));
    }
    Ok(AclEntry {
        prefix,
        action: action.to_string(),
    })
}

/// The ACL name and entry a storage key of this engine names (`acl/<acl>\0<prefix>`),
/// or `None` when the key is not an ACL entry key.
pub fn parse_key(key: &[u8]) -> Option<(String, IpPrefix)> {
    let rest = key.strip_prefix(KEY_PREFIX.as_bytes())?;
    let nul = rest.iter().position(|&b| b == 0)?;
    let name = std::str::from_utf8(&rest[..nul]).ok()?;
    let prefix = std::str::from_utf8(&rest[nul + 1..]).ok()?.parse().ok()?;
    Some((name.to_string(), prefix))
}

/// The storage entries ACL `name`'s configuration seeds: one per entry, in order (a
/// later entry with the same network replaces an earlier one).
pub fn seed_entries(name: &str, acl: &AclConfig) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out: Vec<(Vec<u8>, Vec<u8>)> = Vec::with_capacity(acl.entries.len());
    for e in &acl.entries {
        let key = entry_key(name, &e.prefix);
        out.retain(|(k, _)| *k != key);
        out.push((key, encode(e)));
    }
    out
}

/// What [`lookup`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// The longest matching entry.
    Match(AclEntry),
    /// No entry contains the address.
    NoMatch,
}

/// The entry of ACL `acl` with the longest prefix containing `ip` (see the module
/// doc). A stored value that does not decode is skipped, as if absent.
pub fn lookup(storage: &dyn Storage, acl: &str, ip: IpAddr) -> Lookup {
    for len in (0..=IpPrefix::max_len(&ip)).rev() {
        let Some(net) = IpPrefix::new(ip, len) else {
            continue;
        };
        let Some(value) = storage.get(&entry_key(acl, &net)) else {
            continue;
        };
        if let Ok(entry) = decode(&value) {
            if entry.prefix == net {
                return Lookup::Match(entry);
            }
        }
    }
    Lookup::NoMatch
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemoryStorage;

    fn entry(prefix: &str, action: &str) -> AclEntry {
        AclEntry {
            prefix: prefix.parse().unwrap(),
            action: action.into(),
        }
    }

    fn store(name: &str, entries: &[(&str, &str)]) -> MemoryStorage {
        let acl = AclConfig {
            entries: entries.iter().map(|(p, a)| entry(p, a)).collect(),
        };
        MemoryStorage::with_entries(seed_entries(name, &acl))
    }

    fn found(st: &MemoryStorage, acl: &str, ip: &str) -> Option<String> {
        match lookup(st, acl, ip.parse().unwrap()) {
            Lookup::Match(e) => Some(format!("{} {}", e.prefix, e.action)),
            Lookup::NoMatch => None,
        }
    }

    #[test]
    fn the_longest_prefix_wins_in_both_families() {
        let st = store(
            "a",
            &[
                ("192.168.0.0/16", "BLOCK"),
                ("192.168.100.0/24", "ALLOW"),
                ("192.0.0.0/8", "BLOCK"),
                ("192.168.100.7", "BLOCK"),
                ("2001:db8::/32", "BLOCK"),
                ("2001:db8:1::/48", "ALLOW"),
                ("::/0", "ALLOW"),
            ],
        );
        assert_eq!(
            found(&st, "a", "192.168.100.1").as_deref(),
            Some("192.168.100.0/24 ALLOW")
        );
        assert_eq!(
            found(&st, "a", "192.168.100.7").as_deref(),
            Some("192.168.100.7/32 BLOCK")
        );
        assert_eq!(
            found(&st, "a", "192.168.200.1").as_deref(),
            Some("192.168.0.0/16 BLOCK")
        );
        assert_eq!(
            found(&st, "a", "192.1.1.1").as_deref(),
            Some("192.0.0.0/8 BLOCK")
        );
        assert_eq!(found(&st, "a", "10.0.0.1"), None);
        assert_eq!(
            found(&st, "a", "2001:db8:1::5").as_deref(),
            Some("2001:db8:1::/48 ALLOW")
        );
        assert_eq!(
            found(&st, "a", "2001:db8:2::5").as_deref(),
            Some("2001:db8::/32 BLOCK")
        );
        assert_eq!(found(&st, "a", "fe80::1").as_deref(), Some("::/0 ALLOW"));
        // IPv4-mapped IPv6 is IPv6: only the IPv6 entries apply.
        assert_eq!(
            found(&st, "a", "::ffff:192.168.100.1").as_deref(),
            Some("::/0 ALLOW")
        );
        // Another ACL's entries are not this one's.
        assert_eq!(found(&st, "b", "192.168.100.1"), None);
        assert_eq!(found(&st, "", "192.168.100.1"), None);
    }

    #[test]
    fn keys_and_values_have_the_documented_layout() {
        let e = entry("10.1.2.3/8", "BLOCK");
        assert_eq!(entry_key("my_acl", &e.prefix), b"acl/my_acl\x0010.0.0.0/8");
        assert_eq!(
            String::from_utf8(encode(&e)).unwrap(),
            r#"{"prefix":"10.0.0.0/8","action":"BLOCK"}"#
        );
        assert_eq!(decode(&encode(&e)), Ok(e.clone()));
        assert_eq!(
            parse_key(b"acl/my_acl\x0010.0.0.0/8"),
            Some(("my_acl".to_string(), e.prefix))
        );
        assert_eq!(parse_key(b"acl/no-nul"), None);
        assert_eq!(parse_key(b"kv/x\x00y"), None);
        assert_eq!(parse_key(b"acl/x\x00not a prefix"), None);
    }

    #[test]
    fn a_later_entry_for_the_same_network_replaces_the_earlier() {
        let st = store("a", &[("10.0.0.0/8", "BLOCK"), ("10.9.9.9/8", "ALLOW")]);
        assert_eq!(st.len(), 1);
        assert_eq!(
            found(&st, "a", "10.1.1.1").as_deref(),
            Some("10.0.0.0/8 ALLOW")
        );
    }

    #[test]
    fn decode_is_total() {
        for bad in [
            &b""[..],
            b"\xff\xfe",
            b"[]",
            b"{}",
            b"{\"prefix\":1,\"action\":\"BLOCK\"}",
            b"{\"prefix\":\"10.0.0.0/8\"}",
            b"{\"prefix\":\"10.0.0.0/99\",\"action\":\"BLOCK\"}",
            b"{\"prefix\":\"10.1.0.0/8\",\"action\":\"BLOCK\"}",
            b"{\"prefix\":\"10.0.0.0/8\",\"action\":\"block\"}",
            b"{\"prefix\":\"10.0.0.0/8\",\"action\":\"BLOCK\",\"x\":1}",
            b"{\"prefix\":\"10.0.0.0/8\",\"action\":\"BLOCK\"",
        ] {
            assert!(decode(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn a_value_that_does_not_decode_is_no_match() {
        let mut st = store("a", &[("10.0.0.0/8", "BLOCK")]);
        st.put(b"acl/a\x0010.0.0.0/16", b"garbage".to_vec());
        // A value for another network under a key is not trusted either.
        st.put(
            b"acl/a\x0010.0.0.0/24",
            br#"{"prefix":"10.0.0.0/25","action":"ALLOW"}"#.to_vec(),
        );
        assert_eq!(
            found(&st, "a", "10.0.0.1").as_deref(),
            Some("10.0.0.0/8 BLOCK")
        );
    }
}
