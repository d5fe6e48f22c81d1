//! Throughput and set-up time of a TLS-terminated tunnel (`tlsTerminate`)
//! against an opaque CONNECT tunnel and against a direct TLS connection,
//! all to one HTTPS source on loopback. Not a test: the figures depend on
//! the machine.
//!
//! ```text
//! cargo run --release -p srt-proxy --example tls_throughput -- [--bytes N] [--conns N] [--runs N]
//! ```
//!
//! 1. A client downloads N bytes (default 256 MiB) over HTTPS: directly,
//!    through an opaque CONNECT tunnel (TLS end to end) and through a
//!    terminated one (TLS to the proxy, the proxy's own TLS upstream). Runs
//!    alternate; medians, MB/s and terminated/opaque.
//! 2. The median time from TCP connect to the first byte of a response over
//!    `--conns` connections (default 200), each a new TLS handshake: what
//!    terminating adds to setting up a connection (two handshakes, a leaf
//!    from the cache).
//!
//! The source's certificate comes from a CA made here; the proxy verifies
//! the source against that CA, the client trusts the proxy's run CA for
//! the terminated path.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, SanType};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use srt_policy::{PathContext, RealFs, from_text};
use srt_proxy::{Interceptor, ProxyConfig, pem_certificates, serve_http};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

