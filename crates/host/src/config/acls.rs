//! `[local_server.acls]`, in Viceroy's forms plus an inline one:
//!
//! ```toml
//! [local_server.acls]
//! # A JSON file in Fastly's ACL format (below), named directly or by `file`.
//! my_acl = "acl.json"
//! other_acl = { file = "other.json" }
//! # Inline, for the browser tab (which has no files).
//! inline_acl = { entries = [
//!   { prefix = "192.168.0.0/16", action = "BLOCK" },
//!   { prefix = "2001:db8::/32", action = "ALLOW" },
//! ] }
//! ```
//!
//! The JSON is what Fastly's API takes and returns for a Compute ACL:
//! `{ "entries": [ { "prefix": "1.2.3.0/24", "action": "BLOCK" }, ... ] }`. An
//! entry's `op` (the API's `create` / `update`) is ignored, as in Viceroy, and so is
//! a top-level `meta` (the API's paging information). A prefix is an IPv4 or IPv6
//! address with a prefix length (0 to 32, or 0 to 128, as the platform allows); a
//! bare address is the full length. The action is `ALLOW` or `BLOCK`, in any case.

use super::parse::{json_type_name, JsonFile, KeyPath, Parser, R};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use std::str::FromStr;
use toml::{Table, Value};

/// One ACL: its entries, in the order given.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AclConfig {
    /// The entries.
    pub entries: Vec<AclEntry>,
}

/// One ACL entry: a prefix and what to do with addresses in it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AclEntry {
    /// The addresses it covers.
    pub prefix: IpPrefix,
    /// `ALLOW` or `BLOCK` (upper-cased as the platform reports it).
    pub action: String,
}

/// An IP network: an address and a prefix length (CIDR), e.g. `192.168.0.0/16`.
///
/// The address has its host bits cleared (`10.1.2.3/8` reads as `10.0.0.0/8`, as in
/// Viceroy), so two prefixes covering the same addresses are equal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IpPrefix {
    /// The network address.
    pub addr: IpAddr,
    /// The prefix length: 0 to 32 for IPv4, 0 to 128 for IPv6.
    pub prefix_len: u8,
}

impl IpPrefix {
    /// The prefix of length `prefix_len` containing `addr`; `None` when the length is
    /// longer than the address (32 bits for IPv4, 128 for IPv6).
    pub fn new(addr: IpAddr, prefix_len: u8) -> Option<IpPrefix> {
        if prefix_len > Self::max_len(&addr) {
            return None;
        }
        Some(IpPrefix {
            addr: mask(addr, prefix_len),
            prefix_len,
        })
    }

    /// The longest prefix for `addr`'s family: 32 for IPv4, 128 for IPv6.
    pub fn max_len(addr: &IpAddr) -> u8 {
        match addr {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        }
    }

    /// True when `ip` is in this network. An IPv4 address is never in an IPv6 network
    /// (nor the other way round), IPv4-mapped or not, as in Viceroy.
    pub fn contains(&self, ip: &IpAddr) -> bool {
        self.addr.is_ipv4() == ip.is_ipv4() && mask(*ip, self.prefix_len) == self.addr
    }
}

/// `addr` with all but its first `len` bits cleared.
fn mask(addr: IpAddr, len: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let bits = u32::from(a);
            let keep = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            IpAddr::V4((bits & keep).into())
        }
        IpAddr::V6(a) => {
            let bits = u128::from(a);
            let keep = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            IpAddr::V6((bits & keep).into())
        }
    }
}

impl FromStr for IpPrefix {
    type Err = String;

    /// `ADDRESS/LENGTH`, or a bare address (the full length). The error says what is wrong.
    fn from_str(s: &str) -> Result<IpPrefix, String> {
        let (addr_text, len_text) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr: IpAddr = addr_text.parse().map_err(|_| {
            format!("{s:?} is not an IP prefix: {addr_text:?} is not an IPv4 or IPv6 address")
        })?;
        let max = IpPrefix::max_len(&addr);
        let len = match len_text {
            None => max,
            Some(l) => l
                .parse::<u8>()
                .ok()
                .filter(|n| l.bytes().all(|b| b.is_ascii_digit()) && *n <= max)
                .ok_or_else(|| {
                    format!(
                        "{s:?} is not an IP prefix: the length must be a number from 0 to {max}"
                    )
                })?,
        };
        IpPrefix::new(addr, len)
            .ok_or_else(|| format!("{s:?} is not an IP prefix: the length must be 0 to {max}"))
    }
}

impl std::fmt::Display for IpPrefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

