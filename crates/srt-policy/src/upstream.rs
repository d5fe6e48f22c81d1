//! Which way an allowed connection leaves the proxy: straight to the host,
//! through an upstream HTTP proxy (`network.parentProxy`, or `HTTP_PROXY` /
//! `HTTPS_PROXY` / `NO_PROXY` in srt's own environment), or through a MITM
//! proxy on a Unix socket (`network.mitmProxy`). Deciding *whether* a host
//! may be reached stays with [`crate::Policy::decide_host`]; this only
//! picks the route of a host that was allowed.

use std::net::IpAddr;
use std::path::PathBuf;

use ipnet::IpNet;

use crate::domain::{DomainPattern, Host, normalize_host};

/// An upstream HTTP proxy: where it listens and the credentials it wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyUrl {
    /// Host name or IP address (IPv6 without brackets).
    pub host: String,
    /// As written, else 443 for `https://` and 80 otherwise.
    pub port: u16,
    /// `Basic ...` for `Proxy-Authorization` when the URL had userinfo.
    pub authorization: Option<String>,
    /// The URL with any password replaced by `***`, for messages.
    pub shown: String,
    /// `https://`: TLS to the proxy itself, its certificate verified for
    /// `host` against the host's roots.
    pub tls: bool,
}

/// `network.parentProxy`, resolved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParentProxy {
    /// For plain `http://` requests.
    pub http: Option<ProxyUrl>,
    /// For CONNECT and SOCKS tunnels (`http` when unset).
    pub https: Option<ProxyUrl>,
    /// Destinations that skip the parent proxy: `noProxy`, else `NO_PROXY`
    /// / `no_proxy`; loopback always does.
    pub no_proxy: NoProxy,
}

/// A `NO_PROXY` list: destinations that bypass the parent proxy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NoProxy {
    all: bool,
    suffixes: Vec<String>,
    nets: Vec<IpNet>,
}

/// `network.mitmProxy`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MitmProxy {
    /// `socketPath`, made absolute (symlinks not resolved).
    pub socket: PathBuf,
    /// `domains`: connections to hosts matching these go through the
    /// socket, once the domain lists have allowed them.
    pub domains: Vec<DomainPattern>,
}

