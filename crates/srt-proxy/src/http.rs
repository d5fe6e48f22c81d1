//! The HTTP proxy: `CONNECT host:port` tunnels and absolute-URI requests
//! (`GET http://host/path`), on hyper's HTTP/1 server and client.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Either, Full};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::http::uri::{Authority, Uri};
use hyper::{Method, Request, Response, StatusCode, Version};
use hyper_util::rt::{TokioIo, TokioTimer};
use srt_policy::{DenyCode, NetDecision, TargetDecision};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

use crate::config::{ProxyConfig, Via};
use crate::dial::{DialError, dial};
use crate::inject::ReqBody;
use crate::relay::relay;
use crate::serve::accept_loop;
use crate::upstream::{Conn, Hop};

/// Largest request head (request line and headers) a client may send;
/// larger gets `431`.
const MAX_HEAD: usize = 64 * 1024;

/// Headers that describe one hop, never forwarded (RFC 9110 section 7.6.1),
/// plus the proxy's own credentials.
const HOP_BY_HOP: [&str; 7] =
    ["connection", "keep-alive", "proxy-connection", "proxy-authorization", "proxy-authenticate", "te", "upgrade"];

pub(crate) type Body = Either<Incoming, Either<Full<Bytes>, UnsyncBoxBody<Bytes, hyper::Error>>>;

/// The upstream connection of the last absolute-URI request on one client
/// connection, kept for the next request to the same `host:port`.
struct Kept {
    host: String,
    port: u16,
    hop: Hop,
    sender: hyper::client::conn::http1::SendRequest<ReqBody>,
}

/// One per client connection (whose requests hyper serves one at a time).
type Upstream = Arc<std::sync::Mutex<Option<Kept>>>;

/// Serves the HTTP proxy on `listener` until it fails for good (an error
/// such as `EBADF`; transient accept errors are waited out).
pub async fn serve_http(listener: TcpListener, cfg: Arc<ProxyConfig>) -> io::Result<()> {
    accept_loop(listener, cfg, serve_connection).await
}

async fn serve_connection(stream: TcpStream, cfg: Arc<ProxyConfig>) {
    let client = stream.peer_addr().ok();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(cfg.http_idle_timeout).max_header_size(MAX_HEAD);
    let svc_cfg = cfg.clone();
    let upstream: Upstream = Default::default();
    let service = hyper::service::service_fn(move |req| {
        let (cfg, upstream) = (svc_cfg.clone(), upstream.clone());
        async move { Ok::<_, Infallible>(handle(req, cfg, client, upstream).await) }
    });
    // Errors here are the client's (malformed request, reset): hyper has
    // already answered what could be answered.
    let _ = builder.serve_connection(TokioIo::new(stream), service).with_upgrades().await;
}

async fn handle(
    req: Request<Incoming>,
    cfg: Arc<ProxyConfig>,
    client: Option<SocketAddr>,
    upstream: Upstream,
) -> Response<Body> {
    if req.method() == Method::CONNECT {
        connect(req, &cfg, client).await
    } else {
        forward(req, &cfg, client, &upstream).await
    }
}

