//! Shared test fixtures: a proxy on 127.0.0.1 with an injected resolver, and
//! real servers (TCP echo, a small HTTP origin) on loopback.
#![allow(dead_code, unused_imports)]

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use srt_policy::{PathContext, Policy, RealFs, from_text};
use srt_proxy::{NetEvent, ProxyConfig, ResolveFuture, Resolver, StaticResolver, serve_http, serve_socks5};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// Every test step that waits on the network is bounded by this.
pub const STEP: Duration = Duration::from_secs(20);

pub async fn within<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(STEP, f).await.expect("test step timed out")
}

pub fn policy(settings: &str) -> Policy {
    let ctx = PathContext { cwd: "/".into(), home: "/nonexistent-home".into() };
    from_text(Some(settings), None, &ctx, &RealFs).expect("test settings are valid")
}

/// A resolver that counts its lookups, to prove a name is resolved once.
#[derive(Debug)]
pub struct Counting {
    pub inner: StaticResolver,
    pub calls: AtomicUsize,
}

impl Resolver for Counting {
    fn resolve<'a>(&'a self, host: &'a str, port: u16) -> ResolveFuture<'a> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.resolve(host, port)
    }
}

pub struct Proxy {
    pub http: SocketAddr,
    pub socks: SocketAddr,
    pub events: mpsc::Receiver<NetEvent>,
    pub resolver: Arc<Counting>,
    pub cfg: Arc<ProxyConfig>,
}

impl Proxy {
    /// Both proxies for `settings`, names resolved by `names` only.
    pub async fn start(settings: &str, names: StaticResolver) -> Proxy {
        Proxy::start_with(settings, names, false).await
    }

    pub async fn start_with(settings: &str, names: StaticResolver, debug: bool) -> Proxy {
        Proxy::start_tweaked(settings, names, 256, |cfg| cfg.debug = debug).await
    }

    /// A proxy with an event channel of `capacity` and `tweak` applied to
    /// its configuration.
    pub async fn start_tweaked(
        settings: &str,
        names: StaticResolver,
        capacity: usize,
        tweak: impl FnOnce(&mut ProxyConfig),
    ) -> Proxy {
        let resolver = Arc::new(Counting { inner: names, calls: AtomicUsize::new(0) });
        let (tx, rx) = mpsc::channel(capacity);
        let mut cfg = ProxyConfig::new(Arc::new(policy(settings)));
        cfg.resolver = resolver.clone();
        cfg.events = Some(tx);
        cfg.connect_timeout = Duration::from_secs(5);
        tweak(&mut cfg);
        let cfg = Arc::new(cfg);
        let http = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let socks = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (http_addr, socks_addr) = (http.local_addr().unwrap(), socks.local_addr().unwrap());
        tokio::spawn(serve_http(http, cfg.clone()));
        tokio::spawn(serve_socks5(socks, cfg.clone()));
        Proxy { http: http_addr, socks: socks_addr, events: rx, resolver, cfg }
    }

    pub fn resolutions(&self) -> usize {
        self.resolver.calls.load(Ordering::SeqCst)
    }

    /// The next event, waiting briefly for it.
    pub async fn event(&mut self) -> NetEvent {
        within(self.events.recv()).await.expect("event channel open")
    }

    pub fn no_more_events(&mut self) {
        assert!(self.events.try_recv().is_err(), "unexpected event");
    }
}

/// A TCP echo server on `addr` (port 0 for any).
pub async fn echo_server(addr: &str) -> io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    Ok(local)
}

/// A loopback port with nothing listening on it.
pub async fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap().port()
}

/// What an origin server saw of one request.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// An HTTP/1 origin on 127.0.0.1 that answers `origin <port> saw <target>`
/// and records every request.
pub struct Origin {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    /// Connections accepted so far.
    pub connections: Arc<std::sync::atomic::AtomicUsize>,
}

