//! `wasi_snapshot_preview1`: every WASI preview1 function — the 22 Rust and JS
//! Compute guests import, and the other 24 a Go (`GOOS=wasip1`) runtime or another
//! toolchain may import, so no guest traps on one.
//!
//! A Compute instance has stdin (always at end of file), stdout and stderr, no
//! preopened directories, the `FASTLY_*` environment and the argument list
//! `["compute-app"]`. Where a choice is observable, the answers follow
//! wasmtime-wasi's preview1 implementation, which Viceroy uses:
//!
//! - `fd_write` on stdout/stderr writes the first non-empty iovec (callers loop),
//!   `fd_read` on stdin returns 0 bytes (EOF); other descriptors are BADF.
//! - stdio descriptors are character devices with `fd_read` (stdin) or `fd_write`
//!   rights; seeking them is SPIPE; `fd_close` of one succeeds.
//! - Every directory or path call answers BADF: there is no directory descriptor.
//! - The CPU-time clocks answer BADF (`clock_time_get`/`clock_res_get`) and INVAL
//!   (`poll_oneoff`), as in wasmtime.
//! - `poll_oneoff` with a clock subscription that is not yet due suspends the guest:
//!   the driver performs a [`WorkKind::Sleep`] for the earliest deadline.
//! - `proc_exit` with a code of 126 or more traps, as in wasmtime.
//! - The functions no Compute SDK calls answer as such a host does:
//!   `sched_yield` succeeds (and lets the driver run outside work); `fd_filestat_get`
//!   on stdio is a character device of size 0; `fd_tell`, `fd_pread` and `fd_pwrite`
//!   on stdio are SPIPE (streams have no position); `fd_advise`, `fd_allocate`,
//!   `fd_datasync`, `fd_sync`, `fd_filestat_set_*`, `fd_fdstat_set_rights` and
//!   `fd_renumber` on stdio are NOTSUP, BADF on any other descriptor; the socket calls
//!   are NOTSOCK on stdio and BADF elsewhere (no socket is ever open); every other
//!   path call is BADF; `proc_raise` is NOTSUP (wasmtime's answer).
//!
//! Memory faults answer EFAULT (mapped in [`super::dispatch`]).

use super::{Cx, Fault, Flow, HostResult, Registry};
use crate::memory::{GuestMem, MemError};
use crate::session::{Blocked, Session, WorkId, WorkKind, YieldNow};
use crate::status::errno;
use crate::trace::{ArgValue, HandleKind};

/// Resolution reported by `clock_res_get` for the realtime and monotonic clocks: 1 µs.
pub const CLOCK_RESOLUTION_NS: u64 = 1_000;

/// Size of a preview1 `subscription` in guest memory.
pub const SUBSCRIPTION_SIZE: u32 = 48;
/// Size of a preview1 `event` in guest memory.
pub const EVENT_SIZE: u32 = 32;

const FD_STDIN: u32 = 0;
const FD_STDOUT: u32 = 1;
const FD_STDERR: u32 = 2;

const FILETYPE_CHARACTER_DEVICE: u8 = 2;
const RIGHTS_FD_READ: u64 = 1 << 1;
const RIGHTS_FD_WRITE: u64 = 1 << 6;

const CLOCK_REALTIME: u32 = 0;
const CLOCK_MONOTONIC: u32 = 1;
const CLOCK_PROCESS_CPUTIME: u32 = 2;
const CLOCK_THREAD_CPUTIME: u32 = 3;

const EVENTTYPE_CLOCK: u8 = 0;
const EVENTTYPE_FD_READ: u8 = 1;
const EVENTTYPE_FD_WRITE: u8 = 2;
const SUBCLOCKFLAGS_ABSTIME: u16 = 1;

fn errno(code: i32) -> Fault {
    Fault::Status(code)
}

fn oob(mem: &GuestMem<'_>, ptr: u32, len: u64) -> MemError {
    MemError::OutOfBounds {
        ptr,
        len,
        size: mem.size(),
    }
}

/// `ptr + n` as a guest address, or a fault when it leaves the 32-bit space.
fn offset(mem: &GuestMem<'_>, ptr: u32, n: u64) -> Result<u32, MemError> {
    u32::try_from(ptr as u64 + n).map_err(|_| oob(mem, ptr, n))
}

