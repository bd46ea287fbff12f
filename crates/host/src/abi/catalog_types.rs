//! Types of the import catalog.

/// A core wasm value type of an import's signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValTy {
    /// `i32`
    I32,
    /// `i64`
    I64,
}

impl ValTy {
    /// The wasmi value type.
    pub fn wasmi(self) -> wasmi::ValType {
        match self {
            ValTy::I32 => wasmi::ValType::I32,
            ValTy::I64 => wasmi::ValType::I64,
        }
    }
}

/// One import a guest may have: one row of the ABI data (`hostcalls.tsv`), every column.
#[derive(Clone, Copy, Debug)]
pub struct Import {
    /// Import module (`fastly_http_req`, `env`, `wasi_snapshot_preview1`).
    pub module: &'static str,
    /// Function name.
    pub name: &'static str,
    /// Parameter types.
    pub params: &'static [ValTy],
    /// Result types.
    pub results: &'static [ValTy],
    /// ABI group (`http_req`, `legacy_xqd`, `wasi`, ...).
    pub group: &'static str,
    /// Declared by `fastly-sys`: `yes`, `yes_deprecated` or `no`.
    pub in_fastly_sys: &'static str,
    /// In Viceroy's witx files: `yes` or `no`.
    pub in_witx: &'static str,
    /// What Viceroy does with it: `implemented`, `stub` or `absent`.
    pub viceroy: &'static str,
    /// What Fastlike does with it: `implemented`, `stub` or `absent`.
    pub fastlike: &'static str,
    /// Imported by the JS SDK's runtime: `yes` or `no`.
    pub js_sdk_imports: &'static str,
    /// What it does, in one line.
    pub summary: &'static str,
}
