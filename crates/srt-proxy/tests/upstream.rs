//! srt 0.0.83's upstream routes and request-level keys, against real
//! sockets: a parent proxy on 127.0.0.1 and a MITM proxy on a Unix socket
//! (both small fakes that record what they are asked and then act as a
//! proxy would), `requireHostMatch`, `ambiguousRequestTarget` and
//! `stripResponseHeaders` through the HTTP proxy.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use common::*;
use srt_policy::{DenyCode, NetDecision};
use srt_proxy::StaticResolver;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UnixListener};

/// What a fake upstream proxy was asked: each request head, as text.
type Asked = Arc<Mutex<Vec<String>>>;

/// Serves one proxy connection: `CONNECT` is answered with `connect_reply`
/// and, when that is a 200, tunnelled to the address `names` gives for the
/// target; any other request gets `200` and a body naming its request line.
async fn fake_proxy_conn<S>(mut s: S, asked: Asked, connect_reply: &'static str, names: HashMap<String, SocketAddr>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut b = [0u8; 1];
        if s.read(&mut b).await.unwrap_or(0) == 0 {
            return;
        }
        head.push(b[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    asked.lock().unwrap().push(head.clone());
    let line = head.lines().next().unwrap_or_default().to_string();
    if let Some(target) = line.strip_prefix("CONNECT ").and_then(|r| r.split(' ').next()) {
        s.write_all(connect_reply.as_bytes()).await.unwrap();
        if !connect_reply.contains(" 200 ") {
            return;
        }
        let Some(addr) = names.get(target) else { return };
        let mut up = TcpStream::connect(addr).await.unwrap();
        let _ = tokio::io::copy_bidirectional(&mut s, &mut up).await;
    } else {
        let body = format!("parent saw {line}");
        let reply = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
        s.write_all(reply.as_bytes()).await.unwrap();
    }
}

async fn fake_tcp_proxy(connect_reply: &'static str, names: HashMap<String, SocketAddr>) -> (SocketAddr, Asked) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let asked: Asked = Default::default();
    let log = asked.clone();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            tokio::spawn(fake_proxy_conn(s, log.clone(), connect_reply, names.clone()));
        }
    });
    (addr, asked)
}

fn asked(a: &Asked) -> Vec<String> {
    a.lock().unwrap().clone()
}