/// An action as the platform reports it, from an action as written.
fn action(text: &str) -> Result<String, String> {
    let upper = text.to_ascii_uppercase();
    match upper.as_str() {
        "ALLOW" | "BLOCK" => Ok(upper),
        _ => Err(format!(
            "unknown action {text:?}: use \"ALLOW\" or \"BLOCK\""
        )),
    }
}

impl Parser<'_> {
    /// One `[local_server.acls]` entry: a file name, `{ file }`, or `{ entries }`.
    pub(super) fn acl(&self, path: &KeyPath, v: Value) -> R<AclConfig> {
        let mut t = match v {
            Value::String(file) => return self.acl_file(path, &file),
            Value::Table(t) => t,
            other => {
                return Err(self.expected(
                    path,
                    "a JSON file name, a table with `file`, or a table with `entries`",
                    &other,
                ))
            }
        };
        let file = t.remove("file");
        let entries = t.remove("entries");
        let format = if file.is_some() {
            t.remove("format")
        } else {
            None
        };
        if let Some(k) = t.keys().next() {
            return Err(self.err(
                &path.key(k),
                format!("unknown key `{k}`: an ACL takes `file` or `entries`"),
            ));
        }
        let acl = match (file, entries) {
            (Some(_), Some(_)) => {
                return Err(self.err(&path.key("entries"), "set `file` or `entries`, not both"))
            }
            (None, None) => {
                return Err(self.err(
                    path,
                    "an ACL needs `file` (a JSON file) or `entries` (an array of {prefix, action} tables)",
                ))
            }
            (Some(file), None) => {
                let fpath = path.key("file");
                let file = self.string(&fpath, file)?;
                if let Some(v) = format {
                    let f = self.string(&path.key("format"), v)?;
                    if f != "json" {
                        return Err(self.err(
                            &path.key("format"),
                            format!("unknown format {f:?}: ACL files are \"json\""),
                        ));
                    }
                }
                self.acl_file(&fpath, &file)?
            }
            (None, Some(entries)) => self.acl_inline_entries(&path.key("entries"), entries)?,
        };
        Ok(acl)
    }

    /// `entries = [ { prefix, action }, ... ]`.
    fn acl_inline_entries(&self, path: &KeyPath, v: Value) -> R<AclConfig> {
        let Value::Array(items) = v else {
            return Err(self.expected(path, "an array of {prefix, action} tables", &v));
        };
        let mut acl = AclConfig::default();
        for (i, item) in items.into_iter().enumerate() {
            let ip = path.index(i);
            let mut t: Table = self.table(&ip, item, "a table with `prefix` and `action`")?;
            let mut field = |name: &str| -> R<(KeyPath, String)> {
                let fp = ip.key(name);
                match t.remove(name) {
                    None => Err(self.err(&ip, format!("entry {i} has no `{name}`"))),
                    Some(v) => Ok((fp.clone(), self.string(&fp, v)?)),
                }
            };
            let (pp, prefix) = field("prefix")?;
            let (ap, act) = field("action")?;
            let prefix = prefix.parse().map_err(|e: String| self.err(&pp, e))?;
            let action = action(&act).map_err(|e| self.err(&ap, e))?;
            if let Some(v) = t.remove("op") {
                self.string(&ip.key("op"), v)?;
            }
            if let Some(k) = t.keys().next() {
                return Err(self.err(
                    &ip.key(k),
                    format!("unknown key `{k}`: ACL entries take `prefix` and `action`"),
                ));
            }
            acl.entries.push(AclEntry { prefix, action });
        }
        Ok(acl)
    }

    /// An ACL's JSON file, named by the string at `fpath`.
    fn acl_file(&self, fpath: &KeyPath, file: &str) -> R<AclConfig> {
        let (file, mut map) = self.read_json_object(fpath, file)?;
        let top = KeyPath::default();
        let entries = match map.remove("entries") {
            Some(serde_json::Value::Array(items)) => items,
            Some(other) => {
                return Err(file.err(
                    &top.key("entries"),
                    format!(
                        "expected an array of {{\"prefix\", \"action\"}} objects, found {}",
                        json_type_name(&other)
                    ),
                ))
            }
            None => {
                return Err(file.err(
                    &top,
                    "an ACL file needs `entries`: {\"entries\": [{\"prefix\": \"192.168.0.0/16\", \"action\": \"BLOCK\"}]}",
                ))
            }
        };
        map.remove("meta");
        if let Some(k) = map.keys().next() {
            return Err(file.err(
                &top.key(k),
                format!("unknown key `{k}`: an ACL file has `entries`"),
            ));
        }
        let mut acl = AclConfig::default();
        for (i, item) in entries.into_iter().enumerate() {
            acl.entries
                .push(json_entry(&file, &top.key("entries").index(i), i, item)?);
        }
        Ok(acl)
    }
}

