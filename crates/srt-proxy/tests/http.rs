//! The HTTP proxy against real sockets on 127.0.0.1: CONNECT tunnels,
//! absolute-URI forwarding, keep-alive, and every way a request is refused.

mod common;

use bytes::Bytes;
use common::*;
use http_body_util::{BodyExt, Empty};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use srt_policy::{DenyCode, NetDecision};
use srt_proxy::{StaticResolver, Via};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn assert_denied(head: &Head, code: &str) {
    assert_eq!(head.status, 403, "{head:?}");
    assert_eq!(head.header("x-proxy-error"), Some(code), "{head:?}");
}

#[tokio::test]
async fn connect_to_allowed_ip_literal_moves_bytes_both_ways() {
    let echo = echo_server("127.0.0.1:0").await.unwrap();
    let mut p = Proxy::start(
        &format!(r#"{{"network":{{"allowedDomains":["127.0.0.1:{}"]}}}}"#, echo.port()),
        StaticResolver::new(),
    )
    .await;

    // Bytes sent right behind the CONNECT request (in the same segment)
    // must reach the upstream too.
    let (mut s, head) = send(p.http, &format!("CONNECT {echo} HTTP/1.1\r\nHost: {echo}\r\n\r\nearly")).await;
    assert_eq!(head.status, 200);
    let mut early = [0u8; 5];
    within(s.read_exact(&mut early)).await.unwrap();
    assert_eq!(&early, b"early");

    let data = pattern(4 << 20);
    assert_eq!(echo_roundtrip(&mut s, &data).await, data);

    // Half-close travels through: the echo server sees EOF and closes.
    s.shutdown().await.unwrap();
    let mut rest = Vec::new();
    within(s.read_to_end(&mut rest)).await.unwrap();
    assert!(rest.is_empty());
    assert_eq!(p.resolutions(), 0, "an IP literal is never resolved");
    p.no_more_events();
}

/// A server that reads its client's whole stream, then answers with
/// `reply` and half-closes; yields what it read.
async fn read_then_reply(reply: Vec<u8>) -> (std::net::SocketAddr, tokio::task::JoinHandle<Vec<u8>>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let served = tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.unwrap();
        s.write_all(&reply).await.unwrap();
        s.shutdown().await.unwrap();
        got
    });
    (addr, served)
}

#[tokio::test]
async fn connect_tunnel_carries_megabytes_through_both_half_closes_spliced_or_copied() {
    for splice in [false, true] {
        let (up, down) = (pattern(8 << 20), pattern(6 << 20).into_iter().rev().collect::<Vec<u8>>());
        let (server, served) = read_then_reply(down.clone()).await;
        let settings = format!(r#"{{"network":{{"allowedDomains":["127.0.0.1:{}"]}}}}"#, server.port());
        let p = Proxy::start_tweaked(&settings, StaticResolver::new(), 16, |cfg| cfg.splice = splice).await;
        let (mut s, head) = connect(p.http, &server.to_string()).await;
        assert_eq!(head.status, 200);
        // The whole upload and its end first; the server answers only then.
        within(s.write_all(&up)).await.unwrap();
        s.shutdown().await.unwrap();
        let mut got = Vec::new();
        within(s.read_to_end(&mut got)).await.unwrap();
        assert!(got == down, "splice {splice}: {} of {} bytes down, or not in order", got.len(), down.len());
        let seen = within(served).await.unwrap();
        assert!(seen == up, "splice {splice}: {} of {} bytes up, or not in order", seen.len(), up.len());
    }
}

#[tokio::test]
async fn connect_to_denied_domain_is_403_blocked_by_allowlist_with_reason() {
    let settings = r#"{"network":{"allowedDomains":["*.example.com"],
        "deniedDomains":["bad.example.com"],"deniedDomainReasons":{"bad.example.com":"known exfiltration host"}}}"#;
    let mut p = Proxy::start(settings, StaticResolver::new()).await;

    let (mut s, head) = connect(p.http, "attacker.test:443").await;
    assert_denied(&head, "blocked-by-allowlist");
    let body = read_body(&mut s, &head).await;
    assert!(body.contains("Connection blocked by network allowlist"), "{body}");
    assert!(body.contains("attacker.test:443 is not in allowedDomains"), "{body}");

    let ev = p.event().await;
    assert_eq!((ev.host.as_str(), ev.port, ev.via, ev.address), ("attacker.test", 443, Via::Connect, None));
    assert!(matches!(ev.decision, NetDecision::Deny { code: DenyCode::Allowlist, .. }));
    assert_eq!(ev.target(), "attacker.test:443");

    let (mut s, head) = connect(p.http, "bad.example.com:443").await;
    assert_denied(&head, "blocked-by-allowlist");
    assert!(read_body(&mut s, &head).await.contains("known exfiltration host"));
    let ev = p.event().await;
    assert!(matches!(ev.decision, NetDecision::Deny { rule: Some(ref r), .. } if r == "bad.example.com"));
    assert_eq!(p.resolutions(), 0, "a denied name is never resolved");
}

