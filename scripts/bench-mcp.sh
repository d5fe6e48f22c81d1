#!/usr/bin/env bash
# srt-mcp benchmark (a measurement, not a test: no pass/fail on timing). In
# one run, through the official Python MCP client (PyPI `mcp`) over stdio:
#
#   1. latency: execute_code of python `print(1)`, one call at a time, against
#      bare `python3 -c 'print(1)'`, direct `srt -- python3 -c 'print(1)'`,
#      the same call as hand-written JSON-RPC (no client library) and a tool
#      round trip that runs nothing; interleaved round-robin, median, p10,
#      p90, ratios and differences to bare python (issue 14's target:
#      execute_code through the client median - bare median <= 4 ms)
#   2. throughput: sh `true` with `srt-mcp --max-concurrent 2`, the client
#      keeping 2 and 4 calls in flight for 10 s each (and 4 over raw
#      JSON-RPC, and bare `sh` for the machine's ceiling); executions per
#      second and where the CPU went (issue 14's target: >= 300/s on a 2-core
#      machine)
#   3. memory: VmRSS / VmHWM of the idle srt-mcp process after initialize and
#      tools/list (target: <= 20 MiB), and again after the load
#
# plus the machine's context (kernel, CPUs, load average at start and end).
# As root, when the user srt-test exists, everything is measured again as
# that user (the unprivileged set-up path of the sandbox differs).
#
# Usage: scripts/bench-mcp.sh [RUNS]   latency rounds (default 40; at least 30)
# Environment:
#   SRT_MCP_BENCH_BIN=PATH  benchmark this srt-mcp instead of building one
#   SRT_BENCH_BIN=PATH      compare with this srt instead of building one
#   SRT_MCP_BENCH_BASELINE=PATH  also time this (earlier) srt-mcp build in the
#                           same latency rounds, over raw JSON-RPC
#   MCP_BENCH_SECONDS=S     seconds per throughput row (default 10)
#   MCP_BENCH_INFLIGHT=K,.. calls in flight per throughput row (default 2,4)
#   MCP_BENCH_MAX_CONCURRENT=N  srt-mcp --max-concurrent for throughput (default 2)
#   MCP_BENCH_PATH=PATH     PATH of the server and the bare runs (default
#                           /usr/local/bin:/usr/bin:/bin: the system python3,
#                           not a version manager's shim that is itself a script)
#   MCP_BENCH_UNPRIV=0      skip the pass as the unprivileged user
#   SRT_TEST_USER=NAME      that user (default srt-test)
#
# The client's venv is /var/tmp/srt-mcp-venv-<uid>, shared with
# scripts/mcp-test.sh; created (python3 -m venv + pip install mcp) when missing.
# Scratch files go under /var/tmp (the sandbox gives programs a private /tmp).
# Runtime: about 1 minute per user after the build on a 2-core VM.
#
# Exit status: non-zero only if something fails to build or run.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"

runs="${1:-40}"
if ! [[ "$runs" =~ ^[0-9]+$ ]] || [ "$runs" -lt 1 ]; then
    echo "usage: scripts/bench-mcp.sh [RUNS]   (RUNS: a positive integer, default 40)" >&2
    exit 2
fi
TEST_USER="${SRT_TEST_USER:-srt-test}"
MCP_PIN='mcp>=2.3,<3'
seconds="${MCP_BENCH_SECONDS:-10}"
inflight="${MCP_BENCH_INFLIGHT:-2,4}"
max_concurrent="${MCP_BENCH_MAX_CONCURRENT:-2}"
bench_path="${MCP_BENCH_PATH:-/usr/local/bin:/usr/bin:/bin}"
command -v python3 >/dev/null 2>&1 || { echo "bench-mcp: python3 is required (scripts/setup.sh)" >&2; exit 1; }

# ---- the binaries (release builds, as they ship)
target="${CARGO_TARGET_DIR:-target}"
if [ -z "${SRT_MCP_BENCH_BIN:-}" ] || [ -z "${SRT_BENCH_BIN:-}" ]; then
    pkgs=()
    [ -n "${SRT_MCP_BENCH_BIN:-}" ] || pkgs+=(-p srt-mcp)
    [ -n "${SRT_BENCH_BIN:-}" ] || pkgs+=(-p srt)
    echo "bench-mcp: cargo build --release ${pkgs[*]}"
    cargo build --release --locked --quiet "${pkgs[@]}"
