//! Where things are printed, as Viceroy prints them.
//!
//! - The runner's own messages are `tracing` events in the `tracing-subscriber` fmt
//!   format without targets or colours (`2026-01-01T00:00:00.000000Z  INFO Listening on
//!   http://127.0.0.1:7676`). As in Viceroy, ERROR events go to stderr and the others
//!   to stdout; the level is ERROR by default, INFO with `-v`, DEBUG with `-vv`, TRACE
//!   with `-vvv`, and `RUST_LOG` overrides it; `RUST_LOG_PRETTY=true` selects the
//!   pretty format. `edgeplay request` sends every event to stderr (stdout carries the
//!   response).
//! - Named log endpoint lines: `endpoint :: message` on stdout, one line per write, a
//!   trailing newline dropped, interior newlines escaped as `\n`, empty messages skipped.
//! - Guest stdout and stderr: passed through to the process's stdout and stderr as
//!   written; with `--log-stdout` / `--log-stderr` each write becomes a log line of the
//!   endpoint `stdout` / `stderr`, printed on stdout like other endpoints.

use edgeplay_host::abi::log::format_line;
use edgeplay_host::Output;
use std::io::{self, Write};
use tracing::{Level, Metadata};
use tracing_subscriber::fmt::writer::MakeWriter;
use tracing_subscriber::EnvFilter;

/// The tracing target of the "Listening on" line, so it can be shown even at the
/// default level when the port was chosen by the system (`--addr 127.0.0.1:0`).
pub const LISTEN_TARGET: &str = "edgeplay::listen";

/// The tracing target of warnings about options edgeplay accepts but ignores: shown
/// at every verbosity, since they are about what the user asked for.
pub const COMPAT_TARGET: &str = "edgeplay::compat";

/// Where runner messages go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogDest {
    /// As Viceroy: ERROR to stderr, everything else to stdout.
    Viceroy,
    /// Everything to stderr (`edgeplay request`).
    Stderr,
}

/// The filter directive for a `-v` count, as Viceroy sets `RUST_LOG`.
pub fn level_directive(verbosity: u8) -> &'static str {
    match verbosity {
        0 => "edgeplay=error",
        1 => "edgeplay=info",
        2 => "edgeplay=debug",
        _ => "edgeplay=trace",
    }
}

/// Install the global subscriber. `show_listen` keeps the "Listening on" line visible at
/// the default level. Calling it twice is harmless (the second call does nothing).
pub fn init_tracing(verbosity: u8, dest: LogDest, show_listen: bool) {
    let filter = match std::env::var("RUST_LOG") {
        Ok(v) if !v.is_empty() => EnvFilter::new(v),
        _ => {
            let mut d = level_directive(verbosity).to_string();
            if verbosity == 0 {
                d.push_str(&format!(",{COMPAT_TARGET}=warn"));
                if show_listen {
                    d.push_str(&format!(",{LISTEN_TARGET}=info"));
                }
            }
            EnvFilter::new(d)
        }
    };
    let builder = tracing_subscriber::fmt()
        .with_writer(StdWriter { dest })
        .with_env_filter(filter)
        .with_target(false)
        // A closed stdout/stderr (e.g. `| head`) must not make the runner panic.
        .log_internal_errors(false);
    let _ = match std::env::var("RUST_LOG_PRETTY") {
        Ok(s) if s == "true" => builder.pretty().with_level(true).try_init(),
        _ => builder.with_ansi(false).try_init(),
    };
}

/// Picks stdout or stderr per event.
#[derive(Clone, Copy, Debug)]
pub struct StdWriter {
    dest: LogDest,
}

/// stdout or stderr.
pub enum Stdio {
    /// stdout
    Out(io::Stdout),
    /// stderr
    Err(io::Stderr),
}

impl Write for Stdio {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stdio::Out(o) => o.write(buf),
            Stdio::Err(e) => e.write(buf),
        }
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Stdio::Out(o) => o.write_all(buf),
            Stdio::Err(e) => e.write_all(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stdio::Out(o) => o.flush(),
            Stdio::Err(e) => e.flush(),
        }
    }
}

