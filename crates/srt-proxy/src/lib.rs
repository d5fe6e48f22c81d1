//! The network part of `srt`: an HTTP proxy (CONNECT tunnels and
//! absolute-URI requests) and a SOCKS5 proxy that decide every outbound
//! connection by the policy.
//!
//! Inside the sandbox the only route out is through these proxies. For each
//! connection a proxy:
//!
//! 1. asks [`Policy::decide_host`](srt_policy::Policy::decide_host) about the
//!    `host:port` the client named (allowedDomains, deniedDomains, ports, IP
//!    literals);
//! 2. resolves an allowed name **once** through the [`Resolver`] seam (an IP
//!    literal is not resolved);
//! 3. runs every address through the resolved-address guard,
//!    [`Policy::decide_address`](srt_policy::Policy::decide_address), with
//!    this host's own addresses ([`host_addresses`]);
//! 4. dials the surviving addresses in order and splices bytes.
//!
//! It never looks a name up a second time, so a name cannot be rebound to a
//! forbidden address between check and use. Denials are answered the way
//! srt answers them: HTTP `403` with `X-Proxy-Error: blocked-by-allowlist` or
//! `blocked-by-sandbox-runtime` and the reason in the body; SOCKS5 reply
//! `0x02` ("connection not allowed by ruleset"). Every denial is also a
//! [`NetEvent`] on the configured channel.
//!
//! ```no_run
//! use std::sync::Arc;
//! use srt_policy::{PathContext, RealFs, from_text};
//! use srt_proxy::{ProxyConfig, serve_http, serve_socks5};
//!
//! # async fn run() -> std::io::Result<()> {
//! let ctx = PathContext { cwd: "/work".into(), home: "/home/u".into() };
//! let settings = r#"{"network": {"allowedDomains": ["*.example.com"]}}"#;
//! let policy = from_text(Some(settings), None, &ctx, &RealFs).expect("valid settings");
//! let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
//! let mut cfg = ProxyConfig::new(Arc::new(policy));
//! cfg.events = Some(tx);
//! let cfg = Arc::new(cfg);
//! let http = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let socks = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! tokio::spawn(serve_http(http, cfg.clone()));
//! tokio::spawn(serve_socks5(socks, cfg));
//! while let Some(event) = rx.recv().await {
//!     eprintln!("{} {} {:?}", event.via, event.target(), event.decision);
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Limitations: HTTP/1 only on the client side (HTTP/2 and TLS travel inside
//! CONNECT tunnels); `Upgrade` (WebSocket over plain `http://`) is not relayed,
//! use CONNECT; SOCKS5 without authentication and without BIND or UDP
//! ASSOCIATE; upstream connections of absolute-URI requests are not reused
//! across requests. `httpProxyPort` / `socksProxyPort` (the user's own
//! proxies) are handled by the caller, not here.
//!
//! Tests run real clients (hand-written, hyper, `curl`, Python's `urllib`)
//! against real servers on 127.0.0.1, with names injected through
//! [`StaticResolver`].

#![warn(missing_docs)]

mod addrs;
mod config;
mod dial;
mod http;
mod inject;
mod intercept;
mod relay;
mod resolver;
mod serve;
mod socks5;
mod tls;
mod upstream;

pub use addrs::host_addresses;
pub use config::{ClientPid, LivePolicy, NetEvent, ProxyConfig, Via};
pub use http::serve_http;
pub use resolver::{ResolveFuture, Resolver, StaticResolver, SystemResolver};
pub use socks5::serve_socks5;
pub use tls::{Interceptor, TlsSetupError, certificate_blocks, pem_certificates, system_roots};
