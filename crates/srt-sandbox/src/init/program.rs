//! The steps of the program's process between fork and execve (see
//! [`super::program`] for their order).

use std::ffi::CString;
use std::os::fd::{AsRawFd, RawFd};

use nix::sys::signal::SigSet;
use nix::unistd::setsid;

use super::{Exit, Status, Step};
use crate::spec::Report;
use crate::{caps, netplumb, seccomp, sys};

pub(super) fn unblock_signals() -> Step {
    // The Rust runtime of srt ignores SIGPIPE, and an ignored signal stays
    // ignored across execve: the program gets the default back, as it would
    // outside (`yes | head -1` ends quietly rather than printing EPIPE).
    // SAFETY: SIG_DFL installs no handler; this process is single-threaded.
    unsafe { nix::sys::signal::signal(nix::sys::signal::Signal::SIGPIPE, nix::sys::signal::SigHandler::SigDfl) }
        .map_err(|_| Exit(125))?;
    SigSet::empty().thread_set_mask().map_err(|_| Exit(125))
}

pub(super) fn die_with_init() {
    let _ = sys::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
}

pub(super) fn new_session(status: &mut Status) -> Step {
    setsid().map(drop).map_err(|e| status.fail(format!("setsid: {e}"), None))
}

pub(super) fn no_new_privs(status: &mut Status) -> Step {
    caps::no_new_privs().map_err(|e| status.fail(format!("no_new_privs: {e}"), None))
}

pub(super) fn no_core_dumps(status: &mut Status) -> Step {
    nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_CORE, 0, 0)
        .map_err(|e| status.fail(format!("cannot disable core dumps: {e}"), None))
}

/// The program's per-process limits, soft and hard (without
/// CAP_SYS_RESOURCE nothing in the sandbox can raise them again). Set in
/// the sandbox's user namespace, so RLIMIT_NPROC counts this sandbox's
/// processes only (see `limits.rs`). `inits`: how many of the sandbox's own
/// processes the kernel counts there too (pid 1, and init0 when it made the
/// namespaces).
pub(super) fn set_rlimits(l: &srt_policy::Limits, inits: u64, status: &mut Status) -> Step {
    set_each_rlimit(l, inits).map_err(|(what, e)| status.fail(format!("cannot set the {what} limit: {e}"), None))
}

fn set_each_rlimit(l: &srt_policy::Limits, inits: u64) -> Result<(), (&'static str, nix::Error)> {
    use nix::sys::resource::{Resource, setrlimit};
    if let Some(n) = l.max_file_size_bytes {
        setrlimit(Resource::RLIMIT_FSIZE, n, n).map_err(|e| ("file-size", e))?;
    }
    if let Some(n) = l.max_processes {
        // The kernel counts the sandbox's own processes of the same user in
        // the same namespace too.
        setrlimit(Resource::RLIMIT_NPROC, n + inits, n + inits).map_err(|e| ("process", e))?;
    }
    if let Some(n) = l.memory_bytes {
        setrlimit(Resource::RLIMIT_DATA, n, n).map_err(|e| ("memory", e))?;
    }
    if let Some(s) = l.cpu_time_seconds {
        // SIGXCPU at the soft limit, SIGKILL a second later.
        let soft = s.ceil() as u64;
        setrlimit(Resource::RLIMIT_CPU, soft, soft + 1).map_err(|e| ("CPU-time", e))?;
    }
    Ok(())
}

pub(super) fn drop_capabilities(status: &mut Status) -> Step {
    caps::drop_all().map_err(|e| status.fail(format!("cannot drop capabilities: {e}"), None))
}

pub(super) fn only_stdio_across_exec(status: &mut Status) -> Step {
    sys::cloexec_from_3().map_err(|e| status.fail(format!("close_range: {e}"), None))
}

pub(super) fn install_seccomp(filter: &seccompiler::BpfProgram, status: &mut Status) -> Step {
    seccomp::apply(filter).map_err(|e| status.fail(format!("cannot install the seccomp filter: {e}"), None))
}

/// Installs the filter with a user-notification listener and sends the
/// listener to pid 1 over `sock`.
pub(super) fn install_seccomp_and_send_listener(
    filter: &seccompiler::BpfProgram,
    sock: RawFd,
    status: &mut Status,
) -> Step {
    let listener = match seccomp::apply_with_listener(filter) {
        Ok(l) => l,
        Err(e) => return Err(status.fail(format!("cannot install the seccomp filter: {e}"), None)),
    };
    // Nothing this process does from here to execve is sent to the
    // listener, so pid 1 need not be serving yet.
    if let Err(e) = netplumb::send_fd(sock, listener.as_raw_fd()) {
        return Err(status.fail(format!("cannot hand the seccomp listener to pid 1: {e}"), None));
    }
    drop(listener);
    let _ = nix::unistd::close(sock);
    Ok(())
}

/// execvp; returns only on failure, with the exit code (127: not found,
/// 126: not runnable) after reporting it.
pub(super) fn exec(argv: &[CString], status: &mut Status) -> i32 {
    let err = nix::unistd::execvp(&argv[0], argv).unwrap_err();
    let not_found = err == nix::errno::Errno::ENOENT;
    status.send(&Report::ExecError { message: format!("{}: {err}", argv[0].to_string_lossy()), not_found });
    if not_found { 127 } else { 126 }
}