impl Origin {
    pub async fn start() -> Origin {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let connections = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = connections.clone();
        tokio::spawn(async move {
            while let Ok((s, _)) = listener.accept().await {
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let log = log.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                        let log = log.clone();
                        async move {
                            let (parts, body) = req.into_parts();
                            let body = body.collect().await.map(|b| b.to_bytes().to_vec()).unwrap_or_default();
                            let target = parts.uri.to_string();
                            let reply = format!(
                                "origin {} saw {} {} ({} bytes)",
                                addr.port(),
                                parts.method,
                                target,
                                body.len()
                            );
                            log.lock().unwrap().push(Seen {
                                method: parts.method.to_string(),
                                target,
                                headers: parts
                                    .headers
                                    .iter()
                                    .map(|(k, v)| (k.to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
                                    .collect(),
                                body,
                            });
                            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(reply))))
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(s), svc).await;
                });
            }
        });
        Origin { addr, seen, connections }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// A parsed HTTP response head, read byte by byte so nothing past it is
/// consumed (the tunnel's bytes stay in the socket).
#[derive(Debug)]
pub struct Head {
    pub status: u16,
    pub headers: Vec<(String, String)>,
}

impl Head {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

pub async fn read_head(s: &mut TcpStream) -> Head {
    let mut raw = Vec::new();
    while !raw.ends_with(b"\r\n\r\n") {
        let mut b = [0u8; 1];
        let n = within(s.read(&mut b)).await.unwrap();
        assert!(n == 1, "connection closed inside a response head: {:?}", String::from_utf8_lossy(&raw));
        raw.push(b[0]);
        assert!(raw.len() < 64 * 1024);
    }
    let text = String::from_utf8(raw).unwrap();
    let mut lines = text.split("\r\n");
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers = lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (k, v) = l.split_once(':').unwrap();
            (k.trim().to_ascii_lowercase(), v.trim().to_string())
        })
        .collect();
    Head { status, headers }
}

/// Reads a response body framed by Content-Length.
pub async fn read_body(s: &mut TcpStream, head: &Head) -> String {
    let len: usize = head.header("content-length").expect("content-length").parse().unwrap();
    let mut body = vec![0u8; len];
    within(s.read_exact(&mut body)).await.unwrap();
    String::from_utf8(body).unwrap()
}

/// Sends `request` on a new connection to the HTTP proxy; returns the
/// connection and the response head.
pub async fn send(proxy: SocketAddr, request: &str) -> (TcpStream, Head) {
    let mut s = within(TcpStream::connect(proxy)).await.unwrap();
    within(s.write_all(request.as_bytes())).await.unwrap();
    let head = read_head(&mut s).await;
    (s, head)
}

/// `CONNECT target` on a new connection.
pub async fn connect(proxy: SocketAddr, target: &str) -> (TcpStream, Head) {
    send(proxy, &format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n")).await
}

/// Writes `data` and reads the same number of bytes back, concurrently.
pub async fn echo_roundtrip(s: &mut TcpStream, data: &[u8]) -> Vec<u8> {
    let (mut r, mut w) = s.split();
    let mut back = vec![0u8; data.len()];
    let (wr, rd) = within(async { tokio::join!(w.write_all(data), r.read_exact(&mut back)) }).await;
    wr.unwrap();
    rd.unwrap();
    back
}

pub fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// One of this host's non-loopback interface addresses, if it has one.
pub fn a_host_address() -> Option<IpAddr> {
    srt_proxy::host_addresses()
        .into_iter()
        .find(|a| !a.is_loopback() && !matches!(a, IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80))
}

/// Skips a test whose prerequisite this machine lacks, or fails it when
/// `SRT_MUST_WORK=1` (as in CI), as the other crates' tests do.
pub use srt_testkit::skip;

/// A CA made now, and a TLS server configuration for `127.0.0.1` whose
/// leaf that CA signed.
pub fn loopback_tls() -> (rustls::pki_types::CertificateDer<'static>, Arc<rustls::ServerConfig>) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, SanType};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::default();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf_key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::default();
    leaf.subject_alt_names = vec![SanType::IpAddress("127.0.0.1".parse().unwrap())];
    let leaf = leaf.signed_by(&leaf_key, &issuer).unwrap();
    let server = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
        )
        .unwrap();
    (ca.der().clone(), Arc::new(server))
}
