//! Backends the way real origins are: TLS options (`ca_cert`, a client certificate,
//! `cert_hostname`, `sni_hostname`, the version range) and gRPC's HTTP/2, applied by
//! the native client against local origins on 127.0.0.1 whose certificates come from
//! a CA made at test time. First the fetch client alone, then the same options
//! through a guest (`edgeplay request`).

use edgeplay_cli::fetch::fetch;
use edgeplay_host::{
    ConnectOptions, FetchError, FetchErrorKind, FetchRequest, FetchResponse, WorkResult,
};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// A safety net so a broken fetch fails the test instead of hanging it.
const HANG: Duration = Duration::from_secs(60);

/// A certificate authority made for one test.
struct Ca {
    pem: String,
    cert: rcgen::Certificate,
    key: KeyPair,
}

/// A certificate and its key, in PEM.
struct Leaf {
    cert: String,
    key: String,
}

fn ca(name: &str) -> Ca {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name.push(DnType::CommonName, name);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let key = KeyPair::generate().unwrap();
    let cert = p.self_signed(&key).unwrap();
    Ca {
        pem: cert.pem(),
        cert,
        key,
    }
}

/// A certificate for `names` (DNS names or IP addresses) signed by `ca`.
fn leaf(ca: &Ca, names: &[&str], purpose: ExtendedKeyUsagePurpose) -> Leaf {
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let mut p = CertificateParams::new(names).unwrap();
    p.distinguished_name
        .push(DnType::CommonName, "edgeplay test");
    p.extended_key_usages = vec![purpose];
    let key = KeyPair::generate().unwrap();
    let cert = p.signed_by(&key, &ca.cert, &ca.key).unwrap();
    Leaf {
        cert: cert.pem(),
        key: key.serialize_pem(),
    }
}

fn server_leaf(ca: &Ca, names: &[&str]) -> Leaf {
    leaf(ca, names, ExtendedKeyUsagePurpose::ServerAuth)
}

fn client_leaf(ca: &Ca) -> Leaf {
    leaf(ca, &["client.test"], ExtendedKeyUsagePurpose::ClientAuth)
}

/// How a test origin is set up.
struct Origin {
    /// Its certificate; `None`: plain TCP (h2c or HTTP/1.1).
    cert: Option<Leaf>,
    /// Client certificates it requires, verified against this CA.
    client_ca: Option<String>,
    /// TLS versions it speaks.
    versions: &'static [&'static rustls::SupportedProtocolVersion],
}

impl Origin {
    fn tls(cert: Leaf) -> Origin {
        Origin {
            cert: Some(cert),
            client_ca: None,
            versions: rustls::ALL_VERSIONS,
        }
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Start `o` on 127.0.0.1. It answers every request 200 with a body that tells what
/// it saw: `version=HTTP/2.0 sni=NAME alpn=h2 tls=TLSv1_3 client_cert=yes` (`-` for
/// none). HTTP/1.1 and HTTP/2 (ALPN `h2`, or prior knowledge over plain TCP) alike.
async fn start(o: Origin) -> SocketAddr {
    let acceptor = o.cert.map(|leaf| {
        let chain = vec![CertificateDer::from_pem_slice(leaf.cert.as_bytes()).unwrap()];
        let key = PrivateKeyDer::from_pem_slice(leaf.key.as_bytes()).unwrap();
        let builder = rustls::ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(o.versions)
            .unwrap();
        let builder = match &o.client_ca {
            Some(pem) => {
                let mut roots = rustls::RootCertStore::empty();
                roots
                    .add(CertificateDer::from_pem_slice(pem.as_bytes()).unwrap())
                    .unwrap();
                let v = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider(),
                )
                .build()
                .unwrap();
                builder.with_client_cert_verifier(v)
            }
            None => builder.with_no_client_auth(),
        };
        let mut config = builder.with_single_cert(chain, key).unwrap();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        TlsAcceptor::from(Arc::new(config))
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                match acceptor {
                    None => serve(tcp, "sni=- alpn=- tls=- client_cert=-".into()).await,
                    Some(a) => {
                        let Ok(tls) = a.accept(tcp).await else {
                            return;
                        };
                        let c = tls.get_ref().1;
                        let seen = format!(
                            "sni={} alpn={} tls={} client_cert={}",
                            c.server_name().unwrap_or("-"),
                            c.alpn_protocol()
                                .map(|p| String::from_utf8_lossy(p).into_owned())
                                .unwrap_or_else(|| "-".into()),
                            c.protocol_version()
                                .map(|v| format!("{v:?}"))
                                .unwrap_or_else(|| "-".into()),
                            if c.peer_certificates().is_some() {
                                "yes"
                            } else {
                                "-"
                            },
                        );
                        serve(tls, seen).await
                    }
                }
            });
        }
    });
    addr
}

