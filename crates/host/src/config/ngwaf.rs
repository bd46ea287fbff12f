//! `[local_server.ngwaf]`, an edgeplay extension (Viceroy always answers "allow"):
//! the verdicts `fastly_http_req.inspect` (the Next-Gen WAF, `fastly::security`)
//! gives, from a small table of rules checked in order.
//!
//! ```toml
//! [local_server.ngwaf]
//! verdict = "allow"          # when no rule matches (the default)
//!
//! [[local_server.ngwaf.rules]]
//! query_contains = "<script" # every condition given must hold
//! verdict = "block"
//! tags = ["XSS"]
//!
//! [[local_server.ngwaf.rules]]
//! path_prefix = "/admin"
//! client_ip = "10.0.0.0/8"   # an address prefix (the ACLs' form)
//! verdict = "unauthorized"
//! ```
//!
//! Conditions: `method`, `path_prefix`, `query_contains`, `header` (a name that must
//! be present, or `name: text` whose value must contain the text), `client_ip`. A
//! rule's answer: `verdict` (`allow`, `block`, `unauthorized`), `status` (the
//! `response` the SDK reads; 200, 406 and 401 by default), `tags`, `redirect_url`.

use super::acls::IpPrefix;
use super::parse::{KeyPath, Parser, R};
use serde::{Deserialize, Serialize};
use toml::{Table, Value};

/// The WAF's rules and its answer when none matches.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NgwafConfig {
    /// The verdict for a request no rule matches.
    pub default: NgwafVerdict,
    /// The rules, first match wins.
    pub rules: Vec<NgwafRule>,
}

impl Default for NgwafConfig {
    fn default() -> Self {
        NgwafConfig {
            default: NgwafVerdict::of("allow"),
            rules: Vec::new(),
        }
    }
}

/// What the WAF answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NgwafVerdict {
    /// `allow`, `block` or `unauthorized`.
    pub verdict: String,
    /// The `response` status.
    pub status: u16,
    /// Signal tags.
    pub tags: Vec<String>,
    /// Where a block redirects (empty: none).
    pub redirect_url: String,
}

impl NgwafVerdict {
    /// A verdict with its default status and nothing else.
    pub fn of(verdict: &str) -> NgwafVerdict {
        NgwafVerdict {
            verdict: verdict.to_string(),
            status: match verdict {
                "block" => 406,
                "unauthorized" => 401,
                _ => 200,
            },
            tags: Vec::new(),
            redirect_url: String::new(),
        }
    }
}

/// One rule: conditions (all must hold) and the verdict.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NgwafRule {
    /// The method, in any case.
    pub method: Option<String>,
    /// A prefix of the path.
    pub path_prefix: Option<String>,
    /// Text the query must contain.
    pub query_contains: Option<String>,
    /// A header that must be present, and text its value must contain.
    pub header: Option<(String, Option<String>)>,
    /// An address prefix the client's address must be in.
    pub client_ip: Option<IpPrefix>,
    /// The answer.
    pub verdict: Option<NgwafVerdict>,
}

const VERDICTS: [&str; 3] = ["allow", "block", "unauthorized"];

