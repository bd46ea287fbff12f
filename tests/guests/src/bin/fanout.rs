//! Two backend requests at once (`send_async` to backends `a` and `b`), then `select`
//! for the first to finish and `wait` for the other. The body names the first one and
//! gives both bodies: `first=a\na=...\nb=...\n`.
use fastly::http::request::select;
use fastly::{Error, Request, Response};

#[fastly::main]
fn main(req: Request) -> Result<Response, Error> {
    let pa = Request::get("http://a.example/a")
        .with_header("x-fanout", "a")
        .send_async("a")?;
    let pb = Request::get("http://b.example/b")
        .with_header("x-fanout", "b")
        .send_async("b")?;
    let (first, rest) = select(vec![pa, pb]);
    let mut first = first?;
    let first_name = first.get_backend_name().unwrap_or("?").to_string();
    let mut bodies = vec![(first_name.clone(), first.take_body_str())];
    for p in rest {
        let mut r = p.wait()?;
        let name = r.get_backend_name().unwrap_or("?").to_string();
        bodies.push((name, r.take_body_str()));
    }
    bodies.sort();
    let mut out = format!("first={first_name}\n");
    for (name, body) in bodies {
        out.push_str(&format!("{name}={body}\n"));
    }
    let _ = req;
    Ok(Response::from_body(out))
}
