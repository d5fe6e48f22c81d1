//! Thin wrappers over system calls that nix does not cover (or covers in a
//! shape that does not fit), each returning `std::io::Result`.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

pub fn cstr(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

fn check(r: libc::c_long) -> io::Result<()> {
    if r < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
}

/// `struct mount_attr` of mount_setattr(2).
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

pub const MOUNT_ATTR_RDONLY: u64 = 0x1;
pub const MOUNT_ATTR_NOSUID: u64 = 0x2;
pub const MOUNT_ATTR_NODEV: u64 = 0x4;
pub const MOUNT_ATTR_NOEXEC: u64 = 0x8;
const AT_RECURSIVE: libc::c_uint = 0x8000;

/// Sets mount attributes on the mount at `path` (and every mount below it
/// when `recursive`). Unlike `MS_REMOUNT`, this works on locked mounts
/// inherited from a more privileged namespace, as long as flags are only
/// added.
pub fn mount_setattr(path: &Path, set: u64, recursive: bool) -> io::Result<()> {
    let c = cstr(path)?;
    let attr = MountAttr { attr_set: set, attr_clr: 0, propagation: 0, userns_fd: 0 };
    let flags = libc::AT_SYMLINK_NOFOLLOW as libc::c_uint | if recursive { AT_RECURSIVE } else { 0 };
    // SAFETY: `c` is a valid NUL-terminated string and `attr` a properly laid
    // out struct mount_attr that outlives the call; the size passed matches it.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            libc::AT_FDCWD,
            c.as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    check(r)
}

/// pivot_root(2).
pub fn pivot_root(new_root: &Path, put_old: &Path) -> io::Result<()> {
    let a = cstr(new_root)?;
    let b = cstr(put_old)?;
    // SAFETY: both arguments are valid NUL-terminated strings.
    let r = unsafe { libc::syscall(libc::SYS_pivot_root, a.as_ptr(), b.as_ptr()) };
    check(r)
}

/// Brings the loopback interface of the current network namespace up.
pub fn loopback_up() -> io::Result<()> {
    // SAFETY: plain socket(2) call; the fd is closed below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: ifreq is plain old data; zeroed is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: fd is a valid socket and req a valid ifreq naming "lo".
    let mut r = unsafe { libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut req) };
    if r == 0 {
        // SAFETY: the flags member of the union was just filled by SIOCGIFFLAGS.
        unsafe { req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short };
        // SAFETY: as above.
        r = unsafe { libc::ioctl(fd, libc::SIOCSIFFLAGS, &req) };
    }
    let err = io::Error::last_os_error();
    // SAFETY: fd is ours and closed once.
    unsafe { libc::close(fd) };
    if r < 0 { Err(err) } else { Ok(()) }
}

/// Marks every descriptor from 3 up close-on-exec, so only 0, 1 and 2 cross
/// into the program (runc CVE-2024-21626: leaked host fds).
pub fn cloexec_from_3() -> io::Result<()> {
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only changes fd flags.
    let r = unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, libc::CLOSE_RANGE_CLOEXEC) };
    check(r)
}

/// prctl(2) with integer arguments.
pub fn prctl(option: libc::c_int, arg2: libc::c_ulong) -> io::Result<()> {
    // SAFETY: the options used here take integer arguments only.
    let r = unsafe { libc::prctl(option, arg2, 0 as libc::c_ulong, 0 as libc::c_ulong, 0 as libc::c_ulong) };
    if r < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
}

/// Writes a whole file (for /proc/self/{uid_map,gid_map,setgroups}).
pub fn write_file(path: &str, text: &str) -> io::Result<()> {
    std::fs::write(path, text)
}

