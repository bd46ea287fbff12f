//! `fastly_image_optimizer.transform_image_optimizer_request` with a WAT guest and a
//! PNG origin (the test driver's fetch closure): the client gets the transformed image.

mod common;

use common::{config, engine, expect, run_with_origin, OK};
use edgeplay_host::{ExecOptions, FetchRequest, FetchResponse, Headers, WorkResult};
use image::GenericImageView;
use std::io::Cursor;

fn png(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbaImage::from_fn(w, h, |x, y| image::Rgba([x as u8, y as u8, 90, 255]));
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// A guest that checks `has_image_optimizer`, sends the client request through the
/// Image Optimizer with `claims` (or, when `None`, with the request's own query) and
/// sends the result downstream.
fn guest(claims: Option<&str>) -> String {
    let (mask, data) = match claims {
        Some(c) => (2, c.to_string()),
        None => (0, String::new()),
    };
    format!(
        r#"(module
  (import "fastly_compute_runtime" "has_image_optimizer" (func $has (param i32) (result i32)))
  (import "fastly_http_req" "body_downstream_get" (func $ds (param i32 i32) (result i32)))
  (import "fastly_image_optimizer" "transform_image_optimizer_request"
    (func $io (param i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_http_resp" "send_downstream" (func $send (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "origin")
  (data (i32.const 300) "{data}")
  (func (export "_start")
    {has}
    (if (i32.ne (i32.load (i32.const 40)) (i32.const 1)) (then unreachable))
    {ds}
    (i32.store (i32.const 200) (i32.const 300))
    (i32.store (i32.const 204) (i32.const {len}))
    {io}
    (if (i32.ne (i32.load (i32.const 60)) (i32.const 1)) (then unreachable))
    {send}))"#,
        has = expect("(call $has (i32.const 40))", OK),
        ds = expect("(call $ds (i32.const 0) (i32.const 4))", OK),
        len = data.len(),
        io = expect(
            &format!(
                "(call $io (i32.load (i32.const 0)) (i32.const -2) (i32.const 100) (i32.const 6) (i32.const {mask}) (i32.const 200) (i32.const 60) (i32.const 8) (i32.const 12))"
            ),
            OK
        ),
        send = expect(
            "(call $send (i32.load (i32.const 8)) (i32.load (i32.const 12)) (i32.const 0))",
            OK
        ),
    )
}

const CONFIG: &str = "[local_server.backends.origin]\nurl = \"http://127.0.0.1:9000\"\n";

fn origin_answer(body: Vec<u8>, content_type: &str) -> WorkResult {
    let mut h = Headers::new();
    h.append("content-type", content_type);
    h.append("content-length", body.len().to_string());
    WorkResult::Fetched(Box::new(FetchResponse {
        status: 200,
        headers: h,
        body,
        remote_addr: None,
        first_byte_us: 10,
        end_us: 20,
        headers_not_sent: Vec::new(),
        notes: Vec::new(),
    }))
}

fn io_run(
    claims: Option<&str>,
    url: &str,
    body: Vec<u8>,
    ctype: &str,
) -> (common::Run, Vec<String>) {
    let wasm = wat::parse_str(guest(claims)).unwrap();
    let mut urls = Vec::new();
    let run = run_with_origin(
        &engine(),
        &wasm,
        config(CONFIG),
        common::get(url),
        ExecOptions::default(),
        |f: &FetchRequest| {
            urls.push(f.url.clone());
            origin_answer(body.clone(), ctype)
        },
    );
    (run, urls)
}

#[test]
fn a_png_origin_is_resized_and_reencoded() {
    let (run, urls) = io_run(
        Some("region=us_east&width=100&format=jpeg&quality=70"),
        "http://edge.test/img.png?width=100&v=1",
        png(400, 200),
        "image/png",
    );
    common::assert_returned(&run);
    assert_eq!(
        urls,
        ["http://127.0.0.1:9000/img.png?v=1"],
        "the origin request has no Image Optimizer parameters"
    );
    assert_eq!(run.response.status, 200);
    assert_eq!(
        run.response.headers.get("content-type"),
        Some(&b"image/jpeg"[..])
    );
    let img = image::load_from_memory(&run.response.body).unwrap();
    assert_eq!(img.dimensions(), (100, 50));
    assert_eq!(
        image::guess_format(&run.response.body).unwrap(),
        image::ImageFormat::Jpeg
    );
    let info =
        String::from_utf8_lossy(run.response.headers.get("fastly-io-info").unwrap()).into_owned();
    assert!(info.contains("idim=400x200 ifmt=png"), "{info}");
    assert!(info.ends_with("odim=100x50 ofmt=jpeg"), "{info}");
    let ev = &run.calls("fastly_image_optimizer::transform_image_optimizer_request")[0];
    assert_eq!(ev.status.as_deref(), Some("ok"));
    assert!(ev
        .note
        .as_deref()
        .unwrap_or("")
        .contains("Image Optimizer: ifsz="));
}

#[test]
fn without_claims_the_request_query_is_the_options() {
    let (run, urls) = io_run(
        None,
        "http://edge.test/a.png?crop=1:1&height=50&format=png",
        png(300, 100),
        "image/png",
    );
    assert_eq!(urls, ["http://127.0.0.1:9000/a.png"]);
    let img = image::load_from_memory(&run.response.body).unwrap();
    assert_eq!(img.dimensions(), (50, 50));
    assert_eq!(
        run.response.headers.get("content-type"),
        Some(&b"image/png"[..])
    );
}

#[test]
fn malformed_options_and_non_images_answer_as_the_platform() {
    let (run, urls) = io_run(
        Some("region=us_east&width=wide"),
        "http://edge.test/a.png",
        png(10, 10),
        "image/png",
    );
    assert!(urls.is_empty(), "nothing fetched");
    assert_eq!(run.response.status, 400);
    assert!(
        run.body_text().contains("not a size"),
        "{}",
        run.body_text()
    );

    let (run, _) = io_run(
        Some("region=us_east&width=10"),
        "http://edge.test/a.png",
        b"<html>".to_vec(),
        "text/html",
    );
    assert_eq!(run.response.status, 400);
    assert!(
        run.body_text().contains("not an image"),
        "{}",
        run.body_text()
    );
}

#[test]
fn the_rust_sdk_sends_through_the_image_optimizer() {
    let wasm = common::sdk_guest("image");
    let mut urls = Vec::new();
    let run = run_with_origin(
        &engine(),
        &wasm,
        config(CONFIG),
        // The query's height applies too; its width loses to the SDK's 100.
        common::get("http://edge.test/?width=10&height=25&v=2"),
        ExecOptions::default(),
        |f: &FetchRequest| {
            urls.push(f.url.clone());
            origin_answer(png(400, 200), "image/png")
        },
    );
    common::assert_returned(&run);
    assert_eq!(urls, ["http://127.0.0.1:9000/img.png?v=2"]);
    assert_eq!(run.response.status, 200, "{}", run.body_text());
    assert_eq!(
        run.response.headers.get("content-type"),
        Some(&b"image/jpeg"[..])
    );
    let img = image::load_from_memory(&run.response.body).unwrap();
    assert_eq!(
        img.dimensions(),
        (50, 25),
        "width 100 and height 25, within bounds"
    );
    assert_eq!(
        run.statuses("fastly_compute_runtime::has_image_optimizer"),
        ["ok"]
    );
}
