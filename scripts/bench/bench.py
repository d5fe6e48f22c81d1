#!/usr/bin/env python3
"""Start-up cost and peak memory of srt, for scripts/bench.sh.

Dependency-free (Python 3 standard library only). Subcommands:

  timing --srt BIN --runs N [--warmup W]
      Wall time of `true` bare, under bwrap, under `srt -- true` (built-in
      default settings) and under `srt --preset balanced -- true`. The four
      variants are interleaved round by round (the starting variant rotates
      each round), so load drifts on a shared machine hit all of them alike.
      Each run is timed with perf_counter_ns around posix_spawn + waitpid;
      the spawn overhead of this harness is the same for every variant and is
      what the bare `true` row shows. Warm-up rounds are excluded. Medians and
      percentiles are computed from every sample, no binning.

  creates --srt BIN [--files N] [--runs R]
      Cost of creating files: a Python process creates N files (open with
      O_CREAT, write, close) and N directories in a writable directory, bare,
      under bwrap (the directory bound writable) and under srt with that
      directory in allowWrite, where every creation is mediated by pid 1.
      Interleaved like `timing`; prints medians and the extra cost per
      created entry relative to bwrap.

  reads --srt BIN [--runs N]
      The cost of violation monitoring: an import-heavy Python start-up
      under srt with a denyRead entry, with no monitoring, with refused-write
      reports (the default) and with read monitoring too, interleaved.

  memory --srt BIN [--reps R]
      Peak resident memory of the srt supervisor process itself and of the
      two sandbox init processes, read from VmHWM in /proc/PID/status while
      `srt -- sleep 0.3` runs (see memory() for why this is srt's own number).

Timing is reported, never judged: the exit status is non-zero only when a
variant fails to run (non-zero exit), never because of a number.
"""

import argparse
import json
import resource
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stats import pct, run_once, status_kib  # noqa: E402 (next to this file)

BWRAP_ARGS = ["--unshare-all", "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev"]
INIT_ARG = "__srt-sandbox-init"
MIB = 1024 * 1024


def die(msg):
    print(f"bench: {msg}", file=sys.stderr)
    sys.exit(1)


def which(name):
    path = shutil.which(name)
    if path is None:
        die(f"{name} not found on PATH")
    return path


def variants(srt, baseline=None, typical=None):
    true = which("true")
    bwrap = which("bwrap")
    vs = [
        ("bare true", [true]),
        ("bwrap true", [bwrap, *BWRAP_ARGS, true]),
        ("unshare floor", [which("unshare"), *UNSHARE_ARGS, true]),
        # The same absolute path as bwrap's: no PATH search inside.
        ("srt -- true", [srt, "--", true]),
        ("srt --preset balanced", [srt, "--preset", "balanced", "--", true]),
        ("srt all limits -- true", [srt, *ALL_LIMITS, "--", true]),
    ]
    if typical:
        vs.append(("srt typical -- true", [srt, "-s", typical, "--", true]))
    if baseline:
        # Another build of srt (an earlier commit), in the same interleaved
        # rounds: "no slower than before" measured under the same load.
        vs += [
            ("baseline -- true", [baseline, "--", true]),
            ("baseline balanced", [baseline, "--preset", "balanced", "--", true]),
        ]
    return vs


# The floor of doing namespaces at all (issue 15: within 1.5x of it).
UNSHARE_ARGS = ["--user", "--map-root-user", "--mount", "--pid", "--net", "--fork"]

# Issue 15's typical policy: denyRead of two home directories, allowWrite
# `.`, denyWrite `.env`.
TYPICAL = {
    "network": {"allowedDomains": [], "deniedDomains": []},
    "filesystem": {"denyRead": ["~/.ssh", "~/.aws"], "allowWrite": ["."], "denyWrite": [".env"]},
}

# Every limit flag at once (issue 10: start-up within 0.3 ms of none).
ALL_LIMITS = ["--cpu-time", "30", "--memory", "1G", "--max-processes", "256", "--max-file-size", "1G"]


def check_runs(name, argv):
    """Runs argv once with output captured; dies with its stderr if it fails."""
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if r.returncode != 0:
        die(f"{name}: `{' '.join(argv)}` exited {r.returncode}:\n{r.stderr.strip()}")




