//! Streamable HTTP at `/mcp`: one MCP session per client session, all
//! sharing the policy and the execution slots. Safe to expose only
//! deliberately: a non-loopback address needs a bearer token.

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use rmcp::transport::streamable_http_server::{
    StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
};

use crate::server::SrtServer;

/// Connections served at once; more wait in the listen backlog.
const MAX_CONNECTIONS: usize = 256;
/// A client gets this long to send the head of a request.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The token every request must carry, read from `file`; an error when
/// `addr` is not loopback and no token is given (anyone who can reach the
/// port could run code as this user).
pub fn token(file: Option<&Path>, addr: SocketAddr) -> Result<Option<String>, String> {
    let Some(file) = file else {
        if addr.ip().is_loopback() {
            return Ok(None);
        }
        return Err(format!(
            "--http {addr} is not a loopback address: anyone who can reach it could run code as this user. \
             Give a bearer token with --http-token-file FILE (or SRT_MCP_HTTP_TOKEN_FILE), or serve on 127.0.0.1."
        ));
    };
    let text =
        std::fs::read_to_string(file).map_err(|e| format!("cannot read the token file {}: {e}", file.display()))?;
    let token = text.trim().to_string();
    if token.len() < 16 {
        return Err(format!("the token in {} is shorter than 16 characters", file.display()));
    }
    Ok(Some(token))
}

/// Whether `header` is `Bearer <token>`, compared in constant time.
fn authorized(header: Option<&hyper::header::HeaderValue>, token: &str) -> bool {
    use subtle::ConstantTimeEq;
    let Some(given) = header.and_then(|h| h.to_str().ok()).and_then(|h| h.strip_prefix("Bearer ")) else {
        return false;
    };
    given.as_bytes().ct_eq(token.as_bytes()).into()
}

fn plain(status: hyper::StatusCode, text: impl Into<bytes::Bytes>) -> Reply {
    let mut r = hyper::Response::new(Full::new(text.into()).boxed_unsync());
    *r.status_mut() = status;
    r
}

/// The largest request body accepted (as rmcp's own default and the stdio
/// transport's limit).
const MAX_BODY: usize = 4 << 20;

type Reply = hyper::Response<http_body_util::combinators::UnsyncBoxBody<bytes::Bytes, std::convert::Infallible>>;

/// Reads a POST body and answers malformed JSON with a JSON-RPC parse error
/// (400), as the transport's specification asks, instead of passing it on.
async fn parse_checked(
    req: hyper::Request<hyper::body::Incoming>,
) -> Result<(hyper::Request<Full<bytes::Bytes>>, Option<serde_json::Value>), Reply> {
    let (parts, body) = req.into_parts();
    let limited = http_body_util::Limited::new(body, MAX_BODY);
    let bytes = match limited.collect().await {
        Ok(c) => c.to_bytes(),
        Err(_) => {
            return Err(rpc_error(
                hyper::StatusCode::PAYLOAD_TOO_LARGE,
                -32600,
                "the request is larger than 4 MiB or was cut off",
            ));
        }
    };
    let mut message = None;
    if parts.method == hyper::Method::POST {
        match serde_json::from_slice::<serde_json::Value>(&bytes) {
            Ok(v) => message = Some(v),
            Err(_) => {
                return Err(rpc_error(hyper::StatusCode::BAD_REQUEST, -32700, "Parse error: the body is not JSON"));
            }
        }
    }
    Ok((hyper::Request::from_parts(parts, Full::new(bytes)), message))
}

/// For a `tools/call` in a session: the `notifications/cancelled` to send
/// into that session if the client goes away before the answer (the
/// request's own Host, session, protocol version and token, so the
/// transport takes it as the client's).
fn cancellation_for(
    req: &hyper::Request<Full<bytes::Bytes>>,
    message: Option<&serde_json::Value>,
) -> Option<hyper::Request<Full<bytes::Bytes>>> {
    let m = message?;
    if m.get("method")?.as_str()? != "tools/call" {
        return None;
    }
    let id = m.get("id")?.clone();
    req.headers().get("mcp-session-id")?;
    let note = serde_json::json!({
        "jsonrpc": "2.0",
        "method": "notifications/cancelled",
        "params": {"requestId": id, "reason": "the client's HTTP connection closed before the answer"},
    });
    let mut b = hyper::Request::builder().method(hyper::Method::POST).uri(req.uri().clone());
    for name in ["host", "mcp-session-id", "mcp-protocol-version", "authorization", "origin"] {
        if let Some(v) = req.headers().get(name) {
            b = b.header(name, v.clone());
        }
    }
    b.header(hyper::header::CONTENT_TYPE, "application/json")
        .header(hyper::header::ACCEPT, "application/json, text/event-stream")
        .body(Full::new(bytes::Bytes::from(note.to_string())))
        .ok()
}

/// A response body that runs `on_drop` if it is dropped before its end
/// (the client's connection closed).
struct CancelOnDrop {
    inner: http_body_util::combinators::UnsyncBoxBody<bytes::Bytes, std::convert::Infallible>,
    on_drop: Option<Box<dyn FnOnce() + Send>>,
}