fi
mcp_bin="${SRT_MCP_BENCH_BIN:-$target/release/srt-mcp}"
srt_bin="${SRT_BENCH_BIN:-$target/release/srt}"
for b in "$mcp_bin" "$srt_bin"; do
    [ -x "$b" ] || { echo "bench-mcp: $b is not an executable" >&2; exit 1; }
done

# ---- scratch: private copies (a concurrent `cargo build` cannot swap them
# mid-run), world-readable so the unprivileged user can run them
stage="$(mktemp -d /var/tmp/srt-mcp-bench.XXXXXX)"
trap 'rm -rf "$stage"' EXIT
chmod 755 "$stage"
cp "$mcp_bin" "$stage/srt-mcp"
cp "$srt_bin" "$stage/srt"
cp "$repo/scripts/bench/mcp_bench.py" "$stage/mcp_bench.py"
cp "$repo/scripts/bench/stats.py" "$stage/stats.py"
chmod 755 "$stage/srt-mcp" "$stage/srt"
if [ -n "${SRT_MCP_BENCH_BASELINE:-}" ]; then
    cp "$SRT_MCP_BENCH_BASELINE" "$stage/srt-mcp-baseline"
    chmod 755 "$stage/srt-mcp-baseline"
fi
chmod 644 "$stage/mcp_bench.py" "$stage/stats.py"

# Run as the user of the pass: creates that user's venv when missing, then
# runs the benchmark with it.
#   $0 = pip requirement, $1 = stage, $2 = this pass's scratch dir, rest: options
run_bench='
set -euo pipefail
venv="/var/tmp/srt-mcp-venv-$(id -u)"
if ! "$venv/bin/python" -c "import mcp" 2>/dev/null; then
    echo "bench-mcp: creating $venv (python3 -m venv; pip install $0)"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "$0"
fi
echo "client:   $("$venv/bin/python" --version) ($venv), mcp $("$venv/bin/python" -c "import importlib.metadata as m; print(m.version(\"mcp\"))")"
exec "$venv/bin/python" "$1/mcp_bench.py" --mcp "$1/srt-mcp" --srt "$1/srt" --stage "$2" "${@:3}"
'
opts=(--runs "$runs" --seconds "$seconds" --inflight "$inflight" --max-concurrent "$max_concurrent" --path "$bench_path")
[ -z "${SRT_MCP_BENCH_BASELINE:-}" ] || opts+=(--baseline-mcp "$stage/srt-mcp-baseline")

echo "== machine"
echo "date:     $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "kernel:   $(uname -srvm)"
echo "cpus:     $(nproc) online; $(grep -m1 '^model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//')"
echo "memory:   $(awk '/^MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
echo "load:     $(cut -d' ' -f1-3 /proc/loadavg)   (1/5/15 min, at start)"
echo "srt-mcp:  $("$stage/srt-mcp" --version) ($mcp_bin, $(stat -c %s "$mcp_bin") bytes)"
echo "srt:      $("$stage/srt" --version) ($srt_bin)"
echo "PATH:     $bench_path   (of the server and of the bare runs)"
echo "plan:     $runs latency rounds; throughput ${seconds} s per row, in flight $inflight, --max-concurrent $max_concurrent"
echo

start=$SECONDS
status=0
echo "== as $(id -un) (uid $(id -u))"
mkdir -p "$stage/me"
bash -c "$run_bench" "$MCP_PIN" "$stage" "$stage/me" "${opts[@]}" || status=1

if [ "$(id -u)" -eq 0 ] && [ "${MCP_BENCH_UNPRIV:-1}" != 0 ]; then
    if id "$TEST_USER" >/dev/null 2>&1; then
        echo
        echo "== as $TEST_USER (unprivileged, via runuser)"
        echo "load:     $(cut -d' ' -f1-3 /proc/loadavg)"
        mkdir -p "$stage/user"
        chown "$TEST_USER:" "$stage/user"
        (cd "$stage/user" && runuser -u "$TEST_USER" -- env HOME="/home/$TEST_USER" TMPDIR=/tmp \
            bash -c "$run_bench" "$MCP_PIN" "$stage" "$stage/user" "${opts[@]}") || status=1
    else
        echo "== no user $TEST_USER: unprivileged pass skipped (scripts/setup.sh creates it)"
    fi
fi

echo
echo "== end"
echo "load:     $(cut -d' ' -f1-3 /proc/loadavg)   (1/5/15 min, at end)"
echo "elapsed:  $((SECONDS - start)) s (without the build)"
[ "$status" -eq 0 ] || echo "bench-mcp: a measurement failed to run (see above)" >&2
exit "$status"
