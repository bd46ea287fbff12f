//! npm packages for JavaScript in the tab (issue 12), platform-neutral: which
//! packages an app imports ([`imported_packages`]), how a package and version range
//! are written ([`Dependency`]), choosing a release from the registry's metadata
//! ([`choose`]), unpacking and checking its tarball ([`unpack`]), whether a build
//! must bundle at all ([`needs_bundling`]), and installing a set
//! of dependencies with theirs into a `node_modules` tree of text files ([`install`]),
//! which the worker's esbuild bundles with the app (`web/bundler.js`).
//!
//! The fetching is the caller's: the worker passes the browser's `fetch`, the tests a
//! map. The registry must answer cross-origin requests (registry.npmjs.org does).
//!
//! What is supported: packages of JavaScript (ESM or CommonJS) and JSON, their
//! `dependencies` (not peer, optional or dev dependencies), npm's version ranges and
//! dist-tags. Not: Node's built-in modules (Compute has none), git/file/alias
//! dependency specs, install scripts, native addons.

use base64::Engine as _;
use nodejs_semver::{Range, Version};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha512};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::io::Read;

/// The public registry, used unless the fiddle names another.
pub const DEFAULT_REGISTRY: &str = "https://registry.npmjs.org";

/// Where the app's own file lives in the bundler's file system (`/app/app.js`); the
/// packages go under `/app/node_modules`.
pub const APP_DIR: &str = "/app";

/// Most packages one install may bring (with every dependency's dependencies).
pub const MAX_PACKAGES: usize = 200;
/// Most bytes of unpacked files one install may keep.
pub const MAX_INSTALL_BYTES: u64 = 64 << 20;
/// Most bytes of one unpacked file.
pub const MAX_FILE_BYTES: u64 = 8 << 20;
/// Most bytes of one download (a tarball or a package's metadata).
pub const MAX_DOWNLOAD_BYTES: usize = 32 << 20;

/// Node's built-in modules: an import of one fails with a clear message (Compute has
/// no Node APIs; the bundler is given this list).
pub const NODE_BUILTINS: &[&str] = &[
    "assert",
    "async_hooks",
    "buffer",
    "child_process",
    "cluster",
    "console",
    "constants",
    "crypto",
    "dgram",
    "diagnostics_channel",
    "dns",
    "domain",
    "events",
    "fs",
    "http",
    "http2",
    "https",
    "inspector",
    "module",
    "net",
    "os",
    "path",
    "perf_hooks",
    "process",
    "punycode",
    "querystring",
    "readline",
    "repl",
    "stream",
    "string_decoder",
    "sys",
    "timers",
    "tls",
    "trace_events",
    "tty",
    "url",
    "util",
    "v8",
    "vm",
    "wasi",
    "worker_threads",
    "zlib",
];

/// One dependency: a package name and the version range (or dist-tag) wanted.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Dependency {
    /// The package (`lodash-es`, `@scope/name`).
    pub name: String,
    /// npm's range (`^4.17.0`, `1.x`, `>=2 <3`), an exact version, or a dist-tag
    /// (`latest`).
    pub range: String,
}

impl Dependency {
    /// Parse what a user types: `name`, `name@range`, `@scope/name@range`.
    pub fn parse(spec: &str) -> Result<Dependency, String> {
        let spec = spec.trim();
        let (name, range) = match spec.strip_prefix('@') {
            Some(rest) => match rest.split_once('@') {
                Some((n, r)) => (format!("@{n}"), r),
                None => (spec.to_string(), ""),
            },
            None => match spec.split_once('@') {
                Some((n, r)) => (n.to_string(), r),
                None => (spec.to_string(), ""),
            },
        };
        let range = if range.trim().is_empty() {
            "latest"
        } else {
            range.trim()
        };
        check_name(&name)?;
        check_range(&name, range)?;
        Ok(Dependency {
            name,
            range: range.to_string(),
        })
    }

    /// `name@range`.
    pub fn label(&self) -> String {
        format!("{}@{}", self.name, self.range)
    }
}

