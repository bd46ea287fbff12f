//! Fastly CLI packages: what `fastly compute build` writes to `pkg/NAME.tar.gz`, a
//! gzip'd tar of `NAME/bin/main.wasm` and `NAME/fastly.toml` (the first path
//! component is the package's name; an archive without one is read the same way).

use std::io::Read;

/// The largest entry read from a package: 64 MiB (a JS SDK guest is ~11 MB).
pub const MAX_ENTRY_BYTES: u64 = 64 << 20;

/// The most bytes a package may decompress to in all.
pub const MAX_PACKAGE_BYTES: u64 = 256 << 20;

/// A package's contents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Package {
    /// The package's name (the archive's top directory), if it has one.
    pub name: Option<String>,
    /// `bin/main.wasm`.
    pub wasm: Vec<u8>,
    /// `fastly.toml`, if the package has one.
    pub fastly_toml: Option<String>,
}

/// Why a package cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PackageError {
    /// Not a gzip'd tar, or damaged.
    #[error("not a Fastly package (a .tar.gz of bin/main.wasm and fastly.toml): {0}")]
    BadArchive(String),
    /// No `bin/main.wasm` in it.
    #[error("the package has no bin/main.wasm (it has: {0})")]
    NoWasm(String),
    /// An entry is over [`MAX_ENTRY_BYTES`], or the whole over [`MAX_PACKAGE_BYTES`].
    #[error("the package's entry {path} is too large (more than {limit} bytes)")]
    TooLarge {
        /// The entry.
        path: String,
        /// The bound, in bytes.
        limit: u64,
    },
    /// `fastly.toml` is not UTF-8.
    #[error("the package's fastly.toml is not UTF-8 text")]
    TomlNotText,
    /// An entry's path leaves the package (a `..` component, or an absolute path):
    /// the Fastly CLI never writes one, so the archive is not what it claims to be.
    #[error("the package's entry {0} points outside the package (an absolute path or `..`); a Fastly package holds NAME/bin/main.wasm and NAME/fastly.toml")]
    UnsafePath(String),
}

/// True when `bytes` start like gzip (`1f 8b`): how a caller tells a package from
/// a wasm module.
pub fn looks_like_package(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0x1f, 0x8b])
}

/// Read a package from its `.tar.gz` bytes.
pub fn read_package(bytes: &[u8]) -> Result<Package, PackageError> {
    if !looks_like_package(bytes) {
        return Err(PackageError::BadArchive("it is not gzip data".into()));
    }
    let gz = flate2::read::GzDecoder::new(bytes);
    // Bound the whole decompressed stream, whatever the headers claim.
    let mut archive = tar::Archive::new(gz.take(MAX_PACKAGE_BYTES + 1));
    let bad = |e: std::io::Error| PackageError::BadArchive(archive_error(&e));
    let mut wasm = None;
    let mut toml = None;
    let mut name = None;
    let mut seen = Vec::new();
    for entry in archive.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry.path().map_err(bad)?.to_string_lossy().into_owned();
        if path.starts_with('/') || path.split(['/', '\\']).any(|p| p == "..") {
            return Err(PackageError::UnsafePath(path));
        }
        let parts: Vec<&str> = path
            .split('/')
            .filter(|p| !p.is_empty() && *p != ".")
            .collect();
        // `NAME/bin/main.wasm` or `bin/main.wasm`.
        let (top, rest) = match parts.as_slice() {
            [t, rest @ ..] if !rest.is_empty() && *t != "bin" => (Some(*t), rest.join("/")),
            _ => (None, parts.join("/")),
        };
        let wanted = rest == "bin/main.wasm" || rest == "fastly.toml";
        seen.push(path.clone());
        if !wanted {
            continue;
        }
        let size = entry.header().size().map_err(bad)?;
        if size > MAX_ENTRY_BYTES {
            return Err(PackageError::TooLarge {
                path,
                limit: MAX_ENTRY_BYTES,
            });
        }
        let mut buf = Vec::new();
        (&mut entry)
            .take(MAX_ENTRY_BYTES + 1)
            .read_to_end(&mut buf)
            .map_err(bad)?;
        if buf.len() as u64 > MAX_ENTRY_BYTES {
            return Err(PackageError::TooLarge {
                path,
                limit: MAX_ENTRY_BYTES,
            });
        }
        // tar reads a cut-off entry without an error: it must have all its bytes.
        if (buf.len() as u64) < size {
            return Err(PackageError::BadArchive(format!(
                "it is truncated: its entry {path} has {} of its {size} bytes",
                buf.len()
            )));
        }
        if name.is_none() {
            name = top.map(str::to_string);
        }
        if rest == "fastly.toml" {
            toml = Some(String::from_utf8(buf).map_err(|_| PackageError::TomlNotText)?);
        } else {
            wasm = Some(buf);
        }
    }
    let wasm = wasm.ok_or_else(|| {
        PackageError::NoWasm(if seen.is_empty() {
            "no files".into()
        } else {
            seen.join(", ")
        })
    })?;
    Ok(Package {
        name,
        wasm,
        fastly_toml: toml,
    })
}

/// A reading error in words: the gzip layer's say what is wrong; the tar layer's
/// (`numeric field was not a number: … when getting cksum for <the header's bytes>`)
/// mean the data is not a tar archive.
fn archive_error(e: &std::io::Error) -> String {
    let msg = e.to_string();
    if msg.contains(" when getting ") || msg.contains("numeric field") {
        "the data inside the gzip is not a tar archive, or its headers are damaged".into()
    } else {
        format!("it is truncated or damaged ({msg})")
    }
}