async fn serve<S>(io: S, seen: String)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
        let body = format!("version={:?} {seen}", req.version());
        async move { Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from(body)))) }
    });
    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
        .serve_connection(TokioIo::new(io), svc)
        .await;
}

fn get(url: String, connect: Option<ConnectOptions>) -> FetchRequest {
    FetchRequest {
        connect: connect.map(Box::new),
        ..FetchRequest::get("origin", &url)
    }
}

async fn run(req: FetchRequest) -> WorkResult {
    tokio::time::timeout(HANG, fetch(req))
        .await
        .expect("the fetch ended")
}

async fn ok(req: FetchRequest) -> FetchResponse {
    match run(req).await {
        WorkResult::Fetched(r) => *r,
        other => panic!("expected a response, got {other:?}"),
    }
}

async fn seen(req: FetchRequest) -> String {
    let r = ok(req).await;
    assert_eq!(r.status, 200);
    String::from_utf8(r.body).unwrap()
}

async fn failed(req: FetchRequest) -> FetchError {
    match run(req).await {
        WorkResult::FetchFailed(e) => e,
        other => panic!("expected a failure, got {other:?}"),
    }
}

fn trusting(ca: &Ca) -> ConnectOptions {
    ConnectOptions {
        ca_cert: Some(ca.pem.clone()),
        ..ConnectOptions::default()
    }
}

#[tokio::test]
async fn ca_cert_is_the_trust_root_where_the_default_roots_fail() {
    let ca = ca("test CA");
    let addr = start(Origin::tls(server_leaf(&ca, &["127.0.0.1"]))).await;
    let url = format!("https://{addr}/");

    let e = failed(get(url.clone(), None)).await;
    assert_eq!(e.kind, FetchErrorKind::TlsCertificateError, "{e:?}");
    assert!(e.message.contains("UnknownIssuer"), "{}", e.message);

    let body = seen(get(url.clone(), Some(trusting(&ca)))).await;
    assert!(body.starts_with("version=HTTP/1.1 "), "{body}");

    // A different CA is no trust root for this origin.
    let other = ca_other();
    let e = failed(get(url.clone(), Some(trusting(&other)))).await;
    assert_eq!(e.kind, FetchErrorKind::TlsCertificateError, "{e:?}");

    // A CA certificate that is not PEM is a configuration error, named as such.
    let bad = ConnectOptions {
        ca_cert: Some("not a certificate".into()),
        ..ConnectOptions::default()
    };
    let e = failed(get(url, Some(bad))).await;
    assert_eq!(e.kind, FetchErrorKind::TlsConfigurationError, "{e:?}");
    assert!(
        e.message.contains("ca_cert holds no PEM certificate"),
        "{}",
        e.message
    );
}

fn ca_other() -> Ca {
    ca("another CA")
}

#[tokio::test]
async fn cert_host_is_the_name_checked_and_the_default_sni() {
    let ca = ca("test CA");
    let addr = start(Origin::tls(server_leaf(&ca, &["origin.test"]))).await;
    let url = format!("https://{addr}/");

    // Checked against the URL's host (an IP the certificate does not name): refused.
    let e = failed(get(url.clone(), Some(trusting(&ca)))).await;
    assert_eq!(e.kind, FetchErrorKind::TlsCertificateError, "{e:?}");
    assert!(e.message.contains("not valid for name"), "{}", e.message);

    let with = |host: &str| ConnectOptions {
        cert_host: Some(host.into()),
        ..trusting(&ca)
    };
    let body = seen(get(url.clone(), Some(with("origin.test")))).await;
    assert!(
        body.contains("sni=origin.test "),
        "SNI defaults to cert_host: {body}"
    );

    let e = failed(get(url, Some(with("elsewhere.test")))).await;
    assert_eq!(e.kind, FetchErrorKind::TlsCertificateError, "{e:?}");
    assert!(e.message.contains("not valid for name"), "{}", e.message);
}