/// npm's rules for a package name, the parts that matter here: lowercase, URL-safe,
/// at most 214 characters, `@scope/name` or `name`.
fn check_name(name: &str) -> Result<(), String> {
    let bad = || {
        format!("`{name}` is not an npm package name (lowercase letters, digits, `-._~`, optionally `@scope/`)")
    };
    if name.is_empty() || name.len() > 214 {
        return Err(bad());
    }
    let body = match name.strip_prefix('@') {
        Some(rest) => {
            let (scope, pkg) = rest.split_once('/').ok_or_else(bad)?;
            if scope.is_empty() {
                return Err(bad());
            }
            check_part(scope).ok_or_else(bad)?;
            pkg
        }
        None => name,
    };
    if body.is_empty() || body.starts_with('.') || body.starts_with('_') {
        return Err(bad());
    }
    check_part(body).ok_or_else(bad)
}

fn check_part(part: &str) -> Option<()> {
    part.chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-._~".contains(c))
        .then_some(())
}

fn check_range(name: &str, range: &str) -> Result<(), String> {
    for kind in [
        "git",
        "http:",
        "https:",
        "file:",
        "npm:",
        "link:",
        "workspace:",
        "github:",
    ] {
        if range.starts_with(kind) {
            return Err(format!(
                "{name}@{range}: only registry versions are supported (not `{kind}` specs)"
            ));
        }
    }
    if is_tag(range) || Range::parse(range).is_ok() {
        Ok(())
    } else {
        Err(format!(
            "{name}@{range}: not an npm version range or dist-tag"
        ))
    }
}

/// A dist-tag (`latest`, `next`): a word that is not a range.
fn is_tag(range: &str) -> bool {
    range
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() && c != 'x' && c != 'X')
        && range
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))
}

/// The package a bare import specifier names (`lodash-es/chunk.js` → `lodash-es`,
/// `@a/b/c` → `@a/b`); `None` for a relative, absolute, URL or `fastly:` specifier.
pub fn package_of(specifier: &str) -> Option<String> {
    let s = specifier;
    if s.is_empty()
        || s.starts_with('.')
        || s.starts_with('/')
        || s.starts_with("fastly:")
        || s.contains("://")
    {
        return None;
    }
    let mut parts = s.split('/');
    let first = parts.next()?;
    if first.starts_with('@') {
        let second = parts.next()?;
        Some(format!("{first}/{second}"))
    } else {
        Some(first.to_string())
    }
}

/// Whether `specifier` is one of Node's built-in modules (`fs`, `node:path`).
pub fn is_node_builtin(specifier: &str) -> bool {
    if specifier.starts_with("node:") {
        return true;
    }
    let name = specifier.split('/').next().unwrap_or(specifier);
    NODE_BUILTINS.contains(&name)
}

/// The specifiers an app's source imports (`import … from "x"`, `import "x"`,
/// `export … from "x"`, `import("x")`, `require("x")`), found in the text: a
/// specifier in a comment or a string counts too, so use it to decide whether to
/// bundle and to name what is missing, not as the truth.
pub fn imported_specifiers(source: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let bytes = source.as_bytes();
    for keyword in ["from", "import", "require"] {
        let mut at = 0;
        while let Some(pos) = source[at..].find(keyword) {
            let start = at + pos;
            at = start + keyword.len();
            let before_ok = start == 0 || !is_ident(bytes[start - 1]);
            let after_ok = bytes.get(at).is_none_or(|b| !is_ident(*b));
            if !before_ok || !after_ok {
                continue;
            }
            let mut i = at;
            while i < bytes.len() && (bytes[i] == b' ' || bytes[i] == b'\t' || bytes[i] == b'(') {
                i += 1;
            }
            let Some(&quote) = bytes.get(i) else { continue };
            if quote != b'"' && quote != b'\'' {
                continue;
            }
            if let Some(len) = source[i + 1..].find([quote as char, '\n']) {
                let spec = &source[i + 1..i + 1 + len];
                if source.as_bytes().get(i + 1 + len) == Some(&quote) && !spec.is_empty() {
                    out.insert(spec.to_string());
                }
            }
        }
    }
    out
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$'
}

/// The npm packages an app imports (bare specifiers, not Node built-ins).
pub fn imported_packages(source: &str) -> BTreeSet<String> {
    imported_specifiers(source)
        .iter()
        .filter(|s| !is_node_builtin(s))
        .filter_map(|s| package_of(s))
        .collect()
}