def timing(args):
    typical = os.path.join(tempfile.mkdtemp(prefix="srt-bench-typical."), "typical.json")
    with open(typical, "w") as f:
        json.dump(TYPICAL, f)
    vs = variants(args.srt, args.baseline, typical)
    for name, argv in vs:
        check_runs(name, argv)
    # stdin, stdout and stderr to /dev/null: the balanced preset prints a
    # warning on every run and a terminal would add its own cost.
    devnull = os.open(os.devnull, os.O_RDWR)
    fa = [(os.POSIX_SPAWN_DUP2, devnull, 0), (os.POSIX_SPAWN_DUP2, devnull, 1), (os.POSIX_SPAWN_DUP2, devnull, 2)]
    env = dict(os.environ)
    samples = {name: [] for name, _ in vs}
    cpu = {name: [] for name, _ in vs}
    n = len(vs)
    for rnd in range(args.warmup + args.runs):
        for i in range(n):
            name, argv = vs[(rnd + i) % n]
            ns, status = run_once(argv, fa, env, cpu[name] if rnd >= args.warmup else None)
            if not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0:
                die(f"{name}: `{' '.join(argv)}` failed (wait status {status:#x}) in round {rnd}")
            if rnd >= args.warmup:
                samples[name].append(ns / 1e6)
    os.close(devnull)

    stats = {}
    for name, ms in samples.items():
        s = sorted(ms)
        stats[name] = dict(median=statistics.median(s), p10=pct(s, 10), p90=pct(s, 90), min=s[0], max=s[-1])
    bare = stats["bare true"]["median"]
    bw = stats["bwrap true"]["median"]

    print(f"{args.runs} runs per variant, interleaved, {args.warmup} warm-up rounds excluded; times in ms")
    print("net = median minus the bare-true median (the harness's own spawn+wait cost)")
    bw_cpu = statistics.median(cpu["bwrap true"])
    hdr = (
        f"{'variant':<24}{'median':>8}{'p10':>8}{'p90':>8}{'min':>8}{'max':>8}{'x bwrap':>9}{'x bare':>8}{'net':>8}"
        f"{'net x bwrap':>13}{'cpu':>7}{'cpu x bwrap':>12}"
    )
    print(hdr)
    print("-" * len(hdr))
    for name, _ in vs:
        st = stats[name]
        net = st["median"] - bare
        net_bw = bw - bare
        net_ratio = f"{net / net_bw:13.2f}" if net_bw > 0 and name != "bare true" else f"{'-':>13}"
        print(
            f"{name:<24}{st['median']:8.3f}{st['p10']:8.3f}{st['p90']:8.3f}{st['min']:8.3f}{st['max']:8.3f}"
            f"{st['median'] / bw:9.2f}{st['median'] / bare:8.2f}{net:8.3f}{net_ratio}"
            f"{statistics.median(cpu[name]):7.2f}{statistics.median(cpu[name]) / bw_cpu:12.2f}"
        )
    print(
        "cpu = median CPU time (user + system, ms) of the command and of every process it started: wait4's\n"
        "      figure for the command, plus its orphans (bwrap's parent exits without reaping its child),\n"
        "      which come to this harness as their subreaper and are reaped and counted too"
    )
    print()
    for name in ("srt -- true", "srt --preset balanced", "srt typical -- true"):
        m = stats[name]["median"]
        verdict = "no slower than bwrap" if m <= bw else f"{m - bw:.3f} ms slower than bwrap"
        print(f"  {name}: median {m:.3f} ms vs bwrap {bw:.3f} ms = {m / bw:.2f}x ({verdict}; informational)")
    t, floor = stats["srt typical -- true"]["median"], stats["unshare floor"]["median"]
    t_cpu = statistics.median(cpu["srt typical -- true"])
    print(
        f"  typical policy (issue 15 targets: <= 1.0x bwrap wall and CPU, <= 1.5x the unshare floor): "
        f"wall {t / bw:.2f}x bwrap, CPU {t_cpu / bw_cpu:.2f}x bwrap ({t_cpu:.2f} vs {bw_cpu:.2f} ms), "
        f"{t / floor:.2f}x the floor ({floor:.3f} ms; informational)"
    )
    lim, none = stats["srt all limits -- true"]["median"], stats["srt -- true"]["median"]
    print(f"  all limits set: {lim - none:+.3f} ms against none (target: within 0.3 ms; informational)")
    if args.baseline:
        for new, old in (("srt -- true", "baseline -- true"), ("srt --preset balanced", "baseline balanced")):
            a, b = stats[new]["median"], stats[old]["median"]
            print(f"  {new}: {a - b:+.3f} ms against the baseline build ({a / b:.3f}x; informational)")