/// A copy of the mount tree at `src` (recursive), not yet attached anywhere:
/// open_tree(2) with `OPEN_TREE_CLONE`, on a descriptor the caller opened.
pub fn clone_tree(src: std::os::fd::BorrowedFd<'_>) -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::{AsRawFd, FromRawFd};
    const OPEN_TREE_CLONE: libc::c_uint = 1;
    let flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint | libc::AT_EMPTY_PATH as libc::c_uint | AT_RECURSIVE;
    // SAFETY: `src` is a descriptor we hold; the path is an empty
    // NUL-terminated string (AT_EMPTY_PATH: the descriptor itself).
    let fd = unsafe { libc::syscall(libc::SYS_open_tree, src.as_raw_fd(), c"".as_ptr(), flags) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: open_tree returned a new descriptor that nothing else owns.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as libc::c_int) })
}

/// Attaches a detached mount tree (from [`clone_tree`]) at `target`:
/// move_mount(2). A final symlink at `target` is not followed.
pub fn attach_tree(tree: std::os::fd::BorrowedFd<'_>, target: &Path) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 4;
    let t = cstr(target)?;
    // SAFETY: `tree` is a descriptor we hold, both strings are valid and
    // NUL-terminated.
    let r = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_FDCWD,
            t.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        )
    };
    check(r)
}

/// The namespaces of every sandbox, made together (by one unshare or one
/// clone): the user namespace is made first, so it owns the others.
pub const SANDBOX_NAMESPACES: u64 = (libc::CLONE_NEWUSER
    | libc::CLONE_NEWNS
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWCGROUP) as u64;

/// fork(2) with clone flags: `clone3` without a new stack or shared memory,
/// or the old `clone` when a container's seccomp profile refuses `clone3`
/// (Docker's answers ENOSYS, others EPERM). Returns 0 in the child and the
/// child's pid in the parent. With `CLONE_PARENT` the kernel takes the exit
/// signal from the caller (and refuses one given); otherwise it is SIGCHLD.
///
/// # Safety
///
/// As fork(2): unless the caller is single-threaded, the child may only make
/// async-signal-safe calls until it execs. The C library's record of the
/// thread id is not updated in the child (glibc asks the kernel where it
/// matters, in `raise`).
pub unsafe fn clone_process(flags: u64) -> io::Result<i32> {
    #[repr(C)]
    #[derive(Default)]
    struct CloneArgs {
        flags: u64,
        pidfd: u64,
        child_tid: u64,
        parent_tid: u64,
        exit_signal: u64,
        stack: u64,
        stack_size: u64,
        tls: u64,
    }
    let exit_signal = if flags & libc::CLONE_PARENT as u64 != 0 { 0 } else { libc::SIGCHLD as u64 };
    let args = CloneArgs { flags, exit_signal, ..Default::default() };
    // SAFETY: clone3 without CLONE_VM or a stack behaves as fork(2); `args`
    // outlives the call and its size is the one passed.
    let mut r = unsafe { libc::syscall(libc::SYS_clone3, &args as *const CloneArgs, std::mem::size_of::<CloneArgs>()) };
    if r < 0 && matches!(io::Error::last_os_error().raw_os_error(), Some(libc::ENOSYS | libc::EPERM)) {
        // SAFETY: as above; stack, tids and tls are null.
        r = unsafe {
            libc::syscall(libc::SYS_clone, (flags | exit_signal) as libc::c_ulong, 0usize, 0usize, 0usize, 0usize)
        };
    }
    if r < 0 { Err(io::Error::last_os_error()) } else { Ok(r as i32) }
}

/// pidfd_open(2): a descriptor that becomes readable when process `pid` ends.
pub fn pidfd_open(pid: i32) -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: plain integer arguments.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new descriptor (close-on-exec) nothing else owns.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as libc::c_int) })
}

/// Whether the process behind `pidfd` has ended (or the descriptor is bad).
pub fn has_exited(pidfd: std::os::fd::RawFd) -> bool {
    let mut p = libc::pollfd { fd: pidfd, events: libc::POLLIN, revents: 0 };
    // SAFETY: one valid pollfd, no timeout.
    let r = unsafe { libc::poll(&mut p, 1, 0) };
    r != 0
}
