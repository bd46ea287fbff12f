//! The Compute ABI: one module per guest import module, named after it.
//!
//! | import module | file |
//! |---|---|
//! | `fastly_abi`, `fastly` | [`fastly_abi`] |
//! | `fastly_http_req` | `http_req.rs`; sending, `pending_req_*` and `register_dynamic_backend` in `send.rs`; the WebSocket and GRIP handoffs in `fanout.rs` |
//! | `fastly_backend` | `backend.rs` |
//! | `fastly_async_io` | `async_io.rs` (also the waiting machinery of the blocking sends) |
//! | `fastly_http_resp` | `http_resp.rs` |
//! | `fastly_http_body` | `http_body.rs` |
//! | `fastly_http_cache` | `http_cache.rs` (on [`crate::cache`]; the collapsing wait in `claim.rs`) |
//! | `fastly_http_downstream` | `http_downstream.rs` |
//! | `fastly_log` | `log.rs` |
//! | `fastly_dictionary`, `fastly_config_store` | `dictionary.rs` (config store is an alias) |
//! | `fastly_secret_store` | `secret_store.rs` |
//! | `fastly_kv_store`, legacy `fastly_object_store` | `kv_store.rs`, `object_store.rs` (same functions) |
//! | `fastly_compute_runtime` | `compute_runtime.rs` |
//! | `fastly_image_optimizer` | `image_optimizer.rs` (the transforms: [`crate::image_opt`]) |
//! | `fastly_cache` | `cache.rs` (engine: [`crate::cache`]; the collapsing wait in `claim.rs`) |
//! | `fastly_acl` / `fastly_erl` | `acl.rs` / `erl.rs` (engines: [`crate::acl`], [`crate::erl`]) |
//! | `fastly_geo` / `fastly_device_detection` / `fastly_uap` | `geo.rs` / `device_detection.rs` / `uap.rs` |
//! | `wasi_snapshot_preview1` | `wasi.rs` |
//! | `env` (`xqd_*`, legacy) | registered beside their twins, same bodies |
//!
//! Every hostcall is defined with the [`hostcalls!`] macro, which wraps its body in
//! [`dispatch`]: the trace event, the checked memory view and the status mapping
//! happen there, once. Every import of [`catalog::IMPORTS`] that no module defines is
//! linked by [`link_unsupported`] to a stub that answers UNSUPPORTED (ENOSYS for WASI)
//! and marks its trace event unsupported.

pub mod acl;
pub mod async_io;
pub mod backend;
pub mod cache;
pub mod catalog;
pub mod catalog_types;
pub mod claim;
pub mod completion;
pub mod compute_runtime;
pub mod device_detection;
pub mod dictionary;
pub mod erl;
pub mod fanout;
pub mod fastly_abi;
pub mod geo;
pub mod headers;
pub mod http_body;
pub mod http_cache;
pub mod http_downstream;
pub mod http_req;
pub mod http_resp;
pub mod image_optimizer;
pub mod kv_store;
pub mod log;
pub mod ngwaf;
pub mod object_store;
pub mod purge;
pub mod secret_store;
pub mod send;
pub mod shielding;
pub mod step;
pub mod uap;
pub mod wait;
pub mod wasi;

use crate::memory::{GuestMem, MemError};
use crate::session::{AfterPause, Blocked, Parked, Session};
use crate::status::{errno, errno_name, fastly_status_name, Status};
use crate::trace::{ArgValue, HandleKind, TraceEvent};
use std::borrow::Cow;
use std::collections::BTreeSet;
use wasmi::{AsContextMut, Caller, Linker, StoreContextMut};

/// How a hostcall leaves the normal path.
#[derive(Debug)]
pub enum Flow {
    /// Suspend the guest; the session's `blocked` call finishes it later.
    Suspend,
    /// The guest asked to exit (`proc_exit`) with this code.
    Exit(i32),
    /// Trap the guest with this message.
    Trap(String),
    /// Step-through: the guest paused at a hostcall ([`Session::step`]); the
    /// session holds the paused call.
    Pause,
}

impl std::fmt::Display for Flow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Flow::Suspend => f.write_str("guest suspended for outside work"),
            Flow::Exit(c) => write!(f, "guest exited with code {c}"),
            Flow::Trap(m) => f.write_str(m),
            Flow::Pause => f.write_str("guest paused at a hostcall (step-through)"),
        }
    }
}

impl wasmi::errors::HostError for Flow {}