def watch(args):
    """The CPU that pid 1's watch of the limits costs: `srt -- sleep S` with
    and without every limit, the CPU of the whole srt process tree
    (RUSAGE_CHILDREN deltas) divided by the wall time."""
    def cpu_of(argv):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.monotonic()
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True)
        wall = time.monotonic() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if r.returncode != 0:
            die(f"`{' '.join(argv)}` exited {r.returncode}: {r.stderr.decode(errors='replace').strip()}")
        return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), wall
    s = str(args.seconds)
    plain, plain_wall = cpu_of([args.srt, "--", "sleep", s])
    watched, watched_wall = cpu_of([args.srt, *ALL_LIMITS, "--", "sleep", s])
    print(f"srt -- sleep {s}: {plain * 1000:.1f} ms of CPU in {plain_wall:.2f} s")
    print(f"srt (all limits) -- sleep {s}: {watched * 1000:.1f} ms of CPU in {watched_wall:.2f} s")
    share = (watched - plain) / watched_wall * 100
    print(f"the watch: {share:.3f}% of one core (target: under 1%; informational)")


def read_status(pid):
    """VmHWM and VmRSS of pid in bytes, or None once it is gone or a zombie."""
    kib = status_kib(pid, ("VmHWM", "VmRSS"))
    return {k: v * 1024 for k, v in kib.items()} if kib and "VmHWM" in kib else None


def children_of(pid):
    """Pids whose parent is pid (a /proc scan: /proc/PID/task/*/children is optional)."""
    kids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # The fields after comm, which is parenthesised and may hold spaces.
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid:
            kids.append(int(entry))
    return kids


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return None


def is_init(pid, supervisor):
    """A sandbox init: either srt re-executed with the init argument, or (the
    command line forks without exec) a copy with the supervisor's argv."""
    argv = cmdline(pid)
    if argv is None:
        return False
    parts = argv.split(b"\0")
    return (len(parts) > 1 and parts[1] == INIT_ARG.encode()) or argv == cmdline(supervisor)


def sample_tree(argv, sleep_s):
    """Runs argv (an srt command whose program sleeps) and samples memory.

    VmHWM is the high-water mark of a process's own resident set; it is per
    address space, so it starts afresh at execve and never includes children.
    It only grows, so the last sample before a process exits is its peak up to
    that moment; sampling runs every few ms until the supervisor is gone.
    """
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = {"srt supervisor": 0, "sandbox init (outer)": 0, "sandbox init (pid 1)": 0}
    # srt's child is pid 1 itself when one clone made it (the fork path), or
    # init0 with pid 1 below it (the exec path, or namespaces refused).
    init0 = pid1 = None
    deadline = time.monotonic() + sleep_s + 10
    while time.monotonic() < deadline:
        st = read_status(p.pid)
        if st is None:
            break
        peak["srt supervisor"] = max(peak["srt supervisor"], st["VmHWM"])
        if pid1 is None:
            first = next((k for k in children_of(p.pid) if is_init(k, p.pid)), None)
            if first is not None and ns_pid(first) == 1:
                pid1 = first
            elif first is not None:
                init0 = first
                pid1 = next((k for k in children_of(first) if is_init(k, p.pid)), None)
        for role, pid in (("sandbox init (outer)", init0), ("sandbox init (pid 1)", pid1)):
            if pid is not None:
                s = read_status(pid)
                if s is not None:
                    peak[role] = max(peak[role], s["VmHWM"])
        time.sleep(0.002)
    rc = p.wait()
    if rc != 0:
        die(f"`{' '.join(argv)}` exited {rc}")
    if pid1 is None:
        die(f"`{' '.join(argv)}`: did not see the sandbox's pid 1 (seen init0: {init0})")
    return peak


