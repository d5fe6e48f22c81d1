//! A terminated tunnel: after the `200` to a `CONNECT`, the client's first
//! bytes are read. A TLS ClientHello is answered with a leaf of the run's CA
//! for the requested name, and every HTTP/1.1 request inside is decided
//! again (the lists, `requireHostMatch` against the server name, the Host
//! header and the `CONNECT` target, `ambiguousRequestTarget`) and forwarded
//! over one TLS connection to the target whose certificate is verified
//! against the host's roots. Anything else is relayed as it is, or closed
//! with `refuseOpaqueTunnels`.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::Incoming;
use hyper::header;
use hyper::{Request, Response, StatusCode, Version};
use hyper_util::rt::{TokioIo, TokioTimer};
use rustls::pki_types::ServerName;
use srt_policy::{DenyCode, NetDecision, TargetDecision};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::timeout;
use tokio_rustls::{LazyConfigAcceptor, TlsConnector};

use crate::config::ProxyConfig;
use crate::http::{Body, refuse_request, strip_hop_by_hop, text};
use crate::relay::relay;
use crate::tls::Interceptor;
use crate::upstream::Conn;

/// How long a terminated tunnel may wait for the next request head.
const TUNNEL_IDLE: Duration = Duration::from_secs(10);

/// The first byte of a TLS record that carries a handshake message.
const TLS_HANDSHAKE: u8 = 0x16;

/// One tunnel to terminate.
pub(crate) struct Tunnel {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) client_addr: Option<SocketAddr>,
    pub(crate) handshake_timeout: Duration,
    pub(crate) refuse_opaque: bool,
    /// Held while the tunnel is open (`maxTunnels`).
    pub(crate) _permit: OwnedSemaphorePermit,
}

/// Serves the tunnel until the client or the upstream is done.
pub(crate) async fn serve(
    cfg: Arc<ProxyConfig>,
    tls: Arc<Interceptor>,
    mut client: TcpStream,
    mut first: Vec<u8>,
    mut upstream: Conn,
    t: Tunnel,
) {
    if first.is_empty() {
        let mut buf = vec![0u8; 4096];
        match timeout(t.handshake_timeout, client.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => {
                buf.truncate(n);
                first = buf;
            }
            _ => return,
        }
    }
    if first[0] != TLS_HANDSHAKE {
        if t.refuse_opaque {
            let reason = "refuseOpaqueTunnels: the tunnel does not carry TLS, so it cannot be terminated".to_string();
            let decision = NetDecision::Deny { code: DenyCode::OpaqueTunnel, rule: None, reason };
            cfg.report_request(&t.host, t.port, decision, t.client_addr);
            return;
        }
        if upstream.write_all(&first).await.is_ok() {
            let _ = relay(&mut client, &mut upstream, cfg.splice).await;
        }
        return;
    }

    let rules = cfg.policy.get().request_rules().clone();
    let acceptor =
        LazyConfigAcceptor::new(rustls::server::Acceptor::default(), Prefixed { first, at: 0, inner: client });
    let Ok(Ok(start)) = timeout(t.handshake_timeout, acceptor).await else { return };
    let sni = start.client_hello().server_name().map(str::to_ascii_lowercase);
    // With requireHostMatch the leaf always names the target, and a server
    // name for another host makes every request a 421.
    let sni_mismatch = rules.require_host_match && sni.as_deref().is_some_and(|s| s != t.host);
    let name = match (&sni, rules.require_host_match) {
        (Some(s), false) => s.clone(),
        _ => t.host.clone(),
    };
    let Ok(server_cfg) = tls.server_config(&name) else { return };
    let Ok(Ok(client_tls)) = timeout(t.handshake_timeout, start.into_stream(server_cfg)).await else { return };

    let tunnel = Arc::new(t);
    let slot: Arc<tokio::sync::Mutex<Slot>> = Arc::new(tokio::sync::Mutex::new(Slot::Pending(Some(upstream))));
    let svc_cfg = cfg.clone();
    let service = hyper::service::service_fn(move |req| {
        let (cfg, tls, tunnel, slot) = (svc_cfg.clone(), tls.clone(), tunnel.clone(), slot.clone());
        async move { Ok::<_, std::convert::Infallible>(forward(req, &cfg, &tls, &tunnel, &slot, sni_mismatch).await) }
    });
    // HTTP/2 when the client chose it by ALPN (requests are forwarded over
    // HTTP/1.1 upstream, one at a time on the tunnel's connection).
    if client_tls.get_ref().1.alpn_protocol() == Some(b"h2") {
        let mut builder = hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new());
        builder.timer(TokioTimer::new()).max_concurrent_streams(MAX_STREAMS);
        let _ = builder.serve_connection(TokioIo::new(client_tls), service).await;
        return;
    }
    let mut builder = hyper::server::conn::http1::Builder::new();
    // An idle terminated tunnel holds one of maxTunnels: closed after 10 s
    // without a request head (srt closes 6 to 10 s after the last exchange).
    builder.timer(TokioTimer::new()).header_read_timeout(cfg.http_idle_timeout.min(TUNNEL_IDLE));
    let _ = builder.serve_connection(TokioIo::new(client_tls), service).await;
}