#[tokio::test]
async fn tunnels_and_requests_leave_through_the_parent_proxy_with_its_credentials() {
    let echo = echo_server("127.0.0.1:0").await.unwrap();
    let names = HashMap::from([(format!("site.test:{}", echo.port()), echo)]);
    let (parent, seen) = fake_tcp_proxy("HTTP/1.1 200 Connection established\r\n\r\n", names).await;
    let settings = format!(
        r#"{{"network": {{"allowedDomains": ["site.test", "direct.test", "127.0.0.1"],
            "parentProxy": {{"http": "http://me:s%3Acret@127.0.0.1:{}", "noProxy": "direct.test"}}}}}}"#,
        parent.port()
    );
    let origin = Origin::start().await;
    let names = StaticResolver::new().with("direct.test", [ip("127.0.0.1")]);
    let mut p = Proxy::start_tweaked(&settings, names, 64, |cfg| {
        cfg.parent = cfg.policy.get().parent_proxy(&|_| None);
    })
    .await;

    // CONNECT: the parent is asked for the same target, with Basic credentials.
    let (mut s, head) = connect(p.http, &format!("site.test:{}", echo.port())).await;
    assert_eq!(head.status, 200);
    assert_eq!(echo_roundtrip(&mut s, b"through the parent").await, b"through the parent");
    let first = asked(&seen).remove(0);
    assert!(first.starts_with(&format!("CONNECT site.test:{} HTTP/1.1\r\n", echo.port())), "{first}");
    // base64("me:s:cret")
    assert!(first.contains("Proxy-Authorization: Basic bWU6czpjcmV0\r\n"), "{first}");
    assert_eq!(p.resolutions(), 0, "the parent resolves the name, not us");

    // Plain HTTP: the absolute form goes to the parent.
    let (mut s, head) = send(p.http, "GET http://site.test/x?y HTTP/1.1\r\nHost: whatever\r\n\r\n").await;
    assert_eq!(head.status, 200);
    assert_eq!(read_body(&mut s, &head).await, "parent saw GET http://site.test/x?y HTTP/1.1");
    let second = asked(&seen).remove(1);
    let second = second.to_ascii_lowercase();
    assert!(second.contains("proxy-authorization: basic bwu6czpjcmv0\r\n"), "{second}");
    assert!(second.contains("host: site.test\r\n"), "{second}");

    // SOCKS5 too.
    let mut s = TcpStream::connect(p.socks).await.unwrap();
    let mut req = vec![5, 1, 0, 5, 1, 0, 3, 9];
    req.extend_from_slice(b"site.test");
    req.extend_from_slice(&echo.port().to_be_bytes());
    s.write_all(&req).await.unwrap();
    let mut reply = [0u8; 12];
    within(s.read_exact(&mut reply)).await.unwrap();
    assert_eq!(reply[3], 0, "SOCKS5 success: {reply:?}");
    assert_eq!(echo_roundtrip(&mut s, b"socks").await, b"socks");
    assert_eq!(asked(&seen).len(), 3);

    // noProxy: straight to the origin, resolved here.
    let (mut s, head) =
        send(p.http, &format!("GET http://direct.test:{}/d HTTP/1.1\r\nHost: x\r\n\r\n", origin.addr.port())).await;
    assert_eq!(head.status, 200);
    assert!(read_body(&mut s, &head).await.contains("saw GET /d"));
    assert_eq!(asked(&seen).len(), 3, "the parent was not asked");

    // A host the lists deny never reaches the parent.
    let (_, head) = connect(p.http, "evil.test:443").await;
    assert_eq!(head.status, 403);
    assert_eq!(asked(&seen).len(), 3);
    let denied = loop {
        let ev = p.event().await;
        if !ev.decision.is_allowed() {
            break ev;
        }
    };
    assert_eq!(denied.host, "evil.test");
}

#[tokio::test]
async fn a_parent_that_refuses_the_tunnel_is_a_502() {
    let (parent, seen) = fake_tcp_proxy("HTTP/1.1 407 Proxy Authentication Required\r\n\r\n", HashMap::new()).await;
    let settings = format!(
        r#"{{"network": {{"allowedDomains": ["site.test"], "parentProxy": {{"https": "127.0.0.1:{}"}}}}}}"#,
        parent.port()
    );
    let p = Proxy::start_tweaked(&settings, StaticResolver::new(), 64, |cfg| {
        cfg.parent = cfg.policy.get().parent_proxy(&|_| None);
    })
    .await;
    let (mut s, head) = connect(p.http, "site.test:443").await;
    assert_eq!(head.status, 502);
    let body = read_body(&mut s, &head).await;
    assert!(body.contains("through the parent proxy 127.0.0.1") && body.contains("407"), "{body}");
    assert_eq!(asked(&seen).len(), 1);
    // Only `https` is set: plain http goes direct, as curl does.
    let (_, head) = send(p.http, "GET http://site.test/ HTTP/1.1\r\nHost: site.test\r\n\r\n").await;
    assert_eq!(head.status, 502, "direct: site.test does not resolve here");
    assert_eq!(asked(&seen).len(), 1);
}

