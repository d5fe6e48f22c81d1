#!/usr/bin/env python3
"""srt-mcp benchmark: latency, sustained throughput, idle memory.

Helper for scripts/bench-mcp.sh; needs PyPI's `mcp` (the official MCP Python
client), so it runs in the venv that script prepares. A measurement, never a
test: the exit status is non-zero only when something fails to run.

    mcp_bench.py --mcp SRT_MCP --srt SRT --stage DIR [--runs N] [--seconds S]
                 [--inflight 2,4] [--max-concurrent 2] [--path PATH]
                 [--baseline-mcp SRT_MCP]

Sections, in this order:

  memory      srt-mcp's VmRSS / VmHWM / Pss after initialize and tools/list
              (idle), for the server the mcp client started and for the one
              driven over raw JSON-RPC; again after the latency and the
              throughput sections.
  latency     print(1) in python, one call at a time, all variants
              interleaved round-robin (the starting variant rotates each
              round; warm-up rounds excluded):
                bare      python3 -c 'print(1)'         (the interpreter the
                                                          server resolves)
                srt       srt -- python3 -c 'print(1)'
                mcp       execute_code {code: "print(1)"} through the mcp client
                raw       the same call as hand-written newline-delimited
                          JSON-RPC over the server's stdio (no client library)
                rt        discover_sandbox_config through the mcp client: a
                          tool round trip that runs nothing (the server caches
                          the answer after the first call)
                base      with --baseline-mcp: raw's call against that
                          (earlier) srt-mcp build, in the same rounds
  throughput  `true` in sh with srt-mcp --max-concurrent N (default 2), the
              client keeping K calls in flight for S seconds each, for each K
              of --inflight through the mcp client and for the largest K over
              raw JSON-RPC, and bare `sh main.sh` from K threads (no sandbox,
              no server: the machine's ceiling); executions per second,
              per-call latency, CPU of the client, of the server (with its
              reaped sandboxes), of everything else, of the whole machine.

The server runs with the built-in default settings (HOME is an empty
directory under the stage: no ~/.srt-settings.json), from an empty working
directory, with PATH set to --path so `python3` is the system interpreter
rather than a version manager's shim.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time

import anyio
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stats import summary  # noqa: E402 (next to this file)

TICK = os.sysconf("SC_CLK_TCK")
NCPU = os.cpu_count() or 1
PROTOCOL = "2025-11-25"


def die(msg):
    print(f"bench-mcp: {msg}", file=sys.stderr)
    sys.exit(1)


# --------------------------------------------------------------------------
# statistics and formatting




def ms(x):
    return f"{x * 1000:.1f}"


def mib(kib):
    return f"{kib / 1024:.1f}" if kib is not None else "n/a"


def table(headers, rows, align=None):
    cols = [headers] + rows
    widths = [max(len(str(r[i])) for r in cols) for i in range(len(headers))]
    align = align or ["<"] + [">"] * (len(headers) - 1)
    fmt = "  ".join(f"{{:{a}{w}}}" for a, w in zip(align, widths))
    print(fmt.format(*headers))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print(fmt.format(*[str(c) for c in r]))


# --------------------------------------------------------------------------
# /proc


def status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem", "Threads"):
                out[k] = int(v.split()[0])
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    out["Pss"] = int(line.split()[1])
    except OSError:
        pass
    return out


def cpu_ticks(pid):
    """utime+stime of the process and of its waited-for children (the sandboxes)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is the state (field 3); utime is field 14.
    return sum(int(x) for x in fields[11:15])


def machine_ticks():
    """(busy, total) jiffies of all CPUs."""
    with open("/proc/stat") as f:
        parts = [int(x) for x in f.readline().split()[1:]]
    idle = parts[3] + (parts[4] if len(parts) > 4 else 0)
    total = sum(parts[:8])
    return total - idle, total


