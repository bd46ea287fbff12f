//! `fastly_erl`: edge rate limiting that counts, as the platform does ([`crate::erl`]
//! has the rules: one-second buckets, the windows and durations accepted, penalty box
//! TTLs). Viceroy answers zero to every call; edgeplay keeps rate counters and
//! penalty boxes in the service's state, so they outlive the request.
//!
//! Every call reads its names as UTF-8 (a bad pointer or length is INVAL), answers
//! INVAL for what the engine refuses (a window other than 1/10/60, a duration other
//! than 10…60 in steps of 10, an entry over 256 bytes), and takes the time from the
//! session's clock. An out-pointer is checked before any state changes, so a call
//! that answers INVAL for it has counted nothing. The legacy `env.xqd_erl_*` names
//! share the bodies.

use super::{Cx, HostResult, Registry};
use crate::erl::{self, ErlError};
use crate::status::Status;
use crate::trace::ArgValue;

fn refused(cx: &mut Cx<'_>, e: ErlError) -> HostResult {
    cx.note(e.to_string());
    Ok(Status::INVAL.0)
}

/// Read a name and an entry, recording both.
fn names(
    cx: &mut Cx<'_>,
    what: &'static str,
    name: (u32, u32),
    entry: (u32, u32),
) -> HostResult<(String, String)> {
    let n = cx.str_arg(what, name.0, name.1)?;
    let e = cx.str_arg("entry", entry.0, entry.1)?;
    Ok((n, e))
}

fn increment(cx: &mut Cx<'_>, rc: (u32, u32), entry: (u32, u32), delta: u32) -> HostResult {
    let (rc, entry) = names(cx, "rate_counter", rc, entry)?;
    let now = cx.s.unix_ns();
    let r = erl::increment(&mut **cx.s.state.lock(), &rc, &entry, delta, now);
    match r {
        Ok(()) => {
            let count = erl::lookup_count(&**cx.s.state.lock(), &rc, &entry, 60, now).unwrap_or(0);
            cx.result("count_60s", ArgValue::Int(i64::from(count)));
            Ok(Status::OK.0)
        }
        Err(e) => refused(cx, e),
    }
}

fn lookup_rate(
    cx: &mut Cx<'_>,
    rc: (u32, u32),
    entry: (u32, u32),
    window: u32,
    rate_out: u32,
) -> HostResult {
    let (rc, entry) = names(cx, "rate_counter", rc, entry)?;
    cx.mem.write_u32(rate_out, 0)?;
    let now = cx.s.unix_ns();
    let r = erl::lookup_rate(&**cx.s.state.lock(), &rc, &entry, window, now);
    match r {
        Ok(rate) => {
            cx.mem.write_u32(rate_out, rate)?;
            cx.result("rate", ArgValue::Int(i64::from(rate)));
            Ok(Status::OK.0)
        }
        Err(e) => refused(cx, e),
    }
}

fn lookup_count(
    cx: &mut Cx<'_>,
    rc: (u32, u32),
    entry: (u32, u32),
    duration: u32,
    count_out: u32,
) -> HostResult {
    let (rc, entry) = names(cx, "rate_counter", rc, entry)?;
    cx.mem.write_u32(count_out, 0)?;
    let now = cx.s.unix_ns();
    let r = erl::lookup_count(&**cx.s.state.lock(), &rc, &entry, duration, now);
    match r {
        Ok(count) => {
            cx.mem.write_u32(count_out, count)?;
            cx.result("count", ArgValue::Int(i64::from(count)));
            Ok(Status::OK.0)
        }
        Err(e) => refused(cx, e),
    }
}

fn penaltybox_add(cx: &mut Cx<'_>, pb: (u32, u32), entry: (u32, u32), ttl: u32) -> HostResult {
    let (pb, entry) = names(cx, "penalty_box", pb, entry)?;
    let now = cx.s.unix_ns();
    let r = erl::penaltybox_add(&mut **cx.s.state.lock(), &pb, &entry, ttl, now);
    match r {
        Ok(applied) => {
            cx.result("ttl_applied", ArgValue::Int(i64::from(applied)));
            if applied != ttl {
                cx.note(format!(
                    "TTL {ttl} s applied as {applied} s (whole minutes, 1 to 60)"
                ));
            }
            Ok(Status::OK.0)
        }
        Err(e) => refused(cx, e),
    }
}

fn penaltybox_has(cx: &mut Cx<'_>, pb: (u32, u32), entry: (u32, u32), has_out: u32) -> HostResult {
    let (pb, entry) = names(cx, "penalty_box", pb, entry)?;
    cx.mem.write_u32(has_out, 0)?;
    let now = cx.s.unix_ns();
    let r = erl::penaltybox_has(&mut **cx.s.state.lock(), &pb, &entry, now);
    match r {
        Ok(has) => {
            cx.mem.write_u32(has_out, u32::from(has))?;
            cx.result("has", ArgValue::Int(i64::from(has)));
            Ok(Status::OK.0)
        }
        Err(e) => refused(cx, e),
    }
}

