"""Shared pieces of the benchmark helpers: percentiles, summaries, one timed
spawn, a process's memory figures. Python 3 standard library only."""

import os
import statistics
import time


def pct(s, p):
    """Percentile p (0-100) of sorted list s, linear interpolation between closest ranks."""
    if len(s) == 1:
        return s[0]
    k = (len(s) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def summary(xs):
    """n, median, p10, p90, min and max of the samples xs."""
    s = sorted(xs)
    return dict(n=len(s), median=statistics.median(s), p10=pct(s, 10), p90=pct(s, 90), min=s[0], max=s[-1])


_SUBREAPER = False


def _become_subreaper():
    """Orphans of the commands run here (a parent that exits without
    reaping its children, as bwrap's does) come to this process, which reaps
    them, so their CPU time is counted too."""
    global _SUBREAPER
    if not _SUBREAPER:
        import ctypes

        PR_SET_CHILD_SUBREAPER = 36
        if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")
        _SUBREAPER = True


def run_once(argv, file_actions, env, cpu=None):
    """Wall time of one posix_spawn + wait4 of argv in ns (until the command
    itself exits), and its wait status. With a list `cpu`, appends the CPU
    time (user + system, ms) of the command and of every process it started:
    what wait4 reports for the command (it and what it reaped), plus every
    orphan, reaped here as their subreaper once the command has exited."""
    if cpu is not None:
        _become_subreaper()
    t0 = time.perf_counter_ns()
    pid = os.posix_spawn(argv[0], argv, env, file_actions=file_actions)
    _, status, ru = os.wait4(pid, 0)
    ns = time.perf_counter_ns() - t0
    if cpu is not None:
        total = ru.ru_utime + ru.ru_stime
        while True:
            try:
                _, _, ru = os.wait4(-1, 0)
            except ChildProcessError:
                break
            total += ru.ru_utime + ru.ru_stime
        cpu.append(total * 1000)
    return ns, status


def status_kib(pid, keys=("VmRSS", "VmHWM")):
    """The fields `keys` of /proc/PID/status in KiB, or None when the
    process is gone or has no memory of its own."""
    try:
        with open(f"/proc/{pid}/status") as f:
            text = f.read()
    except OSError:
        return None
    out = {}
    for line in text.splitlines():
        k, _, v = line.partition(":")
        if k in keys:
            out[k] = int(v.split()[0])
    return out if "VmRSS" in out else None  # zombies and kernel threads have no VmRSS