def ns_pid(pid):
    """The pid of `pid` in its innermost PID namespace (the last NSpid field)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("NSpid:"):
                    return int(line.split()[-1])
    except OSError:
        pass
    return None


def gnu_time_maxrss(argv):
    """GNU time's %M (KiB -> bytes) for argv, or None without /usr/bin/time.

    %M is ru_maxrss from wait4() on srt: the largest peak among srt and every
    descendant that was waited for below it (init -> pid 1 -> program), so it
    is an upper bound on srt's own peak, not srt's own. GNU time itself
    fork()s, so its own small address space is all that precedes srt's exec.
    (A Python posix_spawn/vfork child would carry the interpreter's resident
    set into ru_maxrss at exec, which is why this goes through GNU time.)
    """
    if not os.access("/usr/bin/time", os.X_OK):
        return None
    with tempfile.NamedTemporaryFile(mode="r", dir=".", prefix=".time-", delete=True) as out:
        r = subprocess.run(
            ["/usr/bin/time", "-f", "%M", "-o", out.name, *argv],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        if r.returncode != 0:
            die(f"`/usr/bin/time {' '.join(argv)}` exited {r.returncode}:\n{r.stderr.strip()}")
        return int(out.read().strip().splitlines()[-1]) * 1024


def memory(args):
    settings = [("built-in default", []), ("--preset balanced", ["--preset", "balanced"])]
    sleep = which("sleep")
    print(f"VmHWM (own peak resident set) from /proc/PID/status, sampled every ~2 ms while "
          f"`srt [...] -- sleep {args.sleep}` runs; max over {args.reps} runs; MiB")
    roles = ["srt supervisor", "sandbox init (outer)", "sandbox init (pid 1)"]
    hdr = f"{'settings':<20}" + "".join(f"{r:>22}" for r in roles) + f"{'GNU time %M':>14}"
    print(hdr)
    print("-" * len(hdr))
    worst = default_peak = 0
    for label, flags in settings:
        peak = dict.fromkeys(roles, 0)
        for _ in range(args.reps):
            got = sample_tree([args.srt, *flags, "--", sleep, str(args.sleep)], args.sleep)
            for r in roles:
                peak[r] = max(peak[r], got[r])
        tm = max((gnu_time_maxrss([args.srt, *flags, "--", "true"]) or 0) for _ in range(args.reps))
        worst = max(worst, peak["srt supervisor"])
        if label == "built-in default":
            default_peak = peak["srt supervisor"]
        tm_s = f"{tm / MIB:14.2f}" if tm else f"{'n/a':>14}"
        cells = "".join(f"{peak[r] / MIB:22.2f}" if peak[r] else f"{'- (none)':>22}" for r in roles)
        print(f"{label:<20}" + cells + tm_s)
    print()
    print("  GNU time %M = ru_maxrss of `srt [...] -- true`: the largest peak among srt and the processes")
    print("  waited for below it (the inits, `true`), so within one run an upper bound on srt's own; a cross-")
    print("  check only (separate runs, so it may differ from the VmHWM columns by ~0.1 MiB).")
    verdict = "within" if default_peak <= 5 * MIB else "ABOVE"
    print(
        f"  srt supervisor peak, `srt -- sleep` with the built-in default: {default_peak / MIB:.2f} MiB, {verdict} "
        f"issue 15's 5 MiB target; largest of all rows {worst / MIB:.2f} MiB (informational)"
    )


CREATE_PY = """
import os, sys
n = int(sys.argv[1])
for i in range(n):
    with open("f%d" % i, "w") as f:
        f.write("x")
    os.mkdir("d%d" % i)