/// The URL of a package's metadata (its "packument") in `registry`.
pub fn packument_url(registry: &str, name: &str) -> String {
    let base = registry.trim_end_matches('/');
    format!("{base}/{}", name.replace('/', "%2f"))
}

/// The release [`choose`] picked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Release {
    /// The exact version.
    pub version: String,
    /// Where its tarball is.
    pub tarball: String,
    /// The tarball's Subresource Integrity string (`sha512-…`), when given.
    pub integrity: Option<String>,
}

#[derive(Deserialize)]
struct Packument {
    #[serde(default, rename = "dist-tags")]
    dist_tags: BTreeMap<String, String>,
    #[serde(default)]
    versions: BTreeMap<String, PackumentVersion>,
}

#[derive(Deserialize)]
struct PackumentVersion {
    dist: Dist,
}

#[derive(Deserialize)]
struct Dist {
    tarball: String,
    #[serde(default)]
    integrity: Option<String>,
}

/// Pick the release of `dep` from its packument (the registry's JSON): the dist-tag's
/// version, or the highest version the range allows (prereleases only when the range
/// names one, as npm does).
pub fn choose(packument: &[u8], dep: &Dependency) -> Result<Release, String> {
    let p: Packument = serde_json::from_slice(packument).map_err(|e| {
        format!(
            "{}: the registry's answer is not package metadata ({e})",
            dep.name
        )
    })?;
    if p.versions.is_empty() {
        return Err(format!("{}: the registry lists no versions", dep.name));
    }
    let version = if is_tag(&dep.range) {
        p.dist_tags.get(&dep.range).cloned().ok_or_else(|| {
            format!(
                "{}: no dist-tag `{}` (tags: {})",
                dep.name,
                dep.range,
                p.dist_tags.keys().cloned().collect::<Vec<_>>().join(", ")
            )
        })?
    } else {
        let range = Range::parse(&dep.range)
            .map_err(|e| format!("{}: `{}` is not a version range ({e})", dep.name, dep.range))?;
        let versions: Vec<Version> = p
            .versions
            .keys()
            .filter_map(|v| Version::parse(v).ok())
            .collect();
        range
            .max_satisfying(&versions)
            .map(|v| v.to_string())
            .ok_or_else(|| {
                format!(
                    "{}: no version matches `{}` (latest is {})",
                    dep.name,
                    dep.range,
                    p.dist_tags.get("latest").map_or("unknown", String::as_str)
                )
            })?
    };
    let v = p.versions.get(&version).ok_or_else(|| {
        format!(
            "{}@{version}: the registry names it but lists no such version",
            dep.name
        )
    })?;
    Ok(Release {
        version,
        tarball: v.dist.tarball.clone(),
        integrity: v.dist.integrity.clone(),
    })
}

/// A package unpacked: its text files by path inside the package, and its
/// `dependencies`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Unpacked {
    /// Files (`package.json`, `index.js`, `lib/x.mjs`), JavaScript and JSON only.
    pub files: BTreeMap<String, String>,
    /// Its `package.json`'s `dependencies`.
    pub dependencies: Vec<Dependency>,
}

/// The file kinds an install keeps: what esbuild bundles for the engine.
fn kept(path: &str) -> bool {
    [".js", ".mjs", ".cjs", ".json"]
        .iter()
        .any(|ext| path.ends_with(ext))
}

