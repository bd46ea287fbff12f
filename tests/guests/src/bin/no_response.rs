//! A plain `main` that never sends a response: what does the host answer the client?
fn main() {
    println!("no response sent");
}
