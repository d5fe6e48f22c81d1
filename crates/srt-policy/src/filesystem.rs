//! Filesystem decisions with srt's precedence:
//! - reads are allowed everywhere except under `denyRead`, and `allowRead`
//!   beats `denyRead`;
//! - writes are denied everywhere except under `allowWrite`, and `denyWrite`
//!   beats `allowWrite` (also when the deny is at or above the allow);
//! - the mandatory protected names are never writable within
//!   `mandatoryDenySearchDepth` levels of a writable root, whether they exist
//!   yet or not.
//!
//! Paths given to [`FsPolicy::decide_path`] are judged as given (after lexical
//! normalization); the sandbox judges real, symlink-resolved paths, which is
//! where writes land.

use std::path::{Component, Path, PathBuf};

use serde::Serialize;

use crate::paths::{PathRule, normalize};

/// Files that are never writable (shell start-up files and tool configs that
/// run code or redirect credentials on the next use).
pub const PROTECTED_FILES: [&str; 9] = [
    ".bashrc",
    ".bash_profile",
    ".zshrc",
    ".zprofile",
    ".profile",
    ".gitconfig",
    ".gitmodules",
    ".ripgreprc",
    ".mcp.json",
];

/// Directories whose contents are never writable (editor tasks, agent
/// commands, git hooks: all run code later, outside the sandbox).
pub const PROTECTED_DIRS: [&str; 5] = [".vscode", ".idea", ".claude/commands", ".claude/agents", ".git/hooks"];

/// Written only when `allowGitConfig` is true (it can set `core.fsmonitor`
/// and other command-running keys).
pub const GIT_CONFIG: &str = ".git/config";

/// A file operation to decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FsOp {
    Read,
    Write,
}

/// The outcome of a filesystem decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "lowercase")]
pub enum FsDecision {
    Allow { rule: Option<String> },
    Deny { rule: Option<String>, reason: String },
}

impl FsDecision {
    pub fn is_allowed(&self) -> bool {
        matches!(self, FsDecision::Allow { .. })
    }
}

/// The filesystem half of a [`crate::Policy`] (serializable: the sandbox's
/// pid 1 receives it inside [`crate::CreateRules`]).
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct FsPolicy {
    pub(crate) deny_read: Vec<PathRule>,
    pub(crate) allow_read: Vec<PathRule>,
    pub(crate) allow_write: Vec<PathRule>,
    pub(crate) deny_write: Vec<PathRule>,
    pub(crate) allow_git_config: bool,
    pub(crate) search_depth: usize,
}

impl FsPolicy {
    /// Decides `op` on `path` (absolute; `..` is normalized lexically).
    pub fn decide_path(&self, path: &Path, op: FsOp) -> FsDecision {
        let path = normalize(path);
        match op {
            FsOp::Read => self.decide_read(&path),
            FsOp::Write => self.decide_write(&path),
        }
    }

    fn decide_read(&self, path: &Path) -> FsDecision {
        let Some(deny) = self.deny_read.iter().find(|r| r.covers(path)) else {
            return FsDecision::Allow { rule: None };
        };
        if let Some(allow) = self.allow_read.iter().find(|r| r.covers(path)) {
            return FsDecision::Allow { rule: Some(allow.source.clone()) };
        }
        FsDecision::Deny { rule: Some(deny.source.clone()), reason: format!("denyRead entry {:?}", deny.source) }
    }

    fn decide_write(&self, path: &Path) -> FsDecision {
        let Some(allow) = self.allow_write.iter().find(|r| r.covers(path)) else {
            return FsDecision::Deny { rule: None, reason: "not in allowWrite".into() };
        };
        if let Some(deny) = self.deny_write.iter().find(|r| r.covers(path)) {
            return FsDecision::Deny {
                rule: Some(deny.source.clone()),
                reason: format!("denyWrite entry {:?}", deny.source),
            };
        }
        if let Some(name) = self.protected_name(path) {
            return FsDecision::Deny { rule: Some(name.clone()), reason: format!("{name} is always write-protected") };
        }
        FsDecision::Allow { rule: Some(allow.source.clone()) }
    }

    /// The mandatory protected name that covers `path`, if any: a protected
    /// entry whose first component lies within `search_depth` levels below a
    /// literal writable root that contains `path`.
    pub fn protected_name(&self, path: &Path) -> Option<String> {
        self.protected_match(path).map(|(entry, _)| entry)
    }

    /// Like [`FsPolicy::protected_name`], with the directory that holds the
    /// entry's first component (`proj/sub` for `proj/sub/.git/hooks/x`).
    pub fn protected_match(&self, path: &Path) -> Option<(String, PathBuf)> {
        for rule in &self.allow_write {
            let Some(root) = rule.root_of(path) else { continue };
            let Ok(rel) = path.strip_prefix(&root) else { continue };
            let comps: Vec<&str> = rel
                .components()
                .filter_map(|c| match c {
                    Component::Normal(n) => n.to_str(),
                    _ => None,
                })
                .collect();
            for start in 0..comps.len().min(self.search_depth) {
                let rest = &comps[start..];
                for entry in self.protected_entries() {
                    let parts: Vec<&str> = entry.split('/').collect();
                    if rest.len() >= parts.len() && rest[..parts.len()] == parts[..] {
                        let holder = comps[..start].iter().fold(root.clone(), |p, c| p.join(c));
                        return Some((entry.to_string(), holder));
                    }
                }
            }
        }
        None
    }

    /// Every protected entry (files, directories, and `.git/config` unless allowed).
    pub fn protected_entries(&self) -> Vec<&'static str> {
        let mut v: Vec<&'static str> = PROTECTED_FILES.iter().chain(PROTECTED_DIRS.iter()).copied().collect();
        if !self.allow_git_config {
            v.push(GIT_CONFIG);
        }
        v
    }

    /// Literal allowWrite roots (globs expand to their matches in the plan).
    pub fn writable_roots(&self) -> impl Iterator<Item = &PathBuf> {
        self.allow_write.iter().filter(|r| !r.is_glob()).map(|r| &r.path)
    }

    pub fn search_depth(&self) -> usize {
        self.search_depth
    }
}
