//! The machinery every table's parser shares: the error type, key paths, the spans
//! that turn a key path into a line number, and the [`Parser`] that reads values and
//! the files they name.

use std::ops::Range;
use toml::de::{DeTable, DeValue};
use toml::{Spanned, Table, Value};

/// A `fastly.toml` (or a file it names) that could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{file}{}{}: {message}", line_part(.line), key_part(.key))]
pub struct ConfigError {
    /// The file with the problem (the `fastly.toml`, or a JSON file it names).
    pub file: String,
    /// 1-based line number, when known.
    pub line: Option<usize>,
    /// The key path, e.g. `local_server.config_stores.settings.contents`.
    pub key: Option<String>,
    /// What is wrong.
    pub message: String,
}

fn line_part(line: &Option<usize>) -> String {
    line.map(|l| format!(", line {l}")).unwrap_or_default()
}

fn key_part(key: &Option<String>) -> String {
    key.as_ref()
        .map(|k| format!(", key `{k}`"))
        .unwrap_or_default()
}

/// The 1-based line of byte `offset` in `text`.
pub(super) fn line_at(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// The directory part of `path` ("" for a bare file name).
pub(super) fn base_dir(path: &str) -> String {
    match path.rfind(['/', '\\']) {
        Some(0) => "/".to_string(),
        Some(i) => path[..i].to_string(),
        None => String::new(),
    }
}

/// One step of a key path.
#[derive(Clone, Debug)]
pub(super) enum Seg {
    Key(String),
    Index(usize),
}

/// Where a value sits in the document, e.g. `local_server.backends."my.origin".url`.
#[derive(Clone, Debug, Default)]
pub(super) struct KeyPath(pub(super) Vec<Seg>);

impl KeyPath {
    pub(super) fn key(&self, k: &str) -> KeyPath {
        let mut v = self.0.clone();
        v.push(Seg::Key(k.to_string()));
        KeyPath(v)
    }

    pub(super) fn index(&self, i: usize) -> KeyPath {
        let mut v = self.0.clone();
        v.push(Seg::Index(i));
        KeyPath(v)
    }
}

impl std::fmt::Display for KeyPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(k) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    let bare = !k.is_empty()
                        && k.chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                    if bare {
                        f.write_str(k)?;
                    } else {
                        write!(f, "{k:?}")?;
                    }
                }
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// The span of the deepest part of `path` present in the document.
fn find_span(table: &DeTable<'_>, path: &[Seg]) -> Option<Range<usize>> {
    let (first, rest) = path.split_first()?;
    let Seg::Key(k) = first else { return None };
    let (key, val) = table.iter().find(|(key, _)| {
        let name: &str = key.get_ref();
        name == k
    })?;
    let deeper = match val.get_ref() {
        DeValue::Table(t) => find_span(t, rest),
        DeValue::Array(a) => find_in_array(a, rest),
        _ => None,
    };
    Some(
        deeper.unwrap_or_else(|| match (rest.is_empty(), val.get_ref()) {
            (true, DeValue::Table(_) | DeValue::Array(_)) | (false, _) => key.span(),
            (true, _) => val.span(),
        }),
    )
}

fn find_in_array(items: &[Spanned<DeValue<'_>>], path: &[Seg]) -> Option<Range<usize>> {
    let (first, rest) = path.split_first()?;
    let Seg::Index(i) = first else { return None };
    let item = items.get(*i)?;
    let deeper = match item.get_ref() {
        DeValue::Table(t) => find_span(t, rest),
        DeValue::Array(a) => find_in_array(a, rest),
        _ => None,
    };
    Some(deeper.unwrap_or_else(|| item.span()))
}

/// How a TOML value's type reads in an error.
pub(super) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "a string",
        Value::Integer(_) => "an integer",
        Value::Float(_) => "a float",
        Value::Boolean(_) => "a boolean",
        Value::Datetime(_) => "a date-time",
        Value::Array(_) => "an array",
        Value::Table(_) => "a table",
    }
}

