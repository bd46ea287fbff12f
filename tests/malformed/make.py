#!/usr/bin/env python3
"""Write the malformed-input corpus (tests/malformed/{wasm,config,link,package}/):
inputs a user may hand edgeplay by mistake. tests/malformed.rs runs each through
the command line and checks the message expected.toml gives for it. Rerun after
changing this file."""
import base64, gzip, io, json, os, random, tarfile, zlib

here = os.path.dirname(os.path.abspath(__file__))


def write(path, data):
    p = os.path.join(here, path)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


# --- wasm, hand-assembled --------------------------------------------------------
def leb(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def vec(items):
    return leb(len(items)) + b"".join(items)


def name(s):
    s = s if isinstance(s, bytes) else s.encode()
    return leb(len(s)) + s


def section(sid, body):
    return bytes([sid]) + leb(len(body)) + body


HEADER = b"\0asm\1\0\0\0"
FUNC_VOID = b"\x60\x00\x00"  # () -> ()


def module(*sections):
    return HEADER + b"".join(sections)


def types(*t):
    return section(1, vec(list(t)))


def funcs(*idx):
    return section(3, vec([leb(i) for i in idx]))


def export(n, kind, idx):
    return section(7, vec([name(n) + bytes([kind]) + leb(idx)]))


def code(*bodies):
    return section(10, vec([leb(len(b)) + b for b in bodies]))


def memory(min_pages, max_pages=None, flags=None):
    if max_pages is None:
        lim = b"\x00" + leb(min_pages)
    else:
        lim = bytes([flags if flags is not None else 1]) + leb(min_pages) + leb(max_pages)
    return section(5, vec([lim]))


def imports(*entries):
    return section(2, vec([name(m) + name(n) + b"\x00" + leb(t) for m, n, t in entries]))


EMPTY_BODY = b"\x00\x0b"  # no locals, end
start_guest = module(types(FUNC_VOID), funcs(0), export("_start", 0, 0), code(EMPTY_BODY))

write("wasm/empty.wasm", b"")
write("wasm/text-file.wasm", "hello, this is not a module\n")
write("wasm/html-page.wasm", "<!doctype html><title>404 Not Found</title>\n")
write("wasm/magic-only.wasm", b"\0asm")
write("wasm/version-2.wasm", b"\0asm\2\0\0\0")
write("wasm/component.wasm", b"\0asm\x0d\0\x01\0" + section(0, name("component-type")))
write("wasm/truncated-section.wasm", HEADER + b"\x01\x0a\x01\x60")
write("wasm/truncated-guest.wasm", start_guest[:-3])
write("wasm/unknown-section.wasm", HEADER + section(0x42, b"\0\0"))
write("wasm/section-out-of-order.wasm", module(funcs(0), types(FUNC_VOID), export("_start", 0, 0), code(EMPTY_BODY)))
write("wasm/bad-utf8-export.wasm", module(types(FUNC_VOID), funcs(0), export(b"_st\xffrt", 0, 0), code(EMPTY_BODY)))
# i32.add on an empty stack.
write("wasm/type-mismatch.wasm", module(types(FUNC_VOID), funcs(0), export("_start", 0, 0), code(b"\x00\x6a\x0b")))
write("wasm/function-without-body.wasm", module(types(FUNC_VOID), funcs(0), export("_start", 0, 0)))
# A shared memory (the threads proposal).
write("wasm/shared-memory.wasm", module(types(FUNC_VOID), funcs(0), memory(1, 1, flags=3), export("_start", 0, 0), code(EMPTY_BODY)))
# Valid modules that are not Compute programs.
write("wasm/no-start.wasm", module(types(FUNC_VOID), funcs(0), export("main", 0, 0), code(EMPTY_BODY)))
write("wasm/empty-module.wasm", HEADER)
write("wasm/start-is-memory.wasm", module(memory(1), export("_start", 2, 0)))
# A _start that takes parameters.
write("wasm/start-with-params.wasm", module(types(b"\x60\x01\x7f\x00"), funcs(0), export("_start", 0, 0), code(EMPTY_BODY)))
# Imports fastly_http_body::new with the wrong signature: () -> ().
write("wasm/wrong-import-signature.wasm", module(types(FUNC_VOID), imports(("fastly_http_body", "new", 0)), funcs(0), export("_start", 0, 0), code(EMPTY_BODY)))
# Calls an import no Compute platform has.
write("wasm/unknown-import-called.wasm", module(types(FUNC_VOID), imports(("env", "launch_rockets", 0)), funcs(0), export("_start", 0, 1), code(b"\x00\x10\x00\x0b")))
# _start traps at once.
write("wasm/start-traps.wasm", module(types(FUNC_VOID), funcs(0), export("_start", 0, 0), code(b"\x00\x00\x0b")))
# 2 GiB of memory at instantiation: over the heap limit.
write("wasm/huge-memory.wasm", module(types(FUNC_VOID), funcs(0), memory(32768), export("_start", 0, 0), code(EMPTY_BODY)))
# A data segment past the end of its memory.
write("wasm/data-out-of-bounds.wasm", module(types(FUNC_VOID), funcs(0), memory(1), export("_start", 0, 0), code(EMPTY_BODY),
      section(11, vec([b"\x00\x41" + leb(70000) + b"\x0b" + name(b"xyz")]))))
write("wasm/bad-text.wasm", "(module (func (export \"_start\") (i32.frobnicate)))\n")

# --- fastly.toml ----------------------------------------------------------------
configs = {
    "not-toml.toml": "name = \"app\"\nthis is not toml\n",
    "unclosed-table.toml": "[local_server\nbackends = 1\n",
    "newer-manifest.toml": "manifest_version = 99\n",
    "local-server-not-table.toml": "local_server = \"yes\"\n",
    "backend-without-url.toml": "[local_server.backends.origin]\noverride_host = \"example.com\"\n",
    "backend-bad-url.toml": "[local_server.backends.origin]\nurl = \"ftp://example.com/\"\n",
    "backend-url-not-string.toml": "[local_server.backends.origin]\nurl = 8080\n",
    "kv-missing-file.toml": "[local_server.kv_stores]\nstore = { file = \"no-such-kv.json\", format = \"json\" }\n",
    "kv-bad-entry.toml": "[local_server.kv_stores]\nstore = [{ data = \"no key\" }]\n",
    "config-store-not-table.toml": "[local_server.config_stores]\nsettings = 5\n",
    "config-store-bad-format.toml": "[local_server.config_stores.settings]\nformat = \"yaml\"\ncontents = { a = \"b\" }\n",
    "acl-bad-prefix.toml": "[local_server.acls]\nblocklist = { entries = [{ prefix = \"300.1.2.3/8\", action = \"BLOCK\" }] }\n",
    "geo-bad-address.toml": "[local_server.geolocation]\nformat = \"inline-toml\"\n[local_server.geolocation.addresses.\"not-an-ip\"]\ncity = \"x\"\n",
    "secret-store-bad-entry.toml": "[local_server.secret_stores]\nvault = [{ key = \"k\" }]\n",
}
for n, text in configs.items():
    write("config/" + n, text)
write("config/not-utf8.toml", b"name = \"\xff\xfe\"\n")


# --- links ----------------------------------------------------------------------
def link(payload_bytes, raw=False):
    if raw:
        data = payload_bytes
    else:
        c = zlib.compressobj(9, zlib.DEFLATED, -15)
        data = c.compress(payload_bytes) + c.flush()
    return "https://play.test/#f=" + base64.urlsafe_b64encode(data).rstrip(b"=").decode() + "\n"


good = {"version": 1, "guest": {"kind": "example", "name": "hello"}, "fastly_toml": "",
        "requests": [{"path": "/", "assertions": "clientFetch.status is 200"}]}
good_link = link(json.dumps(good).encode())
write("link/not-base64.txt", "https://play.test/#f=%%%not*base64\n")
write("link/truncated.txt", good_link[: len(good_link) // 2] + "\n")
write("link/no-fiddle.txt", "https://play.test/#tab=trace\n")
write("link/not-deflate.txt", link(b"\xff\xfe\xfd plain bytes, not deflate", raw=True))
write("link/not-json.txt", link(b"hello, world"))
write("link/json-not-object.txt", link(b"[1, 2, 3]"))
write("link/newer-version.txt", link(json.dumps(dict(good, version=9)).encode()))
write("link/unknown-example.txt", link(json.dumps(dict(good, guest={"kind": "example", "name": "nope"})).encode()))
write("link/hash-mismatch.txt", link(json.dumps(dict(good, guest={"kind": "inline", "wasm": "AGFzbQEAAAA=", "sha256": "00" * 32})).encode()))
write("link/bad-assertion.txt", link(json.dumps(dict(good, requests=[{"path": "/", "assertions": "clientFetch.status equals 200"}])).encode()))
write("link/inflates-too-large.txt", link(b" " * (17 << 20)))


# --- packages -------------------------------------------------------------------
def tar_of(files, fmt=tarfile.GNU_FORMAT):
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w", format=fmt) as t:
        for n, data in files:
            ti = tarfile.TarInfo(n)
            ti.size = len(data)
            ti.mode = 0o644
            t.addfile(ti, io.BytesIO(data))
    return b.getvalue()


def tgz(t):
    return gzip.compress(t, mtime=0)


# A guest with 4 KiB of incompressible bytes (a custom section), cut inside them.
noise = bytes(random.Random(1).getrandbits(8) for _ in range(4096))
noisy_guest = start_guest + section(0, name("noise") + noise)
truncated = tgz(tar_of([("app/bin/main.wasm", noisy_guest), ("app/fastly.toml", b"name = \"app\"\n")]))
write("package/truncated.tar.gz", truncated[: len(truncated) // 3])
write("package/not-a-tar.tar.gz", tgz(b"just some text, gzip'd, not a tar archive" * 20))
write("package/empty-archive.tar.gz", tgz(b"\0" * 1024))
write("package/no-main-wasm.tar.gz", tgz(tar_of([("app/fastly.toml", b"name = \"app\"\n"), ("app/src/main.rs", b"fn main() {}\n")])))
write("package/path-traversal.tar.gz", tgz(tar_of([("../bin/main.wasm", start_guest), ("app/fastly.toml", b"name = \"app\"\n")])))
write("package/absolute-path.tar.gz", tgz(tar_of([("/app/bin/main.wasm", start_guest)])))
write("package/toml-not-utf8.tar.gz", tgz(tar_of([("app/bin/main.wasm", start_guest), ("app/fastly.toml", b"name = \"\xff\"\n")])))
write("package/main-wasm-not-wasm.tar.gz", tgz(tar_of([("app/bin/main.wasm", b"#!/bin/sh\necho hi\n")])))
# An entry whose header claims 65 MiB (over the 64 MiB an entry may have); no data follows.
big = tarfile.TarInfo("app/bin/main.wasm")
big.size = 65 << 20
big.mode = 0o644
write("package/oversized-entry.tar.gz", tgz(big.tobuf(tarfile.GNU_FORMAT)))