impl hyper::body::Body for CancelOnDrop {
    type Data = bytes::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<bytes::Bytes>, Self::Error>>> {
        let polled = std::pin::Pin::new(&mut self.inner).poll_frame(cx);
        if let std::task::Poll::Ready(None) = polled {
            // Answered in full: nothing to cancel.
            self.on_drop = None;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(f) = self.on_drop.take() {
            f();
        }
    }
}

fn rpc_error(status: hyper::StatusCode, code: i64, message: &str) -> Reply {
    let body =
        serde_json::json!({"jsonrpc": "2.0", "id": null, "error": {"code": code, "message": message}}).to_string();
    let mut r = hyper::Response::new(Full::new(bytes::Bytes::from(body)).boxed_unsync());
    *r.status_mut() = status;
    r.headers_mut().insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("application/json"));
    r
}

/// Serves until the listener fails.
pub async fn serve(server: SrtServer, addr: SocketAddr, token: Option<String>, max_sessions: usize) -> ExitCode {
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => return crate::fail(format!("cannot listen on {addr}: {e}")),
    };
    let local = listener.local_addr().unwrap_or(addr);
    let port = local.port();
    // DNS-rebinding guard: Host must name this server (with its port);
    // Origin, when a browser sends one, must be a loopback page (any port:
    // the Inspector's UI runs on its own).
    let mut hosts = vec![format!("localhost:{port}"), format!("127.0.0.1:{port}"), format!("[::1]:{port}")];
    if !local.ip().is_loopback() {
        hosts.push(local.to_string());
    }
    let config = StreamableHttpServerConfig::default().with_allowed_hosts(hosts).with_allowed_origins([
        "http://localhost:*",
        "http://127.0.0.1:*",
        "http://[::1]:*",
    ]);
    let sessions = Arc::new(LocalSessionManager::default());
    let service = StreamableHttpService::new(move || Ok(server.new_session()), sessions.clone(), config);
    let token = token.map(Arc::new);
    eprintln!(
        "srt-mcp: serving MCP over streamable HTTP at http://{local}/mcp{}",
        if token.is_some() { " (bearer token required)" } else { "" }
    );
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else { return ExitCode::SUCCESS };
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let (service, token, sessions) = (service.clone(), token.clone(), sessions.clone());
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let (mut service, token, sessions) = (service.clone(), token.clone(), sessions.clone());
                async move {
                    if req.uri().path() != "/mcp" {
                        return Ok::<_, std::convert::Infallible>(plain(hyper::StatusCode::NOT_FOUND, "not found\n"));
                    }
                    if let Some(t) = &token
                        && !authorized(req.headers().get(hyper::header::AUTHORIZATION), t)
                    {
                        let mut r = plain(hyper::StatusCode::UNAUTHORIZED, "a bearer token is required\n");
                        r.headers_mut()
                            .insert(hyper::header::WWW_AUTHENTICATE, hyper::header::HeaderValue::from_static("Bearer"));
                        return Ok(r);
                    }
                    // A new session (a POST without a session id) past the cap.
                    if req.method() == hyper::Method::POST
                        && !req.headers().contains_key("mcp-session-id")
                        && sessions.sessions.read().await.len() >= max_sessions
                    {
                        return Ok(plain(
                            hyper::StatusCode::SERVICE_UNAVAILABLE,
                            format!(
                                "{max_sessions} MCP sessions are open (--max-sessions): end one (DELETE /mcp) or wait \
                                 for an idle one to expire (5 minutes)\n"
                            ),
                        ));
                    }
                    let is_delete = req.method() == hyper::Method::DELETE;
                    let (req, message) = match parse_checked(req).await {
                        Ok(r) => r,
                        Err(resp) => return Ok(resp),
                    };
                    let cancel = cancellation_for(&req, message.as_ref());
                    let resp = tower_service::Service::call(&mut service, req).await?;
                    let (mut head, body) = resp.into_parts();
                    // A closed session is answered 200 (clients warn on 202).
                    if is_delete && head.status == hyper::StatusCode::ACCEPTED {
                        head.status = hyper::StatusCode::OK;
                    }
                    let body = body.boxed_unsync();
                    // A tool call whose client goes away before the answer is
                    // cancelled at once, as notifications/cancelled would.
                    let body = match cancel {
                        Some(note) => {
                            let service = service.clone();
                            let on_drop: Box<dyn FnOnce() + Send> = Box::new(move || {
                                let mut service = service;
                                tokio::spawn(async move {
                                    let _ = tower_service::Service::call(&mut service, note).await;
                                });
                            });
                            CancelOnDrop { inner: body, on_drop: Some(on_drop) }.boxed_unsync()
                        }
                        None => body,
                    };
                    Ok(hyper::Response::from_parts(head, body))
                }
            });
            let io = hyper_util::rt::TokioIo::new(stream);
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(io, svc)
                .await;
            drop(permit);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_loopback_needs_a_token() {
        let any: SocketAddr = "0.0.0.0:8765".parse().unwrap();
        let lo: SocketAddr = "127.0.0.1:8765".parse().unwrap();
        assert!(token(None, any).unwrap_err().contains("--http-token-file"));
        assert_eq!(token(None, lo).unwrap(), None);
    }

    #[test]
    fn bearer_check() {
        let h = |s: &str| hyper::header::HeaderValue::from_str(s).unwrap();
        let t = "0123456789abcdef";
        assert!(authorized(Some(&h("Bearer 0123456789abcdef")), t));
        assert!(!authorized(Some(&h("Bearer 0123456789abcdeX")), t));
        assert!(!authorized(Some(&h("Bearer 0123456789abcde")), t));
        assert!(!authorized(Some(&h("Basic 0123456789abcdef")), t));
        assert!(!authorized(None, t));
    }
}