fn fd_name(fd: u32) -> &'static str {
    match fd {
        FD_STDIN => "stdin",
        FD_STDOUT => "stdout",
        FD_STDERR => "stderr",
        _ => "fd",
    }
}

fn fd_arg(cx: &mut Cx<'_>, fd: u32) {
    cx.handle_arg("fd", HandleKind::Fd, fd);
}

fn clock_name(id: u32) -> String {
    match id {
        CLOCK_REALTIME => "realtime".into(),
        CLOCK_MONOTONIC => "monotonic".into(),
        CLOCK_PROCESS_CPUTIME => "process_cputime_id".into(),
        CLOCK_THREAD_CPUTIME => "thread_cputime_id".into(),
        other => format!("invalid clock {other}"),
    }
}

/// Read `n` iovecs (`{buf: u32, buf_len: u32}`) at `iovs`.
fn read_iovecs(mem: &mut GuestMem<'_>, iovs: u32, n: u32) -> Result<Vec<(u32, u32)>, MemError> {
    let bytes = n as u64 * 8;
    let len = u32::try_from(bytes).map_err(|_| oob(mem, iovs, bytes))?;
    let raw = mem.read_bytes(iovs, len)?;
    Ok(raw
        .chunks_exact(8)
        .map(|c| {
            (
                u32::from_le_bytes([c[0], c[1], c[2], c[3]]),
                u32::from_le_bytes([c[4], c[5], c[6], c[7]]),
            )
        })
        .collect())
}

/// Write a NUL-terminated string list the way `args_get`/`environ_get` do: one
/// pointer per item at `ptrs`, the bytes packed at `buf`.
fn write_string_list(
    mem: &mut GuestMem<'_>,
    ptrs: u32,
    buf: u32,
    items: &[Vec<u8>],
) -> Result<(), MemError> {
    let mut p = ptrs;
    let mut b = buf;
    for item in items {
        mem.write_u32(p, b)?;
        mem.write(b, item)?;
        let nul = offset(mem, b, item.len() as u64)?;
        mem.write_u8(nul, 0)?;
        p = offset(mem, p, 4)?;
        b = offset(mem, nul, 1)?;
    }
    Ok(())
}

fn args_bytes(s: &Session) -> Vec<Vec<u8>> {
    s.args.iter().map(|a| a.as_bytes().to_vec()).collect()
}

fn environ_bytes(s: &Session) -> Vec<Vec<u8>> {
    s.env
        .iter()
        .map(|(k, v)| format!("{k}={v}").into_bytes())
        .collect()
}

/// The sizes `args_sizes_get`/`environ_sizes_get` report: count and total bytes with NULs.
fn list_sizes(items: &[Vec<u8>]) -> (u32, u32) {
    let total: usize = items.iter().map(|i| i.len() + 1).sum();
    (
        u32::try_from(items.len()).unwrap_or(u32::MAX),
        u32::try_from(total).unwrap_or(u32::MAX),
    )
}

/// One event `poll_oneoff` writes back.
#[derive(Clone, Debug, PartialEq)]
struct EventRec {
    userdata: u64,
    error: u16,
    kind: u8,
    nbytes: u64,
}

fn write_events(
    mem: &mut GuestMem<'_>,
    out: u32,
    nevents_out: u32,
    events: &[EventRec],
) -> Result<(), MemError> {
    let mut at = out;
    for e in events {
        let mut rec = [0u8; EVENT_SIZE as usize];
        rec[0..8].copy_from_slice(&e.userdata.to_le_bytes());
        rec[8..10].copy_from_slice(&e.error.to_le_bytes());
        rec[10] = e.kind;
        rec[16..24].copy_from_slice(&e.nbytes.to_le_bytes());
        // fd_readwrite.flags at 24..26 stay 0.
        mem.write(at, &rec)?;
        at = offset(mem, at, EVENT_SIZE as u64)?;
    }
    mem.write_u32(nevents_out, events.len() as u32)
}