/// The route of one allowed connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route<'a> {
    /// Resolve the name, vet every address, dial one.
    Direct,
    /// Through the MITM proxy's Unix socket (`CONNECT` for a tunnel, an
    /// absolute-form request for plain HTTP). It resolves the name.
    Mitm(&'a std::path::Path),
    /// Through the parent proxy (likewise). It resolves the name.
    Parent(&'a ProxyUrl),
}

impl ParentProxy {
    /// Reads `{http, https, noProxy}` from the settings; each field left
    /// out falls back to the environment variable srt reads, through `env`
    /// (`HTTP_PROXY`/`http_proxy`; `HTTPS_PROXY`/`https_proxy`, then the
    /// http one; `NO_PROXY`/`no_proxy`). `Ok(None)`: no parent proxy. A bad
    /// settings value is an error naming its field (`http`, `https`); a bad
    /// environment value is passed over, as srt does.
    pub fn resolve(
        http: Option<&str>,
        https: Option<&str>,
        no_proxy: Option<&str>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<ParentProxy>, (&'static str, String)> {
        let from_env = |a: &str, b: &str| {
            env(a).or_else(|| env(b)).filter(|v| !v.is_empty()).and_then(|v| ProxyUrl::parse(&v).ok())
        };
        let strict = |field: &'static str, v: Option<&str>| match v {
            None => Ok(None),
            Some(v) => ProxyUrl::parse(v).map(Some).map_err(|m| (field, m)),
        };
        let http = match strict("http", http)? {
            Some(u) => Some(u),
            None => from_env("HTTP_PROXY", "http_proxy"),
        };
        let https = match strict("https", https)? {
            Some(u) => Some(u),
            None => from_env("HTTPS_PROXY", "https_proxy").or_else(|| http.clone()),
        };
        if http.is_none() && https.is_none() {
            return Ok(None);
        }
        let no_proxy = no_proxy.map(str::to_string).or_else(|| env("NO_PROXY").or_else(|| env("no_proxy")));
        Ok(Some(ParentProxy { http, https, no_proxy: NoProxy::parse(&no_proxy.unwrap_or_default()) }))
    }

    /// The parent proxy for a connection to `host` (`tunnel`: CONNECT or
    /// SOCKS; otherwise a plain `http://` request), or `None` to go direct.
    /// Loopback destinations always go direct.
    pub fn for_host(&self, host: &str, tunnel: bool) -> Option<&ProxyUrl> {
        if self.no_proxy.bypasses(host) {
            return None;
        }
        if tunnel { self.https.as_ref().or(self.http.as_ref()) } else { self.http.as_ref() }
    }
}

impl ProxyUrl {
    /// Parses `http[s]://[user[:password]@]host[:port][/]` or a bare
    /// `host:port` (read as `http://`, as curl does).
    pub fn parse(v: &str) -> Result<ProxyUrl, String> {
        let (rest, tls) = match v.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => (rest, false),
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("https") => (rest, true),
            Some((scheme, _)) => {
                return Err(format!("scheme {scheme:?} is not a proxy scheme; use http:// or https://"));
            }
            None => (v, false),
        };
        let scheme = if tls { "https" } else { "http" };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains(['/', '?', '#']) {
            return Err("a proxy URL has no path, query or fragment".into());
        }
        let (userinfo, hostport) = match rest.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, rest),
        };
        let (host, port) = if let Some(inner) = hostport.strip_prefix('[') {
            let (h, after) = inner.split_once(']').ok_or("unclosed [ in the host")?;
            h.parse::<std::net::Ipv6Addr>().map_err(|_| format!("{h:?} is not an IPv6 address"))?;
            (h.to_string(), after.strip_prefix(':'))
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (hostport.to_string(), None),
            }
        };
        if host.is_empty() || normalize_host(&host).is_none() {
            return Err(format!("{host:?} is not a valid host"));
        }
        let port = match port {
            None if tls => 443,
            None => 80,
            Some(p) => match p.parse::<u16>() {
                Ok(n) if n > 0 && p.bytes().all(|b| b.is_ascii_digit()) => n,
                _ => return Err(format!("{p:?} is not a port (1-65535)")),
            },
        };
        let shown_host = if host.contains(':') { format!("[{host}]") } else { host.clone() };
        let (authorization, shown) = match userinfo {
            None => (None, format!("{scheme}://{shown_host}:{port}")),
            Some(u) => {
                let (user, pass) = u.split_once(':').unwrap_or((u, ""));
                let creds = format!("{}:{}", percent_decode(user), percent_decode(pass));
                let shown = format!("{scheme}://{user}:***@{shown_host}:{port}");
                (Some(format!("Basic {}", base64(creds.as_bytes()))), shown)
            }
        };
        Ok(ProxyUrl { host, port, authorization, shown, tls })
    }
}

impl NoProxy {
    /// Parses a comma-separated list: `*`, host-name suffixes (`example.com`
    /// covers its subdomains; a leading `.` or `*.` is dropped; a `:port` is
    /// ignored), IP addresses and CIDR ranges. Entries that are none of
    /// these are ignored, as curl and srt do.
    pub fn parse(list: &str) -> NoProxy {
        let mut np = NoProxy::default();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            if entry == "*" {
                np.all = true;
                continue;
            }
            if entry.contains('/') {
                if let Ok(net) = entry.parse::<IpNet>() {
                    np.nets.push(net);
                }
                continue;
            }
            let v = entry.to_ascii_lowercase();
            let v = match v.strip_prefix('[').and_then(|r| r.split_once(']')) {
                Some((inner, _)) => inner.to_string(),
                None => v,
            };
            if let Ok(ip) = v.parse::<IpAddr>() {
                np.nets.push(IpNet::from(ip));
                continue;
            }
            let v = v.strip_prefix('*').unwrap_or(&v);
            let v = v.strip_prefix('.').unwrap_or(v);
            let v = match v.rsplit_once(':') {
                Some((h, p)) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => h,
                _ => v,
            };
            if !v.is_empty() {
                np.suffixes.push(v.to_string());
            }
        }
        np
    }

    /// Whether `host` goes direct: loopback always, then the list.
    pub fn bypasses(&self, host: &str) -> bool {
        let Some(h) = normalize_host(host) else { return false };
        match h {
            Host::Ip(ip) => ip.is_loopback() || self.all || self.nets.iter().any(|n| n.contains(&ip)),
            Host::Name(name) => {
                name == "localhost"
                    || self.all
                    || self.suffixes.iter().any(|s| name == *s || name.ends_with(&format!(".{s}")))
            }
        }
    }
}

impl MitmProxy {
    /// Whether requests to `host:port` go through the MITM proxy.
    pub fn routes(&self, host: &str, port: u16) -> bool {
        normalize_host(host).is_some_and(|h| self.domains.iter().any(|d| d.matches(&h, port)))
    }
}

