"""End-to-end tests of srt-mcp through the official Python MCP client (PyPI `mcp`).

Run by scripts/mcp-test.sh, which creates the venv and builds the binary:
    python client_test.py PATH/TO/srt-mcp [TEST-NAME-SUBSTRING]
Prints one line per test and a closing "N passed, N failed" line.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback

import anyio
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

SRT_MCP = os.path.abspath(sys.argv[1])
FILTER = sys.argv[2] if len(sys.argv) > 2 else ""

# A private HOME with a secret the policy denies, and a ceiling dir.
BASE = tempfile.mkdtemp(prefix="srt-mcp-test-", dir="/var/tmp")
HOME = os.path.join(BASE, "home")
OK_DIR = os.path.join(BASE, "granted")
os.makedirs(os.path.join(HOME, ".ssh"))
os.makedirs(OK_DIR)
with open(os.path.join(HOME, ".ssh", "id_rsa"), "w") as f:
    f.write("TOP-SECRET-KEY\n")
SETTINGS = os.path.join(BASE, "settings.json")
with open(SETTINGS, "w") as f:
    json.dump(
        {
            "network": {"allowedDomains": ["pypi.org"]},
            "filesystem": {"denyRead": ["~/.ssh"]},
            "limits": {"maxOutputBytes": 100000},
            "mcp": {"customConfigCeiling": {"allowedDomains": ["*.example.org", "pypi.org"], "allowWrite": [OK_DIR]}},
        },
        f,
    )


def params(*extra):
    env = {"HOME": HOME, "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    return StdioServerParameters(command=SRT_MCP, args=["--settings", SETTINGS, *extra], env=env, cwd=BASE)


async def with_session(fn, *extra):
    async with stdio_client(params(*extra)) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            return await fn(session)


def text_of(result):
    return "".join(getattr(c, "text", "") for c in result.content)


def check_result(result):
    """The structured content is the full record; the text content is for a
    model: a status line, then stdout and stderr as plain text."""
    s = result.structured_content
    assert s is not None, f"no structured content: {text_of(result)}"
    for key in [
        "success", "exit_code", "signal", "timed_out", "ended_by", "stdout", "stderr",
        "stdout_truncated", "stderr_truncated", "duration_ms", "violations", "resource_usage",
    ]:
        assert key in s, f"missing {key}"
    blocks = [c.text for c in result.content]
    status = blocks[0]
    assert status.startswith(("exit ", "killed")), blocks
    if s["ended_by"] == "exit":
        assert status.startswith(f"exit {s['exit_code']} in "), blocks
    if s["stdout"]:
        assert f"stdout:\n{s['stdout']}" in blocks or s["stdout_truncated"], blocks
    assert not any(b.lstrip().startswith("{") for b in blocks), f"the text repeats the JSON: {blocks}"
    return s


async def run(session, code, **kw):
    args = {"code": code, **kw}
    r = await session.call_tool("execute_code", args)
    return r, check_result(r)


# ---------------------------------------------------------------- tests

async def t_tools(session):
    tools = (await session.list_tools()).tools
    names = [t.name for t in tools]
    assert names == ["execute_code", "execute_code_with_custom_config", "discover_sandbox_config"], names
    ex = tools[0]
    assert ex.input_schema["required"] == ["code"]
    assert set(ex.input_schema["properties"]) == {"code", "language", "timeout_sec", "stdin"}
    assert ex.input_schema["properties"]["language"]["enum"] == ["python", "javascript", "typescript", "bash", "sh"]
    assert "violations" in ex.output_schema["properties"]
    custom = tools[1].input_schema["properties"]
    assert "allowed_domains" in custom and "allowed_write_paths" in custom
    assert all(t.description for t in tools)


async def t_python(session):
    r, s = await run(session, "print(sum(range(10)))")
    assert not r.is_error and s["success"] and s["exit_code"] == 0, s
    assert s["stdout"] == "45\n", s


async def t_default_language_is_python(session):
    r = await session.call_tool("execute_code", {"code": "import sys; print(sys.version_info[0])"})
    assert check_result(r)["stdout"] == "3\n"


async def t_bash_and_sh(session):
    _, s = await run(session, "x=6; echo $((x*7)); echo ${BASH_VERSION:+bash}", language="bash")
    assert s["stdout"] == "42\nbash\n", s
    _, s = await run(session, "echo sh-ok", language="sh")
    assert s["stdout"] == "sh-ok\n", s


async def t_javascript(session):
    _, s = await run(session, "console.log(JSON.stringify({a: [1, 2].map(x => x + 1)}))", language="javascript")
    assert s["stdout"] == '{"a":[2,3]}\n', s


async def t_stdin(session):
    _, s = await run(session, "import sys\nprint(sys.stdin.read().upper(), end='')", stdin="hello\nworld\n")
    assert s["stdout"] == "HELLO\nWORLD\n", s


async def t_failure_is_error_with_result(session):
    r, s = await run(session, "import sys\nprint('partial')\nsys.exit(3)")
    assert r.is_error and not s["success"] and s["exit_code"] == 3 and s["stdout"] == "partial\n", s


async def t_timeout(session):
    t = time.monotonic()
    r, s = await run(session, "import time\nprint('started', flush=True)\ntime.sleep(30)", timeout_sec=1)
    assert r.is_error and s["timed_out"] and s["exit_code"] is None, s
    assert s["stdout"] == "started\n", s
    assert time.monotonic() - t < 10


async def t_truncation(session):
    _, s = await run(session, "print('A' + 'x' * 300000 + 'Z')")
    out = s["stdout"]
    assert s["stdout_truncated"], s["stdout_truncated"]
    # The cap (100,000 here) keeps the beginning and the end, with a marker.
    assert out.startswith("Axxx") and out.endswith("xxxZ\n"), (out[:20], out[-20:])
    assert "bytes cut from the middle" in out and len(out) < 100200, len(out)


async def t_network_violation(session):
    code = (
        "import urllib.request, urllib.error\n"
        "try:\n"
        "    urllib.request.urlopen('http://example.com/', timeout=10)\n"
        "except urllib.error.HTTPError as e:\n"
        "    print(e.code)\n"
    )
    _, s = await run(session, code)
    assert s["stdout"].strip() == "403", s
    assert len(s["violations"]) == 1, s
    v = s["violations"][0]
    assert v["kind"] == "network" and v["operation"] == "connect" and v["decision"] == "deny", v
    assert v["target"] == "example.com:80", v
    assert v["timestamp"].endswith("Z") and v["reason"], v


async def t_ssh_read_denied(session):
    code = "import os\nprint(open(os.path.expanduser('~/.ssh/id_rsa')).read())"
    r, s = await run(session, code)
    assert r.is_error and not s["success"], s
    assert "TOP-SECRET" not in s["stdout"] + s["stderr"], s
    assert "Error" in s["stderr"], s


async def t_write_outside_workspace_denied(session):
    _, s = await run(session, f"echo x > {OK_DIR}/no; echo x > here && echo wrote-here", language="sh")
    assert not os.path.exists(os.path.join(OK_DIR, "no")), s
    assert "Read-only file system" in s["stderr"] or "Permission denied" in s["stderr"], s
    assert "wrote-here" in s["stdout"], s


async def t_bad_arguments(session):
    cases = [
        ({"code": "print(1)", "language": "cobol"}, "`language`"),
        ({"language": "python"}, "`code`"),
        ({"code": "print(1)", "timeout_sec": -1}, "`timeout_sec`"),
        ({"code": "print(1)", "stdin": 5}, "`stdin`"),
        ({"code": "print(1)", "allowed_domains": ["pypi.org"]}, "`allowed_domains`"),
    ]
    for args, name in cases:
        r = await session.call_tool("execute_code", args)
        assert r.is_error and name in text_of(r), (args, text_of(r))


async def t_custom_within_ceiling(session):
    target = os.path.join(OK_DIR, "made-by-sandbox.txt")
    code = (
        f"echo granted > {target} && echo ok; "
        "python3 -c \"import urllib.request as u, os; print('proxy' if os.environ.get('HTTP_PROXY') else 'none')\""
    )
    r = await session.call_tool(
        "execute_code_with_custom_config",
        {"code": code, "language": "sh", "allowed_domains": ["api.example.org"], "allowed_write_paths": [OK_DIR]},
    )
    s = check_result(r)
    assert s["success"] and s["stdout"] == "ok\nproxy\n", s
    with open(target) as f:
        assert f.read() == "granted\n"


async def t_custom_beyond_ceiling(session):
    marker = os.path.join(OK_DIR, "must-not-exist")
    r = await session.call_tool(
        "execute_code_with_custom_config",
        {
            "code": f"touch {marker}",
            "language": "sh",
            "allowed_domains": ["api.example.org", "evil.com"],
            "allowed_write_paths": [OK_DIR, "/etc"],
        },
    )
    t = text_of(r)
    assert r.is_error and r.structured_content is None, t
    assert "allowed_domains[1]" in t and "evil.com" in t, t
    assert "allowed_write_paths[1]" in t and "/etc" in t, t
    assert "allowed_domains[0]" not in t, t
    assert "nothing ran" in t, t
    assert not os.path.exists(marker)


async def t_discover(session):
    r = await session.call_tool("discover_sandbox_config", {})
    assert not r.is_error
    d = r.structured_content
    assert json.loads(text_of(r)) == d
    assert d["policy"]["network"]["allowedDomains"] == ["pypi.org"], d["policy"]["network"]
    assert d["customConfigCeiling"]["source"] == "mcp.customConfigCeiling"
    langs = {l["language"]: l for l in d["languages"]}
    assert set(langs) == {"python", "javascript", "typescript", "bash", "sh"}
    assert langs["python"]["available"] and langs["python"]["version"].startswith("Python 3"), langs["python"]
    k = d["kernel"]
    for key in ["userNamespaces", "landlock", "seccomp", "limitMechanism"]:
        assert key in k, k
    assert d["limits"]["maxOutputBytesPerStream"] == 100000


async def t_concurrent(session):
    results = {}

    async def one(i):
        r = await session.call_tool("execute_code", {"code": f"echo {i} > f; sleep 0.2; cat f", "language": "sh"})
        results[i] = check_result(r)

    t = time.monotonic()
    async with anyio.create_task_group() as tg:
        for i in range(20):
            tg.start_soon(one, i)
    elapsed = time.monotonic() - t
    assert len(results) == 20
    for i, s in results.items():
        assert s["success"] and s["stdout"] == f"{i}\n", (i, s)
    # 20 runs of 0.2 s, 4 at a time: queued, yet well under serial time.
    assert elapsed < 20 * 0.2 + 10, elapsed


async def t_progress(session):
    seen = []

    async def on_progress(progress, total, message):
        seen.append((progress, message, total))

    r = await session.call_tool(
        "execute_code",
        {"code": "import time\nfor i in range(3):\n    print('tick', i, flush=True)\n    time.sleep(0.9)"},
        progress_callback=on_progress,
    )
    s = check_result(r)
    assert s["success"], s
    assert len(seen) >= 1, seen
    assert "running for" in (seen[0][1] or ""), seen
    # The total is the call's timeout (30 s by default): clients show a share.
    assert seen[0][2] == 30, seen


def procs_with(marker):
    out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    return [l for l in out.splitlines() if marker in l and "ps -eo" not in l]


async def t_cancellation(session):
    marker = f"srt-mcp-cancel-{os.getpid()}"
    code = f"sleep 60 & exec -a {marker} sleep 61"
    with anyio.move_on_after(1.5):
        await session.call_tool("execute_code", {"code": code, "language": "bash", "timeout_sec": 60})
        raise AssertionError("the call returned instead of running for a minute")
    deadline = time.monotonic() + 5
    while procs_with(marker) and time.monotonic() < deadline:
        await anyio.sleep(0.1)
    assert not procs_with(marker), procs_with(marker)
    # The server still serves.
    _, s = await run(session, "print('after')")
    assert s["stdout"] == "after\n"


TESTS = [
    t_tools, t_python, t_default_language_is_python, t_bash_and_sh, t_javascript, t_stdin,
    t_failure_is_error_with_result, t_timeout, t_truncation, t_network_violation, t_ssh_read_denied,
    t_write_outside_workspace_denied, t_bad_arguments, t_custom_within_ceiling, t_custom_beyond_ceiling,
    t_discover, t_concurrent, t_progress, t_cancellation,
]


async def main():
    passed = failed = 0

    async def all_tests(session):
        nonlocal passed, failed
        for t in TESTS:
            if FILTER not in t.__name__:
                continue
            start = time.monotonic()
            try:
                with anyio.fail_after(60):
                    await t(session)
                passed += 1
                print(f"test {t.__name__} ... ok ({time.monotonic() - start:.2f}s)", flush=True)
            except BaseException as e:  # noqa: BLE001 - report and go on
                if isinstance(e, KeyboardInterrupt):
                    raise
                failed += 1
                print(f"test {t.__name__} ... FAILED", flush=True)
                traceback.print_exc()

    await with_session(all_tests, "--max-concurrent", "4")

    # The same server over streamable HTTP: a subset of the tests, plus the Host check.
    if "http" in FILTER or not FILTER:
        p, f = await http_tests()
        passed += p
        failed += f
    return passed, failed


HTTP_TESTS = [t_tools, t_python, t_stdin, t_network_violation, t_custom_beyond_ceiling, t_concurrent]


async def http_tests():
    import http.client
    from mcp.client.streamable_http import streamable_http_client

    env = {"HOME": HOME, "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    proc = subprocess.Popen(
        [SRT_MCP, "--settings", SETTINGS, "--http", "127.0.0.1:0", "--max-concurrent", "4"],
        env=env, cwd=BASE, stderr=subprocess.PIPE, text=True,
    )
    passed = failed = 0
    try:
        line = proc.stderr.readline()
        url = line.strip().rsplit(" ", 1)[-1]
        assert url.startswith("http://127.0.0.1:") and url.endswith("/mcp"), line
        async with streamable_http_client(url) as streams:
            read, write = streams[0], streams[1]
            async with ClientSession(read, write) as session:
                await session.initialize()
                for t in HTTP_TESTS:
                    start = time.monotonic()
                    try:
                        with anyio.fail_after(60):
                            await t(session)
                        passed += 1
                        print(f"test http:{t.__name__} ... ok ({time.monotonic() - start:.2f}s)", flush=True)
                    except Exception:  # noqa: BLE001
                        failed += 1
                        print(f"test http:{t.__name__} ... FAILED", flush=True)
                        traceback.print_exc()
        # DNS rebinding guard: a foreign Host or Origin is refused.
        hostport = url.split("/")[2]
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "ping"})
        for headers, name in [({"Host": "evil.example.com"}, "host"), ({"Origin": "http://evil.example.com"}, "origin")]:
            c = http.client.HTTPConnection(hostport, timeout=10)
            h = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream", **headers}
            c.request("POST", "/mcp", body=body, headers=h)
            status = c.getresponse().status
            if status == 403 or status == 400 or status == 421:
                passed += 1
                print(f"test http:foreign_{name}_refused ... ok ({status})", flush=True)
            else:
                failed += 1
                print(f"test http:foreign_{name}_refused ... FAILED (status {status})", flush=True)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    return passed, failed


if __name__ == "__main__":
    try:
        passed, failed = anyio.run(main)
    finally:
        shutil.rmtree(BASE, ignore_errors=True)
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
