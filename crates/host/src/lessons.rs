//! Lessons: a short text and a fiddle per step, shown beside the playground with
//! *next* / *previous*, for a workshop that walks a room through what a Compute
//! program asks of the platform.
//!
//! The lessons are text written for this project, kept as data: one TOML file per
//! lesson in `crates/host/lessons/`, compiled in with `include_str!` and parsed once.
//! A file looks like this:
//!
//! ```toml
//! title = "The life of a request"
//! summary = "One line that says what the lesson is about."
//!
//! [[step]]
//! title = "A request in, a response out"
//! example = "hello"              # an example guest (the examples menu's name)
//! fastly_toml = ""               # optional: the step's fastly.toml
//! step_mode = false              # optional: pause before each hostcall
//! text = """
//! Paragraphs separated by a blank line; `code` in backticks.
//! """
//!
//! [[step.request]]               # the requests, in order (a fiddle's requests)
//! path = "/"
//! assertions = "clientFetch.status is 200"
//! ```
//!
//! Each step is a whole [`Fiddle`] ([`LessonStep::fiddle`]): the tab opens it like a
//! link, and the tests run every step's requests and assertions through
//! `edgeplay test`, so a lesson that says a thing happens is checked to happen.

use crate::fiddle::model::example_file;
use crate::fiddle::{parse_assertions, Fiddle, FiddleRequest, GuestSource, FIDDLE_VERSION};
use serde::Deserialize;
use std::sync::OnceLock;

/// `(id, TOML text)` for each lesson file of `crates/host/lessons/`, in the order
/// the lessons menu offers them.
macro_rules! lesson_files {
    ($($id:literal),* $(,)?) => {
        &[$(($id, include_str!(concat!("../lessons/", $id, ".toml")))),*]
    };
}

/// The lesson files, `(id, TOML text)`, in menu order.
pub const SOURCES: &[(&str, &str)] =
    lesson_files!["life-of-a-request", "backends-and-concurrency", "caching"];

/// One lesson.
#[derive(Clone, Debug, PartialEq)]
pub struct Lesson {
    /// Its id (the file's name: `life-of-a-request`).
    pub id: String,
    /// Its title.
    pub title: String,
    /// What it is about, in one line.
    pub summary: String,
    /// Its steps, in order (at least one).
    pub steps: Vec<LessonStep>,
}

/// One step of a lesson.
#[derive(Clone, Debug, PartialEq)]
pub struct LessonStep {
    /// Its title.
    pub title: String,
    /// The text: paragraphs, `code` in backticks ([`paragraphs`]).
    pub text: String,
    /// True when the step pauses the guest before each hostcall (Step mode).
    pub step_mode: bool,
    /// What the step runs: an example guest, its `fastly.toml` and requests.
    pub fiddle: Fiddle,
}

/// What is wrong with a lesson file.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("lesson {id}: {message}")]
pub struct LessonError {
    /// The lesson's id.
    pub id: String,
    /// What is wrong.
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LessonFile {
    title: String,
    summary: String,
    #[serde(default)]
    step: Vec<StepFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StepFile {
    title: String,
    text: String,
    example: String,
    #[serde(default)]
    fastly_toml: String,
    #[serde(default)]
    step_mode: bool,
    #[serde(default)]
    request: Vec<FiddleRequest>,
}

/// Parse one lesson file: every step names an example this playground has, has at
/// least one request, and its assertions parse.
pub fn parse(id: &str, text: &str) -> Result<Lesson, LessonError> {
    let err = |message: String| LessonError {
        id: id.to_string(),
        message,
    };
    let file: LessonFile = toml::from_str(text).map_err(|e| err(e.to_string()))?;
    if file.step.is_empty() {
        return Err(err("it has no step".into()));
    }
    let mut steps = Vec::with_capacity(file.step.len());
    for (i, s) in file.step.into_iter().enumerate() {
        let n = i + 1;
        if example_file(&s.example).is_none() {
            return Err(err(format!(
                "step {n} names the example {:?}, which the playground does not have",
                s.example
            )));
        }
        if s.request.is_empty() {
            return Err(err(format!("step {n} has no request")));
        }
        for (j, r) in s.request.iter().enumerate() {
            parse_assertions(&r.assertions)
                .map_err(|e| err(format!("step {n}, request {}: assertions {e}", j + 1)))?;
        }
        steps.push(LessonStep {
            fiddle: Fiddle {
                version: FIDDLE_VERSION,
                title: format!("{} · {}", file.title, s.title),
                guest: GuestSource::Example { name: s.example },
                fastly_toml: s.fastly_toml,
                requests: s.request,
                recordings: Vec::new(),
            },
            title: s.title,
            text: s.text.trim().to_string(),
            step_mode: s.step_mode,
        });
    }
    Ok(Lesson {
        id: id.to_string(),
        title: file.title,
        summary: file.summary,
        steps,
    })
}

/// Every lesson, parsed once, in menu order; the first bad file's error otherwise
/// (the tests keep the shipped files good).
pub fn all() -> Result<&'static [Lesson], &'static LessonError> {
    static ALL: OnceLock<Result<Vec<Lesson>, LessonError>> = OnceLock::new();
    ALL.get_or_init(|| SOURCES.iter().map(|(id, text)| parse(id, text)).collect())
        .as_ref()
        .map(Vec::as_slice)
}

/// The lesson `id`.
pub fn find(id: &str) -> Option<&'static Lesson> {
    all().ok()?.iter().find(|l| l.id == id)
}

/// A piece of a paragraph: plain text, or `code` (written in backticks).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Inline {
    /// Plain text.
    Text(String),
    /// Code, without its backticks.
    Code(String),
}

