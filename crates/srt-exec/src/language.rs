//! Languages and the interpreters that run them.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// A language `execute` can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Language {
    /// `python3`.
    Python,
    /// `node`.
    Javascript,
    /// `node` that strips types itself (22.6 and later), else `tsx` or
    /// `ts-node`.
    Typescript,
    /// `bash`.
    Bash,
    /// `sh`.
    Sh,
}

impl Language {
    /// Every language, in the order tools list them.
    pub const ALL: [Language; 5] =
        [Language::Python, Language::Javascript, Language::Typescript, Language::Bash, Language::Sh];

    /// The name used in requests (`python`, `javascript`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Language::Python => "python",
            Language::Javascript => "javascript",
            Language::Typescript => "typescript",
            Language::Bash => "bash",
            Language::Sh => "sh",
        }
    }

    /// The file the code is written to in the workspace.
    pub(crate) fn file_name(self) -> &'static str {
        match self {
            Language::Python => "main.py",
            Language::Javascript => "main.js",
            Language::Typescript => "main.ts",
            Language::Bash => "main.bash",
            Language::Sh => "main.sh",
        }
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Language {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "python" | "python3" | "py" => Ok(Language::Python),
            "javascript" | "js" | "node" => Ok(Language::Javascript),
            "typescript" | "ts" => Ok(Language::Typescript),
            "bash" => Ok(Language::Bash),
            "sh" | "shell" => Ok(Language::Sh),
            _ => Err(format!("{s:?} is not a supported language (python, javascript, typescript, bash, sh)")),
        }
    }
}

/// How a language is run on this host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Interpreter {
    /// The language it runs.
    pub language: Language,
    /// The command line before the script's file name.
    pub command: Vec<String>,
    /// Absolute path of `command[0]` on this host.
    pub path: PathBuf,
}

/// Why a language cannot run here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{language} is not available on this host: {reason}")]
pub struct MissingInterpreter {
    /// The language asked for.
    pub language: Language,
    /// Why, and what to install or configure.
    pub reason: String,
}