#[tokio::test]
async fn matching_hosts_go_through_the_mitm_proxy_socket() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("mitm.sock");
    let l = UnixListener::bind(&sock).unwrap();
    let echo = echo_server("127.0.0.1:0").await.unwrap();
    let names = HashMap::from([(format!("api.example.com:{}", echo.port()), echo)]);
    let seen: Asked = Default::default();
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            tokio::spawn(fake_proxy_conn(s, log.clone(), "HTTP/1.1 200 OK\r\n\r\n", names.clone()));
        }
    });
    let origin = Origin::start().await;
    let settings = format!(
        r#"{{"network": {{"allowedDomains": ["*.example.com", "127.0.0.1"],
            "mitmProxy": {{"socketPath": "{}", "domains": ["api.example.com"]}}}}}}"#,
        sock.display()
    );
    let names = StaticResolver::new().with("www.example.com", [ip("127.0.0.1")]);
    let p = Proxy::start(&settings, names).await;

    let (mut s, head) = connect(p.http, &format!("api.example.com:{}", echo.port())).await;
    assert_eq!(head.status, 200);
    assert_eq!(echo_roundtrip(&mut s, b"via mitm").await, b"via mitm");
    let (mut s, head) = send(p.http, "GET http://api.example.com/v1 HTTP/1.1\r\nHost: api.example.com\r\n\r\n").await;
    assert_eq!(read_body(&mut s, &head).await, "parent saw GET http://api.example.com/v1 HTTP/1.1");
    assert_eq!(asked(&seen).len(), 2);
    // Another allowed host goes direct.
    let (mut s, head) =
        send(p.http, &format!("GET http://www.example.com:{}/w HTTP/1.1\r\nHost: x\r\n\r\n", origin.addr.port())).await;
    assert!(read_body(&mut s, &head).await.contains("saw GET /w"));
    assert_eq!(asked(&seen).len(), 2);
}

