#!/usr/bin/env python3
"""Differential probes: the same settings files and probes under Anthropic's
npm srt (0.0.83) and under this project's srt, outcomes normalised to
allow / deny so that the two can be compared despite different error texts.

Driven by scripts/differential.sh. Standard library only. Subcommands:

  inner SPEC          run inside a sandbox: perform the probes SPEC lists,
                      print one marker line with the raw results as JSON
  drive ...           as one user: for every settings file, build a fresh
                      scratch tree, run the probes under both
                      implementations, judge host-side effects, write JSON
  report FILE...      read the drivers' JSON, print one table per user and
                      the counts

Outcome classes (what is compared): a run is `ran` (the probe program
started), `refused` (srt exited before running it) or `error` (npm's start-up
kept failing after retries). A probe is `allow` / `deny`, plus `private`
for a write that succeeded inside but did not reach the host (a private
overlay), or a value (git's safe.directory list, an exit status). The text
after the class (errno, HTTP status, proxy error) is detail, not compared.
"""

import argparse
import errno
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import time

MARKER = "@@SRT-DIFF-RESULT@@"
PY = "/usr/bin/python3"

# ---------------------------------------------------------------------------
# Inside the sandbox


def _err(e):
    return errno.errorcode.get(e.errno, str(e.errno)) if isinstance(e, OSError) else type(e).__name__


def probe_read(p):
    try:
        with open(p["path"], "rb") as f:
            data = f.read()
    except Exception as e:  # noqa: BLE001 - every failure is a denial here
        return ["deny", _err(e)]
    if data.decode("utf-8", "replace") == p["expect"]:
        return ["allow", ""]
    return ["allow", "other content (%d bytes)" % len(data)]


def probe_list(p):
    try:
        names = os.listdir(p["path"])
    except Exception as e:  # noqa: BLE001
        return ["deny", _err(e)]
    if p["expect"] in names:
        return ["allow", ""]
    return ["deny", "listed without %s (%d entries)" % (p["expect"], len(names))]


def _write(path, flags, marker):
    """Opens `path` with `flags`, writes `marker`; ["ok", ""] or ["deny", why]."""
    try:
        fd = os.open(path, flags, 0o644)
        try:
            os.write(fd, marker.encode())
        finally:
            os.close(fd)
    except Exception as e:  # noqa: BLE001
        return ["deny", _err(e)]
    return ["ok", ""]


def probe_create(p):
    path = p["path"]
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
    except Exception as e:  # noqa: BLE001
        return ["deny", "mkdir " + _err(e)]
    return _write(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, p["marker"])


def probe_modify(p):
    return _write(p["path"], os.O_WRONLY | os.O_APPEND, p["marker"])


def probe_net(p):
    env = dict(os.environ)
    proxy = env.get("HTTP_PROXY") or env.get("http_proxy")
    args = ["curl", "-sS", "-m", "8", "-o", "/dev/null", "-D", "-",
            "-w", "\n@@CODE %{http_code} %{http_connect}\n"]
    mode = p["mode"]
    if mode in ("proxy", "connect"):
        if not proxy:
            return ["deny", "no HTTP_PROXY inside"]
        args += ["--noproxy", "", "-x", proxy]
        if mode == "connect":
            args.append("-p")
    elif mode == "direct":
        args += ["--noproxy", "*"]
    # mode "env": curl as a program would run it, with the environment as set
    args.append(p["url"])
    try:
        r = subprocess.run(args, capture_output=True, text=True, timeout=20, env=env)
    except Exception as e:  # noqa: BLE001
        return ["deny", "curl: " + _err(e)]
    m = re.search(r"@@CODE (\d+) (\d+)", r.stdout)
    code, connect = (m.group(1), m.group(2)) if m else ("000", "000")
    perr = re.search(r"(?im)^x-proxy-error:\s*(\S+)", r.stdout)
    perr = perr.group(1) if perr else ""
    if code == "200":
        return ["allow", "200"]
    if code in ("502", "503", "504") and not perr:
        # The proxy allowed the host and dialed; the name does not resolve
        # here (no internet) or the upstream is down. A policy allow.
        return ["allow", "%s from the proxy (dialed, upstream unreachable)" % code]
    if code != "000":
        return ["deny", "HTTP %s %s" % (code, perr)]
    if connect not in ("000", "200"):
        return ["deny", "CONNECT %s %s" % (connect, perr)]
    last = (r.stderr.strip().splitlines() or [""])[-1]
    return ["deny", "curl rc %d %s" % (r.returncode, last[:60])]


def probe_git_safe(p):
    try:
        r = subprocess.run(["git", "config", "--get-all", "safe.directory"],
                           capture_output=True, text=True, timeout=20)
    except Exception as e:  # noqa: BLE001
        return ["error", _err(e)]
    vals = sorted(x for x in r.stdout.splitlines() if x)
    return ["value", "|".join(vals) if vals else "(none)"]