/// Why a hostcall body stopped early: a status to return, a memory fault (mapped to
/// INVAL, or EFAULT for WASI), or a change of control flow.
#[derive(Debug)]
pub enum Fault {
    /// Return this status code.
    Status(i32),
    /// A guest pointer was bad.
    Mem(MemError),
    /// Suspend, exit or trap.
    Flow(Flow),
}

impl From<MemError> for Fault {
    fn from(e: MemError) -> Self {
        Fault::Mem(e)
    }
}

impl From<Status> for Fault {
    fn from(s: Status) -> Self {
        Fault::Status(s.0)
    }
}

/// The result of a hostcall body.
pub type HostResult<R = i32> = Result<R, Fault>;

/// What a hostcall returns to the guest: a status code, or nothing (`proc_exit`).
pub trait CallResult: Sized {
    /// The code, for the trace.
    fn code(&self) -> Option<i32>;
    /// Build the result from a code (for early returns).
    fn from_code(code: i32) -> Self;
}

impl CallResult for i32 {
    fn code(&self) -> Option<i32> {
        Some(*self)
    }
    fn from_code(code: i32) -> Self {
        code
    }
}

impl CallResult for () {
    fn code(&self) -> Option<i32> {
        None
    }
    fn from_code(_: i32) -> Self {}
}

/// What a hostcall body works with: checked guest memory, the session, and its trace event.
pub struct Cx<'a> {
    /// Guest memory.
    pub mem: GuestMem<'a>,
    /// The request's session.
    pub s: &'a mut Session,
    /// Total guest fuel consumed when the call started (for CPU-time estimates).
    pub fuel_consumed: u64,
    ev: &'a mut TraceEvent,
}

impl Cx<'_> {
    /// Record (or replace) a decoded argument.
    pub fn arg(&mut self, name: &'static str, v: ArgValue) {
        let v = self.redacted(v);
        match self.ev.args.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = v,
            None => self.ev.args.push((Cow::Borrowed(name), v)),
        }
    }

    /// `v` with the guest's secrets masked ([`Session::redact`]).
    fn redacted(&self, v: ArgValue) -> ArgValue {
        match v {
            ArgValue::Str(t) => ArgValue::Str(self.s.redact_text(t)),
            ArgValue::List(l) => {
                ArgValue::List(l.into_iter().map(|t| self.s.redact_text(t)).collect())
            }
            other => other,
        }
    }

    /// Record an argument as a handle of `kind`.
    pub fn handle_arg(&mut self, name: &'static str, kind: HandleKind, h: u32) {
        self.arg(name, ArgValue::Handle { kind, handle: h });
    }

    /// Read a string argument and record it as text.
    pub fn str_arg(&mut self, name: &'static str, ptr: u32, len: u32) -> HostResult<String> {
        let s = self.mem.read_str(ptr, len)?;
        self.arg(name, ArgValue::text_or_bytes(&self.s.redact(s.as_bytes())));
        Ok(s)
    }

    /// Read a bytes argument and record it (as text when it is UTF-8).
    pub fn bytes_arg(&mut self, name: &'static str, ptr: u32, len: u32) -> HostResult<Vec<u8>> {
        let b = self.mem.read_bytes(ptr, len)?;
        self.arg(name, ArgValue::text_or_bytes(&self.s.redact(&b)));
        Ok(b)
    }

    /// Record a value the call produced.
    pub fn result(&mut self, name: &'static str, v: ArgValue) {
        let v = self.redacted(v);
        self.ev.results.push((Cow::Borrowed(name), v));
    }

    /// Record a handle of `kind` the call produced.
    pub fn handle_result(&mut self, name: &'static str, kind: HandleKind, h: u32) {
        self.result(name, ArgValue::Handle { kind, handle: h });
    }

    /// Attach a human note to the event.
    pub fn note(&mut self, note: impl Into<String>) {
        self.ev.note = Some(note.into());
    }

    /// Suspend the guest in this call until `blocked` says it can finish.
    pub fn suspend<R>(&mut self, blocked: Box<dyn Blocked>) -> HostResult<R> {
        self.s.blocked = Some((blocked, None));
        Err(Fault::Flow(Flow::Suspend))
    }
}

/// True for modules whose calls return WASI errno rather than `FastlyStatus`.
fn is_wasi(module: &str) -> bool {
    module == "wasi_snapshot_preview1"
}

/// The status name of `code` as `module` returns it.
pub fn status_name(module: &str, code: i32) -> &'static str {
    if is_wasi(module) {
        errno_name(code)
    } else {
        fastly_status_name(code)
    }
}