#[tokio::test]
async fn the_origin_sees_sni_hostname_or_no_sni() {
    let ca = ca("test CA");
    let addr = start(Origin::tls(server_leaf(&ca, &["origin.test"]))).await;
    let url = format!("https://{addr}/");
    let base = ConnectOptions {
        cert_host: Some("origin.test".into()),
        ..trusting(&ca)
    };

    let body = seen(get(
        url.clone(),
        Some(ConnectOptions {
            sni_hostname: Some("sni.example".into()),
            ..base.clone()
        }),
    ))
    .await;
    assert!(
        body.contains("sni=sni.example "),
        "the SNI is sni_hostname while the certificate is checked for cert_host: {body}"
    );

    let body = seen(get(
        url,
        Some(ConnectOptions {
            no_sni: true,
            ..base
        }),
    ))
    .await;
    assert!(body.contains("sni=- "), "no SNI: {body}");
}

#[tokio::test]
async fn a_client_certificate_the_origin_requires_is_presented() {
    let ca = ca("test CA");
    let client_ca = self::ca("client CA");
    let addr = start(Origin {
        client_ca: Some(client_ca.pem.clone()),
        ..Origin::tls(server_leaf(&ca, &["127.0.0.1"]))
    })
    .await;
    let url = format!("https://{addr}/");
    let with_cert = |leaf: &Leaf| ConnectOptions {
        client_cert: Some(leaf.cert.clone()),
        client_key: Some(leaf.key.clone()),
        ..trusting(&ca)
    };

    let body = seen(get(url.clone(), Some(with_cert(&client_leaf(&client_ca))))).await;
    assert!(body.contains("client_cert=yes"), "{body}");

    let e = failed(get(url.clone(), Some(trusting(&ca)))).await;
    assert_eq!(e.kind, FetchErrorKind::TlsAlertReceived, "{e:?}");
    assert!(e.message.contains("CertificateRequired"), "{}", e.message);

    // A certificate from a CA the origin does not trust is refused as well.
    let stranger = self::ca("stranger CA");
    let e = failed(get(url.clone(), Some(with_cert(&client_leaf(&stranger))))).await;
    assert_eq!(e.kind, FetchErrorKind::TlsAlertReceived, "{e:?}");

    // A key that is not PEM is a configuration error.
    let bad = ConnectOptions {
        client_key: Some("not a key".into()),
        ..with_cert(&client_leaf(&client_ca))
    };
    let e = failed(get(url, Some(bad))).await;
    assert_eq!(e.kind, FetchErrorKind::TlsConfigurationError, "{e:?}");
    assert!(e.message.contains("client key"), "{}", e.message);
}

