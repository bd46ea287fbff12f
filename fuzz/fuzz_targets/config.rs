//! The `fastly.toml` parser: the input is the text, then (after a NUL) what every
//! file it names reads as (JSON stores, ACLs, geolocation files, ...). A parsed
//! configuration also becomes a service, as the runner and the tab make one.
#![no_main]

use edgeplay_host::{Service, ServiceConfig};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (text, file) = match data.iter().position(|b| *b == 0) {
        Some(i) => (&data[..i], Some(&data[i + 1..])),
        None => (data, None),
    };
    let text = String::from_utf8_lossy(text);
    let file = file.map(|f| String::from_utf8_lossy(f).into_owned());
    let read_file = |p: &str| file.clone().ok_or_else(|| format!("no file {p}"));
    let read_env = |name: &str| name.len().is_multiple_of(2).then(|| name.to_string());
    match ServiceConfig::from_toml_str_with_env(&text, "dir/fastly.toml", &read_file, &read_env) {
        Ok(config) => {
            let _ = Service::from(config);
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
