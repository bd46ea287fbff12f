//! What the fuzz targets share: the built test guests, a service configuration with
//! one of every store, and the hostcall-driving guest.

use edgeplay_host::abi::catalog::IMPORTS;
use edgeplay_host::abi::catalog_types::ValTy;
use edgeplay_host::ServiceConfig;
use std::path::PathBuf;

/// Where `scripts/build-guests.sh` put the SDK test guests: `$EDGEPLAY_GUESTS`, else
/// `$CARGO_TARGET_DIR/guests/wasm` (scripts/fuzz.sh builds them first).
pub fn guests_dir() -> PathBuf {
    if let Ok(d) = std::env::var("EDGEPLAY_GUESTS") {
        return PathBuf::from(d);
    }
    let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
    PathBuf::from(target).join("guests").join("wasm")
}

/// The SDK test guest `name` (`echo`, `hello`, ...); panics naming the path when it
/// is missing (run `scripts/build-guests.sh --rust-only`).
pub fn sdk_guest(name: &str) -> Vec<u8> {
    let path = guests_dir().join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{} is missing ({e}): run scripts/build-guests.sh --rust-only, or set EDGEPLAY_GUESTS",
            path.display()
        )
    })
}

/// A `fastly.toml` with one of everything a hostcall can name.
pub const FASTLY_TOML: &str = r#"
manifest_version = 3
name = "fuzz"

[local_server.backends.origin]
mock = { status = 201, headers = { "content-type" = "text/plain", "x-multi" = ["1", "2"] }, body = "mocked" }

[local_server.backends.plain]
url = "http://127.0.0.1:9/base"

[local_server.config_stores.settings]
format = "inline-toml"
contents = { greeting = "hello world", k = "v" }

[local_server.kv_stores]
store = [
  { key = "seeded", data = "hello", metadata = "meta-1" },
  { key = "p/1", data = "one" },
]
other = []

[local_server.secret_stores]
vault = [{ key = "api-key", data = "s3cr3t" }]

[local_server.acls]
blocklist = { entries = [{ prefix = "192.0.2.0/24", action = "BLOCK" }] }

[local_server.geolocation]
format = "inline-toml"
[local_server.geolocation.addresses."127.0.0.1"]
city = "Test City"
as_number = 12345
"#;

/// The names [`FASTLY_TOML`] defines (and a few header names and URLs), laid out in
/// the hostcall guest's memory at [`NAMES_AT`] + 32 × index.
pub const NAMES: [&str; 16] = [
    "origin",
    "plain",
    "settings",
    "greeting",
    "store",
    "seeded",
    "other",
    "vault",
    "api-key",
    "blocklist",
    "http://127.0.0.1:9/x",
    "content-type",
    "GET",
    "host",
    "p/",
    "edgeplay",
];

/// Guest address of the first name.
pub const NAMES_AT: u32 = 0x1F000;

/// [`FASTLY_TOML`] parsed.
pub fn service_config() -> ServiceConfig {
    ServiceConfig::from_toml_str(FASTLY_TOML, "fastly.toml", &|p| Err(format!("no file {p}")))
        .expect("the fuzz fastly.toml is valid")
}

/// The argument values a hostile guest likes (mode 0 of an argument).
const SPECIAL: [i64; 16] = [
    0,
    1,
    2,
    3,
    -1,
    -2,
    0x7fff_ffff,
    65_535,
    65_536,
    0x8000_0000,
    0x10000,
    0x1F000,
    4096,
    0x3FFFF,
    0x40000,
    0xFFFF_FFF0,
];