async fn connect(req: Request<Incoming>, cfg: &Arc<ProxyConfig>, client: Option<SocketAddr>) -> Response<Body> {
    let uri = req.uri();
    let Some(auth) = uri.authority().filter(|_| uri.scheme().is_none() && uri.path_and_query().is_none()) else {
        return text(StatusCode::BAD_REQUEST, "CONNECT needs a host:port target\n");
    };
    let Some(port) = auth.port_u16().filter(|p| *p != 0) else {
        return text(StatusCode::BAD_REQUEST, "CONNECT needs a host:port target with a port\n");
    };
    let host = crate::dial::unbracket(auth.host()).to_ascii_lowercase();
    let policy = cfg.policy.get();
    // Terminated, opaque, or refused for being opaque: decided before
    // anything is dialed, for a host the lists allow (a denied one gets its
    // 403 from the dial).
    let mut terminated = None;
    if let Some(t) = policy.tls_termination()
        && policy.decide_host(&host, port).is_allowed()
    {
        let through_mitm = matches!(policy.route(cfg.parent.as_ref(), &host, port, true), srt_policy::Route::Mitm(_));
        match &cfg.tls {
            Some(tls) if t.terminates(&host, port) && !through_mitm => match tls.tunnels.clone().try_acquire_owned() {
                Ok(permit) => terminated = Some((tls.clone(), t.handshake_timeout, t.refuse_opaque, permit)),
                Err(_) => {
                    let reason = format!("tlsTerminate.maxTunnels ({}) terminated tunnels are open", t.max_tunnels);
                    return refuse_tunnel(cfg, &host, port, client, DenyCode::TooManyTunnels, reason);
                }
            },
            _ if t.refuse_opaque => {
                let reason = format!(
                    "refuseOpaqueTunnels: {host}:{port} would not be TLS-terminated (tlsTerminate.excludeDomains or \
                     mitmProxy), so the proxy could not see into it"
                );
                return refuse_tunnel(cfg, &host, port, client, DenyCode::OpaqueTunnel, reason);
            }
            _ => {}
        }
    }
    let upstream = match dial(cfg, auth.host(), port, Via::Connect, client).await {
        Ok(s) => s,
        Err(e) => return dial_error(&e),
    };
    let cfg = cfg.clone();
    tokio::spawn(async move {
        let Ok(upgraded) = hyper::upgrade::on(req).await else { return };
        match terminated {
            None => tunnel(upgraded, upstream.conn, cfg.splice).await,
            Some((tls, handshake_timeout, refuse_opaque, permit)) => {
                let Ok(parts) = upgraded.downcast::<TokioIo<TcpStream>>() else { return };
                let t = crate::intercept::Tunnel {
                    host,
                    port,
                    client_addr: client,
                    handshake_timeout,
                    refuse_opaque,
                    _permit: permit,
                };
                let first = parts.read_buf.to_vec();
                crate::intercept::serve(cfg, tls, parts.io.into_inner(), first, upstream.conn, t).await;
            }
        }
    });
    Response::new(Either::Right(Either::Left(Full::default())))
}

/// Answers a CONNECT that TLS termination refuses (403, or 503 past
/// `maxTunnels`) and reports it.
fn refuse_tunnel(
    cfg: &ProxyConfig,
    host: &str,
    port: u16,
    client: Option<SocketAddr>,
    code: DenyCode,
    reason: String,
) -> Response<Body> {
    let status = if code == DenyCode::TooManyTunnels { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::FORBIDDEN };
    let mut resp = text(status, format!("{reason}\n"));
    resp.headers_mut().insert("x-proxy-error", HeaderValue::from_static(code.proxy_error()));
    cfg.report_request(host, port, NetDecision::Deny { code, rule: None, reason }, client);
    resp
}

/// Relays between the client and the upstream until both directions end.
async fn tunnel(upgraded: hyper::upgrade::Upgraded, mut upstream: Conn, splice: bool) {
    match upgraded.downcast::<TokioIo<TcpStream>>() {
        // The usual case: take the client's socket back from hyper, so the
        // relay runs on two plain sockets with no adapter in between.
        Ok(parts) => {
            let mut client = parts.io.into_inner();
            // Bytes the client sent right behind its CONNECT request.
            if !parts.read_buf.is_empty() && upstream.write_all(&parts.read_buf).await.is_err() {
                return;
            }
            let _ = relay(&mut client, &mut upstream, splice).await;
        }
        // Not reached with the listener types this crate serves; kept so a
        // change in hyper's wrapping degrades to a slower tunnel, not none.
        Err(upgraded) => {
            let mut client = TokioIo::new(upgraded);
            let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
        }
    }
}