#[tokio::test]
async fn the_tls_version_range_is_what_the_client_offers() {
    let ca = ca("test CA");
    let only = |v: &'static [&'static rustls::SupportedProtocolVersion]| Origin {
        versions: v,
        ..Origin::tls(server_leaf(&ca, &["127.0.0.1"]))
    };
    static TLS12: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS12];
    static TLS13: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13];
    let tls12 = format!("https://{}/", start(only(TLS12)).await);
    let tls13 = format!("https://{}/", start(only(TLS13)).await);
    let range = |min: Option<u32>, max: Option<u32>| ConnectOptions {
        min_version: min,
        max_version: max,
        ..trusting(&ca)
    };

    // Defaults: whatever the origin speaks.
    assert!(seen(get(tls12.clone(), Some(range(None, None))))
        .await
        .contains("tls=TLSv1_2"));
    assert!(seen(get(tls13.clone(), Some(range(None, None))))
        .await
        .contains("tls=TLSv1_3"));
    // A minimum of TLS 1.0 reads as 1.2 (rustls has nothing older).
    let body = seen(get(tls12.clone(), Some(range(Some(0), Some(2))))).await;
    assert!(body.contains("tls=TLSv1_2"), "{body}");

    // min 1.3 against a 1.2-only origin; max 1.2 against a 1.3-only one.
    let e = failed(get(tls12, Some(range(Some(3), None)))).await;
    assert_eq!(e.kind, FetchErrorKind::TlsAlertReceived, "{e:?}");
    assert!(e.message.contains("ProtocolVersion"), "{}", e.message);
    let e = failed(get(tls13.clone(), Some(range(None, Some(2))))).await;
    assert_eq!(e.kind, FetchErrorKind::TlsAlertReceived, "{e:?}");
    assert!(e.message.contains("ProtocolVersion"), "{}", e.message);

    // A maximum below 1.2 cannot be met: a clear configuration error.
    let e = failed(get(tls13.clone(), Some(range(None, Some(1))))).await;
    assert_eq!(e.kind, FetchErrorKind::TlsConfigurationError, "{e:?}");
    assert!(
        e.message
            .contains("ssl_max_version TLS 1.1 is not available")
            && e.message.contains("TLS 1.2 and 1.3 only"),
        "{}",
        e.message
    );
    let e = failed(get(tls13, Some(range(Some(3), Some(2))))).await;
    assert_eq!(e.kind, FetchErrorKind::TlsConfigurationError, "{e:?}");
}

#[tokio::test]
async fn a_grpc_backend_speaks_http2_and_others_http1() {
    let ca = ca("test CA");
    let tls = format!(
        "https://{}/",
        start(Origin::tls(server_leaf(&ca, &["127.0.0.1"]))).await
    );
    let plain = format!(
        "http://{}/",
        start(Origin {
            cert: None,
            client_ca: None,
            versions: rustls::ALL_VERSIONS,
        })
        .await
    );
    let grpc = |tls: bool| ConnectOptions {
        grpc: true,
        ca_cert: tls.then(|| ca.pem.clone()),
        ..ConnectOptions::default()
    };

    let body = seen(get(tls.clone(), Some(grpc(true)))).await;
    assert!(
        body.starts_with("version=HTTP/2.0 ") && body.contains("alpn=h2"),
        "{body}"
    );
    let body = seen(get(plain.clone(), Some(grpc(false)))).await;
    assert!(
        body.starts_with("version=HTTP/2.0 "),
        "h2c with prior knowledge: {body}"
    );

    let body = seen(get(tls, Some(trusting(&ca)))).await;
    assert!(
        body.starts_with("version=HTTP/1.1 ") && body.contains("alpn=-"),
        "{body}"
    );
    let body = seen(get(plain, None)).await;
    assert!(body.starts_with("version=HTTP/1.1 "), "{body}");
}

// ---- Through a guest -------------------------------------------------------------

const EDGEPLAY: &str = env!("CARGO_BIN_EXE_edgeplay");

