//! What the runner's integration tests share: an `edgeplay serve` on a port the OS
//! chose, read from its `Listening on http://…` line, and killed when dropped.

#![allow(dead_code)] // each test binary uses what it needs

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running `edgeplay serve`, killed when dropped.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    /// The line that said where it listens.
    pub listening: String,
    /// Everything the server printed on stdout after the Listening line.
    pub lines: std::sync::mpsc::Receiver<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start `cmd` (an `edgeplay serve … --addr 127.0.0.1:0` command) with stdout piped,
/// and wait for its Listening line.
pub fn spawn_server(mut cmd: Command) -> Server {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    let addr = loop {
        line.clear();
        if reader.read_line(&mut line).unwrap() == 0 {
            panic!("the server exited before listening");
        }
        if let Some(i) = line.find("Listening on http://") {
            break line[i + "Listening on http://".len()..]
                .trim()
                .parse()
                .unwrap();
        }
    };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in reader.lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    Server {
        child,
        addr,
        listening: line,
        lines: rx,
    }
}

/// What a client reads from one `GET path` (Host `edge.test`, `Connection: close`):
/// the whole response as text, or what came before the server closed.
pub fn raw_get(addr: SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: edge.test\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}