/// Run one hostcall body: open its trace event, give it checked memory, map early
/// returns to status codes, and turn suspend/exit/trap into a wasmi host error.
///
/// A stepping execution ([`Session::step`]) may pause here, before the body runs
/// (the call is kept to run when resumed: [`AfterPause::Replay`]) or after it
/// returned a status other than OK; not stepping costs one `Option` check.
pub fn dispatch<R, F>(
    caller: &mut Caller<'_, Session>,
    module: &'static str,
    name: &'static str,
    raw_args: &[(&'static str, i64)],
    body: F,
) -> Result<R, wasmi::Error>
where
    R: CallResult + 'static,
    F: FnOnce(&mut Cx<'_>) -> HostResult<R> + Send + 'static,
{
    if let Some(st) = &caller.data().step {
        if st.pause_before(module, name) {
            return Err(pause_before(
                caller.as_context_mut(),
                module,
                name,
                raw_args,
                body,
            ));
        }
    }
    run_call(caller.as_context_mut(), module, name, raw_args, body)
}

/// Pause before a call: decode it for the embedder and keep it to run on resume.
fn pause_before<R, F>(
    mut ctx: StoreContextMut<'_, Session>,
    module: &'static str,
    name: &'static str,
    raw_args: &[(&'static str, i64)],
    body: F,
) -> wasmi::Error
where
    R: CallResult + 'static,
    F: FnOnce(&mut Cx<'_>) -> HostResult<R> + Send + 'static,
{
    let memory = ctx.data().memory;
    let (data, s): (&mut [u8], &mut Session) = match memory {
        Some(m) => m.data_and_store_mut(ctx.as_context_mut()),
        None => (&mut [], ctx.data_mut()),
    };
    let call = step::decode(&mut GuestMem::new(data), s, module, name, raw_args);
    let raw: Vec<(&'static str, i64)> = raw_args.to_vec();
    let then = AfterPause::Replay(Box::new(move |store: &mut wasmi::Store<Session>| {
        run_call(store.as_context_mut(), module, name, &raw, body).map(|r| r.code())
    }));
    park(s, call, then)
}

/// Park a paused call in the session and stop the trace's clock; the error is what the
/// hostcall returns to wasmi.
fn park(s: &mut Session, call: crate::step::PendingCall, then: AfterPause) -> wasmi::Error {
    s.tracer.pause(&s.platform);
    if let Some(st) = s.step.as_mut() {
        st.parked = Some(Parked { call, then });
    }
    wasmi::Error::host(Flow::Pause)
}

/// Run one hostcall body (see [`dispatch`]) on a store or a caller.
fn run_call<R: CallResult>(
    mut ctx: StoreContextMut<'_, Session>,
    module: &'static str,
    name: &'static str,
    raw_args: &[(&'static str, i64)],
    body: impl FnOnce(&mut Cx<'_>) -> HostResult<R>,
) -> Result<R, wasmi::Error> {
    let fuel_left = ctx.get_fuel().unwrap_or(0);
    // The profile's stack sample (a traced module with a shadow stack).
    let stack = match ctx.data().shadow {
        Some((sp, shadow)) if ctx.data().tracer.recorder().is_on() => {
            stack_sample(ctx.as_context_mut(), sp, shadow)
        }
        _ => None,
    };
    let memory = ctx.data().memory;
    let (data, s): (&mut [u8], &mut Session) = match memory {
        Some(m) => m.data_and_store_mut(ctx.as_context_mut()),
        None => (&mut [], ctx.data_mut()),
    };
    let consumed = s.fuel_consumed(fuel_left);
    let mut ev = s.tracer.open_hostcall(&s.platform, module, name, consumed);
    s.tracer
        .recorder_mut()
        .call(ev.seq, ev.start_us, data.len() as u64, stack);
    ev.args = raw_args
        .iter()
        .map(|(n, v)| (Cow::Borrowed(*n), ArgValue::Int(*v)))
        .collect();
    let mut cx = Cx {
        mem: GuestMem::new(data),
        s,
        fuel_consumed: consumed,
        ev: &mut ev,
    };
    let outcome = body(&mut cx);
    let (bytes_read, bytes_written) = (cx.mem.bytes_read, cx.mem.bytes_written);
    ev.bytes_read = bytes_read;
    ev.bytes_written = bytes_written;
    let result = match outcome {
        Ok(r) => Ok(r),
        Err(Fault::Status(code)) => Ok(R::from_code(code)),
        Err(Fault::Mem(e)) => {
            ev.note = Some(e.to_string());
            Ok(R::from_code(if is_wasi(module) {
                errno::FAULT
            } else {
                Status::INVAL.0
            }))
        }
        Err(Fault::Flow(flow)) => Err(flow),
    };
    match result {
        Ok(r) => {
            if let Some(code) = r.code() {
                ev.code = Some(code);
                ev.status = Some(Cow::Borrowed(status_name(module, code)));
                // Only a status other than OK looks at step-through.
                let pause =
                    code != 0 && matches!(&s.step, Some(st) if st.policy().pause_after(Some(code)));
                if pause {
                    let call = step::after(raw_args, &ev);
                    s.tracer.close_hostcall(&s.platform, ev);
                    return Err(park(s, call, AfterPause::Value(Some(code))));
                }
            }
            s.tracer.close_hostcall(&s.platform, ev);
            Ok(r)
        }
        Err(Flow::Suspend) => {
            // The event stays open until the blocked call finishes.
            if let Some(b) = s.blocked.as_mut() {
                b.1 = Some(ev);
            }
            Err(wasmi::Error::host(Flow::Suspend))
        }
        Err(flow) => {
            ev.note = Some(flow.to_string());
            s.tracer.close_final(&s.platform, ev);
            Err(wasmi::Error::host(flow))
        }
    }
}

/// The guest's call stack now, interned by the profile's recorder: the shadow
/// stack's live bytes (see [`crate::backtrace`]).
fn stack_sample(
    mut ctx: StoreContextMut<'_, Session>,
    sp: wasmi::Global,
    shadow: wasmi::Memory,
) -> Option<u32> {
    let top = match sp.get(&ctx) {
        wasmi::Val::I32(v) => v as u32 as usize,
        _ => return None,
    };
    let (bytes, s) = shadow.data_and_store_mut(ctx.as_context_mut());
    let live = bytes.get(..top.min(bytes.len()) & !3)?;
    s.tracer.recorder_mut().stack(live)
}

/// The linker being built, with the set of imports defined so far.
pub struct Registry {
    /// The wasmi linker.
    pub linker: Linker<Session>,
    /// `(module, name)` of every import with a real implementation.
    pub implemented: BTreeSet<(&'static str, &'static str)>,
}

impl Registry {
    /// Define `module.name` with a typed host function.
    pub fn define<Params, Args>(
        &mut self,
        module: &'static str,
        name: &'static str,
        func: impl wasmi::IntoFunc<Session, Params, Args>,
    ) -> Result<(), wasmi::errors::LinkerError> {
        self.linker.func_wrap(module, name, func)?;
        self.implemented.insert((module, name));
        Ok(())
    }
}

/// Define hostcalls. Each item names one or more `"module" :: "name"` imports that share
/// a body (legacy `env.xqd_*` twins list their name beside the current one):
///
/// ```ignore
/// hostcalls! { reg;
///     ["fastly_http_req" :: "version_get", "env" :: "xqd_req_version_get"]
///     fn(cx, req: u32, out: u32) -> i32 { ... }
/// }
/// ```
macro_rules! hostcalls {
    ($reg:expr; $( [$($m:literal :: $n:literal),+ $(,)?] fn $sig:tt -> $r:ty $body:block )*) => {
        $( $( $crate::abi::hostcall_one!($reg, $m, $n, $sig, $r, $body); )+ )*
    };
}

/// One import of a [`hostcalls!`] item.
macro_rules! hostcall_one {
    ($reg:expr, $m:literal, $n:literal, ($cx:ident $(, $a:ident : $t:ty)* $(,)?), $r:ty, $body:block) => {
        $reg.define($m, $n, move |mut caller: wasmi::Caller<'_, $crate::session::Session>, $($a: $t),*| -> Result<$r, wasmi::Error> {
            $crate::abi::dispatch(
                &mut caller, $m, $n,
                &[$((stringify!($a), $a as i64)),*],
                #[allow(unused_variables, unused_mut)]
                move |$cx: &mut $crate::abi::Cx<'_>| -> $crate::abi::HostResult<$r> { $body },
            )
        })?;
    };
}
pub(crate) use {hostcall_one, hostcalls};

/// Link every implemented hostcall.
pub fn link_implemented(reg: &mut Registry) -> Result<(), wasmi::errors::LinkerError> {
    fastly_abi::link(reg)?;
    acl::link(reg)?;
    async_io::link(reg)?;
    backend::link(reg)?;
    cache::link(reg)?;
    compute_runtime::link(reg)?;
    device_detection::link(reg)?;
    dictionary::link(reg)?;
    erl::link(reg)?;
    fanout::link(reg)?;
    geo::link(reg)?;
    http_body::link(reg)?;
    http_cache::link(reg)?;
    http_downstream::link(reg)?;
    http_req::link(reg)?;
    http_resp::link(reg)?;
    image_optimizer::link(reg)?;
    kv_store::link(reg)?;
    log::link(reg)?;
    ngwaf::link(reg)?;
    object_store::link(reg)?;
    purge::link(reg)?;
    secret_store::link(reg)?;
    send::link(reg)?;
    shielding::link(reg)?;
    uap::link(reg)?;
    wasi::link(reg)?;
    Ok(())
}

/// Link every catalog import that has no implementation to an UNSUPPORTED stub.
pub fn link_unsupported(reg: &mut Registry) -> Result<(), wasmi::errors::LinkerError> {
    for imp in catalog::IMPORTS {
        if reg.implemented.contains(&(imp.module, imp.name)) {
            continue;
        }
        let ty = wasmi::FuncType::new(
            imp.params.iter().map(|t| t.wasmi()),
            imp.results.iter().map(|t| t.wasmi()),
        );
        let (module, name) = (imp.module, imp.name);
        let code = if is_wasi(module) {
            errno::NOSYS
        } else {
            Status::UNSUPPORTED.0
        };
        reg.linker.func_new(
            module,
            name,
            ty,
            move |mut caller: Caller<'_, Session>,
                  params: &[wasmi::Val],
                  results: &mut [wasmi::Val]| {
                let raw: Vec<(&'static str, i64)> = params
                    .iter()
                    .map(|p| match p {
                        wasmi::Val::I32(v) => ("arg", *v as i64),
                        wasmi::Val::I64(v) => ("arg", *v),
                        _ => ("arg", 0),
                    })
                    .collect();
                let r = dispatch(&mut caller, module, name, &raw, move |cx| {
                    cx.ev.unsupported = true;
                    cx.note("not emulated by edgeplay yet");
                    Ok(code)
                })?;
                if let Some(slot) = results.first_mut() {
                    *slot = wasmi::Val::I32(r);
                }
                Ok(())
            },
        )?;
    }
    Ok(())
}

/// Build the linker with every catalog import defined.
pub fn build_registry(engine: &wasmi::Engine) -> Result<Registry, wasmi::errors::LinkerError> {
    let mut reg = Registry {
        linker: Linker::new(engine),
        implemented: BTreeSet::new(),
    };
    link_implemented(&mut reg)?;
    link_unsupported(&mut reg)?;
    Ok(reg)
}

/// A little-endian u32 at `at` of a struct read from guest memory (0 past its end):
/// the fields of option structs (`dynamic_backend_config`, `inspect_info`, ...).
pub(crate) fn field(raw: &[u8], at: usize) -> u32 {
    raw.get(at..at + 4)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map(u32::from_le_bytes)
        .unwrap_or(0)
}

/// One row of the coverage table: an ABI group and how many of its imports are emulated.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Coverage {
    /// ABI group (`http_req`, `wasi`, ...).
    pub group: &'static str,
    /// Imports emulated.
    pub emulated: usize,
    /// Imports linked as UNSUPPORTED stubs.
    pub unsupported: usize,
    /// Names of the unsupported imports.
    pub unsupported_names: Vec<String>,
}

/// The coverage table, per ABI group, computed from what the registry implements.
pub fn coverage(reg: &Registry) -> Vec<Coverage> {
    let mut rows: Vec<Coverage> = Vec::new();
    for imp in catalog::IMPORTS {
        let row = match rows.iter_mut().find(|r| r.group == imp.group) {
            Some(r) => r,
            None => {
                rows.push(Coverage {
                    group: imp.group,
                    emulated: 0,
                    unsupported: 0,
                    unsupported_names: Vec::new(),
                });
                rows.last_mut().expect("just pushed")
            }
        };
        if reg.implemented.contains(&(imp.module, imp.name)) {
            row.emulated += 1;
        } else {
            row.unsupported += 1;
            row.unsupported_names
                .push(format!("{}::{}", imp.module, imp.name));
        }
    }
    rows
}

/// The coverage table as Markdown, as the README embeds it: one row per ABI group
/// (emulated / unsupported counts), then a total row.
pub fn coverage_markdown(rows: &[Coverage]) -> String {
    let mut out = String::from(
        "| ABI group | emulated | unsupported (links, answers UNSUPPORTED) |\n|---|---:|---:|\n",
    );
    let (mut e, mut u) = (0, 0);
    for r in rows {
        out.push_str(&format!(
            "| `{}` | {} | {} |\n",
            r.group, r.emulated, r.unsupported
        ));
        e += r.emulated;
        u += r.unsupported;
    }
    out.push_str(&format!(
        "| **all {} imports** | **{e}** | **{u}** |\n",
        e + u
    ));
    out
}
