//! The resolver seam: how an allowed host name becomes addresses.
//!
//! The proxy resolves each allowed name exactly once, through a
//! [`Resolver`], and dials only addresses that passed the resolved-address
//! guard. Production uses [`SystemResolver`]; tests inject names with
//! [`StaticResolver`] instead of editing `/etc/hosts`.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;

/// The future a [`Resolver`] returns.
pub type ResolveFuture<'a> = Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send + 'a>>;

/// Turns a host name into addresses. Called once per connection for a name
/// the policy allowed (never for an IP literal).
pub trait Resolver: Send + Sync + fmt::Debug {
    /// The addresses of `host` in preference order. `port` is passed for
    /// resolvers that care (getaddrinfo takes a service); an empty list is
    /// treated like a lookup failure.
    fn resolve<'a>(&'a self, host: &'a str, port: u16) -> ResolveFuture<'a>;
}

/// The system resolver (`getaddrinfo` on tokio's blocking pool).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

impl Resolver for SystemResolver {
    fn resolve<'a>(&'a self, host: &'a str, port: u16) -> ResolveFuture<'a> {
        Box::pin(async move {
            let mut out: Vec<IpAddr> = Vec::new();
            for addr in tokio::net::lookup_host((host, port)).await? {
                if !out.contains(&addr.ip()) {
                    out.push(addr.ip());
                }
            }
            Ok(out)
        })
    }
}

/// A fixed name → addresses table, for tests. Names match case-insensitively
/// and without a trailing dot; an unknown name fails like NXDOMAIN.
#[derive(Debug, Clone, Default)]
pub struct StaticResolver {
    names: HashMap<String, Vec<IpAddr>>,
}

impl StaticResolver {
    /// A resolver that knows no name yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) `name`'s addresses.
    pub fn with(mut self, name: &str, addrs: impl IntoIterator<Item = IpAddr>) -> Self {
        self.names.insert(key(name), addrs.into_iter().collect());
        self
    }
}

fn key(name: &str) -> String {
    name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase()
}

impl Resolver for StaticResolver {
    fn resolve<'a>(&'a self, host: &'a str, _port: u16) -> ResolveFuture<'a> {
        let found = self.names.get(&key(host)).cloned();
        Box::pin(async move {
            found.ok_or_else(|| {
                io::Error::new(io::ErrorKind::NotFound, format!("{host}: no such host (static resolver)"))
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn static_resolver_matches_case_insensitively() {
        let r = StaticResolver::new().with("Api.Test", ["192.0.2.1".parse().unwrap()]);
        assert_eq!(r.resolve("api.test.", 443).await.unwrap(), vec!["192.0.2.1".parse::<IpAddr>().unwrap()]);
        assert_eq!(r.resolve("other.test", 443).await.unwrap_err().kind(), io::ErrorKind::NotFound);
    }

    #[tokio::test]
    async fn system_resolver_resolves_localhost() {
        let addrs = SystemResolver.resolve("localhost", 80).await.unwrap();
        assert!(addrs.iter().all(|a| a.is_loopback()), "{addrs:?}");
    }
}
