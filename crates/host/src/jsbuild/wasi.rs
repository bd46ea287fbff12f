//! The WASI a build runs the engine under: what Wizer's `--allow-wasi` gives it, in
//! memory.
//!
//! - stdin holds the one line the engine's `wizer.initialize` reads (the script's
//!   path), then end of file; stdout and stderr are captured.
//! - One preopened directory ([`PREOPEN`]) of read-only in-memory files: `path_open`,
//!   `fd_read`, `fd_seek`, `fd_fdstat_get`, `path_filestat_get`, `fd_close`,
//!   `fd_prestat_*`; writing, creating or removing answers `EROFS`/`EACCES`.
//! - The build's environment variables; no arguments.
//! - The platform's clocks and randomness; `poll_oneoff` answers every subscription
//!   at once (nothing waits during a build).
//! - `proc_exit` ends the initialisation with its code.
//!
//! Every `fastly_*` import traps with [`BuildTrap::Fastly`]: the Compute ABI exists
//! only while a request is handled. Any other import traps with
//! [`BuildTrap::Unknown`]. Memory faults answer `EFAULT`.

use crate::memory::{GuestMem, MemError};
use crate::platform::Platform;
use crate::status::errno;
use std::collections::BTreeMap;
use wasmi::{Caller, Error, Linker};

/// The preopened directory's name, as the engine sees it.
pub const PREOPEN: &str = "/app";

const ROFS: i32 = 69;
const ISDIR: i32 = 31;
const FILETYPE_CHAR: u8 = 2;
const FILETYPE_DIR: u8 = 3;
const FILETYPE_FILE: u8 = 4;
const O_DIRECTORY: u32 = 2;
const O_CREAT: u32 = 1;
const O_TRUNC: u32 = 8;
const RIGHTS_WRITE: u64 = 1 << 6;

/// Why an initialisation stopped early, carried through a wasmi trap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildTrap {
    /// `proc_exit(code)`.
    Exit(i32),
    /// A `fastly_*` import was called: `module::name`.
    Fastly(String),
    /// An import the build does not provide: `module::name`.
    Unknown(String),
}

impl std::fmt::Display for BuildTrap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BuildTrap::Exit(c) => write!(f, "proc_exit({c})"),
            BuildTrap::Fastly(i) => write!(f, "called `{i}` during initialisation"),
            BuildTrap::Unknown(i) => write!(f, "called `{i}`, which a build does not provide"),
        }
    }
}

impl wasmi::errors::HostError for BuildTrap {}

enum Fd {
    Stdio,
    Dir(String),
    File { path: String, pos: u64 },
}

/// The state of one build's WASI view (a wasmi store's data).
pub struct BuildWasi {
    stdin: Vec<u8>,
    stdin_pos: usize,
    /// What the engine wrote to fd 1.
    pub stdout: Vec<u8>,
    /// What the engine wrote to fd 2.
    pub stderr: Vec<u8>,
    env: Vec<(String, String)>,
    /// Files under [`PREOPEN`], by path relative to it.
    files: BTreeMap<String, Vec<u8>>,
    fds: Vec<Option<Fd>>,
    platform: Platform,
    /// The engine's memory, once instantiated.
    pub memory: Option<wasmi::Memory>,
    /// Memory limits.
    pub limits: wasmi::StoreLimits,
    /// Every WASI function called, with how many times (what a build really uses).
    pub calls: BTreeMap<&'static str, u64>,
}

impl BuildWasi {
    /// A view with `stdin`, `files` under [`PREOPEN`], `env`, and memory capped at `max_memory` bytes.
    pub fn new(
        stdin: Vec<u8>,
        files: BTreeMap<String, Vec<u8>>,
        env: Vec<(String, String)>,
        platform: Platform,
        max_memory: usize,
    ) -> Self {
        BuildWasi {
            stdin,
            stdin_pos: 0,
            stdout: Vec::new(),
            stderr: Vec::new(),
            env,
            files,
            fds: vec![
                Some(Fd::Stdio),
                Some(Fd::Stdio),
                Some(Fd::Stdio),
                Some(Fd::Dir(String::new())),
            ],
            platform,
            memory: None,
            limits: wasmi::StoreLimitsBuilder::new()
                .memory_size(max_memory)
                .build(),
            calls: BTreeMap::new(),
        }
    }

    fn is_dir(&self, path: &str) -> bool {
        path.is_empty()
            || self.files.keys().any(|k| {
                k.len() > path.len() && k.starts_with(path) && k.as_bytes()[path.len()] == b'/'
            })
    }
}

