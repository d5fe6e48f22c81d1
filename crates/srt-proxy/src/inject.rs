//! Credential masking on the way out: the sentinels of masked credentials
//! in a request's target and header values are replaced by their real
//! values when the request goes to a host the credential may reach
//! (`srt_policy::credentials::substitute` decides); any other sentinel is
//! left as it is and reported.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Frame, Incoming};
use hyper::header::HeaderValue;
use hyper::http::request::Parts;
use srt_policy::credentials::{BodySubstitution, SENTINEL_PREFIX, substitute};
use srt_policy::{DenyCode, NetDecision, Sentinel};

use crate::config::ProxyConfig;

/// Substitutes in `parts` for `host:port` (`may_inject` false: nothing is
/// replaced, as on plain HTTP without `allowPlaintextInject`), and reports
/// each credential whose sentinel stays.
pub(crate) fn apply(
    cfg: &ProxyConfig,
    parts: &mut Parts,
    host: &str,
    port: u16,
    may_inject: bool,
    client: Option<std::net::SocketAddr>,
) -> bool {
    let sentinels: &[Sentinel] = &cfg.sentinels;
    if sentinels.is_empty() || !carries_sentinel(parts) {
        return false;
    }
    let mut refused: Vec<String> = Vec::new();
    let mut note = |names: Vec<String>| {
        for n in names {
            if !refused.contains(&n) {
                refused.push(n);
            }
        }
    };
    // A host that no credential may reach is judged as such: nothing replaced.
    let (judge_host, judge_port) = if may_inject { (host, port) } else { ("", 0) };
    let target = parts.uri.to_string();
    if target.contains(SENTINEL_PREFIX) {
        let s = substitute(&target, judge_host, judge_port, sentinels);
        note(s.refused);
        if let Ok(uri) = s.text.parse() {
            parts.uri = uri;
        }
    }
    for (name, value) in parts.headers.iter_mut() {
        let Ok(text) = value.to_str() else { continue };
        if !srt_policy::credentials::may_carry(name.as_str()) {
            note(sentinels.iter().filter(|s| text.contains(&s.sentinel)).map(|s| s.name.clone()).collect());
            continue;
        }
        if !text.contains(SENTINEL_PREFIX) {
            continue;
        }
        let s = substitute(text, judge_host, judge_port, sentinels);
        note(s.refused);
        if let Ok(new) = HeaderValue::from_str(&s.text) {
            let sensitive = new.is_sensitive() || s.text != text;
            *value = new;
            value.set_sensitive(sensitive);
        }
    }
    let injected = may_inject && injectable(cfg, host, port);
    for name in refused {
        let why = if may_inject {
            "which is not among its injectHosts"
        } else {
            "over plain HTTP (allowPlaintextInject is off)"
        };
        let reason = format!("the sentinel of {name} was sent to {host}:{port}, {why}; it went out unreplaced");
        let decision = NetDecision::Deny { code: DenyCode::Credential, rule: Some(name), reason };
        cfg.report_request(host, port, decision, client);
    }
    injected
}

/// Whether some masked credential may go to `host:port`: requests there
/// keep the target's own Host and ask for no compression, and what comes
/// back is scrubbed ([`scrub_response`]), whether or not this request
/// carries a sentinel in its head (its body may).
pub(crate) fn injectable(cfg: &ProxyConfig, host: &str, port: u16) -> bool {
    !cfg.sentinels.is_empty() && BodySubstitution::for_host(host, port, &cfg.sentinels).is_some()
}

/// Whether a sentinel appears in the request's target or header values.
pub(crate) fn carries_sentinel(parts: &Parts) -> bool {
    parts.uri.to_string().contains(SENTINEL_PREFIX)
        || parts.headers.values().any(|v| v.to_str().is_ok_and(|t| t.contains(SENTINEL_PREFIX)))
}