def probe_userns(p):
    try:
        r = subprocess.run(["unshare", "-Ur", "true"], capture_output=True, text=True, timeout=20)
    except Exception as e:  # noqa: BLE001
        return ["deny", _err(e)]
    if r.returncode == 0:
        return ["allow", ""]
    return ["deny", (r.stderr.strip().splitlines() or ["rc %d" % r.returncode])[-1][-60:]]


def probe_env(p):
    v = os.environ.get(p["name"])
    if v is None:
        return ["deny", "unset"]
    if v == p["expect"]:
        return ["allow", ""]
    return ["allow", "other value"]


INNER = {
    "read": probe_read, "list": probe_list, "create": probe_create,
    "modify": probe_modify, "net": probe_net, "git-safe": probe_git_safe,
    "userns": probe_userns, "env": probe_env,
}


def cmd_inner(spec_path):
    with open(spec_path) as f:
        spec = json.load(f)
    out = {}
    for p in spec["probes"]:
        fn = INNER.get(p["kind"])
        if fn is None:
            continue
        try:
            out[p["id"]] = fn(p)
        except Exception as e:  # noqa: BLE001
            out[p["id"]] = ["error", repr(e)[:80]]
    sys.stdout.write("\n" + MARKER + json.dumps(out) + "\n")
    sys.stdout.flush()


# ---------------------------------------------------------------------------
# Settings files. Placeholders: {T} the scratch tree, {W} its work directory
# (the working directory of every run), {H} its home (HOME of every run),
# {PORT} the host-loopback HTTP server.

FS0 = {"denyRead": [], "allowWrite": [], "denyWrite": []}
NET0 = {"allowedDomains": [], "deniedDomains": []}


def cfg(network=None, filesystem=None, **top):
    d = {"network": dict(NET0, **(network or {})), "filesystem": dict(FS0, **(filesystem or {}))}
    d.update(top)
    return d


W_DOT = {"allowWrite": ["."]}