/// `dir` joined with `rel`, normalised; `None` when it leaves the preopened directory.
fn resolve(dir: &str, rel: &str) -> Option<String> {
    let mut parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
    for p in rel.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

type Cx<'a> = (GuestMem<'a>, &'a mut BuildWasi);

/// Run `f` with the guest memory and the state; memory faults answer EFAULT.
fn with(
    caller: &mut Caller<'_, BuildWasi>,
    name: &'static str,
    f: impl FnOnce(Cx<'_>) -> Result<i32, MemError>,
) -> Result<i32, Error> {
    *caller.data_mut().calls.entry(name).or_default() += 1;
    let Some(memory) = caller.data().memory else {
        return Ok(errno::FAULT);
    };
    let (data, st) = memory.data_and_store_mut(caller);
    Ok(f((GuestMem::new(data), st)).unwrap_or(errno::FAULT))
}

/// `p + n` as a guest address; past the 32-bit space is out of bounds (EFAULT).
fn off(p: u32, n: u64) -> Result<u32, MemError> {
    u32::try_from(u64::from(p) + n).map_err(|_| MemError::OutOfBounds {
        ptr: p,
        len: n,
        size: 0,
    })
}

fn write_filestat(
    mem: &mut GuestMem<'_>,
    ptr: u32,
    filetype: u8,
    size: u64,
) -> Result<(), MemError> {
    mem.write(ptr, &[0u8; 64])?;
    mem.write_u8(off(ptr, 16)?, filetype)?;
    mem.write_u64(off(ptr, 24)?, 1)?;
    mem.write_u64(off(ptr, 32)?, size)
}

fn write_fdstat(mem: &mut GuestMem<'_>, ptr: u32, filetype: u8) -> Result<(), MemError> {
    mem.write(ptr, &[0u8; 24])?;
    mem.write_u8(ptr, filetype)?;
    let rights = if filetype == FILETYPE_CHAR {
        u64::MAX
    } else {
        !RIGHTS_WRITE
    };
    mem.write_u64(off(ptr, 8)?, rights)?;
    mem.write_u64(off(ptr, 16)?, rights)
}

/// Copy `src` into the iovecs at `iovs`; the number of bytes copied.
fn scatter(mem: &mut GuestMem<'_>, iovs: u32, n: u32, src: &[u8]) -> Result<u32, MemError> {
    let mut done = 0usize;
    for i in 0..n {
        let at = off(iovs, 8 * u64::from(i))?;
        let buf = mem.read_u32(at)?;
        let len = mem.read_u32(off(at, 4)?)? as usize;
        let take = len.min(src.len() - done);
        mem.write(buf, &src[done..done + take])?;
        done += take;
        if done == src.len() {
            break;
        }
    }
    Ok(done as u32)
}

/// Link the WASI view and a trap for every other import of `module`.
pub fn link(linker: &mut Linker<BuildWasi>, module: &wasmi::Module) -> Result<(), String> {
    link_wasi(linker).map_err(|e| e.to_string())?;
    for imp in module.imports() {
        let (m, n) = (imp.module(), imp.name());
        if let wasmi::ExternType::Func(ty) = imp.ty() {
            let label = format!("{m}::{n}");
            let trap = if m.starts_with("fastly") || m == "env" && n.starts_with("xqd_") {
                BuildTrap::Fastly(label)
            } else {
                BuildTrap::Unknown(label)
            };
            // Already defined (a WASI call of the view) when this fails.
            let _ = linker.func_new(m, n, ty.clone(), move |_, _, _| {
                Err(Error::host(trap.clone()))
            });
        }
    }
    Ok(())
}

fn link_wasi(l: &mut Linker<BuildWasi>) -> Result<(), wasmi::errors::LinkerError> {
    const W: &str = "wasi_snapshot_preview1";
    l.func_wrap(
        W,
        "args_sizes_get",
        |mut c: Caller<'_, BuildWasi>, argc: u32, size: u32| {
            with(&mut c, "args_sizes_get", |(mut m, _)| {
                m.write_u32(argc, 0)?;
                m.write_u32(size, 0)?;
                Ok(0)
            })
        },
    )?;
    l.func_wrap(
        W,
        "args_get",
        |mut c: Caller<'_, BuildWasi>, _argv: u32, _buf: u32| with(&mut c, "args_get", |_| Ok(0)),
    )?;
    l.func_wrap(
        W,
        "environ_sizes_get",
        |mut c: Caller<'_, BuildWasi>, count: u32, size: u32| {
            with(&mut c, "environ_sizes_get", |(mut m, st)| {
                m.write_u32(count, st.env.len() as u32)?;
                let bytes: usize = st.env.iter().map(|(k, v)| k.len() + v.len() + 2).sum();
                m.write_u32(size, bytes as u32)?;
                Ok(0)
            })
        },
    )?;
    l.func_wrap(
        W,
        "environ_get",
        |mut c: Caller<'_, BuildWasi>, ptrs: u32, buf: u32| {
            with(&mut c, "environ_get", |(mut m, st)| {
                let mut at = buf;
                for (i, (k, v)) in st.env.iter().enumerate() {
                    m.write_u32(off(ptrs, 4 * i as u64)?, at)?;
                    let s = format!("{k}={v}\0");
                    m.write(at, s.as_bytes())?;
                    at = off(at, s.len() as u64)?;
                }
                Ok(0)
            })
        },
    )?;
    l.func_wrap(
        W,
        "clock_res_get",
        |mut c: Caller<'_, BuildWasi>, _id: u32, out: u32| {
            with(&mut c, "clock_res_get", |(mut m, _)| {
                m.write_u64(out, 1_000)?;
                Ok(0)
            })
        },
    )?;
    l.func_wrap(
        W,
        "clock_time_get",
        |mut c: Caller<'_, BuildWasi>, id: u32, _precision: u64, out: u32| {
            with(&mut c, "clock_time_get", |(mut m, st)| {
                let t = match id {
                    0 => st.platform.clock.unix_ns(),
                    _ => st.platform.clock.monotonic_ns(),
                };
                m.write_u64(out, t)?;
                Ok(0)
            })
        },
    )?;
    l.func_wrap(
        W,
        "random_get",
        |mut c: Caller<'_, BuildWasi>, buf: u32, len: u32| {
            with(&mut c, "random_get", |(mut m, st)| {
                // Bounds first: no allocation for a length the memory cannot hold.
                m.slice(buf, len)?;
                let mut bytes = vec![0u8; len as usize];
                st.platform.random.fill(&mut bytes);
                m.write(buf, &bytes)?;
                Ok(0)
            })
        },
    )?;
    l.func_wrap(
        W,
        "fd_write",
        |mut c: Caller<'_, BuildWasi>, fd: u32, iovs: u32, n: u32, out: u32| {
            with(&mut c, "fd_write", |(mut m, st)| {
                // The first non-empty iovec, as wasmtime-wasi writes (callers loop).
                let mut bytes = Vec::new();
                for i in 0..n {
                    let at = off(iovs, 8 * u64::from(i))?;
                    let (buf, len) = (m.read_u32(at)?, m.read_u32(off(at, 4)?)?);
                    if len > 0 {
                        bytes = m.read_bytes(buf, len)?;
                        break;
                    }
                }
                match fd {
                    1 => st.stdout.extend_from_slice(&bytes),
                    2 => st.stderr.extend_from_slice(&bytes),
                    _ => return Ok(errno::BADF),
                }
                m.write_u32(out, bytes.len() as u32)?;
                Ok(0)
            })
        },
    )?;
    l.func_wrap(
        W,
        "fd_read",
        |mut c: Caller<'_, BuildWasi>, fd: u32, iovs: u32, n: u32, out: u32| {
            with(&mut c, "fd_read", |(mut m, st)| {
                let read = match st.fds.get_mut(fd as usize) {
                    Some(Some(Fd::Stdio)) if fd == 0 => {
                        let got = scatter(&mut m, iovs, n, &st.stdin[st.stdin_pos..])?;
                        st.stdin_pos += got as usize;
                        got
                    }
                    Some(Some(Fd::File { path, pos })) => {
                        let data = st
                            .files
                            .get(path.as_str())
                            .map(Vec::as_slice)
                            .unwrap_or(&[]);
                        let from = usize::try_from(*pos).unwrap_or(usize::MAX).min(data.len());
                        let got = scatter(&mut m, iovs, n, &data[from..])?;
                        *pos += got as u64;
                        got
                    }
                    Some(Some(Fd::Dir(_))) => return Ok(ISDIR),
                    _ => return Ok(errno::BADF),
                };
                m.write_u32(out, read)?;
                Ok(0)
            })
        },
    )?;
    l.func_wrap(
        W,
        "fd_seek",
        |mut c: Caller<'_, BuildWasi>, fd: u32, delta: i64, whence: u32, out: u32| {
            with(&mut c, "fd_seek", |(mut m, st)| {
                let size = match st.fds.get(fd as usize) {
                    Some(Some(Fd::File { path, .. })) => {
                        st.files.get(path.as_str()).map_or(0, Vec::len)
                    }
                    Some(Some(Fd::Stdio)) => return Ok(errno::SPIPE),
                    Some(Some(Fd::Dir(_))) => return Ok(ISDIR),
                    _ => return Ok(errno::BADF),
                };
                let Some(Some(Fd::File { pos, .. })) = st.fds.get_mut(fd as usize) else {
                    return Ok(errno::BADF);
                };
                let base = match whence {
                    0 => 0i64,
                    1 => *pos as i64,
                    2 => size as i64,
                    _ => return Ok(errno::INVAL),
                };
                let Some(new) = base.checked_add(delta).filter(|p| *p >= 0) else {
                    return Ok(errno::INVAL);
                };
                *pos = new as u64;
                m.write_u64(out, new as u64)?;
                Ok(0)
            })
        },
    )?;
    l.func_wrap(W, "fd_close", |mut c: Caller<'_, BuildWasi>, fd: u32| {
        with(&mut c, "fd_close", |(_, st)| {
            match st.fds.get_mut(fd as usize) {
                Some(slot @ Some(_)) => {
                    if fd > 3 {
                        *slot = None;
                    }
                    Ok(0)
                }
                _ => Ok(errno::BADF),
            }
        })
    })?;
    l.func_wrap(
        W,
        "fd_fdstat_get",
        |mut c: Caller<'_, BuildWasi>, fd: u32, out: u32| {
            with(&mut c, "fd_fdstat_get", |(mut m, st)| {
                let ty = match st.fds.get(fd as usize) {
                    Some(Some(Fd::Stdio)) => FILETYPE_CHAR,
                    Some(Some(Fd::Dir(_))) => FILETYPE_DIR,
                    Some(Some(Fd::File { .. })) => FILETYPE_FILE,
                    _ => return Ok(errno::BADF),
                };
                write_fdstat(&mut m, out, ty)?;
                Ok(0)
            })
        },
    )?;
    l.func_wrap(
        W,
        "fd_fdstat_set_flags",
        |mut c: Caller<'_, BuildWasi>, fd: u32, _flags: u32| {
            with(&mut c, "fd_fdstat_set_flags", |(_, st)| {
                Ok(if matches!(st.fds.get(fd as usize), Some(Some(_))) {
                    0
                } else {
                    errno::BADF
                })
            })
        },
    )?;
    l.func_wrap(
        W,
        "fd_filestat_get",
        |mut c: Caller<'_, BuildWasi>, fd: u32, out: u32| {
            with(&mut c, "fd_filestat_get", |(mut m, st)| {
                let (ty, size) = match st.fds.get(fd as usize) {
                    Some(Some(Fd::Stdio)) => (FILETYPE_CHAR, 0),
                    Some(Some(Fd::Dir(_))) => (FILETYPE_DIR, 0),
                    Some(Some(Fd::File { path, .. })) => (
                        FILETYPE_FILE,
                        st.files.get(path.as_str()).map_or(0, Vec::len) as u64,
                    ),
                    _ => return Ok(errno::BADF),
                };
                write_filestat(&mut m, out, ty, size)?;
                Ok(0)
            })
        },
    )?;
    l.func_wrap(
        W,
        "fd_prestat_get",
        |mut c: Caller<'_, BuildWasi>, fd: u32, out: u32| {
            with(&mut c, "fd_prestat_get", |(mut m, _)| {
                if fd != 3 {
                    return Ok(errno::BADF);
                }
                m.write_u32(out, 0)?;
                m.write_u32(off(out, 4)?, PREOPEN.len() as u32)?;
                Ok(0)
            })
        },
    )?;
    l.func_wrap(
        W,
        "fd_prestat_dir_name",
        |mut c: Caller<'_, BuildWasi>, fd: u32, buf: u32, len: u32| {
            with(&mut c, "fd_prestat_dir_name", |(mut m, _)| {
                if fd != 3 {
                    return Ok(errno::BADF);
                }
                let name = PREOPEN.as_bytes();
                m.write(buf, &name[..name.len().min(len as usize)])?;
                Ok(0)
            })
        },
    )?;
    l.func_wrap(
        W,
        "fd_readdir",
        |mut c: Caller<'_, BuildWasi>, _fd: u32, _buf: u32, _len: u32, _cookie: u64, _out: u32| {
            with(&mut c, "fd_readdir", |_| Ok(errno::NOTSUP))
        },
    )?;
    l.func_wrap(
        W,
        "path_filestat_get",
        |mut c: Caller<'_, BuildWasi>, fd: u32, _flags: u32, path: u32, len: u32, out: u32| {
            with(&mut c, "path_filestat_get", |(mut m, st)| {
                let rel = m.read_str(path, len)?;
                let Some(Some(Fd::Dir(dir))) = st.fds.get(fd as usize) else {
                    return Ok(errno::BADF);
                };
                let Some(p) = resolve(dir, &rel) else {
                    return Ok(errno::NOTCAPABLE);
                };
                if let Some(data) = st.files.get(&p) {
                    write_filestat(&mut m, out, FILETYPE_FILE, data.len() as u64)?;
                } else if st.is_dir(&p) {
                    write_filestat(&mut m, out, FILETYPE_DIR, 0)?;
                } else {
                    return Ok(errno::NOENT);
                }
                Ok(0)
            })
        },
    )?;
    #[allow(clippy::too_many_arguments)]
    fn path_open(
        mut c: Caller<'_, BuildWasi>,
        fd: u32,
        _dirflags: u32,
        path: u32,
        len: u32,
        oflags: u32,
        _rights: u64,
        _inheriting: u64,
        _fdflags: u32,
        out: u32,
    ) -> Result<i32, Error> {
        with(&mut c, "path_open", |(mut m, st)| {
            let rel = m.read_str(path, len)?;
            let Some(Some(Fd::Dir(dir))) = st.fds.get(fd as usize) else {
                return Ok(errno::BADF);
            };
            let Some(p) = resolve(dir, &rel) else {
                return Ok(errno::NOTCAPABLE);
            };
            let entry = if st.files.contains_key(&p) {
                if oflags & O_DIRECTORY != 0 {
                    return Ok(errno::NOTDIR);
                }
                if oflags & (O_CREAT | O_TRUNC) != 0 {
                    return Ok(ROFS);
                }
                Fd::File { path: p, pos: 0 }
            } else if st.is_dir(&p) {
                Fd::Dir(p)
            } else if oflags & O_CREAT != 0 {
                return Ok(ROFS);
            } else {
                return Ok(errno::NOENT);
            };
            let slot = match st.fds.iter().position(Option::is_none) {
                Some(i) => i,
                None => {
                    st.fds.push(None);
                    st.fds.len() - 1
                }
            };
            st.fds[slot] = Some(entry);
            m.write_u32(out, slot as u32)?;
            Ok(0)
        })
    }
    l.func_wrap(W, "path_open", path_open)?;
    l.func_wrap(
        W,
        "path_remove_directory",
        |mut c: Caller<'_, BuildWasi>, _fd: u32, _path: u32, _len: u32| {
            with(&mut c, "path_remove_directory", |_| Ok(ROFS))
        },
    )?;
    l.func_wrap(
        W,
        "path_unlink_file",
        |mut c: Caller<'_, BuildWasi>, _fd: u32, _path: u32, _len: u32| {
            with(&mut c, "path_unlink_file", |_| Ok(ROFS))
        },
    )?;
    l.func_wrap(
        W,
        "poll_oneoff",
        |mut c: Caller<'_, BuildWasi>, subs: u32, events: u32, n: u32, out: u32| {
            with(&mut c, "poll_oneoff", |(mut m, _)| {
                for i in 0..n {
                    let sub = off(subs, 48 * u64::from(i))?;
                    let userdata = m.read_u64(sub)?;
                    let tag = m.slice(off(sub, 8)?, 1)?[0];
                    let ev = off(events, 32 * u64::from(i))?;
                    m.write(ev, &[0u8; 32])?;
                    m.write_u64(ev, userdata)?;
                    m.write_u8(off(ev, 10)?, tag)?;
                }
                m.write_u32(out, n)?;
                Ok(0)
            })
        },
    )?;
    l.func_wrap(
        W,
        "proc_exit",
        |mut c: Caller<'_, BuildWasi>, code: i32| -> Result<(), Error> {
            *c.data_mut().calls.entry("proc_exit").or_default() += 1;
            Err(Error::host(BuildTrap::Exit(code)))
        },
    )?;
    l.func_wrap(W, "sched_yield", |mut c: Caller<'_, BuildWasi>| {
        with(&mut c, "sched_yield", |_| Ok(0))
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::resolve;

    #[test]
    fn paths_stay_inside_the_preopened_directory() {
        assert_eq!(resolve("", "app.js").as_deref(), Some("app.js"));
        assert_eq!(resolve("", "./lib/../app.js").as_deref(), Some("app.js"));
        assert_eq!(resolve("lib", "x.js").as_deref(), Some("lib/x.js"));
        assert_eq!(resolve("", "../etc/passwd"), None);
    }
}
