//! Which sandboxed process owns a TCP connection the proxy accepted: the
//! client's address is looked up in the sandbox's own TCP table
//! (`/proc/<pid in that namespace>/net/tcp{,6}`), and the socket inode in the
//! descriptors of the processes of that network namespace. The namespace is
//! known by its identity, taken from the proxy's listener (pid 1, which made
//! it, is not dumpable, so its `/proc` entries are closed to the
//! supervisor). Best effort: a process that already closed its socket gives
//! `None`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;

/// A network namespace's identity: the device and inode of its nsfs file.
pub(crate) type NetNs = (u64, u64);

/// The network namespace `sock` belongs to (`SIOCGSKNS`). The supervisor may
/// ask for the sandbox's: it owns the user namespace that owns it.
pub(crate) fn netns_of_socket(sock: BorrowedFd<'_>) -> Option<NetNs> {
    // SAFETY: SIOCGSKNS takes no argument and returns a new descriptor.
    let fd = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGSKNS as _) };
    if fd < 0 {
        return None;
    }
    // SAFETY: a new descriptor owned by nobody else.
    let ns = unsafe { OwnedFd::from_raw_fd(fd) };
    let m = std::fs::File::from(ns).metadata().ok()?;
    Some((m.dev(), m.ino()))
}

/// The network namespace of process `pid`, if this process may look.
fn netns_of_pid(pid: u32) -> Option<NetNs> {
    let m = std::fs::metadata(format!("/proc/{pid}/ns/net")).ok()?;
    Some((m.dev(), m.ino()))
}

/// The pid, as seen inside the sandbox, of the process that owns the TCP
/// socket whose local address is `client`, among the processes of network
/// namespace `netns`.
pub(crate) fn pid_of_client(netns: NetNs, client: SocketAddr) -> Option<u32> {
    let mut needle = None;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        if netns_of_pid(pid) != Some(netns) {
            continue;
        }
        // The namespace's TCP table, read through its first process.
        if needle.is_none() {
            needle = Some(format!("socket:[{}]", socket_inode(pid, client)?));
        }
        let needle = needle.as_deref()?;
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { continue };
        if fds.flatten().any(|fd| std::fs::read_link(fd.path()).is_ok_and(|l| l.as_os_str() == needle)) {
            return inner_pid(pid).or(Some(pid));
        }
    }
    None
}

/// The last entry of `NSpid:`: the pid inside the innermost PID namespace.
fn inner_pid(pid: u32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("NSpid:"))?;
    line.split_whitespace().last()?.parse().ok()
}

fn socket_inode(pid: u32, client: SocketAddr) -> Option<u64> {
    let table = if client.is_ipv4() { "tcp" } else { "tcp6" };
    let text = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")).ok()?;
    text.lines().skip(1).find_map(|line| {
        let cols: Vec<&str> = line.split_whitespace().collect();
        let local = parse_addr(cols.get(1)?)?;
        (local == client).then(|| cols.get(9)?.parse().ok())?
    })
}

/// `0100007F:1F90` (IPv4) or 32 hex digits (IPv6), as the kernel prints the
/// address words in host byte order.
fn parse_addr(s: &str) -> Option<SocketAddr> {
    let (ip, port) = s.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let ip = match ip.len() {
        8 => IpAddr::V4(Ipv4Addr::from(u32::from_str_radix(ip, 16).ok()?.to_le_bytes())),
        32 => {
            let mut bytes = [0u8; 16];
            for (i, chunk) in bytes.chunks_mut(4).enumerate() {
                let word = u32::from_str_radix(ip.get(i * 8..i * 8 + 8)?, 16).ok()?;
                chunk.copy_from_slice(&word.to_le_bytes());
            }
            IpAddr::V6(Ipv6Addr::from(bytes))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kernel_addresses() {
        assert_eq!(parse_addr("0100007F:1F90"), Some("127.0.0.1:8080".parse().unwrap()));
        assert_eq!(parse_addr("00000000000000000000000001000000:0050"), Some("[::1]:80".parse().unwrap()));
        assert_eq!(parse_addr("zz:1"), None);
    }

    #[test]
    fn finds_this_process_for_its_own_connection() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let me = std::process::id();
        let netns = netns_of_pid(me).unwrap();
        if let Some(by_socket) = netns_of_socket(std::os::fd::AsFd::as_fd(&l)) {
            assert_eq!(by_socket, netns, "the listener is in this process's namespace");
        }
        let found = pid_of_client(netns, c.local_addr().unwrap());
        assert_eq!(found, inner_pid(me).or(Some(me)));
    }
}