/// How a JSON value's type reads in an error.
pub(super) fn json_type_name(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// A TOML scalar as JSON (`None` for arrays, tables, date-times, and NaN/infinite floats).
pub(super) fn scalar_to_json(v: &Value) -> Option<serde_json::Value> {
    Some(match v {
        Value::String(s) => serde_json::Value::String(s.clone()),
        Value::Integer(i) => serde_json::Value::Number((*i).into()),
        Value::Float(f) => serde_json::Value::Number(serde_json::Number::from_f64(*f)?),
        Value::Boolean(b) => serde_json::Value::Bool(*b),
        _ => return None,
    })
}

/// A JSON file a `fastly.toml` names, with its text, so that errors about its
/// values can give their line.
pub(super) struct JsonFile {
    /// The path it was read from (resolved against the `fastly.toml`'s directory).
    pub(super) path: String,
    text: String,
}

impl JsonFile {
    /// An error about the value at `key` (a path inside the file, e.g.
    /// `entries[2].prefix`; empty for the whole file), on the line where that value
    /// starts.
    pub(super) fn err(&self, key: &KeyPath, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.path.clone(),
            line: Some(json_line(&self.text, key)),
            key: (!key.0.is_empty()).then(|| key.to_string()),
            message: message.into(),
        }
    }
}

/// The 1-based line where the value at `path` starts in the JSON `text` (of the
/// deepest part of the path present; line 1 when nothing matches).
pub(super) fn json_line(text: &str, path: &KeyPath) -> usize {
    let mut cursor = JsonCursor {
        text,
        bytes: text.as_bytes(),
        at: 0,
    };
    cursor.space();
    line_at(text, cursor.find(&path.0))
}

/// Just enough of a JSON reader to walk a key path through a document (already known
/// to be valid JSON) and say where each value starts; serde_json keeps no positions.
struct JsonCursor<'a> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
}

impl JsonCursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    /// Skip the string under the cursor and return it, unescaped.
    fn string(&mut self) -> Option<String> {
        let start = self.at;
        if self.peek()? != b'"' {
            return None;
        }
        self.at += 1;
        loop {
            match self.peek()? {
                b'\\' => self.at += 2,
                b'"' => {
                    self.at += 1;
                    return serde_json::from_str(self.text.get(start..self.at)?).ok();
                }
                _ => self.at += 1,
            }
        }
    }

    fn skip_value(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => {
                self.string()?;
            }
            b'{' | b'[' => {
                let mut depth = 0usize;
                loop {
                    match self.peek()? {
                        b'"' => {
                            self.string()?;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                self.at += 1;
                                return Some(());
                            }
                        }
                        _ => {}
                    }
                    self.at += 1;
                }
            }
            _ => {
                while !matches!(
                    self.peek(),
                    None | Some(b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
                ) {
                    self.at += 1;
                }
            }
        }
        Some(())
    }

    /// The offset of the value at `path`, from the value under the cursor.
    fn find(&mut self, path: &[Seg]) -> usize {
        let here = self.at;
        let Some((first, rest)) = path.split_first() else {
            return here;
        };
        let found = match (first, self.peek()) {
            (Seg::Key(k), Some(b'{')) => self.member(k),
            (Seg::Index(n), Some(b'[')) => self.element(*n),
            _ => None,
        };
        match found {
            Some(()) => self.find(rest),
            None => here,
        }
    }

    /// Move from `{` to the value of member `key`.
    fn member(&mut self, key: &str) -> Option<()> {
        self.at += 1;
        loop {
            self.space();
            let name = self.string()?;
            self.space();
            if self.peek()? != b':' {
                return None;
            }
            self.at += 1;
            self.space();
            if name == key {
                return Some(());
            }
            self.skip_value()?;
            self.space();
            if self.peek()? != b',' {
                return None;
            }
            self.at += 1;
        }
    }

    /// Move from `[` to element `n`.
    fn element(&mut self, n: usize) -> Option<()> {
        self.at += 1;
        for _ in 0..n {
            self.space();
            self.skip_value()?;
            self.space();
            if self.peek()? != b',' {
                return None;
            }
            self.at += 1;
        }
        self.space();
        (self.peek()? != b']').then_some(())
    }
}

/// Reads one `fastly.toml`: its values, with errors that name the file, key and line,
/// and the files it names, through the caller's reader. Each table's parser is an
/// `impl Parser` block in its own module.
pub(super) struct Parser<'a> {
    pub(super) file: &'a str,
    pub(super) text: &'a str,
    pub(super) base_dir: String,
    pub(super) spans: Option<Spanned<DeTable<'a>>>,
    pub(super) read_file: &'a dyn Fn(&str) -> Result<String, String>,
    pub(super) read_env: &'a dyn Fn(&str) -> Option<String>,
}

pub(super) type R<T> = Result<T, ConfigError>;

