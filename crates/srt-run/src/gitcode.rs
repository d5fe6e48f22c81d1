//! What a run leaves behind that git on the host would run: a repository
//! the program made in a new directory is its own output (its config and
//! hooks are not protected, so `git clone` and `git init` work inside), yet
//! the host's `git status` in an enclosing repository recurses into it when
//! it is registered as a submodule, and runs its `core.fsmonitor`. What
//! cannot be refused without breaking git inside is reported after the run,
//! naming the file. Only the `.git` directories pid 1 saw made are looked
//! at: no walk of the tree after every run.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Configuration keys with which git runs a command of the config's choice.
const CODE_KEYS: [&str; 12] = [
    "fsmonitor",
    "hookspath",
    "pager",
    "sshcommand",
    "editor",
    "askpass",
    "textconv",
    "clean",
    "smudge",
    "process",
    "[alias",
    "credential",
];

/// The files in `git_dirs` (the `.git` directories pid 1 saw the program
/// make) that git on the host would take code from and that were written
/// at or after `since` (their status change time: a program cannot set it
/// back), with what makes them run code.
pub fn planted(git_dirs: &[PathBuf], since: SystemTime) -> Vec<(PathBuf, String)> {
    let mut found = Vec::new();
    for git in git_dirs {
        inspect(git, since, &mut found);
    }
    found
}

fn written_since(path: &Path, since: SystemTime) -> bool {
    let since = since.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    std::fs::symlink_metadata(path).is_ok_and(|m| m.ctime() >= since)
}

fn inspect(git: &Path, since: SystemTime, found: &mut Vec<(PathBuf, String)>) {
    let config = git.join("config");
    if written_since(&config, since)
        && let Ok(text) = std::fs::read_to_string(&config)
    {
        let lower = text.to_ascii_lowercase();
        let keys: Vec<&str> = CODE_KEYS.iter().copied().filter(|k| lower.contains(k)).collect();
        if !keys.is_empty() {
            found.push((config, format!("sets {}", keys.join(", "))));
        }
    }
    if let Ok(hooks) = std::fs::read_dir(git.join("hooks")) {
        for h in hooks.flatten() {
            let p = h.path();
            let sample = p.extension().is_some_and(|x| x == "sample");
            let executable = std::fs::metadata(&p).is_ok_and(|m| m.mode() & 0o111 != 0 && m.is_file());
            if !sample && executable && written_since(&p, since) {
                found.push((p, "is a hook git runs".into()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn planted_configs_and_hooks_are_found() {
        let before = SystemTime::now() - std::time::Duration::from_secs(2);
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("proj/sub/.git");
        std::fs::create_dir_all(repo.join("hooks")).unwrap();
        std::fs::write(repo.join("config"), "[core]\n\tfsMonitor = touch /x\n").unwrap();
        std::fs::write(repo.join("hooks/pre-commit"), "#!/bin/sh\n").unwrap();
        std::fs::write(repo.join("hooks/pre-push.sample"), "#!/bin/sh\n").unwrap();
        for f in ["hooks/pre-commit", "hooks/pre-push.sample"] {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(repo.join(f), std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let plain = dir.path().join("proj/other/.git");
        std::fs::create_dir_all(&plain).unwrap();
        std::fs::write(plain.join("config"), "[core]\n\tbare = false\n").unwrap();
        let dirs = [dir.path().join("proj/sub/.git"), dir.path().join("proj/other/.git")];
        let found = planted(&dirs, before);
        let names: Vec<String> = found.iter().map(|(p, why)| format!("{} {why}", p.display())).collect();
        assert_eq!(found.len(), 2, "{names:?}");
        assert!(names.iter().any(|n| n.ends_with("sub/.git/config sets fsmonitor")), "{names:?}");
        assert!(names.iter().any(|n| n.contains("hooks/pre-commit is a hook")), "{names:?}");
        // Written before the run: not the program's doing.
        let later = SystemTime::now() + std::time::Duration::from_secs(5);
        assert!(planted(&dirs, later).is_empty());
    }
}
