//! Credential masking on the way out: the sentinels of masked credentials
//! in a request's target and header values are replaced by their real
//! values when the request goes to a host the credential may reach
//! (`srt_policy::credentials::substitute` decides); any other sentinel is
//! left as it is and reported.

use hyper::header::HeaderValue;
use hyper::http::request::Parts;
use srt_policy::credentials::{SENTINEL_PREFIX, substitute};
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
) {
    let sentinels: &[Sentinel] = &cfg.sentinels;
    if sentinels.is_empty() {
        return;
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
    for value in parts.headers.values_mut() {
        let Ok(text) = value.to_str() else { continue };
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
}
