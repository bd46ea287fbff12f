//! The README's ABI coverage table is generated from the code and must not go stale.
//! `EDGEPLAY_BLESS=1 cargo test --test readme` rewrites it.

use edgeplay_host::{abi, Engine, Platform};

const START: &str = "<!-- coverage:start -->\n";
const END: &str = "<!-- coverage:end -->";

#[test]
fn readme_coverage_table_matches_the_code() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let table = abi::coverage_markdown(&Engine::new(Platform::deterministic()).coverage());
    let (before, rest) = readme
        .split_once(START)
        .expect("README has the coverage start marker");
    let (current, after) = rest
        .split_once(END)
        .expect("README has the coverage end marker");
    if current != table {
        if std::env::var_os("EDGEPLAY_BLESS").is_some() {
            std::fs::write(&path, format!("{before}{START}{table}{END}{after}")).unwrap();
            return;
        }
        panic!("the README's coverage table is stale: run `EDGEPLAY_BLESS=1 cargo test --test readme`\nexpected:\n{table}");
    }
}