/// One entry of an ACL's JSON file.
fn json_entry(file: &JsonFile, path: &KeyPath, i: usize, v: serde_json::Value) -> R<AclEntry> {
    let serde_json::Value::Object(mut obj) = v else {
        return Err(file.err(
            path,
            format!(
                "entry {i}: expected an object with \"prefix\" and \"action\", found {}",
                json_type_name(&v)
            ),
        ));
    };
    let mut field = |name: &str| -> R<String> {
        match obj.remove(name) {
            Some(serde_json::Value::String(s)) => Ok(s),
            Some(other) => Err(file.err(
                &path.key(name),
                format!(
                    "entry {i}: `{name}` must be a string, found {}",
                    json_type_name(&other)
                ),
            )),
            None => Err(file.err(path, format!("entry {i} has no `{name}`"))),
        }
    };
    let prefix = field("prefix")?;
    let act = field("action")?;
    let prefix = prefix
        .parse()
        .map_err(|e: String| file.err(&path.key("prefix"), format!("entry {i}: {e}")))?;
    let action =
        action(&act).map_err(|e| file.err(&path.key("action"), format!("entry {i}: {e}")))?;
    obj.remove("op");
    if let Some(k) = obj.keys().next() {
        return Err(file.err(
            &path.key(k),
            format!("entry {i}: unknown key `{k}`: ACL entries take `prefix` and `action`"),
        ));
    }
    Ok(AclEntry { prefix, action })
}

#[cfg(test)]
mod tests {
    use super::super::testing::{err, err_with, files, parse, parse_with};
    use super::super::ConfigError;
    use super::*;

    fn p(s: &str) -> IpPrefix {
        s.parse().unwrap()
    }

    fn entry(prefix: &str, action: &str) -> AclEntry {
        AclEntry {
            prefix: p(prefix),
            action: action.to_string(),
        }
    }

    fn at(e: &ConfigError) -> (&str, Option<usize>, Option<&str>) {
        (e.file.as_str(), e.line, e.key.as_deref())
    }

