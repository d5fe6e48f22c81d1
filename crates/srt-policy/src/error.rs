//! Errors of the policy part.

use std::path::PathBuf;

/// A settings value that is not acceptable, with the JSON path of the value.
/// Displays as one line: `network.allowedDomains[2]: "*.com" is a top-level wildcard`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {}", escape_controls(path), escape_controls(message))]
pub struct SettingsError {
    /// JSON path (`network.allowedDomains[2]`), or `line L column C` for syntax errors.
    pub path: String,
    /// What is wrong, continuing the sentence after the path.
    pub message: String,
}

/// Keys and values come from an untrusted file: control characters (a
/// newline, an ESC sequence) are shown escaped so the error stays one line and
/// cannot drive the terminal.
fn escape_controls(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() }).collect()
}

impl SettingsError {
    pub(crate) fn at(path: impl Into<String>, value: &str, message: impl std::fmt::Display) -> Self {
        SettingsError { path: path.into(), message: format!("{value:?} {message}") }
    }
}

/// Loading a settings file failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    #[error("cannot read settings file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid settings file {file}: {error}")]
    Invalid { file: String, error: SettingsError },
    /// A limit flag out of range; `error.path` is the flag (`--timeout`).
    #[error("invalid command line: {0}")]
    Flag(SettingsError),
}