impl Parser<'_> {
    pub(super) fn err(&self, path: &KeyPath, message: impl Into<String>) -> ConfigError {
        let line = self
            .spans
            .as_ref()
            .and_then(|t| find_span(t.get_ref(), &path.0))
            .map(|s| line_at(self.text, s.start));
        ConfigError {
            file: self.file.to_string(),
            line,
            key: Some(path.to_string()),
            message: message.into(),
        }
    }

    pub(super) fn expected(&self, path: &KeyPath, what: &str, found: &Value) -> ConfigError {
        self.err(path, format!("expected {what}, found {}", type_name(found)))
    }

    pub(super) fn table(&self, path: &KeyPath, v: Value, what: &str) -> R<Table> {
        match v {
            Value::Table(t) => Ok(t),
            other => Err(self.expected(path, what, &other)),
        }
    }

    pub(super) fn string(&self, path: &KeyPath, v: Value) -> R<String> {
        match v {
            Value::String(s) => Ok(s),
            other => Err(self.expected(path, "a string", &other)),
        }
    }

    pub(super) fn no_other_keys(&self, path: &KeyPath, t: &Table) -> R<()> {
        match t.keys().next() {
            Some(k) => Err(self.err(&path.key(k), format!("unknown key `{k}`"))),
            None => Ok(()),
        }
    }

    /// Resolve a `file` reference against the fastly.toml's directory.
    pub(super) fn resolve(&self, file: &str) -> String {
        let absolute = file.starts_with('/')
            || file.starts_with('\\')
            || matches!(file.get(1..3), Some(":\\") | Some(":/"));
        if absolute || self.base_dir.is_empty() {
            file.to_string()
        } else if self.base_dir.ends_with('/') {
            format!("{}{file}", self.base_dir)
        } else {
            format!("{}/{file}", self.base_dir)
        }
    }

    /// Take the `file` key of `t`, read the file, and parse it as a JSON object.
    pub(super) fn json_object_file(
        &self,
        path: &KeyPath,
        t: &mut Table,
    ) -> R<(String, serde_json::Map<String, serde_json::Value>)> {
        let (file, map) = self.json_object_file_spanned(path, t)?;
        Ok((file.path, map))
    }

    /// [`Parser::json_object_file`], keeping the file's text for the line numbers of
    /// later errors ([`JsonFile::err`]).
    pub(super) fn json_object_file_spanned(
        &self,
        path: &KeyPath,
        t: &mut Table,
    ) -> R<(JsonFile, serde_json::Map<String, serde_json::Value>)> {
        let fpath = path.key("file");
        let file = match t.remove("file") {
            None => {
                return Err(self.err(path, "`format = \"json\"` needs a `file` key"));
            }
            Some(v) => self.string(&fpath, v)?,
        };
        self.read_json_object(&fpath, &file)
    }

    /// Read `file` (named by the value at `fpath`) and parse it as a JSON object.
    pub(super) fn read_json_object(
        &self,
        fpath: &KeyPath,
        file: &str,
    ) -> R<(JsonFile, serde_json::Map<String, serde_json::Value>)> {
        if file.is_empty() {
            return Err(self.err(fpath, "the file name is empty"));
        }
        let resolved = self.resolve(file);
        let text = (self.read_file)(&resolved)
            .map_err(|e| self.err(fpath, format!("cannot read {resolved}: {e}")))?;
        let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| ConfigError {
            file: resolved.clone(),
            line: Some(e.line()),
            key: None,
            message: format!("invalid JSON (named by `{fpath}` in {}): {e}", self.file),
        })?;
        match json {
            serde_json::Value::Object(map) => Ok((
                JsonFile {
                    path: resolved,
                    text,
                },
                map,
            )),
            other => Err(ConfigError {
                file: resolved,
                line: None,
                key: None,
                message: format!(
                    "expected a JSON object (named by `{fpath}` in {}), found {}",
                    self.file,
                    json_type_name(&other)
                ),
            }),
        }
    }

    /// Read the file named by the string at `fpath` (a `file` reference) as bytes.
    pub(super) fn read_bytes(&self, fpath: &KeyPath, file: &str) -> R<Vec<u8>> {
        if file.is_empty() {
            return Err(self.err(fpath, "the file name is empty"));
        }
        let resolved = self.resolve(file);
        (self.read_file)(&resolved)
            .map(String::into_bytes)
            .map_err(|e| self.err(fpath, format!("cannot read {resolved}: {e}")))
    }

    /// `format`: `Some("inline-toml" | "json")`, or `None` when absent.
    pub(super) fn format(&self, path: &KeyPath, t: &mut Table) -> R<Option<String>> {
        let fpath = path.key("format");
        match t.remove("format") {
            None => Ok(None),
            Some(v) => {
                let f = self.string(&fpath, v)?;
                match f.as_str() {
                    "inline-toml" | "json" => Ok(Some(f)),
                    "" => Err(self.err(
                        &fpath,
                        "the format is empty: use \"inline-toml\" or \"json\"",
                    )),
                    other => Err(self.err(
                        &fpath,
                        format!("unknown format {other:?}: use \"inline-toml\" or \"json\""),
                    )),
                }
            }
        }
    }

    /// `format`, or when it is absent the format the table's keys imply: `inline_key`
    /// means inline-toml, `file` json. Viceroy needs `format`; a table with those keys
    /// and no format is read as the format they imply instead of being ignored.
    pub(super) fn format_or_implied(
        &self,
        path: &KeyPath,
        t: &mut Table,
        inline_key: &str,
    ) -> R<Option<String>> {
        Ok(match self.format(path, t)? {
            Some(f) => Some(f),
            None if t.contains_key(inline_key) => Some("inline-toml".to_string()),
            None if t.contains_key("file") => Some("json".to_string()),
            None => None,
        })
    }

    /// Take the `key` table of `t` that `format = "inline-toml"` needs (`needs` names it
    /// in the error when it is missing, `what` when it is not a table), with its path.
    pub(super) fn inline_table(
        &self,
        path: &KeyPath,
        t: &mut Table,
        key: &str,
        needs: &str,
        what: &str,
    ) -> R<(KeyPath, Table)> {
        let kp = path.key(key);
        match t.remove(key) {
            None => Err(self.err(
                path,
                format!("`format = \"inline-toml\"` needs {needs} table"),
            )),
            Some(v) => {
                let table = self.table(&kp, v, what)?;
                Ok((kp, table))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_paths_quote_what_is_not_bare() {
        let p = KeyPath::default()
            .key("local_server")
            .key("backends")
            .key("my.origin")
            .key("url");
        assert_eq!(p.to_string(), "local_server.backends.\"my.origin\".url");
        let p = KeyPath::default().key("s").index(3).key("key");
        assert_eq!(p.to_string(), "s[3].key");
        assert_eq!(KeyPath::default().key("").to_string(), "\"\"");
    }

    #[test]
    fn lines_and_directories() {
        assert_eq!(line_at("a\nb\nc", 0), 1);
        assert_eq!(line_at("a\nb\nc", 2), 2);
        assert_eq!(line_at("a\nb\nc", 99), 3);
        assert_eq!(base_dir("proj/fastly.toml"), "proj");
        assert_eq!(base_dir("/fastly.toml"), "/");
        assert_eq!(base_dir("fastly.toml"), "");
        assert_eq!(base_dir("C:\\p\\fastly.toml"), "C:\\p");
    }

    #[test]
    fn json_values_are_found_by_key_path() {
        let text = "{\n  \"a\": \"x\",\n  \"b\\\"q\": {\"c\": [1,\n {\"d\": \"}\"},\n  {\"e\": true}]},\n  \"f\": 2\n}";
        let line = |p: KeyPath| json_line(text, &p);
        let top = KeyPath::default();
        assert_eq!(line(top.clone()), 1);
        assert_eq!(line(top.key("a")), 2);
        assert_eq!(line(top.key("b\"q")), 3);
        assert_eq!(line(top.key("b\"q").key("c").index(0)), 3);
        assert_eq!(line(top.key("b\"q").key("c").index(1).key("d")), 4);
        assert_eq!(line(top.key("b\"q").key("c").index(2).key("e")), 5);
        assert_eq!(line(top.key("f")), 6);
        // The deepest part present: a missing key or index stops at its parent.
        assert_eq!(line(top.key("b\"q").key("c").index(9)), 3);
        assert_eq!(line(top.key("f").key("g")), 6);
        assert_eq!(line(top.key("nope")), 1);
    }

    #[test]
    fn errors_show_file_line_and_key() {
        let e = ConfigError {
            file: "f.toml".into(),
            line: Some(3),
            key: Some("a.b".into()),
            message: "bad".into(),
        };
        assert_eq!(e.to_string(), "f.toml, line 3, key `a.b`: bad");
        let e = ConfigError {
            file: "f.json".into(),
            line: None,
            key: None,
            message: "bad".into(),
        };
        assert_eq!(e.to_string(), "f.json: bad");
    }
}
