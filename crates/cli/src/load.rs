//! Reading the inputs: the guest (binary wasm, or the text format as Viceroy accepts)
//! and `fastly.toml`. Every failure is one clear message.

use anyhow::{anyhow, Context, Result};
use edgeplay_host::{Engine, Guest, ServiceConfig};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The guest's bytes: the file as it is, or compiled from the WebAssembly text format
/// when it is text (Viceroy accepts both).
pub fn read_guest(path: &Path) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path)
        .map_err(|e| anyhow!("could not read {}: {}", path.display(), io_reason(&e)))?;
    if looks_like_wat(&bytes) {
        return wat::parse_bytes(&bytes)
            .map(|b| b.into_owned())
            .map_err(|e| {
                anyhow!(
                    "{} is neither a WebAssembly module nor valid WebAssembly text: {}",
                    path.display(),
                    one_line(&e.to_string())
                )
            });
    }
    Ok(bytes)
}

/// True for text that may be WAT: it starts (after whitespace) with `(` or a comment.
fn looks_like_wat(bytes: &[u8]) -> bool {
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace());
    match start.map(|i| &bytes[i..]) {
        Some(rest) => rest.starts_with(b"(") || rest.starts_with(b";;") || rest.starts_with(b"(;"),
        None => false,
    }
}

/// A guest as read from the command line: a wasm module (or WAT), or a Fastly CLI
/// package (`pkg/NAME.tar.gz`: its `bin/main.wasm` and `fastly.toml`).
pub struct GuestInput {
    /// The module's bytes.
    pub wasm: Vec<u8>,
    /// The package's `fastly.toml`, when the input is a package that has one.
    pub package_toml: Option<String>,
}

/// Read a guest input: a `.tar.gz` (gzip data) is a Fastly CLI package, anything
/// else a module as [`read_guest`] reads it.
pub fn read_input(path: &Path) -> Result<GuestInput> {
    let bytes = std::fs::read(path)
        .map_err(|e| anyhow!("could not read {}: {}", path.display(), io_reason(&e)))?;
    if edgeplay_host::fiddle::package::looks_like_package(&bytes) {
        let pkg = edgeplay_host::fiddle::read_package(&bytes)
            .map_err(|e| anyhow!("{}: {e}", path.display()))?;
        return Ok(GuestInput {
            wasm: pkg.wasm,
            package_toml: pkg.fastly_toml,
        });
    }
    Ok(GuestInput {
        wasm: read_guest(path)?,
        package_toml: None,
    })
}

/// The module bytes of a guest input ([`read_input`]), a package's `fastly.toml` set aside.
pub fn read_guest_bytes(path: &Path) -> Result<Vec<u8>> {
    read_input(path).map(|i| i.wasm)
}

/// Read and load a guest (a module, a package, or a JavaScript file, `.js` or
/// `.mjs`, built first with the JS SDK's engine: [`crate::jsbuild::load_js`]);
/// returns it, a package's `fastly.toml`, and the wall time reading and preparing
/// it took.
pub fn load_guest(engine: &Engine, path: &Path) -> Result<(Arc<Guest>, Option<String>, Duration)> {
    let t0 = Instant::now();
    if crate::jsbuild::is_js(path) {
        let guest = crate::jsbuild::load_js(engine, path)?;
        return Ok((guest, None, t0.elapsed()));
    }
    let input = read_input(path)?;
    let guest = engine
        .load(&input.wasm)
        .map_err(|e| anyhow!("could not load {}: {}", path.display(), e))?;
    Ok((guest, input.package_toml, t0.elapsed()))
}

/// Read `fastly.toml` (its `[local_server]` tables). The core reads the files it names
/// relative to the `fastly.toml`'s directory; when there is no such file there, the
/// name is tried relative to the current directory, as Viceroy reads it. Secret stores'
/// `env` entries read the process environment.
pub fn load_config(path: &Path) -> Result<ServiceConfig> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        anyhow!(
            "could not read the configuration {}: {}",
            path.display(),
            io_reason(&e)
        )
    })?;
    load_config_text(&text, path)
}

/// [`load_config`] of `text` that was read from (or stands for a file at) `path`.
pub fn load_config_text(text: &str, path: &Path) -> Result<ServiceConfig> {
    let path_str = path.to_string_lossy().into_owned();
    let base = path
        .parent()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    let read_file = move |resolved: &str| -> Result<String, String> {
        let mut candidates = vec![PathBuf::from(resolved)];
        if let Some(rest) = resolved
            .strip_prefix(base.as_str())
            .and_then(|r| r.strip_prefix('/'))
            .filter(|_| !base.is_empty())
        {
            candidates.push(PathBuf::from(rest));
        }
        let found = candidates
            .iter()
            .find(|c| c.exists())
            .unwrap_or(&candidates[0]);
        std::fs::read_to_string(found)
            .map_err(|e| format!("could not read {}: {}", found.display(), io_reason(&e)))
    };
    let read_env = |name: &str| std::env::var(name).ok();
    ServiceConfig::from_toml_str_with_env(text, &path_str, &read_file, &read_env)
        .map_err(|e| anyhow!("invalid configuration: {}", one_line(&e.to_string())))
}

