//! The text content of an execution result, written for a model: a status
//! line, then stdout and stderr as plain text, then what the sandbox
//! denied. The full record is the structured content.

use srt_exec::ExecutionResult;

/// `exit 0 in 37 ms`, `killed: memory limit reached after 1204 ms`, ...
pub fn status_line(r: &ExecutionResult) -> String {
    let took = format!("{} ms", r.duration_ms);
    let how = match (r.ended_by.as_str(), r.exit_code, r.signal) {
        ("exit", Some(c), _) => format!("exit {c} in {took}"),
        ("signal", _, Some(s)) => format!("killed by signal {s} after {took}"),
        ("wall-time", ..) => format!("killed: wall-clock limit (timeout) reached after {took}"),
        ("cpu-time", ..) => format!("killed: CPU-time limit reached after {took}"),
        ("memory", ..) => format!("killed: memory limit reached after {took}"),
        ("processes", ..) => format!("killed: process limit reached after {took}"),
        ("file-size", ..) => format!("killed: file-size limit reached after {took}"),
        (other, ..) => format!("ended ({other}) after {took}"),
    };
    let mut line = how;
    if !r.violations.is_empty() {
        let n = r.violations.len();
        line.push_str(&format!("; {n} denied attempt{} (listed below)", if n == 1 { "" } else { "s" }));
    }
    line
}

/// The text blocks: status, stdout, stderr (each only when non-empty),
/// the denied attempts.
pub fn result_blocks(r: &ExecutionResult) -> Vec<String> {
    let mut blocks = vec![status_line(r)];
    for (name, text, cut) in [("stdout", &r.stdout, r.stdout_truncated), ("stderr", &r.stderr, r.stderr_truncated)] {
        if !text.is_empty() {
            let note = if cut { " (cut in the middle)" } else { "" };
            blocks.push(format!("{name}{note}:\n{text}"));
        }
    }
    if !r.violations.is_empty() {
        let lines: Vec<String> = r.violations.iter().map(|v| format!("- {}", v.line())).collect();
        blocks.push(format!("denied by the sandbox:\n{}", lines.join("\n")));
    }
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(ended_by: &str, exit_code: Option<i32>, signal: Option<i32>) -> ExecutionResult {
        serde_json::from_value(serde_json::json!({
            "success": exit_code == Some(0), "exit_code": exit_code, "signal": signal, "timed_out": ended_by == "wall-time",
            "ended_by": ended_by, "stdout": "42\n", "stderr": "", "stdout_truncated": false, "stderr_truncated": false,
            "duration_ms": 37, "violations": [],
            "resource_usage": {"user_cpu_ms": 1, "system_cpu_ms": 1, "max_rss_kib": 1}
        }))
        .unwrap()
    }

    #[test]
    fn status_lines() {
        assert_eq!(status_line(&result("exit", Some(0), None)), "exit 0 in 37 ms");
        assert_eq!(status_line(&result("memory", None, Some(9))), "killed: memory limit reached after 37 ms");
        assert_eq!(status_line(&result("signal", None, Some(11))), "killed by signal 11 after 37 ms");
        let blocks = result_blocks(&result("exit", Some(0), None));
        assert_eq!(blocks, ["exit 0 in 37 ms", "stdout:\n42\n"]);
    }
}