/// A step's text as paragraphs (split at blank lines, lines within one joined by a
/// space), each as text and code pieces. An unclosed backtick is kept as text.
pub fn paragraphs(text: &str) -> Vec<Vec<Inline>> {
    let mut out = Vec::new();
    let mut para: Vec<&str> = Vec::new();
    let mut flush = |para: &mut Vec<&str>| {
        if !para.is_empty() {
            out.push(inlines(&para.join(" ")));
            para.clear();
        }
    };
    for line in text.lines() {
        if line.trim().is_empty() {
            flush(&mut para);
        } else {
            para.push(line.trim());
        }
    }
    flush(&mut para);
    out
}

fn inlines(p: &str) -> Vec<Inline> {
    let mut out = Vec::new();
    let mut rest = p;
    while let Some(start) = rest.find('`') {
        let Some(len) = rest[start + 1..].find('`') else {
            break;
        };
        if start > 0 {
            out.push(Inline::Text(rest[..start].to_string()));
        }
        out.push(Inline::Code(rest[start + 1..start + 1 + len].to_string()));
        rest = &rest[start + len + 2..];
    }
    if !rest.is_empty() {
        out.push(Inline::Text(rest.to_string()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_lesson_parses_with_steps_on_examples() {
        let all = all().expect("the shipped lessons parse");
        assert_eq!(all.len(), 3);
        for l in all {
            assert!(!l.title.is_empty() && !l.summary.is_empty(), "{}", l.id);
            assert!(l.steps.len() >= 3, "{} has {} steps", l.id, l.steps.len());
            for s in &l.steps {
                assert!(s.text.len() > 80, "{}: {} has little text", l.id, s.title);
                assert!(matches!(s.fiddle.guest, GuestSource::Example { .. }));
                // Each step checks what its text says.
                assert!(
                    s.fiddle.requests.iter().any(|r| !r.assertions.is_empty()),
                    "{}: {} asserts nothing",
                    l.id,
                    s.title
                );
            }
        }
        assert_eq!(find("caching").map(|l| l.title.as_str()), Some("Caching"));
        assert!(find("nope").is_none());
    }

    #[test]
    fn a_bad_lesson_says_what_is_wrong() {
        let no_step = parse("x", "title = \"t\"\nsummary = \"s\"\n").unwrap_err();
        assert_eq!(no_step.to_string(), "lesson x: it has no step");
        let step = |example: &str, req: &str| {
            format!(
                "title = \"t\"\nsummary = \"s\"\n[[step]]\ntitle = \"a\"\ntext = \"b\"\nexample = \"{example}\"\n{req}"
            )
        };
        let e = parse("x", &step("nope", "[[step.request]]\n")).unwrap_err();
        assert!(e.message.contains("example \"nope\""), "{e}");
        let e = parse("x", &step("hello", "")).unwrap_err();
        assert!(e.message.contains("step 1 has no request"), "{e}");
        let e = parse(
            "x",
            &step(
                "hello",
                "[[step.request]]\nassertions = \"clientFetch.status == 2\"\n",
            ),
        )
        .unwrap_err();
        assert!(
            e.message.contains("step 1, request 1: assertions line 1"),
            "{e}"
        );
        let e = parse("x", &step("hello", "[[step.request]]\nverb = \"GET\"\n"));
        assert!(e.is_ok(), "request fields follow the fiddle format");
        let e = parse("x", "title = 1").unwrap_err();
        assert!(e.message.contains("invalid type"), "{e}");
    }

    #[test]
    fn text_becomes_paragraphs_with_code() {
        let p = paragraphs("The guest calls\n`send_downstream`.\n\n  Then `x` and `y\n");
        assert_eq!(
            p,
            vec![
                vec![
                    Inline::Text("The guest calls ".into()),
                    Inline::Code("send_downstream".into()),
                    Inline::Text(".".into()),
                ],
                vec![
                    Inline::Text("Then ".into()),
                    Inline::Code("x".into()),
                    Inline::Text(" and `y".into()),
                ],
            ]
        );
        assert!(paragraphs("\n\n").is_empty());
    }
}