/// Add the stores Fastlike's flags name (`--dictionary`, `--config-store`, `--kv`,
/// `--secret-store`, `--acl`: NAME=FILE.json, in Fastlike's JSON formats) to
/// `config`, each replacing a store of the same name. The files are read by the
/// configuration's own JSON readers, so their errors name the file.
pub fn apply_fastlike_stores(
    config: &mut ServiceConfig,
    args: &crate::cli::ConfigArgs,
) -> Result<()> {
    use toml::{Table, Value};
    let file_table = |file: &Path, json_format: bool| {
        let mut t = Table::new();
        t.insert("file".into(), Value::String(file.display().to_string()));
        if json_format {
            t.insert("format".into(), Value::String("json".into()));
        }
        Value::Table(t)
    };
    let mut local = Table::new();
    let mut add = |table: &str,
                   flag: &str,
                   flags: &[(String, Option<PathBuf>)],
                   needs_file: bool,
                   json_format: bool|
     -> Result<()> {
        if flags.is_empty() {
            return Ok(());
        }
        let mut t = Table::new();
        for (name, file) in flags {
            let v = match file {
                Some(f) => file_table(f, json_format),
                None if !needs_file => Value::Array(Vec::new()),
                None => return Err(anyhow!("--{flag} {name}: expected {name}=FILE.json")),
            };
            t.insert(name.clone(), v);
        }
        local.insert(table.into(), Value::Table(t));
        Ok(())
    };
    add("dictionaries", "dictionary", &args.dictionaries, true, true)?;
    add("kv_stores", "kv", &args.kv_stores, false, true)?;
    add(
        "secret_stores",
        "secret-store",
        &args.secret_stores,
        true,
        true,
    )?;
    add("acls", "acl", &args.acls, true, false)?;
    if !args.config_stores.is_empty() {
        // One namespace with dictionaries: put them in the same table.
        let mut both = args.dictionaries.clone();
        both.extend(args.config_stores.iter().cloned());
        add("dictionaries", "config-store", &both, true, true)?;
    }
    if local.is_empty() {
        return Ok(());
    }
    let mut root = Table::new();
    root.insert("local_server".into(), Value::Table(local));
    let text = toml::to_string(&root).map_err(|e| anyhow!("{e}"))?;
    let extra = load_config_text(&text, Path::new("fastlike-flags.toml")).map_err(|e| {
        anyhow!("a store flag (--dictionary, --config-store, --kv, --secret-store, --acl): {e:#}")
    })?;
    config.config_stores.extend(extra.config_stores);
    config.kv_stores.extend(extra.kv_stores);
    config.secret_stores.extend(extra.secret_stores);
    config.acls.extend(extra.acls);
    Ok(())
}

/// An I/O error without the `(os error 2)` noise.
fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        // What `read_to_string` reports for bytes that are not UTF-8.
        std::io::ErrorKind::InvalidData => "it is not UTF-8 text".into(),
        _ => {
            let s = e.to_string();
            match s.find(" (os error") {
                Some(i) => s[..i].to_string(),
                None => s,
            }
        }
    }
}

/// Join a multi-line message into one line.
fn one_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// Read a `--data` argument: text, `@file`, or `@-` for stdin.
pub fn read_data(arg: &str) -> Result<Vec<u8>> {
    match arg.strip_prefix('@') {
        Some("-") => {
            let mut buf = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf)
                .context("could not read the request body from stdin")?;
            Ok(buf)
        }
        Some(file) => {
            std::fs::read(file).map_err(|e| anyhow!("could not read {file}: {}", io_reason(&e)))
        }
        None => Ok(arg.as_bytes().to_vec()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wat_text_is_recognised() {
        assert!(looks_like_wat(b"  (module)"));
        assert!(looks_like_wat(b";; comment\n(module)"));
        assert!(!looks_like_wat(b"\0asm\x01\0\0\0"));
        assert!(!looks_like_wat(b"hello"));
        assert!(!looks_like_wat(b""));
    }

    #[test]
    fn io_reasons_are_short() {
        let e = std::fs::read("/definitely/not/here").unwrap_err();
        assert_eq!(io_reason(&e), "no such file or directory");
    }

    #[test]
    fn messages_become_one_line() {
        assert_eq!(one_line("a\n  b\n\nc"), "a; b; c");
    }
}
