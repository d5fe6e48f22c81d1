//! The proxy thread of one sandboxed run: a single-threaded runtime that
//! serves the sandbox's proxy listeners (or relays them to the user's own
//! proxies) and records every network denial as a [`Violation`].

use std::sync::{Arc, Mutex};

use srt_backend::ProxyListeners;
use srt_monitor::{Kind, Violation};
use srt_policy::NetDecision;

/// Proxy connections one `srt` run may hold open at once (HTTP and SOCKS5
/// together).
pub const MAX_PROXY_CONNECTIONS: usize = 1024;

/// How long the pid found for a client address is taken as known.
const PID_CACHE_FOR: std::time::Duration = std::time::Duration::from_secs(2);

/// Network decisions queued for recording at once; past it they are
/// counted and the count is reported.
const EVENT_QUEUE: usize = 16_384;

/// Violations seen during a run, shared with the caller.
pub type Seen = Arc<Mutex<Vec<Violation>>>;

/// Started when pid 1 hands over the listeners; stopped after the run.
pub struct ProxyThread {
    stop: tokio::sync::oneshot::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

/// What the proxies of one run need besides their listeners.
pub struct ProxySetup {
    /// The policy they decide by (replaceable while they run).
    pub policy: srt_proxy::LivePolicy,
    /// Every decision is also printed on stderr.
    pub debug: bool,
    /// Client connections the run may hold open at once through both
    /// proxies together; more are refused and reported.
    pub max_connections: usize,
    /// Where the denials go.
    pub seen: Seen,
    /// How events name the command.
    pub command: String,
    /// TLS termination, when the policy asks for it.
    pub tls: Option<Arc<srt_proxy::Interceptor>>,
    /// The run's masked credentials.
    pub sentinels: Arc<Vec<srt_policy::Sentinel>>,
    /// Where each denial goes as it happens, too.
    pub live: Option<crate::pipeline::LiveEvents>,
}

impl ProxyThread {
    /// Serves `l` on a thread of its own until [`ProxyThread::stop`].
    pub fn start(setup: ProxySetup, l: ProxyListeners) -> ProxyThread {
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_io().enable_time().build() else {
                eprintln!("srt: cannot start the proxy runtime; the sandbox has no network");
                return;
            };
            rt.block_on(serve(setup, l, stop_rx));
        });
        ProxyThread { stop: stop_tx, thread }
    }

    /// Stops the proxies after recording every decision already made.
    pub fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.thread.join();
    }
}