/// Check a tarball against its integrity string (a `sha512-` entry of it; other
/// algorithms are not checked) and unpack its JavaScript and JSON files, dropping the
/// tarball's top directory (`package/`). `budget` is the bytes still allowed.
pub fn unpack(
    tgz: &[u8],
    integrity: Option<&str>,
    name: &str,
    budget: &mut u64,
) -> Result<Unpacked, String> {
    if let Some(sri) = integrity {
        let wanted: Vec<&str> = sri
            .split_whitespace()
            .filter_map(|e| e.strip_prefix("sha512-"))
            .collect();
        if !wanted.is_empty() {
            let got = base64::engine::general_purpose::STANDARD.encode(Sha512::digest(tgz));
            if !wanted.iter().any(|w| *w == got) {
                return Err(format!(
                    "{name}: the tarball does not match its integrity hash (sha512-{got})"
                ));
            }
        }
    }
    let gz = flate2::read::GzDecoder::new(tgz);
    let mut archive = tar::Archive::new(gz);
    let mut out = Unpacked::default();
    let entries = archive
        .entries()
        .map_err(|e| format!("{name}: the tarball cannot be read ({e})"))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| format!("{name}: the tarball is damaged ({e})"))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry
            .path()
            .map_err(|e| format!("{name}: a bad path in the tarball ({e})"))?
            .to_string_lossy()
            .replace('\\', "/");
        // Drop the top directory; refuse paths that climb out.
        let Some((_, rel)) = path.split_once('/') else {
            continue;
        };
        if rel.is_empty() || rel.split('/').any(|p| p == ".." || p.is_empty()) || !kept(rel) {
            continue;
        }
        let size = entry.header().size().unwrap_or(u64::MAX);
        if size > MAX_FILE_BYTES {
            return Err(format!(
                "{name}: {rel} is {size} bytes, over the {MAX_FILE_BYTES}-byte limit for one file"
            ));
        }
        if size > *budget {
            return Err(format!(
                "the packages unpack to more than {MAX_INSTALL_BYTES} bytes (at {name}/{rel})"
            ));
        }
        let mut text = String::new();
        if (&mut entry)
            .take(MAX_FILE_BYTES + 1)
            .read_to_string(&mut text)
            .is_err()
        {
            continue; // not UTF-8: not a module esbuild can read
        }
        *budget = budget.saturating_sub(text.len() as u64);
        out.files.insert(rel.to_string(), text);
    }
    let manifest = out
        .files
        .get("package.json")
        .ok_or_else(|| format!("{name}: the tarball has no package.json"))?;
    let json: serde_json::Value = serde_json::from_str(manifest)
        .map_err(|e| format!("{name}: its package.json is not JSON ({e})"))?;
    if let Some(deps) = json.get("dependencies").and_then(|d| d.as_object()) {
        for (dep, range) in deps {
            let range = range.as_str().unwrap_or("*");
            out.dependencies.push(Dependency {
                name: dep.clone(),
                range: if range.trim().is_empty() {
                    "*".into()
                } else {
                    range.trim().into()
                },
            });
        }
    }
    Ok(out)
}

/// One package of an install.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placed {
    /// Its name.
    pub name: String,
    /// The version installed.
    pub version: String,
    /// Its directory (`/app/node_modules/lodash-es`).
    pub dir: String,
}

/// An install: every file by absolute path (`/app/node_modules/x/index.js`) and the
/// packages placed, the requested ones first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Installed {
    /// The files.
    pub files: BTreeMap<String, String>,
    /// The packages, in the order they were placed.
    pub packages: Vec<Placed>,
}

/// Install `deps` and their dependencies from `registry`, fetching with `fetch` (a
/// URL → its bytes). Packages are hoisted to `/app/node_modules` as npm does; a
/// dependency that needs another version than the hoisted one gets its own copy in
/// its dependent's `node_modules`. `progress` hears each step.
pub async fn install<F, Fut>(
    registry: &str,
    deps: &[Dependency],
    mut fetch: F,
    mut progress: impl FnMut(&str),
) -> Result<Installed, String>
where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = Result<Vec<u8>, String>>,
{
    let mut packuments: HashMap<String, Vec<u8>> = HashMap::new();
    let mut installed = Installed::default();
    let mut placed: BTreeMap<String, String> = BTreeMap::new(); // dir -> version
    let mut budget = MAX_INSTALL_BYTES;
    let top = format!("{APP_DIR}/node_modules");
    let mut queue: std::collections::VecDeque<(Dependency, String)> = deps
        .iter()
        .map(|d| (d.clone(), APP_DIR.to_string()))
        .collect();
    while let Some((dep, requester)) = queue.pop_front() {
        check_name(&dep.name)?;
        check_range(&dep.name, &dep.range)?;
        if !packuments.contains_key(&dep.name) {
            progress(&format!("fetching {}", dep.name));
            let url = packument_url(registry, &dep.name);
            let bytes = fetch(url.clone())
                .await
                .map_err(|e| format!("{}: {url} could not be fetched: {e}", dep.name))?;
            packuments.insert(dep.name.clone(), bytes);
        }
        let release = choose(&packuments[&dep.name], &dep)?;
        let hoisted = format!("{top}/{}", dep.name);
        let dir = match placed.get(&hoisted) {
            None => hoisted,
            Some(v) if satisfied(v, &dep.range) => continue,
            Some(_) => {
                let nested = format!("{requester}/node_modules/{}", dep.name);
                if placed.contains_key(&nested) {
                    continue;
                }
                nested
            }
        };
        if installed.packages.len() >= MAX_PACKAGES {
            return Err(format!(
                "more than {MAX_PACKAGES} packages: the dependencies are too many for the tab"
            ));
        }
        progress(&format!("downloading {}@{}", dep.name, release.version));
        let tgz = fetch(release.tarball.clone()).await.map_err(|e| {
            format!(
                "{}@{}: {} could not be fetched: {e}",
                dep.name, release.version, release.tarball
            )
        })?;
        if tgz.len() > MAX_DOWNLOAD_BYTES {
            return Err(format!(
                "{}@{}: the tarball is over {MAX_DOWNLOAD_BYTES} bytes",
                dep.name, release.version
            ));
        }
        let unpacked = unpack(&tgz, release.integrity.as_deref(), &dep.name, &mut budget)?;
        for (rel, text) in unpacked.files {
            installed.files.insert(format!("{dir}/{rel}"), text);
        }
        for d in unpacked.dependencies {
            queue.push_back((d, dir.clone()));
        }
        placed.insert(dir.clone(), release.version.clone());
        installed.packages.push(Placed {
            name: dep.name.clone(),
            version: release.version,
            dir,
        });
    }
    Ok(installed)
}