/// Finds `name` on `PATH` (or takes it as is when it contains a `/`).
pub(crate) fn which(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        return is_executable(Path::new(name)).then(|| PathBuf::from(name));
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// `(major, minor)` of the `node` on PATH, asked once.
fn node_version() -> Option<(u32, u32)> {
    static VERSION: OnceLock<Option<(u32, u32)>> = OnceLock::new();
    *VERSION.get_or_init(|| {
        let out = version_line(&which("node")?, &["--version"])?;
        parse_node_version(&out)
    })
}

/// `v22.6.0` → `(22, 6)`.
pub(crate) fn parse_node_version(s: &str) -> Option<(u32, u32)> {
    let mut it = s.trim().trim_start_matches('v').split('.');
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

/// Node strips TypeScript types itself from 22.6 on (`--experimental-strip-types`).
fn node_strips_types(v: (u32, u32)) -> bool {
    v >= (22, 6)
}

/// The interpreter for `language`: the settings' `mcp.interpreters` entry if
/// there is one, else the built-in choice.
pub fn interpreter_with(
    language: Language,
    overrides: &std::collections::BTreeMap<String, Vec<String>>,
) -> Result<Interpreter, MissingInterpreter> {
    let Some(argv) = overrides.get(language.as_str()).filter(|a| !a.is_empty()) else {
        return interpreter(language);
    };
    let path = which(&argv[0]).ok_or_else(|| MissingInterpreter {
        language,
        reason: format!("`{}` (from mcp.interpreters in the settings) is not an executable on PATH", argv[0]),
    })?;
    let mut command = argv.clone();
    command[0] = path.to_string_lossy().into_owned();
    Ok(Interpreter { language, command, path })
}

/// The interpreter for `language` on this host.
pub fn interpreter(language: Language) -> Result<Interpreter, MissingInterpreter> {
    let missing = |reason: &str| MissingInterpreter { language, reason: reason.to_string() };
    let simple = |name: &str, extra: &[&str], install: &str| {
        let path = which(name).ok_or_else(|| missing(&format!("`{name}` is not on PATH; install {install}")))?;
        let mut command = vec![path.to_string_lossy().into_owned()];
        command.extend(extra.iter().map(|s| s.to_string()));
        Ok(Interpreter { language, command, path })
    };
    match language {
        Language::Python => simple("python3", &["-u"], "Python 3 (e.g. `apt-get install python3`)"),
        Language::Javascript => simple("node", &[], "Node.js (e.g. `apt-get install nodejs`)"),
        Language::Bash => simple("bash", &[], "bash"),
        Language::Sh => simple("sh", &[], "a POSIX shell"),
        Language::Typescript => {
            if node_version().is_some_and(node_strips_types) {
                return simple(
                    "node",
                    &["--experimental-strip-types", "--disable-warning=ExperimentalWarning"],
                    "Node.js 22.6 or later",
                );
            }
            for runner in ["tsx", "ts-node"] {
                if which(runner).is_some() {
                    return simple(runner, &[], runner);
                }
            }
            let node = match node_version() {
                Some((major, minor)) => format!("the installed node is {major}.{minor}, which cannot strip types"),
                None => "node is not on PATH".to_string(),
            };
            Err(missing(&format!(
                "{node}, and neither `tsx` nor `ts-node` is on PATH; install Node.js 22.6 or later, \
                 or `npm install -g tsx`"
            )))
        }
    }
}

/// The first line an interpreter prints for `args` (`--version`), on
/// stdout or stderr.
pub(crate) fn version_line(path: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new(path).args(args).stdin(Stdio::null()).output().ok()?;
    let text = if out.stdout.is_empty() { out.stderr } else { out.stdout };
    String::from_utf8_lossy(&text).lines().next().map(|l| l.trim().to_string()).filter(|l| !l.is_empty())
}

/// One entry of [`languages`].
#[derive(Debug, Clone, Serialize)]
pub struct LanguageInfo {
    /// The language.
    pub language: Language,
    /// Whether a call in it can run here.
    pub available: bool,
    /// The command line before the script's file name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// The first line of its `--version`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Why it is not available, and what to install.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The interpreter for `language` as the settings choose it, refused when
/// the policy keeps the sandbox from reading it (its path or its real
/// path under a denyRead entry): what the server finds on its PATH, the
/// code must be able to run.
pub fn interpreter_for(language: Language, policy: &srt_policy::Policy) -> Result<Interpreter, MissingInterpreter> {
    let i = interpreter_with(language, &policy.settings.mcp.interpreters)?;
    let real = std::fs::canonicalize(&i.path).unwrap_or_else(|_| i.path.clone());
    for p in [&i.path, &real] {
        if let srt_policy::FsDecision::Deny { reason, .. } = policy.decide_path(p, srt_policy::FsOp::Read) {
            return Err(MissingInterpreter {
                language,
                reason: format!(
                    "{} is on the server's PATH but the sandbox may not read it ({reason}); install the interpreter \
                     elsewhere, or name one in mcp.interpreters",
                    p.display()
                ),
            });
        }
    }
    Ok(i)
}

/// Every language with what the code can run under `policy`: the
/// interpreter and its version, or why there is none.
pub fn languages_for(policy: &srt_policy::Policy) -> Vec<LanguageInfo> {
    languages_with(&policy.settings.mcp.interpreters)
        .into_iter()
        .map(|info| match (info.available, interpreter_for(info.language, policy)) {
            (true, Err(e)) => {
                LanguageInfo { available: false, command: None, version: None, error: Some(e.reason), ..info }
            }
            _ => info,
        })
        .collect()
}

/// Every language with its built-in interpreter and version.
pub fn languages() -> Vec<LanguageInfo> {
    languages_with(&Default::default())
}

/// Every language with its interpreter (settings overrides applied) and
/// version (runs each `--version`).
pub fn languages_with(overrides: &std::collections::BTreeMap<String, Vec<String>>) -> Vec<LanguageInfo> {
    Language::ALL
        .iter()
        .map(|&language| match interpreter_with(language, overrides) {
            Ok(i) => {
                let version = match language {
                    // `sh` has no version flag: name what it is.
                    Language::Sh => Some(
                        std::fs::canonicalize(&i.path)
                            .map(|p| p.display().to_string())
                            .unwrap_or_else(|_| i.path.display().to_string()),
                    ),
                    _ => version_line(&i.path, &["--version"]),
                };
                LanguageInfo { language, available: true, command: Some(i.command), version, error: None }
            }
            Err(e) => LanguageInfo { language, available: false, command: None, version: None, error: Some(e.reason) },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for l in Language::ALL {
            assert_eq!(l.as_str().parse::<Language>(), Ok(l));
        }
        assert!("cobol".parse::<Language>().unwrap_err().contains("cobol"));
    }

    #[test]
    fn node_versions() {
        assert_eq!(parse_node_version("v20.20.2\n"), Some((20, 20)));
        assert!(!node_strips_types((20, 20)));
        assert!(node_strips_types((22, 6)));
        assert!(node_strips_types((24, 0)));
        assert!(!node_strips_types((22, 5)));
    }
}
