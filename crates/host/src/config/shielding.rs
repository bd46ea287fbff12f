//! `[local_server.shielding_sites]`, in Viceroy's form: the shield POPs a guest may
//! name (`fastly::shielding::Shield::new`), and which one edgeplay runs on.
//!
//! ```toml
//! [local_server.shielding_sites]
//! # This POP: `Shield::running_on` is true for it.
//! "pdx-or-us" = "Local"
//! # Another: requests to it go to these URLs (its plain and TLS entry points).
//! "bfi-wa-us".unencrypted = "http://127.0.0.1:7677"
//! "bfi-wa-us".encrypted = "https://127.0.0.1:7678"
//! ```
//!
//! A site is the string `"Local"` (any case) or a table with exactly `unencrypted` and
//! `encrypted`, each an http or https URL with a host.

use super::parse::{KeyPath, Parser, R};
use serde::{Deserialize, Serialize};
use toml::Value;

/// One shield POP as the service sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShieldingSite {
    /// This POP is the one edgeplay runs on (`"Local"`).
    pub local: bool,
    /// The URL of its plain entry point (empty for the local site).
    pub unencrypted: String,
    /// The URL of its TLS entry point (empty for the local site).
    pub encrypted: String,
}

impl Parser<'_> {
    /// One `[local_server.shielding_sites]` entry.
    pub(super) fn shielding_site(&self, path: &KeyPath, v: Value) -> R<ShieldingSite> {
        match v {
            Value::String(s) if s.eq_ignore_ascii_case("local") => Ok(ShieldingSite {
                local: true,
                ..ShieldingSite::default()
            }),
            Value::String(s) => Err(self.err(
                path,
                format!("a shielding site is \"Local\" or a table of unencrypted and encrypted URLs, not {s:?}"),
            )),
            Value::Table(mut t) => {
                let mut url = |key: &str| -> R<String> {
                    let p = path.key(key);
                    let Some(v) = t.remove(key) else {
                        return Err(self.err(path, format!("missing `{key}` (a URL)")));
                    };
                    let s = self.string(&p, v)?;
                    super::check_backend_url(&s).map_err(|e| self.err(&p, e))?;
                    Ok(s)
                };
                let unencrypted = url("unencrypted")?;
                let encrypted = url("encrypted")?;
                self.no_other_keys(path, &t)?;
                Ok(ShieldingSite {
                    local: false,
                    unencrypted,
                    encrypted,
                })
            }
            other => Err(self.expected(path, "\"Local\" or a table", &other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{err, parse};

    #[test]
    fn sites_are_local_or_two_urls() {
        let c = parse(
            "[local_server.shielding_sites]\n\"pdx-or-us\" = \"Local\"\n\"bfi-wa-us\".unencrypted = \"http://127.0.0.1:1\"\n\"bfi-wa-us\".encrypted = \"https://127.0.0.1:2\"\n",
        )
        .unwrap();
        assert!(c.shielding_sites["pdx-or-us"].local);
        let b = &c.shielding_sites["bfi-wa-us"];
        assert_eq!(
            (b.local, b.unencrypted.as_str(), b.encrypted.as_str()),
            (false, "http://127.0.0.1:1", "https://127.0.0.1:2")
        );
    }

    #[test]
    fn a_bad_site_names_its_key_and_line() {
        for (toml, what) in [
            ("x = \"remote\"", "\"Local\" or a table"),
            ("x = 3", "expected \"Local\" or a table"),
            ("x.unencrypted = \"http://a\"", "missing `encrypted`"),
            (
                "x.unencrypted = \"ftp://a\"\nx.encrypted = \"https://a\"",
                "http or https",
            ),
            (
                "x.unencrypted = \"http://a\"\nx.encrypted = \"https://a\"\nx.extra = 1",
                "unknown key `extra`",
            ),
        ] {
            let e = err(&format!("[local_server.shielding_sites]\n{toml}\n"));
            assert!(
                e.message.contains(what) || e.to_string().contains(what),
                "{toml}: {e}"
            );
            assert!(e.line.is_some(), "{toml}: {e}");
        }
    }
}
