//! Network plumbing without helpers: pid 1 creates the proxy listeners on
//! 127.0.0.1 *inside* the sandbox's network namespace and hands them to the
//! supervisor over a Unix socket (SCM_RIGHTS). The supervisor accepts there
//! and dials out from the host's namespace. No socat, no extra process, no
//! socket file on disk; a program that ignores the proxy variables has no
//! route out at all.

use std::io::{self, IoSlice, IoSliceMut};
use std::net::TcpListener;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::sys::socket::{ControlMessage, ControlMessageOwned, MsgFlags, recvmsg, sendmsg};

/// How many TCP listeners [`create_and_send`] makes (HTTP, SOCKS5).
pub(crate) const LISTENERS: i64 = 2;

/// In pid 1: binds both listeners on an ephemeral loopback port each, sends
/// them on `sock`, and returns their ports for the program's environment.
pub(crate) fn create_and_send(sock: RawFd) -> io::Result<(u16, u16)> {
    let http = TcpListener::bind("127.0.0.1:0")?;
    let socks = TcpListener::bind("127.0.0.1:0")?;
    let ports = (http.local_addr()?.port(), socks.local_addr()?.port());
    let fds = [http.as_raw_fd(), socks.as_raw_fd()];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    let data = [0u8; 1];
    sendmsg::<()>(sock, &[IoSlice::new(&data)], &cmsg, MsgFlags::empty(), None).map_err(io::Error::from)?;
    // Our copies close here; the supervisor holds the listeners now.
    Ok(ports)
}

/// In the supervisor: receives the listeners (HTTP, SOCKS5), or `None` if
/// the init ended (setup failed) before sending them.
pub(crate) fn receive(sock: BorrowedFd<'_>) -> io::Result<Option<(TcpListener, TcpListener)>> {
    let mut data = [0u8; 1];
    let mut iov = [IoSliceMut::new(&mut data)];
    let mut space = nix::cmsg_space!([RawFd; 2]);
    let msg = recvmsg::<()>(sock.as_raw_fd(), &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC)
        .map_err(io::Error::from)?;
    let mut fds = Vec::new();
    for c in msg.cmsgs().map_err(io::Error::from)? {
        if let ControlMessageOwned::ScmRights(got) = c {
            fds.extend(got);
        }
    }
    if msg.bytes == 0 && fds.is_empty() {
        return Ok(None);
    }
    // SAFETY: the kernel just installed these descriptors in this process for
    // us; each is owned exactly once from here on.
    let owned: Vec<OwnedFd> = fds.into_iter().map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }).collect();
    let mut it = owned.into_iter();
    match (it.next(), it.next()) {
        (Some(h), Some(s)) => Ok(Some((TcpListener::from(h), TcpListener::from(s)))),
        _ => Err(io::Error::new(io::ErrorKind::InvalidData, "the sandbox init sent no proxy listeners")),
    }
}

/// Sends one descriptor over `sock` (the seccomp listener, program to pid 1).
pub(crate) fn send_fd(sock: RawFd, fd: RawFd) -> io::Result<()> {
    let fds = [fd];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    let data = [0u8; 1];
    sendmsg::<()>(sock, &[IoSlice::new(&data)], &cmsg, MsgFlags::empty(), None).map_err(io::Error::from)?;
    Ok(())
}

/// Receives one descriptor sent with [`send_fd`]; `None` if the sender
/// closed its end first.
pub(crate) fn receive_fd(sock: BorrowedFd<'_>) -> io::Result<Option<OwnedFd>> {
    let mut data = [0u8; 1];
    let mut iov = [IoSliceMut::new(&mut data)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = loop {
        match recvmsg::<()>(sock.as_raw_fd(), &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC) {
            Err(nix::errno::Errno::EINTR) => continue,
            r => break r.map_err(io::Error::from)?,
        }
    };
    let mut got = None;
    for c in msg.cmsgs().map_err(io::Error::from)? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            for fd in fds {
                // SAFETY: the kernel just installed this descriptor for us.
                let owned = unsafe { OwnedFd::from_raw_fd(fd) };
                got.get_or_insert(owned);
            }
        }
    }
    Ok(got)
}

/// The environment that points every common tool at the proxies.
/// `no_proxy` (`Policy::no_proxy`) names loopback only: clients reach
/// servers inside the sandbox directly, and a loopback address the policy
/// allows is left out so that the proxy reaches the host's. The sandbox's
/// network namespace has no other address, so anything else (private
/// ranges included, unlike npm srt's list) is reachable only through the
/// proxy, which decides it.
pub(crate) fn proxy_env(http_port: u16, socks_port: u16, no_proxy: &str) -> Vec<(String, String)> {
    let http = format!("http://127.0.0.1:{http_port}");
    let socks = format!("socks5h://127.0.0.1:{socks_port}");
    let mut env: Vec<(String, String)> = Vec::new();
    let mut set = |k: &str, v: &str| env.push((k.to_string(), v.to_string()));
    for k in ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"] {
        set(k, &http);
    }
    for k in ["ALL_PROXY", "all_proxy"] {
        set(k, &socks);
    }
    for k in ["NO_PROXY", "no_proxy"] {
        set(k, no_proxy);
    }
    // Tools that read their own variables.
    set("GRPC_PROXY", &http);
    set("grpc_proxy", &http);
    set("RSYNC_PROXY", &format!("127.0.0.1:{http_port}"));
    set("npm_config_proxy", &http);
    set("npm_config_https_proxy", &http);
    set("NODE_USE_ENV_PROXY", "1");
    set("DOCKER_HTTP_PROXY", &http);
    set("DOCKER_HTTPS_PROXY", &http);
    set("CLOUDSDK_PROXY_TYPE", "http");
    set("CLOUDSDK_PROXY_ADDRESS", "127.0.0.1");
    set("CLOUDSDK_PROXY_PORT", &http_port.to_string());
    // git over ssh through the SOCKS proxy, where OpenBSD netcat exists.
    if std::path::Path::new("/bin/nc.openbsd").exists() {
        set("GIT_SSH_COMMAND", &format!("ssh -o ProxyCommand='nc.openbsd -X 5 -x 127.0.0.1:{socks_port} %h %p'"));
    }
    env
}