/// The arguments of one `check_rate`, as the guest passed them.
struct CheckArgs {
    rc: (u32, u32),
    entry: (u32, u32),
    delta: u32,
    window: u32,
    limit: u32,
    pb: (u32, u32),
    ttl: u32,
    blocked_out: u32,
}

fn check_rate(cx: &mut Cx<'_>, a: CheckArgs) -> HostResult {
    let (rc, entry) = names(cx, "rate_counter", a.rc, a.entry)?;
    let pb = cx.str_arg("penalty_box", a.pb.0, a.pb.1)?;
    cx.mem.write_u32(a.blocked_out, 0)?;
    let now = cx.s.unix_ns();
    let r = erl::check_rate(
        &mut **cx.s.state.lock(),
        &rc,
        &entry,
        a.delta,
        a.window,
        a.limit,
        &pb,
        a.ttl,
        now,
    );
    let c = match r {
        Ok(c) => c,
        Err(e) => return refused(cx, e),
    };
    cx.mem.write_u32(a.blocked_out, u32::from(c.blocked))?;
    cx.result("blocked", ArgValue::Int(i64::from(c.blocked)));
    cx.result("rate", ArgValue::Str(format!("{:.2}", c.rate)));
    cx.result(
        "count",
        ArgValue::Int(c.count.try_into().unwrap_or(i64::MAX)),
    );
    let (window, limit) = (a.window, a.limit);
    let why = if c.already_in_box {
        format!("{entry:?} is in penalty box {pb}: blocked")
    } else if let Some(ttl) = c.ttl_applied {
        cx.result("ttl_applied", ArgValue::Int(i64::from(ttl)));
        format!(
            "{:.2}/s over {window} s exceeds {limit}/s: blocked, and {entry:?} is in penalty box {pb} for {ttl} s",
            c.rate
        )
    } else {
        format!("{:.2}/s over {window} s is within {limit}/s", c.rate)
    };
    cx.note(why);
    Ok(Status::OK.0)
}

pub(crate) fn link(reg: &mut Registry) -> Result<(), wasmi::errors::LinkerError> {
    super::hostcalls! { reg;
        ["fastly_erl" :: "check_rate", "env" :: "xqd_erl_check_rate"]
        fn(cx, rc: u32, rc_len: u32, entry: u32, entry_len: u32, delta: u32, window: u32,
           limit: u32, pb: u32, pb_len: u32, ttl: u32, blocked_out: u32) -> i32 {
            check_rate(cx, CheckArgs {
                rc: (rc, rc_len),
                entry: (entry, entry_len),
                delta,
                window,
                limit,
                pb: (pb, pb_len),
                ttl,
                blocked_out,
            })
        }

        ["fastly_erl" :: "ratecounter_increment", "env" :: "xqd_erl_ratecounter_increment"]
        fn(cx, rc: u32, rc_len: u32, entry: u32, entry_len: u32, delta: u32) -> i32 {
            increment(cx, (rc, rc_len), (entry, entry_len), delta)
        }

        ["fastly_erl" :: "ratecounter_lookup_rate", "env" :: "xqd_erl_ratecounter_lookup_rate"]
        fn(cx, rc: u32, rc_len: u32, entry: u32, entry_len: u32, window: u32, rate_out: u32) -> i32 {
            lookup_rate(cx, (rc, rc_len), (entry, entry_len), window, rate_out)
        }

        ["fastly_erl" :: "ratecounter_lookup_count", "env" :: "xqd_erl_ratecounter_lookup_count"]
        fn(cx, rc: u32, rc_len: u32, entry: u32, entry_len: u32, duration: u32, count_out: u32) -> i32 {
            lookup_count(cx, (rc, rc_len), (entry, entry_len), duration, count_out)
        }

        ["fastly_erl" :: "penaltybox_add", "env" :: "xqd_erl_penaltybox_add"]
        fn(cx, pb: u32, pb_len: u32, entry: u32, entry_len: u32, ttl: u32) -> i32 {
            penaltybox_add(cx, (pb, pb_len), (entry, entry_len), ttl)
        }

        ["fastly_erl" :: "penaltybox_has", "env" :: "xqd_erl_penaltybox_has"]
        fn(cx, pb: u32, pb_len: u32, entry: u32, entry_len: u32, has_out: u32) -> i32 {
            penaltybox_has(cx, (pb, pb_len), (entry, entry_len), has_out)
        }
    }
    Ok(())
}