impl Parser<'_> {
    /// `[local_server.ngwaf]`.
    pub(super) fn ngwaf(&self, path: &KeyPath, mut t: Table) -> R<NgwafConfig> {
        let mut c = NgwafConfig::default();
        if let Some(v) = t.remove("verdict") {
            c.default = NgwafVerdict::of(&self.verdict_name(&path.key("verdict"), v)?);
        }
        if let Some(v) = t.remove("rules") {
            let p = path.key("rules");
            let Value::Array(items) = v else {
                return Err(self.expected(&p, "an array of rule tables", &v));
            };
            for (i, item) in items.into_iter().enumerate() {
                let rp = p.index(i);
                let rule = self.table(&rp, item, "a rule table")?;
                c.rules.push(self.ngwaf_rule(&rp, rule)?);
            }
        }
        self.no_other_keys(path, &t)?;
        Ok(c)
    }

    fn verdict_name(&self, p: &KeyPath, v: Value) -> R<String> {
        let s = self.string(p, v)?.to_ascii_lowercase();
        if VERDICTS.contains(&s.as_str()) {
            Ok(s)
        } else {
            Err(self.err(
                p,
                format!("a verdict is allow, block or unauthorized, not {s:?}"),
            ))
        }
    }

    fn ngwaf_rule(&self, path: &KeyPath, mut t: Table) -> R<NgwafRule> {
        let mut text = |key: &str| -> R<Option<String>> {
            t.remove(key)
                .map(|v| self.string(&path.key(key), v))
                .transpose()
        };
        let mut rule = NgwafRule {
            method: text("method")?,
            path_prefix: text("path_prefix")?,
            query_contains: text("query_contains")?,
            header: text("header")?.map(|h| match h.split_once(':') {
                Some((n, v)) => (n.trim().to_ascii_lowercase(), Some(v.trim().to_string())),
                None => (h.trim().to_ascii_lowercase(), None),
            }),
            ..NgwafRule::default()
        };
        if let Some(v) = t.remove("client_ip") {
            let p = path.key("client_ip");
            let s = self.string(&p, v)?;
            rule.client_ip = Some(s.parse().map_err(|e: String| self.err(&p, e))?);
        }
        let Some(v) = t.remove("verdict") else {
            return Err(self.err(
                path,
                "a rule needs a `verdict` (allow, block or unauthorized)",
            ));
        };
        let mut verdict = NgwafVerdict::of(&self.verdict_name(&path.key("verdict"), v)?);
        if let Some(v) = t.remove("status") {
            let p = path.key("status");
            verdict.status = match v {
                Value::Integer(n) if (100..=599).contains(&n) => n as u16,
                other => return Err(self.expected(&p, "an HTTP status (100 to 599)", &other)),
            };
        }
        if let Some(v) = t.remove("redirect_url") {
            verdict.redirect_url = self.string(&path.key("redirect_url"), v)?;
        }
        if let Some(v) = t.remove("tags") {
            let p = path.key("tags");
            let Value::Array(items) = v else {
                return Err(self.expected(&p, "an array of strings", &v));
            };
            for (i, item) in items.into_iter().enumerate() {
                verdict.tags.push(self.string(&p.index(i), item)?);
            }
        }
        rule.verdict = Some(verdict);
        self.no_other_keys(path, &t)?;
        Ok(rule)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{err, parse};

    #[test]
    fn rules_and_the_default_verdict_parse() {
        let c = parse(
            "[local_server.ngwaf]\nverdict = \"BLOCK\"\n[[local_server.ngwaf.rules]]\nheader = \"X-Attack: yes\"\nclient_ip = \"10.0.0.0/8\"\nverdict = \"allow\"\nstatus = 299\ntags = [\"T\"]\n",
        )
        .unwrap();
        assert_eq!(
            (c.ngwaf.default.verdict.as_str(), c.ngwaf.default.status),
            ("block", 406)
        );
        let r = &c.ngwaf.rules[0];
        assert_eq!(r.header, Some(("x-attack".into(), Some("yes".into()))));
        let v = r.verdict.as_ref().unwrap();
        assert_eq!(
            (v.verdict.as_str(), v.status, v.tags.clone()),
            ("allow", 299, vec!["T".to_string()])
        );
        assert!(parse("").unwrap().ngwaf.rules.is_empty());
    }

    #[test]
    fn a_bad_rule_names_its_key() {
        for (toml, what) in [
            ("verdict = \"maybe\"", "allow, block or unauthorized"),
            (
                "[[local_server.ngwaf.rules]]\npath_prefix = \"/\"",
                "needs a `verdict`",
            ),
            (
                "[[local_server.ngwaf.rules]]\nverdict = \"block\"\nstatus = 9",
                "HTTP status",
            ),
            (
                "[[local_server.ngwaf.rules]]\nverdict = \"block\"\nclient_ip = \"nope\"",
                "nope",
            ),
            (
                "[[local_server.ngwaf.rules]]\nverdict = \"block\"\nsize = 1",
                "unknown key `size`",
            ),
        ] {
            let e = err(&format!("[local_server.ngwaf]\n{toml}\n"));
            assert!(e.to_string().contains(what), "{toml}: {e}");
        }
    }
}
