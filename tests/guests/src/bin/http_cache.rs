//! The HTTP cache API: `Request::send` with the SDK's guest-side caching hooks, and
//! the raw `fastly_http_cache` calls' error cases.
//!
//! - any path but `/raw`: forwards the request to the backend `origin` with
//!   `send`, which the SDK runs through the HTTP cache when the host supports it.
//!   Query switches: `ttl=N` (`after_send`: `CandidateResponse::set_ttl`),
//!   `cacheable=1` (`set_cacheable`), `uncacheable=1` (`set_uncacheable(false)`),
//!   `hfp=1` (`set_uncacheable(true)`), `before=1` (`before_send` adds
//!   `x-before: 1` to the backend request). The response carries what the SDK adds
//!   (`x-cache`, `x-cache-hits`), and `x-was-cacheable` from the candidate.
//! - `/raw`: one line per raw call, `name=status` (`FastlyStatus` numbers), for the
//!   error cases a host must get right.
use fastly::handle::{RequestHandle, ResponseHandle};
use fastly::{Error, Request, Response};
use std::time::Duration;

#[repr(C)]
struct LookupOptions {
    override_key_ptr: *const u8,
    override_key_len: usize,
    backend_name_ptr: *const u8,
    backend_name_len: usize,
}

#[repr(C)]
struct WriteOptions {
    max_age_ns: u64,
    vary_rule_ptr: *const u8,
    vary_rule_len: usize,
    initial_age_ns: u64,
    stale_while_revalidate_ns: u64,
    surrogate_keys_ptr: *const u8,
    surrogate_keys_len: usize,
    length: u64,
    stale_if_error_ns: u64,
}

#[link(wasm_import_module = "fastly_http_cache")]
extern "C" {
    fn is_request_cacheable(req: u32, out: *mut u32) -> u32;
    fn get_suggested_cache_key(req: u32, buf: *mut u8, len: usize, nwritten: *mut usize) -> u32;
    fn lookup(req: u32, mask: u32, opts: *const LookupOptions, out: *mut u32) -> u32;
    fn transaction_lookup(req: u32, mask: u32, opts: *const LookupOptions, out: *mut u32) -> u32;
    fn transaction_insert(
        h: u32,
        resp: u32,
        mask: u32,
        opts: *const WriteOptions,
        body_out: *mut u32,
    ) -> u32;
    fn transaction_abandon(h: u32) -> u32;
    fn transaction_choose_stale(h: u32) -> u32;
    fn close(h: u32) -> u32;
    fn get_state(h: u32, out: *mut u32) -> u32;
    fn get_found_response(h: u32, transform: u32, resp_out: *mut u32, body_out: *mut u32) -> u32;
    fn get_max_age_ns(h: u32, out: *mut u64) -> u32;
}

const BACKEND_NAME: u32 = 1 << 2;

