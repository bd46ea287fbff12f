//! Reusable sandboxes (`next_request_wait`): on a platform that reuses sandboxes
//! (`Capabilities::NATIVE_SERVER`, `edgeplay serve`) one instance serves further
//! requests, each answered by its own outputs (`Output::ForRequest`), its metadata
//! and handles its own, up to Viceroy's limit; everywhere else the guest gets NONE.

use edgeplay_host::driver::{Capabilities, Driver, Step, MAX_FURTHER_REQUESTS};
use edgeplay_host::trace::{ArgValue, EventKind};
use edgeplay_host::{
    DownstreamRequest, Engine, ExecOptions, Exit, NextDownstream, Output, Platform, ServiceConfig,
    TraceEvent, WorkKind, WorkResult,
};
use std::collections::VecDeque;
use std::sync::Arc;

/// A guest that answers each request with `N:ID` (N counts the requests this
/// instance served, in guest memory; ID is `downstream_client_request_id` of the
/// request handle it holds), then asks for a further request and loops while it gets one.
pub const COUNTER: &str = r#"(module
  (import "fastly_http_req" "body_downstream_get" (func $ds (param i32 i32) (result i32)))
  (import "fastly_http_downstream" "next_request" (func $next (param i32 i32 i32) (result i32)))
  (import "fastly_http_downstream" "next_request_wait" (func $wait (param i32 i32 i32) (result i32)))
  (import "fastly_http_downstream" "downstream_client_request_id" (func $rid (param i32 i32 i32 i32) (result i32)))
  (import "fastly_http_resp" "new" (func $resp_new (param i32) (result i32)))
  (import "fastly_http_body" "new" (func $body_new (param i32) (result i32)))
  (import "fastly_http_body" "write" (func $body_write (param i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_http_resp" "send_downstream" (func $send (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (drop (call $ds (i32.const 8) (i32.const 12)))
    (loop $serve
      (i32.store (i32.const 0) (i32.add (i32.load (i32.const 0)) (i32.const 1)))
      (i32.store8 (i32.const 100) (i32.add (i32.const 48) (i32.load (i32.const 0))))
      (i32.store8 (i32.const 101) (i32.const 58))
      (drop (call $rid (i32.load (i32.const 8)) (i32.const 102) (i32.const 64) (i32.const 40)))
      (drop (call $resp_new (i32.const 32)))
      (drop (call $body_new (i32.const 36)))
      (drop (call $body_write (i32.load (i32.const 36)) (i32.const 100)
        (i32.add (i32.const 2) (i32.load (i32.const 40))) (i32.const 0) (i32.const 44)))
      (drop (call $send (i32.load (i32.const 32)) (i32.load (i32.const 36)) (i32.const 0)))
      (if (call $next (i32.const 0) (i32.const 16) (i32.const 24)) (then return))
      (if (call $wait (i32.load (i32.const 24)) (i32.const 8) (i32.const 12)) (then return))
      (br $serve))))"#;

fn id(n: u32) -> String {
    format!("{n:032x}")
}

/// What one instance did: the bodies it sent, per request index; the request
/// waits the platform saw; the trace.
struct Served {
    bodies: Vec<(u32, String)>,
    waits: usize,
    trace: Vec<TraceEvent>,
    exit: Exit,
}

/// Run COUNTER once with `caps`, handing it `further` requests when it asks.
fn serve(caps: Capabilities, further: usize) -> Served {
    serve_wat(COUNTER, caps, further)
}

fn serve_wat(wat: &str, caps: Capabilities, further: usize) -> Served {
    let engine = Engine::new(Platform::deterministic());
    let guest = engine.load(&wat::parse_str(wat).unwrap()).unwrap();
    let mut queue: VecDeque<NextDownstream> = (1..=further as u32)
        .map(|n| NextDownstream {
            request: DownstreamRequest::new("GET", &format!("/r{n}")),
            request_id: id(n),
        })
        .collect();
    let mut d = Driver::start(
        &engine,
        guest,
        Arc::new(ServiceConfig::default()),
        DownstreamRequest::new("GET", "/r0"),
        id(0),
        ExecOptions::default(),
        caps,
    )
    .unwrap();
    let (mut bodies, mut waits, mut trace) = (Vec::new(), 0, Vec::new());
    let mut index = 0;
    let exit = loop {
        let step = d.step();
        for w in d.take_work() {
            match w.kind {
                WorkKind::NextRequest { .. } => {
                    waits += 1;
                    let next = queue.pop_front().map(Box::new);
                    d.complete(w.id, WorkResult::NextRequest(next));
                }
                other => panic!("unexpected work {other:?}"),
            }
        }
        for o in d.take_outputs() {
            match o {
                Output::ForRequest { index: i, .. } => index = i,
                Output::BodyChunk(c) => bodies.push((index, String::from_utf8(c).unwrap())),
                _ => {}
            }
        }
        trace.extend(d.take_trace());
        match step {
            Step::Done(o) => break o.exit,
            Step::Wait | Step::Continue => {}
            Step::Paused(_) => panic!("not stepping"),
        }
    };
    Served {
        bodies,
        waits,
        trace,
        exit,
    }
}

fn notes(trace: &[TraceEvent], name: &str) -> Vec<String> {
    trace
        .iter()
        .filter(|e| e.name == name)
        .map(|e| e.note.clone().unwrap_or_default())
        .collect()
}

#[test]
fn a_server_hands_further_requests_to_the_same_instance() {
    let s = serve(Capabilities::NATIVE_SERVER, 2);
    assert_eq!(s.exit, Exit::Returned);
    // One counter in guest memory: 1, 2, 3; each request's own id and output index.
    assert_eq!(
        s.bodies,
        vec![
            (0, format!("1:{}", id(0))),
            (1, format!("2:{}", id(1))),
            (2, format!("3:{}", id(2))),
        ]
    );
    // The third wait found no further request: NONE, and the guest ended.
    assert_eq!(s.waits, 3);
    let waits: Vec<&TraceEvent> = s
        .trace
        .iter()
        .filter(|e| e.name == "next_request_wait")
        .collect();
    assert_eq!(waits.len(), 3);
    let sandbox = |e: &TraceEvent| {
        e.results
            .iter()
            .find(|(n, _)| n == "sandbox")
            .map(|(_, v)| v.clone())
    };
    assert_eq!(sandbox(waits[0]), Some(ArgValue::Str(id(0))));
    assert_eq!(sandbox(waits[1]), Some(ArgValue::Str(id(0))));
    assert!(waits[2]
        .note
        .as_deref()
        .unwrap()
        .contains("no further request"));
    // A lifecycle event says which sandbox served which request.
    let accepted: Vec<&TraceEvent> = s
        .trace
        .iter()
        .filter(|e| e.kind == EventKind::Lifecycle && e.name == "next-request")
        .collect();
    assert_eq!(accepted.len(), 2);
    assert_eq!(
        accepted[1].args,
        vec![
            ("request".into(), ArgValue::Int(2)),
            ("sandbox".into(), ArgValue::Str(id(0))),
            ("request_id".into(), ArgValue::Str(id(2))),
        ]
    );
    assert!(accepted[1]
        .note
        .as_deref()
        .unwrap()
        .contains("GET http://127.0.0.1:7676/r2"));
}

#[test]
fn an_instance_serves_at_most_six_requests() {
    let s = serve(Capabilities::NATIVE_SERVER, 10);
    let n = MAX_FURTHER_REQUESTS as usize + 1;
    assert_eq!(s.bodies.len(), n);
    assert_eq!(s.bodies[n - 1], (5, format!("6:{}", id(5))));
    // The sixth wait answered NONE without asking the platform.
    assert_eq!(s.waits, MAX_FURTHER_REQUESTS as usize);
    let last = notes(&s.trace, "next_request_wait").pop().unwrap();
    assert!(last.contains("the most one sandbox serves"), "{last}");
}

#[test]
fn other_platforms_answer_none_without_asking() {
    for caps in [Capabilities::NATIVE, Capabilities::BROWSER] {
        let s = serve(caps, 3);
        assert_eq!(s.exit, Exit::Returned);
        assert_eq!(s.bodies, vec![(0, format!("1:{}", id(0)))]);
        assert_eq!(s.waits, 0, "no NextRequest work reaches the platform");
        let n = notes(&s.trace, "next_request_wait");
        assert_eq!(n.len(), 1);
        assert!(n[0].contains("one request per instance"), "{}", n[0]);
        assert!(s.trace.iter().all(|e| e.name != "next-request"));
    }
}

#[test]
fn no_further_request_while_the_response_still_streams() {
    // The response streams and the guest never closes its body.
    let send = "(i32.load (i32.const 36)) (i32.const 0)))";
    assert!(COUNTER.contains(send));
    let wat = COUNTER.replace(send, "(i32.load (i32.const 36)) (i32.const 1)))");
    let s = serve_wat(&wat, Capabilities::NATIVE_SERVER, 3);
    assert_eq!(s.bodies, vec![(0, format!("1:{}", id(0)))]);
    assert_eq!(s.waits, 0);
    let n = notes(&s.trace, "next_request_wait");
    assert!(n[0].contains("still streaming"), "{n:?}");
}
