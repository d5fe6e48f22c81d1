//! TLS termination against real TLS: an HTTPS origin on 127.0.0.1 with a
//! certificate of a CA made by the test, the proxy's interceptor trusting
//! that CA for upstreams, and a rustls client that trusts only the
//! interceptor's CA, so every handshake that succeeds proves termination.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use common::*;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use srt_policy::{DenyCode, NetDecision};
use srt_proxy::{Interceptor, StaticResolver, pem_certificates};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// A CA and an HTTPS origin on 127.0.0.1 whose leaf it signed; the origin
/// answers `secure origin saw <target> host=<Host>` with a `Set-Cookie`.
struct SecureOrigin {
    addr: SocketAddr,
    ca: CertificateDer<'static>,
    seen: Arc<Mutex<Vec<String>>>,
}

impl SecureOrigin {
    async fn start() -> SecureOrigin {
        let (ca, cfg) = loopback_tls();
        let acceptor = TlsAcceptor::from(cfg);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen: Arc<Mutex<Vec<String>>> = Default::default();
        let log = seen.clone();
        tokio::spawn(async move {
            while let Ok((s, _)) = listener.accept().await {
                let (acceptor, log) = (acceptor.clone(), log.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(s).await else { return };
                    let svc = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let log = log.clone();
                        async move {
                            let header = |n: &str| req.headers().get(n).map(|h| h.to_str().unwrap().to_string());
                            let (host, auth) = (header("host").unwrap_or_default(), header("authorization"));
                            let uri = req.uri().clone();
                            let mut line = match auth {
                                None => format!("secure origin saw {uri} host={host}"),
                                Some(a) => format!("secure origin saw {uri} host={host} auth={a}"),
                            };
                            use http_body_util::BodyExt;
                            let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                            if !body.is_empty() {
                                line.push_str(&format!(" body={}", String::from_utf8_lossy(&body)));
                            }
                            log.lock().unwrap().push(line.clone());
                            let resp = hyper::Response::builder()
                                .header("set-cookie", "session=secret")
                                .header("x-kept", "yes")
                                .body(http_body_util::Full::new(bytes::Bytes::from(line)))
                                .unwrap();
                            Ok::<_, std::convert::Infallible>(resp)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(tls), svc)
                        .await;
                });
            }
        });
        SecureOrigin { addr, ca, seen }
    }

    fn roots(&self) -> RootCertStore {
        let mut r = RootCertStore::empty();
        r.add(self.ca.clone()).unwrap();
        r
    }
}

/// A proxy for `settings` whose interceptor verifies upstreams with `roots`.
async fn proxy(settings: &str, roots: RootCertStore, max_tunnels: usize) -> (Proxy, Arc<Interceptor>) {
    let tls = Arc::new(Interceptor::new(None, roots, max_tunnels).unwrap());
    let t = tls.clone();
    let p = Proxy::start_tweaked(settings, StaticResolver::new(), 64, move |cfg| cfg.tls = Some(t)).await;
    (p, tls)
}

/// A client configuration that trusts only the certificates in `ca_pem`.
fn trusting(ca_pem: &str) -> ClientConfig {
    let mut roots = RootCertStore::empty();
    for c in pem_certificates(ca_pem) {
        roots.add(c).unwrap();
    }
    ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth()
}

/// CONNECT, then TLS trusting only `ca_pem`, then one request; returns the
/// response as text, or the TLS error.
async fn https_get(proxy: SocketAddr, target: SocketAddr, ca_pem: &str, request: &str) -> Result<String, String> {
    let (s, head) = connect(proxy, &target.to_string()).await;
    assert_eq!(head.status, 200, "{head:?}");
    let cfg = trusting(ca_pem);
    let name = ServerName::try_from(target.ip().to_string()).unwrap();
    let mut tls = within(TlsConnector::from(Arc::new(cfg)).connect(name, s)).await.map_err(|e| e.to_string())?;
    tls.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let _ = within(tls.read_to_end(&mut out)).await;
    Ok(dechunked(&String::from_utf8_lossy(&out)))
}

