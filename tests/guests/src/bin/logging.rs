//! Logging: stdout/stderr and named log endpoints; `stdout`/`stderr` are reserved endpoint names.
use fastly::log::Endpoint;
use fastly::{Error, Request, Response};
use std::io::Write;

#[fastly::main]
fn main(_req: Request) -> Result<Response, Error> {
    println!("stdout line 1");
    eprintln!("stderr line 1");

    let mut endpoint = Endpoint::from_name("my_endpoint");
    // Each write is one log line.
    writeln!(endpoint, "hello endpoint")?;
    write!(endpoint, "second line")?;

    let mut report = String::new();
    for name in ["stdout", "stderr"] {
        match Endpoint::try_from_name(name) {
            Ok(_) => report.push_str(&format!("{name}: ok\n")),
            Err(e) => report.push_str(&format!("{name}: err {e:?}\n")),
        }
    }
    Ok(Response::from_status(200)
        .with_header("content-type", "text/plain")
        .with_body(report))
}