/// The reverse of the substitution, for a response from a host credentials
/// may go to: each real value in its headers, and (streamed, unless the
/// body is encoded) in its body, turns back into its sentinel, so a server
/// that reflects the request (a redirect keeping the query, an error page
/// quoting the path) does not hand the value to the program.
pub(crate) fn scrub_response(
    head: &mut hyper::http::response::Parts,
    host: &str,
    port: u16,
    sentinels: &[Sentinel],
) -> Option<BodySubstitution> {
    let back = BodySubstitution::reverse_for_host(host, port, sentinels)?;
    for value in head.headers.values_mut() {
        let scrubbed = back.whole(value.as_bytes());
        if scrubbed != value.as_bytes()
            && let Ok(v) = HeaderValue::from_bytes(&scrubbed)
        {
            *value = v;
        }
    }
    if head.headers.contains_key(hyper::header::CONTENT_ENCODING) {
        return None;
    }
    if back.changes_length() {
        head.headers.remove(hyper::header::CONTENT_LENGTH);
    }
    Some(back)
}

/// A forwarded request's body: as the client sent it, or with the sentinels
/// of the credentials that may go to its host replaced on the way.
pub(crate) enum ReqBody {
    Plain(Incoming),
    Substituted { inner: Incoming, sub: BodySubstitution, trailers: Option<hyper::HeaderMap>, done: bool },
}

/// The body to forward for `parts` to `host:port`. Substitution applies
/// when credentials may be injected there and the body is not encoded
/// (an encoded body passes unchanged: a sentinel inside reaches the host as
/// the useless placeholder, never the other way round); when it can change
/// the length, Content-Length goes and the request is sent chunked.
pub(crate) fn body(
    cfg: &ProxyConfig,
    parts: &mut Parts,
    body: Incoming,
    host: &str,
    port: u16,
    may_inject: bool,
) -> ReqBody {
    if !may_inject || cfg.sentinels.is_empty() || parts.headers.contains_key(hyper::header::CONTENT_ENCODING) {
        return ReqBody::Plain(body);
    }
    match BodySubstitution::for_host(host, port, &cfg.sentinels) {
        None => ReqBody::Plain(body),
        Some(sub) => {
            if sub.changes_length() {
                parts.headers.remove(hyper::header::CONTENT_LENGTH);
            }
            ReqBody::Substituted { inner: body, sub, trailers: None, done: false }
        }
    }
}

impl hyper::body::Body for ReqBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match self.get_mut() {
            ReqBody::Plain(b) => Pin::new(b).poll_frame(cx),
            ReqBody::Substituted { inner, sub, trailers, done } => {
                if *done {
                    return Poll::Ready(trailers.take().map(|t| Ok(Frame::trailers(t))));
                }
                match Pin::new(inner).poll_frame(cx) {
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
                    Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                        Ok(data) => Poll::Ready(Some(Ok(Frame::data(Bytes::from(sub.push(&data)))))),
                        Err(frame) => {
                            // Trailers end the body: what is held back goes first.
                            *trailers = frame.into_trailers().ok();
                            *done = true;
                            Poll::Ready(Some(Ok(Frame::data(Bytes::from(sub.finish())))))
                        }
                    },
                    Poll::Ready(None) => {
                        *done = true;
                        let rest = sub.finish();
                        if rest.is_empty() {
                            Poll::Ready(None)
                        } else {
                            Poll::Ready(Some(Ok(Frame::data(Bytes::from(rest)))))
                        }
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ReqBody::Plain(b) => b.is_end_stream(),
            ReqBody::Substituted { done, trailers, .. } => *done && trailers.is_none(),
        }
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        match self {
            ReqBody::Plain(b) => b.size_hint(),
            // Unknown once substitution may change it (Content-Length is gone then).
            ReqBody::Substituted { inner, sub, .. } if !sub.changes_length() => inner.size_hint(),
            ReqBody::Substituted { .. } => hyper::body::SizeHint::default(),
        }
    }
}
