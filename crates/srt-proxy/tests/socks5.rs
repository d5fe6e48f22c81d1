//! The SOCKS5 proxy against real sockets on 127.0.0.1 (RFC 1928 framing
//! written by hand here, so every field can be wrong on purpose).

mod common;

use std::net::{IpAddr, SocketAddr};

use common::*;
use srt_policy::{DenyCode, NetDecision};
use srt_proxy::{StaticResolver, Via};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const NOT_ALLOWED: u8 = 0x02;
const HOST_UNREACHABLE: u8 = 0x04;
const REFUSED: u8 = 0x05;
const COMMAND_NOT_SUPPORTED: u8 = 0x07;
const ATYP_NOT_SUPPORTED: u8 = 0x08;

/// Greets with NO AUTH and checks the proxy chose it.
async fn greet(proxy: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(proxy).await.unwrap();
    s.write_all(&[5, 1, 0]).await.unwrap();
    let mut choice = [0u8; 2];
    within(s.read_exact(&mut choice)).await.unwrap();
    assert_eq!(choice, [5, 0]);
    s
}

fn addr_bytes(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(v4) => [&[1u8][..], &v4.octets()].concat(),
        IpAddr::V6(v6) => [&[4u8][..], &v6.octets()].concat(),
    }
}

fn domain_bytes(name: &str) -> Vec<u8> {
    [&[3u8, name.len() as u8][..], name.as_bytes()].concat()
}

/// Sends a request and returns the reply code and bound address.
async fn request(s: &mut TcpStream, cmd: u8, addr: &[u8], port: u16) -> (u8, SocketAddr) {
    let req = [&[5u8, cmd, 0][..], addr, &port.to_be_bytes()].concat();
    s.write_all(&req).await.unwrap();
    let mut head = [0u8; 4];
    within(s.read_exact(&mut head)).await.unwrap();
    assert_eq!((head[0], head[2]), (5, 0), "{head:?}");
    let ip: IpAddr = match head[3] {
        1 => {
            let mut b = [0u8; 4];
            s.read_exact(&mut b).await.unwrap();
            b.into()
        }
        4 => {
            let mut b = [0u8; 16];
            s.read_exact(&mut b).await.unwrap();
            b.into()
        }
        other => panic!("reply ATYP {other}"),
    };
    let mut port = [0u8; 2];
    s.read_exact(&mut port).await.unwrap();
    (head[1], SocketAddr::new(ip, u16::from_be_bytes(port)))
}

async fn assert_closed(s: &mut TcpStream) {
    let mut rest = Vec::new();
    let _ = within(s.read_to_end(&mut rest)).await;
    assert!(rest.is_empty(), "expected the proxy to close, got {rest:?}");
}

