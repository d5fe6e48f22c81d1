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
    /// A settings file could not be read: an explicit one for any reason,
    /// the default file for any reason but its absence.
    #[error("cannot read settings file {path}: {source}")]
    Read {
        /// The file, as given in [`LoadOptions`](crate::LoadOptions).
        path: PathBuf,
        /// Why reading failed (not found, permission denied, not UTF-8...).
        #[source]
        source: std::io::Error,
    },
    /// The settings are not valid: a file's values, or a file without the
    /// keys srt 0.0.83 requires.
    #[error("invalid settings file {file}: {error}")]
    Invalid {
        /// The file's path as given, or `(built-in default)` / `(built-in
        /// default for untrusted code)` when there was no file.
        file: String,
        /// The first problem found, with its JSON path.
        error: SettingsError,
    },
    /// A limit flag out of range; `error.path` is the flag (`--timeout`).
    #[error("invalid command line: {0}")]
    Flag(SettingsError),
}
