//! Violation events in the DESIGN.md shape and their sinks: `--violations
//! FILE` as JSON lines, and the `<sandbox_violations>` block on stderr.

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// What a violation is about: the four kinds of DESIGN.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A connection or request the proxies refused, a Unix socket pid 1 refused.
    Network,
    /// A path read, written or created against the policy.
    Filesystem,
    /// A system call the seccomp filter refused.
    Syscall,
    /// A resource limit that ended the run.
    Limit,
}

impl Kind {
    /// The name in events and in the stderr block.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Network => "network",
            Kind::Filesystem => "filesystem",
            Kind::Syscall => "syscall",
            Kind::Limit => "limit",
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What became of the attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// Refused: the usual case.
    Deny,
    /// It happened and is reported for review (something written during
    /// the run that could make the host run code later).
    Allow,
}

/// One violation event: the one name, at every layer, for an attempt to
/// cross the policy that was refused (or, with [`Decision::Allow`], that
/// happened and needs review).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    /// RFC 3339 UTC with milliseconds.
    pub timestamp: String,
    /// Which of the four kinds.
    pub kind: Kind,
    /// What was tried (`connect`, `create`, `wall-time`, ...).
    pub operation: String,
    /// `host:port`, a path, a system call or a limit.
    pub target: String,
    /// `deny`, or `allow` for what happened and is reported for review.
    pub decision: Decision,
    /// Why, naming the rule.
    pub reason: String,
    /// The process inside the sandbox, when known.
    pub pid: Option<u32>,
    /// The command line of the run.
    pub command: String,
}

impl Violation {
    /// A denial of `kind`/`operation` on `target`, stamped now.
    pub fn deny(kind: Kind, operation: &str, target: String, reason: String, pid: Option<u32>, command: &str) -> Self {
        Violation {
            timestamp: now_rfc3339(),
            kind,
            operation: operation.into(),
            target,
            decision: Decision::Deny,
            reason,
            pid,
            command: command.into(),
        }
    }

    /// The one-line form of the stderr block.
    pub fn line(&self) -> String {
        format!("{} {} {}: {}", self.kind, self.operation, self.target, self.reason)
    }
}

/// Writes events as JSON lines in one write.
pub fn write_jsonl(to: &mut impl Write, events: &[Violation]) -> std::io::Result<()> {
    let mut text = String::new();
    for e in events {
        text.push_str(&serde_json::to_string(e).map_err(std::io::Error::other)?);
        text.push('\n');
    }
    to.write_all(text.as_bytes())
}

/// At most this many distinct lines in the stderr block.
const MAX_BLOCK_LINES: usize = 100;

/// The block agents already parse, appended to stderr when any were seen.
/// A line repeated by a program refused in a loop is shown once, with its
/// count; at most 100 distinct lines are shown, then how
/// many more there were.
pub fn stderr_block(events: &[Violation]) -> String {
    // Distinct lines in the order first seen, each with how often it came.
    let mut lines: Vec<(String, usize)> = Vec::new();
    let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for e in events {
        let line = e.line();
        match index.get(&line) {
            Some(&i) => lines[i].1 += 1,
            None => {
                index.insert(line.clone(), lines.len());
                lines.push((line, 1));
            }
        }
    }
    let mut s = String::from("<sandbox_violations>\n");
    for (line, count) in lines.iter().take(MAX_BLOCK_LINES) {
        // Targets come from the program (paths, host names): control
        // characters are escaped so it cannot forge lines or repaint the
        // terminal.
        s.extend(line.chars().flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() { c.escape_default().collect() } else { vec![c] };
            escaped
        }));
        if *count > 1 {
            s.push_str(&format!(" ({count} times)"));
        }
        s.push('\n');
    }
    if lines.len() > MAX_BLOCK_LINES {
        let rest: usize = lines[MAX_BLOCK_LINES..].iter().map(|(_, n)| n).sum();
        s.push_str(&format!(
            "... and {rest} more, {} distinct (all in --violations FILE)\n",
            lines.len() - MAX_BLOCK_LINES
        ));
    }
    s.push_str("</sandbox_violations>\n");
    s
}

/// Now as RFC 3339 UTC with milliseconds (`2026-11-27T10:00:00.123Z`).
pub fn now_rfc3339() -> String {
    rfc3339(SystemTime::now())
}

/// `at` in RFC 3339 UTC with milliseconds.
pub fn rfc3339(at: SystemTime) -> String {
    let d = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    format_rfc3339(d.as_secs() as i64, d.subsec_millis())
}

fn format_rfc3339(secs: i64, millis: u32) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil-from-days (proleptic Gregorian), Howard Hinnant's algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z", rem / 3600, (rem % 3600) / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(format_rfc3339(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_rfc3339(1_795_773_600, 123), "2026-11-27T10:00:00.123Z");
        assert_eq!(format_rfc3339(951_782_400, 5), "2000-02-29T00:00:00.005Z");
    }

    #[test]
    fn shapes() {
        let v = Violation::deny(
            Kind::Network,
            "connect",
            "evil.com:443".into(),
            "not in allowedDomains".into(),
            None,
            "curl",
        );
        let j = serde_json::to_value(&v).unwrap();
        assert_eq!(j["decision"], "deny");
        assert_eq!(j["target"], "evil.com:443");
        assert_eq!(j.as_object().unwrap().len(), 8);
        let block = stderr_block(&[v]);
        assert!(block.starts_with("<sandbox_violations>\nnetwork connect evil.com:443: not in allowedDomains\n"));
        assert!(block.ends_with("</sandbox_violations>\n"));
    }

    #[test]
    fn the_stderr_block_escapes_what_the_program_chose() {
        let target = "unix:/x\u{1b}[2J\nfake line\r".to_string();
        let v = Violation::deny(Kind::Network, "connect", target, "not allowed".into(), None, "sh");
        let block = stderr_block(&[v]);
        assert_eq!(block.lines().count(), 3, "{block:?}");
        assert!(block.contains("unix:/x\\u{1b}[2J\\nfake line\\r"), "{block:?}");
    }
}

#[cfg(test)]
mod block_tests {
    use super::*;

    #[test]
    fn repeated_lines_are_counted_and_the_block_is_bounded() {
        let ev = |t: &str| {
            Violation::deny(Kind::Filesystem, "read", t.into(), "denyRead entry \"~/.ssh\"".into(), None, "c")
        };
        let mut events: Vec<Violation> = (0..2000).map(|_| ev("/h/.ssh/id_rsa")).collect();
        events.push(ev("/h/.ssh/other"));
        let block = stderr_block(&events);
        assert_eq!(block.lines().count(), 4, "{block}");
        assert!(block.contains("/h/.ssh/id_rsa: denyRead entry \"~/.ssh\" (2000 times)"), "{block}");
        assert!(block.contains("/h/.ssh/other: denyRead entry \"~/.ssh\"\n"), "{block}");
        let many: Vec<Violation> = (0..150).map(|i| ev(&format!("/h/{i}"))).collect();
        let block = stderr_block(&many);
        assert_eq!(block.lines().count(), MAX_BLOCK_LINES + 3, "{block}");
        assert!(block.contains("... and 50 more, 50 distinct"), "{block}");
    }
}
