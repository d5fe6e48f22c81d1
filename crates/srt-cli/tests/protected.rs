//! Protected paths (shell start-up files, `.git` and its hooks, editor and
//! agent settings) and git: they stay read-only or cannot be created by any
//! route, and nothing a program plants runs when the host's git runs later.
//!
//! End to end through the real `srt` binary, as root and (scripts/test.sh)
//! again as an unprivileged user. Each test gets a fresh tree outside /tmp
//! (`common::sandbox::Env`: `home/` is HOME, `work/` the working directory),
//! and a probe run inside the sandbox tries the forbidden thing and prints
//! what happened.

use std::path::Path;
use std::process::{Command, Output};

mod common;
use common::sandbox::*;
use common::*;

#[test]
fn mandatory_protected_files_stay_read_only() {
    let env = Env::new();
    std::fs::write(env.p("work/.bashrc"), "original").unwrap();
    std::fs::create_dir_all(env.p("work/.git/hooks")).unwrap();
    std::fs::write(env.p("work/.git/config"), "[core]").unwrap();
    let attempts = [
        "echo evil >> .bashrc",
        "rm -f .bashrc",
        "mv .bashrc moved",
        "echo evil > .git/hooks/pre-commit",
        "echo evil >> .git/config",
        "mv .git/hooks .git/h2",
    ];
    for a in attempts {
        let o = env.sh(WORKSPACE, a);
        assert_ne!(o.status.code(), Some(0), "{a} succeeded");
    }
    assert_eq!(std::fs::read_to_string(env.p("work/.bashrc")).unwrap(), "original");
    assert_eq!(std::fs::read_to_string(env.p("work/.git/config")).unwrap(), "[core]");
    assert!(!env.p("work/.git/hooks/pre-commit").exists());
    assert!(!env.p("work/moved").exists());
}

#[test]
fn regression_symlinked_protected_paths_stay_read_only() {
    let env = Env::new();
    std::fs::create_dir_all(env.p("work/githooks")).unwrap();
    std::fs::create_dir_all(env.p("work/dotfiles")).unwrap();
    std::fs::create_dir_all(env.p("work/.git")).unwrap();
    std::fs::write(env.p("work/dotfiles/bashrc"), "original").unwrap();
    std::os::unix::fs::symlink("../githooks", env.p("work/.git/hooks")).unwrap();
    std::os::unix::fs::symlink("dotfiles/bashrc", env.p("work/.bashrc")).unwrap();
    let o = env.sh(WORKSPACE, "echo 'echo PWNED' > .git/hooks/pre-commit; echo evil >> .bashrc; true");
    assert!(o.status.success(), "{}", err(&o));
    assert!(!env.p("work/githooks/pre-commit").exists(), "hook planted through a symlinked .git/hooks");
    assert_eq!(std::fs::read_to_string(env.p("work/dotfiles/bashrc")).unwrap(), "original");
    // The links themselves: removable (their directory is writable), but a
    // new file or directory cannot take their place.
    let o = env.sh(WORKSPACE, "rm .bashrc .git/hooks; echo evil > .bashrc; mkdir .git/hooks; true");
    assert!(o.status.success(), "{}", err(&o));
    assert!(std::fs::symlink_metadata(env.p("work/.bashrc")).is_err(), "a new .bashrc replaced the link");
    assert!(std::fs::symlink_metadata(env.p("work/.git/hooks")).is_err(), "a new .git/hooks replaced the link");
    assert!(err(&o).contains("filesystem create"), "{}", err(&o));
}

#[test]
fn regression_renaming_a_parent_does_not_unprotect() {
    let env = Env::new();
    std::fs::create_dir_all(env.p("work/.git/hooks")).unwrap();
    std::fs::write(env.p("work/.git/config"), "[core]").unwrap();
    std::fs::create_dir_all(env.p("work/sub")).unwrap();
    std::fs::write(env.p("work/sub/.bashrc"), "original").unwrap();
    std::fs::write(env.p("work/sub/secret.txt"), "TOPSECRET").unwrap();
    let settings = format!(
        r#"{{"filesystem": {{"allowWrite": ["."], "denyRead": ["{}"]}}}}"#,
        env.p("work/sub/secret.txt").display()
    );
    for attempt in ["mv .git .git.old", "mv sub sub.old", "mv .git/hooks .git/h2"] {
        let o = env.sh(&settings, attempt);
        assert_ne!(o.status.code(), Some(0), "{attempt} succeeded");
    }
    assert!(env.p("work/.git/hooks").is_dir() && env.p("work/sub/.bashrc").exists());
    let o = env.sh(&settings, "cat sub/secret.txt");
    assert!(!out(&o).contains("TOPSECRET"));
    // Other renames in the workspace still work.
    std::fs::create_dir(env.p("work/plain")).unwrap();
    let o = env.sh(&settings, "mv plain plain2");
    assert!(o.status.success(), "{}", err(&o));
}