/// A `poll_oneoff` call waiting for its earliest clock deadline.
struct PollSleep {
    work: WorkId,
    due: Vec<EventRec>,
    out: u32,
    nevents_out: u32,
}

impl Blocked for PollSleep {
    fn poll(&mut self, mem: &mut GuestMem<'_>, s: &mut Session) -> Option<i32> {
        s.work.take_result(self.work)?;
        Some(
            match write_events(mem, self.out, self.nevents_out, &self.due) {
                Ok(()) => errno::SUCCESS,
                Err(_) => errno::FAULT,
            },
        )
    }
}

/// What one subscription asks for.
enum Sub {
    /// A clock that is due in this many nanoseconds.
    Clock { remaining_ns: u64 },
    /// A descriptor that is ready now.
    Ready { kind: u8 },
}

/// Decoded subscriptions (userdata and what each asks for), and their descriptions for the trace.
type Decoded = (Vec<(u64, Sub)>, Vec<String>);

/// Decode the subscriptions of a `poll_oneoff` call; an invalid one fails the whole call.
fn decode_subscriptions(cx: &mut Cx<'_>, input: u32, n: u32) -> HostResult<Decoded> {
    let bytes = n as u64 * SUBSCRIPTION_SIZE as u64;
    let len = u32::try_from(bytes).map_err(|_| oob(&cx.mem, input, bytes))?;
    let raw = cx.mem.read_bytes(input, len)?;
    let mut subs = Vec::with_capacity(n as usize);
    let mut described = Vec::new();
    for rec in raw.chunks_exact(SUBSCRIPTION_SIZE as usize) {
        let u64_at = |o: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&rec[o..o + 8]);
            u64::from_le_bytes(b)
        };
        let u32_at = |o: usize| u32::from_le_bytes([rec[o], rec[o + 1], rec[o + 2], rec[o + 3]]);
        let userdata = u64_at(0);
        let tag = rec[8];
        match tag {
            EVENTTYPE_CLOCK => {
                let id = u32_at(16);
                let timeout = u64_at(24);
                let flags = u16::from_le_bytes([rec[40], rec[41]]);
                let absolute = flags & SUBCLOCKFLAGS_ABSTIME != 0;
                let remaining_ns = match (id, absolute) {
                    (CLOCK_REALTIME | CLOCK_MONOTONIC, false) => timeout,
                    (CLOCK_MONOTONIC, true) => {
                        timeout.saturating_sub(cx.s.platform.clock.monotonic_ns())
                    }
                    (CLOCK_REALTIME, true) => timeout.saturating_sub(cx.s.platform.clock.unix_ns()),
                    _ => {
                        cx.note(format!(
                            "poll_oneoff cannot wait on the {} clock",
                            clock_name(id)
                        ));
                        return Err(errno(errno::INVAL));
                    }
                };
                described.push(format!(
                    "clock {} {}{} ns (userdata {userdata})",
                    clock_name(id),
                    if absolute { "at " } else { "+" },
                    timeout
                ));
                subs.push((userdata, Sub::Clock { remaining_ns }));
            }
            EVENTTYPE_FD_READ | EVENTTYPE_FD_WRITE => {
                let fd = u32_at(16);
                let ok = if tag == EVENTTYPE_FD_READ {
                    fd == FD_STDIN
                } else {
                    fd == FD_STDOUT || fd == FD_STDERR
                };
                let what = if tag == EVENTTYPE_FD_READ {
                    "fd_read"
                } else {
                    "fd_write"
                };
                described.push(format!("{what} {fd} (userdata {userdata})"));
                if !ok {
                    cx.note(format!(
                        "{what} subscription on descriptor {fd}, which cannot be polled that way"
                    ));
                    return Err(errno(errno::BADF));
                }
                subs.push((userdata, Sub::Ready { kind: tag }));
            }
            other => {
                cx.note(format!("unknown subscription tag {other}"));
                return Err(errno(errno::INVAL));
            }
        }
    }
    Ok((subs, described))
}

