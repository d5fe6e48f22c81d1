//! Network decisions: which `host:port` a sandboxed program may reach, and
//! which resolved addresses an allowed name may lead to.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::Serialize;

use crate::address;
use crate::domain::{DomainPattern, Host, normalize_host};
use crate::request::RequestRules;
use crate::upstream::MitmProxy;

/// Why a connection was refused; maps to srt's `X-Proxy-Error` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DenyCode {
    /// Not in allowedDomains, or matched by deniedDomains (`blocked-by-allowlist`).
    Allowlist,
    /// An allowed name resolved to a forbidden address (`blocked-by-sandbox-runtime`).
    ResolvedAddress,
    /// The requested host is not a valid host name (`blocked-by-allowlist`).
    InvalidHost,
    /// `requireHostMatch`: the request's Host header names another target
    /// (421, `blocked-by-sandbox-runtime`).
    Misdirected,
    /// `ambiguousRequestTarget` is `refuse` and the target normalises to
    /// another path (400, `ambiguous-request-target`).
    AmbiguousTarget,
    /// `refuseOpaqueTunnels`: a tunnel that would not be terminated
    /// (`blocked-by-sandbox-runtime`).
    OpaqueTunnel,
    /// `tlsTerminate.maxTunnels` terminated tunnels are open (503,
    /// `too-many-tunnels`).
    TooManyTunnels,
    /// A masked credential's sentinel was sent where its value may not go
    /// (another host, or plain HTTP): it was left unreplaced.
    Credential,
}

impl DenyCode {
    /// The `X-Proxy-Error` header value srt uses for this denial.
    pub fn proxy_error(self) -> &'static str {
        match self {
            DenyCode::Allowlist | DenyCode::InvalidHost => "blocked-by-allowlist",
            DenyCode::ResolvedAddress | DenyCode::Misdirected | DenyCode::OpaqueTunnel | DenyCode::Credential => {
                "blocked-by-sandbox-runtime"
            }
            DenyCode::TooManyTunnels => "too-many-tunnels",
            DenyCode::AmbiguousTarget => "ambiguous-request-target",
        }
    }
}

/// The outcome of a network decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "lowercase")]
pub enum NetDecision {
    /// The connection may be made.
    Allow {
        /// The settings entry that allowed it (`*` for allow-all).
        rule: String,
    },
    /// The connection or request is refused.
    Deny {
        /// The kind of refusal; it picks the `X-Proxy-Error` value
        /// ([`DenyCode::proxy_error`]).
        code: DenyCode,
        /// The entry that denied it, if one did.
        rule: Option<String>,
        /// Human text for the violation event and the proxy's reply body.
        reason: String,
    },
}

impl NetDecision {
    /// Whether this is [`NetDecision::Allow`], whichever rule allowed it.
    pub fn is_allowed(&self) -> bool {
        matches!(self, NetDecision::Allow { .. })
    }
}

/// The network half of a [`crate::Policy`].
#[derive(Debug, Clone, Default)]
pub struct NetworkPolicy {
    pub(crate) allowed: Vec<DomainPattern>,
    pub(crate) denied: Vec<(DomainPattern, Option<String>)>,
    pub(crate) denied_addresses: Vec<IpNet>,
    /// `requireHostMatch`, `ambiguousRequestTarget`, `stripResponseHeaders`.
    pub request: RequestRules,
    /// `mitmProxy`.
    pub(crate) mitm: Option<MitmProxy>,
    /// `tlsTerminate` and `refuseOpaqueTunnels`.
    pub(crate) tls: Option<crate::tls::TlsTermination>,
}

impl NetworkPolicy {
    /// True when no host can ever be allowed: the sandbox needs no proxy.
    pub fn is_closed(&self) -> bool {
        self.allowed.is_empty()
    }

    /// True when every host not denied is allowed (the permissive preset's
    /// `*`).
    pub fn allows_every_host(&self) -> bool {
        self.allowed.iter().any(|p| p.host == crate::domain::HostPattern::Any)
    }

    /// Decides a request for `host:port` as a client named it (before any
    /// DNS lookup). deniedDomains are checked first and win.
    pub fn decide_host(&self, host: &str, port: u16) -> NetDecision {
        let Some(h) = normalize_host(host) else {
            return NetDecision::Deny {
                code: DenyCode::InvalidHost,
                rule: None,
                reason: format!("{host:?} is not a valid host name"),
            };
        };
        if let Some(d) = self.denied_match(&h, port) {
            return d;
        }
        match self.allowed.iter().find(|p| p.matches(&h, port)) {
            Some(p) => NetDecision::Allow { rule: p.source.clone() },
            None => NetDecision::Deny {
                code: DenyCode::Allowlist,
                rule: None,
                reason: format!("{h}:{port} is not in allowedDomains"),
            },
        }
    }

    fn denied_match(&self, h: &Host, port: u16) -> Option<NetDecision> {
        let (p, why) = self.denied.iter().find(|(p, _)| p.matches(h, port))?;
        Some(NetDecision::Deny {
            code: DenyCode::Allowlist,
            rule: Some(p.source.clone()),
            reason: why.clone().unwrap_or_else(|| format!("{h}:{port} matches deniedDomains entry {:?}", p.source)),
        })
    }

    /// The resolved-address guard: may a connection for an allowed name go to
    /// `ip:port`? `local_addrs` are this host's interface addresses (the
    /// caller reads them; this stays pure).
    ///
    /// Order: deny-listed IP literals and `deniedResolvedAddresses` first;
    /// then an IP literal that is itself allow-listed may be dialed; then the
    /// always-denied classes and this host's own addresses.
    pub fn decide_address(&self, ip: IpAddr, port: u16, local_addrs: &[IpAddr]) -> NetDecision {
        let candidates = address::with_embedded(ip);
        for c in &candidates {
            if let Some(d) = self.denied_match(&Host::Ip(*c), port) {
                return d;
            }
            if let Some(net) = self.denied_addresses.iter().find(|n| n.contains(c)) {
                return NetDecision::Deny {
                    code: DenyCode::ResolvedAddress,
                    rule: Some(net.to_string()),
                    reason: format!("{ip} is in deniedResolvedAddresses entry {net}"),
                };
            }
        }
        if let Some(p) = self.allowed.iter().find(|p| p.ip().is_some() && p.matches(&Host::Ip(ip), port)) {
            return NetDecision::Allow { rule: p.source.clone() };
        }
        for c in &candidates {
            if let Some(class) = address::special_class(*c) {
                return NetDecision::Deny {
                    code: DenyCode::ResolvedAddress,
                    rule: None,
                    reason: format!("{ip} is {class}"),
                };
            }
            if local_addrs.iter().any(|l| crate::domain::same_ip(*l, *c)) {
                return NetDecision::Deny {
                    code: DenyCode::ResolvedAddress,
                    rule: None,
                    reason: format!("{ip} is an address of this host"),
                };
            }
        }
        NetDecision::Allow { rule: "resolved-address guard".into() }
    }
}
