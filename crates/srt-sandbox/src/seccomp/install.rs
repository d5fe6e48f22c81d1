//! Installing the compiled program: the one `seccomp(2)` call, with the
//! user-notification listener when the init mediates.

use std::io;

use seccompiler::sock_filter;

use super::{BPF_MAXINSNS, SeccompError};

/// Installs `prog` on the calling thread: one `seccomp(2)` call, no allocation.
///
/// The caller must already have set `PR_SET_NO_NEW_PRIVS` (otherwise an
/// unprivileged caller gets [`SeccompError::NoNewPrivs`]). Call it last before
/// `execve`, in the single-threaded child: the filter forbids `mount`,
/// `unshare` and other calls the sandbox setup needs.
pub fn apply(prog: &[sock_filter]) -> Result<(), SeccompError> {
    install(prog, 0).map(|_| ())
}

/// Like [`apply`], and returns the filter's user-notification listener
/// (`SECCOMP_FILTER_FLAG_NEW_LISTENER`, close-on-exec): calls the filter
/// answers with [`Action::Notify`](super::Action::Notify) wait until a process reading it answers.
pub fn apply_with_listener(prog: &[sock_filter]) -> Result<std::os::fd::OwnedFd, SeccompError> {
    use std::os::fd::FromRawFd;
    // WAIT_KILLABLE_RECV (Linux 5.19): once the listener has taken a call,
    // only a fatal signal interrupts the caller's wait. Without it a signal
    // makes the caller give up and restart the call after the listener has
    // performed it (a mkdir then fails with EEXIST). Older kernels get the
    // filter without it.
    let killable = libc::SECCOMP_FILTER_FLAG_NEW_LISTENER | libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV;
    let fd = match install(prog, killable) {
        Err(SeccompError::Install(e)) if e.raw_os_error() == Some(libc::EINVAL) => {
            install(prog, libc::SECCOMP_FILTER_FLAG_NEW_LISTENER)?
        }
        other => other?,
    };
    // SAFETY: with NEW_LISTENER the kernel returns a new descriptor that
    // nothing else owns.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as std::os::fd::RawFd) })
}

fn install(prog: &[sock_filter], flags: libc::c_ulong) -> Result<libc::c_long, SeccompError> {
    if prog.is_empty() {
        return Err(SeccompError::Empty);
    }
    let len = match u16::try_from(prog.len()) {
        Ok(len) if usize::from(len) <= BPF_MAXINSNS => len,
        _ => return Err(SeccompError::TooLarge { len: prog.len() }),
    };
    let fprog = libc::sock_fprog { len, filter: prog.as_ptr().cast::<libc::sock_filter>().cast_mut() };
    // SAFETY: `fprog` points at `len` initialised instructions that outlive the
    // call; the two `sock_filter` types have the same layout (asserted below);
    // the kernel only copies the program in and never writes through the pointer.
    let rc = unsafe {
        libc::syscall(libc::SYS_seccomp, libc::SECCOMP_SET_MODE_FILTER, flags, &fprog as *const libc::sock_fprog)
    };
    if rc >= 0 {
        return Ok(rc);
    }
    let err = io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::EACCES) {
        return Err(SeccompError::NoNewPrivs(err));
    }
    Err(SeccompError::Install(err))
}

// `apply` hands seccompiler's instructions to the kernel as libc's.
const _: () = {
    assert!(size_of::<sock_filter>() == size_of::<libc::sock_filter>());
    assert!(align_of::<sock_filter>() == align_of::<libc::sock_filter>());
};