const CHUNK: usize = 256 * 1024;

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn client_config(trust: Vec<CertificateDer<'static>>) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for c in trust {
        roots.add(c).expect("a certificate");
    }
    Arc::new(
        ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let (mut bytes, mut conns, mut runs) = (256u64 << 20, 200usize, 5usize);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let v =
            args.next().and_then(|v| v.parse::<u64>().ok()).ok_or_else(|| std::io::Error::other(format!("{a} N")))?;
        match a.as_str() {
            "--bytes" => bytes = v,
            "--conns" => conns = v.max(1) as usize,
            "--runs" => runs = v.max(1) as usize,
            _ => return Err(std::io::Error::other(format!("unknown argument {a}"))),
        }
    }

    // The source: HTTPS on loopback, a leaf for 127.0.0.1 from a CA of ours.
    let ca_key = KeyPair::generate().expect("key");
    let mut ca_params = CertificateParams::default();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).expect("CA");
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf_key = KeyPair::generate().expect("key");
    let mut leaf = CertificateParams::default();
    leaf.subject_alt_names = vec![SanType::IpAddress("127.0.0.1".parse().expect("ip"))];
    let leaf = leaf.signed_by(&leaf_key, &issuer).expect("leaf");
    let server = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(vec![leaf.der().clone()], PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()))
        .expect("server config");
    let acceptor = TlsAcceptor::from(Arc::new(server));
    let source = TcpListener::bind("127.0.0.1:0").await?;
    let source_addr = source.local_addr()?;
    tokio::spawn(async move {
        while let Ok((s, _)) = source.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(s).await else { return };
                let mut head = Vec::new();
                while !head.ends_with(b"\r\n\r\n") {
                    let mut b = [0u8; 1];
                    if tls.read(&mut b).await.unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(b[0]);
                }
                let size = if head.starts_with(b"GET /small") { 1 } else { bytes };
                let reply = format!("HTTP/1.1 200 OK\r\nContent-Length: {size}\r\nConnection: close\r\n\r\n");
                if tls.write_all(reply.as_bytes()).await.is_err() {
                    return;
                }
                let buf = vec![0x5au8; CHUNK];
                let mut left = size;
                while left > 0 {
                    let n = left.min(CHUNK as u64) as usize;
                    if tls.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                    left -= n as u64;
                }
                let _ = tls.shutdown().await;
            });
        }
    });

    // Two proxies: one terminating (verifying the source with our CA), one not.
    let allow = format!(r#""allowedDomains": ["127.0.0.1:{}"]"#, source_addr.port());
    let terminating =
        Arc::new(Interceptor::new(None, client_roots(ca.der().clone()), 256).map_err(std::io::Error::other)?);
    let start = |settings: String, tls: Option<Arc<Interceptor>>| async move {
        let policy = from_text(Some(&settings), None, &context(), &RealFs).expect("settings");
        let mut cfg = ProxyConfig::new(Arc::new(policy));
        cfg.tls = tls;
        cfg.max_connections = 4096;
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = l.local_addr().expect("addr");
        tokio::spawn(serve_http(l, Arc::new(cfg)));
        addr
    };
    let opaque = start(format!(r#"{{"network": {{{allow}}}}}"#), None).await;
    let terminated =
        start(format!(r#"{{"network": {{{allow}, "tlsTerminate": {{}}}}}}"#), Some(terminating.clone())).await;

    let trust_source = client_config(vec![ca.der().clone()]);
    let trust_run_ca = client_config(pem_certificates(terminating.ca_pem()));
    let paths: [(&str, Option<SocketAddr>, Arc<ClientConfig>); 3] = [
        ("direct TLS", None, trust_source.clone()),
        ("opaque CONNECT", Some(opaque), trust_source),
        ("terminated", Some(terminated), trust_run_ca),
    ];

    println!("== download of {} MiB over HTTPS, {runs} runs each, alternating (median)", bytes >> 20);
    let mut medians = Vec::new();
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); paths.len()];
    for _ in 0..runs {
        for (i, (_, proxy, cfg)) in paths.iter().enumerate() {
            let t = Instant::now();
            let got = fetch(source_addr, *proxy, cfg.clone(), "/big").await?;
            assert_eq!(got, bytes, "a whole download");
            times[i].push(t.elapsed());
        }
    }
    for (i, (name, _, _)) in paths.iter().enumerate() {
        let m = median(&mut times[i]);
        medians.push(m);
        println!("{name:<16} {:>8.1} ms  {:>8.1} MB/s", ms(m), bytes as f64 / m.as_secs_f64() / 1e6);
    }
    println!("terminated / opaque speed: {:.2}", medians[1].as_secs_f64() / medians[2].as_secs_f64());

    println!("== connect to first byte, {conns} new connections each (median)");
    let mut setup = Vec::new();
    for (name, proxy, cfg) in &paths {
        let mut v = Vec::with_capacity(conns);
        for _ in 0..conns {
            let t = Instant::now();
            fetch(source_addr, *proxy, cfg.clone(), "/small").await?;
            v.push(t.elapsed());
        }
        let m = median(&mut v);
        setup.push(m);
        println!("{name:<16} {:>8.3} ms", ms(m));
    }
    println!("terminated - opaque: {:+.3} ms per connection", ms(setup[2]) - ms(setup[1]));
    Ok(())
}

fn context() -> PathContext {
    PathContext { cwd: "/".into(), home: "/nonexistent".into() }
}

fn client_roots(ca: CertificateDer<'static>) -> RootCertStore {
    let mut r = RootCertStore::empty();
    r.add(ca).expect("CA");
    r
}

/// One GET of `path` from the source, directly or through `proxy`
/// (CONNECT, then TLS); returns the body's length.
async fn fetch(
    source: SocketAddr,
    proxy: Option<SocketAddr>,
    cfg: Arc<ClientConfig>,
    path: &str,
) -> std::io::Result<u64> {
    let mut tcp = TcpStream::connect(proxy.unwrap_or(source)).await?;
    tcp.set_nodelay(true)?;
    if proxy.is_some() {
        tcp.write_all(format!("CONNECT {source} HTTP/1.1\r\nHost: {source}\r\n\r\n").as_bytes()).await?;
        let head = read_head(&mut tcp).await?;
        if !head.starts_with("HTTP/1.1 200") {
            return Err(std::io::Error::other(head));
        }
    }
    let name = ServerName::try_from("127.0.0.1").expect("name");
    let mut tls = TlsConnector::from(cfg).connect(name, tcp).await?;
    tls.write_all(format!("GET {path} HTTP/1.1\r\nHost: {source}\r\nConnection: close\r\n\r\n").as_bytes()).await?;
    let head = read_head(&mut tls).await?;
    if !head.starts_with("HTTP/1.1 200") {
        return Err(std::io::Error::other(head));
    }
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0u64;
    loop {
        match tls.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => total += n as u64,
            // A peer that closes without close_notify: the body is complete.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(e),
        }
    }
    Ok(total)
}

async fn read_head<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S) -> std::io::Result<String> {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut b = [0u8; 1];
        if s.read(&mut b).await? == 0 {
            return Err(std::io::Error::other("closed inside a response head"));
        }
        head.push(b[0]);
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
