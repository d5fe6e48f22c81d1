"""Shared pieces of the benchmark helpers: percentiles, summaries, one timed
spawn. Python 3 standard library only."""

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


def run_once(argv, file_actions, env, cpu=None):
    """Wall time of one posix_spawn + wait4 of argv in ns, and its wait
    status. With a list `cpu`, appends the CPU time (user + system, ms) of
    the process and every descendant it reaped, as wait4 reports it."""
    t0 = time.perf_counter_ns()
    pid = os.posix_spawn(argv[0], argv, env, file_actions=file_actions)
    _, status, ru = os.wait4(pid, 0)
    ns = time.perf_counter_ns() - t0
    if cpu is not None:
        cpu.append((ru.ru_utime + ru.ru_stime) * 1000)
    return ns, status