/// Forwards an absolute-URI request to its origin server and relays the
/// response. Each request is decided on its own, so requests on one
/// kept-alive client connection may go to different hosts; the upstream
/// connection of the previous request is reused when the next one goes to
/// the same `host:port` (the name was resolved and its address vetted when
/// it was dialed) and it is idle.
async fn forward(
    req: Request<Incoming>,
    cfg: &ProxyConfig,
    client: Option<SocketAddr>,
    upstream: &Upstream,
) -> Response<Body> {
    let (mut parts, body) = req.into_parts();
    let target = match origin_target(&parts.uri, &parts.headers) {
        Ok(t) => t,
        Err(msg) => return text(StatusCode::BAD_REQUEST, msg),
    };
    let host = crate::dial::unbracket(target.authority.host()).to_ascii_lowercase();
    let policy = cfg.policy.get();
    let rules = policy.request_rules();
    // The request-level rules, for a host the lists allow (a host they deny
    // gets its 403 from the dial below), before anything is sent upstream.
    let mut path = target.path.to_string();
    if policy.decide_host(&host, target.port).is_allowed() {
        let hosts: Vec<&[u8]> = parts.headers.get_all(header::HOST).iter().map(|v| v.as_bytes()).collect();
        let http11 = parts.version == Version::HTTP_11;
        if let Some(why) = rules.host_mismatch(&hosts, http11, target.authority.host(), target.port, 80) {
            let code = if why == srt_policy::request::NO_HOST { None } else { Some(DenyCode::Misdirected) };
            return refuse_request(cfg, &host, target.port, client, code, why.to_string());
        }
        match rules.judge_target(&path) {
            TargetDecision::Forward(p) => path = p,
            TargetDecision::Refuse { reason, .. } => {
                return refuse_request(cfg, &host, target.port, client, Some(DenyCode::AmbiguousTarget), reason);
            }
        }
    }
    let hop = Hop::of(&policy.route(cfg.parent.as_ref(), &host, target.port, false));
    let kept = upstream.lock().unwrap_or_else(|e| e.into_inner()).take();
    let reusable = kept.filter(|k| {
        k.host == host && k.port == target.port && k.hop == hop && k.sender.is_ready() && {
            policy.decide_host(&host, k.port).is_allowed()
        }
    });
    let (mut sender, mut reused, hop) = match reusable {
        Some(k) => (k.sender, true, k.hop),
        None => match open_upstream(cfg, &target.authority, target.port, client).await {
            Ok((s, hop)) => (s, false, hop),
            Err(resp) => return resp,
        },
    };

    // Over a proxy hop the request keeps its absolute form (with the
    // target's own authority, whatever the client wrote), so that proxy
    // knows where it goes.
    let uri = match hop {
        Hop::Origin => path.parse::<Uri>(),
        _ => format!("http://{}{path}", target.host_header.to_str().unwrap_or_default()).parse::<Uri>(),
    };
    let Ok(uri) = uri else {
        return text(StatusCode::BAD_REQUEST, "the request path is not valid\n");
    };
    parts.uri = uri;
    parts.version = Version::HTTP_11;
    strip_hop_by_hop(&mut parts.headers);
    parts.headers.insert(header::HOST, target.host_header);
    // TRACE echoes the request back, credentials added by this proxy included.
    if srt_policy::credentials::echoes_request(parts.method.as_str())
        && (hop.authorization().is_some() || !cfg.sentinels.is_empty())
    {
        return text(StatusCode::METHOD_NOT_ALLOWED, "TRACE would echo credentials this proxy adds; refused\n");
    }
    let plaintext_inject = policy.credentials.allow_plaintext_inject;
    crate::inject::apply(cfg, &mut parts, &host, target.port, plaintext_inject, client);
    let injected = plaintext_inject && crate::inject::injectable(cfg, &host, target.port);
    if injected {
        // A reflection must come back as text this proxy can scrub.
        parts.headers.remove(header::ACCEPT_ENCODING);
    }
    let body = crate::inject::body(cfg, &mut parts, body, &host, target.port, plaintext_inject);
    if let Some(auth) = hop.authorization().and_then(|a| HeaderValue::from_str(a).ok()) {
        parts.headers.insert(header::PROXY_AUTHORIZATION, auth);
    }

    let mut req = Request::from_parts(parts, body);
    let sent = loop {
        match sender.try_send_request(req).await {
            Ok(resp) => break Ok(resp),
            // The kept connection closed before the request went out (the
            // server's idle timeout): once more on a new connection.
            Err(mut e) if reused && e.message().is_some() => {
                reused = false;
                req = e.take_message().expect("checked above");
                sender = match open_upstream(cfg, &target.authority, target.port, client).await {
                    Ok((s, _)) => s,
                    Err(resp) => return resp,
                };
            }
            Err(e) => break Err(e.into_error()),
        }
    };
    *upstream.lock().unwrap_or_else(|e| e.into_inner()) =
        Some(Kept { host: host.clone(), port: target.port, hop, sender });
    match sent {
        // Upgrade was stripped from the request; a server that switches
        // protocols anyway gets nothing relayed.
        Ok(resp) if resp.status() == StatusCode::SWITCHING_PROTOCOLS => {
            text(StatusCode::BAD_GATEWAY, "upstream switched protocols, which this proxy does not relay\n")
        }
        Ok(resp) => relayed(resp, rules, injected.then_some((host.as_str(), target.port, &cfg.sentinels[..]))),
        Err(e) => text(StatusCode::BAD_GATEWAY, format!("upstream request failed: {e}\n")),
    }
}

