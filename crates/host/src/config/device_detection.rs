//! `[local_server.device_detection]`: records per user agent.

use super::parse::{json_type_name, scalar_to_json, ConfigError, KeyPath, Parser, R};
use std::collections::BTreeMap;
use toml::{Table, Value};

impl Parser<'_> {
    pub(super) fn device_detection(
        &self,
        path: &KeyPath,
        mut t: Table,
    ) -> R<BTreeMap<String, serde_json::Value>> {
        let mut out = BTreeMap::new();
        match self
            .format_or_implied(path, &mut t, "user_agents")?
            .as_deref()
        {
            None => {}
            Some("inline-toml") => {
                let (up, raw) = self.inline_table(
                    path,
                    &mut t,
                    "user_agents",
                    "a `user_agents`",
                    "a table of user agents",
                )?;
                for (ua, rec) in raw {
                    let rp = up.key(&ua);
                    let fields = self.table(&rp, rec, "a table")?;
                    let json = self.toml_table_to_json(&rp, fields)?;
                    out.insert(ua, json);
                }
            }
            Some(_) => {
                let (file, map) = self.json_object_file(path, &mut t)?;
                for (ua, rec) in map {
                    if !rec.is_object() {
                        return Err(ConfigError {
                            file,
                            line: None,
                            key: Some(ua),
                            message: format!("expected an object, found {}", json_type_name(&rec)),
                        });
                    }
                    out.insert(ua, rec);
                }
            }
        }
        self.no_other_keys(path, &t)?;
        Ok(out)
    }

    /// A table of scalars and tables as a JSON object (device detection records).
    pub(super) fn toml_table_to_json(&self, path: &KeyPath, t: Table) -> R<serde_json::Value> {
        let mut obj = serde_json::Map::new();
        for (k, v) in t {
            let p = path.key(&k);
            let json = match v {
                Value::Table(inner) => self.toml_table_to_json(&p, inner)?,
                other => scalar_to_json(&other).ok_or_else(|| {
                    self.expected(&p, "a string, number, boolean or table", &other)
                })?,
            };
            obj.insert(k, json);
        }
        Ok(serde_json::Value::Object(obj))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{files, parse, parse_with};

    #[test]
    fn device_detection_inline_and_json() {
        let c = parse(
            r#"
[local_server.device_detection]
format = "inline-toml"
[local_server.device_detection.user_agents."Mozilla/5.0 (iPhone)"]
user_agent = {}
os = {}
device = {name = "iPhone", brand = "Apple", is_mobile = true}
"#,
        )
        .unwrap();
        let rec = &c.device_detection["Mozilla/5.0 (iPhone)"];
        assert_eq!(rec["device"]["brand"], "Apple");
        assert_eq!(rec["device"]["is_mobile"], true);

        let fs = files(&[("proj/dd.json", r#"{"ua": {"device": {"name": "X"}}}"#)]);
        let c = parse_with(
            "[local_server.device_detection]\nformat = \"json\"\nfile = \"dd.json\"\n",
            &fs,
        )
        .unwrap();
        assert_eq!(c.device_detection["ua"]["device"]["name"], "X");
    }
}
