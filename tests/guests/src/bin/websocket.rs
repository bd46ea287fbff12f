//! Hands the client's WebSocket request to the backend `origin`
//! (`Request::handoff_websocket`): the platform relays the upgraded connection; the
//! guest sends no response.
use fastly::Request;

fn main() {
    let req = Request::from_client();
    if let Err(e) = req.handoff_websocket("origin") {
        eprintln!("handoff failed: {e}");
        std::process::exit(1);
    }
}
