//! The upstream side of a connection that the policy allowed: a socket to
//! the host itself, or to the proxy the policy routes it through (a parent
//! HTTP proxy over TCP, a MITM proxy over a Unix socket), and the `CONNECT`
//! that turns such a hop into a tunnel.

use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use srt_policy::Route;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpStream, UnixStream};
use tokio::time::timeout;

/// Largest response head a proxy may send to a `CONNECT`.
const MAX_CONNECT_RESPONSE: usize = 16 * 1024;

/// An upstream socket.
#[derive(Debug)]
pub(crate) enum Conn {
    Tcp(TcpStream),
    Unix(UnixStream),
    /// TLS to an `https://` parent proxy.
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

/// Where an upstream socket leads: to the host itself, or to a proxy that
/// takes absolute-form requests (and `CONNECT`) for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Hop {
    Origin,
    Mitm(PathBuf),
    Parent { host: String, port: u16, authorization: Option<String>, tls: bool },
}

impl Hop {
    pub(crate) fn of(route: &Route<'_>) -> Hop {
        match route {
            Route::Direct => Hop::Origin,
            Route::Mitm(path) => Hop::Mitm(path.to_path_buf()),
            Route::Parent(url) => Hop::Parent {
                host: url.host.clone(),
                port: url.port,
                authorization: url.authorization.clone(),
                tls: url.tls,
            },
        }
    }

    /// `Proxy-Authorization` for requests sent over this hop.
    pub(crate) fn authorization(&self) -> Option<&str> {
        match self {
            Hop::Parent { authorization, .. } => authorization.as_deref(),
            _ => None,
        }
    }

    /// Words for an error message.
    pub(crate) fn describe(&self) -> String {
        match self {
            Hop::Origin => "the host".into(),
            Hop::Mitm(path) => format!("the MITM proxy at {}", path.display()),
            Hop::Parent { host, port, tls: true, .. } => format!("the parent proxy https://{host}:{port}"),
            Hop::Parent { host, port, .. } => format!("the parent proxy {host}:{port}"),
        }
    }

    /// Opens a socket to this proxy hop (not for [`Hop::Origin`], which
    /// the caller dials after vetting the addresses). The hop's own address
    /// is not put through the resolved-address guard: the user named it.
    pub(crate) async fn open(
        &self,
        limit: Duration,
        parent_tls: Option<&std::sync::Arc<rustls::ClientConfig>>,
    ) -> io::Result<Conn> {
        let opened = match self {
            Hop::Origin => return Err(io::Error::other("the origin is dialed by the caller")),
            Hop::Mitm(path) => timeout(limit, UnixStream::connect(path)).await.map(|r| r.map(Conn::Unix)),
            Hop::Parent { host, port, .. } => {
                timeout(limit, TcpStream::connect((host.as_str(), *port))).await.map(|r| r.map(Conn::Tcp))
            }
        };
        let conn = opened.map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
        if let Conn::Tcp(t) = &conn {
            let _ = t.set_nodelay(true);
        }
        match (self, conn) {
            (Hop::Parent { host, tls: true, .. }, Conn::Tcp(tcp)) => {
                let name = rustls::pki_types::ServerName::try_from(host.clone())
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
                let connector =
                    tokio_rustls::TlsConnector::from(parent_tls.cloned().unwrap_or_else(default_parent_tls));
                let stream = timeout(limit, connector.connect(name, tcp))
                    .await
                    .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TLS to the parent proxy timed out"))??;
                Ok(Conn::Tls(Box::new(stream)))
            }
            (_, conn) => Ok(conn),
        }
    }
}

/// How an `https://` parent proxy is verified by default: the host's
/// roots (as OpenSSL finds them), made once.
pub(crate) fn default_parent_tls() -> std::sync::Arc<rustls::ClientConfig> {
    static CONFIG: std::sync::OnceLock<std::sync::Arc<rustls::ClientConfig>> = std::sync::OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let (roots, _) = crate::tls::system_roots();
            let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
            let cfg = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .expect("the ring provider supports the default TLS versions")
                .with_root_certificates(roots)
                .with_no_client_auth();
            std::sync::Arc::new(cfg)
        })
        .clone()
}

/// Asks the proxy at the other end of `conn` for a tunnel to `host:port`
/// and reads its answer, byte by byte so that nothing of the tunnel is read
/// with it. `host` was accepted by the policy (a host name or an IP
/// address), so it cannot carry a line break into the request.
pub(crate) async fn connect_through(
    conn: &mut Conn,
    host: &str,
    port: u16,
    authorization: Option<&str>,
    limit: Duration,
) -> io::Result<()> {
    let authority = if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") };
    let mut request = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
    if let Some(auth) = authorization {
        request.push_str(&format!("Proxy-Authorization: {auth}\r\n"));
    }
    request.push_str("\r\n");
    let exchange = async {
        conn.write_all(request.as_bytes()).await?;
        let mut head = Vec::with_capacity(256);
        while !head.ends_with(b"\r\n\r\n") {
            if head.len() >= MAX_CONNECT_RESPONSE {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "the proxy's answer to CONNECT is too long"));
            }
            let mut byte = [0u8; 1];
            if conn.read(&mut byte).await? == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the proxy closed the connection"));
            }
            head.push(byte[0]);
        }
        Ok(head)
    };
    let head = timeout(limit, exchange)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no answer to CONNECT in time"))??;
    let line = head.split(|b| *b == b'\r').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    if !connect_succeeded(&line) {
        return Err(io::Error::new(io::ErrorKind::ConnectionRefused, format!("the proxy answered {:?}", line.trim())));
    }
    Ok(())
}

/// `HTTP/1.0` or `HTTP/1.1`, then a 2xx status.
fn connect_succeeded(status_line: &str) -> bool {
    let mut parts = status_line.splitn(3, ' ');
    matches!(parts.next(), Some("HTTP/1.1" | "HTTP/1.0"))
        && parts.next().is_some_and(|c| c.len() == 3 && c.starts_with('2') && c.bytes().all(|b| b.is_ascii_digit()))
}

impl AsyncRead for Conn {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Unix(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Unix(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Tcp(s) => Pin::new(s).poll_flush(cx),
            Conn::Unix(s) => Pin::new(s).poll_flush(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Unix(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_2xx_status_opens_the_tunnel() {
        assert!(connect_succeeded("HTTP/1.1 200 Connection established"));
        assert!(connect_succeeded("HTTP/1.0 200"));
        for bad in ["HTTP/1.1 407 Proxy Authentication Required", "HTTP/1.1 2000 x", "HTTP/2 200", "SSH-2.0 200", ""] {
            assert!(!connect_succeeded(bad), "{bad}");
        }
    }
}
