//! Resource limits: the values a run is held to ([`Limits`]), the limits
//! that can end a run ([`Limit`]) and how both are named in messages and
//! events. How each is enforced is the sandbox's business (srt-sandbox's
//! `limits.rs`); what the settings accept is `policy.rs`'s validation.

use serde::{Deserialize, Serialize};

/// Resource limits; `None` means not limited.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Limits {
    /// `limits.wallTimeSeconds` or `--timeout`: seconds of wall-clock time
    /// before the whole tree is killed (exit 124).
    pub wall_time_seconds: Option<f64>,
    /// `limits.cpuTimeSeconds` or `--cpu-time`: CPU seconds of the whole
    /// tree, live processes and reaped ones together.
    pub cpu_time_seconds: Option<f64>,
    /// `limits.memoryBytes` or `--memory`: bytes of memory of the whole
    /// tree (at least 1 MiB), the sandbox's tmpfs contents included.
    pub memory_bytes: Option<u64>,
    /// `limits.maxProcesses` or `--max-processes`: processes and threads
    /// at once, in this sandbox only.
    pub max_processes: Option<u64>,
    /// `limits.maxFileSizeBytes` or `--max-file-size`: the largest file a
    /// process may write, in bytes (`RLIMIT_FSIZE`).
    pub max_file_size_bytes: Option<u64>,
    /// `limits.maxOutputBytes`: bytes srt-mcp captures of each output
    /// stream (its default when `None`: 1 MiB); `srt` refuses the key.
    pub max_output_bytes: Option<u64>,
}

impl Limits {
    /// Memory of one execution of untrusted code when the settings name none.
    pub const UNTRUSTED_MEMORY_BYTES: u64 = 1 << 30;
    /// Processes and threads of one execution of untrusted code when the
    /// settings name none.
    pub const UNTRUSTED_MAX_PROCESSES: u64 = 256;

    /// These limits, with defaults for what they leave open, for one
    /// execution of untrusted code (srt-mcp) whose wall time is `wall`:
    /// no single call may take the server or the host down.
    pub fn or_untrusted_defaults(&self, wall: std::time::Duration) -> Limits {
        Limits {
            memory_bytes: self.memory_bytes.or(Some(Self::UNTRUSTED_MEMORY_BYTES)),
            max_processes: self.max_processes.or(Some(Self::UNTRUSTED_MAX_PROCESSES)),
            cpu_time_seconds: self.cpu_time_seconds.or(Some(wall.as_secs_f64().max(1.0))),
            ..self.clone()
        }
    }
}

impl Limits {
    /// The value of `limit` as events and messages name it (`256 MiB`,
    /// `2s`, `50`).
    pub fn shown(&self, limit: Limit) -> String {
        match limit {
            Limit::Memory => size(self.memory_bytes.unwrap_or(0)),
            Limit::CpuTime => format!("{}s", self.cpu_time_seconds.unwrap_or(0.0)),
            Limit::Processes => self.max_processes.unwrap_or(0).to_string(),
        }
    }

    /// The one line said when `limit` ended a run (`memory limit 256 MiB
    /// reached`).
    pub fn reached(&self, limit: Limit) -> String {
        let what = match limit {
            Limit::Memory => "memory",
            Limit::CpuTime => "CPU-time",
            Limit::Processes => "process",
        };
        format!("{what} limit {} reached", self.shown(limit))
    }
}

/// A limit that ends a run when the whole sandbox reaches it (besides wall
/// time and file size, which end it by their own mechanisms).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Limit {
    /// `cpuTimeSeconds`: the tree's CPU time (exit 152, 128+SIGXCPU).
    CpuTime,
    /// `memoryBytes`: the tree's memory (exit 137, 128+SIGKILL).
    Memory,
    /// `maxProcesses`: the tree held at the limit, as a fork bomb does
    /// (exit 137).
    Processes,
}

impl Limit {
    /// `cpu-time`, `memory`, `processes`: the `operation` of the limit
    /// event and the `ended_by` of an execution result.
    pub fn name(self) -> &'static str {
        match self {
            Limit::CpuTime => "cpu-time",
            Limit::Memory => "memory",
            Limit::Processes => "processes",
        }
    }
}

/// A byte count for people: exact in the largest unit that divides it
/// (`256 MiB`), else one decimal (`1.5 GiB`).
pub fn size(bytes: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    for (unit, name) in UNITS {
        if bytes >= unit && bytes.is_multiple_of(unit) {
            return format!("{} {name}", bytes / unit);
        }
    }
    for (unit, name) in UNITS {
        if bytes >= unit {
            return format!("{:.1} {name}", bytes as f64 / unit as f64);
        }
    }
    format!("{bytes} bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(size(256 << 20), "256 MiB");
        assert_eq!(size(1 << 30), "1 GiB");
        assert_eq!(size(1536 << 20), "1536 MiB", "exact in the largest unit that divides it");
        assert_eq!(size((1536 << 20) + 1), "1.5 GiB");
        assert_eq!(size(1000), "1000 bytes");
    }

    #[test]
    fn limits_are_shown_in_their_units() {
        let l = Limits {
            memory_bytes: Some(64 << 20),
            cpu_time_seconds: Some(2.5),
            max_processes: Some(50),
            ..Limits::default()
        };
        assert_eq!(l.shown(Limit::Memory), "64 MiB");
        assert_eq!(l.shown(Limit::CpuTime), "2.5s");
        assert_eq!(l.shown(Limit::Processes), "50");
        assert_eq!(l.reached(Limit::Memory), "memory limit 64 MiB reached");
        assert_eq!(l.reached(Limit::CpuTime), "CPU-time limit 2.5s reached");
        assert_eq!(l.reached(Limit::Processes), "process limit 50 reached");
        assert_eq!(Limit::CpuTime.name(), "cpu-time");
        assert_eq!(serde_json::to_value(Limit::CpuTime).unwrap(), "cpu-time");
    }
}