#[test]
fn regression_git_file_of_a_worktree_is_protected() {
    let env = Env::new();
    std::fs::write(env.p("work/.git"), "gitdir: /somewhere/else\n").unwrap();
    let o = env.sh(WORKSPACE, "echo 'gitdir: .g' > .git");
    assert_ne!(o.status.code(), Some(0));
    assert_eq!(std::fs::read_to_string(env.p("work/.git")).unwrap(), "gitdir: /somewhere/else\n");
}

#[test]
fn missing_protected_paths_cannot_be_created_by_any_route() {
    let env = Env::new();
    std::fs::create_dir(env.p("work/sub")).unwrap();
    std::fs::write(env.p("work/sub/payload"), "x").unwrap();
    // Each route that makes a directory entry, aimed at a protected name
    // missing from the writable root (and at a denyWrite entry that did not
    // exist). Every line must print its own "refused-" word.
    let code = r#"
import os, socket
def t(name, f):
    try:
        f(); print("created-" + name)
    except OSError as e:
        print("refused-" + name, e.errno)
t("open", lambda: os.close(os.open(".mcp.json", os.O_CREAT | os.O_WRONLY)))
t("openat-dirfd", lambda: os.close(os.open(".mcp.json", os.O_CREAT | os.O_WRONLY, dir_fd=os.open(".", os.O_RDONLY))))
t("proc-self-cwd", lambda: open("/proc/self/cwd/.mcp.json", "w").close())
t("absolute", lambda: open(os.path.abspath(".zshrc"), "w").close())
t("dotdot", lambda: open("sub/../.bashrc", "w").close())
t("mkdir", lambda: os.mkdir(".vscode"))
t("mkfifo", lambda: os.mkfifo(".idea"))
t("symlink", lambda: os.symlink("/etc/passwd", ".gitconfig"))
os.symlink(".mcp.json", "dangling")
t("through-dangling-symlink", lambda: open("dangling", "w").close())
os.symlink(".", "here")
t("through-dir-symlink", lambda: open("here/.mcp.json", "w").close())
t("hardlink", lambda: os.link("sub/payload", ".profile"))
t("rename-file", lambda: os.rename("sub/payload", ".ripgreprc"))
os.mkdir("newdir")
t("rename-dir", lambda: os.rename("newdir", ".vscode"))
t("denywrite-new", lambda: open("locked", "w").close())
s = socket.socket(socket.AF_UNIX)
t("bind", lambda: s.bind(".gitmodules"))
fd = os.open(".", os.O_TMPFILE | os.O_WRONLY)
t("tmpfile-link", lambda: os.link("/proc/self/fd/%d" % fd, ".mcp.json", follow_symlinks=True))
t("existing-subdir", lambda: open("sub/.zshrc", "w").close())
t("existing-subdir-hooks", lambda: os.makedirs("sub/.git/hooks"))
os.makedirs("fresh/deeper")
open("fresh/.bashrc", "w").close(); os.makedirs("fresh/deeper/.git/hooks"); print("new-dir-own-ok")
os.rename("fresh", "renamed"); open("renamed/.profile", "w").close(); print("renamed-new-dir-ok")
os.mkdir("fresh2"); os.rename("sub", "fresh2/sub")
t("old-dir-moved-into-a-new-one", lambda: open("fresh2/sub/.bashrc", "w").close())
"#;
    let settings =
        r#"{"filesystem": {"allowWrite": ["."], "denyWrite": ["locked"]}, "network": {"allowAllUnixSockets": true}}"#;
    let o = env.py(settings, code);
    let text = out(&o);
    assert!(!text.contains("created-"), "a protected name was created: {text}\n{}", err(&o));
    for route in [
        "open",
        "openat-dirfd",
        "proc-self-cwd",
        "absolute",
        "dotdot",
        "mkdir",
        "mkfifo",
        "symlink",
        "through-dangling-symlink",
        "through-dir-symlink",
        "hardlink",
        "rename-file",
        "rename-dir",
        "denywrite-new",
        "bind",
        "tmpfile-link",
        "existing-subdir",
        "existing-subdir-hooks",
        "old-dir-moved-into-a-new-one",
    ] {
        assert!(text.contains(&format!("refused-{route} 13")), "{route} not refused with EACCES: {text}\n{}", err(&o));
    }
    assert!(text.contains("new-dir-own-ok") && text.contains("renamed-new-dir-ok"), "{text}\n{}", err(&o));
    assert!(!env.p("work/fresh2/sub/.zshrc").exists() && !env.p("work/fresh2/sub/.bashrc").exists());
    for name in [
        ".mcp.json",
        ".zshrc",
        ".bashrc",
        ".vscode",
        ".idea",
        ".gitconfig",
        ".profile",
        ".ripgreprc",
        "locked",
        ".gitmodules",
    ] {
        assert!(std::fs::symlink_metadata(env.p("work").join(name)).is_err(), "{name} exists on the host");
    }
    // Each refusal is reported, with the path where it would have landed.
    let e = err(&o);
    assert!(e.contains("<sandbox_violations>"), "{e}");
    assert!(e.contains(&format!("filesystem create {}", env.p("work/.mcp.json").display())), "{e}");
    assert!(e.contains("denyWrite entry"), "{e}");
}