#[tokio::test]
async fn allowed_names_resolving_to_forbidden_addresses_are_403_blocked_by_sandbox_runtime() {
    let echo = echo_server("127.0.0.1:0").await.unwrap();
    let mut names = StaticResolver::new()
        .with("loop.example.com", [ip("127.0.0.1")])
        .with("meta.example.com", [ip("169.254.169.254")])
        .with("mapped.example.com", [ip("::ffff:127.0.0.1")])
        .with("nat64.example.com", [ip("64:ff9b::a9fe:a9fe")])
        .with("alibaba.example.com", [ip("100.100.100.200")]);
    let own = a_host_address();
    if let Some(a) = own {
        names = names.with("own.example.com", [a]);
    }
    let mut p = Proxy::start(r#"{"network":{"allowedDomains":["*.example.com"]}}"#, names).await;

    let mut cases = vec!["loop", "meta", "mapped", "nat64", "alibaba"];
    if own.is_some() {
        cases.push("own");
    }
    for name in cases {
        let target = format!("{name}.example.com:{}", echo.port());
        let (mut s, head) = connect(p.http, &target).await;
        assert_denied(&head, "blocked-by-sandbox-runtime");
        let body = read_body(&mut s, &head).await;
        assert!(body.contains("Connection blocked by network allowlist: "), "{body}");
        let ev = p.event().await;
        assert_eq!(ev.host, format!("{name}.example.com"));
        assert!(ev.address.is_some());
        assert!(matches!(ev.decision, NetDecision::Deny { code: DenyCode::ResolvedAddress, .. }), "{ev:?}");
    }

    // The same through an absolute-URI request.
    let (_, head) = send(
        p.http,
        &format!("GET http://loop.example.com:{0}/ HTTP/1.1\r\nHost: loop.example.com:{0}\r\n\r\n", echo.port()),
    )
    .await;
    assert_denied(&head, "blocked-by-sandbox-runtime");
    assert_eq!(p.event().await.via, Via::Http);
}

#[tokio::test]
async fn name_is_resolved_once_and_a_surviving_address_is_dialed() {
    let echo = echo_server("127.0.0.1:0").await.unwrap();
    // 127.0.0.1 on exactly the echo port is allowed as an IP literal, so it
    // survives the guard; the metadata address before it does not.
    let settings = format!(r#"{{"network":{{"allowedDomains":["*.example.com","127.0.0.1:{}"]}}}}"#, echo.port());
    let names = StaticResolver::new().with("mixed.example.com", [ip("169.254.169.254"), ip("127.0.0.1")]);
    let mut p = Proxy::start_with(&settings, names, true).await;

    let (mut s, head) = connect(p.http, &format!("mixed.example.com:{}", echo.port())).await;
    assert_eq!(head.status, 200);
    assert_eq!(echo_roundtrip(&mut s, b"ping").await, b"ping");
    assert_eq!(p.resolutions(), 1);
    // Debug mode reports the allowed connection with the dialed address.
    let ev = p.event().await;
    assert!(ev.decision.is_allowed());
    assert_eq!(ev.address, Some(ip("127.0.0.1")));

    // On another port the literal entry does not apply: the guard denies.
    let (_, head) = connect(p.http, "mixed.example.com:9").await;
    assert_denied(&head, "blocked-by-sandbox-runtime");
}

#[tokio::test]
async fn wildcard_sibling_and_apex_are_denied() {
    let names =
        StaticResolver::new().with("evil-example.com", [ip("192.0.2.1")]).with("example.com", [ip("192.0.2.1")]);
    let mut p = Proxy::start(r#"{"network":{"allowedDomains":["*.example.com"]}}"#, names).await;
    for target in ["evil-example.com:443", "example.com:443", "example.com.evil.test:443"] {
        let (_, head) = connect(p.http, target).await;
        assert_denied(&head, "blocked-by-allowlist");
        let _ = p.event().await;
    }
    assert_eq!(p.resolutions(), 0);
}

#[tokio::test]
async fn port_not_allowed_is_denied() {
    let echo = echo_server("127.0.0.1:0").await.unwrap();
    let other = closed_port().await;
    let settings = format!(r#"{{"network":{{"allowedDomains":["api.example.com:443","127.0.0.1:{}"]}}}}"#, echo.port());
    let p = Proxy::start(&settings, StaticResolver::new().with("api.example.com", [ip("192.0.2.1")])).await;
    let (_, head) = connect(p.http, "api.example.com:8443").await;
    assert_denied(&head, "blocked-by-allowlist");
    let (_, head) = connect(p.http, &format!("127.0.0.1:{other}")).await;
    assert_denied(&head, "blocked-by-allowlist");
    // An IPv4-mapped spelling of the allowed literal on another port: still denied.
    let (_, head) = connect(p.http, &format!("[::ffff:127.0.0.1]:{other}")).await;
    assert_denied(&head, "blocked-by-allowlist");
}

#[tokio::test]
async fn absolute_uri_get_is_forwarded_in_origin_form_without_proxy_headers() {
    let origin = Origin::start().await;
    let port = origin.addr.port();
    let p = Proxy::start(&format!(r#"{{"network":{{"allowedDomains":["127.0.0.1:{port}"]}}}}"#), StaticResolver::new())
        .await;

    let request = format!(
        "GET http://127.0.0.1:{port}/some/path?q=1 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
         Proxy-Connection: keep-alive\r\nProxy-Authorization: Basic dXNlcjpwYXNz\r\n\
         Connection: X-Hop\r\nX-Hop: secret\r\nX-Keep: yes\r\n\r\n"
    );
    let (mut s, head) = send(p.http, &request).await;
    assert_eq!(head.status, 200);
    assert_eq!(read_body(&mut s, &head).await, format!("origin {port} saw GET /some/path?q=1 (0 bytes)"));

    // A POST body is forwarded as well, on the same client connection.
    let post = format!(
        "POST http://127.0.0.1:{port}/upload HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 5\r\n\r\nhello"
    );
    s.write_all(post.as_bytes()).await.unwrap();
    let head = read_head(&mut s).await;
    assert_eq!(read_body(&mut s, &head).await, format!("origin {port} saw POST /upload (5 bytes)"));

    let seen = origin.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].target, "/some/path?q=1");
    assert_eq!(seen[0].header("host"), Some(format!("127.0.0.1:{port}").as_str()));
    assert_eq!(seen[0].header("x-keep"), Some("yes"));
    for h in ["proxy-connection", "proxy-authorization", "x-hop"] {
        assert_eq!(seen[0].header(h), None, "{h} was forwarded");
    }
    assert_eq!(seen[1].body, b"hello");
}

/// One kept-alive client connection to the proxy. hyper's client connection
/// writes the absolute URI as the request target, as a browser talking to a
/// proxy does.
async fn kept_alive_client(proxy: std::net::SocketAddr) -> hyper::client::conn::http1::SendRequest<Empty<Bytes>> {
    let stream = TcpStream::connect(proxy).await.unwrap();
    let (tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.unwrap();
    tokio::spawn(conn);
    tx
}

/// GET `uri` on `tx`: status, X-Proxy-Error, body.
async fn get_via(
    tx: &mut hyper::client::conn::http1::SendRequest<Empty<Bytes>>,
    uri: String,
) -> (StatusCode, Option<String>, String) {
    let req = Request::get(&uri).body(Empty::<Bytes>::new()).unwrap();
    let resp = within(tx.send_request(req)).await.unwrap();
    let status = resp.status();
    let proxy_error = resp.headers().get("x-proxy-error").map(|v| v.to_str().unwrap().to_string());
    let body = String::from_utf8(resp.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    (status, proxy_error, body)
}

#[tokio::test]
async fn keep_alive_connection_decides_and_dials_each_request() {
    let (a, b) = (Origin::start().await, Origin::start().await);
    let settings =
        format!(r#"{{"network":{{"allowedDomains":["127.0.0.1:{}","127.0.0.1:{}"]}}}}"#, a.addr.port(), b.addr.port());
    let mut p = Proxy::start(&settings, StaticResolver::new()).await;

    let mut tx = kept_alive_client(p.http).await;
    let mut get = async |uri: String| get_via(&mut tx, uri).await;

    let (status, _, body) = get(format!("http://127.0.0.1:{}/one", a.addr.port())).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("saw GET /one"));
    let (status, err, body) = get("http://denied.test/two".into()).await;
    assert_eq!((status, err.as_deref()), (StatusCode::FORBIDDEN, Some("blocked-by-allowlist")));
    assert!(body.contains("denied.test:80 is not in allowedDomains"), "{body}");
    let (status, _, body) = get(format!("http://127.0.0.1:{}/three", b.addr.port())).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains(&format!("origin {} saw GET /three", b.addr.port())));

    assert_eq!(a.seen().iter().map(|s| s.target.clone()).collect::<Vec<_>>(), ["/one"]);
    assert_eq!(b.seen().iter().map(|s| s.target.clone()).collect::<Vec<_>>(), ["/three"]);
    assert_eq!(p.event().await.host, "denied.test");
}

#[tokio::test]
async fn an_idle_upstream_connection_is_reused_for_the_same_target_only() {
    use std::sync::atomic::Ordering::SeqCst;
    let (a, b) = (Origin::start().await, Origin::start().await);
    let settings =
        format!(r#"{{"network":{{"allowedDomains":["127.0.0.1:{}","127.0.0.1:{}"]}}}}"#, a.addr.port(), b.addr.port());
    let p = Proxy::start(&settings, StaticResolver::new()).await;
    let mut tx = kept_alive_client(p.http).await;
    let mut get = async |uri: String| get_via(&mut tx, uri).await.2;
    for path in ["/1", "/2", "/3"] {
        assert!(get(format!("http://127.0.0.1:{}{path}", a.addr.port())).await.contains(&format!("saw GET {path}")));
    }
    assert_eq!(a.connections.load(SeqCst), 1, "three requests, one upstream connection");
    assert!(get(format!("http://127.0.0.1:{}/4", b.addr.port())).await.contains("saw GET /4"));
    assert!(get(format!("http://127.0.0.1:{}/5", a.addr.port())).await.contains("saw GET /5"));
    assert_eq!(b.connections.load(SeqCst), 1);
    assert_eq!(a.connections.load(SeqCst), 2, "after another target, a new connection");
    assert_eq!(a.seen().iter().map(|s| s.target.clone()).collect::<Vec<_>>(), ["/1", "/2", "/3", "/5"]);
}

#[tokio::test]
async fn host_header_is_replaced_by_the_decided_target() {
    let origin = Origin::start().await;
    let port = origin.addr.port();
    let mut p =
        Proxy::start(&format!(r#"{{"network":{{"allowedDomains":["127.0.0.1:{port}"]}}}}"#), StaticResolver::new())
            .await;
    for host in ["attacker.test".to_string(), format!("127.0.0.1:{}", port + 1), "127.0.0.2".into()] {
        let (_s, head) = send(p.http, &format!("GET http://127.0.0.1:{port}/ HTTP/1.1\r\nHost: {host}\r\n\r\n")).await;
        assert_eq!(head.status, 200, "Host: {host}");
    }
    let seen = origin.seen();
    assert_eq!(seen.len(), 3);
    for s in seen {
        let hosts: Vec<&str> =
            s.headers.iter().filter(|(k, _)| k.eq_ignore_ascii_case("host")).map(|(_, v)| v.as_str()).collect();
        assert_eq!(hosts, [format!("127.0.0.1:{port}").as_str()], "the origin sees only the decided host");
    }
    // Two Host headers are still refused.
    let (_s, head) =
        send(p.http, &format!("GET http://127.0.0.1:{port}/ HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n")).await;
    assert_eq!(head.status, 400);
    p.no_more_events();
}

#[tokio::test]
async fn malformed_and_non_proxy_requests_are_400_and_the_proxy_keeps_serving() {
    let origin = Origin::start().await;
    let port = origin.addr.port();
    let p = Proxy::start(&format!(r#"{{"network":{{"allowedDomains":["127.0.0.1:{port}"]}}}}"#), StaticResolver::new())
        .await;

    for garbage in [
        "\x00\x01\x02garbage\r\n\r\n",
        "GET\r\n\r\n",
        "GET http://127.0.0.1/ HTTP/9.9\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        "GET https://127.0.0.1/ HTTP/1.1\r\n\r\n",
        "CONNECT 127.0.0.1 HTTP/1.1\r\n\r\n",
        "CONNECT http://127.0.0.1:80/ HTTP/1.1\r\n\r\n",
        "CONNECT 127.0.0.1:0 HTTP/1.1\r\n\r\n",
        "GET http://127.0.0.1:0/ HTTP/1.1\r\n\r\n",
        "GET http://127.0.0.1/ HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n",
    ] {
        let mut s = TcpStream::connect(p.http).await.unwrap();
        s.write_all(garbage.as_bytes()).await.unwrap();
        let head = read_head(&mut s).await;
        assert_eq!(head.status, 400, "{garbage:?}");
    }

    // A request head over the limit is refused too, without a panic.
    let huge = format!("GET http://127.0.0.1:{port}/ HTTP/1.1\r\nX-Big: {}\r\n\r\n", "a".repeat(100_000));
    let mut s = TcpStream::connect(p.http).await.unwrap();
    let _ = s.write_all(huge.as_bytes()).await;
    let head = read_head(&mut s).await;
    assert_eq!(head.status, 431);

    // Still serving.
    let (mut s, head) =
        send(p.http, &format!("GET http://127.0.0.1:{port}/after HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n")).await;
    assert_eq!(head.status, 200);
    assert!(read_body(&mut s, &head).await.contains("/after"));
}

#[tokio::test]
async fn upstream_refused_or_unresolvable_is_502() {
    let port = closed_port().await;
    let settings = format!(r#"{{"network":{{"allowedDomains":["127.0.0.1:{port}","*.example.com"]}}}}"#);
    let p = Proxy::start(&settings, StaticResolver::new()).await;
    let (mut s, head) = connect(p.http, &format!("127.0.0.1:{port}")).await;
    assert_eq!(head.status, 502);
    assert!(read_body(&mut s, &head).await.contains("could not connect"));
    let (_, head) =
        send(p.http, &format!("GET http://127.0.0.1:{port}/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n")).await;
    assert_eq!(head.status, 502);
    let (mut s, head) = connect(p.http, "nxdomain.example.com:443").await;
    assert_eq!(head.status, 502);
    assert!(read_body(&mut s, &head).await.contains("could not resolve"));
}