/// Requests one HTTP/2 client may have open at once in a tunnel.
const MAX_STREAMS: u32 = 100;

/// The upstream of a terminated tunnel: the socket dialed for the CONNECT
/// until the first request, then the HTTP/1 connection over TLS on it.
enum Slot {
    Pending(Option<Conn>),
    Ready(hyper::client::conn::http1::SendRequest<crate::inject::ReqBody>),
    Failed(String),
}

async fn forward(
    req: Request<Incoming>,
    cfg: &ProxyConfig,
    tls: &Interceptor,
    t: &Tunnel,
    slot: &tokio::sync::Mutex<Slot>,
    sni_mismatch: bool,
) -> Response<Body> {
    let policy = cfg.policy.get();
    // The lists may have changed since the CONNECT (--control-fd).
    let decision = policy.decide_host(&t.host, t.port);
    if let NetDecision::Deny { reason, .. } = &decision {
        let mut resp = text(StatusCode::FORBIDDEN, format!("Connection blocked by network allowlist: {reason}\n"));
        if let NetDecision::Deny { code, .. } = &decision {
            resp.headers_mut().insert("x-proxy-error", header::HeaderValue::from_static(code.proxy_error()));
        }
        cfg.report_request(&t.host, t.port, decision, t.client_addr);
        return resp;
    }
    let rules = policy.request_rules();
    if sni_mismatch {
        let why = "TLS server name does not match the request target".to_string();
        return refuse_request(cfg, &t.host, t.port, t.client_addr, Some(DenyCode::Misdirected), why);
    }
    let (mut parts, body) = req.into_parts();
    let http2 = parts.version == Version::HTTP_2;
    if http2 {
        // HTTP/2 names the target in :authority, HTTP/1.1 upstream in Host.
        if let Some(a) = parts.uri.authority().map(|a| a.as_str().to_string())
            && !parts.headers.contains_key(header::HOST)
            && let Ok(v) = header::HeaderValue::from_str(&a)
        {
            parts.headers.insert(header::HOST, v);
        }
    }
    // TRACE echoes the request back, credentials put back by this proxy included.
    if srt_policy::credentials::echoes_request(parts.method.as_str()) && !cfg.sentinels.is_empty() {
        return text(StatusCode::METHOD_NOT_ALLOWED, "TRACE would echo credentials this proxy adds; refused\n");
    }
    let hosts: Vec<&[u8]> = parts.headers.get_all(header::HOST).iter().map(|v| v.as_bytes()).collect();
    if let Some(why) = rules.host_mismatch(&hosts, parts.version == Version::HTTP_11, &t.host, t.port, 443) {
        let code = if why == srt_policy::request::NO_HOST { None } else { Some(DenyCode::Misdirected) };
        return refuse_request(cfg, &t.host, t.port, t.client_addr, code, why.to_string());
    }
    let spelled = parts.uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
    let path = match rules.judge_target(&spelled) {
        TargetDecision::Forward(p) => p,
        TargetDecision::Refuse { reason, .. } => {
            return refuse_request(cfg, &t.host, t.port, t.client_addr, Some(DenyCode::AmbiguousTarget), reason);
        }
    };
    let Ok(uri) = path.parse() else {
        return text(StatusCode::BAD_REQUEST, "the request path is not valid\n");
    };
    parts.uri = uri;
    parts.version = Version::HTTP_11;
    strip_hop_by_hop(&mut parts.headers);
    crate::inject::apply(cfg, &mut parts, &t.host, t.port, true, t.client_addr);
    let injected = crate::inject::injectable(cfg, &t.host, t.port);
    if injected {
        // The request goes to the target's own name (no other virtual host
        // behind the same address, whatever Host the program wrote), and a
        // reflection must come back as text this proxy can scrub.
        let authority =
            if t.host.contains(':') { format!("[{}]:{}", t.host, t.port) } else { format!("{}:{}", t.host, t.port) };
        if let Ok(v) = header::HeaderValue::from_str(&authority) {
            parts.headers.insert(header::HOST, v);
        }
        parts.headers.remove(header::ACCEPT_ENCODING);
    }
    let body = crate::inject::body(cfg, &mut parts, body, &t.host, t.port, true);

    let mut guard = slot.lock().await;
    if let Slot::Pending(conn) = &mut *guard {
        let conn = conn.take().expect("a pending slot holds the socket");
        *guard = match open_upstream(tls, &t.host, conn, cfg.connect_timeout).await {
            Ok(sender) => Slot::Ready(sender),
            Err(e) => Slot::Failed(e),
        };
    }
    // The upstream closed its connection (an HTTP/1.0 server, a keep-alive
    // timeout): a new one to the same target, decided and dialed again.
    if matches!(&*guard, Slot::Ready(s) if s.is_closed()) {
        *guard = redial(cfg, tls, t).await;
    }
    let mut req = Request::from_parts(parts, body);
    let mut retried = false;
    let sent = loop {
        let sender = match &mut *guard {
            Slot::Ready(s) => s,
            Slot::Failed(e) => return text(StatusCode::BAD_GATEWAY, format!("{e}\n")),
            Slot::Pending(_) => unreachable!("opened above"),
        };
        match sender.try_send_request(req).await {
            Ok(resp) => break Ok(resp),
            // Closed before the request went out: once more on a new connection.
            Err(mut e) if !retried && e.message().is_some() => {
                retried = true;
                req = e.take_message().expect("checked above");
                *guard = redial(cfg, tls, t).await;
            }
            Err(e) => break Err(e.into_error()),
        }
    };
    match sent {
        Ok(resp) => {
            let mut resp =
                crate::http::relayed(resp, rules, injected.then_some((t.host.as_str(), t.port, &cfg.sentinels[..])));
            if http2 {
                // Framing is HTTP/2's own there.
                resp.headers_mut().remove(header::TRANSFER_ENCODING);
            }
            resp
        }
        Err(e) => {
            *guard = Slot::Failed(format!("the upstream connection to {}:{} failed: {e}", t.host, t.port));
            text(StatusCode::BAD_GATEWAY, format!("upstream request failed: {e}\n"))
        }
    }
}

