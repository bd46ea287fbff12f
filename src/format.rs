//! Presentation helpers the UI uses, kept out of the view code (and testable natively):
//! how to show a body, sizes and durations, log lines, import groups.

use edgeplay_host::engine::ImportInfo;
use serde::{Deserialize, Serialize};

/// How the response panel shows a body.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BodyView {
    /// UTF-8 text (lossy).
    Text,
    /// Pretty-printed JSON (falls back to text when it does not parse).
    Json,
    /// A hex dump.
    Hex,
    /// An `<img>` of the bytes.
    Image,
    /// HTML rendered in a sandboxed iframe (no scripts, no same-origin).
    Html,
}

impl BodyView {
    /// Every view, in the switcher's order.
    pub const ALL: [BodyView; 5] = [
        BodyView::Text,
        BodyView::Json,
        BodyView::Hex,
        BodyView::Image,
        BodyView::Html,
    ];

    /// The switcher's label.
    pub fn label(self) -> &'static str {
        match self {
            BodyView::Text => "Text",
            BodyView::Json => "JSON",
            BodyView::Hex => "Hex",
            BodyView::Image => "Image",
            BodyView::Html => "HTML (rendered)",
        }
    }

    /// The view that suits a body: by content type, else by sniffing the bytes.
    pub fn for_body(content_type: Option<&str>, body: &[u8]) -> BodyView {
        let ct = content_type.unwrap_or("").to_ascii_lowercase();
        if ct.starts_with("image/") {
            return BodyView::Image;
        }
        if ct.contains("json") {
            return BodyView::Json;
        }
        if ct.starts_with("text/") || ct.contains("xml") || ct.contains("javascript") {
            return BodyView::Text;
        }
        if std::str::from_utf8(body).is_err() {
            return BodyView::Hex;
        }
        let t = String::from_utf8_lossy(body);
        let t = t.trim_start();
        if (t.starts_with('{') || t.starts_with('['))
            && serde_json::from_str::<serde_json::Value>(t).is_ok()
        {
            return BodyView::Json;
        }
        BodyView::Text
    }
}

/// Pretty JSON, or `None` when the bytes are not JSON.
pub fn pretty_json(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    serde_json::to_string_pretty(&v).ok()
}

/// A classic hex dump: offset, 16 bytes in hex, ASCII. At most `max` bytes.
pub fn hex_dump(body: &[u8], max: usize) -> String {
    let mut out = String::new();
    for (i, row) in body[..body.len().min(max)].chunks(16).enumerate() {
        out.push_str(&format!("{:08x}  ", i * 16));
        for j in 0..16 {
            match row.get(j) {
                Some(b) => out.push_str(&format!("{b:02x} ")),
                None => out.push_str("   "),
            }
            if j == 7 {
                out.push(' ');
            }
        }
        out.push(' ');
        for b in row {
            out.push(if b.is_ascii_graphic() || *b == b' ' {
                *b as char
            } else {
                '.'
            });
        }
        out.push('\n');
    }
    if body.len() > max {
        out.push_str(&format!("… {} more bytes\n", body.len() - max));
    }
    out
}

/// `1.2 KiB`, `11.0 MiB`.
pub fn size(bytes: usize) -> String {
    if bytes < 1024 {
        format!("{bytes} B")
    } else if bytes < 1024 * 1024 {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    } else {
        format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
    }
}

/// `0.42 ms`, `12.3 ms`, `1.52 s`.
pub fn millis(ms: f64) -> String {
    if ms < 10.0 {
        format!("{ms:.2} ms")
    } else if ms < 1000.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{:.2} s", ms / 1000.0)
    }
}

/// Imports grouped by module, in first-appearance order, with counts per support level.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportGroup {
    /// The import module.
    pub module: String,
    /// Its imports (name, support).
    pub names: Vec<(String, String)>,
    /// How many are emulated.
    pub emulated: usize,
    /// How many link but answer UNSUPPORTED.
    pub unsupported: usize,
    /// How many the host does not know.
    pub unknown: usize,
}

/// Group imports by module.
pub fn group_imports(imports: &[ImportInfo]) -> Vec<ImportGroup> {
    let mut groups: Vec<ImportGroup> = Vec::new();
    for i in imports {
        let idx = match groups.iter().position(|g| g.module == i.module) {
            Some(idx) => idx,
            None => {
                groups.push(ImportGroup {
                    module: i.module.clone(),
                    names: Vec::new(),
                    emulated: 0,
                    unsupported: 0,
                    unknown: 0,
                });
                groups.len() - 1
            }
        };
        let g = &mut groups[idx];
        match i.support.as_str() {
            "emulated" => g.emulated += 1,
            "unsupported" => g.unsupported += 1,
            _ => g.unknown += 1,
        }
        g.names.push((i.name.clone(), i.support.clone()));
    }
    groups
}

