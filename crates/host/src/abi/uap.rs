//! `fastly_uap.parse`: a small user-agent parser (Viceroy stubs this call).
//!
//! It knows the common browsers, crawlers and HTTP tools and answers with
//! uap-core's family names (`Chrome`, `Chrome Mobile`, `Mobile Safari`,
//! `Firefox`, `Edge`, `Googlebot`, `curl`, ...) and up to three version numbers;
//! anything else is family `Other` with empty versions. Each of the four outputs
//! follows the buffer rule: if any does not fit its buffer, nothing is written but
//! every `nwritten_out` gets its output's length, and the call answers BUFLEN.

use super::{Cx, HostResult, Registry};
use crate::status::Status;
use crate::trace::ArgValue;

/// A parsed user agent: family and version numbers (empty when unknown).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserAgent {
    /// Browser or client family, e.g. `Chrome`; `Other` when unknown.
    pub family: String,
    /// Major version.
    pub major: String,
    /// Minor version.
    pub minor: String,
    /// Patch version.
    pub patch: String,
}

/// Crawlers and HTTP tools: a token in the user agent, the family, and the version marker.
const CLIENTS: &[(&str, &str, &str)] = &[
    ("Googlebot", "Googlebot", "Googlebot/"),
    ("bingbot", "bingbot", "bingbot/"),
    ("DuckDuckBot", "DuckDuckBot", "DuckDuckBot/"),
    ("YandexBot", "YandexBot", "YandexBot/"),
    ("Baiduspider", "Baiduspider", "Baiduspider/"),
    ("Applebot", "Applebot", "Applebot/"),
    ("facebookexternalhit", "FacebookBot", "facebookexternalhit/"),
    ("Twitterbot", "Twitterbot", "Twitterbot/"),
    ("LinkedInBot", "LinkedInBot", "LinkedInBot/"),
    ("Slackbot", "Slackbot", "Slackbot "),
    ("AhrefsBot", "AhrefsBot", "AhrefsBot/"),
    ("GPTBot", "GPTBot", "GPTBot/"),
    ("curl/", "curl", "curl/"),
    ("Wget/", "Wget", "Wget/"),
    ("python-requests/", "Python Requests", "python-requests/"),
    ("Go-http-client/", "Go-http-client", "Go-http-client/"),
    ("PostmanRuntime/", "PostmanRuntime", "PostmanRuntime/"),
];

/// The version text right after `marker`: digits and dots.
fn version_after<'a>(ua: &'a str, marker: &str) -> Option<&'a str> {
    let start = ua.find(marker)? + marker.len();
    let rest = &ua[start..];
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    Some(&rest[..end])
}

fn with_version(family: &str, version: Option<&str>) -> UserAgent {
    let mut parts = version
        .unwrap_or("")
        .split('.')
        .filter(|p| !p.is_empty())
        .map(str::to_string);
    UserAgent {
        family: family.to_string(),
        major: parts.next().unwrap_or_default(),
        minor: parts.next().unwrap_or_default(),
        patch: parts.next().unwrap_or_default(),
    }
}

/// Parse a user agent.
pub fn parse(ua: &str) -> UserAgent {
    for (token, family, marker) in CLIENTS {
        if ua.contains(token) {
            return with_version(family, version_after(ua, marker));
        }
    }
    let has = |s: &str| ua.contains(s);
    let mobile = has("Mobile");
    let android = has("Android");
    let browser = |family: &str, marker: &str| with_version(family, version_after(ua, marker));
    if has("EdgA/") {
        return browser("Edge Mobile", "EdgA/");
    }
    if has("EdgiOS/") {
        return browser("Edge Mobile", "EdgiOS/");
    }
    if has("Edg/") {
        return browser("Edge", "Edg/");
    }
    if has("Edge/") {
        return browser("Edge", "Edge/");
    }
    if has("OPR/") {
        return browser(if mobile { "Opera Mobile" } else { "Opera" }, "OPR/");
    }
    if has("SamsungBrowser/") {
        return browser("Samsung Internet", "SamsungBrowser/");
    }
    if has("YaBrowser/") {
        return browser("Yandex Browser", "YaBrowser/");
    }
    if has("Vivaldi/") {
        return browser("Vivaldi", "Vivaldi/");
    }
    if has("FxiOS/") {
        return browser("Firefox iOS", "FxiOS/");
    }
    if has("CriOS/") {
        return browser("Chrome Mobile iOS", "CriOS/");
    }
    if has("HeadlessChrome/") {
        return browser("HeadlessChrome", "HeadlessChrome/");
    }
    if has("Chromium/") {
        return browser("Chromium", "Chromium/");
    }
    if has("Chrome/") {
        let family = if android && has("; wv)") {
            "Chrome Mobile WebView"
        } else if android && mobile {
            "Chrome Mobile"
        } else {
            "Chrome"
        };
        return browser(family, "Chrome/");
    }
    if has("Firefox/") {
        let family = if android && mobile {
            "Firefox Mobile"
        } else {
            "Firefox"
        };
        return browser(family, "Firefox/");
    }
    if has("MSIE ") {
        return browser("IE", "MSIE ");
    }
    if has("Trident/") && has("rv:") {
        return browser("IE", "rv:");
    }
    if has("Opera/") && has("Version/") {
        return browser("Opera", "Version/");
    }
    if has("Safari/") && has("Version/") {
        let family = if has("Mobile/") {
            "Mobile Safari"
        } else {
            "Safari"
        };
        return browser(family, "Version/");
    }
    with_version("Other", None)
}

