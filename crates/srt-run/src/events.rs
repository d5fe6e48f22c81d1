//! The events a finished run reveals (its ending, what appeared that the
//! sandbox could not refuse), and `ignoreViolations`.

use srt_backend::{Ending, Outcome};
use srt_monitor::{Decision, Kind, Violation};
use srt_policy::{Limit, MountOp, MountPlan, Policy};

/// What only the end of a run reveals: any missing write-protected path of
/// the plan that exists now (only possible where the sandbox could not
/// refuse its creation: the weaker mode, a nested mount namespace;
/// reported with decision `allow`), and the limit that ended it. (What
/// the sandbox refused while the program ran is `Outcome::violations`.)
pub(crate) fn ending_events(
    policy: &Policy,
    plan: &MountPlan,
    outcome: &Outcome,
    wall_time: Option<std::time::Duration>,
    command: &str,
) -> Vec<Violation> {
    let mut out = Vec::new();
    for op in &plan.ops {
        if let MountOp::BlockCreate { path } = op
            && std::fs::symlink_metadata(path).is_ok()
        {
            out.push(Violation {
                decision: Decision::Allow,
                ..Violation::deny(
                    Kind::Filesystem,
                    "create",
                    path.display().to_string(),
                    if policy.enable_weaker_nested_sandbox {
                        "a write-protected path that did not exist was created during the run (the weaker mode \
                         cannot refuse this); review it before anything on the host uses it"
                    } else {
                        "a write-protected path that did not exist was created during the run (from a nested \
                         mount namespace, where pid 1 cannot judge where a write lands); review it before \
                         anything on the host uses it"
                    }
                    .into(),
                    None,
                    command,
                )
            });
        }
    }
    let limits = &policy.limits;
    let limit = |operation: &str, target: String, reason: &str| {
        Violation::deny(Kind::Limit, operation, target, reason.to_string(), None, command)
    };
    match outcome.ending {
        Ending::TimedOut => out.push(limit(
            "wall-time",
            format!("{}s", wall_time.map_or(0.0, |d| d.as_secs_f64())),
            "wall-clock limit reached; the program and everything it started were killed",
        )),
        // SIGXFSZ: a write past RLIMIT_FSIZE.
        Ending::Signaled(25) => out.push(limit(
            "file-size",
            format!("{} bytes", limits.max_file_size_bytes.unwrap_or(0)),
            "a write went past the file-size limit",
        )),
        // SIGXCPU: one process went past RLIMIT_CPU.
        Ending::Signaled(24) => out.push(limit(
            Limit::CpuTime.name(),
            limits.shown(Limit::CpuTime),
            "a process went past the CPU-time limit",
        )),
        Ending::Limit(l) => {
            out.push(limit(l.name(), limits.shown(l), "the sandbox reached the limit; everything in it was stopped"))
        }
        _ => {}
    }
    out
}

/// Drops the filesystem events that the settings' `ignoreViolations` names
/// (a command pattern, `*` or a substring of the command line, and the
/// paths under which its violations are not reported).
pub(crate) fn without_ignored(events: Vec<Violation>, policy: &Policy) -> Vec<Violation> {
    events.into_iter().filter(|e| !is_ignored(e, policy)).collect()
}

/// Whether `ignoreViolations` drops `e`.
pub(crate) fn is_ignored(e: &Violation, policy: &Policy) -> bool {
    e.kind == Kind::Filesystem && policy.is_ignored(&e.command, std::path::Path::new(&e.target))
}