fn temp_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("edgeplay-tls-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A WAT string literal of `s`.
fn wat_string(s: &str) -> String {
    s.bytes().map(|b| format!("\\{b:02x}")).collect()
}

/// A guest that registers the dynamic backend `dyn` to `target` with `use_ssl`,
/// `ssl_min_version` 1.2, `cert_hostname` `origin.test`, `ca_cert` (PEM),
/// `sni_hostname` `sni.example` and `grpc`, sends a GET to it and answers with the
/// origin's response (or 502 when the registration or the send fails). With
/// `client`, also `client_cert`, its key a secret made with `from_bytes`.
fn dynamic_backend_wat(target: &str, ca_pem: &str, client: Option<&Leaf>) -> String {
    let use_ssl = 1 << 5;
    let ssl_min = 1 << 6;
    let cert_hostname = 1 << 8;
    let ca_cert = 1 << 9;
    let sni = 1 << 11;
    let grpc = 1 << 14;
    let client_cert = if client.is_some() { 1 << 13 } else { 0 };
    let mask = use_ssl | ssl_min | cert_hostname | ca_cert | sni | grpc | client_cert;
    let (cert, key) = client.map_or((String::new(), String::new()), |l| {
        (l.cert.clone(), l.key.clone())
    });
    format!(
        r#"(module
  (import "fastly_http_req" "register_dynamic_backend" (func $register (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_http_req" "new" (func $req_new (param i32) (result i32)))
  (import "fastly_http_req" "send" (func $send (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_http_body" "new" (func $body_new (param i32) (result i32)))
  (import "fastly_http_resp" "new" (func $resp_new (param i32) (result i32)))
  (import "fastly_http_resp" "status_set" (func $status_set (param i32 i32) (result i32)))
  (import "fastly_http_resp" "send_downstream" (func $send_downstream (param i32 i32 i32) (result i32)))
  (import "fastly_secret_store" "from_bytes" (func $secret_from_bytes (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "dyn")
  (data (i32.const 8192) "{cert}")
  (data (i32.const 12288) "{key}")
  (data (i32.const 80) "{target}")
  (data (i32.const 128) "origin.test")
  (data (i32.const 144) "sni.example")
  (data (i32.const 4096) "{pem}")
  (func $fail
    (drop (call $resp_new (i32.const 0)))
    (drop (call $status_set (i32.load (i32.const 0)) (i32.const 502)))
    (drop (call $body_new (i32.const 4)))
    (drop (call $send_downstream (i32.load (i32.const 0)) (i32.load (i32.const 4)) (i32.const 0))))
  (func (export "_start")
    ;; dynamic_backend_config at 2048
    (i32.store (i32.const 2068) (i32.const 2))          ;; ssl_min_version TLS 1.2
    (i32.store (i32.const 2076) (i32.const 128))        ;; cert_hostname
    (i32.store (i32.const 2080) (i32.const 11))
    (i32.store (i32.const 2084) (i32.const 4096))       ;; ca_cert
    (i32.store (i32.const 2088) (i32.const {pem_len}))
    (i32.store (i32.const 2100) (i32.const 144))        ;; sni_hostname
    (i32.store (i32.const 2104) (i32.const 11))
    (i32.store (i32.const 2108) (i32.const 8192))       ;; client_cert
    (i32.store (i32.const 2112) (i32.const {cert_len}))
    (if (i32.const {key_len})
      (then
        (drop (call $secret_from_bytes (i32.const 12288) (i32.const {key_len}) (i32.const 32)))
        (i32.store (i32.const 2116) (i32.load (i32.const 32)))))  ;; client_key
    (if (call $register (i32.const 64) (i32.const 3) (i32.const 80) (i32.const {target_len})
          (i32.const {mask}) (i32.const 2048))
      (then (call $fail) (return)))
    (drop (call $req_new (i32.const 16)))
    (drop (call $body_new (i32.const 20)))
    (if (call $send (i32.load (i32.const 16)) (i32.load (i32.const 20))
          (i32.const 64) (i32.const 3) (i32.const 24) (i32.const 28))
      (then (call $fail) (return)))
    (drop (call $send_downstream (i32.load (i32.const 24)) (i32.load (i32.const 28)) (i32.const 0))))
)"#,
        target_len = target.len(),
        pem = wat_string(ca_pem),
        pem_len = ca_pem.len(),
        cert_len = cert.len(),
        key_len = key.len(),
        cert = wat_string(&cert),
        key = wat_string(&key),
    )
}

/// `edgeplay request --json` of `wasm` (with `fastly.toml` when given), off the
/// runtime's threads so the origin keeps serving.
async fn request_json(
    wasm: std::path::PathBuf,
    toml: Option<std::path::PathBuf>,
) -> serde_json::Value {
    let out = tokio::task::spawn_blocking(move || {
        let mut cmd = std::process::Command::new(EDGEPLAY);
        cmd.arg("request").arg("--json");
        if let Some(t) = &toml {
            cmd.arg("-C").arg(t);
        }
        cmd.arg(&wasm).arg("/").stdin(std::process::Stdio::null());
        cmd.output().expect("the edgeplay binary runs")
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guests_dynamic_backend_uses_its_tls_options_and_grpc() {
    let ca = ca("test CA");
    let addr = start(Origin::tls(server_leaf(&ca, &["origin.test"]))).await;
    let dir = temp_dir("dynamic");
    let wasm = dir.join("dyn.wasm");
    std::fs::write(
        &wasm,
        wat::parse_str(dynamic_backend_wat(&addr.to_string(), &ca.pem, None)).unwrap(),
    )
    .unwrap();
    let v = request_json(wasm, None).await;
    assert_eq!(v["status"], 200, "{v}");
    let body = v["body"].as_str().unwrap();
    assert!(
        body.starts_with("version=HTTP/2.0 sni=sni.example alpn=h2 tls=TLSv1_3"),
        "the origin saw: {body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guests_dynamic_backend_presents_its_client_certificate() {
    let ca = ca("test CA");
    let client_ca = self::ca("client CA");
    let addr = start(Origin {
        client_ca: Some(client_ca.pem.clone()),
        ..Origin::tls(server_leaf(&ca, &["origin.test"]))
    })
    .await;
    let dir = temp_dir("client-cert");
    let wat = |client: Option<&Leaf>| {
        wat::parse_str(dynamic_backend_wat(&addr.to_string(), &ca.pem, client)).unwrap()
    };
    let with = dir.join("with.wasm");
    std::fs::write(&with, wat(Some(&client_leaf(&client_ca)))).unwrap();
    let v = request_json(with, None).await;
    assert_eq!(v["status"], 200, "{v}");
    let body = v["body"].as_str().unwrap();
    assert!(body.ends_with("client_cert=yes"), "the origin saw: {body}");

    // Without it the origin refuses the handshake: the send fails (the guest's 502).
    let without = dir.join("without.wasm");
    std::fs::write(&without, wat(None)).unwrap();
    let v = request_json(without, None).await;
    assert_eq!(v["status"], 502, "{v}");
    // Under TLS 1.3 the origin's refusal comes after the client's side of the
    // handshake: the send sees the alert, or (when the request was already being
    // written) the connection closing under it.
    let trace = v["trace"].to_string();
    assert!(
        trace.contains("tls_alert_received") || trace.contains("connection_terminated"),
        "the backend fetch's trace event names the failure: {v}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_static_backend_takes_ca_certificate_cert_host_and_grpc_from_fastly_toml() {
    let ca = ca("test CA");
    let addr = start(Origin::tls(server_leaf(&ca, &["origin.test"]))).await;
    let dir = temp_dir("static");
    let toml = dir.join("fastly.toml");
    std::fs::write(
        &toml,
        format!(
            "[local_server.backends.origin]\nurl = \"https://{addr}\"\n\
             cert_host = \"origin.test\"\ngrpc = true\nca_certificate = '''\n{}'''\n",
            ca.pem
        ),
    )
    .unwrap();
    // Forwards the client request to backend `origin` and relays the answer.
    let wat = r#"(module
  (import "fastly_http_req" "body_downstream_get" (func $downstream (param i32 i32) (result i32)))
  (import "fastly_http_req" "send" (func $send (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_http_resp" "send_downstream" (func $send_downstream (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "origin")
  (func (export "_start")
    (drop (call $downstream (i32.const 0) (i32.const 4)))
    (drop (call $send (i32.load (i32.const 0)) (i32.load (i32.const 4))
      (i32.const 64) (i32.const 6) (i32.const 8) (i32.const 12)))
    (drop (call $send_downstream (i32.load (i32.const 8)) (i32.load (i32.const 12)) (i32.const 0))))
)"#;
    let wasm = dir.join("proxy.wasm");
    std::fs::write(&wasm, wat::parse_str(wat).unwrap()).unwrap();
    let v = request_json(wasm, Some(toml)).await;
    assert_eq!(v["status"], 200, "{v}");
    let body = v["body"].as_str().unwrap();
    assert!(
        body.starts_with("version=HTTP/2.0 sni=origin.test alpn=h2"),
        "the origin saw: {body}"
    );
}