# (name, settings (dict or raw text), network probes?, extra probes, note)
SETTINGS = [
    # -- the examples of npm srt's README
    ("npm-readme-mcp", {"filesystem": {"denyRead": [], "allowWrite": ["."], "denyWrite": ["~/sensitive-folder"]},
                        "network": {"allowedDomains": [], "deniedDomains": []}},
     False, [("create", "w.sensitive", "{H}/sensitive-folder/new.txt")], "README: MCP server example"),
    ("npm-readme-full", {
        "network": {"allowedDomains": ["github.com", "*.github.com", "lfs.github.com", "api.github.com",
                                       "npmjs.org", "*.npmjs.org"],
                    "deniedDomains": ["malicious.com"], "allowUnixSockets": ["/var/run/docker.sock"],
                    "allowLocalBinding": False},
        "filesystem": {"denyRead": ["~/.ssh"], "allowRead": [], "allowWrite": [".", "src/", "test/", "/tmp"],
                       "denyWrite": [".env", "config/production.json"]},
        "ignoreViolations": {"*": ["/usr/bin", "/System"], "git push": ["/usr/bin/nc"], "npm": ["/private/tmp"]},
        "enableWeakerNestedSandbox": False, "allowNestedUserNamespaces": False,
        "enableWeakerNetworkIsolation": False, "allowAppleEvents": False},
     True, [("modify", "w.prod", "{W}/config/production.json"), ("net", "n.github", "proxy", "http://github.com/"),
            ("net", "n.malicious", "proxy", "http://malicious.com/")], "README: configuration example"),
    ("npm-readme-github", {"network": {"allowedDomains": ["github.com", "*.github.com", "lfs.github.com",
                                                          "api.github.com"], "deniedDomains": []},
                           "filesystem": {"denyRead": [], "allowWrite": ["."], "denyWrite": []}},
     True, [("net", "n.github", "proxy", "http://api.github.com/")], "README: GitHub access"),
    ("npm-readme-restrict", {"network": {"allowedDomains": [], "deniedDomains": []},
                             "filesystem": {"denyRead": ["~/.ssh"], "allowWrite": [".", "src/", "test/"],
                                            "denyWrite": [".env", "secrets/"]}},
     False, [], "README: restrict to directories"),
    ("npm-readme-workspace", {"network": {"allowedDomains": [], "deniedDomains": []},
                              "filesystem": {"denyRead": ["{T}"], "allowRead": ["."], "allowWrite": ["."],
                                             "denyWrite": []}},
     False, [], "README: workspace-only reads (/Users replaced by the scratch tree)"),
    ("npm-readme-depth5", {"mandatoryDenySearchDepth": 5, "filesystem": {"allowWrite": ["."]}},
     False, [], "README: mandatoryDenySearchDepth example (incomplete for 0.0.83's schema)"),
    ("npm-readme-localbinding", {"network": {"allowLocalBinding": True}},
     False, [], "README: allowLocalBinding example (incomplete for 0.0.83's schema)"),
    # -- this project's README
    ("ours-readme-bad", {"network": {"allowedDomains": ["*.com"]}}, False, [], "our README: bad.json"),
    ("ours-readme-bad-full", cfg(network={"allowedDomains": ["*.com"]}), False, [], "*.com in a complete file"),
    # -- shapes
    ("empty-object", "{}", False, [], "empty object"),
    ("invalid-json", "{\"network\": {", False, [], "not JSON"),
    ("min-valid", cfg(), True, [], "every required key, all lists empty"),
    ("missing-network", {"filesystem": dict(FS0, **W_DOT)}, False, [], "no network object"),
    ("missing-filesystem", {"network": NET0}, False, [], "no filesystem object"),
    ("missing-denied-domains", {"network": {"allowedDomains": []}, "filesystem": dict(FS0, **W_DOT)},
     False, [], "a 0.0.78-style file without deniedDomains"),
    ("unknown-key", dict(cfg(filesystem=W_DOT), netwrok={"allowedDomains": []}), False, [], "a misspelt key"),
    ("bad-type-list", cfg(filesystem={"allowWrite": "."}), False, [], "allowWrite a string"),
    ("bad-type-bool", cfg(filesystem={"allowWrite": ["."], "allowGitConfig": "yes"}), False, [],
     "allowGitConfig a string"),
    ("depth-out-of-range", cfg(filesystem=W_DOT, mandatoryDenySearchDepth=11), False, [], "depth 11"),
    # -- filesystem rules
    ("read-deny-allow", cfg(filesystem={"denyRead": ["secret", "~/.ssh"], "allowRead": ["secret/public"],
                                        "allowWrite": ["."]}), False, [], "allowRead beats denyRead"),
    ("read-deny-glob", cfg(filesystem={"denyRead": ["data/*.pem", "~/.ssh/id_*"], "allowWrite": ["."],
                                       "denyWrite": ["**/*.pem"]}), False, [], "globs in denyRead/denyWrite"),
    ("write-deny-glob", cfg(filesystem={"allowWrite": ["."], "denyWrite": ["data/*.pem", ".env"]}),
     False, [], "glob in denyWrite"),
    ("glob-name-as-path", cfg(filesystem={"denyRead": ["weird[1]"], "allowWrite": ["sub"]}),
     False, [], "a name holding [] is a pattern and the path it spells"),
    ("literal-entries", cfg(filesystem={
        "denyRead": [{"path": "weird[1]", "literal": True}],
        "allowWrite": ["sub", {"path": "{T}/outside/new.txt", "literal": True},
                       {"path": "{T}/outside/later/lit.txt", "literal": True}],
        "denyWrite": [{"path": "sub/deep", "literal": True}]}),
     False, [("create", "w.literal-later", "{T}/outside/later/lit.txt")], "{path, literal: true} entries"),
    ("literal-false", cfg(filesystem={"allowWrite": [{"path": ".", "literal": False}]}), False, [],
     "literal: false"),
    ("literal-extra-key", cfg(filesystem={"allowWrite": [{"path": ".", "literal": True, "x": 1}]}), False, [],
     "literal entry with another key"),
    ("deny-glob-slash-abs", cfg(filesystem={"denyRead": ["{W}/data/*/"], "allowWrite": ["."]}), False, [],
     "absolute deny glob ending in /"),
    ("deny-glob-slash-rel", cfg(filesystem={"allowWrite": ["."], "denyWrite": ["data/*/"]}), False, [],
     "relative deny glob ending in /"),
    ("deny-above-allow", cfg(filesystem={"allowWrite": ["sub/deep", "src"], "denyWrite": ["sub"]}), False, [],
     "denyWrite above allowWrite"),
    ("allow-tmp", cfg(filesystem={"allowWrite": [".", "/tmp"]}), False, [], "the host's /tmp writable"),
    ("mandatory", cfg(filesystem=W_DOT), False, [], "protected names inside allowWrite"),
    ("mandatory-other-root", cfg(filesystem={"allowWrite": ["{T}/outside"]}), False,
     [("create", "p.outside-bashrc", "{T}/outside/.bashrc"), ("create", "p.outside-mcp", "{T}/outside/.mcp.json"),
      ("create", "p.outside-vscode", "{T}/outside/.vscode/settings.json")],
     "protected names in a writable root that is not the working directory"),
    ("write-glob-allow", cfg(filesystem={"allowWrite": ["src/**", "data/*.txt"]}), False,
     [("modify", "w.data-txt", "{W}/data/b.txt")], "globs in allowWrite"),
    ("allow-git-config", cfg(filesystem={"allowWrite": ["."], "allowGitConfig": True}), False, [],
     "allowGitConfig"),
    ("mandatory-depth1", cfg(filesystem=W_DOT, mandatoryDenySearchDepth=1), False, [],
     "mandatoryDenySearchDepth 1"),
    # -- network rules
    ("net-loopback", cfg(network={"allowedDomains": ["127.0.0.1:{PORT}", "localhost"]}), True, [],
     "host loopback by address and by name"),
    ("net-wildcards-ports", cfg(network={"allowedDomains": ["*.example.org", "port.example.net:8080",
                                                            "127.0.0.1:{PORT}"],
                                         "deniedDomains": ["evil.example.com", "*.bad.example.org"],
                                         "strictAllowlist": True}),
     True, [("net", "n.badsub", "proxy", "http://x.bad.example.org/")], "wildcards, ports, strictAllowlist"),
    ("net-deny-wins", cfg(network={"allowedDomains": ["127.0.0.1:{PORT}", "localhost", "*.example.org"],
                                   "deniedDomains": ["127.0.0.1", "a.example.org"]}), True, [],
     "deniedDomains beats allowedDomains"),
    ("net-deny-star-port", cfg(network={"allowedDomains": ["127.0.0.1", "localhost", "*.example.org"],
                                        "deniedDomains": ["*:{PORT}"]}), True, [], "deniedDomains *:PORT"),
    ("net-name-only", cfg(network={"allowedDomains": ["localhost"]}), True, [],
     "a name that resolves to loopback, without the address"),
    ("net-denied-resolved", cfg(network={"allowedDomains": ["localhost", "127.0.0.1:{PORT}"],
                                         "deniedResolvedAddresses": ["127.0.0.0/8"]}), True, [],
     "deniedResolvedAddresses"),
    ("net-ipv6-bracketed", cfg(network={"allowedDomains": ["[::1]:{PORT}"]}), True, [], "bracketed IPv6"),
    ("net-ipv6-unbracketed", cfg(network={"allowedDomains": ["::1"]}), False, [], "unbracketed IPv6"),
    ("net-deny-label-wildcard", cfg(network={"allowedDomains": ["127.0.0.1:{PORT}"],
                                             "deniedDomains": ["internal-*"]}), True, [],
     "* inside a label in deniedDomains"),
    ("net-single-label", cfg(network={"allowedDomains": ["vm"]}), True, [], "a one-label name"),
    ("net-trailing-dot", cfg(network={"allowedDomains": ["example.org."]}), True, [], "a trailing dot"),
    ("net-double-dot", cfg(network={"allowedDomains": ["a..example.org"]}), True, [], "an empty label"),
    ("net-star-allowed", cfg(network={"allowedDomains": ["*"]}), False, [], "bare * in allowedDomains"),
    ("net-reasons-orphan", cfg(network={"deniedDomainReasons": {"evil.example.com": "no"}}), True, [],
     "a deniedDomainReasons key that is not a deniedDomains entry"),
    ("net-reasons", cfg(network={"allowedDomains": ["127.0.0.1:{PORT}"], "deniedDomains": ["evil.example.com"],
                                 "deniedDomainReasons": {"evil.example.com": "known bad"}}), True, [],
     "deniedDomainReasons"),
    # -- srt 0.0.83 keys
    ("git-safe-dirs", cfg(filesystem=W_DOT, git={"safeDirectories": ["{W}", "/srv/other-repo"]}), False, [],
     "git.safeDirectories"),
    ("helpers-valid", cfg(filesystem=W_DOT, bwrapPath="/usr/bin/bwrap", socatPath="/usr/bin/socat",
                          ripgrep={"command": "rg", "args": []}), False, [], "helper paths, absolute"),
    ("helpers-relative", cfg(filesystem=W_DOT, bwrapPath="bwrap"), False, [], "bwrapPath relative"),
    ("nested-userns-false", cfg(filesystem=W_DOT, allowNestedUserNamespaces=False), False, [],
     "allowNestedUserNamespaces false"),
    # -- keys ours refuses while they are being implemented (rerun to see progress)
    ("nested-userns-true", cfg(filesystem=W_DOT, allowNestedUserNamespaces=True), False, [],
     "allowNestedUserNamespaces true"),
    ("fs-disabled", cfg(filesystem={"disabled": True, "allowWrite": ["."]}), False, [],
     "filesystem.disabled true"),
    ("parent-proxy", cfg(network={"allowedDomains": ["127.0.0.1:{PORT}", "*.example.org"],
                                  "parentProxy": {"http": "http://127.0.0.1:9", "noProxy": "127.0.0.1"}}),
     True, [], "parentProxy"),
    ("mitm-proxy", cfg(network={"allowedDomains": ["127.0.0.1:{PORT}", "*.example.org"],
                                "mitmProxy": {"socketPath": "/var/tmp/srt-diff-no-such.sock",
                                              "domains": ["mitm.example.org"]}}),
     True, [("net", "n.mitm", "proxy", "http://mitm.example.org/")], "mitmProxy"),
    ("require-host-match", cfg(network={"allowedDomains": ["127.0.0.1:{PORT}"], "requireHostMatch": True}),
     True, [], "requireHostMatch"),
    ("strip-response-headers", cfg(network={"allowedDomains": ["127.0.0.1:{PORT}"],
                                            "stripResponseHeaders": ["set-cookie"]}), True, [],
     "stripResponseHeaders"),
    ("ambiguous-request-target", cfg(network={"allowedDomains": ["127.0.0.1:{PORT}"],
                                              "ambiguousRequestTarget": "refuse"}), True, [],
     "ambiguousRequestTarget"),
    ("plaintext-header-set", cfg(network={"allowedDomains": ["127.0.0.1:{PORT}"],
                                          "allowPlaintextHeaderSet": True}), True, [], "allowPlaintextHeaderSet"),
    ("tls-terminate", cfg(network={"allowedDomains": ["127.0.0.1:{PORT}"], "tlsTerminate": {}}), True, [],
     "tlsTerminate with an ephemeral CA"),
    ("credentials-deny-env", cfg(filesystem=W_DOT, credentials={"envVars": [{"name": "SRT_DIFF_SECRET",
                                                                            "mode": "deny"}]}),
     False, [], "credentials.envVars deny"),
]

