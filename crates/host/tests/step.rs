//! Step-through ([`edgeplay_host::step`]): a guest paused before each hostcall or at
//! breakpoints, the paused call decoded, and a run that resumes to the same end as a
//! run that never paused.

mod common;

use common::{config, engine, expect, get, BADF};
use edgeplay_host::driver::blocking;
use edgeplay_host::platform::{FixedClock, SeededRandom};
use edgeplay_host::step::{Breakpoint, PausedAt, PendingCall, Resume, StepPolicy};
use edgeplay_host::trace::{ArgValue, EventKind, TraceEvent};
use edgeplay_host::{
    Collected, Driver, Engine, ExecOptions, Exit, FetchResponse, FinalResponse, Headers, Outcome,
    Platform, ServiceConfig, WorkResult,
};
use std::sync::Arc;

/// A guest that builds a request, sends it to the backend `origin` and sends the
/// backend's response downstream, with a few hostcalls before the send.
const SENDER: &str = r#"(module
  (import "fastly_http_req" "body_downstream_get" (func $req_downstream (param i32 i32) (result i32)))
  (import "fastly_http_req" "new" (func $req_new (param i32) (result i32)))
  (import "fastly_http_req" "uri_set" (func $uri_set (param i32 i32 i32) (result i32)))
  (import "fastly_http_req" "header_insert" (func $header_insert (param i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_http_body" "new" (func $body_new (param i32) (result i32)))
  (import "fastly_http_body" "write" (func $body_write (param i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_http_req" "send" (func $send (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_http_resp" "send_downstream" (func $resp_send (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0x200) "origin")
  (data (i32.const 0x210) "http://example.com/hello")
  (data (i32.const 0x240) "x-step")
  (data (i32.const 0x250) "yes")
  (data (i32.const 0x260) "payload")
  (func (export "_start")
    (drop (call $req_downstream (i32.const 0x100) (i32.const 0x104)))
    (drop (call $req_new (i32.const 0x108)))
    (drop (call $uri_set (i32.load (i32.const 0x108)) (i32.const 0x210) (i32.const 24)))
    (drop (call $header_insert (i32.load (i32.const 0x108)) (i32.const 0x240) (i32.const 6) (i32.const 0x250) (i32.const 3)))
    (drop (call $body_new (i32.const 0x10c)))
    (drop (call $body_write (i32.load (i32.const 0x10c)) (i32.const 0x260) (i32.const 7) (i32.const 0) (i32.const 0x110)))
    (if (call $send (i32.load (i32.const 0x108)) (i32.load (i32.const 0x10c))
          (i32.const 0x200) (i32.const 6) (i32.const 0x114) (i32.const 0x118))
      (then unreachable))
    (drop (call $resp_send (i32.load (i32.const 0x114)) (i32.load (i32.const 0x118)) (i32.const 0)))))"#;

fn origin_config() -> ServiceConfig {
    config(
        r#"
[local_server.backends.origin]
url = "http://127.0.0.1:9000/"
"#,
    )
}

fn origin(_: &edgeplay_host::FetchRequest) -> WorkResult {
    let mut h = Headers::new();
    h.append("content-type", "text/plain");
    WorkResult::Fetched(Box::new(FetchResponse {
        status: 201,
        headers: h,
        body: b"from the origin".to_vec(),
        remote_addr: None,
        first_byte_us: 1,
        end_us: 2,
        headers_not_sent: Vec::new(),
        notes: Vec::new(),
    }))
}

/// One run: what it produced, and every pause it made with the trace length then.
struct Stepped {
    outcome: Outcome,
    response: FinalResponse,
    trace: Vec<TraceEvent>,
    pauses: Vec<(PendingCall, usize)>,
}

fn run(
    engine: &Engine,
    wat: &str,
    config: ServiceConfig,
    step: Option<StepPolicy>,
    on_pause: impl FnMut(&PendingCall, usize) -> Resume,
) -> Stepped {
    run_against(engine, wat, config, step, origin, on_pause)
}

fn run_against(
    engine: &Engine,
    wat: &str,
    config: ServiceConfig,
    step: Option<StepPolicy>,
    origin: fn(&edgeplay_host::FetchRequest) -> WorkResult,
    mut on_pause: impl FnMut(&PendingCall, usize) -> Resume,
) -> Stepped {
    let wasm = wat::parse_str(wat).unwrap();
    let guest = engine.load(&wasm).unwrap();
    let opts = ExecOptions {
        step,
        ..ExecOptions::default()
    };
    let driver = Driver::start(
        engine,
        guest,
        Arc::new(config),
        get("http://localhost/"),
        "0".repeat(32),
        opts,
        blocking::CAPABILITIES,
    )
    .unwrap();
    let mut pauses = Vec::new();
    let ran = blocking::run_stepping(
        driver,
        origin,
        |_| 0,
        |call, trace| {
            pauses.push((call.clone(), trace.len()));
            on_pause(call, pauses.len())
        },
    );
    let mut collected = Collected::default();
    collected.absorb(ran.outputs);
    let response = collected.final_response(&ran.outcome);
    Stepped {
        outcome: ran.outcome,
        response,
        trace: ran.trace,
        pauses,
    }
}

fn hostcalls(trace: &[TraceEvent]) -> Vec<String> {
    trace
        .iter()
        .filter(|e| e.kind == EventKind::Hostcall)
        .map(|e| e.qualified_name())
        .collect()
}

#[test]
fn pauses_at_the_first_hostcall_and_each_step_adds_one_event() {
    let engine = engine();
    let r = run(
        &engine,
        SENDER,
        origin_config(),
        Some(StepPolicy::stepping(vec![])),
        |_, _| Resume::Step,
    );
    assert_eq!(r.outcome.exit, Exit::Returned);
    let (first, trace_at_first) = &r.pauses[0];
    assert_eq!(first.import(), "fastly_http_req::body_downstream_get");
    assert_eq!(first.at, PausedAt::Before);
    assert_eq!(
        hostcalls(&r.trace[..*trace_at_first]),
        Vec::<String>::new(),
        "nothing of the first call ran before the pause"
    );
    // Three steps from the first pause: exactly three more trace events.
    assert_eq!(r.pauses[3].1 - r.pauses[0].1, 3);
    assert_eq!(r.pauses[3].0.import(), "fastly_http_req::header_insert");
    // Every hostcall paused once, in order.
    let paused: Vec<String> = r.pauses.iter().map(|(c, _)| c.import()).collect();
    assert_eq!(paused, hostcalls(&r.trace));
}

#[test]
fn the_paused_call_is_decoded() {
    let engine = engine();
    let r = run(
        &engine,
        SENDER,
        origin_config(),
        Some(StepPolicy::stepping(vec![])),
        |_, _| Resume::Step,
    );
    let call = |name: &str| {
        &r.pauses
            .iter()
            .find(|(c, _)| c.import() == name)
            .unwrap_or_else(|| panic!("no pause at {name}"))
            .0
    };
    let uri = call("fastly_http_req::uri_set");
    assert_eq!(
        uri.value("uri_ptr"),
        Some(&ArgValue::Str("http://example.com/hello".into()))
    );
    let hdr = call("fastly_http_req::header_insert");
    assert_eq!(hdr.value("name_ptr"), Some(&ArgValue::Str("x-step".into())));
    assert_eq!(hdr.value("value_ptr"), Some(&ArgValue::Str("yes".into())));
    let write = call("fastly_http_body::write");
    assert_eq!(write.value("buf"), Some(&ArgValue::Str("payload".into())));
    let about = |c: &PendingCall, n: &str| {
        c.args
            .iter()
            .find(|a| a.name == n)
            .and_then(|a| a.about.clone())
            .unwrap_or_default()
    };
    assert_eq!(about(write, "nwritten_out"), "output pointer");
    let send = call("fastly_http_req::send");
    assert_eq!(
        send.value("backend_ptr"),
        Some(&ArgValue::Str("origin".into()))
    );
    assert!(
        about(send, "req").contains("http://example.com/hello"),
        "{:?}",
        about(send, "req")
    );
    assert_eq!(about(send, "body"), "body, 7 bytes buffered");
    let shown = send.to_string();
    assert!(
        shown.starts_with("paused before fastly_http_req::send"),
        "{shown}"
    );
    assert!(shown.contains("\"origin\""), "{shown}");
}

#[test]
fn a_breakpoint_on_send_pauses_only_there_with_the_backend_decoded() {
    let engine = engine();
    let r = run(
        &engine,
        SENDER,
        origin_config(),
        Some(StepPolicy::at(vec![Breakpoint::Send])),
        |_, _| Resume::Continue,
    );
    assert_eq!(r.pauses.len(), 1);
    let (call, at) = &r.pauses[0];
    assert_eq!(call.import(), "fastly_http_req::send");
    assert_eq!(
        call.value("backend_ptr"),
        Some(&ArgValue::Str("origin".into()))
    );
    assert_eq!(
        hostcalls(&r.trace[..*at]).len(),
        6,
        "the six calls before the send ran"
    );
    assert_eq!(r.response.status, 201);
}

#[test]
fn running_to_the_end_gives_what_an_unpaused_run_gives() {
    let engine = engine();
    let plain = run(&engine, SENDER, origin_config(), None, |_, _| {
        panic!("an execution without a policy never pauses")
    });
    let to_end = run(
        &engine,
        SENDER,
        origin_config(),
        Some(StepPolicy::stepping(vec![])),
        |_, _| Resume::RunToEnd,
    );
    let stepped = run(
        &engine,
        SENDER,
        origin_config(),
        Some(StepPolicy::stepping(vec![])),
        |_, _| Resume::Step,
    );
    assert_eq!(to_end.pauses.len(), 1);
    assert_eq!(stepped.pauses.len(), hostcalls(&plain.trace).len());
    for r in [&to_end, &stepped] {
        assert_eq!(r.outcome.exit, plain.outcome.exit);
        assert_eq!(r.response.status, 201);
        assert_eq!(r.response.status, plain.response.status);
        assert_eq!(r.response.body, plain.response.body);
        assert_eq!(r.response.headers, plain.response.headers);
        assert_eq!(hostcalls(&r.trace), hostcalls(&plain.trace));
        // No fuel is used while paused.
        assert_eq!(r.outcome.fuel, plain.outcome.fuel);
    }
    assert_eq!(
        String::from_utf8_lossy(&plain.response.body),
        "from the origin"
    );
}

#[test]
fn a_status_breakpoint_pauses_after_the_call_with_its_status() {
    // `body_write` on a handle that does not exist answers BADF; the guest traps
    // unless it sees BADF, so resuming must hand it the status.
    let wat = expect(
        "(call $write (i32.const 999) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 16))",
        BADF,
    );
    let wat = format!(
        r#"(module
  (import "fastly_http_body" "write" (func $write (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start") {wat}))"#
    );
    let engine = engine();
    let r = run(
        &engine,
        &wat,
        ServiceConfig::default(),
        Some(StepPolicy::at(vec![Breakpoint::Status])),
        |_, _| Resume::Continue,
    );
    assert_eq!(r.outcome.exit, Exit::Returned, "{:?}", r.outcome);
    assert_eq!(r.pauses.len(), 1);
    let (call, at) = &r.pauses[0];
    assert_eq!(call.import(), "fastly_http_body::write");
    assert_eq!(
        call.at,
        PausedAt::After {
            code: BADF,
            status: "badf".into()
        }
    );
    assert!(call.event.is_some());
    assert_eq!(
        hostcalls(&r.trace[..*at]),
        vec!["fastly_http_body::write"],
        "the call's event is recorded when it pauses after"
    );
}

#[test]
fn a_call_that_waited_pauses_when_it_finishes_with_an_error() {
    // The backend refuses the connection: `send` waits for the fetch, then answers
    // ERROR; the pause comes before the guest sees it (and traps on it).
    let engine = engine();
    let r = run_against(
        &engine,
        SENDER,
        origin_config(),
        Some(StepPolicy::at(vec![Breakpoint::Status])),
        common::refuse,
        |_, _| Resume::Continue,
    );
    assert_eq!(r.pauses.len(), 1);
    let (call, _) = &r.pauses[0];
    assert_eq!(call.import(), "fastly_http_req::send");
    assert!(
        matches!(&call.at, PausedAt::After { code: 1, status } if status == "error"),
        "{:?}",
        call.at
    );
    assert!(matches!(r.outcome.exit, Exit::Trap { .. }));
}

#[test]
fn stop_while_paused_ends_the_run() {
    let engine = engine();
    let wasm = wat::parse_str(SENDER).unwrap();
    let guest = engine.load(&wasm).unwrap();
    let opts = ExecOptions {
        step: Some(StepPolicy::at(vec![Breakpoint::Send])),
        ..ExecOptions::default()
    };
    let mut d = Driver::start(
        &engine,
        guest,
        Arc::new(origin_config()),
        get("http://localhost/"),
        "0".repeat(32),
        opts,
        blocking::CAPABILITIES,
    )
    .unwrap();
    let paused = loop {
        match d.step() {
            edgeplay_host::driver::Step::Paused(call) => break call,
            edgeplay_host::driver::Step::Done(o) => panic!("ended without pausing: {o:?}"),
            _ => {}
        }
    };
    assert_eq!(paused.import(), "fastly_http_req::send");
    assert_eq!(d.paused().map(PendingCall::import), Some(paused.import()));
    // Still paused when stepped again without resuming.
    assert!(matches!(d.step(), edgeplay_host::driver::Step::Paused(_)));
    assert!(d.take_work().is_empty(), "the send has not run");
    let o = d.stop(None);
    assert_eq!(o.exit, Exit::Stopped);
}

#[test]
fn time_paused_is_left_out_of_the_trace() {
    let clock = Arc::new(FixedClock::default());
    let engine = Engine::new(Platform {
        clock: clock.clone(),
        random: Arc::new(SeededRandom::new(1)),
        validator: None,
    });
    let r = run(
        &engine,
        SENDER,
        origin_config(),
        Some(StepPolicy::stepping(vec![])),
        |_, _| {
            // Ten seconds at every pause.
            clock.advance(10_000_000_000);
            Resume::Step
        },
    );
    assert_eq!(r.outcome.exit, Exit::Returned);
    let last = r
        .trace
        .iter()
        .map(|e| e.start_us + e.dur_us)
        .fold(0.0, f64::max);
    assert!(
        last < 1_000_000.0,
        "the trace ends {last} µs in: paused time was counted"
    );
}