/// WAT for a guest that interprets its downstream request body as a program of
/// hostcalls: every import of the ABI catalog, its arguments drawn from the program.
///
/// Memory: page 0 free, page 1 scratch (`0x10000`, names at [`NAMES_AT`], the special
/// values at `0x1E000`), page 2 free, page 3 the program (`0x30000`, up to 64 KiB).
/// The program is a sequence of
/// - `00 ADDR:u16 LEN:u8 BYTES…`: copy the bytes to scratch + ADDR;
/// - `OP BYTE` (OP ≠ 0): call import ((OP-1)·256 + BYTE) mod N with one argument
///   after another, each `MODE VALUE…` (see `$arg`).
///
/// The program reads as zeros past its end, so every call gets arguments.
pub fn hostcall_guest_wat() -> String {
    let n = IMPORTS.len();
    let idx = |m: &str, f: &str| {
        IMPORTS
            .iter()
            .position(|i| i.module == m && i.name == f)
            .expect("import in the catalog")
    };
    let downstream = idx("fastly_http_req", "body_downstream_get");
    let read = idx("fastly_http_body", "read");
    let mut w = String::from("(module\n");
    for (i, imp) in IMPORTS.iter().enumerate() {
        let ty = |t: &ValTy| if *t == ValTy::I64 { "i64" } else { "i32" };
        let p: Vec<&str> = imp.params.iter().map(ty).collect();
        let r: Vec<&str> = imp.results.iter().map(ty).collect();
        w.push_str(&format!(
            "  (import \"{}\" \"{}\" (func $f{i}{}{}))\n",
            imp.module,
            imp.name,
            if p.is_empty() {
                String::new()
            } else {
                format!(" (param {})", p.join(" "))
            },
            if r.is_empty() {
                String::new()
            } else {
                format!(" (result {})", r.join(" "))
            },
        ));
    }
    w.push_str("  (memory (export \"memory\") 4)\n");
    let special: String = SPECIAL
        .iter()
        .flat_map(|v| (*v as i32).to_le_bytes())
        .map(|b| format!("\\{b:02x}"))
        .collect();
    w.push_str(&format!("  (data (i32.const 0x1E000) \"{special}\")\n"));
    for (k, name) in NAMES.iter().enumerate() {
        w.push_str(&format!(
            "  (data (i32.const {}) \"{name}\")\n",
            NAMES_AT + 32 * k as u32
        ));
    }
    w.push_str(
        r#"
  (global $pc (mut i32) (i32.const 0x30000))
  (global $end (mut i32) (i32.const 0x30000))
  (func $byte (result i32)
    (if (result i32) (i32.ge_u (global.get $pc) (global.get $end))
      (then (i32.const 0))
      (else
        (i32.load8_u (global.get $pc))
        (global.set $pc (i32.add (global.get $pc) (i32.const 1))))))
  (func $u16 (result i32) (i32.or (call $byte) (i32.shl (call $byte) (i32.const 8))))
  (func $u32 (result i32) (i32.or (call $u16) (i32.shl (call $u16) (i32.const 16))))
  ;; One i32 argument: MODE (low 3 bits) and a byte, then what the mode reads.
  (func $arg (result i32) (local $m i32) (local $b i32)
    (local.set $m (i32.and (call $byte) (i32.const 7)))
    (local.set $b (call $byte))
    ;; a special value
    (if (i32.eq (local.get $m) (i32.const 0))
      (then (return (i32.load (i32.add (i32.const 0x1E000)
        (i32.shl (i32.and (local.get $b) (i32.const 15)) (i32.const 2)))))))
    ;; a plausible handle
    (if (i32.eq (local.get $m) (i32.const 1)) (then (return (i32.and (local.get $b) (i32.const 7)))))
    ;; a pointer into scratch
    (if (i32.eq (local.get $m) (i32.const 2))
      (then (return (i32.add (i32.const 0x10000)
        (i32.or (local.get $b) (i32.shl (call $byte) (i32.const 8)))))))
    ;; a length
    (if (i32.eq (local.get $m) (i32.const 3))
      (then (return (i32.or (local.get $b) (i32.shl (call $byte) (i32.const 8))))))
    ;; anything
    (if (i32.eq (local.get $m) (i32.const 4)) (then (return (call $u32))))
    ;; a name
    (if (i32.eq (local.get $m) (i32.const 5))
      (then (return (i32.add (i32.const 0x1F000)
        (i32.shl (i32.and (local.get $b) (i32.const 15)) (i32.const 5))))))
    ;; what an earlier call wrote to scratch (a handle it returned)
    (if (i32.eq (local.get $m) (i32.const 6))
      (then (return (i32.load (i32.add (i32.const 0x10000) (i32.shl (local.get $b) (i32.const 2)))))))
    ;; a small number
    (local.get $b))
  ;; One i64 argument: a byte picks sign- or zero-extension of an i32 argument, or 8 raw bytes.
  (func $arg64 (result i64) (local $c i32)
    (local.set $c (call $byte))
    (if (i32.and (local.get $c) (i32.const 1))
      (then (return (i64.extend_i32_s (call $arg)))))
    (if (i32.and (local.get $c) (i32.const 2))
      (then (return (i64.or (i64.extend_i32_u (call $u32))
        (i64.shl (i64.extend_i32_u (call $u32)) (i64.const 32))))))
    (i64.extend_i32_u (call $arg)))
  ;; Copy program bytes into scratch.
  (func $poke (local $at i32) (local $n i32) (local $left i32)
    (local.set $at (i32.add (i32.const 0x10000) (call $u16)))
    (local.set $n (call $byte))
    (local.set $left (i32.sub (global.get $end) (global.get $pc)))
    (if (i32.gt_u (local.get $n) (local.get $left)) (then (local.set $n (local.get $left))))
    (memory.copy (local.get $at) (global.get $pc) (local.get $n))
    (global.set $pc (i32.add (global.get $pc) (local.get $n))))
"#,
    );
    // The dispatcher: a br_table over every import.
    w.push_str("  (func $dispatch (param $i i32)\n    (block $out\n");
    for k in (0..n).rev() {
        w.push_str(&format!("    (block $c{k}\n"));
    }
    w.push_str("    (br_table");
    for k in 0..n {
        w.push_str(&format!(" $c{k}"));
    }
    w.push_str(" $out (local.get $i)))\n");
    for (k, imp) in IMPORTS.iter().enumerate() {
        let mut call = format!("    (call $f{k}");
        for t in imp.params {
            call.push_str(if *t == ValTy::I64 {
                " (call $arg64)"
            } else {
                " (call $arg)"
            });
        }
        call.push(')');
        for _ in imp.results {
            call.push_str(" drop");
        }
        w.push_str(&format!("    {call}\n    (br $out))\n"));
    }
    w.push_str("  )\n");
    w.push_str(&format!(
        r#"
  (func (export "_start") (local $op i32)
    ;; The program: the downstream body, into page 3.
    (drop (call $f{downstream} (i32.const 0x100) (i32.const 0x104)))
    (block $done
      (loop $rd
        (br_if $done (call $f{read} (i32.load (i32.const 0x104)) (global.get $end)
          (i32.sub (i32.const 0x40000) (global.get $end)) (i32.const 0x108)))
        (br_if $done (i32.eqz (i32.load (i32.const 0x108))))
        (global.set $end (i32.add (global.get $end) (i32.load (i32.const 0x108))))
        (br $rd)))
    (block $stop
      (loop $l
        (br_if $stop (i32.ge_u (global.get $pc) (global.get $end)))
        (local.set $op (call $byte))
        (if (i32.eqz (local.get $op))
          (then (call $poke))
          (else (call $dispatch (i32.rem_u
            (i32.or (i32.shl (i32.sub (local.get $op) (i32.const 1)) (i32.const 8)) (call $byte))
            (i32.const {n})))))
        (br $l))))
)
"#
    ));
    w
}
