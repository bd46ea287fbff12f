//! Config stores and dictionaries, secret stores, geolocation, device detection,
//! user-agent parsing, log endpoints and the compute runtime, as a guest sees them.

mod common;

use common::{
    assert_returned, config, engine, expect, run_sdk, run_wasm, run_with, sdk_guest, summaries,
    Run, PRINT,
};
use edgeplay_host::trace::{ArgValue, HandleKind};
use edgeplay_host::{DownstreamRequest, ExecOptions, ServiceConfig};

/// The `fd_write` import [`PRINT`] needs.
const FD_WRITE: &str = r#"
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
"#;

fn guest(imports: &str, data: &str, body: &str) -> Vec<u8> {
    let text =
        format!("(module {imports} {FD_WRITE} {PRINT} {data} (func (export \"_start\") {body}))");
    wat::parse_str(text).expect("valid WAT")
}

fn run(imports: &str, data: &str, body: &str, cfg: ServiceConfig) -> Run {
    run_wasm(
        &engine(),
        &guest(imports, data, body),
        cfg,
        DownstreamRequest::new("GET", "/"),
    )
}

const CONFIG_IMPORTS: &str = r#"
  (import "fastly_config_store" "open" (func $cs_open (param i32 i32 i32) (result i32)))
  (import "fastly_config_store" "get" (func $cs_get (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_dictionary" "open" (func $d_open (param i32 i32 i32) (result i32)))
  (import "fastly_dictionary" "get" (func $d_get (param i32 i32 i32 i32 i32 i32) (result i32)))
"#;

#[test]
fn config_stores_and_dictionaries_share_one_namespace() {
    let cfg = config(
        r#"
[local_server.config_stores.settings]
format = "inline-toml"
contents = { greeting = "hello world" }
"#,
    );
    let get = |store: &str, key: (u32, u32), cap: u32| {
        format!(
            "(call $cs_get {store} (i32.const {}) (i32.const {}) (i32.const 1024) (i32.const {cap}) (i32.const 20))",
            key.0, key.1
        )
    };
    let greeting = (120, 8);
    let r = run(
        CONFIG_IMPORTS,
        r#"(data (i32.const 100) "settings") (data (i32.const 120) "greeting")
           (data (i32.const 140) "missing") (data (i32.const 160) "nope")"#,
        &[
            expect("(call $cs_open (i32.const 100) (i32.const 8) (i32.const 16))", 0),
            expect(&get("(i32.load (i32.const 16))", greeting, 256), 0),
            "(call $print (i32.const 1024) (i32.load (i32.const 20)))".into(),
            // A missing key is NONE.
            expect(&get("(i32.load (i32.const 16))", (140, 7), 256), 10),
            // A buffer too small is BUFLEN with the needed length.
            expect(&get("(i32.load (i32.const 16))", greeting, 3), 4),
            expect("(i32.load (i32.const 20))", 11),
            // An unknown store is BADF, and so is a bad handle.
            expect("(call $cs_open (i32.const 160) (i32.const 4) (i32.const 24))", 3),
            expect(&get("(i32.const 99)", greeting, 256), 3),
            // The dictionary module answers from the same stores, and takes config store handles.
            expect("(call $d_open (i32.const 100) (i32.const 8) (i32.const 28))", 0),
            expect("(call $d_get (i32.load (i32.const 16)) (i32.const 120) (i32.const 8) (i32.const 1024) (i32.const 256) (i32.const 20))", 0),
            "(call $print (i32.const 1024) (i32.load (i32.const 20)))".into(),
            // Hostile pointers are INVAL.
            expect("(call $cs_open (i32.const 65530) (i32.const 100) (i32.const 24))", 2),
            expect("(call $cs_open (i32.const 100) (i32.const 8) (i32.const 65534))", 2),
            expect(&get("(i32.load (i32.const 16))", (0xFFFF_FFF0, 100), 256), 2),
            expect("(call $cs_get (i32.load (i32.const 16)) (i32.const 120) (i32.const 8) (i32.const 65530) (i32.const 256) (i32.const 20))", 2),
        ]
        .concat(),
        cfg,
    );
    assert_returned(&r);
    assert_eq!(r.stdout(), "hello worldhello world");
    let open = r.calls("fastly_config_store::open")[0];
    assert_eq!(open.arg("name"), Some(&ArgValue::Str("settings".into())));
    assert_eq!(
        open.result("store"),
        Some(&ArgValue::Handle {
            kind: HandleKind::Dictionary,
            handle: 0
        })
    );
    let gets = r.calls("fastly_config_store::get");
    assert_eq!(gets[0].status.as_deref(), Some("ok"));
    assert_eq!(gets[1].status.as_deref(), Some("none"));
    assert_eq!(gets[2].status.as_deref(), Some("buflen"));
    assert_eq!(
        r.calls("fastly_config_store::open")[1].status.as_deref(),
        Some("badf")
    );
}

#[test]
fn secret_stores_open_get_plaintext_and_from_bytes() {
    let cfg = config(
        r#"
[local_server]
secret_stores.vault = [{key = "api-key", data = "s3cr3t"}]
"#,
    );
    let r = run(
        r#"
  (import "fastly_secret_store" "open" (func $open (param i32 i32 i32) (result i32)))
  (import "fastly_secret_store" "get" (func $get (param i32 i32 i32 i32) (result i32)))
  (import "fastly_secret_store" "plaintext" (func $plaintext (param i32 i32 i32 i32) (result i32)))
  (import "fastly_secret_store" "from_bytes" (func $from_bytes (param i32 i32 i32) (result i32)))
"#,
        r#"(data (i32.const 100) "vault") (data (i32.const 120) "api-key")
           (data (i32.const 140) "nope") (data (i32.const 160) "abc")"#,
        &[
            expect("(call $open (i32.const 100) (i32.const 5) (i32.const 16))", 0),
            expect("(call $get (i32.load (i32.const 16)) (i32.const 120) (i32.const 7) (i32.const 20))", 0),
            expect("(call $plaintext (i32.load (i32.const 20)) (i32.const 1024) (i32.const 256) (i32.const 24))", 0),
            "(call $print (i32.const 1024) (i32.load (i32.const 24)))".into(),
            expect("(call $plaintext (i32.load (i32.const 20)) (i32.const 1024) (i32.const 2) (i32.const 24))", 4),
            expect("(i32.load (i32.const 24))", 6),
            // Unknown secret and unknown store are NONE; bad handles BADF.
            expect("(call $get (i32.load (i32.const 16)) (i32.const 140) (i32.const 4) (i32.const 20))", 10),
            expect("(call $open (i32.const 140) (i32.const 4) (i32.const 16))", 10),
            expect("(call $get (i32.const 99) (i32.const 120) (i32.const 7) (i32.const 20))", 3),
            expect("(call $plaintext (i32.const 99) (i32.const 1024) (i32.const 256) (i32.const 24))", 3),
            // A secret made from guest bytes.
            expect("(call $from_bytes (i32.const 160) (i32.const 3) (i32.const 28))", 0),
            expect("(call $plaintext (i32.load (i32.const 28)) (i32.const 1024) (i32.const 256) (i32.const 24))", 0),
            "(call $print (i32.const 1024) (i32.load (i32.const 24)))".into(),
            expect("(call $from_bytes (i32.const 65530) (i32.const 100) (i32.const 28))", 2),
        ]
        .concat(),
        cfg,
    );
    assert_returned(&r);
    // What the guest prints of a secret is masked in its output (the logs), as in
    // the trace; "abc" is too short to hide (MIN_REDACTED_SECRET).
    assert_eq!(r.stdout(), "<secret redacted>abc");
    let leaked = r.trace.iter().any(|e| {
        e.summary().contains("s3cr3t")
            || e.results
                .iter()
                .any(|(_, v)| v.display().contains("s3cr3t"))
    });
    assert!(
        !leaked,
        "the plaintext must not appear in the trace:\n{}",
        summaries(&r)
    );
}

const GEO_IMPORT: &str =
    r#"(import "fastly_geo" "lookup" (func $geo (param i32 i32 i32 i32 i32) (result i32)))"#;

#[test]
fn geo_default_record_for_loopback() {
    let r = run(
        GEO_IMPORT,
        r#"(data (i32.const 100) "\7f\00\00\01") (data (i32.const 110) "\0a\00\00\01")
           (data (i32.const 120) "\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\01")"#,
        &[
            expect("(call $geo (i32.const 100) (i32.const 4) (i32.const 1024) (i32.const 2048) (i32.const 20))", 0),
            "(call $print (i32.const 1024) (i32.load (i32.const 20)))".into(),
            "(i32.store (i32.const 24) (i32.load (i32.const 20)))".into(),
            // Too small: BUFLEN with the same length.
            expect("(call $geo (i32.const 100) (i32.const 4) (i32.const 1024) (i32.const 10) (i32.const 20))", 4),
            "(if (i32.ne (i32.load (i32.const 20)) (i32.load (i32.const 24))) (then unreachable))".into(),
            // ::1 is loopback too.
            expect("(call $geo (i32.const 120) (i32.const 16) (i32.const 1024) (i32.const 2048) (i32.const 20))", 0),
            "(if (i32.ne (i32.load (i32.const 20)) (i32.load (i32.const 24))) (then unreachable))".into(),
            // An address with no data: OK and 0 bytes, as in Viceroy.
            expect("(call $geo (i32.const 110) (i32.const 4) (i32.const 1024) (i32.const 2048) (i32.const 20))", 0),
            expect("(i32.load (i32.const 20))", 0),
            // 5 octets are not an address; hostile pointers are INVAL.
            expect("(call $geo (i32.const 100) (i32.const 5) (i32.const 1024) (i32.const 2048) (i32.const 20))", 2),
            expect("(call $geo (i32.const 0xFFFFFFFF) (i32.const 4) (i32.const 1024) (i32.const 2048) (i32.const 20))", 2),
            expect("(call $geo (i32.const 100) (i32.const 4) (i32.const 65530) (i32.const 2048) (i32.const 20))", 2),
        ]
        .concat(),
        ServiceConfig::default(),
    );
    assert_returned(&r);
    let record: serde_json::Value = serde_json::from_str(&r.stdout()).expect("JSON record");
    assert_eq!(record["city"], "San Francisco");
    assert_eq!(record["as_name"], "Fastly, Inc");
    assert_eq!(record["as_number"], 54113);
    assert_eq!(record["country_code"], "US");
    assert_eq!(record["latitude"], 37.77869);
    assert_eq!(record["utc_offset"], -700);
    assert_eq!(
        r.calls("fastly_geo::lookup")[0].arg("addr"),
        Some(&ArgValue::Str("127.0.0.1".into()))
    );
}

#[test]
fn geo_configured_records_replace_the_default() {
    let cfg = config(
        r#"
[local_server.geolocation]
use_default_loopback = false
format = "inline-toml"
[local_server.geolocation.addresses."127.0.0.1"]
city = "Test City"
as_number = 12345
"#,
    );
    let r = run(
        GEO_IMPORT,
        r#"(data (i32.const 100) "\7f\00\00\01") (data (i32.const 110) "\7f\00\00\02")"#,
        &[
            expect("(call $geo (i32.const 100) (i32.const 4) (i32.const 1024) (i32.const 2048) (i32.const 20))", 0),
            "(call $print (i32.const 1024) (i32.load (i32.const 20)))".into(),
            expect("(call $geo (i32.const 110) (i32.const 4) (i32.const 1024) (i32.const 2048) (i32.const 20))", 0),
            expect("(i32.load (i32.const 20))", 0),
        ]
        .concat(),
        cfg,
    );
    assert_returned(&r);
    let record: serde_json::Value = serde_json::from_str(&r.stdout()).expect("JSON record");
    assert_eq!(
        record,
        serde_json::json!({"as_number": 12345, "city": "Test City"})
    );
}

/// What `fastly_geo.lookup` answers for `ip` under `cfg`, parsed (`None` for no data).
fn geo_record(ip: std::net::IpAddr, cfg: ServiceConfig) -> Option<serde_json::Value> {
    let octets = match ip {
        std::net::IpAddr::V4(a) => a.octets().to_vec(),
        std::net::IpAddr::V6(a) => a.octets().to_vec(),
    };
    let data: String = octets.iter().map(|o| format!("\\{o:02x}")).collect();
    let r = run(
        GEO_IMPORT,
        &format!(r#"(data (i32.const 100) "{data}")"#),
        &[
            expect(&format!("(call $geo (i32.const 100) (i32.const {}) (i32.const 1024) (i32.const 2048) (i32.const 20))", octets.len()), 0),
            "(call $print (i32.const 1024) (i32.load (i32.const 20)))".into(),
        ]
        .concat(),
        cfg,
    );
    assert_returned(&r);
    let text = r.stdout();
    (!text.is_empty()).then(|| serde_json::from_str(&text).expect("a JSON record"))
}

/// The keys of a geolocation record, sorted.
fn keys(record: &serde_json::Value) -> Vec<String> {
    let mut k: Vec<String> = record
        .as_object()
        .expect("an object")
        .keys()
        .cloned()
        .collect();
    k.sort();
    k
}

#[test]
fn geo_answers_ipv6_with_the_same_keys_as_ipv4() {
    // The loopback default (Viceroy's record): the same record for 127.0.0.1 and ::1,
    // with the field names the SDKs read (the JS SDK's `Geolocation` also lists
    // `gmt_offset`, which Viceroy's default record does not have).
    let v4 = geo_record("127.0.0.1".parse().unwrap(), ServiceConfig::default()).unwrap();
    let v6 = geo_record("::1".parse().unwrap(), ServiceConfig::default()).unwrap();
    assert_eq!(v4, v6);
    assert_eq!(
        keys(&v6),
        [
            "area_code",
            "as_name",
            "as_number",
            "city",
            "conn_speed",
            "conn_type",
            "continent",
            "country_code",
            "country_code3",
            "country_name",
            "latitude",
            "longitude",
            "metro_code",
            "postal_code",
            "proxy_description",
            "proxy_type",
            "region",
            "utc_offset"
        ]
    );
    // Configured records: an IPv6 address answers its record's keys, as IPv4 does,
    // whatever form the address was written in.
    let cfg = || {
        config(
            r#"
[local_server.geolocation]
format = "inline-toml"
[local_server.geolocation.addresses."192.0.2.1"]
as_name = "Test AS"
as_number = 64500
city = "Test City"
country_code = "ZZ"
utc_offset = 100
[local_server.geolocation.addresses."2001:0db8:0000:0000:0000:0000:0000:0001"]
as_name = "Test AS"
as_number = 64500
city = "Test City"
country_code = "ZZ"
utc_offset = 100
"#,
        )
    };
    let v4 = geo_record("192.0.2.1".parse().unwrap(), cfg()).unwrap();
    let v6 = geo_record("2001:db8::1".parse().unwrap(), cfg()).unwrap();
    assert_eq!(v4, v6);
    assert_eq!(
        keys(&v6),
        ["as_name", "as_number", "city", "country_code", "utc_offset"]
    );
    // No record and not loopback: no data, for either family.
    assert_eq!(geo_record("192.0.2.2".parse().unwrap(), cfg()), None);
    assert_eq!(geo_record("2001:db8::2".parse().unwrap(), cfg()), None);
}

#[test]
fn device_detection_answers_configured_user_agents() {
    let cfg = config(
        r#"
[local_server.device_detection]
format = "inline-toml"
[local_server.device_detection.user_agents."test-ua"]
device = { name = "iPhone", brand = "Apple", is_mobile = true }
"#,
    );
    let r = run(
        r#"(import "fastly_device_detection" "lookup" (func $dd (param i32 i32 i32 i32 i32) (result i32)))"#,
        r#"(data (i32.const 100) "test-ua") (data (i32.const 120) "other")"#,
        &[
            expect("(call $dd (i32.const 100) (i32.const 7) (i32.const 1024) (i32.const 2048) (i32.const 20))", 0),
            "(call $print (i32.const 1024) (i32.load (i32.const 20)))".into(),
            expect("(call $dd (i32.const 100) (i32.const 7) (i32.const 1024) (i32.const 4) (i32.const 20))", 4),
            expect("(call $dd (i32.const 120) (i32.const 5) (i32.const 1024) (i32.const 2048) (i32.const 20))", 10),
            expect("(call $dd (i32.const 65535) (i32.const 7) (i32.const 1024) (i32.const 2048) (i32.const 20))", 2),
        ]
        .concat(),
        cfg,
    );
    assert_returned(&r);
    let record: serde_json::Value = serde_json::from_str(&r.stdout()).expect("JSON record");
    assert_eq!(record["device"]["brand"], "Apple");
    assert_eq!(record["device"]["is_mobile"], true);
}

#[test]
fn uap_parse_fills_four_buffers() {
    let call = |family_cap: u32| {
        format!(
            "(call $parse (i32.const 100) (i32.const 10)
               (i32.const 1024) (i32.const {family_cap}) (i32.const 20)
               (i32.const 1100) (i32.const 64) (i32.const 24)
               (i32.const 1200) (i32.const 64) (i32.const 28)
               (i32.const 1300) (i32.const 64) (i32.const 32))"
        )
    };
    let r = run(
        r#"(import "fastly_uap" "parse" (func $parse (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))"#,
        r#"(data (i32.const 100) "curl/8.5.0")"#,
        &[
            expect(&call(64), 0),
            "(call $print (i32.const 1024) (i32.load (i32.const 20)))".into(),
            "(call $print (i32.const 1100) (i32.load (i32.const 24)))".into(),
            "(call $print (i32.const 1200) (i32.load (i32.const 28)))".into(),
            "(call $print (i32.const 1300) (i32.load (i32.const 32)))".into(),
            expect(&call(2), 4),
            expect("(i32.load (i32.const 20))", 4),
        ]
        .concat(),
        ServiceConfig::default(),
    );
    assert_returned(&r);
    assert_eq!(r.stdout(), "curl850");
}

#[test]
fn log_endpoints_write_lines_like_viceroy() {
    let r = run(
        r#"
  (import "fastly_log" "endpoint_get" (func $endpoint (param i32 i32 i32) (result i32)))
  (import "fastly_log" "write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "env" "xqd_log_endpoint_get" (func $xqd_endpoint (param i32 i32 i32) (result i32)))
  (import "env" "xqd_log_write" (func $xqd_write (param i32 i32 i32 i32) (result i32)))
"#,
        r#"(data (i32.const 100) "my_endpoint") (data (i32.const 120) "hello\n")
           (data (i32.const 140) "a\nb") (data (i32.const 150) "\n")
           (data (i32.const 160) "STDOUT") (data (i32.const 180) "legacy line")
           (data (i32.const 200) "fst_managed_x")"#,
        &[
            expect("(call $endpoint (i32.const 100) (i32.const 11) (i32.const 16))", 0),
            expect("(call $write (i32.load (i32.const 16)) (i32.const 120) (i32.const 6) (i32.const 20))", 0),
            expect("(i32.load (i32.const 20))", 6),
            expect("(call $write (i32.load (i32.const 16)) (i32.const 140) (i32.const 3) (i32.const 20))", 0),
            // A lone newline is an empty message: nothing is logged, but it counts as written.
            expect("(call $write (i32.load (i32.const 16)) (i32.const 150) (i32.const 1) (i32.const 20))", 0),
            expect("(i32.load (i32.const 20))", 1),
            // Reserved names are INVAL.
            expect("(call $endpoint (i32.const 160) (i32.const 6) (i32.const 24))", 2),
            expect("(call $endpoint (i32.const 200) (i32.const 13) (i32.const 24))", 2),
            // The legacy twins: same endpoint, same handle.
            expect("(call $xqd_endpoint (i32.const 100) (i32.const 11) (i32.const 28))", 0),
            "(if (i32.ne (i32.load (i32.const 28)) (i32.load (i32.const 16))) (then unreachable))".into(),
            expect("(call $xqd_write (i32.load (i32.const 28)) (i32.const 180) (i32.const 11) (i32.const 20))", 0),
            // Bad handle, hostile pointers.
            expect("(call $write (i32.const 99) (i32.const 120) (i32.const 6) (i32.const 20))", 3),
            expect("(call $write (i32.load (i32.const 16)) (i32.const 65530) (i32.const 100) (i32.const 20))", 2),
            expect("(call $endpoint (i32.const 100) (i32.const 11) (i32.const 65535))", 2),
        ]
        .concat(),
        ServiceConfig::default(),
    );
    assert_returned(&r);
    assert_eq!(
        r.logs(),
        vec![
            ("my_endpoint", "hello"),
            ("my_endpoint", "a\nb"),
            ("my_endpoint", "legacy line")
        ]
    );
    assert_eq!(
        edgeplay_host::abi::log::format_line("my_endpoint", "a\nb"),
        "my_endpoint :: a\\nb"
    );
    assert_eq!(
        r.calls("fastly_log::endpoint_get")[1].status.as_deref(),
        Some("inval")
    );
}

#[test]
fn compute_runtime_reports_cpu_heap_and_identity() {
    let imports = r#"
  (import "fastly_compute_runtime" "get_vcpu_ms" (func $vcpu (param i32) (result i32)))
  (import "fastly_compute_runtime" "get_heap_mib" (func $heap (param i32) (result i32)))
  (import "fastly_compute_runtime" "has_image_optimizer" (func $has_io (param i32) (result i32)))
  (import "fastly_compute_runtime" "get_hostname" (func $hostname (param i32 i32 i32) (result i32)))
  (import "fastly_compute_runtime" "get_sandbox_id" (func $sandbox (param i32 i32 i32) (result i32)))
  (import "env" "xqd_compute_runtime_get_heap_mib" (func $xqd_heap (param i32) (result i32)))
"#;
    let body = [
        expect("(call $vcpu (i32.const 32))", 0),
        expect("(call $heap (i32.const 40))", 0),
        expect("(i32.load (i32.const 40))", 1),
        "(drop (memory.grow (i32.const 16)))".into(),
        expect("(call $xqd_heap (i32.const 40))", 0),
        expect("(i32.load (i32.const 40))", 2),
        "(i32.store (i32.const 44) (i32.const 7))".into(),
        expect("(call $has_io (i32.const 44))", 0),
        // Image Optimizer is emulated.
        expect("(i32.load (i32.const 44))", 1),
        expect(
            "(call $hostname (i32.const 1024) (i32.const 64) (i32.const 48))",
            0,
        ),
        "(call $print (i32.const 1024) (i32.load (i32.const 48)))".into(),
        expect(
            "(call $sandbox (i32.const 1024) (i32.const 4) (i32.const 48))",
            4,
        ),
        expect("(i32.load (i32.const 48))", 32),
        expect("(call $vcpu (i32.const 0xFFFFFFF0))", 2),
    ]
    .concat();
    let opts = ExecOptions {
        fuel_per_cpu_ms: 1,
        ..ExecOptions::default()
    };
    let r = run_with(
        &engine(),
        &guest(imports, "", &body),
        ServiceConfig::default(),
        DownstreamRequest::new("GET", "/"),
        opts,
    );
    assert_returned(&r);
    assert_eq!(r.stdout(), "localhost");
    // At one fuel unit per "ms", the estimate is the fuel used so far: more than zero.
    match r.calls("fastly_compute_runtime::get_vcpu_ms")[0].result("vcpu_ms") {
        Some(ArgValue::Int(ms)) => assert!(*ms > 0),
        other => panic!("no vcpu_ms result: {other:?}"),
    }
}

#[test]
fn sdk_logging_guest() {
    let r = run_sdk("logging", DownstreamRequest::new("GET", "/"));
    assert!(r.outcome.exit.is_success(), "trace:\n{}", summaries(&r));
    assert_eq!(r.stdout(), "stdout line 1\n");
    assert_eq!(r.stderr(), "stderr line 1\n");
    assert_eq!(
        r.logs(),
        vec![
            ("my_endpoint", "hello endpoint"),
            ("my_endpoint", "second line")
        ]
    );
    assert_eq!(
        r.body_text(),
        "stdout: err InvalidEndpoint\nstderr: err InvalidEndpoint\n"
    );
}

#[test]
fn sdk_config_guest() {
    let wasm = sdk_guest("config");
    let cfg = config(
        r#"
[local_server.config_stores.settings]
format = "inline-toml"
contents = { greeting = "hello world" }

[local_server.dictionaries.legacy]
format = "inline-toml"
contents = { k = "dictionary value" }

[local_server]
secret_stores.vault = [{key = "api-key", data = "s3cr3t"}]
"#,
    );
    let get = |path: &str| {
        let r = run_wasm(
            &engine(),
            &wasm,
            cfg.clone(),
            DownstreamRequest::new("GET", path),
        );
        assert!(
            r.outcome.exit.is_success(),
            "{path}: trace:\n{}",
            summaries(&r)
        );
        (r.response.status, r.body_text())
    };
    assert_eq!(
        get("/config/settings/greeting"),
        (200, "hello world".into())
    );
    assert_eq!(
        get("/config/settings/nope"),
        (404, "missing key nope".into())
    );
    let (status, body) = get("/config/unknown/x");
    assert_eq!(status, 500);
    assert!(body.contains("ConfigStoreDoesNotExist"), "{body}");
    assert_eq!(get("/dict/legacy/k"), (200, "dictionary value".into()));
    assert_eq!(get("/secret/vault/api-key"), (200, "s3cr3t".into()));
    assert_eq!(get("/secret/vault/nope"), (404, "missing key nope".into()));
    let (status, body) = get("/secret/unknown/x");
    assert_eq!(status, 500);
    assert!(body.contains("SecretStoreDoesNotExist"), "{body}");
    assert_eq!(get("/secret-from-bytes/xyz"), (200, "xyz".into()));
}

#[test]
fn sdk_geo_guest() {
    let wasm = sdk_guest("geo");
    let r = run_wasm(
        &engine(),
        &wasm,
        ServiceConfig::default(),
        DownstreamRequest::new("GET", "/"),
    );
    assert!(r.outcome.exit.is_success(), "trace:\n{}", summaries(&r));
    assert_eq!(r.response.status, 200, "{}", r.body_text());
    let doc: serde_json::Value = serde_json::from_str(&r.body_text()).expect("JSON body");
    assert_eq!(doc["ip"], "127.0.0.1");
    assert_eq!(doc["city"], "San Francisco");
    assert_eq!(doc["as_number"], 54113);

    let r = run_wasm(
        &engine(),
        &wasm,
        ServiceConfig::default(),
        DownstreamRequest::new("GET", "/?ip=192.0.2.1"),
    );
    assert_eq!(r.response.status, 404, "{}", r.body_text());
}