#[test]
fn racing_threads_cannot_swap_a_path_past_the_check() {
    // The check reads the path from the caller's memory; another thread
    // flips it between an allowed and a protected name as fast as it can.
    // The init acts on what it read, so no flip can land.
    let env = Env::new();
    let code = r#"
import ctypes, os, threading
libc = ctypes.CDLL(None, use_errno=True)
buf = ctypes.create_string_buffer(b"allowed.tx\0", 16)
stop = False
def flip():
    a, b = b"allowed.tx", b".mcp.json\0"
    while not stop:
        ctypes.memmove(buf, a, 10); ctypes.memmove(buf, b, 10)
th = threading.Thread(target=flip); th.start()
opened = 0
for _ in range(3000):
    fd = libc.open(buf, os.O_CREAT | os.O_WRONLY, 0o644)
    if fd >= 0:
        opened += 1; os.close(fd)
stop = True; th.join()
print("opened", opened, "mcp", os.path.exists(".mcp.json"))
"#;
    let o = env.py(r#"{"filesystem": {"allowWrite": ["."]}}"#, code);
    let text = out(&o);
    assert!(text.contains("mcp False"), "{text}\n{}", err(&o));
    assert!(!text.contains("opened 0 "), "the race never hit the allowed name: {text}");
    assert!(std::fs::symlink_metadata(env.p("work/.mcp.json")).is_err());
}

/// The host's git, as a developer would run it after the sandbox (an
/// identity set, the test tree trusted, no system config).
fn host_git(env: &Env, dir: &Path, args: &[&str]) -> Output {
    Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "safe.directory=*"])
        .args(args)
        .current_dir(dir)
        .env("HOME", env.p("home"))
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap()
}