def self_cpu():
    """CPU seconds of this process and of the children it has reaped (bare and srt runs)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def children_named(name):
    me = os.getpid()
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                s = f.read()
        except OSError:
            continue
        comm = s[s.index("(") + 1 : s.rindex(")")]
        ppid = int(s.rsplit(")", 1)[1].split()[1])
        if ppid == me and comm == name:
            found.append(int(d))
    return found


def server_pid():
    """The srt-mcp process the mcp client started (the only srt-mcp child at that point)."""
    pids = children_named("srt-mcp")
    if len(pids) != 1:
        die(f"cannot find the srt-mcp process the mcp client started (srt-mcp children: {pids})")
    return pids[0]


class CpuWindow:
    """CPU used by the client, by the server tree, and by the machine, over a window."""

    def __init__(self, *server_pids):
        self.pids = server_pids

    def server_ticks(self):
        return sum(cpu_ticks(p) for p in self.pids)

    def __enter__(self):
        self.t0 = time.monotonic()
        self.c0 = self_cpu()
        self.s0 = self.server_ticks()
        self.m0 = machine_ticks()
        return self

    def __exit__(self, *exc):
        self.wall = time.monotonic() - self.t0
        self.client = (self_cpu() - self.c0) / self.wall
        self.server = (self.server_ticks() - self.s0) / TICK / self.wall
        b1, t1 = machine_ticks()
        self.machine = (b1 - self.m0[0]) / max(1, t1 - self.m0[1])  # fraction of all CPUs
        return False


# --------------------------------------------------------------------------
# a hand-written JSON-RPC client over the server's stdio


class RawClient:
    """Newline-delimited JSON-RPC over srt-mcp's stdin/stdout; calls may overlap."""

    def __init__(self, argv, env, cwd, errlog):
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errlog, env=env, cwd=cwd)
        self.pid = self.p.pid
        self.lock = threading.Lock()
        self.wlock = threading.Lock()
        self.next_id = 1
        self.pending = {}
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.p.stdout:
            t = time.perf_counter()
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if "id" in msg and "method" in msg:
                # A request from the server (ping): answer it.
                self._write({"jsonrpc": "2.0", "id": msg["id"], "result": {}})
                continue
            if "id" not in msg:
                continue  # a notification
            with self.lock:
                cb = self.pending.pop(msg["id"], None)
            if cb:
                cb(msg, t)
        with self.lock:
            pending, self.pending = self.pending, {}
        for cb in pending.values():
            cb({"error": {"message": "the server closed its stdout"}}, time.perf_counter())

    def _write(self, obj):
        data = (json.dumps(obj, separators=(",", ":")) + "\n").encode()
        with self.wlock:
            self.p.stdin.write(data)
            self.p.stdin.flush()

    def send(self, method, params, cb):
        with self.lock:
            i = self.next_id
            self.next_id += 1
            self.pending[i] = cb
        self._write({"jsonrpc": "2.0", "id": i, "method": method, "params": params})

    def call(self, method, params, timeout=60):
        done = threading.Event()
        box = {}

        def cb(msg, t):
            box["msg"], box["t"] = msg, t
            done.set()

        self.send(method, params, cb)
        if not done.wait(timeout):
            raise RuntimeError(f"no answer to {method} within {timeout} s")
        if "error" in box["msg"]:
            raise RuntimeError(f"{method}: {box['msg']['error']}")
        return box["msg"]["result"], box["t"]

    def initialize(self):
        r, _ = self.call(
            "initialize",
            {"protocolVersion": PROTOCOL, "capabilities": {}, "clientInfo": {"name": "srt-mcp-bench", "version": "0"}},
        )
        self._write({"jsonrpc": "2.0", "method": "notifications/initialized"})
        return r

    def close(self):
        try:
            self.p.stdin.close()
        except OSError:
            pass
        try:
            self.p.wait(5)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()


def raw_exec_params(code, language):
    return {"name": "execute_code", "arguments": {"code": code, "language": language}}


def raw_ok(msg):
    r = msg.get("result")
    return bool(r and not r.get("isError") and (r.get("structuredContent") or {}).get("success"))


# --------------------------------------------------------------------------
# the benchmark


