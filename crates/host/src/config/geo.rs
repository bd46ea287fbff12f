//! `[local_server.geolocation]`: records per IP address, and Viceroy's default record
//! for loopback addresses.

use super::parse::{json_type_name, scalar_to_json, ConfigError, KeyPath, Parser, R};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::IpAddr;
use toml::{Table, Value};

/// Geolocation data: `[local_server.geolocation]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GeoConfig {
    /// Answer loopback addresses that have no record with Viceroy's default record.
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

impl GeoConfig {
    /// The record for `ip`: the configured one, else the default record for a loopback
    /// address when `use_default_loopback` is on, else `None` (as Viceroy).
    pub fn lookup(&self, ip: &IpAddr) -> Option<serde_json::Value> {
        self.addresses
            .get(ip)
            .cloned()
            .or_else(|| (self.use_default_loopback && ip.is_loopback()).then(default_geo_record))
    }
}

/// Viceroy's geolocation record for loopback addresses (Fastly's office in San Francisco).
pub fn default_geo_record() -> serde_json::Value {
    // Keys in alphabetical order, as Viceroy serializes them.
    serde_json::json!({
        "area_code": 415,
        "as_name": "Fastly, Inc",
        "as_number": 54113,
        "city": "San Francisco",
        "conn_speed": "broadband",
        "conn_type": "wired",
        "continent": "NA",
        "country_code": "US",
        "country_code3": "USA",
        "country_name": "United States of America",
        "latitude": 37.77869,
        "longitude": -122.39557,
        "metro_code": 0,
        "postal_code": "94107",
        "proxy_description": "?",
        "proxy_type": "?",
        "region": "CA",
        "utc_offset": -700
    })
}

impl Parser<'_> {
    pub(super) fn geolocation(&self, path: &KeyPath, mut t: Table) -> R<GeoConfig> {
        let mut geo = GeoConfig::default();
        if let Some(v) = t.remove("use_default_loopback") {
            geo.use_default_loopback = match v {
                Value::Boolean(b) => b,
                other => {
                    return Err(self.expected(
                        &path.key("use_default_loopback"),
                        "a boolean",
                        &other,
                    ))
                }
            };
        }
        match self
            .format_or_implied(path, &mut t, "addresses")?
            .as_deref()
        {
            None => {}
            Some("inline-toml") => {
                let (ap, raw) = self.inline_table(
                    path,
                    &mut t,
                    "addresses",
                    "an `addresses`",
                    "a table of addresses",
                )?;
                for (addr, rec) in raw {
                    let rp = ap.key(&addr);
                    let ip: IpAddr = addr
                        .parse()
                        .map_err(|_| self.err(&rp, format!("{addr:?} is not an IP address")))?;
                    let fields = self.table(&rp, rec, "a table of fields")?;
                    let mut obj = serde_json::Map::new();
                    for (field, v) in fields {
                        let json = scalar_to_json(&v).ok_or_else(|| {
                            self.expected(&rp.key(&field), "a string, number or boolean", &v)
                        })?;
                        obj.insert(field, json);
                    }
                    geo.addresses.insert(ip, serde_json::Value::Object(obj));
                }
            }
            Some(_) => {
                let (file, map) = self.json_object_file(path, &mut t)?;
                for (addr, rec) in map {
                    let bad = |message: String| ConfigError {
                        file: file.clone(),
                        line: None,
                        key: Some(addr.clone()),
                        message,
                    };
                    let ip: IpAddr = addr
                        .parse()
                        .map_err(|_| bad(format!("{addr:?} is not an IP address")))?;
                    if !rec.is_object() {
                        return Err(bad(format!(
                            "expected an object, found {}",
                            json_type_name(&rec)
                        )));
                    }
                    geo.addresses.insert(ip, rec);
                }
            }
        }
        self.no_other_keys(path, &t)?;
        Ok(geo)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{err, files, parse, parse_with};
    use super::*;

    #[test]
    fn geolocation_inline_json_and_default() {
        let c = parse(
            r#"
[local_server.geolocation]
use_default_loopback = false
format = "inline-toml"
[local_server.geolocation.addresses."127.0.0.1"]
city = "Test City"
as_number = 12345
latitude = 12.345
[local_server.geolocation.addresses."0000:0000:0000:0000:0000:0000:0000:0001"]
city = "Test City IPv6"
"#,
        )
        .unwrap();
        assert!(!c.geolocation.use_default_loopback);
        let v4: IpAddr = "127.0.0.1".parse().unwrap();
        let rec = c.geolocation.lookup(&v4).unwrap();
        assert_eq!(rec["city"], "Test City");
        assert_eq!(rec["as_number"], 12345);
        let v6: IpAddr = "::1".parse().unwrap();
        assert_eq!(c.geolocation.lookup(&v6).unwrap()["city"], "Test City IPv6");
        assert_eq!(c.geolocation.lookup(&"127.0.0.2".parse().unwrap()), None);

        let fs = files(&[("proj/geo.json", r#"{"10.0.0.1": {"city": "Ten"}}"#)]);
        let c = parse_with(
            "[local_server.geolocation]\nformat = \"json\"\nfile = \"geo.json\"\n",
            &fs,
        )
        .unwrap();
        assert_eq!(
            c.geolocation.lookup(&"10.0.0.1".parse().unwrap()).unwrap()["city"],
            "Ten"
        );
        // Default loopback stays on.
        assert_eq!(c.geolocation.lookup(&v4).unwrap()["as_number"], 54113);
        assert_eq!(c.geolocation.lookup(&"192.0.2.1".parse().unwrap()), None);
    }

    #[test]
    fn geolocation_errors_name_key_and_line() {
        let e = err("[local_server.geolocation]\nuse_default_loopback = \"yes\"\n");
        assert_eq!(
            e.key.as_deref(),
            Some("local_server.geolocation.use_default_loopback")
        );
        assert_eq!(e.line, Some(2));

        let e = err("[local_server.geolocation]\nformat = \"inline-toml\"\n[local_server.geolocation.addresses.\"not-an-ip\"]\ncity = \"x\"\n");
        assert!(e.message.contains("not an IP address"));
        assert_eq!(e.line, Some(3));
    }
}
