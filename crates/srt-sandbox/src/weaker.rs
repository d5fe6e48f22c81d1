//! The weaker mode (`enableWeakerNestedSandbox`): where user namespaces are
//! unavailable (inside a container, or a kernel that forbids them), run with
//! what remains: Landlock for reads and writes, seccomp, no IP sockets, a
//! subreaper that kills what the program leaves behind.
//!
//! The grants are derived from the same mount plan the full sandbox executes
//! (`landlock_plan.rs`), so both modes enforce one set of rules.
//!
//! What is weaker, in words, is [`WEAKER_SUMMARY`].

/// Printed by `--debug` when the weaker mode runs.
pub const WEAKER_SUMMARY: &str = "weaker mode: no user, mount, PID, network, IPC or UTS namespace. \
    Enforced: Landlock for reads (denyRead) and writes (allowWrite, denyWrite, protected files), seccomp, \
    no IP sockets at all, no signals or abstract sockets outside the sandbox (Landlock scopes), leftover \
    processes killed. Weaker: host processes are visible in /proc; /tmp is the host's (writable only if \
    allowWrite grants it); missing protected paths can be created (no pid 1 to mediate; reported after the \
    run); allowUnixSockets cannot be honoured (Unix sockets only with allowAllUnixSockets); TCP/UDP to \
    loopback services is refused only by the socket ban";