    const ACL_JSON: &str = r#"{
  "entries": [
    { "op": "update", "prefix": "1.2.3.0/24", "action": "BLOCK" },
    { "op": "create", "prefix": "192.168.0.0/16", "action": "block" },
    { "prefix": "23.23.23.23/32", "action": "ALLOW" },
    { "prefix": "FACE::/16", "action": "Allow" }
  ],
  "meta": { "limit": 100 }
}"#;

    #[test]
    fn files_by_name_or_by_file_key() {
        let fs = files(&[("proj/acl.json", ACL_JSON), ("proj/other.json", ACL_JSON)]);
        let c = parse_with(
            r#"
[local_server.acls]
my_acl = "acl.json"
other = { file = "other.json" }
third = { file = "acl.json", format = "json" }
"#,
            &fs,
        )
        .unwrap();
        let want = AclConfig {
            entries: vec![
                entry("1.2.3.0/24", "BLOCK"),
                entry("192.168.0.0/16", "BLOCK"),
                entry("23.23.23.23/32", "ALLOW"),
                entry("face::/16", "ALLOW"),
            ],
        };
        assert_eq!(c.acls["my_acl"], want);
        assert_eq!(c.acls["other"], want);
        assert_eq!(c.acls["third"], want);
    }

    #[test]
    fn viceroys_own_acl_test_configuration_parses() {
        // Viceroy's ACL test: dotted keys under [local_server], a path and a {file}.
        let fs = files(&[
            ("proj/data/my-acl-1.json", ACL_JSON),
            (
                "proj/data/my-acl-2.json",
                r#"{ "entries": [
    { "op": "update", "prefix": "2000::/24", "action": "BLOCK" },
    { "op": "create", "prefix": "FACE::/16", "action": "ALLOW" }
] }"#,
            ),
        ]);
        let c = parse_with(
            r#"
name = "acl"
language = "rust"
[local_server]
acls.my-acl-1 = "data/my-acl-1.json"
acls.my-acl-2 = {file = "data/my-acl-2.json"}
"#,
            &fs,
        )
        .unwrap();
        assert_eq!(c.acls["my-acl-1"].entries.len(), 4);
        assert_eq!(
            c.acls["my-acl-2"].entries,
            vec![entry("2000::/24", "BLOCK"), entry("face::/16", "ALLOW")]
        );
    }

    #[test]
    fn inline_entries() {
        let c = parse(
            r#"
[local_server.acls]
inline = { entries = [
  { prefix = "10.1.2.3/8", action = "BLOCK" },
  { prefix = "2001:db8::1", action = "allow" },
  { prefix = "0.0.0.0/0", action = "ALLOW", op = "create" },
] }
empty = { entries = [] }
"#,
        )
        .unwrap();
        let acl = &c.acls["inline"];
        assert_eq!(acl.entries[0], entry("10.0.0.0/8", "BLOCK"));
        assert_eq!(acl.entries[0].prefix.to_string(), "10.0.0.0/8");
        assert_eq!(acl.entries[1].prefix.to_string(), "2001:db8::1/128");
        assert_eq!(acl.entries[1].action, "ALLOW");
        assert_eq!(acl.entries[2].prefix.prefix_len, 0);
        assert_eq!(c.acls["empty"], AclConfig::default());
    }

    #[test]
    fn prefixes_parse_and_contain() {
        let net = p("192.168.0.0/16");
        assert_eq!(net.addr, "192.168.0.0".parse::<IpAddr>().unwrap());
        assert_eq!(net.prefix_len, 16);
        assert!(net.contains(&"192.168.200.200".parse().unwrap()));
        assert!(!net.contains(&"192.169.0.0".parse().unwrap()));
        assert_eq!(p("10.1.2.3"), p("10.1.2.3/32"));
        assert_eq!(p("10.1.2.3/8"), p("10.0.0.0/8"));
        assert!(p("0.0.0.0/0").contains(&"203.0.113.7".parse().unwrap()));
        let v6 = p("face::/16");
        assert!(v6.contains(&"face:1:2:3:4:5:6:7".parse().unwrap()));
        assert!(!v6.contains(&"fac0::".parse().unwrap()));
        assert_eq!(p("::1").prefix_len, 128);
        // The families never mix, IPv4-mapped or not.
        assert!(!p("::/0").contains(&"1.2.3.4".parse().unwrap()));
        assert!(!p("1.2.3.4/8").contains(&"::ffff:1.2.3.4".parse().unwrap()));
        assert_eq!(IpPrefix::new("1.2.3.4".parse().unwrap(), 33), None);

        for (bad, why) in [
            ("10.0.0.0/33", "from 0 to 32"),
            ("::/129", "from 0 to 128"),
            ("1.2.3/8", "not an IPv4 or IPv6 address"),
            ("10.0.0.0/x", "from 0 to 32"),
            ("10.0.0.0/+8", "from 0 to 32"),
            ("10.0.0.0/", "from 0 to 32"),
            ("", "not an IPv4 or IPv6 address"),
        ] {
            let e = bad.parse::<IpPrefix>().unwrap_err();
            assert!(e.contains(why), "{bad:?}: {e}");
        }
    }

    #[test]
    fn toml_errors_name_key_and_line() {
        let acls = |body: &str| err(&format!("[local_server.acls]\n{body}\n"));
        let cases: &[(&str, usize, &str, &str)] = &[
            ("a = 1", 2, "local_server.acls.a", "a JSON file name"),
            ("a = {}", 2, "local_server.acls.a", "needs `file`"),
            (
                "a = { file = \"a.json\", entries = [] }",
                2,
                "local_server.acls.a.entries",
                "not both",
            ),
            (
                "a = { entries = [], mode = 1 }",
                2,
                "local_server.acls.a.mode",
                "unknown key `mode`",
            ),
            (
                "a = { file = \"missing.json\", mode = 1 }",
                2,
                "local_server.acls.a.mode",
                "unknown key `mode`",
            ),
            (
                "a = { entries = [], format = \"json\" }",
                2,
                "local_server.acls.a.format",
                "unknown key `format`",
            ),
            (
                "a = { file = \"a.json\", format = \"csv\" }",
                2,
                "local_server.acls.a.format",
                "ACL files are \"json\"",
            ),
            (
                "a = { entries = \"x\" }",
                2,
                "local_server.acls.a.entries",
                "expected an array",
            ),
            (
                "[local_server.acls.a]\nentries = [\n  \"10.0.0.0/8\",\n]",
                4,
                "local_server.acls.a.entries[0]",
                "expected a table",
            ),
            (
                "[local_server.acls.a]\nentries = [\n  { action = \"BLOCK\" },\n]",
                4,
                "local_server.acls.a.entries[0]",
                "entry 0 has no `prefix`",
            ),
            (
                "[local_server.acls.a]\nentries = [\n  { prefix = \"10.0.0.0/8\", action = \"BLOCK\" },\n  { prefix = \"10.0.0.0/99\", action = \"BLOCK\" },\n]",
                5,
                "local_server.acls.a.entries[1].prefix",
                "\"10.0.0.0/99\" is not an IP prefix",
            ),
            (
                "[local_server.acls.a]\nentries = [\n  { prefix = \"10.0.0.0/8\" },\n]",
                4,
                "local_server.acls.a.entries[0]",
                "has no `action`",
            ),
            (
                "[local_server.acls.a]\nentries = [\n  { prefix = \"10.0.0.0/8\", action = \"DENY\" },\n]",
                4,
                "local_server.acls.a.entries[0].action",
                "unknown action \"DENY\"",
            ),
            (
                "[local_server.acls.a]\nentries = [\n  { prefix = \"10.0.0.0/8\", action = \"BLOCK\", negated = true },\n]",
                4,
                "local_server.acls.a.entries[0].negated",
                "unknown key `negated`",
            ),
            ("\"\" = \"a.json\"", 2, "local_server.acls.\"\"", "name is empty"),
            (
                "a = \"missing.json\"",
                2,
                "local_server.acls.a",
                "cannot read proj/missing.json: no such file",
            ),
            (
                "a = { file = \"missing.json\" }",
                2,
                "local_server.acls.a.file",
                "cannot read proj/missing.json",
            ),
            ("a = \"\"", 2, "local_server.acls.a", "the file name is empty"),
        ];
        for (body, line, key, message) in cases {
            let e = acls(body);
            assert_eq!(
                at(&e),
                ("proj/fastly.toml", Some(*line), Some(*key)),
                "{body}: {e}"
            );
            assert!(e.message.contains(message), "{body}: {}", e.message);
        }
    }

    #[test]
    fn json_errors_name_the_file_the_entry_and_the_line() {
        let toml = "[local_server.acls]\nmy_acl = \"acl.json\"\n";
        let cases: &[(&str, usize, &str, &str)] = &[
            ("{}", 1, "", "needs `entries`"),
            (
                "{\n  \"entries\": {}\n}",
                2,
                "entries",
                "expected an array",
            ),
            (
                "{\n  \"entries\": [],\n  \"version\": 2\n}",
                3,
                "version",
                "unknown key `version`",
            ),
            (
                "{ \"entries\": [\n  { \"prefix\": \"10.0.0.0/8\", \"action\": \"BLOCK\" },\n  { \"prefix\": \"300.0.0.0/8\", \"action\": \"BLOCK\" }\n] }",
                3,
                "entries[1].prefix",
                "entry 1: \"300.0.0.0/8\" is not an IP prefix",
            ),
            (
                "{ \"entries\": [\n  { \"prefix\": \"10.0.0.0/8\",\n    \"action\": \"NOPE\" }\n] }",
                3,
                "entries[0].action",
                "entry 0: unknown action",
            ),
            (
                "{ \"entries\": [\n  { \"action\": \"BLOCK\" }\n] }",
                2,
                "entries[0]",
                "entry 0 has no `prefix`",
            ),
            (
                "{ \"entries\": [\n  { \"prefix\": 10, \"action\": \"BLOCK\" }\n] }",
                2,
                "entries[0].prefix",
                "must be a string, found a number",
            ),
            (
                "{ \"entries\": [\n  \"10.0.0.0/8\"\n] }",
                2,
                "entries[0]",
                "expected an object",
            ),
            (
                "{ \"entries\": [\n  { \"prefix\": \"10.0.0.0/8\", \"action\": \"BLOCK\",\n    \"subnet\": 8 }\n] }",
                3,
                "entries[0].subnet",
                "unknown key `subnet`",
            ),
        ];
        for (json, line, key, message) in cases {
            let fs = files(&[("proj/acl.json", json)]);
            let e = err_with(toml, &fs);
            let key = Some(*key).filter(|k| !k.is_empty());
            assert_eq!(at(&e), ("proj/acl.json", Some(*line), key), "{json}: {e}");
            assert!(e.message.contains(message), "{json}: {}", e.message);
        }

        let fs = files(&[("proj/acl.json", "{ \"entries\": [\n  oops\n] }")]);
        let e = err_with(toml, &fs);
        assert_eq!((e.file.as_str(), e.line), ("proj/acl.json", Some(2)));
        assert!(
            e.message.contains("named by `local_server.acls.my_acl`"),
            "{}",
            e.message
        );
    }
}