/// Whether `version` is allowed by `range` (a dist-tag allows whatever was hoisted).
fn satisfied(version: &str, range: &str) -> bool {
    if is_tag(range) {
        return true;
    }
    match (Version::parse(version), Range::parse(range)) {
        (Ok(v), Ok(r)) => r.satisfies(&v),
        _ => false,
    }
}

/// Whether a build must bundle: the fiddle lists packages, or the source imports a
/// package or a Node built-in (which esbuild then reports, with its line).
pub fn needs_bundling(source: &str, deps: &[Dependency]) -> bool {
    !deps.is_empty()
        || imported_specifiers(source)
            .iter()
            .any(|s| is_node_builtin(s) || package_of(s).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    fn tgz(files: &[(&str, &str)]) -> Vec<u8> {
        let mut tar = tar::Builder::new(Vec::new());
        for (path, text) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(text.len() as u64);
            h.set_mode(0o644);
            // Written raw: the builder refuses `..`, which hostile tarballs have.
            let name = format!("package/{path}");
            h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
            h.set_cksum();
            tar.append(&h, text.as_bytes()).unwrap();
        }
        let tar = tar.into_inner().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &tar).unwrap();
        gz.finish().unwrap()
    }

    fn sri(bytes: &[u8]) -> String {
        format!(
            "sha512-{}",
            base64::engine::general_purpose::STANDARD.encode(Sha512::digest(bytes))
        )
    }

    /// `(name, version, package.json dependencies, files)`.
    type Pkg<'a> = (&'a str, &'a str, &'a str, &'a [(&'a str, &'a str)]);

    /// A registry of [`Pkg`]s.
    struct Registry {
        urls: BTreeMap<String, Vec<u8>>,
    }

    impl Registry {
        fn new(pkgs: &[Pkg]) -> Registry {
            let mut urls = BTreeMap::new();
            let mut meta: BTreeMap<String, serde_json::Value> = BTreeMap::new();
            for (name, version, deps, files) in pkgs {
                let pj =
                    format!(r#"{{"name":"{name}","version":"{version}","dependencies":{deps}}}"#);
                let mut all: Vec<(&str, &str)> = vec![("package.json", &pj)];
                all.extend(files.iter().copied());
                let bytes = tgz(&all);
                let url = format!("http://reg/{name}/-/{version}.tgz");
                let entry = meta
                    .entry(name.to_string())
                    .or_insert_with(|| serde_json::json!({"dist-tags": {}, "versions": {}}));
                entry["versions"][*version] =
                    serde_json::json!({"dist": {"tarball": url, "integrity": sri(&bytes)}});
                entry["dist-tags"]["latest"] = serde_json::json!(version);
                urls.insert(url, bytes);
            }
            for (name, m) in meta {
                urls.insert(
                    packument_url("http://reg", &name),
                    m.to_string().into_bytes(),
                );
            }
            Registry { urls }
        }

        fn install(&self, deps: &[&str]) -> (Result<Installed, String>, Vec<String>) {
            let deps: Vec<Dependency> =
                deps.iter().map(|d| Dependency::parse(d).unwrap()).collect();
            let fetched = RefCell::new(Vec::new());
            let r = futures_executor(install(
                "http://reg/",
                &deps,
                |url: String| {
                    fetched.borrow_mut().push(url.clone());
                    let r = self.urls.get(&url).cloned().ok_or("HTTP 404".to_string());
                    async move { r }
                },
                |_| {},
            ));
            (r, fetched.into_inner())
        }
    }

    /// Run a future that never waits (the tests' fetcher answers at once).
    fn futures_executor<T>(f: impl Future<Output = T>) -> T {
        use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};
        fn noop(_: *const ()) {}
        fn clone(p: *const ()) -> RawWaker {
            RawWaker::new(p, &VTABLE)
        }
        static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, noop, noop, noop);
        let waker = unsafe { Waker::from_raw(RawWaker::new(std::ptr::null(), &VTABLE)) };
        let mut cx = Context::from_waker(&waker);
        let mut f = std::pin::pin!(f);
        match f.as_mut().poll(&mut cx) {
            Poll::Ready(v) => v,
            Poll::Pending => panic!("the test fetcher never waits"),
        }
    }

    #[test]
    fn dependencies_parse_as_users_type_them() {
        assert_eq!(
            Dependency::parse("lodash-es").unwrap().label(),
            "lodash-es@latest"
        );
        assert_eq!(Dependency::parse(" a@^1.2 ").unwrap().label(), "a@^1.2");
        assert_eq!(Dependency::parse("@s/p@2.x").unwrap().label(), "@s/p@2.x");
        assert_eq!(Dependency::parse("@s/p").unwrap().label(), "@s/p@latest");
        assert!(Dependency::parse("Lodash")
            .unwrap_err()
            .contains("not an npm package name"));
        assert!(Dependency::parse("a@git+https://x")
            .unwrap_err()
            .contains("only registry"));
        assert!(Dependency::parse("a@>>1")
            .unwrap_err()
            .contains("not an npm version range"));
        assert!(Dependency::parse("@/x").is_err());
    }

    #[test]
    fn imports_are_found_and_named_by_package() {
        let src = r#"
            import { chunk } from "lodash-es";
            import x from '@scope/pkg/sub.js';
            import "./local.js";
            import { env } from "fastly:env";
            export { y } from "re-export";
            const m = await import("dynamic");
            const c = require('cjs-pkg');
            const fromage = "from"; // not an import
        "#;
        let pkgs: Vec<String> = imported_packages(src).into_iter().collect();
        assert_eq!(
            pkgs,
            ["@scope/pkg", "cjs-pkg", "dynamic", "lodash-es", "re-export"]
        );
        assert!(imported_packages(
            "addEventListener('fetch', e => e.respondWith(new Response('hi')));"
        )
        .is_empty());
        assert!(is_node_builtin("node:fs") && is_node_builtin("path") && !is_node_builtin("pathe"));
    }

    #[test]
    fn only_apps_with_packages_or_bare_imports_are_bundled() {
        let hello = "import { env } from 'fastly:env';\nimport './x.js';\naddEventListener('fetch', () => {});";
        assert!(!needs_bundling(hello, &[]));
        assert!(needs_bundling(hello, &[Dependency::parse("a").unwrap()]));
        assert!(needs_bundling("import a from 'a';", &[]));
        assert!(needs_bundling("import fs from 'node:fs';", &[]));
    }

    #[test]
    fn a_release_is_chosen_by_range_or_tag() {
        let p = br#"{"dist-tags":{"latest":"1.2.0","next":"2.0.0-rc.1"},"versions":{
            "1.0.0":{"dist":{"tarball":"t/1.0.0"}},"1.2.0":{"dist":{"tarball":"t/1.2.0"}},
            "1.3.0-beta.1":{"dist":{"tarball":"t/b"}},"2.0.0-rc.1":{"dist":{"tarball":"t/rc"}}}}"#;
        let pick = |r: &str| {
            choose(
                p,
                &Dependency {
                    name: "x".into(),
                    range: r.into(),
                },
            )
        };
        assert_eq!(pick("^1.0.0").unwrap().version, "1.2.0");
        assert_eq!(pick("~1.0").unwrap().version, "1.0.0");
        assert_eq!(pick("latest").unwrap().tarball, "t/1.2.0");
        assert_eq!(pick("next").unwrap().version, "2.0.0-rc.1");
        assert!(pick("^3")
            .unwrap_err()
            .contains("no version matches `^3` (latest is 1.2.0)"));
        assert!(pick("beta").unwrap_err().contains("no dist-tag `beta`"));
        assert!(choose(b"<html>", &Dependency::parse("x").unwrap())
            .unwrap_err()
            .contains("not package metadata"));
    }

    #[test]
    fn a_tarball_unpacks_its_javascript_and_is_checked() {
        let bytes = tgz(&[
            ("package.json", r#"{"name":"p","dependencies":{"q":"^1"}}"#),
            ("index.js", "export default 1;"),
            ("README.md", "# p"),
            ("../evil.js", "bad"),
        ]);
        let mut budget = MAX_INSTALL_BYTES;
        let u = unpack(&bytes, Some(&sri(&bytes)), "p", &mut budget).unwrap();
        assert_eq!(
            u.files.keys().collect::<Vec<_>>(),
            ["index.js", "package.json"]
        );
        assert_eq!(
            u.dependencies,
            [Dependency {
                name: "q".into(),
                range: "^1".into()
            }]
        );
        assert!(budget < MAX_INSTALL_BYTES);
        let e = unpack(
            &bytes,
            Some("sha512-AAAA"),
            "p",
            &mut MAX_INSTALL_BYTES.clone(),
        )
        .unwrap_err();
        assert!(e.contains("does not match its integrity"), "{e}");
        assert!(unpack(b"not gzip", None, "p", &mut 100)
            .unwrap_err()
            .starts_with("p: the tarball"));
        let e = unpack(&bytes, None, "p", &mut 4).unwrap_err();
        assert!(e.contains("unpack to more than"), "{e}");
        let no_manifest = tgz(&[("index.js", "1")]);
        assert!(unpack(&no_manifest, None, "p", &mut 100)
            .unwrap_err()
            .contains("no package.json"));
    }

    #[test]
    fn dependencies_are_hoisted_unless_versions_conflict() {
        let reg = Registry::new(&[
            (
                "app-dep",
                "1.0.0",
                r#"{"shared":"^2","leaf":"1"}"#,
                &[("index.js", "a")],
            ),
            ("other", "1.0.0", r#"{"shared":"^1"}"#, &[("index.js", "o")]),
            ("shared", "1.5.0", "{}", &[("index.js", "s1")]),
            ("shared", "2.1.0", "{}", &[("index.js", "s2")]),
            ("leaf", "1.0.0", "{}", &[("main.cjs", "l")]),
        ]);
        let (r, fetched) = reg.install(&["app-dep@^1", "other"]);
        let inst = r.unwrap();
        let placed: Vec<String> = inst
            .packages
            .iter()
            .map(|p| format!("{}@{} {}", p.name, p.version, p.dir))
            .collect();
        assert_eq!(
            placed,
            [
                "app-dep@1.0.0 /app/node_modules/app-dep",
                "other@1.0.0 /app/node_modules/other",
                "leaf@1.0.0 /app/node_modules/leaf",
                "shared@2.1.0 /app/node_modules/shared",
                "shared@1.5.0 /app/node_modules/other/node_modules/shared",
            ]
        );
        assert_eq!(
            inst.files["/app/node_modules/other/node_modules/shared/index.js"],
            "s1"
        );
        assert_eq!(inst.files["/app/node_modules/leaf/main.cjs"], "l");
        // Each packument is fetched once.
        let packuments = fetched.iter().filter(|u| !u.ends_with(".tgz")).count();
        assert_eq!(packuments, 4);
    }

    #[test]
    fn an_install_error_names_the_package_and_url() {
        let reg = Registry::new(&[("a", "1.0.0", r#"{"gone":"1"}"#, &[])]);
        let e = reg.install(&["a"]).0.unwrap_err();
        assert_eq!(e, "gone: http://reg/gone could not be fetched: HTTP 404");
        assert_eq!(
            packument_url("https://r.example/", "@s/p"),
            "https://r.example/@s%2fp"
        );
    }
}
