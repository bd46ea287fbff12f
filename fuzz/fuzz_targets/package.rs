//! The Fastly CLI package reader (`pkg/NAME.tar.gz`). The first byte picks what the
//! rest is: odd, the package's bytes as they are (gzip layer); even, a tar that is
//! gzip'd here first (so mutations reach the tar layer).
#![no_main]

use edgeplay_host::fiddle::read_package;
use libfuzzer_sys::fuzz_target;
use std::io::Write;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let bytes = if mode % 2 == 1 {
        rest.to_vec()
    } else {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(rest).expect("writing to a Vec");
        gz.finish().expect("gzip to a Vec")
    };
    match read_package(&bytes) {
        Ok(p) => {
            let _ = p.to_fiddle();
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