fn poll_oneoff(cx: &mut Cx<'_>, input: u32, out: u32, n: u32, nevents_out: u32) -> HostResult {
    if n == 0 {
        cx.note("no subscriptions: waiting forever is not supported");
        return Err(errno(errno::INVAL));
    }
    let (subs, described) = decode_subscriptions(cx, input, n)?;
    cx.arg("subscriptions", ArgValue::List(described));
    let ready_now: Vec<EventRec> = subs
        .iter()
        .filter_map(|(userdata, sub)| match sub {
            Sub::Ready { kind } => Some(EventRec {
                userdata: *userdata,
                error: 0,
                kind: *kind,
                nbytes: 1,
            }),
            Sub::Clock { remaining_ns: 0 } => Some(EventRec {
                userdata: *userdata,
                error: 0,
                kind: EVENTTYPE_CLOCK,
                nbytes: 0,
            }),
            Sub::Clock { .. } => None,
        })
        .collect();
    if !ready_now.is_empty() {
        write_events(&mut cx.mem, out, nevents_out, &ready_now)?;
        cx.result("nevents", ArgValue::Int(ready_now.len() as i64));
        return Ok(errno::SUCCESS);
    }
    // Only clocks, none due yet: sleep until the earliest and report every clock due then.
    let earliest = subs
        .iter()
        .filter_map(|(_, s)| match s {
            Sub::Clock { remaining_ns } => Some(*remaining_ns),
            Sub::Ready { .. } => None,
        })
        .min()
        .unwrap_or(0);
    let due: Vec<EventRec> = subs
        .iter()
        .filter(|(_, s)| matches!(s, Sub::Clock { remaining_ns } if *remaining_ns <= earliest))
        .map(|(userdata, _)| EventRec {
            userdata: *userdata,
            error: 0,
            kind: EVENTTYPE_CLOCK,
            nbytes: 0,
        })
        .collect();
    cx.result("nevents", ArgValue::Int(due.len() as i64));
    cx.note(format!("sleeping {:.3} ms", earliest as f64 / 1_000_000.0));
    let work = cx.s.start_work(WorkKind::Sleep { ns: earliest });
    cx.suspend(Box::new(PollSleep {
        work,
        due,
        out,
        nevents_out,
    }))
}

/// Best-effort decoding of a path argument for the trace (the call fails anyway).
fn path_arg(cx: &mut Cx<'_>, ptr: u32, len: u32) {
    if let Ok(b) = cx.mem.read_bytes(ptr, len) {
        cx.arg("path", ArgValue::text_or_bytes(&b));
    }
}

fn no_directory(cx: &mut Cx<'_>, fd: u32) -> HostResult {
    fd_arg(cx, fd);
    cx.note("a Compute instance has no preopened directories");
    Err(errno(errno::BADF))
}

/// Size of a preview1 `filestat` in guest memory.
const FILESTAT_SIZE: usize = 64;

/// `fd_tell`, `fd_pread`, `fd_pwrite`: stdio streams have no position.
fn not_seekable(cx: &mut Cx<'_>, fd: u32) -> HostResult {
    fd_arg(cx, fd);
    if fd <= FD_STDERR {
        cx.note(format!("{} is a stream and has no position", fd_name(fd)));
        Err(errno(errno::SPIPE))
    } else {
        Err(errno(errno::BADF))
    }
}

/// File-only operations: stdio streams are not files; nothing else is open.
fn not_a_file(cx: &mut Cx<'_>, fd: u32) -> HostResult {
    fd_arg(cx, fd);
    if fd <= FD_STDERR {
        cx.note(format!("{} is a stream, not a file", fd_name(fd)));
        Err(errno(errno::NOTSUP))
    } else {
        Err(errno(errno::BADF))
    }
}

/// Socket calls: a Compute instance has no sockets.
fn no_socket(cx: &mut Cx<'_>, fd: u32) -> HostResult {
    fd_arg(cx, fd);
    cx.note("a Compute instance has no sockets");
    if fd <= FD_STDERR {
        Err(errno(errno::NOTSOCK))
    } else {
        Err(errno(errno::BADF))
    }
}

