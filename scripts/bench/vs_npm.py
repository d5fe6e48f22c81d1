#!/usr/bin/env python3
"""srt (this repository) against @anthropic-ai/sandbox-runtime from npm.

Helper for scripts/bench-vs-npm.sh; Python 3 standard library only. One
invocation measures everything, in this order:

  start-up   wall time of `true` bare and under each sandbox, with a settings
             file allowing one domain ("net") and one allowing none ("nonet");
             all variants interleaved round-robin (the starting variant
             rotates each round), warm-up rounds excluded.
  memory     while `SANDBOX -s FILE -- sleep S` runs, the process tree below
             the top-level process is sampled every few ms from /proc: peak of
             the summed RSS, peak of the summed PSS, the top-level process's
             own VmHWM; plus GNU time's %M for `-- true` (ru_maxrss: the
             largest single-process peak among the waited-for tree).
  throughput 1 GiB from a host-loopback HTTP server (this file's `serve`
             subcommand: one preallocated 4 MiB buffer sent over and over)
             with curl inside each sandbox going through the sandbox's HTTP
             proxy, absolute-URI forwarding and CONNECT (`curl -p`), plus a
             direct curl without any sandbox; interleaved round-robin.

Reported, never judged: the exit status is non-zero only when something fails
to run.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stats import run_once, status_kib, summary  # noqa: E402 (next to this file)
import loopback  # noqa: E402 (next to this file)

MIB = 1024 * 1024
GIB = 1024 * MIB


def die(msg):
    print(f"bench-vs-npm: {msg}", file=sys.stderr)
    sys.exit(1)




# --------------------------------------------------------------------------
# settings files (the npm CLI refuses a file that lacks any of
# network.allowedDomains/deniedDomains, filesystem.denyRead/allowWrite/
# denyWrite, so every file spells them all out; srt reads the same format)


def settings(domains):
    return {
        "network": {"allowedDomains": domains, "deniedDomains": []},
        "filesystem": {"denyRead": [], "allowWrite": ["."], "denyWrite": []},
    }


def write_settings(path, domains):
    with open(path, "w") as f:
        json.dump(settings(domains), f)
    return path


class Tools:
    def __init__(self, args):
        self.ours = os.path.abspath(args.ours)
        self.node = shutil.which("node") or die("node not found on PATH")
        self.npm_cli = os.path.realpath(args.npm_cli)
        self.stage = os.path.abspath(args.stage)

    def ours_cmd(self, cfg, *rest):
        return [self.ours, "-s", cfg, *rest]

    def npm_cmd(self, cfg, *rest):
        return [self.node, self.npm_cli, "-s", cfg, *rest]


def check_runs(name, argv):
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if r.returncode != 0:
        die(f"{name}: `{' '.join(argv)}` exited {r.returncode}:\n{r.stdout.strip()}\n{r.stderr.strip()}")


# --------------------------------------------------------------------------
# start-up



# npm srt's socat bridges fail now and then under load: a failed npm run is
# retried (up to this many times in a row) and counted; ours never is.
NPM_RETRIES = 3


def report_npm_failures(failures, what):
    counted = {name: n for name, n in failures.items() if n}
    if counted:
        listed = ", ".join(f"{name.strip()} {n}" for name, n in counted.items())
        print(f"  npm srt failures in the {what} (each retried): {listed}")
    else:
        print(f"  npm srt failures in the {what}: none")


def startup(t, net, nonet, runs, warmup):
    true = shutil.which("true")
    vs = [
        ("bare true", [true]),
        ("ours  net", t.ours_cmd(net, "--", "true")),
        ("npm   net", t.npm_cmd(net, "--", "true")),
        ("ours  nonet", t.ours_cmd(nonet, "--", "true")),
        ("npm   nonet", t.npm_cmd(nonet, "--", "true")),
    ]
    for name, argv in vs:
        check_runs(name, argv)
    devnull = os.open(os.devnull, os.O_RDWR)
    fa = [(os.POSIX_SPAWN_DUP2, devnull, fd) for fd in (0, 1, 2)]
    env = dict(os.environ)
    samples = {name: [] for name, _ in vs}
    failures = {name: 0 for name, _ in vs}
    n = len(vs)
    for rnd in range(warmup + runs):
        for i in range(n):
            name, argv = vs[(rnd + i) % n]
            for attempt in range(NPM_RETRIES + 1):
                ns, status = run_once(argv, fa, env)
                if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
                    break
                if not name.startswith("npm") or attempt == NPM_RETRIES:
                    die(f"{name}: `{' '.join(argv)}` failed (wait status {status:#x}) in round {rnd}")
                failures[name] += 1
            if rnd >= warmup:
                samples[name].append(ns / 1e6)
    os.close(devnull)
    st = {name: summary(ms) for name, ms in samples.items()}
    bare = st["bare true"]["median"]
    print(f"{runs} runs per variant, interleaved round-robin, {warmup} warm-up rounds excluded; ms")
    print("net = median minus the bare-true median (the harness's own spawn+wait cost)")
    hdr = f"{'variant':<14}{'median':>9}{'p10':>9}{'p90':>9}{'min':>9}{'max':>9}{'net':>9}"
    print(hdr)
    print("-" * len(hdr))
    for name, _ in vs:
        s = st[name]
        print(f"{name:<14}{s['median']:9.2f}{s['p10']:9.2f}{s['p90']:9.2f}{s['min']:9.2f}{s['max']:9.2f}"
              f"{s['median'] - bare:9.2f}")
    report_npm_failures(failures, "start-up runs")
    print()
    for kind in ("net", "nonet"):
        o = st[f"ours  {kind}"]
        m = st[f"npm   {kind}"]
        print(f"  {kind:<6} npm/ours: median {m['median'] / o['median']:6.1f}x"
              f"   p10 {m['p10'] / o['p10']:6.1f}x   p90 {m['p90'] / o['p90']:6.1f}x"
              f"   net of bare {(m['median'] - bare) / max(o['median'] - bare, 1e-9):6.1f}x")


# --------------------------------------------------------------------------
# memory


def proc_table():
    """pid -> (ppid, comm) for every process visible in /proc."""
    tab = {}
    for e in os.listdir("/proc"):
        if not e.isdigit():
            continue
        try:
            with open(f"/proc/{e}/stat") as f:
                st = f.read()
        except OSError:
            continue
        comm = st[st.find("(") + 1:st.rfind(")")]
        fields = st[st.rfind(")") + 2:].split()
        tab[int(e)] = (int(fields[1]), comm)
    return tab


def tree(root, tab):
    kids = {}
    for pid, (ppid, _) in tab.items():
        kids.setdefault(ppid, []).append(pid)
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, ()))
    return out


def pss_kib(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class TreeSampler(threading.Thread):
    """Samples the process tree below root until stopped; keeps the peaks (KiB).

    rss/pss: peak over samples of the sum over the tree (excluding processes
    named `exclude`, the payload, in the *_x variants); top_hwm: the root's own
    VmHWM; procs: the largest number of processes seen at once.
    """

    def __init__(self, root, interval, exclude=None):
        super().__init__(daemon=True)
        self.root, self.interval, self.exclude = root, interval, exclude
        self.stop = threading.Event()
        self.rss = self.pss = self.rss_x = self.pss_x = self.top_hwm = self.procs = 0
        self.samples = 0

    def run(self):
        while not self.stop.is_set():
            tab = proc_table()
            if self.root not in tab:
                break
            rss = pss = rss_x = pss_x = n = 0
            for pid in tree(self.root, tab):
                st = status_kib(pid)
                if st is None:
                    continue
                ps = pss_kib(pid)
                n += 1
                rss += st["VmRSS"]
                pss += ps
                if tab[pid][1] != self.exclude:
                    rss_x += st["VmRSS"]
                    pss_x += ps
                if pid == self.root:
                    self.top_hwm = max(self.top_hwm, st.get("VmHWM", 0))
            self.rss, self.pss = max(self.rss, rss), max(self.pss, pss)
            self.rss_x, self.pss_x = max(self.rss_x, rss_x), max(self.pss_x, pss_x)
            self.procs = max(self.procs, n)
            self.samples += 1
            self.stop.wait(self.interval)


def gnu_time_kib(argv):
    if not os.access("/usr/bin/time", os.X_OK):
        return None
    with tempfile.NamedTemporaryFile(mode="r", dir=".", prefix=".time-") as out:
        r = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", out.name, *argv],
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if r.returncode != 0:
            die(f"`/usr/bin/time {' '.join(argv)}` exited {r.returncode}:\n{r.stderr.strip()}")
        return int(out.read().strip().splitlines()[-1])


def memory(t, net, nonet, reps, sleep_s):
    sleep = shutil.which("sleep")
    vs = [
        ("ours  net", lambda *a: t.ours_cmd(net, *a)),
        ("npm   net", lambda *a: t.npm_cmd(net, *a)),
        ("ours  nonet", lambda *a: t.ours_cmd(nonet, *a)),
        ("npm   nonet", lambda *a: t.npm_cmd(nonet, *a)),
    ]
    print(f"process tree of `SANDBOX -s FILE -- sleep {sleep_s}` sampled every ~5 ms from /proc; "
          f"max over {reps} runs (interleaved); MiB")
    print("  sum RSS / sum PSS: peak over samples of the sum over every process of the run (sandbox tool,")
    print("  bwrap/init, helpers, socat, the payload `sleep`); RSS double-counts shared pages, PSS splits them")
    print("  top VmHWM: the top-level process's own peak (srt supervisor / node)")
    print("  GNU time %M: ru_maxrss of `SANDBOX -- true` (largest single-process peak in the waited-for tree)")
    res = {name: dict(rss=0, pss=0, top=0, procs=0, gt=0) for name, _ in vs}
    for rep in range(reps):
        for i in range(len(vs)):
            name, mk = vs[(rep + i) % len(vs)]
            p = subprocess.Popen(mk("--", sleep, str(sleep_s)), stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            s = TreeSampler(p.pid, 0.005)
            s.start()
            rc = p.wait()
            s.stop.set()
            s.join()
            if rc != 0:
                die(f"{name}: memory run exited {rc}")
            r = res[name]
            r["rss"], r["pss"] = max(r["rss"], s.rss), max(r["pss"], s.pss)
            r["top"], r["procs"] = max(r["top"], s.top_hwm), max(r["procs"], s.procs)
            gt = gnu_time_kib(mk("--", "true"))
            r["gt"] = max(r["gt"], gt or 0)
    hdr = f"{'variant':<14}{'sum RSS':>10}{'sum PSS':>10}{'top VmHWM':>11}{'GNU %M':>9}{'procs':>7}"
    print(hdr)
    print("-" * len(hdr))
    for name, _ in vs:
        r = res[name]
        print(f"{name:<14}{r['rss'] / 1024:10.1f}{r['pss'] / 1024:10.1f}{r['top'] / 1024:11.1f}"
              f"{r['gt'] / 1024:9.1f}{r['procs']:7d}")
    print()
    for kind in ("net", "nonet"):
        o, m = res[f"ours  {kind}"], res[f"npm   {kind}"]
        print(f"  {kind:<6} npm/ours: sum RSS {m['rss'] / o['rss']:5.1f}x   sum PSS {m['pss'] / o['pss']:5.1f}x"
              f"   top VmHWM {m['top'] / o['top']:5.1f}x   GNU %M {m['gt'] / max(o['gt'], 1):5.1f}x")


# --------------------------------------------------------------------------
# throughput


def serve(args):
    """HTTP/1.1 server on 127.0.0.1:0: any GET gets args.size bytes of zeros."""
    size = args.size
    chunk = memoryview(bytearray(4 * MIB))

    def handle(c):
        try:
            data = b""
            while b"\r\n\r\n" not in data:
                d = c.recv(65536)
                if not d:
                    return
                data += d
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                      b"Content-Length: %d\r\nConnection: close\r\n\r\n" % size)
            left = size
            while left:
                n = min(len(chunk), left)
                c.sendall(chunk[:n])
                left -= n
        except OSError:
            pass
        finally:
            c.close()

    loopback.serve_forever(handle, 64)


def throughput(t, runs, size):
    srv = subprocess.Popen([sys.executable, os.path.abspath(__file__), "serve", "--size", str(size)],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
    try:
        port = int(srv.stdout.readline())
        url = f"http://127.0.0.1:{port}/big"
        cfg = write_settings(os.path.join(t.stage, "throughput.json"), [f"127.0.0.1:{port}"])
        w = "%{speed_download} %{size_download} %{http_code}"
        curl = shutil.which("curl") or die("curl not found")
        # Inside: refuse to run without a proxy variable (an empty -x would go
        # direct, which the sandbox would refuse anyway, but say so clearly).
        inner = ('[ -n "$HTTP_PROXY" ] || { echo "no HTTP_PROXY" >&2; exit 99; }; '
                 f"exec curl -s @FLAGS@ --max-time 300 -o /dev/null -w '{w}' --noproxy '' -x \"$HTTP_PROXY\" {url}")
        vs = [
            ("direct (no sandbox)", [curl, "-s", "--max-time", "300", "-o", "/dev/null", "-w", w,
                                     "--noproxy", "*", url]),
            ("ours  absolute-URI", t.ours_cmd(cfg, "-c", inner.replace("@FLAGS@ ", ""))),
            ("npm   absolute-URI", t.npm_cmd(cfg, "-c", inner.replace("@FLAGS@ ", ""))),
            ("ours  CONNECT (-p)", t.ours_cmd(cfg, "-c", inner.replace("@FLAGS@", "-p"))),
            ("npm   CONNECT (-p)", t.npm_cmd(cfg, "-c", inner.replace("@FLAGS@", "-p"))),
        ]
        speeds = {name: [] for name, _ in vs}
        walls = {name: [] for name, _ in vs}
        mem = {name: dict(rss=0, pss=0) for name, _ in vs}
        short = {name: [] for name, _ in vs}
        failures = {name: 0 for name, _ in vs}
        for rnd in range(runs):
            for i in range(len(vs)):
                name, argv = vs[(rnd + i) % len(vs)]
                for attempt in range(NPM_RETRIES + 1):
                    t0 = time.perf_counter()
                    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, text=True)
                    sampler = TreeSampler(p.pid, 0.05, exclude="curl")
                    sampler.start()
                    out, err = p.communicate()
                    wall = time.perf_counter() - t0
                    sampler.stop.set()
                    sampler.join()
                    parts = out.split()
                    ok = p.returncode == 0 and len(parts) == 3 and parts[2] == "200" and int(parts[1]) == size
                    # curl exit 18 (CURLE_PARTIAL_FILE): the body ended before
                    # Content-Length. Counted and reported, not fatal: its speed
                    # (bytes received / time) is still a speed.
                    partial = p.returncode == 18 and len(parts) == 3 and parts[2] == "200" and int(parts[1]) < size
                    if ok or partial:
                        break
                    if not name.startswith("npm") or attempt == NPM_RETRIES:
                        die(f"{name}: exited {p.returncode}, curl said {out!r}, stderr {err.strip()!r}")
                    failures[name] += 1
                if partial:
                    short[name].append(size - int(parts[1]))
                speeds[name].append(float(parts[0]))
                walls[name].append(wall)
                mem[name]["rss"] = max(mem[name]["rss"], sampler.rss_x)
                mem[name]["pss"] = max(mem[name]["pss"], sampler.pss_x)
    finally:
        srv.kill()
        srv.wait()

    print(f"{size / GIB:g} GiB per transfer, curl's speed_download, {runs} runs per variant, interleaved "
          f"round-robin; GB/s = 1e9 bytes/s")
    print("wall = whole command incl. sandbox start-up; mem = peak over runs of the summed RSS/PSS of the run's")
    print("process tree minus curl itself (sampled every 50 ms: the sandbox's own cost while it forwards)")
    hdr = (f"{'variant':<22}{'median':>8}{'p10':>8}{'p90':>8}{'min':>8}{'max':>8}{'x direct':>10}"
           f"{'wall s':>8}{'mem RSS':>9}{'mem PSS':>9}")
    print(hdr)
    print("-" * len(hdr))
    st = {name: summary([x / 1e9 for x in xs]) for name, xs in speeds.items()}
    d = st["direct (no sandbox)"]["median"]
    for name, _ in vs:
        s = st[name]
        mr = f"{mem[name]['rss'] / 1024:9.1f}" if name.startswith(("ours", "npm")) else f"{'-':>9}"
        mp = f"{mem[name]['pss'] / 1024:9.1f}" if name.startswith(("ours", "npm")) else f"{'-':>9}"
        print(f"{name:<22}{s['median']:8.3f}{s['p10']:8.3f}{s['p90']:8.3f}{s['min']:8.3f}{s['max']:8.3f}"
              f"{s['median'] / d:10.2f}{statistics.median(walls[name]):8.2f}{mr}{mp}")
    for name, _ in vs:
        if short[name]:
            print(f"  TRUNCATED: {name}: {len(short[name])} of {runs} transfers ended early (curl exit 18, "
                  f"body shorter than Content-Length), missing bytes: {', '.join(map(str, short[name]))}")
    report_npm_failures(failures, "transfers")
    print()
    for kind in ("absolute-URI", "CONNECT (-p)"):
        o, m = st[f"ours  {kind}"], st[f"npm   {kind}"]
        print(f"  {kind:<13} ours/npm: median {o['median'] / m['median']:5.2f}x   p10 {o['p10'] / m['p10']:5.2f}x"
              f"   p90 {o['p90'] / m['p90']:5.2f}x   (throughput: higher is better for ours)")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("bench")
    b.add_argument("--ours", required=True)
    b.add_argument("--npm-cli", required=True)
    b.add_argument("--stage", required=True)
    b.add_argument("--runs", type=int, default=30)
    b.add_argument("--warmup", type=int, default=3)
    b.add_argument("--mem-reps", type=int, default=3)
    b.add_argument("--tp-runs", type=int, default=5)
    b.add_argument("--size", type=int, default=GIB)
    s = sub.add_parser("serve")
    s.add_argument("--size", type=int, default=GIB)
    args = ap.parse_args()
    if args.cmd == "serve":
        serve(args)
        return
    t = Tools(args)
    net = write_settings(os.path.join(t.stage, "net.json"), ["example.com"])
    nonet = write_settings(os.path.join(t.stage, "nonet.json"), [])
    print("settings (net):  ", json.dumps(settings(["example.com"])))
    print("settings (nonet):", json.dumps(settings([])))
    print()
    print("== start-up (ours = srt, npm = @anthropic-ai/sandbox-runtime)")
    startup(t, net, nonet, args.runs, args.warmup)
    print()
    print("== peak memory")
    memory(t, net, nonet, args.mem_reps, 1)
    print()
    print("== throughput: host-loopback HTTP server -> sandbox proxy -> curl inside the sandbox")
    throughput(t, args.tp_runs, args.size)


if __name__ == "__main__":
    main()
