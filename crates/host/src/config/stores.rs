//! `[local_server.dictionaries]` / `[local_server.config_stores]` (one namespace) and
//! `[local_server.secret_stores]`.

use super::parse::{json_type_name, ConfigError, KeyPath, Parser, R};
use std::collections::BTreeMap;
use toml::Value;

/// Longest config store key, in characters (the platform's limit, checked by Viceroy).
pub const CONFIG_KEY_MAX_CHARS: usize = 256;
/// Longest config store value, in characters.
pub const CONFIG_VALUE_MAX_CHARS: usize = 8000;

/// Store and secret names: letters, digits, `-`, `_`, `.`; 1 to 255 bytes (as Viceroy).
fn is_valid_secret_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
}

impl Parser<'_> {
    pub(super) fn config_store(&self, path: &KeyPath, v: Value) -> R<BTreeMap<String, String>> {
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

    pub(super) fn check_limits(
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

    /// The `file` + `format = "json"` form of a store table: both keys, and `json`
    /// (`format` is taken out of `t`). `entries`: the entry form it stands for, as the
    /// messages name it; `plural`: what its entries are called; `what`: the store kind.
    pub(super) fn json_file_format(
        &self,
        path: &KeyPath,
        t: &mut toml::Table,
        entries: &str,
        plural: &str,
        what: &str,
    ) -> R<()> {
        match (t.contains_key("file"), t.contains_key("format")) {
            (true, true) => {}
            (false, false) => {
                return Err(self.err(
                    path,
                    format!("expected an array of {entries} tables, or a table with `file` and `format = \"json\"`"),
                ))
            }
            _ => {
                return Err(self.err(
                    path,
                    format!("`file` and `format` go together: set both, or use an array of {plural}"),
                ))
            }
        }
        let fpath = path.key("format");
        let format = self.string(&fpath, t.remove("format").unwrap_or(Value::Boolean(false)))?;
        if format != "json" {
            return Err(self.err(
                &fpath,
                format!("unknown format {format:?}: {what} files are \"json\""),
            ));
        }
        Ok(())
    }

    pub(super) fn secret_store(
        &self,
        path: &KeyPath,
        store: &str,
        v: Value,
    ) -> R<BTreeMap<String, Vec<u8>>> {
        if !is_valid_secret_name(store) {
            return Err(self.err(
                path,
                format!("invalid secret store name {store:?}: use letters, digits, '-', '_' and '.', at most 255 bytes"),
            ));
        }
        let mut secrets = BTreeMap::new();
        match v {
            Value::Table(mut t) => {
                self.json_file_format(path, &mut t, "{key, data|file|env}", "secrets", "secret store")?;
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
}

#[cfg(test)]
mod tests {
    use super::super::testing::{err, files, parse_with};
    use super::*;

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