/// A response with a chunked body as head plus the body joined, so that
/// assertions see the body as one text whatever its framing.
fn dechunked(resp: &str) -> String {
    let Some((head, mut rest)) = resp.split_once("\r\n\r\n") else { return resp.to_string() };
    if !head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        return resp.to_string();
    }
    let mut body = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else { break };
        if n == 0 || after.len() < n {
            break;
        }
        body.push_str(&after[..n]);
        rest = after[n..].strip_prefix("\r\n").unwrap_or(&after[n..]);
    }
    format!("{head}\r\n\r\n{body}")
}

fn get(path: &str, host: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")
}

#[tokio::test]
async fn a_terminated_tunnel_reaches_the_verified_origin_with_the_rules_applied() {
    let origin = SecureOrigin::start().await;
    let target = origin.addr;
    let settings = format!(
        r#"{{"network": {{"allowedDomains": ["127.0.0.1:{}"], "tlsTerminate": {{}},
            "stripResponseHeaders": ["set-cookie"], "requireHostMatch": true}}}}"#,
        target.port()
    );
    let (mut p, tls) = proxy(&settings, origin.roots(), 8).await;

    let resp = https_get(p.http, target, tls.ca_pem(), &get("/inside?q=1", &target.to_string())).await.unwrap();
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp.contains(&format!("secure origin saw /inside?q=1 host={target}")), "{resp}");
    assert!(!resp.to_ascii_lowercase().contains("set-cookie"), "stripped inside the tunnel: {resp}");
    assert!(resp.to_ascii_lowercase().contains("x-kept: yes"), "{resp}");

    // requireHostMatch inside the tunnel: a Host for another site is a 421.
    let resp = https_get(p.http, target, tls.ca_pem(), &get("/", "elsewhere.example")).await.unwrap();
    assert!(resp.starts_with("HTTP/1.1 421"), "{resp}");
    let ev = loop {
        let ev = p.event().await;
        if !ev.decision.is_allowed() {
            break ev;
        }
    };
    assert!(matches!(ev.decision, NetDecision::Deny { code: DenyCode::Misdirected, .. }), "{ev:?}");
    assert_eq!(origin.seen.lock().unwrap().len(), 1, "the refused request never reached the origin");

    // A client that trusts only the origin's own CA refuses the minted leaf:
    // the proxy, not the origin, answered the handshake.
    let origin_pem =
        format!("-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n", base64_lines(origin.ca.as_ref()));
    let err = https_get(p.http, target, &origin_pem, &get("/", &target.to_string())).await.unwrap_err();
    assert!(err.to_lowercase().contains("certificate"), "{err}");
}

