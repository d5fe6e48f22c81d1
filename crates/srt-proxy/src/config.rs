//! What a proxy needs to run: the policy, the resolver seam, this host's
//! addresses, where decisions are reported, and its bounds.

use std::fmt;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use srt_policy::{NetDecision, ParentProxy, Policy};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use crate::addrs::host_addresses;
use crate::resolver::{Resolver, SystemResolver};

/// Which proxy path a connection came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Via {
    /// An absolute-URI request (`GET http://host/...`) to the HTTP proxy.
    Http,
    /// A `CONNECT host:port` tunnel through the HTTP proxy.
    Connect,
    /// A SOCKS5 `CONNECT`.
    Socks5,
}

impl Via {
    /// `"http"`, `"connect"` or `"socks5"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Http => "http",
            Via::Connect => "connect",
            Via::Socks5 => "socks5",
        }
    }
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One network decision, as the violation monitor receives it. Sent for
/// every denial, and for every allowed connection too when
/// [`ProxyConfig::debug`] is set.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NetEvent {
    /// The host as the client named it (IPv6 literals without brackets).
    pub host: String,
    /// The port the client named.
    pub port: u16,
    /// The resolved address the decision was about: the denied address for
    /// a resolved-address denial, the dialed one for an allowed connection,
    /// `None` for a decision on the name alone.
    pub address: Option<IpAddr>,
    /// Allowed (with the rule) or denied (with the reason and its code).
    pub decision: NetDecision,
    /// Which proxy and request form it came through.
    pub via: Via,
    /// The client's address as the proxy saw it (inside the sandbox's
    /// network namespace), to find the process that connected.
    pub client: Option<std::net::SocketAddr>,
    /// The pid of the client process, for denials when
    /// [`ProxyConfig::client_pid`] is set and could tell.
    pub pid: Option<u32>,
}

impl NetEvent {
    /// `host:port`, with IPv6 literals bracketed: the `target` of a
    /// violation event.
    pub fn target(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// The policy the proxies decide by, replaceable while they run (srt's
/// `--control-fd`): each connection takes the one in force when it starts.
#[derive(Debug, Clone)]
pub struct LivePolicy(Arc<std::sync::RwLock<Arc<Policy>>>);

impl LivePolicy {
    /// Starts with `policy`.
    pub fn new(policy: Arc<Policy>) -> Self {
        LivePolicy(Arc::new(std::sync::RwLock::new(policy)))
    }

    /// The policy in force now.
    pub fn get(&self) -> Arc<Policy> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Replaces it for the connections that start from now on.
    pub fn set(&self, policy: Arc<Policy>) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = policy;
    }
}

/// Everything a proxy listener needs. Build with [`ProxyConfig::new`] and
/// adjust the public fields.
#[derive(Debug)]
#[non_exhaustive]
pub struct ProxyConfig {
    /// Decides every host and every resolved address.
    pub policy: LivePolicy,
    /// Resolves allowed names, once per connection.
    pub resolver: Arc<dyn Resolver>,
    /// This host's interface addresses, denied by the resolved-address guard.
    pub local_addrs: Vec<IpAddr>,
    /// Where decisions go. Bounded: when the receiver falls behind, events
    /// are dropped and counted ([`ProxyConfig::dropped_events`]) rather than
    /// letting a flood of denied requests grow memory without limit.
    pub events: Option<mpsc::Sender<NetEvent>>,
    /// Also report allowed connections.
    pub debug: bool,
    /// Limit for a SOCKS5 client to send its greeting and request.
    pub handshake_timeout: Duration,
    /// How long an HTTP client connection may take to send the head of its
    /// next request, idle keep-alive time included.
    pub http_idle_timeout: Duration,
    /// Limit for resolving one name.
    pub resolve_timeout: Duration,
    /// Limit for each TCP connect to an upstream address.
    pub connect_timeout: Duration,
    /// Client connections served at once by every listener that shares this
    /// configuration (one run's HTTP and SOCKS5 proxies); one more is
    /// accepted and closed at once, and counted
    /// ([`ProxyConfig::refused_connections`]). Bounds the descriptors and
    /// memory one run can take from the supervisor (each connection holds
    /// two descriptors: the client's and the upstream one).
    pub max_connections: usize,
    /// The parent proxy allowed connections leave through (see
    /// [`Policy::parent_proxy`](srt_policy::Policy::parent_proxy), which the
    /// caller resolves once with its environment). `network.mitmProxy` is
    /// read from the live policy at each connection.
    pub parent: Option<ParentProxy>,
    /// How an `https://` parent proxy is verified; `None`: against the
    /// host's roots (`SSL_CERT_FILE`, `SSL_CERT_DIR`, the system store).
    pub parent_tls: Option<Arc<rustls::ClientConfig>>,
    /// TLS termination (`network.tlsTerminate`): the run's CA and the
    /// upstream verification. `None`: every CONNECT tunnel stays opaque.
    pub tls: Option<Arc<crate::tls::Interceptor>>,
    /// The run's masked credentials: each sentinel is replaced by its real
    /// value in requests to the credential's hosts (inside terminated TLS,
    /// or plain HTTP with `credentials.allowPlaintextInject`).
    pub sentinels: Arc<Vec<srt_policy::Sentinel>>,
    /// Whether the bulk bytes of tunnels between two plain sockets (opaque
    /// CONNECT, SOCKS5) move by `splice(2)` through a pipe instead of
    /// being copied through user space. Off by default: over loopback on
    /// the 2-core machine this project measures on, splicing made a 1 GiB
    /// tunnel download slower than copying, and did not reliably save the
    /// proxy CPU (`docs/benchmarks.md`, "Proxy throughput"). With it on, the process
    /// must ignore `SIGPIPE` (Rust programs do).
    pub splice: bool,
    /// Finds the pid of the process behind a client address, called for
    /// each denial while the client still waits for the answer (so its
    /// socket is still open). `None`: events carry no pid.
    pub client_pid: Option<ClientPid>,
    dropped: AtomicU64,
    refused: AtomicU64,
    slots: OnceLock<Arc<Semaphore>>,
}

/// See [`ProxyConfig::client_pid`].
#[derive(Clone)]
pub struct ClientPid(pub Arc<dyn Fn(std::net::SocketAddr) -> Option<u32> + Send + Sync>);

impl fmt::Debug for ClientPid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientPid(..)")
    }
}