class Bench:
    def __init__(self, a):
        self.a = a
        self.home = os.path.join(a.stage, "home")
        self.work = os.path.join(a.stage, "work")
        os.makedirs(self.home, exist_ok=True)
        os.makedirs(self.work, exist_ok=True)
        self.env = {"HOME": self.home, "PATH": a.path, "LANG": "C.UTF-8"}
        self.errlog = open(os.path.join(a.stage, "srt-mcp.stderr"), "w")
        self.mem = []  # (label, status dict)
        self.failures = []

    def server_params(self, *extra):
        return StdioServerParameters(command=self.a.mcp, args=list(extra), env=self.env, cwd=self.work)

    def raw_server(self, *extra):
        c = RawClient([self.a.mcp, *extra], self.env, self.work, self.errlog)
        c.initialize()
        return c

    def note_mem(self, label, pid):
        self.mem.append((label, status(pid)))

    # ---------------------------------------------------------------- latency

    async def latency_and_memory(self):
        a = self.a
        t0 = time.perf_counter()
        async with stdio_client(self.server_params(), errlog=self.errlog) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                t_init = time.perf_counter() - t0
                tools = (await session.list_tools()).tools
                pid = server_pid()
                await anyio.sleep(0.3)
                self.note_mem("idle: after initialize + tools/list (mcp client)", pid)

                raw = self.raw_server()
                raw.call("tools/list", {})
                base = None
                if a.baseline_mcp:
                    base = RawClient([a.baseline_mcp], self.env, self.work, self.errlog)
                    base.initialize()
                    base.call("tools/list", {})
                time.sleep(0.3)
                self.note_mem("idle: after initialize + tools/list (raw JSON-RPC)", raw.pid)

                # The interpreter the server runs python with; bare runs the same.
                d = (await session.call_tool("discover_sandbox_config", {})).structured_content or {}
                py = None
                for lang in d.get("languages", []):
                    if lang.get("language") == "python" and lang.get("available"):
                        py = lang["command"][0]
                        self.py_version = lang.get("version")
                if not py:
                    die(f"the server reports no python interpreter: {json.dumps(d)[:500]}")
                self.py = py
                self.note_mem("after one discover_sandbox_config (runs each interpreter's --version)", pid)

                print(f"server:   {len(tools)} tools; initialize answered {ms(t_init)} ms after spawn (mcp client)")
                print(f"python:   {py} ({self.py_version}); the server runs `{' '.join(lang_cmd(d, 'python'))} main.py`")
                print()

                variants = self.variants(session, raw, base)
                samples = {k: [] for k, _ in variants}
                server_ms = []
                rounds = a.warmup + a.runs
                t_start = time.monotonic()
                with CpuWindow(pid, raw.pid) as win:
                    for r in range(rounds):
                        k = r % len(variants)
                        order = variants[k:] + variants[:k]
                        row = {}
                        for name, fn in order:
                            dt, extra = await fn()
                            row[name] = dt
                            if extra is not None and r >= a.warmup:
                                server_ms.append(extra)
                        if r >= a.warmup:
                            for name, dt in row.items():
                                samples[name].append(dt)
                elapsed = time.monotonic() - t_start
                self.note_mem(f"after the latency section ({rounds} rounds, {rounds * 2} executions)", pid)
                self.note_mem("raw server after the latency section", raw.pid)
                raw.close()
                if base:
                    base.close()
        self.report_latency(samples, server_ms, elapsed, win)

    def variants(self, session, raw, base):
        py, srt, env, work = self.py, self.a.srt, self.env, self.work

        def proc(argv):
            async def run():
                t = time.perf_counter()
                p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=work)
                dt = time.perf_counter() - t
                if p.returncode != 0 or p.stdout != b"1\n":
                    die(f"{argv} failed ({p.returncode}): {p.stdout[:200]!r} {p.stderr[:500]!r}")
                return dt, None

            return run

        async def mcp_exec():
            t = time.perf_counter()
            r = await session.call_tool("execute_code", {"code": "print(1)"})
            dt = time.perf_counter() - t
            s = r.structured_content or {}
            if r.is_error or s.get("stdout") != "1\n":
                die(f"execute_code print(1) through the mcp client failed: {s or r}")
            return dt, s.get("duration_ms")

        def raw_exec_on(client):
            async def run():
                t = time.perf_counter()
                res, t_done = client.call("tools/call", raw_exec_params("print(1)", "python"))
                dt = t_done - t
                s = res.get("structuredContent") or {}
                if res.get("isError") or s.get("stdout") != "1\n":
                    die(f"execute_code print(1) over raw JSON-RPC failed: {res}")
                return dt, None

            return run

        async def round_trip():
            t = time.perf_counter()
            r = await session.call_tool("discover_sandbox_config", {})
            dt = time.perf_counter() - t
            if r.is_error:
                die(f"discover_sandbox_config failed: {r}")
            return dt, None

        return [
            ("bare", proc([py, "-c", "print(1)"])),
            ("srt", proc([srt, "--", py, "-c", "print(1)"])),
            ("mcp", mcp_exec),
            ("raw", raw_exec_on(raw)),
            ("rt", round_trip),
        ] + ([("base", raw_exec_on(base))] if base else [])

    def report_latency(self, samples, server_ms, elapsed, win):
        a = self.a
        label = {
            "bare": "bare: python3 -c 'print(1)'",
            "srt": "srt -- python3 -c 'print(1)'",
            "mcp": "mcp client: execute_code print(1)",
            "raw": "raw JSON-RPC: execute_code print(1)",
            "rt": "mcp client: discover_sandbox_config",
            "base": "raw JSON-RPC, baseline build",
        }
        st = {k: summary(v) for k, v in samples.items()}
        bare = st["bare"]["median"]
        print(f"== latency: one call at a time, {a.runs} interleaved rounds (+{a.warmup} warm-up), ms")
        rows = []
        for k in ["bare", "srt", "mcp", "raw", "rt"] + (["base"] if "base" in st else []):
            s = st[k]
            paired = statistics.median(x - y for x, y in zip(samples[k], samples["bare"]))
            rows.append(
                [
                    label[k],
                    ms(s["median"]),
                    ms(s["p10"]),
                    ms(s["p90"]),
                    ms(s["min"]),
                    ms(s["max"]),
                    "" if k == "bare" else f"{s['median'] / bare:.2f}x",
                    "" if k == "bare" else f"{(s['median'] - bare) * 1000:+.1f}",
                    "" if k == "bare" else f"{paired * 1000:+.1f}",
                ]
            )
        table(["variant", "median", "p10", "p90", "min", "max", "/bare", "-bare", "paired-bare"], rows)
        sm = summary(server_ms)
        print(
            f"server-reported duration_ms of the mcp calls (sandbox run, as the result says): "
            f"median {sm['median']:.0f}, p10 {sm['p10']:.0f}, p90 {sm['p90']:.0f}"
        )
        print(
            f"section: {elapsed:.1f} s; CPU while it ran, in % of one core: client with its bare and srt runs "
            f"{win.client * 100:.0f}%, "
            f"both srt-mcp with their sandboxes {win.server * 100:.0f}%, everything else "
            f"{max(0.0, win.machine * NCPU - win.client - win.server) * 100:.0f}%; machine {win.machine * 100:.0f}% busy "
            f"(of {NCPU} CPUs)"
        )
        m = {k: st[k]["median"] for k in st}
        print()
        print("where the time of one execute_code goes (differences of medians, ms):")
        table(
            ["step", "ms"],
            [
                ["python3 itself (bare)", ms(m["bare"])],
                ["+ sandbox: srt -- python3 over bare", f"{(m['srt'] - m['bare']) * 1000:+.1f}"],
                ["+ srt-mcp per call over srt (raw JSON-RPC - srt)", f"{(m['raw'] - m['srt']) * 1000:+.1f}"],
                ["+ Python mcp client library (mcp - raw)", f"{(m['mcp'] - m['raw']) * 1000:+.1f}"],
                ["= execute_code through the mcp client", ms(m["mcp"])],
                ["(a tool round trip running nothing, mcp client)", ms(m["rt"])],
            ],
        )
        if "base" in m:
            paired = statistics.median(x - y for x, y in zip(samples["raw"], samples["base"]))
            print(
                f"this build against the baseline build (raw JSON-RPC, same rounds): {ms(m['raw'])} vs "
                f"{ms(m['base'])} ms, {m['raw'] / m['base']:.2f}x, paired difference {paired * 1000:+.1f} ms"
            )
        self.lat = dict(mcp=m["mcp"], raw=m["raw"], bare=m["bare"], srt=m["srt"], rt=m["rt"],
                        paired=statistics.median(x - y for x, y in zip(samples["mcp"], samples["bare"])),
                        paired_raw=statistics.median(x - y for x, y in zip(samples["raw"], samples["bare"])))
        print()

    # ------------------------------------------------------------- throughput

    async def throughput(self):
        a = self.a
        print(f"== throughput: sh `true`, srt-mcp --max-concurrent {a.max_concurrent}, {a.seconds:g} s per row")
        rows = []
        self.tp = []
        mc = ["--max-concurrent", str(a.max_concurrent)]
        async with stdio_client(self.server_params(*mc), errlog=self.errlog) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                await session.list_tools()
                pid = server_pid()
                for k in a.inflight:
                    rows.append(await self.tp_mcp(session, pid, k))
                self.note_mem(f"after the mcp-client throughput rows (--max-concurrent {a.max_concurrent})", pid)
        raw = self.raw_server(*mc)
        try:
            rows.append(self.tp_raw(raw, max(a.inflight)))
            self.note_mem(f"raw server after its throughput row (--max-concurrent {a.max_concurrent})", raw.pid)
        finally:
            raw.close()
        rows.append(self.tp_bare(max(a.inflight)))
        table(
            ["client", "in flight", "calls", "failed", "exec/s", "lat med", "lat p90", "client CPU", "server CPU",
             "others CPU", "machine busy"],
            rows,
        )
        print("lat: per-call latency, ms. CPU in % of one core: client = this Python process with the processes it")
        print("ran and reaped; server = srt-mcp with its reaped sandboxes; others = everything else on the machine,")
        print("kernel threads included (the teardown of each sandbox's network namespace runs in kworkers, so part")
        print(f"of it is ours). machine busy: % of all {NCPU} CPUs. The bare row runs `sh main.sh` (a file holding")
        print("`true`) from K threads, no sandbox and no server: the ceiling of process spawning on this machine.")
        print()

    async def tp_mcp(self, session, pid, k):
        args = {"code": "true", "language": "sh"}
        for _ in range(4):  # warm-up
            await session.call_tool("execute_code", args)
        lats, bad = [], []
        deadline = time.monotonic() + self.a.seconds

        async def worker():
            while time.monotonic() < deadline:
                t = time.perf_counter()
                r = await session.call_tool("execute_code", args)
                lats.append(time.perf_counter() - t)
                if r.is_error or not (r.structured_content or {}).get("success"):
                    bad.append(r)

        with CpuWindow(pid) as w:
            async with anyio.create_task_group() as tg:
                for _ in range(k):
                    tg.start_soon(worker)
        return self.tp_row("mcp client", k, lats, bad, w)

    def tp_raw(self, raw, k):
        params = raw_exec_params("true", "sh")
        for _ in range(4):
            raw.call("tools/call", params)
        lats, bad = [], []
        sem = threading.Semaphore(k)
        deadline = time.monotonic() + self.a.seconds
        with CpuWindow(raw.pid) as w:
            while True:
                sem.acquire()
                if time.monotonic() >= deadline:
                    sem.release()
                    break
                t = time.perf_counter()

                def cb(msg, t_done, t=t):
                    lats.append(t_done - t)
                    if not raw_ok(msg):
                        bad.append(msg)
                    sem.release()

                raw.send("tools/call", params, cb)
            for _ in range(k):
                sem.acquire()
        return self.tp_row("raw JSON-RPC", k, lats, bad, w)

    def tp_bare(self, k):
        script = os.path.join(self.a.stage, "main.sh")
        with open(script, "w") as f:
            f.write("true\n")
        sh = next((os.path.join(d, "sh") for d in self.a.path.split(":") if os.access(os.path.join(d, "sh"), os.X_OK)), "/bin/sh")
        lats, bad = [], []
        deadline = time.monotonic() + self.a.seconds

        def worker():
            while time.monotonic() < deadline:
                t = time.perf_counter()
                p = subprocess.run([sh, script], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, env=self.env, cwd=self.work)
                lats.append(time.perf_counter() - t)
                if p.returncode != 0:
                    bad.append(p)

        with CpuWindow(os.getpid()) as w:
            ts = [threading.Thread(target=worker) for _ in range(k)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
        w.server = 0.0  # the "server" here is this process: count it once, as the client
        return self.tp_row("bare sh (no sandbox)", k, lats, bad, w)

    def tp_row(self, client, k, lats, bad, w):
        if bad:
            self.failures.append(f"{client} k={k}: {len(bad)} failed calls, first: {str(bad[0])[:300]}")
        s = summary(lats)
        rate = len(lats) / w.wall
        if not client.startswith("bare"):
            self.tp.append((client, k, rate))
        return [
            client,
            k,
            len(lats),
            len(bad),
            f"{rate:.1f}",
            ms(s["median"]),
            ms(s["p90"]),
            f"{w.client * 100:.0f}%",
            f"{w.server * 100:.0f}%",
            f"{max(0.0, w.machine * NCPU - w.client - w.server) * 100:.0f}%",
            f"{w.machine * 100:.0f}%",
        ]

    # ----------------------------------------------------------------- memory

    def report_memory(self):
        print("== srt-mcp memory (MiB, from /proc/PID/status and smaps_rollup)")
        rows = []
        for label, s in self.mem:
            rows.append([label, mib(s.get("VmRSS")), mib(s.get("VmHWM")), mib(s.get("RssAnon")), mib(s.get("RssFile")),
                         mib(s.get("Pss")), s.get("Threads", "")])
        table(["when", "VmRSS", "VmHWM", "RssAnon", "RssFile", "Pss", "threads"], rows)
        print()

    def report_targets(self):
        idle = self.mem[0][1]
        lat = self.lat
        print("== against the issue's targets (reported, not judged by the exit status)")
        # Issue 14: +4 ms per call through the Python SDK, 300 `sh true`
        # calls per second on 2 cores (it was +5 ms and 100/s before).
        rows = [
            ["execute_code print(1), mcp client: median - bare median", f"{(lat['mcp'] - lat['bare']) * 1000:.1f} ms",
             "<= 4 ms", verdict(lat["mcp"] - lat["bare"] <= 0.004)],
            ["  same, median of per-round differences", f"{lat['paired'] * 1000:.1f} ms", "<= 4 ms",
             verdict(lat["paired"] <= 0.004)],
            ["  same over raw JSON-RPC (no client library)", f"{(lat['raw'] - lat['bare']) * 1000:.1f} ms", "<= 4 ms",
             verdict(lat["raw"] - lat["bare"] <= 0.004)],
            ["execute_code print(1), mcp client: median", f"{lat['mcp'] * 1000:.1f} ms", "", ""],
        ]
        for client, k, rate in self.tp:
            rows.append([f"sh true, --max-concurrent {self.a.max_concurrent}, {client}, {k} in flight",
                         f"{rate:.1f} exec/s", ">= 300/s", verdict(rate >= 300)])
        rows.append(["idle srt-mcp VmRSS", f"{mib(idle.get('VmRSS'))} MiB", "<= 20 MiB",
                     verdict(idle.get("VmRSS", 1 << 30) <= 20 * 1024)])
        rows.append(["idle srt-mcp VmHWM", f"{mib(idle.get('VmHWM'))} MiB", "<= 20 MiB",
                     verdict(idle.get("VmHWM", 1 << 30) <= 20 * 1024)])
        table(["figure", "value", "target", ""], rows, ["<", ">", "<", "<"])
        print()


def verdict(ok):
    return "met" if ok else "MISSED"


def lang_cmd(d, name):
    for lang in d.get("languages", []):
        if lang.get("language") == name:
            return lang.get("command") or [name]
    return [name]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mcp", required=True, help="the srt-mcp binary")
    ap.add_argument("--srt", required=True, help="the srt binary")
    ap.add_argument("--stage", required=True, help="scratch directory (not under /tmp)")
    ap.add_argument("--runs", type=int, default=40, help="latency rounds (default 40)")
    ap.add_argument("--warmup", type=int, default=3, help="latency warm-up rounds (default 3)")
    ap.add_argument("--seconds", type=float, default=10, help="seconds per throughput row (default 10)")
    ap.add_argument("--inflight", default="2,4", help="calls in flight, comma-separated (default 2,4)")
    ap.add_argument("--max-concurrent", type=int, default=2, help="srt-mcp --max-concurrent for throughput (default 2)")
    ap.add_argument("--path", default="/usr/local/bin:/usr/bin:/bin", help="PATH of the server and of the bare runs")
    ap.add_argument("--baseline-mcp", help="an earlier srt-mcp build to time in the same latency rounds")
    a = ap.parse_args()
    a.inflight = [int(x) for x in a.inflight.split(",") if x]
    a.mcp, a.srt, a.stage = (os.path.abspath(p) for p in (a.mcp, a.srt, a.stage))
    b = Bench(a)
    try:
        anyio.run(b.latency_and_memory)
        anyio.run(b.throughput)
    finally:
        b.errlog.close()
    b.report_memory()
    b.report_targets()
    errs = open(os.path.join(a.stage, "srt-mcp.stderr")).read().strip()
    if errs:
        print("srt-mcp stderr (last lines):")
        print("\n".join("  " + l for l in errs.splitlines()[-10:]))
    if b.failures:
        for f in b.failures:
            print(f"bench-mcp: {f}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