fn parse_call(cx: &mut Cx<'_>, ua_ptr: u32, ua_len: u32, outs: [(u32, u32, u32); 4]) -> HostResult {
    let ua = cx.str_arg("user_agent", ua_ptr, ua_len)?;
    let parsed = parse(&ua);
    let values = [&parsed.family, &parsed.major, &parsed.minor, &parsed.patch];
    cx.result(
        "parsed",
        ArgValue::List(values.iter().map(|v| v.to_string()).collect()),
    );
    let fits = values
        .iter()
        .zip(outs.iter())
        .all(|(v, (_, len, _))| v.len() <= *len as usize);
    for (v, (buf, _, nwritten_out)) in values.iter().zip(outs.iter()) {
        if fits {
            cx.mem.write(*buf, v.as_bytes())?;
        }
        cx.mem.write_u32(*nwritten_out, v.len() as u32)?;
    }
    Ok(if fits { Status::OK.0 } else { Status::BUFLEN.0 })
}

pub(crate) fn link(reg: &mut Registry) -> Result<(), wasmi::errors::LinkerError> {
    super::hostcalls! { reg;
        ["fastly_uap" :: "parse"]
        fn(
            cx,
            user_agent: u32,
            user_agent_len: u32,
            family: u32,
            family_len: u32,
            family_nwritten_out: u32,
            major: u32,
            major_len: u32,
            major_nwritten_out: u32,
            minor: u32,
            minor_len: u32,
            minor_nwritten_out: u32,
            patch: u32,
            patch_len: u32,
            patch_nwritten_out: u32,
        ) -> i32 {
            parse_call(
                cx,
                user_agent,
                user_agent_len,
                [
                    (family, family_len, family_nwritten_out),
                    (major, major_len, major_nwritten_out),
                    (minor, minor_len, minor_nwritten_out),
                    (patch, patch_len, patch_nwritten_out),
                ],
            )
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(ua: &str) -> (String, String, String, String) {
        let u = parse(ua);
        (u.family, u.major, u.minor, u.patch)
    }

    fn t(f: &str, a: &str, b: &str, c: &str) -> (String, String, String, String) {
        (f.into(), a.into(), b.into(), c.into())
    }

    #[test]
    fn common_browsers() {
        assert_eq!(
            p("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.129 Safari/537.36"),
            t("Chrome", "120", "0", "6099")
        );
        assert_eq!(
            p("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36"),
            t("Chrome Mobile", "120", "0", "0")
        );
        assert_eq!(
            p("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91"),
            t("Edge", "120", "0", "2210")
        );
        assert_eq!(
            p("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_2) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15"),
            t("Safari", "17", "2", "")
        );
        assert_eq!(
            p("Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1"),
            t("Mobile Safari", "17", "2", "")
        );
        assert_eq!(
            p("Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"),
            t("Firefox", "121", "0", "")
        );
        assert_eq!(
            p("Mozilla/5.0 (Windows NT 6.1; Trident/7.0; rv:11.0) like Gecko"),
            t("IE", "11", "0", "")
        );
    }

    #[test]
    fn bots_tools_and_unknowns() {
        assert_eq!(
            p("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"),
            t("Googlebot", "2", "1", "")
        );
        assert_eq!(p("curl/8.5.0"), t("curl", "8", "5", "0"));
        assert_eq!(p("something else"), t("Other", "", "", ""));
        assert_eq!(p(""), t("Other", "", "", ""));
    }
}