# Command-line cases: (name, argv after the settings option, note). Run with
# the min-valid settings; compared on exit status (and output where asked).
CLI_CASES = [
    ("exit-status", ["-c", "exit 3"], "the program's status passes through"),
    ("killed-by-signal", ["-c", "kill -KILL $$"], "a program killed by SIGKILL"),
    ("terminated", ["-c", "kill -TERM $$"], "a program killed by SIGTERM"),
    ("not-found", ["--", "/nonexistent/program"], "a program that does not exist"),
    ("argv-quoting", ["--", "printf", "[%s]", "a b", "c'd", "$HOME"], "argv passed as a vector"),
    ("missing-settings", None, "--settings naming a missing file"),
]


def subst(v, m):
    if isinstance(v, str):
        for k, x in m.items():
            v = v.replace("{" + k + "}", x)
        return v
    if isinstance(v, list):
        return [subst(x, m) for x in v]
    if isinstance(v, dict):
        return {subst(k, m): subst(x, m) for k, x in v.items()}
    return v


# ---------------------------------------------------------------------------
# The scratch tree

TREE_FILES = [
    "work/file.txt", "work/sub/inner.txt", "work/sub/deep/d.txt", "work/secret/key.txt",
    "work/secret/public/ok.txt", "work/data/a.pem", "work/data/b.txt", "work/weird[1]/x.txt",
    "work/.env", "work/.bashrc", "work/sub/.bashrc", "work/.vscode/settings.json",
    "work/.claude/settings.json", "work/secrets/s.txt", "work/config/production.json",
    "work/src/main.txt", "work/test/t.txt", "work/logs/l.txt",
    "outside/o.txt", "home/.ssh/id_rsa", "home/notes.txt", "home/sensitive-folder/s.txt",
    "home/.npm/_logs/old.log",
]