async fn serve(setup: ProxySetup, l: ProxyListeners, mut stop: tokio::sync::oneshot::Receiver<()>) {
    let ProxySetup { policy, debug, max_connections, seen, command, tls, sentinels, live } = setup;
    let owner = l.client_pid.clone();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<srt_proxy::NetEvent>(EVENT_QUEUE);
    let mut cfg = srt_proxy::ProxyConfig::new(policy.get());
    cfg.policy = policy;
    cfg.events = Some(tx);
    cfg.debug = debug;
    cfg.max_connections = max_connections;
    // Finding the pid walks the sandbox's /proc; a connection that sends
    // many refused requests is looked up once (for a short while: a client
    // port can be reused by another process later).
    let cache: Mutex<std::collections::HashMap<std::net::SocketAddr, (std::time::Instant, Option<u32>)>> =
        Mutex::new(std::collections::HashMap::new());
    cfg.client_pid = Some(srt_proxy::ClientPid(Arc::new(move |c| {
        let now = std::time::Instant::now();
        let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, pid)) = cache.get(&c)
            && now.duration_since(*at) < PID_CACHE_FOR
        {
            return *pid;
        }
        let pid = owner(c);
        if cache.len() >= 4096 {
            cache.clear();
        }
        cache.insert(c, (now, pid));
        pid
    })));
    // network.parentProxy, or HTTP_PROXY / HTTPS_PROXY / NO_PROXY of srt's
    // own environment (the program's are srt's proxies): resolved once, as
    // srt does; network.mitmProxy follows the live policy.
    cfg.parent = cfg.policy.get().parent_proxy(&|k| std::env::var(k).ok());
    cfg.tls = tls;
    cfg.sentinels = sentinels;
    if debug && let Some(p) = &cfg.parent {
        let show = |u: &Option<srt_policy::ProxyUrl>| u.as_ref().map_or("direct".to_string(), |u| u.shown.clone());
        eprintln!("srt: parent proxy: http {}, tunnels {}", show(&p.http), show(&p.https));
    }
    let cfg = Arc::new(cfg);
    let external = {
        let p = cfg.policy.get();
        [p.http_proxy_port, p.socks_proxy_port]
    };
    for ((listener, http), external) in [(l.http, true), (l.socks, false)].into_iter().zip(external) {
        if listener.set_nonblocking(true).is_err() {
            continue;
        }
        let Ok(listener) = tokio::net::TcpListener::from_std(listener) else { continue };
        let cfg = cfg.clone();
        tokio::spawn(async move {
            let _ = match (external, http) {
                (Some(port), _) => relay_to_external(listener, port).await,
                (None, true) => srt_proxy::serve_http(listener, cfg).await,
                (None, false) => srt_proxy::serve_socks5(listener, cfg).await,
            };
        });
    }
    let record = |ev: srt_proxy::NetEvent| {
        if let NetDecision::Deny { reason, code, .. } = &ev.decision {
            // A refused request (its host was allowed) rather than a refused connection.
            let operation = match code {
                srt_policy::DenyCode::Misdirected | srt_policy::DenyCode::AmbiguousTarget => "request",
                srt_policy::DenyCode::Credential => "credential",
                _ => "connect",
            };
            let v = Violation::deny(Kind::Network, operation, ev.target(), reason.clone(), ev.pid, &command);
            if let Some(live) = &live {
                live(&v);
            }
            seen.lock().unwrap_or_else(|e| e.into_inner()).push(v);
        }
        if debug {
            let verdict = match &ev.decision {
                NetDecision::Allow { rule } => format!("allow ({rule})"),
                NetDecision::Deny { reason, .. } => format!("deny: {reason}"),
            };
            let addr = ev.address.map(|a| format!(" ({a})")).unwrap_or_default();
            eprintln!("srt: network {}{addr} via {}: {verdict}", ev.target(), ev.via);
        }
    };
    loop {
        tokio::select! {
            ev = rx.recv() => match ev {
                Some(ev) => record(ev),
                None => break,
            },
            _ = &mut stop => break,
        }
    }
    // Decisions already made when the program ended are still reported.
    while let Ok(ev) = rx.try_recv() {
        record(ev);
    }
    // Summaries, given to the live sink too (they count as streamed).
    let note = |reason: String| {
        let v = Violation::deny(Kind::Network, "connect", "proxy".into(), reason, None, &command);
        if let Some(live) = &live {
            live(&v);
        }
        seen.lock().unwrap_or_else(|e| e.into_inner()).push(v);
    };
    let refused = cfg.refused_connections();
    if refused > 0 {
        note(format!(
            "{refused} proxy connection{} refused: more than {max_connections} open at once",
            if refused == 1 { "" } else { "s" }
        ));
    }
    // A flood of refusals faster than they can be recorded must not hide
    // one among them unseen: how many were lost is itself reported.
    let dropped = cfg.dropped_events();
    if dropped > 0 {
        note(format!(
            "{dropped} more network decision{} not recorded one by one: the program made them faster than they \
             could be reported (a flood may hide a refusal among them)",
            if dropped == 1 { " was" } else { "s were" }
        ));
    }
}

/// `httpProxyPort` / `socksProxyPort`: the user's own proxy on the host's
/// loopback decides; srt only carries the bytes there from inside the
/// sandbox's network namespace.
async fn relay_to_external(listener: tokio::net::TcpListener, port: u16) -> std::io::Result<()> {
    loop {
        let (mut inside, _) = listener.accept().await?;
        tokio::spawn(async move {
            if let Ok(mut outside) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
                let _ = tokio::io::copy_bidirectional(&mut inside, &mut outside).await;
            }
        });
    }
}