pub(crate) fn link(reg: &mut Registry) -> Result<(), wasmi::errors::LinkerError> {
    super::hostcalls! { reg;
        ["wasi_snapshot_preview1" :: "args_sizes_get"]
        fn(cx, argc_out: u32, argv_buf_size_out: u32) -> i32 {
            let (count, size) = list_sizes(&args_bytes(cx.s));
            cx.mem.write_u32(argc_out, count)?;
            cx.mem.write_u32(argv_buf_size_out, size)?;
            cx.result("argc", ArgValue::Int(count as i64));
            cx.result("argv_buf_size", ArgValue::Int(size as i64));
            Ok(errno::SUCCESS)
        }

        ["wasi_snapshot_preview1" :: "args_get"]
        fn(cx, argv: u32, argv_buf: u32) -> i32 {
            let items = args_bytes(cx.s);
            write_string_list(&mut cx.mem, argv, argv_buf, &items)?;
            cx.result("args", ArgValue::List(cx.s.args.clone()));
            Ok(errno::SUCCESS)
        }

        ["wasi_snapshot_preview1" :: "environ_sizes_get"]
        fn(cx, count_out: u32, buf_size_out: u32) -> i32 {
            let (count, size) = list_sizes(&environ_bytes(cx.s));
            cx.mem.write_u32(count_out, count)?;
            cx.mem.write_u32(buf_size_out, size)?;
            cx.result("count", ArgValue::Int(count as i64));
            cx.result("buf_size", ArgValue::Int(size as i64));
            Ok(errno::SUCCESS)
        }

        ["wasi_snapshot_preview1" :: "environ_get"]
        fn(cx, environ: u32, environ_buf: u32) -> i32 {
            let items = environ_bytes(cx.s);
            write_string_list(&mut cx.mem, environ, environ_buf, &items)?;
            let shown = items.iter().map(|i| String::from_utf8_lossy(i).into_owned()).collect();
            cx.result("environ", ArgValue::List(shown));
            Ok(errno::SUCCESS)
        }

        ["wasi_snapshot_preview1" :: "clock_time_get"]
        fn(cx, id: u32, precision: u64, time_out: u32) -> i32 {
            cx.arg("id", ArgValue::Enum(clock_name(id)));
            let now = match id {
                CLOCK_REALTIME => cx.s.platform.clock.unix_ns(),
                CLOCK_MONOTONIC => cx.s.platform.clock.monotonic_ns(),
                CLOCK_PROCESS_CPUTIME | CLOCK_THREAD_CPUTIME => {
                    cx.note("CPU-time clocks are not available (as in wasmtime)");
                    return Err(errno(errno::BADF));
                }
                _ => return Err(errno(errno::INVAL)),
            };
            cx.mem.write_u64(time_out, now)?;
            cx.result("time", ArgValue::Int(now as i64));
            Ok(errno::SUCCESS)
        }

        ["wasi_snapshot_preview1" :: "clock_res_get"]
        fn(cx, id: u32, resolution_out: u32) -> i32 {
            cx.arg("id", ArgValue::Enum(clock_name(id)));
            match id {
                CLOCK_REALTIME | CLOCK_MONOTONIC => {}
                CLOCK_PROCESS_CPUTIME | CLOCK_THREAD_CPUTIME => {
                    cx.note("CPU-time clocks are not available (as in wasmtime)");
                    return Err(errno(errno::BADF));
                }
                _ => return Err(errno(errno::INVAL)),
            }
            cx.mem.write_u64(resolution_out, CLOCK_RESOLUTION_NS)?;
            cx.result("resolution", ArgValue::Int(CLOCK_RESOLUTION_NS as i64));
            Ok(errno::SUCCESS)
        }

        ["wasi_snapshot_preview1" :: "random_get"]
        fn(cx, buf: u32, buf_len: u32) -> i32 {
            if buf as u64 + buf_len as u64 > cx.mem.size() as u64 {
                return Err(oob(&cx.mem, buf, buf_len as u64).into());
            }
            let mut bytes = vec![0u8; buf_len as usize];
            cx.s.platform.random.fill(&mut bytes);
            cx.mem.write(buf, &bytes)?;
            Ok(errno::SUCCESS)
        }

        ["wasi_snapshot_preview1" :: "proc_exit"]
        fn(cx, code: u32) -> () {
            if code >= 126 {
                return Err(Fault::Flow(Flow::Trap(format!(
                    "exit with invalid exit status {code}, outside of [0..126)"
                ))));
            }
            Err(Fault::Flow(Flow::Exit(code as i32)))
        }

        ["wasi_snapshot_preview1" :: "fd_write"]
        fn(cx, fd: u32, iovs: u32, iovs_len: u32, nwritten_out: u32) -> i32 {
            fd_arg(cx, fd);
            if fd != FD_STDOUT && fd != FD_STDERR {
                cx.note(format!("{} is not writable", fd_name(fd)));
                return Err(errno(errno::BADF));
            }
            // As wasmtime: write the first non-empty iovec; the caller loops for the rest.
            let iov = read_iovecs(&mut cx.mem, iovs, iovs_len)?
                .into_iter()
                .find(|(_, len)| *len > 0);
            let data = match iov {
                Some((ptr, len)) => cx.mem.read_bytes(ptr, len)?,
                None => Vec::new(),
            };
            cx.mem.write_u32(nwritten_out, data.len() as u32)?;
            cx.arg("text", ArgValue::text_or_bytes(&data));
            cx.result("nwritten", ArgValue::Int(data.len() as i64));
            if !data.is_empty() {
                cx.s.emit(if fd == FD_STDOUT {
                    crate::http::Output::Stdout(data)
                } else {
                    crate::http::Output::Stderr(data)
                });
            }
            Ok(errno::SUCCESS)
        }

        ["wasi_snapshot_preview1" :: "fd_read"]
        fn(cx, fd: u32, iovs: u32, iovs_len: u32, nread_out: u32) -> i32 {
            fd_arg(cx, fd);
            if fd != FD_STDIN {
                cx.note(format!("{} is not readable", fd_name(fd)));
                return Err(errno(errno::BADF));
            }
            read_iovecs(&mut cx.mem, iovs, iovs_len)?;
            cx.mem.write_u32(nread_out, 0)?;
            cx.note("stdin is empty: end of file");
            cx.result("nread", ArgValue::Int(0));
            Ok(errno::SUCCESS)
        }

        ["wasi_snapshot_preview1" :: "fd_close"]
        fn(cx, fd: u32) -> i32 {
            fd_arg(cx, fd);
            if fd <= FD_STDERR {
                cx.note(format!("{} stays usable: edgeplay does not close stdio", fd_name(fd)));
                Ok(errno::SUCCESS)
            } else {
                Err(errno(errno::BADF))
            }
        }

        ["wasi_snapshot_preview1" :: "fd_fdstat_get"]
        fn(cx, fd: u32, stat_out: u32) -> i32 {
            fd_arg(cx, fd);
            let rights = match fd {
                FD_STDIN => RIGHTS_FD_READ,
                FD_STDOUT | FD_STDERR => RIGHTS_FD_WRITE,
                _ => return Err(errno(errno::BADF)),
            };
            let mut rec = [0u8; 24];
            rec[0] = FILETYPE_CHARACTER_DEVICE;
            // fs_flags (u16 at 2) stay empty.
            rec[8..16].copy_from_slice(&rights.to_le_bytes());
            rec[16..24].copy_from_slice(&rights.to_le_bytes());
            cx.mem.write(stat_out, &rec)?;
            cx.result("filetype", ArgValue::Enum("character_device".into()));
            Ok(errno::SUCCESS)
        }

        ["wasi_snapshot_preview1" :: "fd_fdstat_set_flags"]
        fn(cx, fd: u32, flags: u32) -> i32 {
            fd_arg(cx, fd);
            cx.note("only files accept new descriptor flags, and there are no files");
            Err(errno(errno::BADF))
        }

        ["wasi_snapshot_preview1" :: "fd_prestat_get"]
        fn(cx, fd: u32, prestat_out: u32) -> i32 {
            no_directory(cx, fd)
        }

        ["wasi_snapshot_preview1" :: "fd_prestat_dir_name"]
        fn(cx, fd: u32, path: u32, path_len: u32) -> i32 {
            no_directory(cx, fd)
        }

        ["wasi_snapshot_preview1" :: "fd_readdir"]
        fn(cx, fd: u32, buf: u32, buf_len: u32, cookie: u64, bufused_out: u32) -> i32 {
            no_directory(cx, fd)
        }

        ["wasi_snapshot_preview1" :: "fd_seek"]
        fn(cx, fd: u32, seek_offset: u64, whence: u32, newoffset_out: u32) -> i32 {
            fd_arg(cx, fd);
            if whence > 2 {
                return Err(errno(errno::INVAL));
            }
            if fd <= FD_STDERR {
                cx.note(format!("{} is a stream and cannot seek", fd_name(fd)));
                Err(errno(errno::SPIPE))
            } else {
                Err(errno(errno::BADF))
            }
        }

        ["wasi_snapshot_preview1" :: "path_filestat_get"]
        fn(cx, fd: u32, flags: u32, path: u32, path_len: u32, filestat_out: u32) -> i32 {
            path_arg(cx, path, path_len);
            no_directory(cx, fd)
        }

        ["wasi_snapshot_preview1" :: "path_open"]
        fn(
            cx,
            fd: u32,
            dirflags: u32,
            path: u32,
            path_len: u32,
            oflags: u32,
            rights_base: u64,
            rights_inheriting: u64,
            fdflags: u32,
            fd_out: u32,
        ) -> i32 {
            path_arg(cx, path, path_len);
            no_directory(cx, fd)
        }

        ["wasi_snapshot_preview1" :: "path_remove_directory"]
        fn(cx, fd: u32, path: u32, path_len: u32) -> i32 {
            path_arg(cx, path, path_len);
            no_directory(cx, fd)
        }

        ["wasi_snapshot_preview1" :: "path_unlink_file"]
        fn(cx, fd: u32, path: u32, path_len: u32) -> i32 {
            path_arg(cx, path, path_len);
            no_directory(cx, fd)
        }

        ["wasi_snapshot_preview1" :: "poll_oneoff"]
        fn(cx, subscriptions: u32, events: u32, nsubscriptions: u32, nevents_out: u32) -> i32 {
            poll_oneoff(cx, subscriptions, events, nsubscriptions, nevents_out)
        }

        ["wasi_snapshot_preview1" :: "sched_yield"]
        fn(cx) -> i32 {
            // Let the driver run outside work, as a yield on a real host lets others run.
            cx.suspend(Box::new(YieldNow(errno::SUCCESS)))
        }

        ["wasi_snapshot_preview1" :: "proc_raise"]
        fn(cx, sig: u32) -> i32 {
            cx.arg("sig", ArgValue::Int(i64::from(sig)));
            cx.note("signals are not supported");
            Err(errno(errno::NOTSUP))
        }

        ["wasi_snapshot_preview1" :: "fd_filestat_get"]
        fn(cx, fd: u32, filestat_out: u32) -> i32 {
            fd_arg(cx, fd);
            if fd > FD_STDERR {
                return Err(errno(errno::BADF));
            }
            // dev, ino, filetype (+ padding), nlink, size, atim, mtim, ctim.
            let mut stat = [0u8; FILESTAT_SIZE];
            stat[16] = FILETYPE_CHARACTER_DEVICE;
            cx.mem.write(filestat_out, &stat)?;
            cx.result("filetype", ArgValue::Str("character_device".into()));
            Ok(errno::SUCCESS)
        }

        ["wasi_snapshot_preview1" :: "fd_tell"]
        fn(cx, fd: u32, offset_out: u32) -> i32 {
            not_seekable(cx, fd)
        }

        ["wasi_snapshot_preview1" :: "fd_pread"]
        fn(cx, fd: u32, iovs: u32, iovs_len: u32, file_offset: u64, nread_out: u32) -> i32 {
            not_seekable(cx, fd)
        }

        ["wasi_snapshot_preview1" :: "fd_pwrite"]
        fn(cx, fd: u32, iovs: u32, iovs_len: u32, file_offset: u64, nwritten_out: u32) -> i32 {
            not_seekable(cx, fd)
        }

        ["wasi_snapshot_preview1" :: "fd_advise"]
        fn(cx, fd: u32, file_offset: u64, len: u64, advice: u32) -> i32 {
            not_a_file(cx, fd)
        }

        ["wasi_snapshot_preview1" :: "fd_allocate"]
        fn(cx, fd: u32, file_offset: u64, len: u64) -> i32 {
            not_a_file(cx, fd)
        }

        ["wasi_snapshot_preview1" :: "fd_datasync"]
        fn(cx, fd: u32) -> i32 {
            not_a_file(cx, fd)
        }

        ["wasi_snapshot_preview1" :: "fd_sync"]
        fn(cx, fd: u32) -> i32 {
            not_a_file(cx, fd)
        }

        ["wasi_snapshot_preview1" :: "fd_filestat_set_size"]
        fn(cx, fd: u32, size: u64) -> i32 {
            not_a_file(cx, fd)
        }

        ["wasi_snapshot_preview1" :: "fd_filestat_set_times"]
        fn(cx, fd: u32, atim: u64, mtim: u64, fst_flags: u32) -> i32 {
            not_a_file(cx, fd)
        }

        ["wasi_snapshot_preview1" :: "fd_fdstat_set_rights"]
        fn(cx, fd: u32, rights_base: u64, rights_inheriting: u64) -> i32 {
            not_a_file(cx, fd)
        }

        ["wasi_snapshot_preview1" :: "fd_renumber"]
        fn(cx, fd: u32, to: u32) -> i32 {
            cx.arg("to", ArgValue::Handle { kind: HandleKind::Fd, handle: to });
            if to > FD_STDERR {
                fd_arg(cx, fd);
                return Err(errno(errno::BADF));
            }
            not_a_file(cx, fd)
        }

        ["wasi_snapshot_preview1" :: "path_create_directory"]
        fn(cx, fd: u32, path: u32, path_len: u32) -> i32 {
            path_arg(cx, path, path_len);
            no_directory(cx, fd)
        }

        ["wasi_snapshot_preview1" :: "path_filestat_set_times"]
        fn(cx, fd: u32, flags: u32, path: u32, path_len: u32, atim: u64, mtim: u64, fst_flags: u32) -> i32 {
            path_arg(cx, path, path_len);
            no_directory(cx, fd)
        }

        ["wasi_snapshot_preview1" :: "path_link"]
        fn(cx, old_fd: u32, old_flags: u32, old_path: u32, old_path_len: u32, new_fd: u32, new_path: u32, new_path_len: u32) -> i32 {
            path_arg(cx, old_path, old_path_len);
            no_directory(cx, old_fd)
        }

        ["wasi_snapshot_preview1" :: "path_readlink"]
        fn(cx, fd: u32, path: u32, path_len: u32, buf: u32, buf_len: u32, nread_out: u32) -> i32 {
            path_arg(cx, path, path_len);
            no_directory(cx, fd)
        }

        ["wasi_snapshot_preview1" :: "path_rename"]
        fn(cx, fd: u32, old_path: u32, old_path_len: u32, new_fd: u32, new_path: u32, new_path_len: u32) -> i32 {
            path_arg(cx, old_path, old_path_len);
            no_directory(cx, fd)
        }

        ["wasi_snapshot_preview1" :: "path_symlink"]
        fn(cx, old_path: u32, old_path_len: u32, fd: u32, new_path: u32, new_path_len: u32) -> i32 {
            path_arg(cx, new_path, new_path_len);
            no_directory(cx, fd)
        }

        ["wasi_snapshot_preview1" :: "sock_accept"]
        fn(cx, fd: u32, flags: u32, fd_out: u32) -> i32 {
            no_socket(cx, fd)
        }

        ["wasi_snapshot_preview1" :: "sock_recv"]
        fn(cx, fd: u32, ri_data: u32, ri_data_len: u32, ri_flags: u32, ro_datalen_out: u32, ro_flags_out: u32) -> i32 {
            no_socket(cx, fd)
        }

        ["wasi_snapshot_preview1" :: "sock_send"]
        fn(cx, fd: u32, si_data: u32, si_data_len: u32, si_flags: u32, so_datalen_out: u32) -> i32 {
            no_socket(cx, fd)
        }

        ["wasi_snapshot_preview1" :: "sock_shutdown"]
        fn(cx, fd: u32, how: u32) -> i32 {
            no_socket(cx, fd)
        }
    }
    Ok(())
}
