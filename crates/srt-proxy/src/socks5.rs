//! The SOCKS5 proxy (RFC 1928): no authentication, `CONNECT` only, by
//! domain name, IPv4 or IPv6.
//!
//! A small state machine over exact-length reads: the proxy never reads
//! past the request, so whatever the client sends after it belongs to the
//! tunnel. The greeting and request must arrive within
//! [`ProxyConfig::handshake_timeout`].

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

use crate::config::{ProxyConfig, Via};
use crate::dial::{DialError, dial};
use crate::relay::relay;
use crate::serve::accept_loop;

const VERSION: u8 = 5;
const NO_AUTH: u8 = 0x00;
const NO_ACCEPTABLE_METHOD: u8 = 0xff;

const CMD_CONNECT: u8 = 0x01;

const ATYP_IPV4: u8 = 0x01;
const ATYP_DOMAIN: u8 = 0x03;
const ATYP_IPV6: u8 = 0x04;

/// Reply codes (RFC 1928 section 6).
mod reply {
    pub const SUCCEEDED: u8 = 0x00;
    pub const GENERAL_FAILURE: u8 = 0x01;
    pub const NOT_ALLOWED: u8 = 0x02;
    pub const NETWORK_UNREACHABLE: u8 = 0x03;
    pub const HOST_UNREACHABLE: u8 = 0x04;
    pub const CONNECTION_REFUSED: u8 = 0x05;
    pub const COMMAND_NOT_SUPPORTED: u8 = 0x07;
    pub const ADDRESS_TYPE_NOT_SUPPORTED: u8 = 0x08;
}

/// Serves the SOCKS5 proxy on `listener` until it fails for good.
pub async fn serve_socks5(listener: TcpListener, cfg: Arc<ProxyConfig>) -> io::Result<()> {
    accept_loop(listener, cfg, serve_connection).await
}

/// How a handshake ended without a target.
enum Refusal {
    /// None of the client's methods is acceptable: say so, then close.
    NoMethod,
    /// Reply to the request with this code, then close.
    Reply(u8),
    /// Not SOCKS5, or the client went away: close without a word.
    Close,
}

impl From<io::Error> for Refusal {
    fn from(_: io::Error) -> Self {
        Refusal::Close
    }
}

async fn serve_connection(mut client: TcpStream, cfg: Arc<ProxyConfig>) {
    let (host, port) = match timeout(cfg.handshake_timeout, handshake(&mut client)).await {
        Ok(Ok(target)) => target,
        Ok(Err(Refusal::NoMethod)) => return finish(client, &[VERSION, NO_ACCEPTABLE_METHOD]).await,
        Ok(Err(Refusal::Reply(code))) => return refuse(client, code).await,
        Ok(Err(Refusal::Close)) | Err(_) => return,
    };
    // refuseOpaqueTunnels: a SOCKS5 tunnel is opaque by nature.
    if cfg.policy.get().tls_termination().is_some_and(|t| t.refuse_opaque) {
        let reason = "refuseOpaqueTunnels: SOCKS5 tunnels are opaque; use the HTTP proxy".to_string();
        let decision = srt_policy::NetDecision::Deny { code: srt_policy::DenyCode::OpaqueTunnel, rule: None, reason };
        let mut event = crate::config::NetEvent {
            host: host.clone(),
            port,
            address: None,
            decision,
            via: Via::Socks5,
            client: client.peer_addr().ok(),
            pid: None,
        };
        if let (Some(c), Some(lookup)) = (event.client, &cfg.client_pid) {
            event.pid = (lookup.0)(c);
        }
        cfg.report(event);
        return refuse(client, reply::NOT_ALLOWED).await;
    }
    let mut upstream = match dial(&cfg, &host, port, Via::Socks5, client.peer_addr().ok()).await {
        Ok(s) => s,
        Err(e) => return refuse(client, reply_code(&e)).await,
    };
    let bound = match &upstream.conn {
        crate::upstream::Conn::Tcp(t) => t.local_addr().ok(),
        crate::upstream::Conn::Unix(_) | crate::upstream::Conn::Tls(_) => None,
    }
    .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
    if client.write_all(&encode_reply(reply::SUCCEEDED, bound)).await.is_err() {
        return;
    }
    let _ = relay(&mut client, &mut upstream.conn, cfg.splice).await;
}

