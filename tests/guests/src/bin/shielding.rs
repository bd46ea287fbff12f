//! Shielding through the SDK's `fastly::shielding::Shield`: the shield named by the
//! `shield` request header.
//!
//! - `GET /is-shield`: `true` or `false` (`Shield::running_on`).
//! - `GET /shield-to` with `shield-type: unencrypted|encrypted`: the request is sent
//!   to that shield backend (`x-backend` on the answer names it).
//! - `GET /raw`: the raw calls' error cases, one `name=status` line each.
//!
//! An unknown shield answers 500 with the SDK's status.
use fastly::shielding::Shield;
use fastly::{Error, Request, Response};
use fastly_shared::FastlyStatus;
use fastly_sys::fastly_shielding as sys;

fn raw() -> String {
    let mut out = String::new();
    let mut line = |name: &str, s: FastlyStatus| out.push_str(&format!("{name}={}\n", s.code));
    let name = b"here";
    let mut buf = [0u8; 4];
    let mut nw = 0u32;
    let s = unsafe { sys::shield_info(name.as_ptr(), name.len(), buf.as_mut_ptr(), 1, &mut nw) };
    line(&format!("info_small_buffer(need {nw})"), s);
    let target = b"http://127.0.0.1:9/";
    let cfg = sys::ShieldBackendConfig::default();
    let mut big = [0u8; 256];
    let s = unsafe {
        sys::backend_for_shield(
            target.as_ptr(),
            target.len(),
            sys::ShieldBackendOptions::RESERVED,
            &cfg,
            big.as_mut_ptr(),
            big.len(),
            &mut nw,
        )
    };
    line("backend_reserved_bit", s);
    let bad = b"not a url";
    let s = unsafe {
        sys::backend_for_shield(
            bad.as_ptr(),
            bad.len(),
            sys::ShieldBackendOptions::default(),
            &cfg,
            big.as_mut_ptr(),
            big.len(),
            &mut nw,
        )
    };
    line("backend_bad_target", s);
    out
}

#[fastly::main]
fn main(req: Request) -> Result<Response, Error> {
    if req.get_path() == "/raw" {
        return Ok(Response::from_body(raw()));
    }
    let name = req.get_header_str("shield").unwrap_or("").to_string();
    let shield = match Shield::new(&name) {
        Ok(s) => s,
        Err(e) => {
            return Ok(Response::from_status(500).with_body(format!("no shield {name:?}: {e:?}")))
        }
    };
    match req.get_path() {
        "/is-shield" => Ok(Response::from_body(shield.running_on().to_string())),
        "/shield-to" => {
            let backend = if req.get_header_str("shield-type") == Some("encrypted") {
                shield.encrypted_backend()
            } else {
                shield.with_first_byte_timeout(std::time::Duration::from_secs(5)).unencrypted_backend()
            };
            let backend = match backend {
                Ok(b) => b,
                Err(e) => return Ok(Response::from_status(500).with_body(format!("{e:?}"))),
            };
            let name = backend.name().to_string();
            let mut resp = Request::get("http://shield.test/from-edge").send(backend)?;
            resp.set_header("x-backend", name);
            Ok(resp)
        }
        _ => Ok(Response::from_status(404)),
    }
}
