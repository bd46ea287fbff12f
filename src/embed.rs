//! The embedded view's URLs: whether a page URL asks for it, and the same page without
//! it (the *Open in edgeplay* link).
//!
//! `embed` is a parameter of the query (`?embed`, `?embed=1`) or of the fragment
//! (`#f=…&embed`, the fiddle links' form). `embed=0` and `embed=false` do not embed.

/// The `&`-separated parameters of a query or fragment (without its `?` / `#`).
fn params(s: &str) -> impl Iterator<Item = &str> {
    s.split('&').filter(|p| !p.is_empty())
}

/// Whether one parameter is an `embed` that asks for the embedded view.
fn is_embed_param(p: &str) -> bool {
    let (name, value) = p.split_once('=').unwrap_or((p, ""));
    name == "embed" && !matches!(value, "0" | "false")
}

/// Whether the parameter is named `embed` (whatever its value).
fn names_embed(p: &str) -> bool {
    p.split_once('=').map_or(p, |(n, _)| n) == "embed"
}

/// Whether a page with this `location.search` and `location.hash` (each with or
/// without its leading `?` / `#`) shows the embedded view.
pub fn is_embedded(search: &str, hash: &str) -> bool {
    let search = search.strip_prefix('?').unwrap_or(search);
    let hash = hash.strip_prefix('#').unwrap_or(hash);
    params(search).chain(params(hash)).any(is_embed_param)
}

/// `href` without its `embed` parameters, in the query and in the fragment; the other
/// parameters (the fiddle, `#f=…`) stay as they were, in order. An emptied query or
/// fragment is dropped with its `?` / `#`.
pub fn full_view_url(href: &str) -> String {
    let (before_hash, hash) = match href.split_once('#') {
        Some((b, h)) => (b, Some(h)),
        None => (href, None),
    };
    let (path, query) = match before_hash.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (before_hash, None),
    };
    let keep = |s: &str| {
        params(s)
            .filter(|p| !names_embed(p))
            .collect::<Vec<_>>()
            .join("&")
    };
    let mut out = path.to_string();
    if let Some(q) = query.map(keep).filter(|q| !q.is_empty()) {
        out.push('?');
        out.push_str(&q);
    }
    if let Some(h) = hash.map(keep).filter(|h| !h.is_empty()) {
        out.push('#');
        out.push_str(&h);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embed_in_the_query_or_the_fragment() {
        assert!(is_embedded("?embed", ""));
        assert!(is_embedded("?embed=1", ""));
        assert!(is_embedded("?a=b&embed", ""));
        assert!(is_embedded("", "#f=abc&embed"));
        assert!(is_embedded("", "#embed&f=abc"));
        assert!(is_embedded("embed", "f=abc"));
        assert!(!is_embedded("", ""));
        assert!(!is_embedded("?embedded", "#f=embed"));
        assert!(!is_embedded("?embed=0", "#embed=false"));
        assert!(!is_embedded("?x=embed", ""));
    }

    #[test]
    fn the_full_view_keeps_everything_but_embed() {
        let u = full_view_url;
        assert_eq!(u("http://h/?embed"), "http://h/");
        assert_eq!(u("http://h/?embed#f=abc"), "http://h/#f=abc");
        assert_eq!(u("http://h/#f=abc&embed"), "http://h/#f=abc");
        assert_eq!(u("http://h/#embed&f=abc"), "http://h/#f=abc");
        assert_eq!(
            u("http://h/p/?a=1&embed=1&b=2#f=x-_y&embed"),
            "http://h/p/?a=1&b=2#f=x-_y"
        );
        assert_eq!(u("http://h/?embed#embed"), "http://h/");
        assert_eq!(u("http://h/"), "http://h/");
        assert_eq!(u("http://h/?embedded#f"), "http://h/?embedded#f");
    }
}