/// The route of an allowed connection to `host:port` (`tunnel`: CONNECT or
/// SOCKS): the MITM proxy first, then the parent proxy (the settings', or
/// else `env_parent` from srt's own environment), else direct.
pub fn route<'a>(
    mitm: Option<&'a MitmProxy>,
    parent: Option<&'a ParentProxy>,
    host: &str,
    port: u16,
    tunnel: bool,
) -> Route<'a> {
    if let Some(m) = mitm.filter(|m| m.routes(host, port)) {
        return Route::Mitm(&m.socket);
    }
    match parent.and_then(|p| p.for_host(host, tunnel)) {
        Some(url) => Route::Parent(url),
        None => Route::Direct,
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Standard base64 with padding (RFC 4648), for a Basic credential.
fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
    }

    #[test]
    fn proxy_urls_parse_with_credentials_and_defaults() {
        let u = ProxyUrl::parse("http://user:p%40ss@proxy.corp:3128/").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("proxy.corp", 3128));
        assert_eq!(u.authorization.as_deref(), Some("Basic dXNlcjpwQHNz"), "user:p@ss");
        assert!(!u.shown.contains("p%40ss"), "{}", u.shown);
        let u = ProxyUrl::parse("10.0.0.1:8080").unwrap();
        assert_eq!((u.host.as_str(), u.port, u.authorization), ("10.0.0.1", 8080, None));
        assert_eq!(ProxyUrl::parse("http://[::1]:9").unwrap().host, "::1");
        assert_eq!(ProxyUrl::parse("http://proxy").unwrap().port, 80);
        let t = ProxyUrl::parse("https://proxy.corp").unwrap();
        assert!(t.tls && t.port == 443 && t.shown == "https://proxy.corp:443");
        for bad in ["socks5://p:1", "http://p:0", "http://p:x", "http://:1", "http://p/x", "http://[zz]:1"] {
            assert!(ProxyUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn base64_pads() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foob"), "Zm9vYg==");
    }

    #[test]
    fn settings_come_before_the_environment() {
        let e = env(&[("HTTP_PROXY", "http://envproxy:1"), ("NO_PROXY", "corp.internal")]);
        let p = ParentProxy::resolve(None, None, None, &e).unwrap().unwrap();
        assert_eq!(p.http.as_ref().unwrap().host, "envproxy");
        assert_eq!(p.https.as_ref().unwrap().host, "envproxy", "HTTPS_PROXY falls back to HTTP_PROXY");
        assert!(p.no_proxy.bypasses("git.corp.internal"));
        let p = ParentProxy::resolve(None, Some("http://tls:2"), Some(""), &e).unwrap().unwrap();
        assert_eq!(p.for_host("a.com", true).unwrap().host, "tls");
        assert_eq!(p.for_host("a.com", false).unwrap().host, "envproxy");
        assert!(!p.no_proxy.bypasses("git.corp.internal"), "an empty noProxy in the settings wins");
        assert_eq!(ParentProxy::resolve(None, None, None, &env(&[])).unwrap(), None);
        let only_https = ParentProxy::resolve(None, Some("http://t:2"), None, &env(&[])).unwrap().unwrap();
        assert!(only_https.for_host("a.com", false).is_none(), "plain http goes direct with only https set");
        assert_eq!(ParentProxy::resolve(Some("ftp://x"), None, None, &env(&[])).unwrap_err().0, "http");
        let bad_env = env(&[("HTTP_PROXY", "ftp://x"), ("HTTPS_PROXY", "http://good:3")]);
        let p = ParentProxy::resolve(None, None, None, &bad_env).unwrap().unwrap();
        assert!(p.http.is_none(), "a bad variable is passed over");
        assert_eq!(p.https.unwrap().host, "good");
    }

    #[test]
    fn no_proxy_matches_suffixes_addresses_and_loopback() {
        let np = NoProxy::parse(" .example.com, *.corp, internal:8080, 10.0.0.0/8, 192.168.1.1, [::2], bad/x ");
        for h in ["example.com", "a.example.com", "x.corp", "internal", "10.2.3.4", "192.168.1.1", "::2", "[::2]"] {
            assert!(np.bypasses(h), "{h}");
        }
        for h in ["notexample.com", "corp2", "192.168.1.2", "11.0.0.1"] {
            assert!(!np.bypasses(h), "{h}");
        }
        let none = NoProxy::default();
        assert!(none.bypasses("localhost") && none.bypasses("127.0.0.5") && none.bypasses("::1"));
        assert!(NoProxy::parse("*").bypasses("anything.com"));
    }
}
