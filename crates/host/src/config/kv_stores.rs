//! `[local_server.kv_stores]` (also `object_stores` / `object_store`, Viceroy's older
//! names), in Viceroy's two forms:
//!
//! ```toml
//! [local_server.kv_stores]
//! # An array of entries: `key`, one of `data` or `file` (`path` is Viceroy's older
//! # name for `file`), and an optional `metadata` string.
//! store_one = [
//!   { key = "first", data = "This is some data", metadata = "some metadata" },
//!   { key = "second", file = "data/second.txt" },
//! ]
//! # A JSON file: an object of key → string value, or key → { "data" | "file",
//! # "metadata" } (Fastlike's `-kv name=file.json` files, whose objects say "body"
//! # for "data", are read too).
//! store_two = { file = "kv.json", format = "json" }
//! # An empty store.
//! store_three = []
//! ```
//!
//! Keys follow the platform's rules ([`check_kv_key`]).

use super::parse::{json_type_name, JsonFile, KeyPath, Parser, R};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use toml::Value;

/// Longest KV store key, in bytes of UTF-8 (the platform's limit).
pub const KV_KEY_MAX_BYTES: usize = 1024;

/// One KV store as `fastly.toml` fills it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvStoreConfig {
    /// Its entries by key.
    pub entries: BTreeMap<String, KvEntryConfig>,
}

/// One KV store entry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvEntryConfig {
    /// The value (`data`, or the contents of `file`).
    pub value: Vec<u8>,
    /// The entry's metadata, if given.
    pub metadata: Option<String>,
}

/// Check a KV store key against the platform's rules (as Viceroy checks them): 1 to
/// 1024 bytes; not `.`, `..`, nor with a `./` or `../` segment; not starting with
/// `.well-known/acme-challenge`; none of `\r`, `\n`, `#`, `;`, `?`, `^`, `|`; and not a
/// single control character, space, U+FFFE or U+FFFF. The error says what is wrong.
pub fn check_kv_key(key: &str) -> Result<(), String> {
    if key.is_empty() {
        return Err("KV store keys cannot be empty".into());
    }
    if key.len() > KV_KEY_MAX_BYTES {
        return Err(format!(
            "KV store keys are at most {KV_KEY_MAX_BYTES} bytes, this one is {}",
            key.len()
        ));
    }
    if key.starts_with(".well-known/acme-challenge") {
        return Err("KV store keys cannot start with `.well-known/acme-challenge`".into());
    }
    if key == "." || key == ".." {
        return Err(format!("KV store keys cannot be `{key}`"));
    }
    if key.contains("./") || key.ends_with("/.") || key.ends_with("/..") {
        return Err("KV store keys cannot have a `.` or `..` path segment".into());
    }
    if let Some(c) = key
        .chars()
        .find(|c| matches!(c, '\r' | '\n' | '#' | ';' | '?' | '^' | '|'))
    {
        return Err(format!("KV store keys cannot contain {c:?}"));
    }
    let mut chars = key.chars();
    if let (Some(c), None) = (chars.next(), chars.next()) {
        if c <= ' ' || c == '\u{FFFE}' || c == '\u{FFFF}' {
            return Err(format!(
                "{c:?} cannot be a KV store key on its own (control characters, space, U+FFFE and U+FFFF)"
            ));
        }
    }
    Ok(())
}

/// The keys an inline entry or a JSON entry object may have.
const ENTRY_KEYS: &str = "`key`, one of `data` or `file`, and `metadata`";
/// The keys an entry object in a store's JSON file may have.
const JSON_ENTRY_KEYS: &str = "one of `data` (or Fastlike's `body`) or `file`, and `metadata`";

