#!/usr/bin/env bash
# Sandbox start-up benchmark (a measurement, not a test: no pass/fail on
# timing). In one run it measures, interleaved round by round:
#   bare `true`
#   bwrap --unshare-all --ro-bind / / --proc /proc --dev /dev true
#   srt -- true                        (built-in default settings)
#   srt --preset balanced -- true
#   srt with every limit flag -- true
# and prints median, p10, p90, min, max and the ratios to bwrap and to bare
# `true`; then the peak memory (VmHWM) of the srt supervisor process itself
# and of the two sandbox init processes; then the cost of creating files
# (every creation mediated by pid 1) against bwrap and bare. As root, when the user srt-test
# exists, everything is measured again as that user (root's capabilities make
# some set-up paths cheaper).
#
# Usage: scripts/bench.sh [RUNS]     RUNS per variant, default 50 (at least 30
#                                     for the issue's numbers)
# Environment:
#   SRT_BENCH_BIN=PATH   benchmark this srt binary instead of building one
#   SRT_BENCH_BASELINE=PATH  also time this srt binary (an earlier build) in
#                        the same interleaved rounds, and print the difference
#   SRT_TEST_USER=NAME   unprivileged user for the second pass (default srt-test)
#
# Timing uses scripts/bench/bench.py (Python 3 standard library only) rather
# than hyperfine: hyperfine runs one command's runs back to back, while the
# loop here interleaves the variants so load drifts on a shared machine hit
# all of them alike, and keeps every sample for exact percentiles.
#
# Exit status: non-zero only if something fails to build or run.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"

runs="${1:-50}"
if ! [[ "$runs" =~ ^[0-9]+$ ]] || [ "$runs" -lt 1 ]; then
    echo "usage: scripts/bench.sh [RUNS]   (RUNS: a positive integer, default 50)" >&2
    exit 2
fi
TEST_USER="${SRT_TEST_USER:-srt-test}"
PY=/usr/bin/python3
[ -x "$PY" ] || PY="$(command -v python3 || true)"
if [ -z "$PY" ]; then
    echo "bench: python3 is required (scripts/setup.sh installs it)" >&2
    exit 1
fi
if ! command -v bwrap >/dev/null 2>&1; then
    echo "bench: bwrap is required for the comparison; install bubblewrap (scripts/setup.sh)" >&2
    exit 1
fi
if [ ! -x /usr/bin/time ] && [ "$(id -u)" -eq 0 ]; then
    # Only for the GNU time cross-check of peak memory; optional.
    echo "bench: installing GNU time for the memory cross-check"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null 2>&1 ||
        echo "bench: could not install time; the cross-check column will say n/a"
fi

if [ -n "${SRT_BENCH_BIN:-}" ]; then
    bin="$SRT_BENCH_BIN"
    echo "bench: using SRT_BENCH_BIN=$bin (no build)"
else
    cargo build --release -p srt --quiet
    bin="$repo/target/release/srt"
fi
[ -x "$bin" ] || { echo "bench: $bin is not an executable" >&2; exit 1; }

# Everything under one scratch directory outside /tmp (the sandbox gives the
# program a private /tmp), world-readable so the unprivileged user can run the
# staged binary. Separate empty working directories and homes per user: no
# real ~/.srt-settings.json is read, and the mount plan has nothing to scan.
stage="$(mktemp -d /var/tmp/srt-bench.XXXXXX)"
trap 'rm -rf "$stage"' EXIT
chmod 755 "$stage"
cp "$bin" "$stage/srt"
cp "$repo/scripts/bench/bench.py" "$stage/bench.py"
cp "$repo/scripts/bench/stats.py" "$stage/stats.py"
chmod 755 "$stage/srt" "$stage/bench.py" "$stage/stats.py"
baseline=()
if [ -n "${SRT_BENCH_BASELINE:-}" ]; then
    [ -x "$SRT_BENCH_BASELINE" ] || { echo "bench: $SRT_BENCH_BASELINE is not an executable" >&2; exit 1; }
    cp "$SRT_BENCH_BASELINE" "$stage/srt-baseline"
    chmod 755 "$stage/srt-baseline"
    baseline=(--baseline "$stage/srt-baseline")
    echo "bench: baseline build $SRT_BENCH_BASELINE ($("$stage/srt-baseline" --version))"
fi
mkdir -p "$stage/me/home" "$stage/me/work"

echo "== machine"
echo "date:    $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "kernel:  $(uname -srvm)"
echo "cpus:    $(nproc) online; $(grep -m1 '^model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//')"
echo "load:    $(cut -d' ' -f1-3 /proc/loadavg)"
echo "memory:  $(awk '/^MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
echo "srt:     $("$stage/srt" --version) ($bin, $(stat -c %s "$bin") bytes)"
echo "bwrap:   $(bwrap --version) ($(command -v bwrap))"
echo "python:  $("$PY" --version 2>&1) ($PY)"
echo "user:    $(id -un) (uid $(id -u))"
echo

# bench LABEL WORKDIR HOMEDIR [RUNNER...]: the timing and memory passes, run
# through RUNNER (nothing, or runuser -u USER --) from WORKDIR with HOME=HOMEDIR.
bench() {
    local label="$1" work="$2" home="$3"
    shift 3
    local run=("$@")
    echo "== start-up time as $label"
    (cd "$work" && "${run[@]}" env HOME="$home" TMPDIR=/tmp "$PY" "$stage/bench.py" timing --srt "$stage/srt" --runs "$runs" "${baseline[@]}") || return 1
    echo
    echo "== peak memory as $label"
    (cd "$work" && "${run[@]}" env HOME="$home" TMPDIR=/tmp "$PY" "$stage/bench.py" memory --srt "$stage/srt") || return 1
    echo
    echo "== file creation (mediated by pid 1) as $label"
    (cd "$work" && "${run[@]}" env HOME="$home" TMPDIR=/tmp "$PY" "$stage/bench.py" creates --srt "$stage/srt") || return 1
    echo
    echo "== violation monitoring (reads, writes) as $label"
    (cd "$work" && "${run[@]}" env HOME="$home" TMPDIR=/tmp "$PY" "$stage/bench.py" reads --srt "$stage/srt") || return 1
    echo
    echo "== CPU of pid 1's watch of the limits as $label"
    (cd "$work" && "${run[@]}" env HOME="$home" TMPDIR=/tmp "$PY" "$stage/bench.py" watch --srt "$stage/srt") || return 1
    echo
}

status=0
bench "$(id -un)" "$stage/me/work" "$stage/me/home" || status=1

if [ "$(id -u)" -eq 0 ]; then
    if id "$TEST_USER" >/dev/null 2>&1; then
        mkdir -p "$stage/user/home" "$stage/user/work"
        chown -R "$TEST_USER:" "$stage/user"
        bench "$TEST_USER (unprivileged, via runuser)" "$stage/user/work" "$stage/user/home" \
            runuser -u "$TEST_USER" -- || status=1
    else
        echo "== no user $TEST_USER: unprivileged pass skipped (scripts/setup.sh creates it)"
    fi
fi

if [ "$status" -ne 0 ]; then
    echo "bench: a measurement failed to run (see above)" >&2
fi
exit "$status"