#[tokio::test]
async fn an_upstream_that_fails_verification_is_a_502_naming_tls() {
    let origin = SecureOrigin::start().await;
    let settings =
        format!(r#"{{"network": {{"allowedDomains": ["127.0.0.1:{}"], "tlsTerminate": {{}}}}}}"#, origin.addr.port());
    // The interceptor trusts nothing: the origin's certificate cannot verify.
    let (p, tls) = proxy(&settings, RootCertStore::empty(), 8).await;
    let resp = https_get(p.http, origin.addr, tls.ca_pem(), &get("/", &origin.addr.to_string())).await.unwrap();
    assert!(resp.starts_with("HTTP/1.1 502"), "{resp}");
    assert!(resp.contains("TLS to 127.0.0.1 failed"), "{resp}");
    assert!(origin.seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn opaque_tunnels_are_relayed_or_refused_and_tunnels_are_bounded() {
    let echo = echo_server("127.0.0.1:0").await.unwrap();
    let origin = SecureOrigin::start().await;
    let allow = format!(r#""allowedDomains": ["127.0.0.1:{}", "127.0.0.1:{}"]"#, echo.port(), origin.addr.port());

    // Not TLS: relayed as it is.
    let (p, _) =
        proxy(&format!(r#"{{"network": {{{allow}, "tlsTerminate": {{}}}}}}"#), RootCertStore::empty(), 8).await;
    let (mut s, head) = connect(p.http, &echo.to_string()).await;
    assert_eq!(head.status, 200);
    assert_eq!(echo_roundtrip(&mut s, b"SSH-2.0-plain bytes").await, b"SSH-2.0-plain bytes");

    // refuseOpaqueTunnels: closed after the first bytes, excluded hosts and
    // SOCKS5 refused at once.
    let settings = format!(
        r#"{{"network": {{{allow}, "refuseOpaqueTunnels": true,
            "tlsTerminate": {{"excludeDomains": ["127.0.0.1:{}"], "maxTunnels": 1}}}}}}"#,
        origin.addr.port()
    );
    let (mut p, _) = proxy(&settings, RootCertStore::empty(), 1).await;
    let (mut s, head) = connect(p.http, &echo.to_string()).await;
    assert_eq!(head.status, 200);
    s.write_all(b"SSH-2.0-plain bytes").await.unwrap();
    let mut back = Vec::new();
    let _ = within(s.read_to_end(&mut back)).await;
    assert!(back.is_empty(), "nothing relayed: {back:?}");
    let ev = p.event().await;
    assert!(matches!(ev.decision, NetDecision::Deny { code: DenyCode::OpaqueTunnel, .. }), "{ev:?}");
    let (_, head) = connect(p.http, &origin.addr.to_string()).await;
    assert_eq!((head.status, head.header("x-proxy-error")), (403, Some("blocked-by-sandbox-runtime")));
    let mut socks = TcpStream::connect(p.socks).await.unwrap();
    let mut req = vec![5, 1, 0, 5, 1, 0, 1, 127, 0, 0, 1];
    req.extend_from_slice(&echo.port().to_be_bytes());
    socks.write_all(&req).await.unwrap();
    let mut reply = [0u8; 12];
    within(socks.read_exact(&mut reply)).await.unwrap();
    assert_eq!(reply[3], 2, "SOCKS5 not allowed by ruleset: {reply:?}");

    // maxTunnels 1: a second terminated tunnel while one is open is a 503.
    let (_held, head) = connect(p.http, &echo.to_string()).await;
    assert_eq!(head.status, 200);
    let (_, head) = connect(p.http, &echo.to_string()).await;
    assert_eq!((head.status, head.header("x-proxy-error")), (503, Some("too-many-tunnels")));
}

/// Standard base64 in 64-column lines, for a PEM block in the test.
fn base64_lines(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            out.push(if i <= chunk.len() { A[(n >> (18 - 6 * i) & 63) as usize] as char } else { '=' });
        }
    }
    out.as_bytes().chunks(64).map(|l| String::from_utf8_lossy(l).into_owned()).collect::<Vec<_>>().join("\n")
}

