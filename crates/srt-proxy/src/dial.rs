//! The one path from a requested `host:port` to a connected upstream socket,
//! shared by every proxy: decide the name, resolve it once, run every
//! address through the resolved-address guard, dial a survivor.

use std::io;
use std::net::{IpAddr, SocketAddr};

use srt_policy::NetDecision;
use tokio::net::TcpStream;
use tokio::time::timeout;

use crate::config::{NetEvent, ProxyConfig, Via};
use crate::upstream::{Conn, Hop, connect_through};

/// At most this many resolved addresses are considered, so one answer with
/// hundreds of records cannot keep a connection dialing for minutes.
const MAX_ADDRESSES: usize = 16;

/// Why no upstream connection was made.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DialError {
    /// The policy refused the name or every address it resolved to.
    #[error("{}", denial_reason(.0))]
    Denied(NetDecision),
    #[error("could not resolve {host}: {source}")]
    Resolve { host: String, source: io::Error },
    #[error("could not connect to {addr}: {source}")]
    Connect { addr: SocketAddr, source: io::Error },
    /// The route goes through a proxy (parent or MITM) that could not be
    /// reached or refused the tunnel.
    #[error("could not reach {target} through {hop}: {source}")]
    Hop { target: String, hop: String, source: io::Error },
}

/// A connected upstream socket and where it leads.
#[derive(Debug)]
pub(crate) struct Opened {
    pub(crate) conn: Conn,
    pub(crate) hop: Hop,
}

fn denial_reason(d: &NetDecision) -> &str {
    match d {
        NetDecision::Deny { reason, .. } => reason,
        NetDecision::Allow { .. } => "allowed",
    }
}

/// A host as it appears in a request, without IPv6 brackets.
pub(crate) fn unbracket(host: &str) -> &str {
    host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host)
}

/// Decides and connects: to the host itself, or through the proxy the
/// policy routes it by (a tunnel already asked for with `CONNECT` unless
/// `via` is [`Via::Http`], whose caller sends absolute-form requests over
/// it). Every denial is reported on the event channel; allowed connections
/// too in debug mode.
pub(crate) async fn dial(
    cfg: &ProxyConfig,
    host: &str,
    port: u16,
    via: Via,
    client: Option<std::net::SocketAddr>,
) -> Result<Opened, DialError> {
    let host = unbracket(host);
    let event = |address, decision: NetDecision| {
        let pid = match (&decision, client, &cfg.client_pid) {
            (NetDecision::Deny { .. }, Some(c), Some(lookup)) => (lookup.0)(c),
            _ => None,
        };
        NetEvent { host: host.to_string(), port, address, decision, via, client, pid }
    };

    // One policy for the whole connection, even if it is replaced meanwhile.
    let policy = cfg.policy.get();
    let decision = policy.decide_host(host, port);
    if !decision.is_allowed() {
        cfg.report(event(None, decision.clone()));
        return Err(DialError::Denied(decision));
    }

    // Through a proxy hop: that proxy resolves a name (the resolved-address
    // guard cannot apply to it, as in srt). An address, in any spelling the
    // hop could read as one (`[::ffff:127.0.0.1]`, `127.1`, `2130706433`),
    // is judged here first: a parent must not become a way to this host's
    // loopback or the cloud metadata service.
    let hop = Hop::of(&policy.route(cfg.parent.as_ref(), host, port, via != Via::Http));
    if hop != Hop::Origin {
        let literal = host.parse::<IpAddr>().ok().or_else(|| srt_policy::address::inet_aton(host).map(IpAddr::V4));
        if let Some(ip) = literal {
            let d = policy.decide_address(ip, port, &cfg.local_addrs);
            if !d.is_allowed() {
                cfg.report(event(Some(ip), d.clone()));
                return Err(DialError::Denied(d));
            }
        }
        let fail = |source| DialError::Hop { target: format!("{host}:{port}"), hop: hop.describe(), source };
        let mut conn = hop.open(cfg.connect_timeout, cfg.parent_tls.as_ref()).await.map_err(fail)?;
        if via != Via::Http {
            connect_through(&mut conn, host, port, hop.authorization(), cfg.connect_timeout).await.map_err(fail)?;
        }
        cfg.report(event(None, decision));
        return Ok(Opened { conn, hop });
    }

    // An IP literal is dialed as written; a name is resolved exactly once
    // and only the addresses in that one answer are ever dialed, so a second
    // lookup cannot rebind the name to a forbidden address.
    let resolved = match host.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => {
            let lookup = timeout(cfg.resolve_timeout, cfg.resolver.resolve(host, port)).await;
            let result = match lookup {
                Ok(r) => r,
                Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "lookup timed out")),
            };
            match result {
                Ok(addrs) if !addrs.is_empty() => addrs,
                Ok(_) => {
                    let source = io::Error::new(io::ErrorKind::NotFound, "no addresses");
                    return Err(DialError::Resolve { host: host.to_string(), source });
                }
                Err(source) => return Err(DialError::Resolve { host: host.to_string(), source }),
            }
        }
    };

    let mut first_denial = None;
    let mut survivors = Vec::new();
    for ip in resolved.into_iter().take(MAX_ADDRESSES) {
        match policy.decide_address(ip, port, &cfg.local_addrs) {
            NetDecision::Allow { rule } => survivors.push((ip, rule)),
            denied => {
                first_denial.get_or_insert((ip, denied));
            }
        }
    }
    if survivors.is_empty() {
        // Not empty before filtering, so something was denied.
        if let Some((ip, denied)) = first_denial {
            cfg.report(event(Some(ip), denied.clone()));
            return Err(DialError::Denied(denied));
        }
    }

    let mut last_err = None;
    for (ip, rule) in survivors {
        let addr = SocketAddr::new(ip, port);
        let result = match timeout(cfg.connect_timeout, TcpStream::connect(addr)).await {
            Ok(r) => r,
            Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "connect timed out")),
        };
        match result {
            Ok(stream) => {
                // Tunnels carry interactive protocols (TLS handshakes, SSH):
                // forward small writes at once.
                let _ = stream.set_nodelay(true);
                cfg.report(event(Some(ip), NetDecision::Allow { rule }));
                return Ok(Opened { conn: Conn::Tcp(stream), hop: Hop::Origin });
            }
            Err(source) => last_err = Some(DialError::Connect { addr, source }),
        }
    }
    Err(last_err.unwrap_or_else(|| DialError::Resolve {
        host: host.to_string(),
        source: io::Error::new(io::ErrorKind::NotFound, "no addresses"),
    }))
}
