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

/// Read and load a guest; returns it and the wall time reading and preparing it took.
/// A JavaScript file (`.js`, `.mjs`) is built first, with the JS SDK's engine
/// ([`crate::jsbuild::load_js`]).
pub fn load_guest(engine: &Engine, path: &Path) -> Result<(Arc<Guest>, Duration)> {
    let t0 = Instant::now();
    if crate::jsbuild::is_js(path) {
        let guest = crate::jsbuild::load_js(engine, path)?;
        return Ok((guest, t0.elapsed()));
    }
    let bytes = read_guest(path)?;
    let guest = engine
        .load(&bytes)
        .map_err(|e| anyhow!("could not load {}: {}", path.display(), e))?;
    Ok((guest, t0.elapsed()))
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
    ServiceConfig::from_toml_str_with_env(&text, &path_str, &read_file, &read_env)
        .map_err(|e| anyhow!("invalid configuration: {}", one_line(&e.to_string())))
}

/// An I/O error without the `(os error 2)` noise.
fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
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