#[tokio::test]
async fn masked_credentials_are_put_back_only_for_their_hosts() {
    let origin = SecureOrigin::start().await;
    let target = origin.addr;
    let settings =
        format!(r#"{{"network": {{"allowedDomains": ["127.0.0.1:{}"], "tlsTerminate": {{}}}}}}"#, target.port());
    let tls = Arc::new(Interceptor::new(None, origin.roots(), 8).unwrap());
    let pattern =
        |p: &str| srt_policy::domain::DomainPattern::parse(p, srt_policy::domain::PatternList::Allowed, false).unwrap();
    let sentinels = vec![
        srt_policy::Sentinel {
            name: "GH_TOKEN".into(),
            sentinel: "fake_value_0123456789abcdef".into(),
            real: "ghp_realsecret".into(),
            inject: vec![pattern("127.0.0.1")],
        },
        srt_policy::Sentinel {
            name: "OTHER_TOKEN".into(),
            sentinel: "fake_value_fedcba9876543210".into(),
            real: "never-here".into(),
            inject: vec![pattern("api.other.example")],
        },
    ];
    let t = tls.clone();
    let mut p = Proxy::start_tweaked(&settings, StaticResolver::new(), 64, move |cfg| {
        cfg.tls = Some(t);
        cfg.sentinels = Arc::new(sentinels);
    })
    .await;
    let request = |token: &str| {
        format!(
            "GET /api?key={token} HTTP/1.1\r\nHost: {target}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
        )
    };
    let resp = https_get(p.http, target, tls.ca_pem(), &request("fake_value_0123456789abcdef")).await.unwrap();
    let last = || origin.seen.lock().unwrap().last().cloned().unwrap_or_default();
    assert!(
        last().contains("saw /api?key=ghp_realsecret") && last().contains("auth=Bearer ghp_realsecret"),
        "{}",
        last()
    );
    // Red team: the origin echoes the request; what comes back has the
    // placeholder again, never the value.
    assert!(resp.contains("auth=Bearer fake_value_0123456789abcdef") && !resp.contains("ghp_realsecret"), "{resp}");
    p.no_more_events();
    // In the body too, across the client's writes, re-framed when the length changes.
    let json = r#"{"token": "fake_value_0123456789abcdef", "other": "fake_value_fedcba9876543210"}"#;
    let post = format!(
        "POST /login HTTP/1.1\r\nHost: {target}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{json}",
        json.len()
    );
    let resp = https_get(p.http, target, tls.ca_pem(), &post).await.unwrap();
    assert!(
        last().contains(r#"body={"token": "ghp_realsecret", "other": "fake_value_fedcba9876543210"}"#),
        "{}",
        last()
    );
    assert!(!resp.contains("ghp_realsecret"), "{resp}");
    // Red team: with a credential, the request goes to the target's own
    // name whatever Host the program wrote; TRACE in any case is refused.
    let fronted =
        "GET / HTTP/1.1\r\nHost: evil.example\r\nX-Token: fake_value_0123456789abcdef\r\nConnection: close\r\n\r\n";
    https_get(p.http, target, tls.ca_pem(), fronted).await.unwrap();
    assert!(last().contains(&format!("host={target}")), "{}", last());
    let trace = format!(
        "trace / HTTP/1.1\r\nHost: {target}\r\nX-Token: fake_value_0123456789abcdef\r\nConnection: close\r\n\r\n"
    );
    let resp = https_get(p.http, target, tls.ca_pem(), &trace).await.unwrap();
    assert!(resp.starts_with("HTTP/1.1 405"), "{resp}");
    // Another credential's sentinel reaches this host unreplaced, and is reported.
    let resp = https_get(p.http, target, tls.ca_pem(), &request("fake_value_fedcba9876543210")).await.unwrap();
    assert!(last().contains("auth=Bearer fake_value_fedcba9876543210"), "{}", last());
    assert!(!resp.contains("never-here"), "{resp}");
    let ev = p.event().await;
    assert!(
        matches!(&ev.decision, NetDecision::Deny { code: DenyCode::Credential, rule: Some(r), .. } if r == "OTHER_TOKEN"),
        "{ev:?}"
    );
}

/// A client that speaks HTTP/2 (chosen by ALPN) inside a terminated tunnel.
#[tokio::test]
async fn http2_clients_are_served_inside_a_terminated_tunnel() {
    let origin = SecureOrigin::start().await;
    let target = origin.addr;
    let settings =
        format!(r#"{{"network": {{"allowedDomains": ["127.0.0.1:{}"], "tlsTerminate": {{}}}}}}"#, target.port());
    let (p, tls) = proxy(&settings, origin.roots(), 8).await;
    let (s, head) = connect(p.http, &target.to_string()).await;
    assert_eq!(head.status, 200);
    let mut cfg = trusting(tls.ca_pem());
    cfg.alpn_protocols = vec![b"h2".to_vec()];
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let stream = within(TlsConnector::from(Arc::new(cfg)).connect(name, s)).await.unwrap();
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]), "the proxy offered HTTP/2");
    let (mut sender, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    for path in ["/one", "/two"] {
        let req = hyper::Request::builder()
            .uri(format!("https://{target}{path}"))
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .unwrap();
        let resp = within(sender.send_request(req)).await.unwrap();
        assert_eq!(resp.status(), 200);
        use http_body_util::BodyExt;
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&body);
        assert!(text.contains(&format!("secure origin saw {path} host={target}")), "{text}");
    }
}
