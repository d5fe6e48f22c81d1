//! The steps of pid 1 (see [`super::pid1`] and [`super::launch`] for their
//! order): the file system, the network, and the filters prepared for the
//! program.

use std::ffi::CString;
use std::os::fd::{AsFd, OwnedFd};

use super::{Exit, Status, Step, restrict_with_landlock};
use crate::landlock_plan::WeakerSpec;
use crate::mediate::{self, MediatorConfig};
use crate::spec::SandboxSpec;
use crate::{caps, landlock, limits, mounts, netplumb, seccomp, sys};

/// What `--debug` says, and docs/settings.md repeats, when the settings allow
/// nested user namespaces.
pub const NESTED_USERNS_WARNING: &str = "allowNestedUserNamespaces: the program may make user namespaces of its own and \
     mount inside them (mapping the parent's uid 0 in a new namespace needs CAP_SETFCAP, which the program never holds, so \
     `unshare -r` works only for users other than root; `unshare -U --keep-caps` works for all). What still holds: the mount plan (the kernel locks the sandbox's mounts in every namespace made \
     below it: read-only binds stay read-only, hidden paths stay hidden), the network namespace and proxy, the rest of \
     the seccomp filter, the time, CPU and process limits. What no longer holds: Landlock is not applied (it forbids mounts), so a descriptor \
     inherited from the host can be reopened through /proc/self/fd with the access of its host mount; and for commands \
     run in a nested mount namespace, denyWrite of paths that did not exist at start and the always-protected names \
     (.git/hooks, .bashrc, ...) are judged on paths pid 1 cannot see as the program does, so they may not hold \
     (each protected path written during the run is reported afterwards); the memory limit does not count a tmpfs \
     or ramfs the program mounts in its own namespace, nor the socket buffers of a network namespace it makes.";

/// SIGKILL when init0 dies; `Exit` if it already has (its end of the pipe
/// is closed).
pub(super) fn die_with_init0(parent_alive: OwnedFd) -> Step {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    if sys::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong).is_err() {
        return Err(Exit(125));
    }
    let mut fds = [PollFd::new(parent_alive.as_fd(), PollFlags::POLLIN)];
    if poll(&mut fds, PollTimeout::ZERO).is_ok_and(|n| n > 0) {
        return Err(Exit(125));
    }
    Ok(())
}

/// Executes the mount plan (`mounts::apply`), passing its `--debug` lines on.
pub(super) fn build_file_system(spec: &SandboxSpec, status: &mut Status) -> Step {
    let debug = spec.debug;
    let mut debug_lines = Vec::new();
    let notes = match mounts::apply(&spec.plan, spec.limits.memory_bytes, &mut |m| {
        if debug {
            debug_lines.push(m)
        }
    }) {
        Ok(n) => n,
        Err(e) => {
            for m in debug_lines.drain(..) {
                status.debug(m);
            }
            return Err(status.fail(format!("cannot build the sandbox's file system: {e}"), None));
        }
    };
    for m in debug_lines {
        status.debug(m);
    }
    if debug {
        for n in &notes {
            status.debug(format!("note: {n}"));
        }
    }
    Ok(())
}

/// With a memory limit, the kernel's socket diagnostics must answer: the
/// limit counts the buffers of the sandbox's sockets through them, and
/// without them it would count none (never fail open).
pub(super) fn require_socket_diagnostics(spec: &SandboxSpec, status: &mut Status) -> Step {
    if spec.limits.memory_bytes.is_none() {
        return Ok(());
    }
    super::queues::diagnostics_answer().map_err(|e| {
        status.fail(
            format!(
                "the memory limit counts socket buffers through the kernel's socket diagnostics, which this \
                 kernel refuses ({e})"
            ),
            Some(
                "load the module (`modprobe unix_diag`; kernel option CONFIG_UNIX_DIAG), or run without a \
                 memory limit",
            ),
        )
    })
}

pub(super) fn loopback_up(status: &mut Status) -> Step {
    sys::loopback_up().map_err(|e| status.fail(format!("cannot bring up the loopback interface: {e}"), None))
}

