//! A server registered without settings (`claude mcp add srt -- srt-mcp`)
//! must not hand the code it runs the user's credentials, nor let it write
//! outside the call's workspace; a server with a settings file keeps that
//! file from the code.

use std::io::Write;

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A fake home outside /tmp (the sandbox's /tmp is private, so a home there
/// would be unreadable whatever the policy says).
fn fake_home(name: &str) -> PathBuf {
    let home = srt_testkit::fresh_dir(&format!("mcp-{name}"));
    for d in [".ssh", ".aws", ".config/gh", "project"] {
        std::fs::create_dir_all(home.join(d)).unwrap();
    }
    std::fs::write(home.join(".ssh/id_rsa"), "SECRET-SSH-KEY\n").unwrap();
    std::fs::write(home.join(".aws/credentials"), "SECRET-AWS-KEY\n").unwrap();
    std::fs::write(home.join(".config/gh/hosts.yml"), "SECRET-GH-TOKEN\n").unwrap();
    std::fs::write(home.join(".netrc"), "SECRET-NETRC\n").unwrap();
    std::fs::write(home.join("project/notes.txt"), "ordinary notes\n").unwrap();
    home
}

/// One `execute_code` call (bash) through a fresh server; the structured result.
fn run(home: &Path, extra_args: &[&str], code: &str) -> serde_json::Value {
    call(
        Some(home),
        &home.join("project"),
        extra_args,
        "execute_code",
        serde_json::json!({"code": code, "language": "bash"}),
    )
}

/// One tool call through a fresh server started in `cwd` with `HOME` set
/// to `home` (unset for `None`); the structured result.
fn call(
    home: Option<&Path>,
    cwd: &Path,
    extra_args: &[&str],
    tool: &str,
    args: serde_json::Value,
) -> serde_json::Value {
    call_with_env(home, cwd, extra_args, &[], tool, args)
}

/// Like [`call`], with variables added to the server's environment.
fn call_with_env(
    home: Option<&Path>,
    cwd: &Path,
    extra_args: &[&str],
    env: &[(&str, &str)],
    tool: &str,
    args: serde_json::Value,
) -> serde_json::Value {
    let call = tool_call(1, tool, args);
    let mut cmd = Command::new(srt_mcp_bin());
    cmd.envs(env.iter().copied());
    match home {
        Some(h) => cmd.env("HOME", h),
        None => cmd.env_remove("HOME"),
    };
    let mut child = cmd
        .args(extra_args)
        .current_dir(cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(format!("{call}\n").as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value = serde_json::from_str(text.lines().next().unwrap_or("{}")).unwrap_or_default();
    assert!(
        v["result"]["structuredContent"].is_object(),
        "no result: {text}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    v["result"]["structuredContent"].clone()
}

#[test]
fn no_settings_keeps_credentials_and_the_home_out_of_reach() {
    let home = fake_home("default");
    let h = home.display();
    let code = format!(
        "cat {h}/project/notes.txt; cat {h}/.ssh/id_rsa {h}/.aws/credentials {h}/.config/gh/hosts.yml {h}/.netrc; \
         ls -a {h}/.ssh; echo planted > {h}/project/planted; echo done"
    );
    let r = run(&home, &[], &code);
    let all = format!("{}{}", r["stdout"], r["stderr"]);
    // The control: the same run reads an ordinary file of the same home.
    assert!(all.contains("ordinary notes"), "{r}");
    assert!(all.contains("done"), "{r}");
    for secret in ["SECRET-SSH-KEY", "SECRET-AWS-KEY", "SECRET-GH-TOKEN", "SECRET-NETRC"] {
        assert!(!all.contains(secret), "{secret} reached the code: {r}");
    }
    assert!(!r["stdout"].as_str().unwrap_or("").contains("id_rsa"), "~/.ssh was listed: {r}");
    assert!(!home.join("project/planted").exists(), "the code wrote outside its workspace");
    std::fs::remove_dir_all(&home).unwrap();
}

#[test]
fn the_servers_settings_file_is_unreadable() {
    let home = fake_home("settings");
    let settings = home.join("project/srt-mcp.json");
    std::fs::write(&settings, r#"{"ignoreViolations": {"SETTINGS-MARKER-7": ["/nonexistent"]}}"#).unwrap();
    let r = run(&home, &["--settings", settings.to_str().unwrap()], &format!("cat {}; echo done", settings.display()));
    let all = format!("{}{}", r["stdout"], r["stderr"]);
    assert!(all.contains("done"), "{r}");
    assert!(!all.contains("SETTINGS-MARKER-7"), "the code read the server's settings: {r}");
    // Red-team finding: named through a symlink and `..` (kernel order:
    // conf/sub/.. is conf), the file that was loaded is the one hidden.
    std::fs::create_dir_all(home.join("project/conf/sub")).unwrap();
    std::os::unix::fs::symlink("conf/sub", home.join("project/lnk")).unwrap();
    std::fs::rename(&settings, home.join("project/conf/s.json")).unwrap();
    let r =
        run(&home, &["--settings", "lnk/../s.json"], &format!("cat {}/project/conf/s.json; echo done", home.display()));
    let all = format!("{}{}", r["stdout"], r["stderr"]);
    assert!(all.contains("done"), "{r}");
    assert!(!all.contains("SETTINGS-MARKER-7"), "the code read the server's settings through lnk/..: {r}");
    std::fs::remove_dir_all(&home).unwrap();
}

/// Red-team finding: with `HOME` elsewhere or unset, `~` did not name the
/// account's home, whose credential stores stayed readable. They are
/// denied too (checked in the policy the server reports, so that the test
/// does not need to plant keys in the real home).
#[test]
fn the_accounts_own_home_is_covered_whatever_home_says() {
    let account_home = PathBuf::from(std::env::var_os("HOME").expect("HOME"));
    let fake = fake_home("account");
    for home in [Some(fake.as_path()), None] {
        let r = call(home, &fake.join("project"), &[], "discover_sandbox_config", serde_json::json!({}));
        let denied = r["policy"].to_string();
        for store in [".ssh", ".aws", ".config/gh"] {
            let want = account_home.join(store).display().to_string();
            assert!(denied.contains(&format!("\"{want}\"")), "{want} not denied with HOME={home:?}: {denied}");
        }
    }
    std::fs::remove_dir_all(&fake).unwrap();
}

/// srt 0.0.83's credentials in srt-mcp: the code sees the placeholder of a
/// masked variable and nothing of a denied one; discover names both and
/// shows no value.
#[test]
fn credentials_reach_the_code_as_placeholders_only() {
    let home = fake_home("credentials");
    let settings = home.join("srt-mcp.json");
    std::fs::write(
        &settings,
        r#"{"credentials": {"allowPlaintextInject": true, "envVars": [{"name": "SRT_MCP_TEST_TOKEN", "mode": "mask"},
                                                                     {"name": "SRT_MCP_DENIED", "mode": "deny"}]}}"#,
    )
    .unwrap();
    let env = [("SRT_MCP_TEST_TOKEN", "real-mcp-secret"), ("SRT_MCP_DENIED", "denied-mcp-secret")];
    let args = ["--settings", settings.to_str().unwrap()];
    let code =
        serde_json::json!({"code": "echo \"t=$SRT_MCP_TEST_TOKEN d=${SRT_MCP_DENIED-unset}\"", "language": "bash"});
    let r = call_with_env(Some(&home), &home.join("project"), &args, &env, "execute_code", code);
    let out = r["stdout"].as_str().unwrap_or_default();
    assert!(out.starts_with("t=fake_value_") && out.trim_end().ends_with("d=unset"), "{r}");
    assert!(!r.to_string().contains("real-mcp-secret") && !r.to_string().contains("denied-mcp-secret"), "{r}");
    let d = call_with_env(
        Some(&home),
        &home.join("project"),
        &args,
        &env,
        "discover_sandbox_config",
        serde_json::json!({}),
    );
    let creds = d["credentials"].to_string();
    assert!(creds.contains("SRT_MCP_TEST_TOKEN") && creds.contains("SRT_MCP_DENIED"), "{d}");
    assert!(!d.to_string().contains("real-mcp-secret"), "discover shows no value");
    std::fs::remove_dir_all(&home).unwrap();
}