/// An upstream response as the client gets it: hop-by-hop headers removed,
/// and `stripResponseHeaders` applied to the head and to any trailers.
pub(crate) fn relayed(
    resp: Response<Incoming>,
    rules: &srt_policy::RequestRules,
    scrub: Option<(&str, u16, &[srt_policy::Sentinel])>,
) -> Response<Body> {
    let (mut head, body) = resp.into_parts();
    strip_hop_by_hop(&mut head.headers);
    let strip = |headers: &mut HeaderMap| {
        let names: Vec<HeaderName> = headers.keys().filter(|n| rules.strips(n.as_str())).cloned().collect();
        for name in names {
            headers.remove(name);
        }
    };
    strip(&mut head.headers);
    // From a host credentials went to: real values back to sentinels.
    let back =
        scrub.and_then(|(host, port, sentinels)| crate::inject::scrub_response(&mut head, host, port, sentinels));
    if rules.strip_response_headers.is_empty() && back.is_none() {
        return Response::from_parts(head, Either::Left(body));
    }
    let body = match back {
        Some(sub) => ReqBody::Substituted { inner: body, sub, trailers: None, done: false },
        None => ReqBody::Plain(body),
    };
    let rules = rules.clone();
    let body = body
        .map_frame(move |mut frame| {
            if let Some(trailers) = frame.trailers_mut() {
                let names: Vec<HeaderName> = trailers.keys().filter(|n| rules.strips(n.as_str())).cloned().collect();
                for name in names {
                    trailers.remove(name);
                }
            }
            frame
        })
        .boxed_unsync();
    Response::from_parts(head, Either::Right(Either::Right(body)))
}

/// Answers a request the request-level rules refuse (421 for a Host that
/// names another target, 400 otherwise) and reports it; a request without
/// any Host (`code` `None`) is a malformed request, answered and not
/// reported.
pub(crate) fn refuse_request(
    cfg: &ProxyConfig,
    host: &str,
    port: u16,
    client: Option<SocketAddr>,
    code: Option<DenyCode>,
    reason: String,
) -> Response<Body> {
    let status = match code {
        Some(DenyCode::Misdirected) => StatusCode::MISDIRECTED_REQUEST,
        _ => StatusCode::BAD_REQUEST,
    };
    let mut resp = text(status, format!("{reason}\n"));
    let mark = code.map_or("blocked-by-sandbox-runtime", DenyCode::proxy_error);
    resp.headers_mut().insert("x-proxy-error", HeaderValue::from_static(mark));
    if let Some(code) = code {
        let decision = NetDecision::Deny { code, rule: None, reason };
        cfg.report_request(host, port, decision, client);
    }
    resp
}

/// Dials `authority` (deciding it) and opens an HTTP/1 client connection.
async fn open_upstream(
    cfg: &ProxyConfig,
    authority: &Authority,
    port: u16,
    client: Option<SocketAddr>,
) -> Result<(hyper::client::conn::http1::SendRequest<ReqBody>, Hop), Response<Body>> {
    let opened = dial(cfg, authority.host(), port, Via::Http, client).await.map_err(|e| dial_error(&e))?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(opened.conn))
        .await
        .map_err(|e| text(StatusCode::BAD_GATEWAY, format!("upstream connection failed: {e}\n")))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok((sender, opened.hop))
}

struct OriginTarget {
    authority: Authority,
    port: u16,
    /// The origin-form request target (`/path?query`).
    path: Uri,
    /// `host[:port]`, without any userinfo.
    host_header: HeaderValue,
}