/// Creates the proxy listeners, sends them to srt over the spec's socket,
/// and points the program's proxy variables at them.
pub(super) fn hand_over_proxy_listeners(spec: &SandboxSpec, status: &mut Status) -> Step {
    let Some(fd) = spec.proxy_fd else { return Ok(()) };
    let (http_port, socks_port) = match netplumb::create_and_send(fd) {
        Ok(p) => p,
        Err(e) => return Err(status.fail(format!("cannot hand the proxy listeners to srt: {e}"), None)),
    };
    let _ = nix::unistd::close(fd);
    if spec.debug {
        status.debug(format!(
            "network: loopback only; HTTP proxy at 127.0.0.1:{http_port}, SOCKS5 at 127.0.0.1:{socks_port} \
             (listeners handed to srt, which dials out)"
        ));
    }
    for (k, v) in netplumb::proxy_env(http_port, socks_port, &spec.no_proxy) {
        // SAFETY: single-threaded process; no other thread reads the environment.
        unsafe { std::env::set_var(k, v) };
    }
    Ok(())
}

pub(super) fn not_dumpable() {
    let _ = sys::prctl(libc::PR_SET_DUMPABLE, 0);
}

pub(super) fn enter_cwd(spec: &SandboxSpec, status: &mut Status) -> Step {
    std::env::set_current_dir(&spec.cwd).map_err(|e| {
        status.fail(
            format!("the working directory {} is not usable inside the sandbox: {e}", spec.cwd.display()),
            Some("a denyRead entry hides it (or it was removed): run srt from a directory the settings let the sandbox read"),
        )
    })
}

/// Without a user and PID namespace of its own, RLIMIT_NPROC would count
/// every process of this user, and no pid 1 sees the tree.
pub(super) fn refuse_watched_limits_without_namespaces(
    spec: &SandboxSpec,
    weaker: Option<&WeakerSpec>,
    status: &mut Status,
) -> Step {
    if weaker.is_some() && limits::needs_watch(&spec.limits) {
        return Err(status.fail(
            "the CPU-time, memory and process limits need the full sandbox (user and PID namespaces), \
             which is not available here"
                .into(),
            Some("allow unprivileged user namespaces (kernel.unprivileged_userns_clone=1), or remove those limits"),
        ));
    }
    Ok(())
}

/// The seccomp table for the spec, compiled, and what pid 1 mediates
/// (`None` in the weaker mode).
pub(super) fn seccomp_filter(
    spec: &SandboxSpec,
    weaker: Option<&WeakerSpec>,
    status: &mut Status,
) -> Step<(seccompiler::BpfProgram, Option<MediatorConfig>)> {
    // Pid 1 mediates in the full sandbox only: without namespaces there is
    // no pid 1, and Unix sockets stay refused unless all are allowed. In the
    // full sandbox it always answers the refused calls too, to report them.
    // Empty when every Unix socket is allowed (see SandboxSpec::new).
    let unix_allowed = spec.unix_allowed.clone();
    let sc_opts = seccomp::SeccompOptions {
        allow_unix_sockets: spec.allow_unix_sockets,
        unix_allow_list: weaker.is_none() && !unix_allowed.is_empty(),
        mediate_create: weaker.is_none() && spec.create_rules.is_some(),
        report_denials: weaker.is_none(),
        deny_inet: weaker.is_some(),
        allow_nested_userns: spec.nested_userns,
        report_reads: weaker.is_none() && spec.read_monitor.is_some(),
        report_writes: weaker.is_none() && spec.write_monitor.is_some(),
        mediate_metadata: weaker.is_none(),
    };
    let table = seccomp::rules(&sc_opts);
    let mediation = (weaker.is_none()).then(|| MediatorConfig {
        fs: spec.create_rules.clone(),
        unix_refused: !spec.allow_unix_sockets && unix_allowed.is_empty(),
        unix_allowed,
        reported: seccomp::reported_rules(&table),
        caller_root: spec.nested_userns,
        reads: spec.read_monitor.clone(),
        writes: spec.write_monitor.clone(),
    });
    let filter = match seccomp::build_table(&table) {
        Ok(f) => f,
        Err(e) => return Err(status.fail(format!("cannot build the seccomp filter: {e}"), None)),
    };
    if spec.debug {
        let n = table.len();
        status.debug(format!("seccomp: {n} rules, {} BPF instructions", filter.len()));
    }
    Ok((filter, mediation))
}