/// A new upstream connection for the tunnel's target: decided and dialed
/// as the CONNECT was (the lists may have changed), then TLS.
async fn redial(cfg: &ProxyConfig, tls: &Interceptor, t: &Tunnel) -> Slot {
    match crate::dial::dial(cfg, &t.host, t.port, crate::config::Via::Connect, t.client_addr).await {
        Ok(opened) => match open_upstream(tls, &t.host, opened.conn, cfg.connect_timeout).await {
            Ok(sender) => Slot::Ready(sender),
            Err(e) => Slot::Failed(e),
        },
        Err(e) => Slot::Failed(format!("{e}")),
    }
}

/// TLS to the target over the tunnel's socket, its certificate verified
/// for `host`, then an HTTP/1 client connection on it.
async fn open_upstream(
    tls: &Interceptor,
    host: &str,
    conn: Conn,
    limit: Duration,
) -> Result<hyper::client::conn::http1::SendRequest<crate::inject::ReqBody>, String> {
    let name = ServerName::try_from(host.to_string()).map_err(|e| format!("{host} is not a TLS server name: {e}"))?;
    let connector = TlsConnector::from(tls.upstream());
    let stream = match timeout(limit, connector.connect(name, conn)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(format!("TLS to {host} failed: {e}")),
        Err(_) => return Err(format!("TLS to {host} timed out")),
    };
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("HTTP to {host} failed: {e}"))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

/// A socket whose first bytes were already read: they are read again
/// first, then the socket.
struct Prefixed {
    first: Vec<u8>,
    at: usize,
    inner: TcpStream,
}

impl AsyncRead for Prefixed {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if self.at < self.first.len() {
            let n = (self.first.len() - self.at).min(buf.remaining());
            let at = self.at;
            buf.put_slice(&self.first[at..at + n]);
            self.at += n;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Prefixed {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