#[tokio::test]
async fn require_host_match_answers_421_and_reports_it() {
    let origin = Origin::start().await;
    let port = origin.addr.port();
    let settings =
        format!(r#"{{"network": {{"allowedDomains": ["127.0.0.1:{port}", "site.test"], "requireHostMatch": true}}}}"#);
    let mut p = Proxy::start(&settings, StaticResolver::new()).await;

    let req = |host: &str| format!("GET http://127.0.0.1:{port}/a HTTP/1.1\r\nHost: {host}\r\n\r\n");
    let (mut s, head) = send(p.http, &req("site.test")).await;
    assert_eq!(head.status, 421);
    assert_eq!(head.header("x-proxy-error"), Some("blocked-by-sandbox-runtime"));
    assert!(read_body(&mut s, &head).await.contains("Host header does not match"));
    let ev = p.event().await;
    assert!(matches!(ev.decision, NetDecision::Deny { code: DenyCode::Misdirected, .. }), "{ev:?}");
    assert!(origin.seen().is_empty(), "nothing was forwarded");

    let (_, head) = send(p.http, &req(&format!("127.0.0.1:{port}"))).await;
    assert_eq!(head.status, 200);
    let (_, head) = send(p.http, &format!("GET http://127.0.0.1:{port}/a HTTP/1.1\r\n\r\n")).await;
    assert_eq!(head.status, 400, "HTTP/1.1 without Host");
    // Without the key, the Host header is replaced (RFC 9112), not judged.
    let p =
        Proxy::start(&format!(r#"{{"network": {{"allowedDomains": ["127.0.0.1:{port}"]}}}}"#), StaticResolver::new())
            .await;
    let (_, head) = send(p.http, &req("site.test")).await;
    assert_eq!(head.status, 200);
    assert_eq!(origin.seen().last().unwrap().header("host"), Some(format!("127.0.0.1:{port}").as_str()));
}

#[tokio::test]
async fn ambiguous_targets_follow_the_mode() {
    let origin = Origin::start().await;
    let port = origin.addr.port();
    let get = "GET http://127.0.0.1:PORT/a/%2e%2e/b HTTP/1.1\r\nHost: x\r\n\r\n".replace("PORT", &port.to_string());
    let start = |mode: &str| {
        let settings = format!(r#"{{"network": {{"allowedDomains": ["127.0.0.1:{port}"]{mode}}}}}"#);
        async move { Proxy::start(&settings, StaticResolver::new()).await }
    };

    let mut p = start(r#", "ambiguousRequestTarget": "refuse""#).await;
    let (mut s, head) = send(p.http, &get).await;
    assert_eq!(head.status, 400);
    assert_eq!(head.header("x-proxy-error"), Some("ambiguous-request-target"));
    assert!(read_body(&mut s, &head).await.contains("\"/b\""));
    let ev = p.event().await;
    assert!(matches!(ev.decision, NetDecision::Deny { code: DenyCode::AmbiguousTarget, .. }), "{ev:?}");
    assert!(origin.seen().is_empty());

    let p = start(r#", "ambiguousRequestTarget": "normalize""#).await;
    send(p.http, &get).await;
    assert_eq!(origin.seen().last().unwrap().target, "/b");
    let p = start(r#", "ambiguousRequestTarget": "asSpelled""#).await;
    send(p.http, &get).await;
    assert_eq!(origin.seen().last().unwrap().target, "/a/%2e%2e/b");
    let p = start("").await;
    send(p.http, &get).await;
    assert_eq!(origin.seen().last().unwrap().target, "/a/%2e%2e/b", "unset: as spelled, as srt without a filter");
}

#[tokio::test]
async fn stripped_response_headers_never_reach_the_client() {
    // An origin that sets the headers to strip.
    let port = canned_origin(
        b"HTTP/1.1 200 OK\r\nSet-Cookie: a=b\r\nX_Internal.Token: t\r\nX-Kept: k\r\nContent-Length: 2\r\n\r\nok",
    )
    .await;
    let settings = format!(
        r#"{{"network": {{"allowedDomains": ["127.0.0.1:{port}"], "stripResponseHeaders": ["set-cookie", "x-internal-token"]}}}}"#
    );
    let p = Proxy::start(&settings, StaticResolver::new()).await;
    let (mut s, head) = send(p.http, &format!("GET http://127.0.0.1:{port}/ HTTP/1.1\r\nHost: x\r\n\r\n")).await;
    assert_eq!(head.status, 200);
    assert_eq!(head.header("set-cookie"), None, "{head:?}");
    assert_eq!(head.header("x_internal.token"), None, "{head:?}");
    assert_eq!(head.header("x-kept"), Some("k"));
    assert_eq!(read_body(&mut s, &head).await, "ok");
}

/// Red-team regression: addresses spelled in any form the parent could read
/// as one are judged here before the hop, so a parent proxy is no way to
/// this host's loopback or the metadata service.
#[tokio::test]
async fn addresses_are_guarded_before_the_parent_proxy() {
    let (parent, seen) = fake_tcp_proxy("HTTP/1.1 200 OK\r\n\r\n", HashMap::new()).await;
    let settings = format!(r#"{{"network": {{"parentProxy": {{"http": "http://127.0.0.1:{}"}}}}}}"#, parent.port());
    let ctx = srt_policy::PathContext { cwd: "/".into(), home: "/nonexistent-home".into() };
    let permissive =
        srt_policy::from_text(Some(&settings), Some(srt_policy::Preset::Permissive), &ctx, &srt_policy::RealFs)
            .unwrap();
    let mut p = Proxy::start_tweaked(&settings, StaticResolver::new(), 64, move |cfg| {
        cfg.policy = srt_proxy::LivePolicy::new(Arc::new(permissive));
        cfg.parent = cfg.policy.get().parent_proxy(&|_| None);
    })
    .await;
    for target in [
        "[::ffff:127.0.0.1]:8080",
        "[::ffff:7f00:1]:8080",
        "127.1:8080",
        "2130706433:8080",
        "0x7f000001:8080",
        "169.254.169.254:80",
        "169.254.43518:80",
    ] {
        let (_, head) = connect(p.http, target).await;
        assert_eq!(head.status, 403, "{target}: {head:?}");
        let ev = p.event().await;
        assert!(matches!(ev.decision, NetDecision::Deny { code: DenyCode::ResolvedAddress, .. }), "{target}: {ev:?}");
    }
    assert!(asked(&seen).is_empty(), "the parent was asked: {:?}", asked(&seen));
    // A name still goes to the parent.
    let (_, head) = connect(p.http, "example.com:443").await;
    assert_eq!(head.status, 200);
    assert_eq!(asked(&seen).len(), 1);
}

/// Red-team regression: stripResponseHeaders applies to trailers too.
#[tokio::test]
async fn stripped_headers_are_stripped_from_trailers() {
    let port = canned_origin(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: x-secret, x-fine\r\nConnection: close\r\n\r\n\
                      2\r\nok\r\n0\r\nx-secret: t\r\nx-fine: f\r\n\r\n",
    )
    .await;
    let settings =
        format!(r#"{{"network": {{"allowedDomains": ["127.0.0.1:{port}"], "stripResponseHeaders": ["X_Secret"]}}}}"#);
    let p = Proxy::start(&settings, StaticResolver::new()).await;
    let (mut s, head) = send(
        p.http,
        &format!("GET http://127.0.0.1:{port}/ HTTP/1.1\r\nHost: x\r\nTE: trailers\r\nConnection: close\r\n\r\n"),
    )
    .await;
    assert_eq!(head.status, 200);
    let mut rest = Vec::new();
    let _ = within(s.read_to_end(&mut rest)).await;
    let rest = String::from_utf8_lossy(&rest).to_ascii_lowercase();
    assert!(rest.contains("x-fine: f"), "trailers are relayed: {rest:?}");
    assert!(!rest.contains("x-secret"), "{rest:?}");
}

/// An `https://` parent proxy: TLS to the proxy itself, verified.
#[tokio::test]
async fn an_https_parent_proxy_is_reached_over_verified_tls() {
    let (ca_cert, server) = loopback_tls();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let acceptor = tokio_rustls::TlsAcceptor::from(server);
    let echo = echo_server("127.0.0.1:0").await.unwrap();
    let names = HashMap::from([(format!("site.test:{}", echo.port()), echo)]);
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let parent = l.local_addr().unwrap();
    let seen: Asked = Default::default();
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let (acceptor, log, names) = (acceptor.clone(), log.clone(), names.clone());
            tokio::spawn(async move {
                if let Ok(tls) = acceptor.accept(s).await {
                    fake_proxy_conn(tls, log, "HTTP/1.1 200 OK\r\n\r\n", names).await;
                }
            });
        }
    });
    let settings = format!(
        r#"{{"network": {{"allowedDomains": ["site.test"], "parentProxy": {{"https": "https://me:pw@127.0.0.1:{}"}}}}}}"#,
        parent.port()
    );
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca_cert).unwrap();
    let trusting = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let p = Proxy::start_tweaked(&settings, StaticResolver::new(), 64, move |cfg| {
        cfg.parent = cfg.policy.get().parent_proxy(&|_| None);
        cfg.parent_tls = Some(Arc::new(trusting));
    })
    .await;
    let (mut s, head) = connect(p.http, &format!("site.test:{}", echo.port())).await;
    assert_eq!(head.status, 200, "{head:?}");
    assert_eq!(echo_roundtrip(&mut s, b"over tls to the parent").await, b"over tls to the parent");
    let first = asked(&seen).remove(0);
    assert!(first.starts_with(&format!("CONNECT site.test:{} HTTP/1.1", echo.port())), "{first}");
    assert!(first.contains("Proxy-Authorization: Basic bWU6cHc="), "{first}");

    // A parent whose certificate the proxy does not trust: 502, nothing sent.
    let settings2 = settings.clone();
    let p2 = Proxy::start_tweaked(&settings2, StaticResolver::new(), 64, |cfg| {
        cfg.parent = cfg.policy.get().parent_proxy(&|_| None);
        cfg.parent_tls = Some(Arc::new(
            rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth(),
        ));
    })
    .await;
    let (_, head) = connect(p2.http, &format!("site.test:{}", echo.port())).await;
    assert_eq!(head.status, 502);
    assert_eq!(asked(&seen).len(), 1, "the untrusted parent was not asked");
}

/// A server on 127.0.0.1 that reads each request head and answers with
/// `response` as it is; returns its port.
async fn canned_origin(response: &'static [u8]) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let mut head = Vec::new();
            while !head.ends_with(b"\r\n\r\n") {
                let mut b = [0u8; 1];
                if s.read(&mut b).await.unwrap_or(0) == 0 {
                    break;
                }
                head.push(b[0]);
            }
            let _ = s.write_all(response).await;
        }
    });
    port
}