fn raw() -> String {
    let mut lines = Vec::new();
    let mut rec = |name: &str, v: u32| lines.push(format!("{name}={v}"));
    let get = || Request::get("http://raw.example/object").into_handles().0;
    let post = || Request::post("http://raw.example/object").into_handles().0;
    let opts = |backend: &str| LookupOptions {
        override_key_ptr: std::ptr::null(),
        override_key_len: 0,
        backend_name_ptr: backend.as_ptr(),
        backend_name_len: backend.len(),
    };
    unsafe {
        let (g, p): (RequestHandle, RequestHandle) = (get(), post());
        let mut out = 0u32;
        rec("cacheable_get", is_request_cacheable(g.as_u32(), &mut out));
        rec("cacheable_get_out", out);
        out = 9;
        is_request_cacheable(p.as_u32(), &mut out);
        rec("cacheable_post_out", out);
        rec(
            "cacheable_bad_handle",
            is_request_cacheable(0xdead, &mut out),
        );

        let mut key = [0u8; 64];
        let mut n = 0usize;
        rec(
            "key",
            get_suggested_cache_key(g.as_u32(), key.as_mut_ptr(), key.len(), &mut n),
        );
        rec("key_len", n as u32);
        rec(
            "key_short_buf",
            get_suggested_cache_key(g.as_u32(), key.as_mut_ptr(), 4, &mut n),
        );
        rec("key_needed", n as u32);

        let o = opts("origin");
        let mut h = 0u32;
        rec("lookup_bad_mask", lookup(g.as_u32(), 1 << 9, &o, &mut h));
        let nobody = opts("nobody");
        rec(
            "lookup_unknown_backend",
            transaction_lookup(g.as_u32(), BACKEND_NAME, &nobody, &mut h),
        );
        rec(
            "lookup_bad_request",
            transaction_lookup(0xdead, 0, &o, &mut h),
        );
        rec("state_bad_handle", get_state(0xdead, &mut out));

        // A miss: this transaction must insert.
        rec(
            "tx",
            transaction_lookup(g.as_u32(), BACKEND_NAME, &o, &mut h),
        );
        rec("tx_state", get_state(h, &mut out));
        rec("tx_state_out", out);
        let (mut rh, mut bh) = (0u32, 0u32);
        rec("found_on_miss", get_found_response(h, 1, &mut rh, &mut bh));
        let mut ns = 0u64;
        rec("max_age_on_miss", get_max_age_ns(h, &mut ns));
        rec("choose_stale_with_nothing", transaction_choose_stale(h));
        rec("abandon", transaction_abandon(h));
        rec("abandon_again", transaction_abandon(h));
        rec("close", close(h));
        rec("close_again", close(h));

        // A plain lookup has no obligation: inserting through it is BADF.
        rec("plain", lookup(g.as_u32(), 0, &o, &mut h));
        rec("plain_state", get_state(h, &mut out));
        rec("plain_state_out", out);
        let resp: ResponseHandle = Response::new().into_handles().0;
        let w = WriteOptions {
            max_age_ns: 60_000_000_000,
            vary_rule_ptr: std::ptr::null(),
            vary_rule_len: 0,
            initial_age_ns: 0,
            stale_while_revalidate_ns: 0,
            surrogate_keys_ptr: std::ptr::null(),
            surrogate_keys_len: 0,
            length: 0,
            stale_if_error_ns: 0,
        };
        rec(
            "insert_without_obligation",
            transaction_insert(h, resp.as_u32(), 0, &w, &mut bh),
        );
        rec(
            "insert_bad_mask",
            transaction_insert(h, resp.as_u32(), 1 << 12, &w, &mut bh),
        );
        rec("plain_close", close(h));
    }
    lines.join("\n") + "\n"
}

#[fastly::main]
fn main(req: Request) -> Result<Response, Error> {
    if req.get_path() == "/raw" {
        return Ok(Response::from_body(raw()));
    }
    let query = req.get_query_str().unwrap_or("").to_string();
    let flag = |name: &str| query.split('&').any(|kv| kv == format!("{name}=1"));
    let ttl: Option<u64> = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("ttl="))
        .and_then(|v| v.parse().ok());
    let mut bereq = req.clone_without_body();
    if flag("before") {
        bereq.set_before_send(|r| {
            r.set_header("x-before", "1");
            Ok(())
        });
    }
    let (cacheable, uncacheable, hfp) = (flag("cacheable"), flag("uncacheable"), flag("hfp"));
    if ttl.is_some() || cacheable || uncacheable || hfp {
        bereq.set_after_send(move |c| {
            if let Some(s) = ttl {
                c.set_ttl(Duration::from_secs(s));
            }
            if cacheable {
                c.set_cacheable();
            }
            if uncacheable {
                c.set_uncacheable(false);
            }
            if hfp {
                c.set_uncacheable(true);
            }
            c.set_header("x-was-cacheable", c.is_cacheable().to_string());
            Ok(())
        });
    }
    match bereq.send("origin") {
        Ok(resp) => Ok(resp),
        Err(e) => Ok(Response::from_status(502)
            .with_header("x-send-error", format!("{:?}", e.root_cause()))
            .with_body(format!("send failed: {}\n", e.root_cause()))),
    }
}