impl<'a> MakeWriter<'a> for StdWriter {
    type Writer = Stdio;

    fn make_writer(&'a self) -> Stdio {
        match self.dest {
            LogDest::Viceroy => Stdio::Out(io::stdout()),
            LogDest::Stderr => Stdio::Err(io::stderr()),
        }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Stdio {
        if self.dest == LogDest::Stderr || *meta.level() == Level::ERROR {
            Stdio::Err(io::stderr())
        } else {
            Stdio::Out(io::stdout())
        }
    }
}

/// A guest stdout/stderr write as a log entry, as Viceroy's `--log-stdout` writes it: `name :: message\n`, one trailing newline
/// dropped, interior newlines escaped as `\n`; `None` for an empty message.
pub fn log_entry(endpoint: &str, message: &[u8]) -> Option<Vec<u8>> {
    let msg = message.strip_suffix(b"\n").unwrap_or(message);
    if msg.is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(endpoint.len() + msg.len() + 5);
    out.extend_from_slice(endpoint.as_bytes());
    out.extend_from_slice(b" :: ");
    for &b in msg {
        if b == b'\n' {
            out.extend_from_slice(b"\\n");
        } else {
            out.push(b);
        }
    }
    out.push(b'\n');
    Some(out)
}

/// Prints a guest's stdout, stderr and log lines as Viceroy does.
#[derive(Clone, Copy, Debug, Default)]
pub struct GuestPrinter {
    /// `--log-stdout`: guest stdout writes become `stdout :: ...` lines.
    pub log_stdout: bool,
    /// `--log-stderr`: guest stderr writes become `stderr :: ...` lines.
    pub log_stderr: bool,
    /// Send everything to stderr (`edgeplay request`, whose stdout is the response).
    pub all_to_stderr: bool,
}

impl GuestPrinter {
    /// Print `o` if it is guest stdout, stderr or a log line; false for response parts.
    pub fn print(&self, o: &Output) -> bool {
        match o {
            Output::Stdout(b) if self.log_stdout => self.entry("stdout", b),
            Output::Stdout(b) => self.raw(b, false),
            Output::Stderr(b) if self.log_stderr => self.entry("stderr", b),
            Output::Stderr(b) => self.raw(b, true),
            Output::Log { endpoint, line } => {
                // The core already dropped the trailing newline and empty messages.
                if !line.is_empty() {
                    let mut l = format_line(endpoint, line).into_bytes();
                    l.push(b'\n');
                    self.raw(&l, false);
                }
            }
            _ => return false,
        }
        true
    }

    fn entry(&self, endpoint: &str, msg: &[u8]) {
        if let Some(e) = log_entry(endpoint, msg) {
            self.raw(&e, false);
        }
    }

    fn raw(&self, bytes: &[u8], stderr: bool) {
        // A closed pipe must not bring the runner down: write errors are ignored.
        if stderr || self.all_to_stderr {
            let mut e = io::stderr().lock();
            let _ = e.write_all(bytes);
            let _ = e.flush();
        } else {
            let mut o = io::stdout().lock();
            let _ = o.write_all(bytes);
            let _ = o.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_match_viceroys_format() {
        assert_eq!(
            log_entry("my_endpoint", b"hello\n").unwrap(),
            b"my_endpoint :: hello\n"
        );
        assert_eq!(log_entry("e", b"a\nb").unwrap(), b"e :: a\\nb\n");
        assert_eq!(log_entry("e", b"a\n\n").unwrap(), b"e :: a\\n\n");
        assert_eq!(log_entry("e", b"\n"), None);
        assert_eq!(log_entry("e", b""), None);
    }

    #[test]
    fn levels_follow_verbosity() {
        assert_eq!(level_directive(0), "edgeplay=error");
        assert_eq!(level_directive(1), "edgeplay=info");
        assert_eq!(level_directive(2), "edgeplay=debug");
        assert_eq!(level_directive(9), "edgeplay=trace");
    }
}