/// Splits a byte stream (stdout, stderr) into lines as bytes arrive.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LineSplitter {
    partial: Vec<u8>,
}

impl LineSplitter {
    /// Feed bytes; returns the lines completed by them (without the newline).
    pub fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        let mut lines = Vec::new();
        for &b in bytes {
            if b == b'\n' {
                let mut line = std::mem::take(&mut self.partial);
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                lines.push(String::from_utf8_lossy(&line).into_owned());
            } else {
                self.partial.push(b);
            }
        }
        lines
    }

    /// The unterminated rest, if any (at the end of a run).
    pub fn finish(&mut self) -> Option<String> {
        if self.partial.is_empty() {
            None
        } else {
            Some(String::from_utf8_lossy(&std::mem::take(&mut self.partial)).into_owned())
        }
    }
}

/// The trace filter's group of a module: `fastly_http_req` → `http_req`,
/// `wasi_snapshot_preview1` → `wasi`, `env` (legacy `xqd_*`) → `legacy_xqd`.
pub fn trace_group(module: &str) -> String {
    if module.starts_with("wasi") {
        "wasi".into()
    } else if module == "env" {
        "legacy_xqd".into()
    } else {
        module.strip_prefix("fastly_").unwrap_or(module).to_string()
    }
}

/// The 1-based line `line` of `text` as (start, end) byte offsets, for selecting it.
pub fn line_span(text: &str, line: usize) -> Option<(usize, usize)> {
    let mut start = 0;
    for (i, l) in text.split('\n').enumerate() {
        if i + 1 == line {
            return Some((start, start + l.len()));
        }
        start += l.len() + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_views_follow_content_type_then_bytes() {
        assert_eq!(
            BodyView::for_body(Some("image/png"), b"\x89PNG"),
            BodyView::Image
        );
        assert_eq!(
            BodyView::for_body(Some("application/json"), b"{}"),
            BodyView::Json
        );
        assert_eq!(
            BodyView::for_body(Some("text/html"), b"<p>"),
            BodyView::Text
        );
        assert_eq!(BodyView::for_body(None, b"[1,2]"), BodyView::Json);
        assert_eq!(BodyView::for_body(None, b"\xff\xfe"), BodyView::Hex);
        assert_eq!(BodyView::for_body(None, b"plain"), BodyView::Text);
    }

    #[test]
    fn hex_dump_has_offsets_and_ascii() {
        let d = hex_dump(b"Hello, world!\x00\x01\x02xyz", 1024);
        assert!(d.starts_with("00000000  48 65 6c 6c"));
        assert!(d.contains("Hello, world!..."));
        assert!(d.lines().nth(1).unwrap().starts_with("00000010"));
        assert!(hex_dump(&[0; 40], 16).contains("24 more bytes"));
    }

    #[test]
    fn lines_are_split_across_chunks() {
        let mut s = LineSplitter::default();
        assert_eq!(s.push(b"ab"), Vec::<String>::new());
        assert_eq!(s.push(b"c\r\nd\n"), vec!["abc", "d"]);
        assert_eq!(s.push(b"tail"), Vec::<String>::new());
        assert_eq!(s.finish().as_deref(), Some("tail"));
        assert_eq!(s.finish(), None);
    }

    #[test]
    fn groups_and_spans() {
        assert_eq!(trace_group("fastly_http_req"), "http_req");
        assert_eq!(trace_group("wasi_snapshot_preview1"), "wasi");
        assert_eq!(trace_group("env"), "legacy_xqd");
        assert_eq!(line_span("a\nbc\nd", 2), Some((2, 4)));
        assert_eq!(line_span("a", 3), None);
        let t = "ab\ncde\n\nf";
        assert_eq!(line_span(t, 1), Some((0, 2)));
        assert_eq!(line_span(t, 2), Some((3, 6)));
        assert_eq!(line_span(t, 3), Some((7, 7)));
        assert_eq!(line_span(t, 4), Some((8, 9)));
        assert_eq!(line_span(t, 5), None);
        assert_eq!(line_span(t, 0), None);
        let imports = vec![
            ImportInfo {
                module: "m".into(),
                name: "a".into(),
                support: "emulated".into(),
            },
            ImportInfo {
                module: "n".into(),
                name: "b".into(),
                support: "unknown".into(),
            },
            ImportInfo {
                module: "m".into(),
                name: "c".into(),
                support: "unsupported".into(),
            },
        ];
        let g = group_imports(&imports);
        assert_eq!(g.len(), 2);
        assert_eq!((g[0].emulated, g[0].unsupported, g[0].unknown), (1, 1, 0));
        assert_eq!(g[1].unknown, 1);
        assert_eq!(size(2048), "2.0 KiB");
        assert_eq!(millis(1500.0), "1.50 s");
    }
}
