//! The Linux backend behind `srt-backend`'s interface: the job becomes a
//! [`SandboxSpec`] (the policy's rules as namespaces, mounts, Landlock,
//! seccomp and limits), which the supervisor runs.

use serde_json::{Value, json};
use srt_backend::{Backend, Job, Options, Outcome, SandboxError};
use srt_policy::RealFs;

use crate::spec::SandboxSpec;

/// The Linux sandbox.
pub struct Linux;

impl Backend for Linux {
    fn name(&self) -> &'static str {
        "linux"
    }

    fn run(&self, job: Job, opts: Options<'_>) -> Result<Outcome, SandboxError> {
        let Job { policy, plan, argv, cwd, env, clear_env, unset_env, command } = job;
        // Without namespaces, Landlock grants derived from the same plan.
        let weaker = policy.enable_weaker_nested_sandbox.then(|| crate::landlock_plan::weaker(&plan, &RealFs));
        let spec = SandboxSpec {
            env,
            clear_env,
            debug: opts.debug.is_some(),
            weaker,
            unset_env,
            ..SandboxSpec::new(&policy, argv, cwd, plan)
        };
        crate::supervisor::run(&spec, &command, opts)
    }

    fn facts(&self) -> Value {
        let read_trim = |path: &str| std::fs::read_to_string(path).ok().map(|s| s.trim().to_string());
        let max_userns = read_trim("/proc/sys/user/max_user_namespaces").and_then(|s| s.parse::<u64>().ok());
        let unpriv_clone = read_trim("/proc/sys/kernel/unprivileged_userns_clone");
        let apparmor = read_trim("/proc/sys/kernel/apparmor_restrict_unprivileged_userns");
        let userns = max_userns.is_some_and(|n| n > 0) && unpriv_clone.as_deref() != Some("0");
        let seccomp_actions = read_trim("/proc/sys/kernel/seccomp/actions_avail");
        let seccomp_status = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| s.lines().find(|l| l.starts_with("Seccomp:")).map(|l| l.to_string()));
        let landlock = crate::landlock::probe_abi();
        let delegation = crate::cgroup::detect();
        json!({
            "release": read_trim("/proc/sys/kernel/osrelease"),
            "userNamespaces": {
                "available": userns,
                "maxUserNamespaces": max_userns,
                "unprivilegedUsernsClone": unpriv_clone,
                "apparmorRestrictUnprivilegedUserns": apparmor,
            },
            "landlock": {"available": landlock.is_some(), "abi": landlock},
            "seccomp": {"available": seccomp_status.is_some(), "filterActions": seccomp_actions},
            "cgroupV2": std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists(),
            "cgroupDelegation": delegation,
            "limitMechanism": if delegation.is_some() {
                "a cgroup v2 leaf per call in the delegated subtree (memory.max, pids.max), as well as rlimits set in \
                 the sandbox's user namespace and pid 1's watch of the whole tree"
            } else {
                "rlimits set in the sandbox's user namespace and pid 1's watch of the whole tree (no delegated cgroup v2 \
                 subtree: no cgroup is created or written)"
            },
        })
    }
}