impl ProxyConfig {
    /// A configuration with the system resolver, this host's current
    /// interface addresses, no event channel and default bounds.
    pub fn new(policy: Arc<Policy>) -> Self {
        ProxyConfig {
            policy: LivePolicy::new(policy),
            resolver: Arc::new(SystemResolver),
            local_addrs: host_addresses(),
            events: None,
            debug: false,
            handshake_timeout: Duration::from_secs(10),
            http_idle_timeout: Duration::from_secs(60),
            resolve_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(15),
            max_connections: 1024,
            client_pid: None,
            splice: false,
            parent: None,
            parent_tls: None,
            tls: None,
            sentinels: Arc::new(Vec::new()),
            dropped: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            slots: OnceLock::new(),
        }
    }

    /// How many events were dropped because the channel was full.
    pub fn dropped_events(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// How many client connections were refused for being over
    /// [`ProxyConfig::max_connections`].
    pub fn refused_connections(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// A slot for one more client connection, or `None` (counted) when
    /// every slot is taken.
    pub(crate) fn connection_slot(&self) -> Option<OwnedSemaphorePermit> {
        let slots = self.slots.get_or_init(|| Arc::new(Semaphore::new(self.max_connections.max(1))));
        let permit = slots.clone().try_acquire_owned().ok();
        if permit.is_none() {
            self.refused.fetch_add(1, Ordering::Relaxed);
        }
        permit
    }

    /// Reports a decision about one plain-HTTP request (the request-level
    /// rules), with the client's pid when it can be found.
    pub(crate) fn report_request(
        &self,
        host: &str,
        port: u16,
        decision: NetDecision,
        client: Option<std::net::SocketAddr>,
    ) {
        let pid = match (client, &self.client_pid) {
            (Some(c), Some(lookup)) if !decision.is_allowed() => (lookup.0)(c),
            _ => None,
        };
        self.report(NetEvent { host: host.to_string(), port, address: None, decision, via: Via::Http, client, pid });
    }

    pub(crate) fn report(&self, event: NetEvent) {
        if !self.debug && event.decision.is_allowed() {
            return;
        }
        if let Some(tx) = &self.events {
            match tx.try_send(event) {
                Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => {}
                Err(mpsc::error::TrySendError::Full(_)) => {
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
}
