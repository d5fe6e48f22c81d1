//! The steps of init0, the process that makes the namespaces (see
//! [`super::init0`] for their order), and of the weaker mode, where it makes
//! none.

use std::fs::File;
use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

use nix::sched::{CloneFlags, unshare};
use nix::sys::signal::{SigSet, Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{Pid, getppid, setsid};

use super::{Exit, INIT_ARG, Status, Step, TERMINATE, waited_signals};
use crate::spec::SandboxSpec;
use crate::sys;

pub(super) const USERNS_HINT: &str = "srt needs unprivileged user namespaces. Enable them (Debian/Ubuntu: \
    `sysctl -w kernel.unprivileged_userns_clone=1`; Ubuntu 23.10+: \
    `sysctl -w kernel.apparmor_restrict_unprivileged_userns=0`; everywhere: `user.max_user_namespaces` > 0), \
    or run outside a container that forbids them. Setting \"enableWeakerNestedSandbox\": true accepts a weaker \
    sandbox without namespaces.";

fn parse_fd(s: Option<&String>) -> Option<RawFd> {
    s?.parse().ok().filter(|fd| *fd > 2)
}

/// `SPECFD STATUSFD PARENTPID` from the command line: the spec to read, the
/// status pipe, and the supervisor's pid.
pub(super) fn take_descriptors(args: &[String]) -> Step<(File, Status, i32)> {
    let (Some(spec_fd), Some(status_fd), Some(parent)) =
        (parse_fd(args.first()), parse_fd(args.get(1)), args.get(2).and_then(|p| p.parse::<i32>().ok()))
    else {
        eprintln!("srt: {INIT_ARG} is internal; it is started by srt itself");
        return Err(Exit(125));
    };
    // SAFETY: the supervisor passed these descriptors to us for our sole use;
    // nothing else in this fresh process owns them.
    let (spec_file, status_file) = unsafe { (File::from_raw_fd(spec_fd), File::from_raw_fd(status_fd)) };
    Ok((spec_file, Status(status_file), parent))
}

/// SIGKILL when the supervisor dies; `Exit` if it already has (we were
/// re-parented), with nobody left to report to.
pub(super) fn die_with_supervisor(parent: i32) -> Step {
    if sys::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong).is_err() || getppid().as_raw() != parent {
        return Err(Exit(125));
    }
    Ok(())
}

pub(super) fn not_a_subreaper() {
    let _ = sys::prctl(libc::PR_SET_CHILD_SUBREAPER, 0);
}

pub(super) fn read_spec(mut spec_file: File, status: &mut Status) -> Step<SandboxSpec> {
    let mut text = String::new();
    if let Err(e) = spec_file.read_to_string(&mut text) {
        return Err(status.fail(format!("cannot read the sandbox spec: {e}"), None));
    }
    drop(spec_file);
    serde_json::from_str(&text).map_err(|e| status.fail(format!("invalid sandbox spec: {e}"), None))
}

/// `clearEnv` and `unsetEnv` of the spec.
pub(super) fn clean_environment(spec: &SandboxSpec) {
    if spec.clear_env {
        clear_environment();
    }
    for k in &spec.unset_env {
        // SAFETY: single-threaded process; no other thread reads the environment.
        unsafe { std::env::remove_var(k) };
    }
}

/// Keeps only what programs need to run and to speak the user's language.
fn clear_environment() {
    const KEEP: [&str; 7] = ["PATH", "HOME", "USER", "LOGNAME", "LANG", "TERM", "TZ"];
    for (k, _) in std::env::vars_os() {
        let keep = k.to_str().is_some_and(|k| KEEP.contains(&k) || k.starts_with("LC_"));
        if !keep {
            // SAFETY: single-threaded process; no other thread reads the environment.
            unsafe { std::env::remove_var(&k) };
        }
    }
}

pub(super) fn own_session() {
    let _ = setsid();
}

