//! A guest that spins forever without calling the host: the CPU limit (and a Stop button) must end it.
use std::hint::black_box;

fn main() {
    let mut x: u64 = 1;
    loop {
        x = black_box(
            x.wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407),
        );
    }
}
