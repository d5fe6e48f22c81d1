//! The accept loop shared by both proxies.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use nix::errno::Errno;
use tokio::net::{TcpListener, TcpStream};

use crate::config::ProxyConfig;

/// Accepts until the listener fails for good, one task per connection, at
/// most `cfg.max_connections` at once across every listener sharing `cfg`;
/// a connection beyond that is closed at once (and counted), so that it
/// neither waits unseen nor takes more descriptors.
pub(crate) async fn accept_loop<F, Fut>(listener: TcpListener, cfg: Arc<ProxyConfig>, handler: F) -> io::Result<()>
where
    F: Fn(TcpStream, Arc<ProxyConfig>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) if is_fatal(&e) => return Err(e),
            Err(_) => {
                // Out of descriptors or memory, or a connection that died in
                // the backlog: wait a little instead of spinning.
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let Some(permit) = cfg.connection_slot() else {
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let task = handler(stream, cfg.clone());
        tokio::spawn(async move {
            task.await;
            drop(permit);
        });
    }
}

/// Errors that say the listener itself is unusable.
fn is_fatal(e: &io::Error) -> bool {
    let fatal = [Errno::EBADF, Errno::EINVAL, Errno::ENOTSOCK, Errno::EOPNOTSUPP, Errno::EFAULT];
    e.raw_os_error().is_some_and(|code| fatal.iter().any(|f| *f as i32 == code))
}
