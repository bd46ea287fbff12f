#!/usr/bin/env python3
"""Write the fuzz targets' checked-in seeds (fuzz/seeds/TARGET/*): real inputs of
each kind. Rerun after changing it; scripts/fuzz.sh adds the built test guests to
the loader's seeds."""
import base64, glob, io, json, os, re, tarfile, zlib, gzip

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(os.path.dirname(here))


def write(target, name, data):
    d = os.path.join(here, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


# config: every inline fastly.toml of the tests that has a [local_server] part, and the cards'.
n = 0
for path in sorted(glob.glob(os.path.join(root, "crates/host/tests/*.rs")) + glob.glob(os.path.join(root, "tests/*.rs"))):
    text = open(path, encoding="utf-8").read()
    for m in re.finditer(r'r#"(.*?)"#', text, re.S):
        body = m.group(1)
        if "local_server" in body and "(module" not in body and "{}" not in body:
            write("config", f"test-{n:03}.toml", body)
            n += 1
write("config", "cards.toml", open(os.path.join(root, "crates/host/cards/fastly.toml")).read())
write("config", "files.toml", '[local_server.kv_stores]\nkv = { file = "kv.json", format = "json" }\n\0{"a": "b", "c": {"data": "d", "metadata": "m"}}')

# link: mode 0 (link text), 1 (deflated into a link here), 2 (fiddle JSON).
fiddles = [
    {"version": 1, "guest": {"kind": "example", "name": "hello"}, "fastly_toml": "", "requests": [{"path": "/", "assertions": "clientFetch.status is 200"}]},
    {"version": 1, "title": "t", "guest": {"kind": "inline", "wasm": "AGFzbQEAAAA=", "sha256": "93a44bbb96c751218e4c00d479e4c14358122a389acca16205b1e4d0dc5f9476"},
     "fastly_toml": "[local_server]\n", "requests": [{"method": "POST", "path": "/a?b=1", "headers": [["x", "y"]], "body": "hi",
     "assertions": "clientFetch.status is 200\nclientFetch.body includes \"hi\"\nclientFetch.headers.x matches \"^y\"", "delay_ms": 5, "fresh_cache": True}]},
    {"version": 1, "guest": {"kind": "source", "language": "javascript", "text": "addEventListener('fetch', e => e.respondWith(new Response('x')))", "dependencies": {"lodash-es": "^4.17.21"}}},
    {"version": 1, "guest": {"kind": "url", "url": "https://example.com/a.wasm", "sha256": "00" * 32}},
]
for i, f in enumerate(fiddles):
    js = json.dumps(f, separators=(",", ":")).encode()
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    payload = base64.urlsafe_b64encode(c.compress(js) + c.flush()).rstrip(b"=")
    write("link", f"url-{i}", b"\0https://play.test/#f=" + payload + b"&embed")
    write("link", f"json-deflated-{i}", b"\1" + js)
    write("link", f"json-{i}", b"\2" + js)


# package: mode 1 (a .tar.gz as it is), 0 (a tar, gzip'd by the target).
def tar_of(files):
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w", format=tarfile.GNU_FORMAT) as t:
        for name, data in files:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mode = 0o644
            t.addfile(ti, io.BytesIO(data))
    return b.getvalue()


wasm = b"\0asm\1\0\0\0"
pkgs = {
    "named": [("app/bin/main.wasm", wasm), ("app/fastly.toml", b'name = "app"\n')],
    "bare": [("bin/main.wasm", wasm)],
    "dot": [("./app/bin/main.wasm", wasm), ("./app/Cargo.toml", b"[package]\n")],
}
for name, files in pkgs.items():
    t = tar_of(files)
    write("package", f"tgz-{name}", b"\1" + gzip.compress(t, mtime=0))
    write("package", f"tar-{name}", b"\0" + t)

# serve: what a client sends on a connection.
reqs = {
    "get": b"GET /path?q=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: fuzz\r\n\r\n",
    "post": b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello",
    "chunked": b"PUT / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n",
    "pipelined": b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nHEAD /2 HTTP/1.1\r\nHost: a\r\n\r\nDELETE /3 HTTP/1.0\r\n\r\n",
    "absolute": b"GET http://other.test:8080/x?y HTTP/1.1\r\nHost: \r\nCookie: a=b\r\nCookie: c=d\r\n\r\n",
    "options": b"OPTIONS * HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok",
    "h2c": b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\4\0\0\0\0\0",
    "upgrade": b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n",
}
for name, data in reqs.items():
    write("serve", name, data)

# hostcalls: programs for the guest of fuzz/src/lib.rs. `OP BYTE` calls import
# ((OP-1)*256+BYTE) mod N; every call of an import in order, each argument mode 0/1/5.
def calls(first, count, mode):
    out = bytearray()
    for i in range(first, first + count):
        out += bytes([(i >> 8) + 1, i & 0xFF])
        out += bytes([mode, i & 15]) * 16
    return bytes(out)

for k, mode in enumerate([0, 1, 5, 2]):
    write("hostcalls", f"every-import-mode{mode}", calls(0, 400, mode))
# A poke of "origin" into scratch, then the first calls with name pointers.
write("hostcalls", "poke", bytes([0, 0, 0, 6]) + b"origin" + calls(0, 64, 2))