impl Parser<'_> {
    /// One `[local_server.kv_stores]` store: an array of entries, or a JSON file.
    pub(super) fn kv_store(&self, path: &KeyPath, v: Value) -> R<KvStoreConfig> {
        match v {
            Value::Array(items) => {
                let mut store = KvStoreConfig::default();
                for (i, item) in items.into_iter().enumerate() {
                    let ip = path.index(i);
                    let (key, entry) = self.kv_inline_entry(&ip, item)?;
                    if store.entries.contains_key(&key) {
                        return Err(self.err(
                            &ip.key("key"),
                            format!("key {key:?} is defined twice in this store"),
                        ));
                    }
                    store.entries.insert(key, entry);
                }
                Ok(store)
            }
            Value::Table(mut t) => {
                self.json_file_format(path, &mut t, "{key, data|file}", "entries", "KV store")?;
                if let Some(k) = t.keys().find(|k| *k != "file") {
                    return Err(self.err(
                        &path.key(k),
                        format!("unknown key `{k}`: a KV store file takes `file` and `format`"),
                    ));
                }
                let (file, map) = self.json_object_file_spanned(path, &mut t)?;
                let mut store = KvStoreConfig::default();
                for (key, value) in map {
                    let entry = self.kv_json_entry(&file, &key, value)?;
                    store.entries.insert(key, entry);
                }
                Ok(store)
            }
            other => Err(self.expected(
                path,
                "an array of {key, data|file} tables, or a table with `file` and `format = \"json\"`",
                &other,
            )),
        }
    }

    /// `{ key, data | file, metadata }` in a store's array.
    fn kv_inline_entry(&self, path: &KeyPath, item: Value) -> R<(String, KvEntryConfig)> {
        let mut t = self.table(path, item, &format!("a table with {ENTRY_KEYS}"))?;
        let kp = path.key("key");
        let key = match t.remove("key") {
            None => return Err(self.err(path, "missing `key`")),
            Some(v) => self.string(&kp, v)?,
        };
        check_kv_key(&key).map_err(|e| self.err(&kp, e))?;
        let mut sources: Vec<(&str, Value)> = ["data", "file", "path"]
            .into_iter()
            .filter_map(|k| t.remove(k).map(|v| (k, v)))
            .collect();
        let (kind, v) = match sources.len() {
            1 => sources.remove(0),
            0 => return Err(self.err(path, format!("entry {key:?} needs one of `data` or `file`"))),
            n => {
                let both = if n == 2 {
                    format!("both `{}` and `{}`", sources[0].0, sources[1].0)
                } else {
                    "all of `data`, `file` and `path`".to_string()
                };
                return Err(self.err(
                    &path.key(sources[1].0),
                    format!("entry {key:?} has {both}: set one of `data` or `file`"),
                ));
            }
        };
        let metadata = match t.remove("metadata") {
            None => None,
            Some(v) => Some(self.string(&path.key("metadata"), v)?),
        };
        if let Some(k) = t.keys().next() {
            return Err(self.err(
                &path.key(k),
                format!("unknown key `{k}`: entries take {ENTRY_KEYS}"),
            ));
        }
        let sp = path.key(kind);
        let text = self.string(&sp, v)?;
        let value = match kind {
            "data" => text.into_bytes(),
            _ => self.read_bytes(&sp, &text)?,
        };
        Ok((key, KvEntryConfig { value, metadata }))
    }

    /// One member of a store's JSON file: a string, or `{ data | file, metadata }`.
    fn kv_json_entry(&self, file: &JsonFile, key: &str, v: serde_json::Value) -> R<KvEntryConfig> {
        let kp = KeyPath::default().key(key);
        check_kv_key(key).map_err(|e| file.err(&kp, e))?;
        let mut obj = match v {
            serde_json::Value::String(s) => {
                return Ok(KvEntryConfig {
                    value: s.into_bytes(),
                    metadata: None,
                })
            }
            serde_json::Value::Object(obj) => obj,
            other => {
                let found = json_type_name(&other);
                return Err(file.err(
                    &kp,
                    format!("expected a string or an object with {JSON_ENTRY_KEYS}, found {found}"),
                ));
            }
        };
        let mut string = |name: &str| -> R<Option<String>> {
            match obj.remove(name) {
                None => Ok(None),
                Some(serde_json::Value::String(s)) => Ok(Some(s)),
                Some(other) => Err(file.err(
                    &kp.key(name),
                    format!("expected a string, found {}", json_type_name(&other)),
                )),
            }
        };
        let data = string("data")?;
        // Fastlike's KV files say "body" for the value.
        let body = string("body")?;
        let data = match (data, body) {
            (Some(_), Some(_)) => {
                return Err(file.err(
                    &kp,
                    format!("entry {key:?} has both `data` and `body`: set one"),
                ))
            }
            (d, b) => d.or(b),
        };
        let path = string("file")?;
        let metadata = string("metadata")?;
        if let Some(k) = obj.keys().next() {
            return Err(file.err(
                &kp.key(k),
                format!("unknown key `{k}`: entries take {JSON_ENTRY_KEYS}"),
            ));
        }
        let value = match (data, path) {
            (Some(data), None) => data.into_bytes(),
            (None, Some(path)) => {
                if path.is_empty() {
                    return Err(file.err(&kp.key("file"), "the file name is empty"));
                }
                let resolved = self.resolve(&path);
                (self.read_file)(&resolved)
                    .map_err(|e| file.err(&kp.key("file"), format!("cannot read {resolved}: {e}")))?
                    .into_bytes()
            }
            (Some(_), Some(_)) => {
                return Err(file.err(
                    &kp,
                    format!("entry {key:?} has both `data` and `file`: set one"),
                ))
            }
            (None, None) => {
                return Err(file.err(&kp, format!("entry {key:?} needs one of `data` or `file`")))
            }
        };
        Ok(KvEntryConfig { value, metadata })
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{err, err_with, files, parse, parse_with};
    use super::super::{ConfigError, ServiceConfig};
    use super::*;

    fn entry(value: &str, metadata: Option<&str>) -> KvEntryConfig {
        KvEntryConfig {
            value: value.as_bytes().to_vec(),
            metadata: metadata.map(str::to_string),
        }
    }

    /// `(file, line, key)` of an error, and its message.
    fn at(e: &ConfigError) -> (&str, Option<usize>, Option<&str>) {
        (e.file.as_str(), e.line, e.key.as_deref())
    }

    #[test]
    fn inline_entries_data_file_path_and_metadata() {
        let fs = files(&[
            ("proj/data/second.txt", "from a file"),
            ("proj/old.txt", "the older `path` key"),
        ]);
        let c = parse_with(
            r#"
[local_server.kv_stores]
store_one = [
  { key = "first", data = "This is some data", metadata = "some metadata" },
  { key = "second", file = "data/second.txt" },
  { key = "third", path = "old.txt" },
  { key = "nested/key.txt", data = "" },
]
empty = []
"#,
            &fs,
        )
        .unwrap();
        let one = &c.kv_stores["store_one"].entries;
        assert_eq!(one.len(), 4);
        assert_eq!(
            one["first"],
            entry("This is some data", Some("some metadata"))
        );
        assert_eq!(one["second"], entry("from a file", None));
        assert_eq!(one["third"], entry("the older `path` key", None));
        assert_eq!(one["nested/key.txt"], entry("", None));
        assert_eq!(c.kv_stores["empty"], KvStoreConfig::default());
    }

    #[test]
    fn json_files_of_strings_and_entry_objects() {
        let fs = files(&[
            (
                "proj/kv.json",
                r#"{
  "plain": "a string",
  "with-meta": { "data": "d", "metadata": "m" },
  "from-file": { "file": "blob.txt" }
}"#,
            ),
            ("proj/blob.txt", "blob contents"),
        ]);
        let c = parse_with(
            "[local_server.kv_stores]\nstore = { file = \"kv.json\", format = \"json\" }\n",
            &fs,
        )
        .unwrap();
        let s = &c.kv_stores["store"].entries;
        assert_eq!(s["plain"], entry("a string", None));
        assert_eq!(s["with-meta"], entry("d", Some("m")));
        assert_eq!(s["from-file"], entry("blob contents", None));
    }

    #[test]
    fn fastlike_json_files_say_body() {
        let fs = files(&[(
            "proj/kv.json",
            r#"{
  "simple_key": "simple value",
  "key_with_metadata": { "body": "the value content", "metadata": "optional metadata" }
}"#,
        )]);
        let c = parse_with(
            "[local_server.kv_stores]\nstore = { file = \"kv.json\", format = \"json\" }\n",
            &fs,
        )
        .unwrap();
        let s = &c.kv_stores["store"].entries;
        assert_eq!(s["simple_key"], entry("simple value", None));
        assert_eq!(
            s["key_with_metadata"],
            entry("the value content", Some("optional metadata"))
        );
        let fs = files(&[(
            "proj/kv.json",
            "{\n  \"k\": { \"body\": \"a\", \"data\": \"b\" }\n}",
        )]);
        let e = err_with(
            "[local_server.kv_stores]\nstore = { file = \"kv.json\", format = \"json\" }\n",
            &fs,
        );
        assert_eq!(at(&e), ("proj/kv.json", Some(2), Some("k")));
        assert!(
            e.message.contains("both `data` and `body`"),
            "{}",
            e.message
        );
    }

    #[test]
    fn object_stores_and_object_store_are_the_same_namespace() {
        let c = parse(
            "[local_server.object_stores]\na = [{ key = \"k\", data = \"1\" }]\n[local_server.object_store]\nb = []\n",
        )
        .unwrap();
        assert_eq!(c.kv_stores["a"].entries["k"].value, b"1");
        assert!(c.kv_stores.contains_key("b"));

        let e = err("[local_server.kv_stores]\ns = []\n[local_server.object_stores]\ns = []\n");
        assert_eq!(
            at(&e),
            (
                "proj/fastly.toml",
                Some(4),
                Some("local_server.object_stores.s")
            )
        );
        assert!(e.message.contains("defined twice"), "{}", e.message);
    }

    #[test]
    fn inline_entry_errors_name_key_and_line() {
        let store = |body: &str| err(&format!("[local_server.kv_stores]\n{body}\n"));
        let cases: &[(&str, usize, &str, &str)] = &[
            ("s = 1", 2, "local_server.kv_stores.s", "expected an array"),
            ("s = {}", 2, "local_server.kv_stores.s", "expected an array"),
            (
                "s = { file = \"kv.json\" }",
                2,
                "local_server.kv_stores.s",
                "go together",
            ),
            (
                "s = { file = \"kv.json\", format = \"yaml\" }",
                2,
                "local_server.kv_stores.s.format",
                "KV store files are \"json\"",
            ),
            (
                "s = { file = \"kv.json\", format = \"json\", extra = 1 }",
                2,
                "local_server.kv_stores.s.extra",
                "unknown key `extra`",
            ),
            (
                "s = [\n  \"x\",\n]",
                3,
                "local_server.kv_stores.s[0]",
                "expected a table",
            ),
            (
                "s = [\n  { data = \"x\" },\n]",
                3,
                "local_server.kv_stores.s[0]",
                "missing `key`",
            ),
            (
                "s = [\n  { key = 1, data = \"x\" },\n]",
                3,
                "local_server.kv_stores.s[0].key",
                "expected a string",
            ),
            (
                "s = [\n  { key = \"\", data = \"x\" },\n]",
                3,
                "local_server.kv_stores.s[0].key",
                "cannot be empty",
            ),
            (
                "s = [\n  { key = \"a#b\", data = \"x\" },\n]",
                3,
                "local_server.kv_stores.s[0].key",
                "cannot contain '#'",
            ),
            (
                "s = [\n  { key = \"k\" },\n]",
                3,
                "local_server.kv_stores.s[0]",
                "needs one of `data` or `file`",
            ),
            (
                "s = [\n  { key = \"k\", data = \"x\",\n    file = \"f\" },\n]",
                4,
                "local_server.kv_stores.s[0].file",
                "has both `data` and `file`",
            ),
            (
                "s = [\n  { key = \"k\", data = 5 },\n]",
                3,
                "local_server.kv_stores.s[0].data",
                "expected a string",
            ),
            (
                "s = [\n  { key = \"k\", data = \"x\", metadata = 1 },\n]",
                3,
                "local_server.kv_stores.s[0].metadata",
                "expected a string",
            ),
            (
                "s = [\n  { key = \"k\", data = \"x\", meta = \"m\" },\n]",
                3,
                "local_server.kv_stores.s[0].meta",
                "unknown key `meta`",
            ),
            (
                "s = [\n  { key = \"k\", file = \"missing.txt\", ttl = 5 },\n]",
                3,
                "local_server.kv_stores.s[0].ttl",
                "unknown key `ttl`",
            ),
            (
                "s = [\n  { key = \"k\", data = \"x\" },\n  { key = \"k\", data = \"y\" },\n]",
                4,
                "local_server.kv_stores.s[1].key",
                "defined twice",
            ),
            (
                "\"\" = []",
                2,
                "local_server.kv_stores.\"\"",
                "name is empty",
            ),
            (
                "s = [\n  { key = \"k\", file = \"missing.txt\" },\n]",
                3,
                "local_server.kv_stores.s[0].file",
                "cannot read proj/missing.txt: no such file",
            ),
        ];
        for (body, line, key, message) in cases {
            let e = store(body);
            assert_eq!(
                at(&e),
                ("proj/fastly.toml", Some(*line), Some(*key)),
                "{body}: {e}"
            );
            assert!(e.message.contains(message), "{body}: {}", e.message);
        }
    }

    #[test]
    fn json_file_errors_name_the_file_key_and_line() {
        let toml = "[local_server.kv_stores]\nstore = { file = \"kv.json\", format = \"json\" }\n";
        let cases: &[(&str, usize, &str, &str)] = &[
            (
                "{\n  \"ok\": \"x\",\n  \"n\": 5\n}",
                3,
                "n",
                "expected a string or an object",
            ),
            (
                "{\n  \"k\": {\n    \"data\": \"x\",\n    \"file\": \"f\"\n  }\n}",
                2,
                "k",
                "has both `data` and `file`",
            ),
            ("{\n  \"k\": {}\n}", 2, "k", "needs one of `data` or `file`"),
            (
                "{\n  \"k\": {\n    \"data\": \"x\",\n    \"metadata\": 7\n  }\n}",
                4,
                "k.metadata",
                "expected a string, found a number",
            ),
            (
                "{\n  \"k\": {\n    \"data\": \"x\",\n    \"ttl\": 7\n  }\n}",
                4,
                "k.ttl",
                "unknown key `ttl`",
            ),
            (
                "{\n  \"a\": \"x\",\n  \"..\": \"y\"\n}",
                3,
                "\"..\"",
                "cannot be `..`",
            ),
            (
                "{\n  \"k\": { \"file\": \"nope.txt\" }\n}",
                2,
                "k.file",
                "cannot read proj/nope.txt",
            ),
        ];
        for (json, line, key, message) in cases {
            let fs = files(&[("proj/kv.json", json)]);
            let e = err_with(toml, &fs);
            assert_eq!(
                at(&e),
                ("proj/kv.json", Some(*line), Some(*key)),
                "{json}: {e}"
            );
            assert!(e.message.contains(message), "{json}: {}", e.message);
        }

        // Not JSON, or not an object: the file and its line.
        let fs = files(&[("proj/kv.json", "{\n  \"a\": \"x\",\n  oops\n}")]);
        let e = err_with(toml, &fs);
        assert_eq!((e.file.as_str(), e.line), ("proj/kv.json", Some(3)));
        assert!(e.message.starts_with("invalid JSON"), "{}", e.message);
        let fs = files(&[("proj/kv.json", "[]")]);
        let e = err_with(toml, &fs);
        assert!(
            e.message.contains("expected a JSON object"),
            "{}",
            e.message
        );
    }

    #[test]
    fn a_reader_without_files_is_named_in_the_error() {
        // The browser tab has no files: its reader's message reaches the user, with the
        // file, key and line.
        let read = |p: &str| Err(format!("{p}: the playground cannot read files"));
        let e = ServiceConfig::from_toml_str(
            "[local_server.kv_stores]\ns = [\n  { key = \"k\", file = \"v.bin\" },\n]\n",
            "fastly.toml",
            &read,
        )
        .unwrap_err();
        assert_eq!(e.line, Some(3));
        assert_eq!(e.key.as_deref(), Some("local_server.kv_stores.s[0].file"));
        assert_eq!(
            e.message,
            "cannot read v.bin: v.bin: the playground cannot read files"
        );
    }

    #[test]
    fn keys_follow_the_platform_rules() {
        for ok in [
            "a",
            "a/b/c",
            "with space",
            "ünïcödé",
            ".hidden",
            "a.b",
            "x..y",
        ] {
            assert_eq!(check_kv_key(ok), Ok(()), "{ok:?}");
        }
        let long = "k".repeat(KV_KEY_MAX_BYTES + 1);
        for bad in [
            "",
            ".",
            "..",
            "a/../b",
            "a/./b",
            "a/.",
            "a/..",
            ".well-known/acme-challenge/x",
            "a\rb",
            "a\nb",
            "a;b",
            "a?b",
            "a^b",
            "a|b",
            " ",
            "\u{7}",
            "\u{FFFF}",
            long.as_str(),
        ] {
            assert!(check_kv_key(bad).is_err(), "{bad:?}");
        }
        assert!(check_kv_key(&"k".repeat(KV_KEY_MAX_BYTES)).is_ok());
    }
}
