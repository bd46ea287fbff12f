//! Secrets stay out of a shared fiddle unless the user opts in.
//!
//! [`strip_secrets`] blanks every secret in `[local_server.secret_stores]`: each
//! secret keeps its store and key (so the guest still opens them) with `data = ""`
//! instead of its `data`, `file` or `env`; a store read from a JSON file becomes an
//! empty store. The rest of the text keeps its formatting.

use super::model::Fiddle;
use toml_edit::{value, Array, DocumentMut, Item, Table, Value};

/// What sharing left out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LeftOut {
    /// `store/key` of each blanked secret; `store/*` for a store read from a file.
    pub secrets: Vec<String>,
}

impl LeftOut {
    /// True when nothing was left out.
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }
}

/// `toml` with every secret-store secret blanked, and what was blanked. A text that
/// does not parse as TOML is an error (nothing can be said about its secrets).
pub fn strip_secrets(toml: &str) -> Result<(String, LeftOut), String> {
    let mut doc: DocumentMut = toml
        .parse()
        .map_err(|e: toml_edit::TomlError| format!("the fastly.toml does not parse: {e}"))?;
    let mut left = LeftOut::default();
    let stores = doc
        .get_mut("local_server")
        .and_then(|l| l.as_table_like_mut())
        .and_then(|l| l.get_mut("secret_stores"))
        .and_then(|s| s.as_table_like_mut());
    if let Some(stores) = stores {
        for (store, item) in stores.iter_mut() {
            let store = store.get().to_string();
            blank_store(&store, item, &mut left);
        }
    }
    if left.is_empty() {
        return Ok((toml.to_string(), left));
    }
    Ok((doc.to_string(), left))
}

fn blank_store(store: &str, item: &mut Item, left: &mut LeftOut) {
    match item {
        Item::ArrayOfTables(tables) => {
            for t in tables.iter_mut() {
                blank_table(store, t, left);
            }
        }
        Item::Value(Value::Array(arr)) => {
            for v in arr.iter_mut() {
                if let Value::InlineTable(t) = v {
                    let key = t.get("key").and_then(|k| k.as_str()).unwrap_or("?");
                    left.secrets.push(format!("{store}/{key}"));
                    t.remove("file");
                    t.remove("env");
                    t.insert("data", Value::from(""));
                }
            }
        }
        // `{ file = "…", format = "json" }`: the keys are in a file the link lacks.
        Item::Table(_) | Item::Value(Value::InlineTable(_)) => {
            left.secrets.push(format!("{store}/*"));
            *item = value(Array::new());
        }
        _ => {}
    }
}

fn blank_table(store: &str, t: &mut Table, left: &mut LeftOut) {
    let key = t.get("key").and_then(|k| k.as_str()).unwrap_or("?");
    left.secrets.push(format!("{store}/{key}"));
    t.remove("file");
    t.remove("env");
    t.insert("data", value(""));
}

impl Fiddle {
    /// The fiddle as it may be shared: with `include_secrets` as it is, otherwise
    /// with its `fastly.toml`'s secrets blanked ([`strip_secrets`]), and what was
    /// left out (the UI warns when secrets are included, and lists what was not).
    /// A `fastly.toml` that does not parse is shared as it is.
    pub fn for_sharing(&self, include_secrets: bool) -> (Fiddle, LeftOut) {
        if include_secrets {
            return (self.clone(), LeftOut::default());
        }
        match strip_secrets(&self.fastly_toml) {
            Ok((text, left)) => {
                let mut f = self.clone();
                f.fastly_toml = text;
                (f, left)
            }
            Err(_) => (self.clone(), LeftOut::default()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fiddle::model::GuestSource;

    const TOML: &str = r#"# my service
name = "svc"

[local_server.secret_stores]
inline = [
  { key = "api", data = "s3cr3t" },
  { key = "other", env = "HOME" },
]
from_file = { file = "secrets.json", format = "json" }

[[local_server.secret_stores.tables]]
key = "db"
file = "db.txt"

[local_server.config_stores.c]
format = "inline-toml"
contents = { a = "kept" }
"#;

    #[test]
    fn secrets_are_blanked_and_reported() {
        let (text, left) = strip_secrets(TOML).unwrap();
        assert!(!text.contains("s3cr3t"), "{text}");
        assert!(!text.contains("HOME"), "{text}");
        assert!(!text.contains("db.txt"), "{text}");
        assert!(!text.contains("secrets.json"), "{text}");
        assert!(text.contains("# my service"), "formatting kept: {text}");
        assert!(text.contains("a = \"kept\""), "{text}");
        assert_eq!(
            left.secrets,
            ["inline/api", "inline/other", "from_file/*", "tables/db"]
        );
        // Still a valid configuration with the same stores and keys.
        let cfg =
            crate::ServiceConfig::from_toml_str(&text, "fastly.toml", &|f| Err(format!("no {f}")))
                .unwrap();
        assert_eq!(cfg.secret_stores["inline"]["api"], b"");
        assert_eq!(cfg.secret_stores["tables"]["db"], b"");
        assert!(cfg.secret_stores["from_file"].is_empty());
    }

    #[test]
    fn nothing_to_strip_keeps_the_text() {
        let t = "name = \"x\"\n";
        let (text, left) = strip_secrets(t).unwrap();
        assert_eq!(text, t);
        assert!(left.is_empty());
        assert!(strip_secrets("= broken").is_err());
    }

    #[test]
    fn sharing_opts_in_or_out() {
        let mut f = Fiddle::new(GuestSource::Example {
            name: "config".into(),
        });
        f.fastly_toml = TOML.into();
        let (shared, left) = f.for_sharing(false);
        assert!(!shared.fastly_toml.contains("s3cr3t"));
        assert_eq!(left.secrets.len(), 4);
        let (shared, left) = f.for_sharing(true);
        assert!(shared.fastly_toml.contains("s3cr3t"));
        assert!(left.is_empty());
    }
}
