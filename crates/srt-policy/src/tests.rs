//! Table-driven tests of the whole policy: settings → decisions → mount plan.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use crate::{FileKind, FsOp, MountOp, NetDecision, PathContext, Policy, Preset, RealFs, from_text};

fn ctx() -> PathContext {
    PathContext { cwd: "/nonexistent/proj".into(), home: "/nonexistent/home".into() }
}

fn policy(text: &str) -> Policy {
    from_text(Some(text), None, &ctx(), &RealFs).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn preset(p: Preset) -> Policy {
    from_text(None, Some(p), &ctx(), &RealFs).unwrap()
}

fn host_ok(p: &Policy, host: &str, port: u16) -> bool {
    p.decide_host(host, port).is_allowed()
}

fn read_ok(p: &Policy, path: &str) -> bool {
    p.decide_path(Path::new(path), FsOp::Read).is_allowed()
}

fn write_ok(p: &Policy, path: &str) -> bool {
    p.decide_path(Path::new(path), FsOp::Write).is_allowed()
}

#[test]
fn builtin_default_is_closed() {
    let p = from_text(None, None, &ctx(), &RealFs).unwrap();
    assert!(p.network.is_closed());
    assert!(!host_ok(&p, "example.com", 443));
    assert!(read_ok(&p, "/etc/hostname"));
    assert!(!write_ok(&p, "/nonexistent/proj/x"));
    assert!(!write_ok(&p, "/tmp/x"));
}

#[test]
fn settings_errors_name_path_and_value() {
    let cases = [
        (
            r#"{"network": {"allowedDomains": ["a.com", "b.com", "*.com"]}}"#,
            r#"network.allowedDomains[2]: "*.com" is a top-level wildcard"#,
        ),
        (r#"{"network": {"allowedDomains": ["*"]}}"#, r#"network.allowedDomains[0]: "*" allows every domain"#),
        (r#"{"network": {"allowedDomains": ["http://x.com"]}}"#, "must not include a protocol"),
        (
            r#"{"network": {"deniedDomains": ["x.com/p"]}}"#,
            r#"network.deniedDomains[0]: "x.com/p" must not include a path"#,
        ),
        (
            r#"{"network": {"deniedDomains": ["a.com"], "deniedDomainReasons": {"b.com": "x"}}}"#,
            r#"network.deniedDomainReasons["b.com"]: "b.com" is not an entry"#,
        ),
        (r#"{"network": {"deniedDomains": ["a.com"], "deniedDomainReasons": {"a.com": ""}}}"#, "is empty"),
        (
            r#"{"network": {"deniedResolvedAddresses": ["10.0.0.0/33"]}}"#,
            r#"network.deniedResolvedAddresses[0]: "10.0.0.0/33" is not an IP"#,
        ),
        (r#"{"network": {"deniedResolvedAddresses": ["evil"]}}"#, "is not an IP"),
        (r#"{"network": {"httpProxyPort": 0}}"#, "network.httpProxyPort: 0 is not a port"),
        (r#"{"network": {"socksProxyPort": 70000}}"#, "network.socksProxyPort: 70000 is not a port"),
        (r#"{"network": {"allowUnixSockets": [""]}}"#, r#"network.allowUnixSockets[0]: "" is empty"#),
        (r#"{"network": {"filterRequest": {}}}"#, "network.filterRequest: is not supported"),
        (r#"{"filesystem": {"denyRead": ["ok", ""]}}"#, r#"filesystem.denyRead[1]: "" is empty"#),
        (
            r#"{"filesystem": {"denyWrite": ["logs/*/"]}}"#,
            r#"filesystem.denyWrite[0]: "logs/*/" is a glob ending in "/""#,
        ),
        (r#"{"filesystem": {"allowRead": ["[z"]}}"#, "is not a valid glob"),
        (r#"{"mandatoryDenySearchDepth": 0}"#, "mandatoryDenySearchDepth: 0 is out of range (1 to 10)"),
        (r#"{"mandatoryDenySearchDepth": 11}"#, "out of range"),
        (r#"{"mandatoryDenySearchDepth": -1}"#, "mandatoryDenySearchDepth"),
        (r#"{"limits": {"memoryBytes": 10}}"#, "limits.memoryBytes: 10 is out of range"),
        (r#"{"limits": {"wallTimeSeconds": 0}}"#, "limits.wallTimeSeconds: 0 is out of range"),
        (r#"{"limits": {"maxProcesses": 0}}"#, "limits.maxProcesses: 0 is out of range"),
        (r#"{"ignoreViolations": {"": ["/x"]}}"#, "is empty"),
        (r#"{"ripgrep": {"command": ""}}"#, r#"ripgrep.command: "" is empty"#),
        (
            r#"{"mcp": {"customConfigCeiling": {"allowedDomains": ["*.org"]}}}"#,
            "mcp.customConfigCeiling.allowedDomains[0]",
        ),
        (r#"{"network": {"allowLocalBinding": "yes"}}"#, "network.allowLocalBinding: has the wrong type"),
        (r#"{"mcp": {"interpreters": {"ruby": ["ruby"]}}}"#, r#"mcp.interpreters["ruby"]: "ruby" is not a language"#),
        (r#"{"mcp": {"interpreters": {"python": []}}}"#, r#"mcp.interpreters["python"]: is empty"#),
        (r#"{"mcp": {"interpreters": {"python": ["python3", ""]}}}"#, r#"mcp.interpreters["python"][1]: "" is empty"#),
    ];
    for (text, want) in cases {
        let e = from_text(Some(text), None, &ctx(), &RealFs).expect_err(text).to_string();
        assert!(e.contains(want), "{text}\n got: {e}\nwant: {want}");
        assert!(!e.contains('\n'), "one line: {e}");
    }
}

#[test]
fn presets_decide_as_documented() {
    let c = preset(Preset::Conservative);
    assert!(c.network.is_closed());
    assert!(!read_ok(&c, "/nonexistent/home/.ssh/id_rsa"));
    assert!(!read_ok(&c, "/nonexistent/home/.kube/config"));
    assert!(!read_ok(&c, "/etc/passwd"));
    assert!(write_ok(&c, "/nonexistent/proj/out.txt"));
    assert!(!write_ok(&c, "/nonexistent/proj/.env"));
    assert!(!write_ok(&c, "/nonexistent/proj/.git/HEAD"));

    let b = preset(Preset::Balanced);
    assert!(host_ok(&b, "api.github.com", 443));
    assert!(host_ok(&b, "files.pypi.org", 443));
    assert!(!host_ok(&b, "pypi.org", 443), "*.pypi.org does not cover the apex");
    assert!(!host_ok(&b, "github.com", 443));
    assert!(!host_ok(&b, "localhost", 80));
    assert!(!host_ok(&b, "internal-api", 80));
    assert!(write_ok(&b, "/tmp/x"));
    assert!(write_ok(&b, "/nonexistent/proj/logs/a.log"));
    assert!(!write_ok(&b, "/nonexistent/proj/config.json"));
    assert!(!read_ok(&b, "/root/.bash_history"));

    let p = preset(Preset::Permissive);
    assert!(host_ok(&p, "anything.example", 443));
    assert!(host_ok(&p, "10.1.2.3", 22));
    assert!(!host_ok(&p, "internal.company.com", 443));
    assert!(read_ok(&p, "/nonexistent/home/.ssh/id_rsa"));
    assert!(!read_ok(&p, "/nonexistent/home/.aws/credentials"));
    assert!(!write_ok(&p, "/nonexistent/proj/.git/config"));
}

#[test]
fn a_file_refines_a_preset() {
    let text = r#"{"network": {"deniedDomains": ["evil.example"]}, "filesystem": {"allowGitConfig": true}}"#;
    let p = from_text(Some(text), Some(Preset::Permissive), &ctx(), &RealFs).unwrap();
    assert!(host_ok(&p, "good.example", 443), "allow-all kept from the preset");
    assert!(!host_ok(&p, "evil.example", 443));
    assert!(host_ok(&p, "internal.company.com", 443), "a list in the file replaces the preset's list");
    // The file cannot itself use the preset's allow-all.
    let star = r#"{"network": {"allowedDomains": ["*"]}}"#;
    assert!(from_text(Some(star), Some(Preset::Permissive), &ctx(), &RealFs).is_err());
}

#[test]
fn network_precedence_and_reasons() {
    let p = policy(
        r#"{"network": {"allowedDomains": ["*.example.com", "api.other.net:443", "127.0.0.1:3000", "[::1]:8080"],
             "deniedDomains": ["bad.example.com", "*:22"],
             "deniedDomainReasons": {"bad.example.com": "exfiltration host"}}}"#,
    );
    let cases: &[(&str, u16, bool)] = &[
        ("a.example.com", 443, true),
        ("A.B.EXAMPLE.COM.", 80, true),
        ("example.com", 443, false),
        ("evil-example.com", 443, false),
        ("bad.example.com", 443, false),
        ("x.bad.example.com", 443, true),
        ("a.example.com", 22, false),
        ("api.other.net", 443, true),
        ("api.other.net", 80, false),
        ("127.0.0.1", 3000, true),
        ("[::ffff:127.0.0.1]", 3000, true),
        ("127.0.0.1", 3001, false),
        ("[::1]", 8080, true),
        ("::1", 8080, true),
        ("not a host", 80, false),
    ];
    for &(host, port, want) in cases {
        assert_eq!(host_ok(&p, host, port), want, "{host}:{port}");
    }
    match p.decide_host("bad.example.com", 443) {
        NetDecision::Deny { reason, rule, .. } => {
            assert_eq!(reason, "exfiltration host");
            assert_eq!(rule.as_deref(), Some("bad.example.com"));
        }
        d => panic!("{d:?}"),
    }
    match p.decide_host("nope.net", 443) {
        NetDecision::Deny { code, reason, .. } => {
            assert_eq!(code.proxy_error(), "blocked-by-allowlist");
            assert!(reason.contains("not in allowedDomains"), "{reason}");
        }
        d => panic!("{d:?}"),
    }
}

#[test]
fn resolved_address_guard() {
    let p = policy(
        r#"{"network": {"allowedDomains": ["*.example.com", "127.0.0.1:3000"],
             "deniedDomains": ["93.184.216.99"], "deniedResolvedAddresses": ["10.0.0.0/8", "2001:db8::/32"]}}"#,
    );
    let local: Vec<IpAddr> = vec!["192.168.5.5".parse().unwrap(), "fe80::1".parse().unwrap()];
    let cases: &[(&str, u16, bool)] = &[
        ("93.184.216.34", 443, true),
        ("2606:4700::1111", 443, true),
        ("127.0.0.1", 443, false),
        ("127.0.0.1", 3000, true), // allow-listed literal may be dialed
        ("::ffff:127.0.0.1", 3000, true),
        ("::ffff:127.0.0.1", 443, false),
        ("169.254.169.254", 80, false),
        ("::ffff:169.254.169.254", 80, false),
        ("64:ff9b::a9fe:a9fe", 80, false),
        ("0.0.0.0", 80, false),
        ("255.255.255.255", 80, false),
        ("224.0.0.251", 80, false),
        ("100.100.100.200", 80, false),
        ("192.168.5.5", 443, false), // this host's own interface
        ("::ffff:192.168.5.5", 443, false),
        ("10.2.3.4", 443, false), // deniedResolvedAddresses
        ("::ffff:10.2.3.4", 443, false),
        ("2001:db8::5", 443, false),
        ("93.184.216.99", 443, false), // IP literal in deniedDomains
    ];
    for &(ip, port, want) in cases {
        let d = p.decide_address(ip.parse().unwrap(), port, &local);
        assert_eq!(d.is_allowed(), want, "{ip}:{port} → {d:?}");
    }
    match p.decide_address("169.254.169.254".parse().unwrap(), 80, &[]) {
        NetDecision::Deny { code, reason, .. } => {
            assert_eq!(code.proxy_error(), "blocked-by-sandbox-runtime");
            assert!(reason.contains("metadata"), "{reason}");
        }
        d => panic!("{d:?}"),
    }
}

#[test]
fn filesystem_precedence() {
    let p = policy(
        r#"{"filesystem": {
            "denyRead": ["~/.ssh", "/nonexistent/secrets", "~/.config/*.key"],
            "allowRead": ["~/.ssh/known_hosts", "/nonexistent/secrets/public"],
            "allowWrite": [".", "/nonexistent/data", "/nonexistent/other/sub"],
            "denyWrite": [".env", "/nonexistent/data/locked", "/nonexistent/other", "**/*.pem"]
        }}"#,
    );
    let reads: &[(&str, bool)] = &[
        ("/nonexistent/home/.ssh/id_rsa", false),
        ("/nonexistent/home/.ssh", false),
        ("/nonexistent/home/.ssh/known_hosts", true),
        ("/nonexistent/home/.sshkeys", true),
        ("/nonexistent/home/x/../.ssh/id_rsa", false),
        ("/nonexistent/secrets/a", false),
        ("/nonexistent/secrets/public/b", true),
        ("/nonexistent/home/.config/api.key", false),
        ("/nonexistent/home/.config/.hidden.key", false),
        ("/nonexistent/home/.config/sub/api.key", true),
        ("/etc/hostname", true),
    ];
    for &(path, want) in reads {
        assert_eq!(read_ok(&p, path), want, "read {path}");
    }
    let writes: &[(&str, bool)] = &[
        ("/nonexistent/proj/src/main.rs", true),
        ("/nonexistent/proj/.env", false),
        ("/nonexistent/proj/sub/.env", true), // ".env" resolved against the cwd: a literal path
        ("/nonexistent/proj/../escape", false),
        ("/nonexistent/proj/a/../../escape", false),
        ("/nonexistent/data/x", true),
        ("/nonexistent/data/locked/x", false),
        ("/nonexistent/other/sub/x", false), // deny above the allow still wins
        ("/nonexistent/proj/certs/server.pem", false),
        ("/nonexistent/proj/.x.pem", false),
        ("/etc/passwd", false),
        ("/nonexistent/proj/.bashrc", false),
        ("/nonexistent/proj/a/b/.zshrc", false),
        ("/nonexistent/proj/a/b/c/.zshrc", true), // deeper than mandatoryDenySearchDepth (3)
        ("/nonexistent/proj/.git/hooks/pre-commit", false),
        ("/nonexistent/proj/.git/config", false),
        ("/nonexistent/proj/.git/HEAD", true),
        ("/nonexistent/proj/.vscode/tasks.json", false),
        ("/nonexistent/proj/.claude/commands/x.md", false),
        ("/nonexistent/proj/.claude/settings.json", false), // stricter than srt: Claude Code runs its hooks
        ("/nonexistent/proj/.claude/notes.md", true),
        ("/nonexistent/proj/.git/commondir", false),
        ("/nonexistent/proj/.git/worktrees/wt/config.worktree", false),
        ("/nonexistent/data/.mcp.json", false),
    ];
    for &(path, want) in writes {
        assert_eq!(write_ok(&p, path), want, "write {path}");
    }
}

#[test]
fn allow_git_config_and_search_depth() {
    let p = policy(r#"{"filesystem": {"allowWrite": ["."], "allowGitConfig": true}, "mandatoryDenySearchDepth": 1}"#);
    assert!(write_ok(&p, "/nonexistent/proj/.git/config"));
    assert!(!write_ok(&p, "/nonexistent/proj/.git/hooks/x"));
    assert!(!write_ok(&p, "/nonexistent/proj/.bashrc"));
    assert!(write_ok(&p, "/nonexistent/proj/sub/.bashrc"));
}

/// A real directory tree for plan tests.
struct Tree {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Tree {
    fn new(files: &[&str], dirs: &[&str]) -> Tree {
        // Not under /tmp (where a checkout may well be): the plan replaces
        // /tmp with a private tmpfs. `SRT_TEST_TMP`, else ~/.srt-test-tmp, as
        // the end-to-end tests do.
        let base = std::env::var_os("SRT_TEST_TMP")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".srt-test-tmp"));
        std::fs::create_dir_all(&base).unwrap();
        let dir = tempfile::tempdir_in(&base).unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        for d in dirs {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        for f in files {
            let p = root.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "x").unwrap();
        }
        Tree { _dir: dir, root }
    }
    fn ctx(&self) -> PathContext {
        PathContext { cwd: self.root.join("proj"), home: self.root.join("home") }
    }
    fn p(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }
}

#[test]
fn symlinked_allow_write_root_is_judged_where_it_lands() {
    let t = Tree::new(&[], &["proj", "real-out", "home"]);
    std::os::unix::fs::symlink(t.p("real-out"), t.p("proj/out")).unwrap();
    let p = from_text(Some(r#"{"filesystem": {"allowWrite": ["out"]}}"#), None, &t.ctx(), &RealFs).unwrap();
    assert!(p.decide_path(&t.p("real-out/file"), FsOp::Write).is_allowed());
    let plan = p.mount_plan(&RealFs);
    assert!(plan.ops.contains(&MountOp::BindWritable { path: t.p("real-out"), kind: FileKind::Dir }), "{plan:#?}");
}

#[test]
fn mount_plan_from_rules() {
    let t = Tree::new(
        &[
            "proj/.bashrc",
            "proj/sub/.zshrc",
            "proj/a/b/c/.profile",
            "proj/.git/config",
            "proj/keys/a.pem",
            "proj/keys/b.pem",
            "home/.ssh/id_rsa",
            "home/.ssh/known_hosts",
        ],
        &["proj/.git/objects", "proj/.vscode"],
    );
    let text = r#"{"filesystem": {
        "denyRead": ["~/.ssh"], "allowRead": ["~/.ssh/known_hosts"],
        "allowWrite": [".", "absent-dir"], "denyWrite": ["keys/*.pem"]}}"#;
    let p = from_text(Some(text), None, &t.ctx(), &RealFs).unwrap();
    let plan = p.mount_plan(&RealFs);
    let has = |op: MountOp| assert!(plan.ops.contains(&op), "missing {op:?} in {plan:#?}");
    has(MountOp::RootReadOnly);
    has(MountOp::TmpOverlay { path: "/tmp".into() });
    has(MountOp::BindWritable { path: t.p("proj"), kind: FileKind::Dir });
    has(MountOp::BindReadOnly { path: t.p("proj/.bashrc"), kind: FileKind::File });
    has(MountOp::BindReadOnly { path: t.p("proj/sub/.zshrc"), kind: FileKind::File });
    has(MountOp::BindReadOnly { path: t.p("proj/.vscode"), kind: FileKind::Dir });
    has(MountOp::BindReadOnly { path: t.p("proj/.git/config"), kind: FileKind::File });
    has(MountOp::BlockCreate { path: t.p("proj/.zshrc") });
    has(MountOp::BlockCreate { path: t.p("proj/.git/hooks") });
    has(MountOp::BlockCreate { path: t.p("proj/.mcp.json") });
    has(MountOp::BindReadOnly { path: t.p("proj/keys/a.pem"), kind: FileKind::File });
    has(MountOp::BindReadOnly { path: t.p("proj/keys/b.pem"), kind: FileKind::File });
    has(MountOp::MaskDir { path: t.p("home/.ssh") });
    has(MountOp::BindReadOnly { path: t.p("home/.ssh/known_hosts"), kind: FileKind::File });
    // Deeper than the search depth: not found, so not mounted.
    assert!(!plan.ops.iter().any(|o| o.path() == t.p("proj/a/b/c/.profile")));
    // Missing .claude: its protected subdirectories are blocked, not .claude itself.
    has(MountOp::BlockCreate { path: t.p("proj/.claude/commands") });
    assert!(!plan.ops.iter().any(|o| o.path() == t.p("proj/.claude")));
    assert!(plan.notes.iter().any(|n| n.contains("absent-dir") && n.contains("does not exist")), "{:?}", plan.notes);
    // Parents come before children.
    let pos = |path: PathBuf| plan.ops.iter().position(|o| o.path() == path).unwrap();
    assert!(pos(t.p("home/.ssh")) < pos(t.p("home/.ssh/known_hosts")));
    assert!(pos(t.p("proj")) < pos(t.p("proj/.bashrc")));
}

#[test]
fn under_the_private_tmp_only_denied_reads_and_host_writes_are_mounted() {
    let t = Tree::new(&[], &["proj", "home"]);
    let dir = tempfile::tempdir_in("/tmp").unwrap();
    let d = std::fs::canonicalize(dir.path()).unwrap();
    for f in ["secret", "open", "shared/x"] {
        std::fs::create_dir_all(d.join(f).parent().unwrap()).unwrap();
        std::fs::write(d.join(f), "x").unwrap();
    }
    let text = format!(
        r#"{{"filesystem": {{"denyRead": ["{0}/secret"], "allowRead": ["{0}/open"], "allowWrite": ["{0}/shared"],
            "denyWrite": ["{0}/open"]}}}}"#,
        d.display()
    );
    let p = from_text(Some(&text), None, &t.ctx(), &RealFs).unwrap();
    let plan = p.mount_plan(&RealFs);
    assert!(plan.ops.contains(&MountOp::TmpOverlay { path: "/tmp".into() }));
    assert!(plan.ops.contains(&MountOp::MaskFile { path: d.join("secret") }), "{plan:#?}");
    assert!(plan.ops.contains(&MountOp::BindWritable { path: d.join("shared"), kind: FileKind::Dir }));
    // Readable and not writable: the overlay already keeps writes private.
    assert!(!plan.ops.iter().any(|o| o.path() == d.join("open")), "{plan:#?}");
    // Nothing is created on the host, so nothing needs blocking there.
    let blocked: Vec<_> =
        plan.ops.iter().filter(|o| matches!(o, MountOp::BlockCreate { path } if path.starts_with(&d))).collect();
    assert!(blocked.iter().all(|o| o.path().starts_with(d.join("shared"))), "{blocked:?}");
}

#[test]
fn host_tmp_is_bound_when_granted() {
    let t = Tree::new(&[], &["proj", "home"]);
    let p = from_text(Some(r#"{"filesystem": {"allowWrite": ["/tmp"]}}"#), None, &t.ctx(), &RealFs).unwrap();
    let plan = p.mount_plan(&RealFs);
    assert!(!plan.ops.contains(&MountOp::TmpOverlay { path: "/tmp".into() }));
    assert!(plan.ops.iter().any(|o| matches!(o, MountOp::BindWritable { path, .. } if path == Path::new("/tmp"))));
}

#[test]
fn ignore_violations_matching() {
    let p = policy(r#"{"ignoreViolations": {"*": ["/usr/lib"], "git push": ["/nonexistent/home/.gitconfig"]}}"#);
    assert!(p.is_ignored("anything", Path::new("/usr/lib/x")));
    assert!(p.is_ignored("git push origin", Path::new("/nonexistent/home/.gitconfig")));
    assert!(!p.is_ignored("git pull", Path::new("/nonexistent/home/.gitconfig")));
    assert!(!p.is_ignored("ls", Path::new("/etc/shadow")));
}

/// Found by the settings fuzz target: keys went raw into the message.
#[test]
fn regression_control_characters_in_keys_stay_escaped() {
    let e = from_text(Some("{\"\\n\\u001b[31m\":[]}"), None, &ctx(), &RealFs).unwrap_err().to_string();
    assert!(!e.contains('\n') && !e.contains('\u{1b}'), "{e:?}");
    assert!(e.contains("\\n"), "{e}");
}

/// Found while fuzzing: a file name that is not UTF-8 made explain() panic.
#[test]
fn regression_explain_survives_non_utf8_file_names() {
    use std::os::unix::ffi::OsStrExt;
    let t = Tree::new(&[], &["proj", "home", "secrets"]);
    std::fs::write(t.p("secrets").join(std::ffi::OsStr::from_bytes(b"bad\xffname")), "x").unwrap();
    let text = format!(r#"{{"filesystem": {{"denyRead": ["{}/*"]}}}}"#, t.p("secrets").display());
    let p = from_text(Some(&text), None, &t.ctx(), &RealFs).unwrap();
    let v = p.explain(&p.mount_plan(&RealFs));
    assert!(v["mountPlan"]["ops"].to_string().contains("bad\u{fffd}name"), "{v}");
}

/// From the security review: `link/../x` was normalized before the symlink.
#[test]
fn regression_dotdot_after_a_symlink_follows_the_symlink() {
    let t = Tree::new(&["proj/a/secret", "proj/secret"], &["proj/a/b", "home"]);
    std::os::unix::fs::symlink(t.p("proj/a/b"), t.p("proj/link")).unwrap();
    let p = from_text(Some(r#"{"filesystem": {"denyRead": ["link/../secret"]}}"#), None, &t.ctx(), &RealFs).unwrap();
    assert!(!p.decide_path(&t.p("proj/a/secret"), FsOp::Read).is_allowed());
}

#[test]
fn created_paths_are_judged_by_the_plan_and_the_deny_rules() {
    use crate::{CreateRules, Creation};
    let t = Tree::new(&["proj/src/main.rs"], &["proj/.claude", "proj/sub", "out"]);
    let text = r#"{"filesystem": {"allowWrite": [".", "../out"], "denyWrite": ["secrets", "**/*.pem"]}}"#;
    let p = from_text(Some(text), None, &t.ctx(), &RealFs).unwrap();
    let plan = p.mount_plan(&RealFs);
    let rules = CreateRules::new(&p.filesystem, &plan, &RealFs).expect("protected paths are missing");
    // The init receives the rules as JSON: the globs must compile again.
    let back: CreateRules = serde_json::from_str(&serde_json::to_string(&rules).unwrap()).unwrap();
    for r in [&rules, &back] {
        let denied = |rel: &str, how| r.decide(&t.p(rel), how, &|_| false).is_some();
        assert!(denied("proj/.mcp.json", Creation::New), "missing protected file at start");
        assert!(denied("proj/.vscode", Creation::New), "missing protected directory");
        assert!(denied("proj/.vscode/tasks.json", Creation::New));
        assert!(denied("proj/.claude/commands", Creation::New), "below a directory that existed");
        // Missing names are protected directly in a writable root and in the
        // directories that existed at start (within the search depth); `.git`
        // may be created in the root, its hooks and config may not.
        assert!(denied("proj/sub/.bashrc", Creation::New));
        assert!(denied("proj/sub/.git/hooks/pre-commit", Creation::New));
        let new_dir = |d: &Path| d == t.p("proj/sub/new");
        assert!(r.decide(&t.p("proj/sub/new/.bashrc"), Creation::New, &new_dir).is_none(), "inside a new directory");
        assert!(r.decide(&t.p("proj/.bashrc"), Creation::New, &|_| true).is_some(), "the root's own are always judged");
        let git_new = |d: &Path| d == t.p("proj/sub/.git");
        assert!(
            r.decide(&t.p("proj/sub/.git/hooks"), Creation::New, &git_new).is_some(),
            "a new .git in an old directory"
        );
        assert!(denied("proj/.git/hooks", Creation::New));
        assert!(denied("proj/.git/config", Creation::New));
        assert!(!denied("proj/.git", Creation::NewDir), "mkdir .git");
        assert!(denied("proj/.git", Creation::New), "a gitdir: file pointing elsewhere");
        assert!(denied("proj/.git", Creation::Carrying), "not moved in with hooks inside");
        // Routes to code that git on the host would run (issue 12).
        for rel in [
            "proj/.git/commondir",
            "proj/.git/config.worktree",
            "proj/.git/worktrees/wt/commondir",
            "proj/.git/modules/m/config",
            "proj/.git/modules/m/hooks/pre-commit",
            "proj/sub/.git/commondir",
        ] {
            assert!(denied(rel, Creation::New), "{rel}");
        }
        assert!(!denied("proj/sub/.git", Creation::NewDir));
        assert!(denied("proj/sub/.git", Creation::New), "a gitdir: file in an old subdirectory");
        assert!(denied("proj/sub/.git", Creation::Carrying), "a prepared repository moved in");
        assert!(denied("proj/sub/.claude", Creation::Carrying), "a prepared .claude moved in");
        assert!(!denied("proj/sub/.claude", Creation::NewDir));
        assert!(!denied("proj/a/b/c/.git", Creation::New), "deeper than the search depth");
        assert!(!denied("proj/.claude", Creation::New), ".claude itself is not protected");
        assert!(denied("proj/.claude", Creation::Carrying), "but it may not be replaced by one with commands/");
        assert!(denied("proj/secrets", Creation::New), "denyWrite literal that did not exist");
        assert!(denied("proj/a/b/key.pem", Creation::New), "denyWrite glob, for a new file");
        assert!(!denied("proj/src/lib.rs", Creation::New));
        assert!(denied("proj/.claude/settings.json", Creation::New), "Claude Code runs its hooks");
        assert!(denied("proj/.claude/settings.local.json", Creation::New));
        assert!(!denied("proj/.claude/notes.md", Creation::New));
        let repo_new = |d: &Path| d == t.p("proj/newrepo");
        let in_new = r.decide(&t.p("proj/newrepo/.git/hooks"), Creation::New, &repo_new);
        assert!(in_new.is_none(), "a repository the program creates is its own");
        let worktree_new = r.decide(&t.p("proj/newrepo/.git"), Creation::New, &repo_new);
        assert!(worktree_new.is_none(), "a worktree's .git file in a new directory is its own");
        assert!(denied("out/.mcp.json", Creation::New), "protected in every writable root");
        // Outside every allowWrite root the mounts decide.
        assert!(r.decide(Path::new("/tmp/.mcp.json"), Creation::New, &|_| false).is_none());
    }
    // What a rename brings along: a glob's literal part beneath the new path.
    let gh = from_text(
        Some(r#"{"filesystem": {"allowWrite": ["."], "denyWrite": [".github/**", "**/*.pem"]}}"#),
        None,
        &t.ctx(),
        &RealFs,
    )
    .unwrap();
    let r = CreateRules::new(&gh.filesystem, &gh.mount_plan(&RealFs), &RealFs).unwrap();
    assert!(r.decide(&t.p("proj/.github"), Creation::Carrying, &|_| false).is_some(), "mv t .github");
    assert!(r.decide(&t.p("proj/.github"), Creation::New, &|_| false).is_none(), "mkdir .github is fine");
    assert!(r.decide(&t.p("proj/.github/workflows"), Creation::New, &|_| false).is_some());
    assert!(r.globs_reach_below(&t.p("proj/x")), "**/*.pem could match inside a renamed directory");
    assert!(!r.globs_reach_below(&t.p("out/x")));
    // The cheap filter never hides a refusal.
    let name = |n: &str| std::ffi::OsStr::new(n).to_owned();
    assert!(rules.could_refuse(&name(".mcp.json"), Creation::New));
    let no_deny = from_text(Some(r#"{"filesystem": {"allowWrite": ["."]}}"#), None, &t.ctx(), &RealFs).unwrap();
    let r = CreateRules::new(&no_deny.filesystem, &no_deny.mount_plan(&RealFs), &RealFs).unwrap();
    assert!(r.could_refuse(&name(".mcp.json"), Creation::New));
    assert!(!r.could_refuse(&name("main.rs"), Creation::New));
    assert!(r.could_refuse(&name("anything"), Creation::Carrying));
    // Nothing to refuse: no rules at all.
    let closed = from_text(None, None, &t.ctx(), &RealFs).unwrap();
    assert!(CreateRules::new(&closed.filesystem, &closed.mount_plan(&RealFs), &RealFs).is_none());
}

#[test]
fn built_in_default_for_untrusted_code() {
    use crate::{BuiltInDefault, LoadOptions, SettingsSource, load};
    let opts = |built_in, preset| LoadOptions {
        explicit: None,
        default_file: None,
        preset,
        built_in,
        limit_flags: Default::default(),
        srt_required_keys: true,
    };
    let (p, source) = load(&opts(BuiltInDefault::UntrustedCode, None), &ctx(), &RealFs).unwrap();
    assert_eq!(source, SettingsSource::BuiltInUntrustedCode);
    for secret in [
        "/nonexistent/home/.ssh/id_rsa",
        "/nonexistent/home/.aws/credentials",
        "/nonexistent/home/.config/gh/hosts.yml",
        "/nonexistent/home/.cargo/credentials.toml",
        "/nonexistent/home/.netrc",
        "/nonexistent/home/.srt-settings.json",
    ] {
        assert!(!read_ok(&p, secret), "{secret}");
    }
    assert!(read_ok(&p, "/nonexistent/home/.bashrc.d/x"));
    assert!(read_ok(&p, "/usr/bin/python3"));
    assert!(!write_ok(&p, "/nonexistent/proj/x"));
    assert!(!host_ok(&p, "example.com", 443));
    // srt's own default reads everything; a preset named on the command line replaces the default.
    let (p, source) = load(&opts(BuiltInDefault::Srt, None), &ctx(), &RealFs).unwrap();
    assert_eq!(source, SettingsSource::BuiltIn);
    assert!(read_ok(&p, "/nonexistent/home/.ssh/id_rsa"));
    let (p, source) = load(&opts(BuiltInDefault::UntrustedCode, Some(Preset::Permissive)), &ctx(), &RealFs).unwrap();
    assert_eq!(source, SettingsSource::BuiltIn);
    assert!(host_ok(&p, "example.com", 443));
}

#[test]
fn untrusted_code_gets_limits_the_settings_leave_open() {
    use std::time::Duration;
    let p = policy(r#"{"limits": {"memoryBytes": 67108864}}"#);
    let l = p.limits.or_untrusted_defaults(Duration::from_secs(20));
    assert_eq!(l.memory_bytes, Some(64 << 20), "the settings' own value stays");
    assert_eq!(l.max_processes, Some(crate::Limits::UNTRUSTED_MAX_PROCESSES));
    assert_eq!(l.cpu_time_seconds, Some(20.0));
    let l = policy("{}").limits.or_untrusted_defaults(Duration::from_millis(100));
    assert_eq!(l.memory_bytes, Some(crate::Limits::UNTRUSTED_MEMORY_BYTES));
    assert_eq!(l.cpu_time_seconds, Some(1.0), "at least a second of CPU");
}

#[test]
fn no_proxy_leaves_out_allowed_loopback_literals() {
    assert_eq!(policy("{}").no_proxy(), "localhost,127.0.0.1,::1");
    let p = policy(r#"{"network": {"allowedDomains": ["127.0.0.1:8000", "example.com"]}}"#);
    assert_eq!(p.no_proxy(), "localhost,::1");
    let p = policy(r#"{"network": {"allowedDomains": ["[::1]:8000"]}}"#);
    assert_eq!(p.no_proxy(), "localhost,127.0.0.1");
}

#[test]
fn srt_0_0_83_keys() {
    let p = policy(
        r#"{"git": {"safeDirectories": ["/work/a", "/work/b"]}, "bwrapPath": "/usr/bin/bwrap",
                       "network": {"strictAllowlist": true}}"#,
    );
    let pairs = |v: &[(&str, &str)]| v.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>();
    assert_eq!(
        p.git_env(None),
        pairs(&[
            ("GIT_CONFIG_COUNT", "4"),
            ("GIT_CONFIG_KEY_0", "safe.directory"),
            ("GIT_CONFIG_VALUE_0", "/work/a"),
            ("GIT_CONFIG_KEY_1", "safe.directory"),
            ("GIT_CONFIG_VALUE_1", "/work/a/*"),
            ("GIT_CONFIG_KEY_2", "safe.directory"),
            ("GIT_CONFIG_VALUE_2", "/work/b"),
            ("GIT_CONFIG_KEY_3", "safe.directory"),
            ("GIT_CONFIG_VALUE_3", "/work/b/*"),
        ])
    );
    // After the caller's own entries; an explicit 0 opts out.
    let after = p.git_env(Some("2"));
    assert_eq!(after[0], ("GIT_CONFIG_COUNT".to_string(), "6".to_string()));
    assert_eq!(after[1], ("GIT_CONFIG_KEY_2".to_string(), "safe.directory".to_string()));
    assert!(p.git_env(Some("0")).is_empty());
    let many: Vec<String> = (0..9).map(|i| format!("\"/r/{i}/\"")).collect();
    let m = policy(&format!(r#"{{"git": {{"safeDirectories": [{}]}}}}"#, many.join(",")));
    assert_eq!(
        m.git_env(None),
        pairs(&[("GIT_CONFIG_COUNT", "1"), ("GIT_CONFIG_KEY_0", "safe.directory"), ("GIT_CONFIG_VALUE_0", "*")])
    );
    assert_eq!(p.keys_without_effect(), ["bwrapPath", "network.strictAllowlist"]);
    assert!(policy("{}").git_env(None).is_empty());
    for (text, path) in [
        (r#"{"bwrapPath": "bwrap"}"#, "bwrapPath"),
        (r#"{"seccomp": {"applyPath": "rel"}}"#, "seccomp.applyPath"),
        (r#"{"git": {"safeDirectories": [""]}}"#, "git.safeDirectories[0]"),
        (r#"{"network": {"requireHostMatch": 1}}"#, "network.requireHostMatch"),
        (r#"{"network": {"mitmProxy": {"socketPath": "/x", "domains": []}}}"#, "network.mitmProxy.domains"),
        (r#"{"network": {"mitmProxy": {"socketPath": "", "domains": ["a.com"]}}}"#, "network.mitmProxy.socketPath"),
        (r#"{"network": {"mitmProxy": {"socketPath": "/x", "domains": ["*.com"]}}}"#, "network.mitmProxy.domains[0]"),
        (r#"{"network": {"mitmProxy": {"socketPath": "/x"}}}"#, "network.mitmProxy"),
        (r#"{"network": {"parentProxy": {"http": "socks5://p:1"}}}"#, "network.parentProxy.http"),
        (r#"{"network": {"parentProxy": {"https": "ftp://p:1"}}}"#, "network.parentProxy.https"),
        (r#"{"network": {"parentProxy": {"ftp": "x"}}}"#, "network.parentProxy.ftp"),
        (r#"{"network": {"stripResponseHeaders": ["set cookie"]}}"#, "network.stripResponseHeaders[0]"),
        (r#"{"network": {"stripResponseHeaders": [""]}}"#, "network.stripResponseHeaders[0]"),
        (r#"{"network": {"ambiguousRequestTarget": "maybe"}}"#, "network.ambiguousRequestTarget"),
        (r#"{"network": {"refuseOpaqueTunnels": true}}"#, "network.refuseOpaqueTunnels"),
        (r#"{"network": {"tlsTerminate": {"caCertPath": "/ca.pem"}}}"#, "network.tlsTerminate.caKeyPath"),
        (r#"{"network": {"tlsTerminate": {"maxTunnels": 0}}}"#, "network.tlsTerminate.maxTunnels"),
        (r#"{"network": {"tlsTerminate": {"handshakeTimeoutMs": 50}}}"#, "network.tlsTerminate.handshakeTimeoutMs"),
        (r#"{"network": {"tlsTerminate": {"excludeDomains": ["*.com"]}}}"#, "network.tlsTerminate.excludeDomains[0]"),
        (r#"{"network": {"tlsTerminate": {"extraCaCertPaths": [""]}}}"#, "network.tlsTerminate.extraCaCertPaths[0]"),
        (r#"{"network": {"tlsTerminate": {"mode": "x"}}}"#, "network.tlsTerminate.mode"),
        (r#"{"credentials": {"envVars": [{"name": "T", "mode": "mask"}]}}"#, "credentials.envVars[0].mode"),
        (r#"{"credentials": {"envVars": [{"name": "1T", "mode": "deny"}]}}"#, "credentials.envVars[0].name"),
        (
            r#"{"credentials": {"envVars": [{"name": "T", "mode": "deny", "extract": "(x)"}]}}"#,
            "credentials.envVars[0].extract",
        ),
        (r#"{"credentials": {"files": [{"path": "~/.netrc", "mode": "mask"}]}}"#, "credentials.files[0].mode"),
        (r#"{"credentials": {"awsPairs": []}}"#, "credentials.awsPairs"),
        (r#"{"credentials": {"injectHosts": []}}"#, "credentials.injectHosts"),
        (
            r#"{"network": {"allowedDomains": ["a.com"], "tlsTerminate": {}}, "credentials": {"envVars": [{"name": "T", "mode": "mask", "injectHosts": ["b.com"]}]}}"#,
            "credentials.envVars[0].injectHosts[0]",
        ),
        (
            r#"{"network": {"allowedDomains": ["a.com"], "tlsTerminate": {}}, "credentials": {"envVars": [{"name": "T", "mode": "mask", "injectHosts": []}]}}"#,
            "credentials.envVars[0].injectHosts",
        ),
    ] {
        let e = from_text(Some(text), None, &ctx(), &RealFs).unwrap_err();
        assert_eq!(e.path, path, "{text}: {e}");
    }
}

#[test]
fn request_keys_and_upstream_routes() {
    let p = policy(
        r#"{"network": {"allowedDomains": ["*.example.com", "other.org"], "requireHostMatch": true,
            "stripResponseHeaders": ["Set-Cookie", "x_secret"], "ambiguousRequestTarget": "normalize",
            "allowPlaintextHeaderSet": true,
            "mitmProxy": {"socketPath": "/run/mitm.sock", "domains": ["api.example.com"]},
            "parentProxy": {"http": "http://u:pw@corp:3128", "noProxy": "other.org"}}}"#,
    );
    let r = p.request_rules();
    assert!(r.require_host_match && r.strips("SET_COOKIE") && r.strips("x-secret") && !r.strips("cookie"));
    assert_eq!(r.judge_target("/a/../b"), crate::TargetDecision::Forward("/b".into()));
    assert_eq!(p.keys_without_effect(), ["network.allowPlaintextHeaderSet"]);
    let parent = p.parent_proxy(&|_| None).expect("settings name one");
    assert_eq!(p.route(Some(&parent), "api.example.com", 443, true), crate::Route::Mitm(Path::new("/run/mitm.sock")));
    let via_parent = p.route(Some(&parent), "www.example.com", 443, true);
    assert!(matches!(via_parent, crate::Route::Parent(u) if u.host == "corp" && u.authorization.is_some()));
    assert_eq!(p.route(Some(&parent), "other.org", 80, false), crate::Route::Direct, "noProxy");
    assert_eq!(p.route(None, "www.example.com", 443, true), crate::Route::Direct);
    // Without settings, srt's own environment names the parent proxy.
    let env = |k: &str| (k == "HTTPS_PROXY").then(|| "http://envproxy:8080".to_string());
    let bare = policy("{}");
    assert_eq!(bare.parent_proxy(&env).unwrap().https.unwrap().host, "envproxy");
    assert!(bare.request_rules() == &crate::RequestRules::default());
}

#[test]
fn literal_path_entries() {
    let p = policy(
        r#"{"filesystem": {"allowWrite": ["."], "denyWrite": [{"path": "weird[1].txt", "literal": true}],
            "denyRead": [{"path": "~/not/yet/*.key", "literal": true}]}}"#,
    );
    assert!(!write_ok(&p, "/nonexistent/proj/weird[1].txt"), "the literal name");
    assert!(write_ok(&p, "/nonexistent/proj/weird1.txt"), "never a pattern");
    assert!(!read_ok(&p, "/nonexistent/home/not/yet/*.key"));
    assert!(read_ok(&p, "/nonexistent/home/not/yet/a.key"));
    // The settings keep the entry's shape.
    let back = serde_json::to_value(&p.settings.filesystem.deny_write).unwrap();
    assert_eq!(back, serde_json::json!([{"path": "weird[1].txt", "literal": true}]));
    for text in [
        r#"{"filesystem": {"denyWrite": [{"path": "x", "literal": false}]}}"#,
        r#"{"filesystem": {"denyWrite": [{"path": "x", "literal": true, "extra": 1}]}}"#,
        r#"{"filesystem": {"denyWrite": [{"literal": true}]}}"#,
        r#"{"filesystem": {"denyWrite": [3]}}"#,
    ] {
        let e = from_text(Some(text), None, &ctx(), &RealFs).unwrap_err();
        assert_eq!(e.path, "filesystem.denyWrite[0]", "{text}: {e}");
        assert!(e.message.contains("literal"), "{text}: {e}");
    }
}

#[test]
fn deny_read_adds_a_literal_rule() {
    let mut p = policy("{}");
    p.deny_read(Path::new("/nonexistent/etc/srt[1].json"), &RealFs);
    assert!(!read_ok(&p, "/nonexistent/etc/srt[1].json"));
    assert!(read_ok(&p, "/nonexistent/etc/srt1.json"), "never a glob");
}

#[test]
fn filesystem_disabled_allows_everything_and_protects_nothing() {
    let p = policy(r#"{"filesystem": {"disabled": true, "denyRead": ["~/.ssh"], "denyWrite": ["."]}}"#);
    for path in ["/nonexistent/home/.ssh/id_rsa", "/nonexistent/proj/.bashrc", "/etc/passwd", "/tmp/x"] {
        assert!(read_ok(&p, path) && write_ok(&p, path), "{path}");
    }
    assert!(p.filesystem.protected_entries().is_empty());
    let plan = p.mount_plan(&RealFs);
    assert_eq!(plan.ops[0], MountOp::RootWritable);
    assert!(!plan.ops.iter().any(|o| matches!(o, MountOp::TmpOverlay { .. } | MountOp::MaskDir { .. })));
    assert!(plan.ops.contains(&MountOp::BindReadOnly { path: "/sys".into(), kind: crate::FileKind::Dir }));
    assert!(crate::CreateRules::new(&p.filesystem, &plan, &RealFs).is_none(), "nothing to mediate");
}

#[test]
fn srt_files_name_the_keys_srt_requires() {
    use crate::settings::require_srt_keys;
    let full = r#"{"network": {"allowedDomains": [], "deniedDomains": []},
                   "filesystem": {"denyRead": [], "allowWrite": [], "denyWrite": []}}"#;
    assert!(require_srt_keys(&serde_json::from_str(full).unwrap()).is_ok());
    for (text, path) in [
        ("{}", "network"),
        (r#"{"network": {"allowedDomains": []}}"#, "network.deniedDomains"),
        (r#"{"network": {"allowedDomains": [], "deniedDomains": []}, "filesystem": {}}"#, "filesystem.denyRead"),
        (
            r#"{"network": {"allowedDomains": [], "deniedDomains": []}, "filesystem": {"denyRead": [], "allowWrite": []}}"#,
            "filesystem.denyWrite",
        ),
    ] {
        let e = require_srt_keys(&serde_json::from_str(text).unwrap()).unwrap_err();
        assert_eq!(e.path, path, "{text}");
        assert!(e.message.contains("[] for none"), "{e}");
    }
    // Through load: a file on its own is held to it, one refining a preset is not.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("s.json");
    std::fs::write(&file, r#"{"network": {"allowedDomains": ["example.com"]}}"#).unwrap();
    let opts = |preset| crate::LoadOptions {
        explicit: Some(file.clone()),
        default_file: None,
        preset,
        built_in: crate::BuiltInDefault::Srt,
        limit_flags: Default::default(),
        srt_required_keys: true,
    };
    let e = crate::load(&opts(None), &ctx(), &RealFs).unwrap_err();
    assert!(e.to_string().contains("network.deniedDomains"), "{e}");
    assert!(crate::load(&opts(Some(Preset::Balanced)), &ctx(), &RealFs).is_ok());
}

#[test]
fn tls_termination_settings() {
    let p = policy(
        r#"{"network": {"allowedDomains": ["*.example.com"], "refuseOpaqueTunnels": true,
            "tlsTerminate": {"excludeDomains": ["pinned.example.com"], "maxTunnels": 3, "handshakeTimeoutMs": 2500,
                             "caCertPath": "ca.pem", "caKeyPath": "~/ca.key", "extraCaCertPaths": ["/etc/corp.pem"]}}}"#,
    );
    let t = p.tls_termination().expect("set");
    assert!(t.terminates("api.example.com", 443));
    assert!(!t.terminates("pinned.example.com", 443));
    assert_eq!((t.max_tunnels, t.handshake_timeout), (3, std::time::Duration::from_millis(2500)));
    assert!(t.refuse_opaque);
    let (cert, key) = t.ca_files.clone().unwrap();
    assert_eq!(
        (cert.as_path(), key.as_path()),
        (Path::new("/nonexistent/proj/ca.pem"), Path::new("/nonexistent/home/ca.key"))
    );
    assert!(!read_ok(&p, "/nonexistent/home/ca.key"), "red team: the CA key the user gave is never readable inside");
    assert!(read_ok(&p, "/nonexistent/proj/ca.pem"), "the certificate is public");
    let d = policy(r#"{"network": {"tlsTerminate": {}}}"#);
    let t = d.tls_termination().unwrap();
    assert_eq!(
        (t.max_tunnels, t.handshake_timeout),
        (crate::tls::DEFAULT_MAX_TUNNELS, crate::tls::DEFAULT_HANDSHAKE_TIMEOUT)
    );
    assert!(t.ca_files.is_none() && !t.refuse_opaque);
    // A --control-fd line changes excludeDomains only.
    let line = policy(r#"{"network": {"tlsTerminate": {"excludeDomains": ["new.example.com"], "maxTunnels": 9}}}"#);
    let live = p.with_network_of(&line);
    let t = live.tls_termination().unwrap();
    assert!(t.terminates("pinned.example.com", 443) && !t.terminates("new.example.com", 443));
    assert_eq!(t.max_tunnels, 3);
}

#[test]
fn credentials_settings() {
    let p = policy(
        r#"{"network": {"allowedDomains": ["*.github.com", "registry.npmjs.org"], "tlsTerminate": {}},
            "credentials": {"envVars": [{"name": "GITHUB_TOKEN", "mode": "mask", "injectHosts": ["api.github.com"]},
                                        {"name": "NPM_TOKEN", "mode": "mask"}, {"name": "AWS_SECRET", "mode": "deny"}],
                            "files": [{"path": "~/.netrc", "mode": "deny"}, {"path": {"path": "~/odd[1]", "literal": true}, "mode": "deny"}]}}"#,
    );
    let c = &p.credentials;
    assert_eq!(c.env.len(), 3);
    assert_eq!(c.env[0].inject.iter().map(|d| d.source.as_str()).collect::<Vec<_>>(), ["api.github.com"]);
    assert_eq!(c.env[1].inject.len(), 2, "defaults to allowedDomains");
    assert_eq!(c.env[2].mode, crate::CredentialMode::Deny);
    assert!(!read_ok(&p, "/nonexistent/home/.netrc"), "a denied file is unreadable");
    assert!(!read_ok(&p, "/nonexistent/home/odd[1]"));
    assert!(read_ok(&p, "/nonexistent/home/odd1"));
    let plain =
        policy(r#"{"credentials": {"allowPlaintextInject": true, "envVars": [{"name": "T", "mode": "mask"}]}}"#);
    assert!(plain.credentials.allow_plaintext_inject);
}

#[test]
fn glob_names_that_exist_and_trailing_globstar_in_allow_write() {
    let dir = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(dir.path()).unwrap();
    std::fs::create_dir_all(root.join("weird[1]")).unwrap();
    std::fs::write(root.join("weird[1]/secret"), "x").unwrap();
    std::fs::create_dir_all(root.join("src")).unwrap();
    let ctx = PathContext { cwd: root.clone(), home: "/nonexistent/home".into() };
    let text = r#"{"filesystem": {"denyRead": ["weird[1]"], "allowWrite": ["src/**"]}}"#;
    let p = from_text(Some(text), None, &ctx, &RealFs).unwrap();
    // Read both as the pattern (weird1) and as the existing name it spells.
    assert!(!read_ok(&p, root.join("weird[1]/secret").to_str().unwrap()));
    assert!(!read_ok(&p, root.join("weird1/x").to_str().unwrap()));
    // src/** grants src itself: new files may be made there.
    assert!(write_ok(&p, root.join("src/new.txt").to_str().unwrap()));
    assert!(!write_ok(&p, root.join("other.txt").to_str().unwrap()));
    let plan = p.mount_plan(&RealFs);
    assert!(
        plan.ops.contains(&MountOp::BindWritable { path: root.join("src"), kind: crate::FileKind::Dir }),
        "{plan:?}"
    );
}