def content_of(rel):
    return "content of %s\n" % rel


def build_template(tpl):
    for rel in TREE_FILES:
        p = os.path.join(tpl, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write(content_of(rel))
    work = os.path.join(tpl, "work")
    subprocess.run(["git", "init", "-q", work], check=True,
                   env=dict(os.environ, GIT_CONFIG_GLOBAL="/dev/null", GIT_CONFIG_NOSYSTEM="1"))
    hook = os.path.join(work, ".git/hooks/pre-commit")
    with open(hook, "w") as f:
        f.write("#!/bin/sh\nexit 0\n")
    os.chmod(hook, 0o755)


def snapshot(root):
    out = {}
    for d, dirs, files in os.walk(root):
        for n in dirs + files:
            p = os.path.join(d, n)
            try:
                st = os.lstat(p)
            except OSError:
                continue
            out[os.path.relpath(p, root)] = (stat.S_IFMT(st.st_mode), st.st_size)
    return out


def core_probes(T, W, H, tmp_read, tmp_write, port):
    R = lambda i, p, rel=None: {"id": i, "kind": "read", "path": p,  # noqa: E731
                                "expect": content_of(rel or os.path.relpath(p, T))}
    probes = [
        R("r.work", W + "/file.txt"),
        R("r.secret", W + "/secret/key.txt"),
        R("r.secret-public", W + "/secret/public/ok.txt"),
        R("r.pem", W + "/data/a.pem"),
        R("r.weird", W + "/weird[1]/x.txt"),
        R("r.outside", T + "/outside/o.txt"),
        R("r.ssh-key", H + "/.ssh/id_rsa"),
        R("r.tmp-host", tmp_read, "tmp"),
        {"id": "ls.secret", "kind": "list", "path": W + "/secret", "expect": "key.txt"},
    ]
    writes = [
        ("modify", "w.work-mod", W + "/file.txt"),
        ("create", "w.work-new", W + "/new.txt"),
        ("create", "w.deep-new", W + "/sub/deep/new.txt"),
        ("modify", "w.env-mod", W + "/.env"),
        ("create", "w.pem-new", W + "/data/new.pem"),
        ("modify", "w.pem-mod", W + "/data/a.pem"),
        ("create", "w.src-new", W + "/src/new.txt"),
        ("modify", "w.secrets-mod", W + "/secrets/s.txt"),
        ("create", "w.weird-new", W + "/weird[1]/new.txt"),
        ("modify", "w.outside-mod", T + "/outside/o.txt"),
        ("create", "w.outside-new", T + "/outside/new.txt"),
        ("create", "w.home-new", H + "/new.txt"),
        ("create", "w.npm-logs", H + "/.npm/_logs/new.log"),
        ("create", "w.tmp", tmp_write),
        ("modify", "p.bashrc", W + "/.bashrc"),
        ("create", "p.zshrc-new", W + "/.zshrc"),
        ("modify", "p.sub-bashrc", W + "/sub/.bashrc"),
        ("create", "p.deep-gitmodules", W + "/sub/deep/.gitmodules"),
        ("modify", "p.vscode", W + "/.vscode/settings.json"),
        ("create", "p.idea-new", W + "/.idea/workspace.xml"),
        ("modify", "p.claude-settings", W + "/.claude/settings.json"),
        ("create", "p.claude-commands", W + "/.claude/commands/x.md"),
        ("modify", "p.hook-mod", W + "/.git/hooks/pre-commit"),
        ("create", "p.hook-new", W + "/.git/hooks/post-checkout"),
        ("modify", "p.git-config", W + "/.git/config"),
        ("create", "p.mcp-json", W + "/.mcp.json"),
    ]
    probes += [{"id": i, "kind": k, "path": p} for k, i, p in writes]
    probes += [
        {"id": "n.ip", "kind": "net", "mode": "proxy", "url": "http://127.0.0.1:%s/" % port},
        {"id": "n.direct", "kind": "net", "mode": "direct", "url": "http://127.0.0.1:%s/" % port},
        {"id": "git.safe-directory", "kind": "git-safe"},
        {"id": "userns", "kind": "userns"},
        {"id": "env.secret", "kind": "env", "name": "SRT_DIFF_SECRET", "expect": "s3cr3t"},
    ]
    return probes


def net_probes(port):
    u = lambda h: "http://%s/" % h  # noqa: E731
    return [
        {"id": "n.localhost", "kind": "net", "mode": "proxy", "url": "http://localhost:%s/" % port},
        {"id": "n.ip-connect", "kind": "net", "mode": "connect", "url": "http://127.0.0.1:%s/" % port},
        {"id": "n.ipv6", "kind": "net", "mode": "proxy", "url": "http://[::1]:%s/" % port},
        {"id": "n.env-client", "kind": "net", "mode": "env", "url": "http://127.0.0.1:%s/" % port},
        {"id": "n.evil", "kind": "net", "mode": "proxy", "url": u("evil.example.com")},
        {"id": "n.subdomain", "kind": "net", "mode": "proxy", "url": u("a.example.org")},
        {"id": "n.apex", "kind": "net", "mode": "proxy", "url": u("example.org")},
        {"id": "n.port-allowed", "kind": "net", "mode": "proxy", "url": u("port.example.net:8080")},
        {"id": "n.port-other", "kind": "net", "mode": "proxy", "url": u("port.example.net")},
        {"id": "n.vm-name", "kind": "net", "mode": "proxy", "url": "http://vm:%s/" % port},
        {"id": "n.internal", "kind": "net", "mode": "proxy", "url": u("internal-db.example.org")},
    ]


# ---------------------------------------------------------------------------
# Driver: one user, both implementations

NPM_SETTINGS_REFUSAL = re.compile(r"does not hold a valid config|is not valid JSON|is empty\.|does not exist\.|"
                                  r"could not be read")


def run_one(impl, argv, cwd, env, timeout=90):
    t0 = time.time()
    try:
        r = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
        rc, out, err = r.returncode, r.stdout, r.stderr
    except subprocess.TimeoutExpired as e:
        rc, out, err = -999, (e.stdout or b"").decode() if isinstance(e.stdout, bytes) else (e.stdout or ""), \
            "timed out after %ds" % timeout
    return rc, out, err, time.time() - t0


def classify_run(impl, rc, out, err):
    """(class, detail, results or None)."""
    for line in out.splitlines():
        if line.startswith(MARKER):
            return "ran", "rc %d" % rc, json.loads(line[len(MARKER):])
    first = next((x for x in err.splitlines() if x.strip() and not x.startswith("[SandboxDebug]")), "")
    if impl == "ours":
        if rc == 125:
            return "refused", first[:160], None
        return "error", "rc %d: %s" % (rc, first[:140]), None
    if rc != 0 and NPM_SETTINGS_REFUSAL.search(err):
        return "refused", first[:160], None
    return "error", "rc %d: %s" % (rc, first[:140]), None


def host_judge(probe, raw, marker):
    """Turn an inside `ok` of a write into allow (landed on the host) or private."""
    cls, detail = raw
    if probe["kind"] not in ("create", "modify") or cls != "ok":
        return raw
    try:
        with open(probe["path"]) as f:
            data = f.read()
    except OSError:
        data = ""
    if data.endswith(marker):
        return ["allow", detail]
    return ["private", "written inside, not on the host"]


def cmd_drive(a):
    label, run = a.label, a.run_dir
    port = str(a.port)
    uid = os.getuid()
    os.makedirs(run, exist_ok=True)
    tpl = os.path.join(run, "template")
    T = os.path.join(run, "t")
    W, H = T + "/work", T + "/home"
    for d in (tpl, T):
        shutil.rmtree(d, ignore_errors=True)
    build_template(tpl)
    os.makedirs(os.path.join(run, "settings"), exist_ok=True)
    os.makedirs(os.path.join(run, "spec"), exist_ok=True)
    tmp_read = "/tmp/srt-diff-%d-hostfile.txt" % uid
    with open(tmp_read, "w") as f:
        f.write(content_of("tmp"))
    m = {"T": T, "W": W, "H": H, "PORT": port}
    base_env = {"PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "HOME": H, "LANG": "C.UTF-8",
                "USER": a.user_name, "LOGNAME": a.user_name, "SRT_DIFF_SECRET": "s3cr3t",
                # the caller's own git configuration through the environment:
                # git.safeDirectories is added to it (npm) or replaces it
                "GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "safe.directory",
                "GIT_CONFIG_VALUE_0": "/srv/callers-repo"}
    impls = [("npm", ["node", a.npm_cli]), ("ours", [a.ours])]
    only = set(a.only.split(",")) if a.only else None
    results = {"user": label, "uid": uid, "files": [], "cli": []}

    for name, settings, with_net, extra, note in SETTINGS:
        if only and name not in only:
            continue
        spath = os.path.join(run, "settings", name + ".json")
        text = subst(settings, m) if isinstance(settings, str) else json.dumps(subst(settings, m), indent=1)
        with open(spath, "w") as f:
            f.write(text)
        entry = {"name": name, "note": note, "settings": text, "impl": {}}
        for impl, cmd in impls:
            marker = "\n@%s-%s@" % (impl, name)
            tmp_write = "/tmp/srt-diff-%d-%s-%s.new" % (uid, impl, name)
            probes = core_probes(T, W, H, tmp_read, tmp_write, port)
            if with_net:
                probes += net_probes(port)
            for x in extra:
                if x[0] == "net":
                    probes.append({"id": x[1], "kind": "net", "mode": x[2], "url": x[3]})
                else:
                    probes.append({"id": x[1], "kind": x[0], "path": subst(x[2], m)})
            for p in probes:
                p["marker"] = marker
            spec = os.path.join(run, "spec", "%s-%s.json" % (name, impl))
            with open(spec, "w") as f:
                json.dump({"probes": probes}, f)
            attempts = []
            for attempt in range(3 if impl == "npm" else 1):
                # a fresh tree for every run: no run sees another's writes
                shutil.rmtree(T, ignore_errors=True)
                shutil.copytree(tpl, T, symlinks=True)
                if os.path.lexists(tmp_write):
                    os.unlink(tmp_write)
                before = snapshot(T)
                argv = cmd + ["-s", spath, "--", PY, a.probes, "inner", spec]
                rc, out, err, secs = run_one(impl, argv, W, base_env)
                cls, detail, raw = classify_run(impl, rc, out, err)
                attempts.append({"class": cls, "detail": detail, "secs": round(secs, 2),
                                 "stderr_tail": err[-600:]})
                # npm's Linux start-up is flaky under load ("Failed to create
                # bridge sockets after 5 attempts"): an npm run that neither
                # ran nor refused the settings is tried again, 3 times in all
                if not (impl == "npm" and cls == "error"):
                    break
            rec = {"run": [cls, detail], "attempts": attempts, "probes": {}}
            if raw is not None:
                created = set()
                for p in probes:
                    r = raw.get(p["id"], ["error", "no result"])
                    r = host_judge(p, r, marker)
                    rec["probes"][p["id"]] = r
                    if p["kind"] == "create" and r[0] == "allow" and p["path"].startswith(T + "/"):
                        rel = os.path.relpath(p["path"], T)
                        while rel and rel != ".":
                            created.add(rel)
                            rel = os.path.dirname(rel)
                after = snapshot(T)
                new = sorted(k for k in after if k not in before and k not in created)
                gone = sorted(k for k in before if k not in after)
                if not new and not gone:
                    rec["probes"]["host.leftovers"] = ["none", ""]
                else:
                    rec["probes"]["host.leftovers"] = ["changed", "new: %s; gone: %s" % (
                        ", ".join(new[:6]) or "-", ", ".join(gone[:6]) or "-")]
            if os.path.lexists(tmp_write):
                os.unlink(tmp_write)
            entry["impl"][impl] = rec
        results["files"].append(entry)
        sys.stderr.write("  %-26s npm %-8s ours %-8s\n" % (name, entry["impl"]["npm"]["run"][0],
                                                              entry["impl"]["ours"]["run"][0]))

    # command-line cases
    if not only or "cli" in only:
        spath = os.path.join(run, "settings", "min-valid.json")
        with open(spath, "w") as f:
            f.write(json.dumps(cfg()))
        shutil.rmtree(T, ignore_errors=True)
        shutil.copytree(tpl, T, symlinks=True)
        for name, args, note in CLI_CASES:
            entry = {"name": name, "note": note, "impl": {}}
            for impl, cmd in impls:
                if args is None:
                    argv = cmd + ["-s", os.path.join(run, "settings", "no-such-file.json"), "--", "true"]
                else:
                    argv = cmd + ["-s", spath] + args
                for attempt in range(3 if impl == "npm" else 1):
                    rc, out, err, secs = run_one(impl, argv, W, base_env)
                    flake = impl == "npm" and "bridge" in err.lower()
                    if not flake:
                        break
                val = "rc=%d" % rc
                if name == "argv-quoting":
                    val += " out=%s" % out.strip()
                first = next((x for x in err.splitlines() if x.strip()), "")
                entry["impl"][impl] = {"value": val, "stderr": first[:160]}
            results["cli"].append(entry)
    os.unlink(tmp_read)
    shutil.rmtree(T, ignore_errors=True)
    with open(a.out, "w") as f:
        json.dump(results, f, indent=1)


# ---------------------------------------------------------------------------
# Report


def outcome_str(r):
    cls, detail = r
    return cls + (" (%s)" % detail if detail else "")


def compare_rows(res):
    """Rows: (file, probe, npm, ours, same?)."""
    rows = []
    for e in res["files"]:
        n, o = e["impl"]["npm"], e["impl"]["ours"]
        rows.append((e["name"], "run", n["run"], o["run"], n["run"][0] == o["run"][0]))
        if n["run"][0] != "ran" or o["run"][0] != "ran":
            continue
        ids = list(n["probes"]) + [k for k in o["probes"] if k not in n["probes"]]
        for pid in ids:
            a = n["probes"].get(pid, ["missing", ""])
            b = o["probes"].get(pid, ["missing", ""])
            same = a[0] == b[0] and (a[0] != "value" or a[1] == b[1])
            rows.append((e["name"], pid, a, b, same))
    for e in res.get("cli", []):
        a, b = e["impl"]["npm"]["value"], e["impl"]["ours"]["value"]
        rows.append(("cli:" + e["name"], "status", [a, ""], [b, ""], a == b))
    return rows


def cmd_report(a):
    total = {}
    for path in a.files:
        with open(path) as f:
            res = json.load(f)
        rows = compare_rows(res)
        label = res["user"]
        nd = sum(1 for r in rows if not r[4])
        total[label] = (len(rows), nd)
        print("\n== %s (uid %d): %d comparisons, %d SAME, %d DIFF" % (label, res["uid"], len(rows),
                                                                       len(rows) - nd, nd))
        w = [max(len(x) for x in col) for col in zip(*[(r[0], r[1]) for r in rows])] if rows else [10, 10]
        print("%-*s  %-*s  %-44s  %-44s  %s" % (w[0], "settings file", w[1], "probe", "npm srt 0.0.83", "ours",
                                                  "cmp"))
        for fname, pid, x, y, same in rows:
            if a.diff_only and same:
                continue
            print("%-*s  %-*s  %-44s  %-44s  %s" % (w[0], fname, w[1], pid, outcome_str(x)[:44],
                                                      outcome_str(y)[:44], "SAME" if same else "DIFF"))
        flaky = [(e["name"], len(e["impl"]["npm"]["attempts"])) for e in res["files"]
                 if len(e["impl"]["npm"]["attempts"]) > 1]
        if flaky:
            print("npm runs retried: " + ", ".join("%s (%d attempts)" % f for f in flaky))
    # The same DIFF (probe, npm class, ours class) usually recurs over many
    # settings files: one line per group, with the users and files.
    groups = {}
    for path in a.files:
        with open(path) as f:
            res = json.load(f)
        for fname, pid, x, y, same in compare_rows(res):
            if same:
                continue
            xv = x[0] if x[0] != "value" else "value " + x[1]
            yv = y[0] if y[0] != "value" else "value " + y[1]
            if pid == "run" or fname.startswith("cli:"):
                key = (fname, pid, xv, yv)
            else:
                key = ("*", pid, xv, yv)
            g = groups.setdefault(key, {"users": set(), "files": []})
            g["users"].add(res["user"])
            if fname not in g["files"]:
                g["files"].append(fname)
    print("\n== DIFF groups (probe: npm -> ours; users; settings files)")
    for (scope, pid, xv, yv), g in sorted(groups.items(), key=lambda kv: (kv[0][1] != "run", kv[0][1], kv[0][0])):
        where = ", ".join(g["files"]) if scope == "*" else scope
        print("%s: %s -> %s; %s; %s" % (pid, xv, yv, "+".join(sorted(g["users"])), where))
    print("\n== summary")
    for label, (n, nd) in total.items():
        print("%-10s %4d comparisons  %4d SAME  %4d DIFF" % (label, n, n - nd, nd))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("inner")
    p.add_argument("spec")
    p = sub.add_parser("drive")
    p.add_argument("--label", required=True)
    p.add_argument("--user-name", required=True)
    p.add_argument("--stage", required=True)
    p.add_argument("--run-dir", required=True)
    p.add_argument("--ours", required=True)
    p.add_argument("--npm-cli", required=True)
    p.add_argument("--probes", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--only", default="")
    p.add_argument("--out", required=True)
    p = sub.add_parser("report")
    p.add_argument("--diff-only", action="store_true")
    p.add_argument("files", nargs="+")
    a = ap.parse_args()
    if a.cmd == "inner":
        cmd_inner(a.spec)
    elif a.cmd == "drive":
        cmd_drive(a)
    else:
        cmd_report(a)


if __name__ == "__main__":
    main()