pub(super) fn block_signals(status: &mut Status) -> Step<SigSet> {
    let mask = waited_signals();
    mask.thread_set_mask().map_err(|e| status.fail(format!("sigprocmask: {e}"), None))?;
    Ok(mask)
}

pub(super) fn unshare_namespaces() -> nix::Result<()> {
    unshare(CloneFlags::from_bits_retain(crate::sys::SANDBOX_NAMESPACES as libc::c_int))
}

/// Maps the caller's ids to themselves: inside, the program runs with the
/// caller's uid and gid, not as root.
/// `how`: made by "unshare" or "one clone", for `--debug`.
pub(super) fn map_ids(spec: &SandboxSpec, how: &str, status: &mut Status) -> Step {
    let maps = [
        ("/proc/self/setgroups", "deny".to_string()),
        ("/proc/self/uid_map", format!("{0} {0} 1\n", spec.uid)),
        ("/proc/self/gid_map", format!("{0} {0} 1\n", spec.gid)),
    ];
    for (path, text) in &maps {
        if let Err(e) = sys::write_file(path, text) {
            return Err(status.fail(format!("cannot write {path}: {e}"), Some(USERNS_HINT)));
        }
    }
    if spec.debug {
        status.debug(format!(
            "namespaces: user, mount, pid, net, ipc, uts, cgroup, made by {how}; uid map {0}→{0}, gid map {1}→{1}",
            spec.uid, spec.gid
        ));
    }
    Ok(())
}

/// The pipe whose write end only init0 holds: pid 1 sees it hang up if
/// init0 dies.
pub(super) fn alive_pipe(status: &mut Status) -> Step<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| status.fail(format!("pipe: {e}"), None))
}

pub(super) fn close_proxy_socket(spec: &SandboxSpec) {
    if let Some(fd) = spec.proxy_fd {
        let _ = nix::unistd::close(fd);
    }
}

/// Waits for `child` while forwarding signals to it; returns its exit status
/// as an exit code (128+N for signal N).
pub(super) fn supervise_child(child: Pid, mask: &SigSet) -> i32 {
    loop {
        match mask.wait() {
            Ok(Signal::SIGCHLD) => loop {
                match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                    Ok(WaitStatus::Exited(pid, code)) if pid == child => return code,
                    Ok(WaitStatus::Signaled(pid, sig, _)) if pid == child => return 128 + sig as i32,
                    Ok(WaitStatus::StillAlive) | Err(_) => break,
                    Ok(_) => continue,
                }
            },
            Ok(TERMINATE) => {
                // Pid 1's death takes the whole PID namespace with it.
                let _ = kill(child, Signal::SIGKILL);
            }
            Ok(sig) => {
                let _ = kill(child, sig);
            }
            Err(_) => {}
        }
    }
}

/// The weaker mode's parent-death signal: [`TERMINATE`], which this process
/// handles by killing its descendants, instead of SIGKILL.
pub(super) fn terminate_with_supervisor(parent: i32, status: &mut Status) -> Step {
    if let Err(e) = sys::prctl(libc::PR_SET_PDEATHSIG, TERMINATE as libc::c_ulong) {
        return Err(status.fail(format!("PR_SET_PDEATHSIG: {e}"), None));
    }
    if getppid().as_raw() != parent {
        return Err(Exit(125));
    }
    Ok(())
}

pub(super) fn become_subreaper(status: &mut Status) -> Step {
    sys::prctl(libc::PR_SET_CHILD_SUBREAPER, 1).map_err(|e| status.fail(format!("PR_SET_CHILD_SUBREAPER: {e}"), None))
}

/// The weaker mode's working directory (pid 1 has its own step, with its
/// own message: there the mount plan may hide it).
pub(super) fn enter_cwd(spec: &SandboxSpec, status: &mut Status) -> Step {
    std::env::set_current_dir(&spec.cwd)
        .map_err(|e| status.fail(format!("cannot enter {}: {e}", spec.cwd.display()), None))
}