"""


def interleaved(vs, runs, before=None, after=None):
    """Runs each variant of vs runs times (after one discarded round),
    interleaved round by round with the starting variant rotating, output
    to /dev/null; before(name) and after(name) run around each run. Returns
    the samples in ms by name; dies if a run fails."""
    devnull = os.open(os.devnull, os.O_RDWR)
    fa = [(os.POSIX_SPAWN_DUP2, devnull, 0), (os.POSIX_SPAWN_DUP2, devnull, 1), (os.POSIX_SPAWN_DUP2, devnull, 2)]
    samples = {name: [] for name, _ in vs}
    try:
        for rnd in range(1 + runs):
            for i in range(len(vs)):
                name, argv = vs[(rnd + i) % len(vs)]
                if before:
                    before(name)
                ns, status = run_once(argv, fa, dict(os.environ))
                if not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0:
                    die(f"{name}: `{' '.join(argv)}` failed (wait status {status:#x})")
                if after:
                    after(name)
                if rnd >= 1:
                    samples[name].append(ns / 1e6)
    finally:
        os.close(devnull)
    return samples


def creates(args):
    py = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else which("python3")
    bwrap = which("bwrap")
    base = tempfile.mkdtemp(prefix="srt-bench-creates.", dir="/var/tmp")
    try:
        work = os.path.join(base, "work")
        settings = os.path.join(base, "settings.json")
        with open(settings, "w") as f:
            f.write(
                '{"network": {"allowedDomains": [], "deniedDomains": []}, '
                '"filesystem": {"denyRead": [], "allowWrite": ["%s"], "denyWrite": []}}' % work
            )
        code = CREATE_PY
        vs = [
            ("bare", [py, "-c", code, str(args.files)]),
            ("bwrap", [bwrap, *BWRAP_ARGS, "--bind", work, work, "--chdir", work, py, "-c", code, str(args.files)]),
            ("srt (mediated)", [args.srt, "-s", settings, "--", py, "-c", code, str(args.files)]),
        ]
        def fresh(_name):
            shutil.rmtree(work, ignore_errors=True)
            os.mkdir(work)
            os.chdir(work)

        def counted(name):
            if len(os.listdir(work)) != 2 * args.files:
                die(f"{name}: created {len(os.listdir(work))} entries, not {2 * args.files}")

        samples = interleaved(vs, args.runs, before=fresh, after=counted)
    finally:
        os.chdir("/")
        shutil.rmtree(base, ignore_errors=True)
    med = {name: statistics.median(ms) for name, ms in samples.items()}
    entries = 2 * args.files
    print(f"{args.files} files + {args.files} directories per run, {args.runs} runs per variant, interleaved; ms")
    print(f"{'variant':<18}{'median':>9}{'p10':>9}{'p90':>9}{'x bwrap':>9}")
    for name, _ in vs:
        s = sorted(samples[name])
        print(f"{name:<18}{med[name]:9.1f}{pct(s, 10):9.1f}{pct(s, 90):9.1f}{med[name] / med['bwrap']:9.2f}")
    extra = (med["srt (mediated)"] - med["bwrap"]) / entries * 1000
    print(f"  srt vs bwrap: {extra:+.1f} us per created entry (start-up difference included; informational)")


IMPORTS = "import json, email, http.client, asyncio, decimal"


def reads(args):
    """The cost of --monitor-reads (issue 11: at most 10%): an import-heavy
    Python start-up under srt with a denyRead entry, with and without the
    read monitor, interleaved; and the same with refused-write reports off,
    to show they cost nothing here."""
    py = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else which("python3")
    base = tempfile.mkdtemp(prefix="srt-bench-reads.", dir="/var/tmp")
    try:
        def settings(name, monitor):
            path = os.path.join(base, name)
            with open(path, "w") as f:
                f.write(
                    '{"network": {"allowedDomains": [], "deniedDomains": []}, "monitor": %s, '
                    '"filesystem": {"denyRead": ["~/.ssh"], "allowWrite": [], "denyWrite": []}}' % monitor
                )
            return path
        plain = settings("plain.json", '{"writes": false}')
        writes = settings("writes.json", "{}")
        both = settings("reads.json", '{"reads": true}')
        vs = [
            ("no monitor", [args.srt, "-s", plain, "--", py, "-c", IMPORTS]),
            ("writes (default)", [args.srt, "-s", writes, "--", py, "-c", IMPORTS]),
            ("writes + reads", [args.srt, "-s", both, "--", py, "-c", IMPORTS]),
        ]
        for name, argv in vs:
            check_runs(name, argv)
        samples = interleaved(vs, args.runs)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    med = {name: statistics.median(ms) for name, ms in samples.items()}
    print(f"`python3 -c '{IMPORTS}'` under srt, {args.runs} runs per variant, interleaved; ms")
    print(f"{'variant':<20}{'median':>9}{'p10':>9}{'p90':>9}{'x none':>9}")
    for name, _ in vs:
        s = sorted(samples[name])
        print(f"{name:<20}{med[name]:9.1f}{pct(s, 10):9.1f}{pct(s, 90):9.1f}{med[name] / med['no monitor']:9.3f}")
    r = med["writes + reads"] / med["writes (default)"]
    print(f"  read monitor: {(r - 1) * 100:+.1f}% (target: at most +10%; informational)")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("timing")
    t.add_argument("--srt", required=True)
    t.add_argument("--runs", type=int, default=50)
    t.add_argument("--baseline", help="another srt binary to time in the same rounds")
    t.add_argument("--warmup", type=int, default=3)
    c = sub.add_parser("creates")
    c.add_argument("--srt", required=True)
    c.add_argument("--files", type=int, default=1000)
    c.add_argument("--runs", type=int, default=10)
    w = sub.add_parser("watch")
    w.add_argument("--srt", required=True)
    w.add_argument("--seconds", type=int, default=10)
    r = sub.add_parser("reads")
    r.add_argument("--srt", required=True)
    r.add_argument("--runs", type=int, default=20)
    m = sub.add_parser("memory")
    m.add_argument("--srt", required=True)
    m.add_argument("--reps", type=int, default=3)
    m.add_argument("--sleep", type=float, default=0.3)
    args = ap.parse_args()
    args.srt = os.path.abspath(args.srt)
    if args.cmd == "timing":
        if args.runs < 1 or args.warmup < 0:
            die("--runs must be at least 1 and --warmup at least 0")
        timing(args)
    elif args.cmd == "creates":
        creates(args)
    elif args.cmd == "watch":
        watch(args)
    elif args.cmd == "reads":
        reads(args)
    else:
        memory(args)


if __name__ == "__main__":
    main()
