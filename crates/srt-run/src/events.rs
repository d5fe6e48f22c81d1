//! The events a finished run reveals (its ending and what pid 1 refused).

use srt_monitor::{Violation, rfc3339};

/// What the run reveals: every call the sandbox's init refused (a protected
/// name created, a Unix socket outside the allow-list), a limit that ended
/// it (wall time, file size), and any missing write-protected path of the
/// plan that exists now (only possible where the init could not mediate,
/// the weaker mode; reported with decision `allow`).
pub fn after_run(
    spec: &srt_sandbox::SandboxSpec,
    outcome: &srt_sandbox::Outcome,
    wall_time: Option<std::time::Duration>,
    command: &str,
) -> Vec<Violation> {
    let mut out: Vec<Violation> = outcome.denials.iter().map(|d| denial_event(d, command)).collect();
    out.extend(ending_events(spec, outcome, wall_time, command));
    out
}

/// The event of one call pid 1 refused.
pub fn denial_event(d: &srt_sandbox::Denial, command: &str) -> Violation {
    Violation {
        timestamp: rfc3339(d.at),
        ..Violation::deny(
            &d.kind,
            &d.operation,
            d.target.clone(),
            d.reason.clone(),
            // 0: not one caller (the count of unreported refusals).
            u32::try_from(d.pid).ok().filter(|p| *p > 0),
            command,
        )
    }
}

/// What only the end of a run reveals: protected paths that appeared, the
/// limit that ended it.
pub fn ending_events(
    spec: &srt_sandbox::SandboxSpec,
    outcome: &srt_sandbox::Outcome,
    wall_time: Option<std::time::Duration>,
    command: &str,
) -> Vec<Violation> {
    let mut out = Vec::new();
    for op in &spec.plan.ops {
        if let srt_policy::MountOp::BlockCreate { path } = op
            && std::fs::symlink_metadata(path).is_ok()
        {
            out.push(Violation {
                decision: "allow".into(),
                ..Violation::deny(
                    "filesystem",
                    "create",
                    path.display().to_string(),
                    if spec.weaker.is_some() {
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
    let limit = |operation: &str, target: String, reason: &str| {
        Violation::deny("limit", operation, target, reason.to_string(), None, command)
    };
    match outcome.ending {
        srt_sandbox::Ending::TimedOut => out.push(limit(
            "wall-time",
            format!("{}s", wall_time.map_or(0.0, |d| d.as_secs_f64())),
            "wall-clock limit reached; the program and everything it started were killed",
        )),
        // SIGXFSZ: a write past RLIMIT_FSIZE.
        srt_sandbox::Ending::Signaled(25) => out.push(limit(
            "file-size",
            format!("{} bytes", spec.limits.max_file_size_bytes.unwrap_or(0)),
            "a write went past the file-size limit",
        )),
        // SIGXCPU: one process went past RLIMIT_CPU.
        srt_sandbox::Ending::Signaled(24) => out.push(limit(
            "cpu-time",
            format!("{}s", spec.limits.cpu_time_seconds.unwrap_or(0.0)),
            "a process went past the CPU-time limit",
        )),
        srt_sandbox::Ending::Limit(l) => {
            use srt_sandbox::limits::{Limit, size};
            let target = match l {
                Limit::Memory => size(spec.limits.memory_bytes.unwrap_or(0)),
                Limit::CpuTime => format!("{}s", spec.limits.cpu_time_seconds.unwrap_or(0.0)),
                Limit::Processes => spec.limits.max_processes.unwrap_or(0).to_string(),
            };
            out.push(limit(l.name(), target, "the sandbox reached the limit; everything in it was stopped"))
        }
        _ => {}
    }
    out
}