/// Checks an absolute-URI request: `http` scheme and a host. The Host header
/// sent upstream is the target's, whatever the client sent.
fn origin_target(uri: &Uri, headers: &HeaderMap) -> Result<OriginTarget, String> {
    let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
        return Err("this is a proxy: the request target must be an absolute URI (http://host/path), \
                    or use CONNECT host:port\n"
            .into());
    };
    if !scheme.eq_ignore_ascii_case("http") {
        return Err(format!("only http:// URIs are forwarded; use CONNECT for {scheme}://\n"));
    }
    let host = authority.host();
    let port = authority.port_u16().unwrap_or(80);
    if port == 0 || host.is_empty() {
        return Err(format!("{authority} is not a valid host:port\n"));
    }
    // RFC 9112 §3.2.2: with an absolute-form target a proxy ignores the
    // received Host and replaces it with the target's, so the origin always
    // sees the host that was decided (clients such as Node's http.get name
    // the proxy itself in Host). More than one Host header is still a 400.
    if headers.get_all(header::HOST).iter().nth(1).is_some() {
        return Err("more than one Host header\n".into());
    }
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let path = if path.is_empty() { "/" } else { path };
    let path = path.parse::<Uri>().map_err(|_| "the request path is not valid\n".to_string())?;
    let host_header = match authority.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    };
    let host_header = HeaderValue::from_str(&host_header).map_err(|_| "the host is not valid\n".to_string())?;
    Ok(OriginTarget { authority: authority.clone(), port, path, host_header })
}

/// Removes hop-by-hop headers, including those the Connection header lists.
/// Framing (Content-Length, Transfer-Encoding) is left for hyper, which
/// re-frames the body on the next hop.
pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let listed: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .filter(|name| ![header::CONTENT_LENGTH, header::TRANSFER_ENCODING, header::HOST].contains(name))
        .collect();
    for name in listed {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

fn dial_error(e: &DialError) -> Response<Body> {
    match e {
        DialError::Denied(NetDecision::Deny { code, reason, .. }) => {
            let mut resp = text(StatusCode::FORBIDDEN, format!("Connection blocked by network allowlist: {reason}\n"));
            resp.headers_mut().insert("x-proxy-error", HeaderValue::from_static(code.proxy_error()));
            resp
        }
        other => text(StatusCode::BAD_GATEWAY, format!("{other}\n")),
    }
}

pub(crate) fn text(status: StatusCode, body: impl Into<String>) -> Response<Body> {
    let mut resp = Response::new(Either::Right(Either::Left(Full::new(Bytes::from(body.into())))));
    *resp.status_mut() = status;
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(HeaderName::from_bytes(k.as_bytes()).unwrap(), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn origin_target_rewrites_host() {
        let uri: Uri = "http://user@Example.com:8080/a/b?c=d".parse().unwrap();
        let t = origin_target(&uri, &headers(&[("host", "example.COM.:8080")])).unwrap();
        assert_eq!(t.path, "/a/b?c=d");
        assert_eq!(t.port, 8080);
        assert_eq!(t.host_header, "Example.com:8080");

        let t = origin_target(&"http://example.com".parse().unwrap(), &HeaderMap::new()).unwrap();
        assert_eq!(t.path, "/");
        assert_eq!(t.port, 80);

        // A disagreeing Host is replaced by the target's (RFC 9112 §3.2.2).
        for (uri, host, want) in [
            ("http://example.com/", "other.com", "example.com"),
            ("http://example.com/", "example.com:81", "example.com"),
            ("http://example.com:81/", "example.com", "example.com:81"),
            ("http://example.com/", "exa mple.com", "example.com"),
        ] {
            let t = origin_target(&uri.parse().unwrap(), &headers(&[("host", host)])).unwrap();
            assert_eq!(t.host_header, want, "{uri} {host}");
        }
        let two = headers(&[("host", "example.com"), ("host", "example.com")]);
        assert!(origin_target(&"http://example.com/".parse().unwrap(), &two).is_err());
        assert!(origin_target(&"/relative".parse().unwrap(), &HeaderMap::new()).is_err());
        assert!(origin_target(&"https://example.com/".parse().unwrap(), &HeaderMap::new()).is_err());
    }

    #[test]
    fn hop_by_hop_headers_are_dropped() {
        let mut h = headers(&[
            ("connection", "keep-alive, X-Secret, content-length"),
            ("proxy-connection", "keep-alive"),
            ("proxy-authorization", "Basic Zm9vOmJhcg=="),
            ("x-secret", "1"),
            ("content-length", "3"),
            ("accept", "*/*"),
        ]);
        strip_hop_by_hop(&mut h);
        let mut names: Vec<_> = h.keys().map(|k| k.as_str()).collect();
        names.sort();
        assert_eq!(names, ["accept", "content-length"]);
    }
}