#[tokio::test]
async fn connect_by_ipv4_literal_moves_bytes() {
    let echo = echo_server("127.0.0.1:0").await.unwrap();
    let mut p = Proxy::start(
        &format!(r#"{{"network":{{"allowedDomains":["127.0.0.1:{}"]}}}}"#, echo.port()),
        StaticResolver::new(),
    )
    .await;
    let mut s = greet(p.socks).await;
    let (code, bound) = request(&mut s, 1, &addr_bytes(ip("127.0.0.1")), echo.port()).await;
    assert_eq!(code, 0);
    assert_eq!(bound.ip(), ip("127.0.0.1"));
    assert_ne!(bound.port(), 0);
    let data = pattern(2 << 20);
    assert_eq!(echo_roundtrip(&mut s, &data).await, data);

    // The same IP literal sent as a domain name (what `curl --socks5-hostname` does).
    let mut s = greet(p.socks).await;
    let (code, _) = request(&mut s, 1, &domain_bytes("127.0.0.1"), echo.port()).await;
    assert_eq!(code, 0);
    assert_eq!(echo_roundtrip(&mut s, b"x").await, b"x");
    assert_eq!(p.resolutions(), 0);
    p.no_more_events();
}

#[tokio::test]
async fn connect_by_denied_domain_is_not_allowed_by_ruleset() {
    let mut p = Proxy::start(r#"{"network":{"allowedDomains":["*.example.com"]}}"#, StaticResolver::new()).await;
    for name in ["attacker.test", "evil-example.com", "example.com", ""] {
        let mut s = greet(p.socks).await;
        let (code, _) = request(&mut s, 1, &domain_bytes(name), 443).await;
        assert_eq!(code, NOT_ALLOWED, "{name:?}");
        assert_closed(&mut s).await;
        let ev = p.event().await;
        assert_eq!((ev.host.as_str(), ev.port, ev.via), (name, 443, Via::Socks5));
        assert!(matches!(ev.decision, NetDecision::Deny { .. }));
    }
    assert_eq!(p.resolutions(), 0);
}

#[tokio::test]
async fn connect_by_domain_resolving_to_loopback_is_not_allowed() {
    let echo = echo_server("127.0.0.1:0").await.unwrap();
    let names = StaticResolver::new()
        .with("loop.example.com", [ip("127.0.0.1")])
        .with("mapped.example.com", [ip("::ffff:127.0.0.1")])
        .with("meta.example.com", [ip("169.254.169.254")]);
    let mut p = Proxy::start(r#"{"network":{"allowedDomains":["*.example.com"]}}"#, names).await;
    for name in ["loop.example.com", "mapped.example.com", "meta.example.com"] {
        let mut s = greet(p.socks).await;
        let (code, _) = request(&mut s, 1, &domain_bytes(name), echo.port()).await;
        assert_eq!(code, NOT_ALLOWED, "{name}");
        let ev = p.event().await;
        assert!(matches!(ev.decision, NetDecision::Deny { code: DenyCode::ResolvedAddress, .. }), "{ev:?}");
    }
    assert_eq!(p.resolutions(), 3);
    // Unknown to the resolver: host unreachable, not a policy denial.
    let mut s = greet(p.socks).await;
    assert_eq!(request(&mut s, 1, &domain_bytes("nx.example.com"), 443).await.0, HOST_UNREACHABLE);
}

#[tokio::test]
async fn connect_by_ipv6_literal_allowed_by_bracketed_entry() {
    let Ok(echo) = echo_server("[::1]:0").await else {
        skip("this machine has no ::1");
        return;
    };
    let p = Proxy::start(
        &format!(r#"{{"network":{{"allowedDomains":["[::1]:{}"]}}}}"#, echo.port()),
        StaticResolver::new(),
    )
    .await;
    let mut s = greet(p.socks).await;
    let (code, bound) = request(&mut s, 1, &addr_bytes(ip("::1")), echo.port()).await;
    assert_eq!(code, 0);
    assert_eq!(bound.ip(), ip("::1"));
    assert_eq!(echo_roundtrip(&mut s, b"over six").await, b"over six");

    // Another port on ::1 is not allowed.
    let mut s = greet(p.socks).await;
    assert_eq!(request(&mut s, 1, &addr_bytes(ip("::1")), echo.port() ^ 1).await.0, NOT_ALLOWED);
}

#[tokio::test]
async fn bind_and_udp_associate_are_command_not_supported() {
    let echo = echo_server("127.0.0.1:0").await.unwrap();
    let mut p = Proxy::start(
        &format!(r#"{{"network":{{"allowedDomains":["127.0.0.1:{}"]}}}}"#, echo.port()),
        StaticResolver::new(),
    )
    .await;
    for cmd in [2u8, 3, 9] {
        let mut s = greet(p.socks).await;
        let (code, _) = request(&mut s, cmd, &addr_bytes(ip("127.0.0.1")), echo.port()).await;
        assert_eq!(code, COMMAND_NOT_SUPPORTED, "command {cmd}");
        assert_closed(&mut s).await;
    }
    p.no_more_events();
}

#[tokio::test]
async fn unknown_address_type_is_address_type_not_supported() {
    let p = Proxy::start(r#"{"network":{"allowedDomains":["example.com"]}}"#, StaticResolver::new()).await;
    let mut s = greet(p.socks).await;
    s.write_all(&[5, 1, 0, 7, 1, 2, 3, 4, 0, 80]).await.unwrap();
    let mut reply = [0u8; 10];
    within(s.read_exact(&mut reply)).await.unwrap();
    assert_eq!(reply[1], ATYP_NOT_SUPPORTED);
}

#[tokio::test]
async fn refused_upstream_is_connection_refused() {
    let port = closed_port().await;
    let p = Proxy::start(&format!(r#"{{"network":{{"allowedDomains":["127.0.0.1:{port}"]}}}}"#), StaticResolver::new())
        .await;
    let mut s = greet(p.socks).await;
    assert_eq!(request(&mut s, 1, &addr_bytes(ip("127.0.0.1")), port).await.0, REFUSED);
}

#[tokio::test]
async fn bad_version_is_closed_without_reply() {
    let p = Proxy::start(r#"{"network":{"allowedDomains":["example.com"]}}"#, StaticResolver::new()).await;
    for greeting in [&[4u8, 1, 0][..], b"GET / HTTP/1.1\r\n\r\n"] {
        let mut s = TcpStream::connect(p.socks).await.unwrap();
        s.write_all(greeting).await.unwrap();
        assert_closed(&mut s).await;
    }
    // A good greeting followed by a request with a bad version.
    let mut s = greet(p.socks).await;
    s.write_all(&[4, 1, 0, 1, 127, 0, 0, 1, 0, 80]).await.unwrap();
    assert_closed(&mut s).await;
}

#[tokio::test]
async fn method_list_without_no_auth_gets_no_acceptable_methods() {
    let p = Proxy::start(r#"{"network":{"allowedDomains":["example.com"]}}"#, StaticResolver::new()).await;
    let mut s = TcpStream::connect(p.socks).await.unwrap();
    s.write_all(&[5, 2, 1, 2]).await.unwrap(); // GSSAPI, username/password
    let mut reply = [0u8; 2];
    within(s.read_exact(&mut reply)).await.unwrap();
    assert_eq!(reply, [5, 0xff]);
    assert_closed(&mut s).await;

    // Zero methods: nothing acceptable either.
    let mut s = TcpStream::connect(p.socks).await.unwrap();
    s.write_all(&[5, 0]).await.unwrap();
    within(s.read_exact(&mut reply)).await.unwrap();
    assert_eq!(reply, [5, 0xff]);
}

#[tokio::test]
async fn a_silent_client_is_dropped_after_the_handshake_timeout() {
    let echo = echo_server("127.0.0.1:0").await.unwrap();
    let settings = format!(r#"{{"network":{{"allowedDomains":["127.0.0.1:{}"]}}}}"#, echo.port());
    let p = Proxy::start_tweaked(&settings, StaticResolver::new(), 16, |cfg| {
        cfg.handshake_timeout = std::time::Duration::from_millis(300);
    })
    .await;
    let mut slow = TcpStream::connect(p.socks).await.unwrap();
    slow.write_all(&[5, 3, 0]).await.unwrap(); // promises 3 methods, sends 1
    // Other clients are served meanwhile.
    let mut s = greet(p.socks).await;
    assert_eq!(request(&mut s, 1, &addr_bytes(ip("127.0.0.1")), echo.port()).await.0, 0);
    // And the silent one is closed without a reply.
    assert_closed(&mut slow).await;
}
