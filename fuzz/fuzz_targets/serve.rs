//! `edgeplay serve`'s request handling: the input is the raw bytes a client sends on
//! one connection (HTTP/1.1 requests, pipelined, or an h2c preface), served in memory
//! by the runner's own connection handler (`serve::serve_connection`) over the echo
//! test guest, which reads every part of the request back. The response is read to
//! the end; any panic is a crash.
#![no_main]

use edgeplay_cli::logging::GuestPrinter;
use edgeplay_cli::serve::{serve_connection, ServeCtx};
use edgeplay_host::{Engine, ExecOptions, Platform};
use libfuzzer_sys::fuzz_target;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct World {
    rt: tokio::runtime::Runtime,
    ctx: Arc<ServeCtx>,
}

fn world() -> &'static World {
    static W: OnceLock<World> = OnceLock::new();
    W.get_or_init(|| {
        let engine = Arc::new(Engine::new(Platform::deterministic()));
        let guest = engine
            .load(&edgeplay_fuzz::sdk_guest("echo"))
            .expect("the echo guest loads");
        let opts = ExecOptions {
            cpu_limit_ms: Some(200),
            trace: false,
            ..ExecOptions::default()
        };
        let ctx = ServeCtx::new(
            engine,
            guest,
            edgeplay_fuzz::service_config(),
            opts,
            GuestPrinter::default(),
        );
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        World {
            rt,
            ctx: Arc::new(ctx),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let w = world();
    let local = "127.0.0.1:7676".parse().unwrap();
    let remote = "192.0.2.7:50000".parse().unwrap();
    w.rt.block_on(async {
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let conn = tokio::spawn(serve_connection(server, w.ctx.clone(), local, remote));
        let talk = async {
            let _ = client.write_all(data).await;
            let _ = client.shutdown().await;
            let mut out = Vec::new();
            let _ = client.read_to_end(&mut out).await;
        };
        // A connection the server keeps open after the client is done is not a
        // crash, but it must not hold up the fuzzer.
        let _ = tokio::time::timeout(Duration::from_secs(5), talk).await;
        conn.abort();
    });
});
