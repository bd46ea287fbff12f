//! Fetches the backend named by `?backend=` (default `missing`) and prints the send
//! error's cause (`cause=ConnectionRefused`), or `status=200` when the fetch succeeds.
use fastly::{Error, Request, Response};

#[fastly::main]
fn main(req: Request) -> Result<Response, Error> {
    let q: Vec<(String, String)> = req.get_query()?;
    let backend = q
        .iter()
        .find(|(n, _)| n == "backend")
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| "missing".into());
    let out = match Request::get("http://origin.example/").send(backend.as_str()) {
        Ok(resp) => format!("status={}\n", resp.get_status().as_u16()),
        Err(e) => format!("cause={:?}\n", e.root_cause()),
    };
    Ok(Response::from_body(out))
}
