//! `network.tlsTerminate` and `refuseOpaqueTunnels`, validated: which
//! CONNECT tunnels the proxy opens up (TLS terminated with a certificate of
//! its own CA, every request inside decided and forwarded over a verified
//! connection) and which stay opaque byte streams.

use std::path::PathBuf;
use std::time::Duration;

use crate::domain::{DomainPattern, normalize_host};

/// Tunnels terminated at once when `maxTunnels` is not set.
pub const DEFAULT_MAX_TUNNELS: usize = 256;
/// Time for a client's TLS handshake when `handshakeTimeoutMs` is not set.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The validated `network.tlsTerminate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsTermination {
    /// `caCertPath` and `caKeyPath` (absolute); `None`: a CA made for the
    /// run, kept in memory only.
    pub ca_files: Option<(PathBuf, PathBuf)>,
    /// Hosts whose tunnels stay opaque (`excludeDomains`).
    pub exclude: Vec<DomainPattern>,
    /// `extraCaCertPaths` (absolute): their CERTIFICATE blocks join the
    /// bundle the sandbox trusts.
    pub extra_ca: Vec<PathBuf>,
    /// `maxTunnels` (1–65,536; 256 when unset): terminated tunnels open at
    /// once; past it a CONNECT gets `503 too-many-tunnels`.
    pub max_tunnels: usize,
    /// `handshakeTimeoutMs` (10 s when unset): how long a client has for its
    /// first bytes, then for its TLS handshake, before the tunnel is closed.
    pub handshake_timeout: Duration,
    /// `refuseOpaqueTunnels`.
    pub refuse_opaque: bool,
}

impl TlsTermination {
    /// Whether a CONNECT to `host:port` is terminated (else it stays an
    /// opaque tunnel, refused when `refuseOpaqueTunnels` is set).
    pub fn terminates(&self, host: &str, port: u16) -> bool {
        normalize_host(host).is_some_and(|h| !self.exclude.iter().any(|p| p.matches(&h, port)))
    }
}