impl Package {
    /// A fiddle of this package: its guest inline, its `fastly.toml`, no requests.
    pub fn to_fiddle(&self) -> super::Fiddle {
        let mut f = super::Fiddle::new(super::GuestSource::inline(&self.wasm));
        f.title = self.name.clone().unwrap_or_default();
        f.fastly_toml = self.fastly_toml.clone().unwrap_or_default();
        f
    }
}

/// A `.tar.gz` of `files` (path, bytes), as the Fastly CLI packs one; for tests
/// and for the tab's export.
pub fn write_package(files: &[(&str, &[u8])]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut b = tar::Builder::new(gz);
    for (path, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        // Appending to memory cannot fail for paths this short.
        let _ = b.append_data(&mut h, path, *data);
    }
    b.into_inner()
        .and_then(|gz| gz.finish())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fastly_cli_package_is_read() {
        let pkg = write_package(&[
            ("my-app/bin/main.wasm", b"\0asm\x01\0\0\0"),
            ("my-app/fastly.toml", b"name = \"my-app\"\n"),
            ("my-app/Cargo.toml", b"[package]"),
        ]);
        let p = read_package(&pkg).unwrap();
        assert_eq!(p.name.as_deref(), Some("my-app"));
        assert_eq!(p.wasm, b"\0asm\x01\0\0\0");
        assert_eq!(p.fastly_toml.as_deref(), Some("name = \"my-app\"\n"));
        let f = p.to_fiddle();
        assert_eq!(f.title, "my-app");
        assert_eq!(f.fastly_toml, "name = \"my-app\"\n");
        assert_eq!(f.guest.inline_bytes().unwrap().unwrap(), b"\0asm\x01\0\0\0");
        let flat = write_package(&[("bin/main.wasm", b"w")]);
        let p = read_package(&flat).unwrap();
        assert_eq!(p.name, None);
        assert_eq!(p.fastly_toml, None);
    }

    #[test]
    fn bad_packages_get_clear_errors() {
        let e = read_package(b"\0asm\x01\0\0\0").unwrap_err();
        assert!(matches!(e, PackageError::BadArchive(_)), "{e}");
        let pkg = write_package(&[("a/fastly.toml", b"x")]);
        let e = read_package(&pkg[..pkg.len() / 2]).unwrap_err();
        assert!(matches!(e, PackageError::BadArchive(_)), "truncated: {e}");
        let e = read_package(&pkg).unwrap_err();
        assert_eq!(e, PackageError::NoWasm("a/fastly.toml".into()));
        assert!(e.to_string().contains("no bin/main.wasm"));
        let big = vec![0u8; (MAX_ENTRY_BYTES + 1) as usize];
        let pkg = write_package(&[("a/bin/main.wasm", &big)]);
        let e = read_package(&pkg).unwrap_err();
        assert!(matches!(e, PackageError::TooLarge { .. }), "{e}");
    }

    /// A tar.gz with one entry named `path` as it is (tar's builder refuses `..`).
    fn raw_package(path: &str, data: &[u8]) -> Vec<u8> {
        raw_package_claiming(path, data, data.len() as u64)
    }

    /// [`raw_package`] whose header claims `size` bytes.
    fn raw_package_claiming(path: &str, data: &[u8], size: u64) -> Vec<u8> {
        let mut h = tar::Header::new_old();
        h.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
        h.set_size(size);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        let mut tar = h.as_bytes().to_vec();
        tar.extend_from_slice(data);
        tar.resize(tar.len().div_ceil(512) * 512 + 1024, 0);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &tar).unwrap();
        gz.finish().unwrap()
    }

    #[test]
    fn entries_outside_the_package_are_refused() {
        // `../bin/main.wasm` used to be read as the guest of a package named `..`
        // (tests/malformed/package/path-traversal.tar.gz); the Fastly CLI never
        // writes such a path.
        for path in [
            "../bin/main.wasm",
            "app/../../bin/main.wasm",
            "/app/bin/main.wasm",
        ] {
            let e = read_package(&raw_package(path, b"\0asm\x01\0\0\0")).unwrap_err();
            assert_eq!(e, PackageError::UnsafePath(path.into()));
            assert!(e.to_string().contains("points outside the package"), "{e}");
        }
        let ok = read_package(&raw_package("app/bin/main.wasm", b"w")).unwrap();
        assert_eq!(ok.wasm, b"w");
    }

    #[test]
    fn a_cut_off_entry_is_an_error_not_a_short_guest() {
        // A whole gzip stream whose tar entry claims more bytes than it has.
        let tgz = raw_package_claiming("app/bin/main.wasm", &[7; 10], 5000);
        let e = read_package(&tgz).unwrap_err();
        assert!(matches!(e, PackageError::BadArchive(_)), "{e}");
        assert!(e.to_string().contains("truncated"), "{e}");
        // A gzip stream cut short.
        let pkg = write_package(&[("a/bin/main.wasm", &[0x5a; 3000])]);
        let e = read_package(&pkg[..pkg.len() - 12]).unwrap_err();
        assert!(e.to_string().contains("truncated or damaged"), "{e}");
        let e = read_package(&write_package(&[])[..10]).unwrap_err();
        assert!(matches!(e, PackageError::BadArchive(_)), "{e}");
    }

    #[test]
    fn gzip_of_something_else_says_it_is_not_a_tar() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &b"plain text, not a tar archive\n".repeat(30)).unwrap();
        let e = read_package(&gz.finish().unwrap()).unwrap_err();
        assert!(e.to_string().contains("not a tar archive"), "{e}");
    }
}
