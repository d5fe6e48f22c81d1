//! Black-box tests of the `srt` binary's command line: each runs the real
//! binary in a fresh temporary directory with its own HOME.

use std::path::Path;
use std::process::{Command, Output};

mod common;
use common::{srt_bin, srt_file};

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("home")).unwrap();
        std::fs::create_dir(dir.path().join("work")).unwrap();
        Env { dir }
    }
    fn path(&self, rel: &str) -> std::path::PathBuf {
        self.dir.path().join(rel)
    }
    fn write(&self, rel: &str, text: &str) {
        std::fs::write(self.path(rel), text).unwrap();
    }
    fn srt(&self, args: &[&str]) -> Output {
        Command::new(srt_bin())
            .args(args)
            .current_dir(self.path("work"))
            .env("HOME", self.path("home"))
            .output()
            .unwrap()
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn explain(env: &Env, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["--explain"];
    all.extend_from_slice(args);
    let o = env.srt(&all);
    assert!(o.status.success(), "{}", stderr(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn version_and_help() {
    let env = Env::new();
    let v = env.srt(&["--version"]);
    assert!(v.status.success());
    assert!(String::from_utf8_lossy(&v.stdout).starts_with("srt "));
    let h = env.srt(&["--help"]);
    assert!(h.status.success());
    let text = String::from_utf8_lossy(&h.stdout);
    for flag in ["--settings", "--explain", "--preset", "--timeout", "--memory", "--violations", "-c"] {
        assert!(text.contains(flag), "help mentions {flag}");
    }
}

#[test]
fn explain_builtin_default() {
    let env = Env::new();
    let v = explain(&env, &[]);
    assert_eq!(v["settingsSource"]["kind"], "built-in");
    assert_eq!(v["network"]["mode"], "none");
    assert_eq!(v["filesystem"]["allowWrite"], serde_json::json!([]));
    assert_eq!(v["mountPlan"]["ops"][0]["op"], "root-read-only");
}

#[test]
fn explain_reads_default_file_and_resolves_paths() {
    let env = Env::new();
    env.write(
        "home/.srt-settings.json",
        &srt_file(
            r#"{"network": {"allowedDomains": ["github.com"]}, "filesystem": {"denyRead": ["~/.ssh"], "allowWrite": ["."]}}"#,
        ),
    );
    let v = explain(&env, &[]);
    assert_eq!(v["settingsSource"]["kind"], "default-file");
    assert_eq!(v["network"]["mode"], "allow-list");
    let resolved = v["filesystem"]["denyRead"][0]["resolved"].as_str().unwrap();
    assert!(Path::new(resolved).ends_with("home/.ssh"), "{resolved}");
    let write = v["filesystem"]["allowWrite"][0]["resolved"].as_str().unwrap();
    assert!(Path::new(write).ends_with("work"), "{write}");
}

/// As srt 0.0.83: a file on its own names the five lists srt requires; one
/// that refines a preset need not.
#[test]
fn a_file_without_the_keys_srt_requires_is_refused() {
    let env = Env::new();
    let err = |o: &Output| String::from_utf8_lossy(&o.stderr).into_owned();
    env.write("partial.json", r#"{"network": {"allowedDomains": ["github.com"]}, "filesystem": {"denyRead": []}}"#);
    let o = env.srt(&["-s", "../partial.json", "--", "true"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(err(&o).contains("network.deniedDomains: is required"), "{}", err(&o));
    let o = env.srt(&["--preset", "balanced", "-s", "../partial.json", "--", "true"]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    env.write("home/.srt-settings.json", "{}");
    let o = env.srt(&["--", "true"]);
    assert_eq!(o.status.code(), Some(125), "the default file too");
    assert!(err(&o).contains("network: is required"), "{}", err(&o));
}

#[test]
fn explain_preset_refined_by_file() {
    let env = Env::new();
    env.write("s.json", r#"{"network": {"deniedDomains": ["evil.example"]}}"#);
    let v = explain(&env, &["--preset", "permissive", "--settings", "../s.json"]);
    assert_eq!(v["preset"], "permissive");
    assert_eq!(v["network"]["mode"], "all-except-denied");
    assert_eq!(v["network"]["deniedDomains"][0]["entry"], "evil.example");
}

#[test]
fn limit_flags_override_settings() {
    let env = Env::new();
    env.write("s.json", &srt_file(r#"{"limits": {"memoryBytes": 1073741824, "maxProcesses": 10}}"#));
    let v = explain(&env, &["-s", "../s.json", "--memory", "256M", "--timeout", "5"]);
    assert_eq!(v["limits"]["memoryBytes"], 256 * 1024 * 1024);
    assert_eq!(v["limits"]["maxProcesses"], 10);
    assert_eq!(v["limits"]["wallTimeSeconds"], 5.0);
}

#[test]
fn malformed_settings_exit_125_with_json_path() {
    let env = Env::new();
    env.write("bad.json", r#"{"network": {"allowedDomains": ["ok.com", "fine.org", "*.com"]}}"#);
    let o = env.srt(&["-s", "../bad.json", "--explain"]);
    assert_eq!(o.status.code(), Some(125));
    let e = stderr(&o);
    assert!(e.contains(r#"network.allowedDomains[2]: "*.com" is a top-level wildcard"#), "{e}");

    env.write("typo.json", r#"{"filesystem": {"alowWrite": ["."]}}"#);
    let o = env.srt(&["-s", "../typo.json", "--", "true"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(stderr(&o).contains("filesystem.alowWrite: unknown key"), "{}", stderr(&o));
}

#[test]
fn broken_default_file_is_an_error_not_a_fallback() {
    let env = Env::new();
    env.write("home/.srt-settings.json", "{ not json");
    let o = env.srt(&["--explain"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(stderr(&o).contains("not valid JSON"), "{}", stderr(&o));
}

#[test]
fn missing_explicit_settings_is_an_error() {
    let env = Env::new();
    let o = env.srt(&["--settings", "/nonexistent/srt.json", "--explain"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(stderr(&o).contains("cannot read settings file /nonexistent/srt.json"), "{}", stderr(&o));
}

#[test]
fn bad_arguments_exit_125() {
    let env = Env::new();
    for args in [&["--no-such-flag"][..], &["--memory", "lots", "--", "true"], &["--preset", "wild", "--explain"]] {
        let o = env.srt(args);
        assert_eq!(o.status.code(), Some(125), "{args:?}");
    }
    let o = env.srt(&[]);
    assert_eq!(o.status.code(), Some(125));
    assert!(stderr(&o).contains("nothing to run"));
}

#[test]
fn unknown_options_and_unenforceable_settings_are_refused() {
    let env = Env::new();
    let o = env.srt(&["--bogus"]);
    assert_eq!(o.status.code(), Some(125), "{}", stderr(&o));
    assert!(stderr(&o).contains("--bogus"), "{}", stderr(&o));
    // A program whose name starts with '-' still runs after `--`.
    let o = env.srt(&["--explain", "--", "-x"]);
    assert_ne!(o.status.code(), Some(0), "--explain with a program conflicts");
    env.write("out.json", &srt_file(r#"{"limits": {"maxOutputBytes": 10}}"#));
    let settings = env.path("out.json");
    let o = env.srt(&["-s", settings.to_str().unwrap(), "--", "true"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(stderr(&o).contains("maxOutputBytes"), "{}", stderr(&o));
}

/// Issue 9: `--timeout 1e20` aborted with a panic (exit 134) while the same
/// value in a settings file was a clean 125. Every bad number on the command
/// line is exit 125 with a message naming the flag.
#[test]
fn regression_bad_limit_flags_are_exit_125_naming_the_flag() {
    let env = Env::new();
    let cases: &[(&[&str], &str)] = &[
        (&["--timeout", "1e20"], "--timeout"),
        (&["--timeout", "nan"], "--timeout"),
        (&["--timeout", "inf"], "--timeout"),
        (&["--timeout", "0"], "--timeout"),
        (&["--cpu-time", "1e300"], "--cpu-time"),
        (&["--memory", "10"], "--memory"),
        (&["--memory", "99999999999999999999G"], "--memory"),
        (&["--max-processes", "0"], "--max-processes"),
        (&["--max-processes", "99999999999999999999"], "--max-processes"),
        (&["--max-processes", "5000000"], "--max-processes"),
        (&["--max-file-size", "0"], "--max-file-size"),
    ];
    for (args, flag) in cases {
        let mut argv = args.to_vec();
        argv.extend(["--", "true"]);
        let o = env.srt(&argv);
        assert_eq!(o.status.code(), Some(125), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(flag), "{args:?}: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"), "{args:?}: {}", stderr(&o));
    }
    // The flag overrides the file's value, which is checked all the same.
    env.write("home/.srt-settings.json", &srt_file(r#"{"limits": {"wallTimeSeconds": 5}}"#));
    let o = env.srt(&["--timeout", "1e20", "--", "true"]);
    assert_eq!(o.status.code(), Some(125), "{}", stderr(&o));
}