/// Issue 12: after a program ran with allowWrite on a repository, the
/// host's `git status` and `git commit` there (and in its old
/// subdirectories, and in an old directory that had no repository) run none
/// of its code, by any route git follows: `.git/commondir`,
/// `.git/config.worktree`, `.git/worktrees`, `.git/modules`, a `gitdir:`
/// file or a symlink or a prepared directory named `.git`; and Claude Code's
/// project settings are not writable.
#[test]
fn regression_nothing_planted_runs_when_the_host_uses_git_later() {
    let env = Env::new();
    let git = |dir: &Path, args: &[&str]| host_git(&env, dir, args);
    std::fs::create_dir_all(env.p("work/repo/sub")).unwrap();
    std::fs::create_dir_all(env.p("work/plain/old")).unwrap();
    std::fs::create_dir_all(env.p("markers")).unwrap();
    assert!(git(&env.p("work/repo"), &["init", "-q"]).status.success());
    let m = env.p("markers");
    let m = m.display();
    // Each route leaves a marker if the host's git ever runs the planted code.
    let script = format!(
        r#"
hook() {{ mkdir -p "$1" && printf '#!/bin/sh\ntouch {m}/%s\nexit 0\n' "$2" > "$1/$2" && chmod +x "$1/$2"; }}
repo_at() {{ # a repository of our own whose config and hooks run code
  git init -q "$1" && hook "$1/.git/hooks" pre-commit && hook "$1/.git" fsmonitor-hook &&
  git -C "$1" config core.fsmonitor "$1/.git/fsmonitor-hook"; }}
cd repo
repo_at "$PWD/../evil"
echo "$PWD/../evil/.git" > .git/commondir
printf '[core]\n\tfsmonitor = {m}/x\n[extensions]\n\tworktreeConfig = true\n' > .git/config.worktree
mkdir -p .git/worktrees/w && echo "$PWD/../evil/.git" > .git/worktrees/w/commondir
mkdir -p .git/modules/m/hooks && hook .git/modules/m/hooks pre-commit
echo "gitdir: $PWD/../evil/.git" > sub/.git
ln -s "$PWD/../evil/.git" sub/.git
mkdir ../prep && cp -r ../evil/.git ../prep/ && mv ../prep/.git sub/.git
mkdir -p .claude && echo '{{"hooks": {{}}}}' > .claude/settings.json
echo '{{"hooks": {{}}}}' > .claude/settings.local.json
mkdir ../prepclaude && echo '{{}}' > ../prepclaude/settings.json && mv ../prepclaude sub/.claude
cd ../plain
echo "gitdir: $PWD/../evil/.git" > .git
ln -s "$PWD/../evil/.git" old/.git
cp -r ../evil/.git ../prep2 && mv ../prep2 old/.git
echo attempted
"#
    );
    let o = env.sh(r#"{"filesystem": {"allowWrite": ["."]}}"#, &script);
    assert!(out(&o).contains("attempted"), "{}", err(&o));
    assert!(env.p("work/evil/.git/hooks/pre-commit").exists(), "the program's own repository: {}", err(&o));
    for planted in [
        "repo/.git/commondir",
        "repo/.git/config.worktree",
        "repo/.git/worktrees",
        "repo/.git/modules",
        "repo/sub/.git",
        "repo/.claude/settings.json",
        "repo/.claude/settings.local.json",
        "repo/sub/.claude",
        "plain/.git",
        "plain/old/.git",
    ] {
        let p = env.p(&format!("work/{planted}"));
        assert!(std::fs::symlink_metadata(&p).is_err(), "{planted} was planted\n{}", err(&o));
    }
    for dir in ["work/repo", "work/repo/sub", "work/plain", "work/plain/old"] {
        let d = env.p(dir);
        let _ = git(&d, &["status"]);
        let _ = git(&d, &["commit", "-q", "--allow-empty", "-m", "x"]);
    }
    let markers: Vec<_> = std::fs::read_dir(env.p("markers")).unwrap().flatten().map(|e| e.file_name()).collect();
    assert!(markers.is_empty(), "the host's git ran planted code: {markers:?}\n{}", err(&o));
}

/// srt 0.0.83's `git.safeDirectories` reaches git inside the sandbox
/// through `GIT_CONFIG_*`, and srt's helper-path keys are accepted (with
/// `--debug` saying they have no effect here).
#[test]
fn git_safe_directories_and_helper_keys() {
    let env = Env::new();
    let settings = r#"{"git": {"safeDirectories": ["/work/one", "/work/two"]}, "bwrapPath": "/usr/bin/bwrap",
                      "seccomp": {"applyPath": "/usr/lib/apply", "argv0": "x"}}"#;
    let o = env.cmd(settings, &["-d", "--", "git", "config", "--get-all", "safe.directory"]).output().unwrap();
    assert_eq!(out(&o), "/work/one\n/work/one/*\n/work/two\n/work/two/*\n", "{}", err(&o));
    assert!(err(&o).contains("bwrapPath has no effect"), "{}", err(&o));
    // The caller's own GIT_CONFIG_* entries stay; srt's come after them.
    let o = env
        .cmd(settings, &["--", "git", "config", "--get-all", "safe.directory"])
        .env("GIT_CONFIG_COUNT", "1")
        .env("GIT_CONFIG_KEY_0", "safe.directory")
        .env("GIT_CONFIG_VALUE_0", "/callers/own")
        .output()
        .unwrap();
    assert_eq!(out(&o), "/callers/own\n/work/one\n/work/one/*\n/work/two\n/work/two/*\n", "{}", err(&o));
}

/// Red-team finding: a repository the program makes in a new directory is
/// its own output, yet registered as a submodule of the host's repository
/// the host's `git status` recurses into it and runs its `core.fsmonitor`.
/// That cannot be refused without breaking git inside, so it is reported
/// after the run, naming the file.
#[test]
fn regression_a_planted_submodule_config_is_reported() {
    let env = Env::new();
    let git = |dir: &Path, args: &[&str]| host_git(&env, dir, args);
    assert!(git(&env.p("work"), &["init", "-q"]).status.success());
    let script = "mkdir sub && cd sub && git init -q && git config core.fsmonitor 'touch /nonexistent/x; false' && \
                  echo y > y && git -c user.name=t -c user.email=t@e add y && \
                  git -c user.name=t -c user.email=t@e commit -qm s && cd .. && \
                  git -c user.name=t -c user.email=t@e -c safe.directory='*' add sub && echo planted";
    let o = env.sh(r#"{"filesystem": {"allowWrite": ["."]}}"#, script);
    assert!(out(&o).contains("planted"), "{}", err(&o));
    let config = env.p("work/sub/.git/config");
    assert!(
        err(&o).contains(&format!("filesystem write {}: git on the host would run code", config.display())),
        "{}",
        err(&o)
    );
    assert!(err(&o).contains("sets fsmonitor"), "{}", err(&o));
}
