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
///
/// The git entries close the routes by which a program could make the
/// host's next `git status` run its code without touching `.git/config` or
/// `.git/hooks`: `commondir` points git at another directory's config and
/// hooks, `config.worktree` is a second config file. Claude Code runs the
/// hooks named in its project settings.
pub const PROTECTED_FILES: [&str; 13] = [
    ".bashrc",
    ".bash_profile",
    ".zshrc",
    ".zprofile",
    ".profile",
    ".gitconfig",
    ".gitmodules",
    ".ripgreprc",
    ".mcp.json",
    ".git/commondir",
    ".git/config.worktree",
    ".claude/settings.json",
    ".claude/settings.local.json",
];

/// Directories whose contents are never writable (editor tasks, agent
/// commands, git hooks: all run code later, outside the sandbox). The git
/// administrative directories of linked worktrees and submodules hold their
/// own `config`, `commondir` and `hooks`, which git on the host follows.
pub const PROTECTED_DIRS: [&str; 7] =
    [".vscode", ".idea", ".claude/commands", ".claude/agents", ".git/hooks", ".git/worktrees", ".git/modules"];

/// Written only when `allowGitConfig` is true (it can set `core.fsmonitor`
/// and other command-running keys).
pub const GIT_CONFIG: &str = ".git/config";

/// A file operation to decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FsOp {
    /// Judged by `denyRead`, then `allowRead`, which beats it.
    Read,
    /// Creating, changing or removing: judged by `allowWrite`, then
    /// `denyWrite` and the protected names, which beat it.
    Write,
}

/// The outcome of a filesystem decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "lowercase")]
pub enum FsDecision {
    /// The operation may go ahead.
    Allow {
        /// The entry that allowed it, as written: the `allowWrite` entry of
        /// a write, the `allowRead` entry of a read that denyRead covers, or
        /// `filesystem.disabled`. `None`: a read no denyRead entry covers.
        rule: Option<String>,
    },
    /// The operation is refused.
    Deny {
        /// The `denyRead` or `denyWrite` entry, as written, or the protected
        /// name (`.bashrc`). `None`: a write outside every `allowWrite` entry.
        rule: Option<String>,
        /// The rule in words, for violation events (`denyRead entry
        /// "~/.ssh"`, `not in allowWrite`).
        reason: String,
    },
}

impl FsDecision {
    /// Whether this is [`FsDecision::Allow`], whichever rule allowed it.
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
    /// `filesystem.disabled`: no filesystem rule at all (every read and
    /// write allowed, no protected names); the mount plan binds the host's
    /// root writable.
    #[serde(default)]
    pub(crate) disabled: bool,
}

impl FsPolicy {
    /// Decides `op` on `path` (absolute; `..` is normalized lexically).
    pub fn decide_path(&self, path: &Path, op: FsOp) -> FsDecision {
        if self.disabled {
            return FsDecision::Allow { rule: Some("filesystem.disabled".into()) };
        }
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
        self.protected_match_as(path, false)
    }

    /// Like [`FsPolicy::protected_match`] for something that arrives with
    /// contents (a renamed directory, a symlink): also when `path` is the
    /// first part of a protected entry (`sub/.claude` carries
    /// `sub/.claude/settings.json` along).
    pub fn protected_match_carrying(&self, path: &Path) -> Option<(String, PathBuf)> {
        self.protected_match_as(path, true)
    }

    fn protected_match_as(&self, path: &Path, carrying: bool) -> Option<(String, PathBuf)> {
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
                    let within = rest.len() >= parts.len() && rest[..parts.len()] == parts[..];
                    let leads_to = carrying && rest.len() < parts.len() && parts[..rest.len()] == rest[..];
                    if within || leads_to {
                        let holder = comps[..start].iter().fold(root.clone(), |p, c| p.join(c));
                        return Some((entry.to_string(), holder));
                    }
                }
            }
        }
        None
    }

    /// The directory whose `.git` `path` would be, when that directory lies
    /// within the search depth of a writable root. A `.git` that is not a
    /// directory (a `gitdir:` file, a symlink, a hard link, a directory
    /// renamed into place with its contents) makes git on the host use a
    /// repository the program wrote, config and hooks included.
    pub fn git_link_holder(&self, path: &Path) -> Option<PathBuf> {
        if path.file_name()? != ".git" {
            return None;
        }
        let holder = path.parent()?;
        self.allow_write.iter().find_map(|rule| {
            let root = rule.root_of(holder)?;
            let depth = holder.strip_prefix(&root).ok()?.components().count();
            (depth < self.search_depth).then(|| holder.to_path_buf())
        })
    }

    /// Every protected entry (files, directories, and `.git/config` unless
    /// allowed); none with `filesystem.disabled`.
    pub fn protected_entries(&self) -> Vec<&'static str> {
        if self.disabled {
            return Vec::new();
        }
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

    /// `mandatoryDenySearchDepth` (1–10, default 3): how many directory
    /// levels of each writable root hold protected names; at 3, the root
    /// itself and two levels of directories below it.
    pub fn search_depth(&self) -> usize {
        self.search_depth
    }

    /// `filesystem.disabled`.
    pub fn is_disabled(&self) -> bool {
        self.disabled
    }
}