/// The Landlock rules for the program; `None` when the settings allow nested
/// user namespaces.
pub(super) fn landlock_rules(
    spec: &SandboxSpec,
    weaker: Option<&WeakerSpec>,
    status: &mut Status,
) -> Step<Option<landlock::LandlockOptions>> {
    match weaker {
        // Landlock forbids every mount and pivot_root to the processes it
        // restricts, which nested sandboxes (bubblewrap, rootless podman)
        // need; the settings accepted the weaker boundary.
        None if spec.nested_userns => {
            if spec.debug {
                status.debug(NESTED_USERNS_WARNING.into());
            }
            Ok(None)
        }
        None => {
            // The second layer is not optional: without it a descriptor
            // inherited from the host (fd 0 opened on a host file) could be
            // reopened for writing through /proc/self/fd past the read-only
            // mounts.
            if landlock::probe_abi().is_none() {
                return Err(status.fail(
                    "Landlock is not available on this kernel, and srt does not run without it".into(),
                    Some(
                        "use Linux 5.13 or later with Landlock enabled (CONFIG_SECURITY_LANDLOCK=y and \
                          `landlock` in the `lsm=` boot parameter)",
                    ),
                ));
            }
            Ok(Some(crate::landlock_plan::full(&spec.plan)))
        }
        Some(w) => Ok(Some(w.landlock_options())),
    }
}

pub(super) fn program_argv(spec: &SandboxSpec, status: &mut Status) -> Step<Vec<CString>> {
    let argv: Vec<CString> = match spec.argv.iter().map(|a| CString::new(a.as_bytes())).collect() {
        Ok(v) => v,
        Err(_) => return Err(status.fail("an argument contains a NUL byte".into(), None)),
    };
    if argv.is_empty() {
        return Err(status.fail("nothing to run".into(), None));
    }
    Ok(argv)
}

pub(super) fn set_program_environment(spec: &SandboxSpec) {
    for (k, v) in &spec.env {
        // SAFETY: single-threaded process; no other thread reads the environment.
        unsafe { std::env::set_var(k, v) };
    }
}

/// Before pid 1 mediates: it restricts itself with the program's Landlock
/// rules (it acts for the program, so it is held to the same rules), drops
/// its capabilities, and makes the socketpair the program's seccomp
/// listener comes back over.
pub(super) fn prepare_to_mediate(
    config: &MediatorConfig,
    landlock: Option<&landlock::LandlockOptions>,
    debug: bool,
    status: &mut Status,
) -> Step<(OwnedFd, OwnedFd)> {
    if debug {
        status.debug(mediate::describe(config));
    }
    if let Some(rules) = landlock {
        restrict_with_landlock(rules, debug, " (pid 1 and the program)", status)?;
    }
    // Pid 1 keeps one capability, in the sandbox's user namespace only:
    // CAP_SYS_PTRACE, to read the arguments of, and take descriptors from, a
    // program that made itself non-dumpable (ssh-agent, gpg-agent, ssh do),
    // whose calls it could not serve otherwise (found by the red team: such
    // a program could create no file). It reaches no process outside the
    // sandbox (their user namespaces are above), and nothing pid 1 would
    // exec could hold it (the bounding set is emptied). kill(-1) needs no
    // capability (the processes are of its own uid); the program drops
    // everything itself before execve.
    if let Err(e) = caps::drop_all_but(Some(caps::CAP_SYS_PTRACE)) {
        return Err(status.fail(format!("cannot drop capabilities: {e}"), None));
    }
    nix::sys::socket::socketpair(
        nix::sys::socket::AddressFamily::Unix,
        nix::sys::socket::SockType::SeqPacket,
        None,
        nix::sys::socket::SockFlag::SOCK_CLOEXEC,
    )
    .map_err(|e| status.fail(format!("socketpair: {e}"), None))
}
