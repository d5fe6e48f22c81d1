//! The effective policy as JSON, for `srt --explain` and `--debug`.

use serde_json::{Value, json};

use crate::Policy;
use crate::paths::PathRule;
use crate::plan::MountPlan;

fn rules(list: &[PathRule]) -> Value {
    list.iter().map(|r| json!({"entry": r.source, "resolved": r.path.to_string_lossy(), "glob": r.is_glob()})).collect()
}

/// The plan as JSON. A path that is not UTF-8 is shown lossily rather than
/// making `--explain` fail.
fn plan_json(plan: &MountPlan) -> Value {
    let ops: Vec<Value> = plan
        .ops
        .iter()
        .map(|op| {
            serde_json::to_value(op).unwrap_or_else(|_| {
                let mut v = serde_json::to_value(op.clone().without_path()).unwrap_or_default();
                v["path"] = Value::String(op.path().to_string_lossy().into_owned());
                v
            })
        })
        .collect();
    json!({ "ops": ops, "notes": plan.notes })
}

impl Policy {
    /// A JSON description of what this policy allows, with every path
    /// resolved and every pattern as it will be matched.
    pub fn explain(&self, plan: &MountPlan) -> Value {
        let n = &self.network;
        let fs = &self.filesystem;
        json!({
            "network": {
                "mode": if n.is_closed() { "none" } else if n.allows_every_host() { "all-except-denied" } else { "allow-list" },
                "allowedDomains": n.allowed.iter().map(|p| &p.source).collect::<Vec<_>>(),
                "deniedDomains": n.denied.iter().map(|(p, why)| json!({"entry": p.source, "reason": why})).collect::<Vec<_>>(),
                "deniedResolvedAddresses": n.denied_addresses.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
                "resolvedAddressGuard": "loopback, unspecified, link-local, multicast, broadcast, cloud metadata \
                    endpoints and this host's own addresses (IPv4 embedded in IPv6 judged by the IPv4) are never \
                    dialed for a name; an allow-listed IP literal may be",
                "httpProxyPort": self.http_proxy_port,
                "socksProxyPort": self.socks_proxy_port,
                "allowLocalBinding": self.allow_local_binding,
                "unixSockets": {
                "allowAll": self.unix_sockets.allow_all,
                "allowed": self.unix_sockets.allowed.iter().map(|p| p.to_string_lossy()).collect::<Vec<_>>(),
            },
            },
            "filesystem": {
                "read": "allowed everywhere except denyRead; allowRead beats denyRead",
                "write": "denied everywhere except allowWrite; denyWrite beats allowWrite",
                "denyRead": rules(&fs.deny_read),
                "allowRead": rules(&fs.allow_read),
                "allowWrite": rules(&fs.allow_write),
                "denyWrite": rules(&fs.deny_write),
                "mandatoryProtected": fs.protected_entries(),
                "mandatoryDenySearchDepth": fs.search_depth,
                "allowGitConfig": fs.allow_git_config,
            },
            "limits": self.limits,
            "ignoreViolations": self.ignore_violations.iter().map(|(c, p)| json!({"command": c, "paths": p.iter().map(|x| x.to_string_lossy()).collect::<Vec<_>>()})).collect::<Vec<_>>(),
            "enableWeakerNestedSandbox": self.enable_weaker_nested_sandbox,
            "keysWithoutEffect": self.keys_without_effect(),
            "mountPlan": plan_json(plan),
        })
    }
}

/// Parses a byte size: a plain number, or one with a K, M or G suffix
/// (powers of 1024; an optional trailing `B`/`iB` is accepted).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let upper = t.to_ascii_uppercase();
    let body = upper.strip_suffix("IB").or_else(|| upper.strip_suffix('B')).unwrap_or(&upper);
    let (num, mult) = match body.chars().last() {
        Some('K') => (&body[..body.len() - 1], 1u64 << 10),
        Some('M') => (&body[..body.len() - 1], 1 << 20),
        Some('G') => (&body[..body.len() - 1], 1 << 30),
        Some('T') => (&body[..body.len() - 1], 1 << 40),
        _ => (body, 1),
    };
    let n: u64 =
        num.trim().parse().map_err(|_| format!("{s:?} is not a size (a number, optionally with K, M or G)"))?;
    n.checked_mul(mult).ok_or_else(|| format!("{s:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1024"), Ok(1024));
        assert_eq!(parse_size("4K"), Ok(4096));
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("2g"), Ok(2 << 30));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert!(parse_size("").is_err());
        assert!(parse_size("12X").is_err());
        assert!(parse_size("-1").is_err());
        assert!(parse_size("99999999999999T").is_err());
    }
}