/// Method negotiation and the request; returns the requested `host, port`.
async fn handshake(s: &mut TcpStream) -> Result<(String, u16), Refusal> {
    let [version, n_methods] = read_array(s).await?;
    if version != VERSION {
        return Err(Refusal::Close);
    }
    let mut methods = [0u8; 255];
    let methods = &mut methods[..usize::from(n_methods)];
    s.read_exact(methods).await?;
    if !methods.contains(&NO_AUTH) {
        return Err(Refusal::NoMethod);
    }
    s.write_all(&[VERSION, NO_AUTH]).await?;

    let [version, command, _reserved, atyp] = read_array(s).await?;
    if version != VERSION {
        return Err(Refusal::Close);
    }
    // Read the whole address before answering anything, so a refusal is not
    // lost to a reset caused by unread request bytes.
    let host = match atyp {
        ATYP_IPV4 => Ipv4Addr::from(read_array::<4>(s).await?).to_string(),
        ATYP_IPV6 => Ipv6Addr::from(read_array::<16>(s).await?).to_string(),
        ATYP_DOMAIN => {
            let [len] = read_array(s).await?;
            let mut name = [0u8; 255];
            let name = &mut name[..usize::from(len)];
            s.read_exact(name).await?;
            // Not UTF-8 is not a host name; the policy denies the lossy form.
            String::from_utf8_lossy(name).into_owned()
        }
        _ => return Err(Refusal::Reply(reply::ADDRESS_TYPE_NOT_SUPPORTED)),
    };
    let port = u16::from_be_bytes(read_array(s).await?);
    if command != CMD_CONNECT {
        // BIND and UDP ASSOCIATE would open listeners and UDP paths the
        // policy has no rules for.
        return Err(Refusal::Reply(reply::COMMAND_NOT_SUPPORTED));
    }
    Ok((host, port))
}

async fn read_array<const N: usize>(s: &mut TcpStream) -> io::Result<[u8; N]> {
    let mut buf = [0u8; N];
    s.read_exact(&mut buf).await?;
    Ok(buf)
}

fn reply_code(e: &DialError) -> u8 {
    match e {
        DialError::Denied(_) => reply::NOT_ALLOWED,
        DialError::Resolve { .. } => reply::HOST_UNREACHABLE,
        DialError::Connect { source, .. } => match source.kind() {
            io::ErrorKind::ConnectionRefused => reply::CONNECTION_REFUSED,
            io::ErrorKind::NetworkUnreachable => reply::NETWORK_UNREACHABLE,
            io::ErrorKind::HostUnreachable | io::ErrorKind::TimedOut => reply::HOST_UNREACHABLE,
            _ => reply::GENERAL_FAILURE,
        },
        DialError::Hop { .. } => reply::GENERAL_FAILURE,
    }
}

fn encode_reply(code: u8, bound: SocketAddr) -> Vec<u8> {
    let mut out = Vec::with_capacity(22);
    out.extend_from_slice(&[VERSION, code, 0]);
    match bound.ip() {
        IpAddr::V4(v4) => {
            out.push(ATYP_IPV4);
            out.extend_from_slice(&v4.octets());
        }
        IpAddr::V6(v6) => {
            out.push(ATYP_IPV6);
            out.extend_from_slice(&v6.octets());
        }
    }
    out.extend_from_slice(&bound.port().to_be_bytes());
    out
}

/// Sends a failure reply to the request, then closes.
async fn refuse(client: TcpStream, code: u8) {
    finish(client, &encode_reply(code, SocketAddr::from(([0, 0, 0, 0], 0)))).await;
}

/// Sends a last message and closes politely: half-close, then drain what
/// the client still sends (bounded in bytes and time) so the message is not
/// destroyed by a reset.
async fn finish(mut client: TcpStream, last: &[u8]) {
    if client.write_all(last).await.is_err() {
        return;
    }
    let _ = client.shutdown().await;
    let mut sink = [0u8; 1024];
    let mut budget = 16 * 1024;
    while budget > 0 {
        match timeout(Duration::from_secs(1), client.read(&mut sink)).await {
            Ok(Ok(n)) if n > 0 => budget -= n.min(budget),
            _ => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_encode_the_bound_address() {
        assert_eq!(encode_reply(0, "127.0.0.1:258".parse().unwrap()), [5, 0, 0, 1, 127, 0, 0, 1, 1, 2]);
        let v6 = encode_reply(2, "[::1]:1".parse().unwrap());
        assert_eq!(v6.len(), 22);
        assert_eq!(&v6[..4], [5, 2, 0, 4]);
        assert_eq!(&v6[19..], [1, 0, 1]);
    }
}
