#!/usr/bin/env bash
# srt against Anthropic's Sandbox Runtime from npm (@anthropic-ai/sandbox-runtime,
# also a command named `srt`; called "npm" below, ours "ours"). A measurement,
# not a test: no pass/fail on any number. In ONE run, each section interleaved
# round-robin so load drift on a shared machine hits every variant alike:
#
#   1. start-up: `true` bare, `ours -s FILE -- true`, `node npm-srt -s FILE -- true`,
#      with a settings file allowing one domain (net) and allowing none (nonet);
#      median, p10, p90 and the npm/ours ratios
#   2. peak memory of a run: summed RSS and PSS of the whole process tree,
#      the top-level process's own VmHWM, GNU time's %M
#   3. throughput: 1 GiB from a host-loopback HTTP server through each
#      sandbox's HTTP proxy, curl inside the sandbox, absolute-URI forwarding
#      and CONNECT (curl -p), plus direct curl without a sandbox
#   4. request rate: N small GETs (http.client) through each sandbox's HTTP
#      proxy, absolute-URI and CONNECT, one kept-alive connection and a new
#      connection per request, against the same GETs direct
#      (scripts/bench/request_rate.py; also runs on its own with --srt PATH)
#
# npm srt's bridges fail now and then under load: a failed npm run in the
# start-up and throughput sections is retried (up to 3 times) and counted in
# the output; a failed run of ours ends the benchmark.
#
# Idempotent set-up: installs the Debian packages the npm runtime needs
# (bubblewrap, socat, ripgrep; plus curl and GNU time) when missing (as root),
# and the npm package into /var/tmp/npm-srt-<version> when it is not there yet.
#
# Usage: scripts/bench-vs-npm.sh [RUNS]   start-up runs per variant (default 30)
# Environment:
#   SRT_BENCH_BIN=PATH     benchmark this srt binary instead of building one
#   NPM_SRT_VERSION=V      the npm package's version (default 0.0.83, the one
#                          this srt replaces)
#   NPM_SRT_PREFIX=DIR     npm install prefix (default /var/tmp/npm-srt-<version>)
#   NPM_SRT_UPDATE=1       re-run `npm install` even if the package is there
#   TP_RUNS=N              1 GiB transfers per throughput variant (default 5)
#   MEM_REPS=N             memory runs per variant (default 3)
#   REQ_N=N                GETs per request-rate run (default 2000)
#   REQ_ROUNDS=N           request-rate runs per variant (default 5)
#
# Scratch files go under /var/tmp (srt gives the program a private /tmp).
# Runtime: about 4-5 minutes on a 2-core VM.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"

runs="${1:-30}"
if ! [[ "$runs" =~ ^[0-9]+$ ]] || [ "$runs" -lt 1 ]; then
    echo "usage: scripts/bench-vs-npm.sh [RUNS]   (RUNS: a positive integer, default 30)" >&2
    exit 2
fi
tp_runs="${TP_RUNS:-5}"
mem_reps="${MEM_REPS:-3}"
version="${NPM_SRT_VERSION:-0.0.83}"
prefix="${NPM_SRT_PREFIX:-/var/tmp/npm-srt-$version}"
npm_cli="$prefix/node_modules/.bin/srt"

# ---- Debian packages
. scripts/lib/debian-packages.sh
ensure_packages bench-vs-npm bubblewrap socat ripgrep curl time
for cmd in node npm python3 bwrap socat rg curl; do
    command -v "$cmd" >/dev/null 2>&1 || { echo "bench-vs-npm: $cmd not found" >&2; exit 1; }
done

# ---- the npm package
if [ ! -e "$npm_cli" ] || [ "${NPM_SRT_UPDATE:-0}" = 1 ]; then
    echo "bench-vs-npm: npm install --prefix $prefix @anthropic-ai/sandbox-runtime@$version"
    mkdir -p "$prefix"
    npm install --prefix "$prefix" --no-audit --no-fund --loglevel=error \
        "@anthropic-ai/sandbox-runtime@$version" >/dev/null
fi
[ -e "$npm_cli" ] || { echo "bench-vs-npm: $npm_cli missing after npm install" >&2; exit 1; }

# ---- our binary
if [ -n "${SRT_BENCH_BIN:-}" ]; then
    bin="$SRT_BENCH_BIN"
else
    cargo build --release -p srt --quiet
    bin="$repo/target/release/srt"
fi
[ -x "$bin" ] || { echo "bench-vs-npm: $bin is not an executable" >&2; exit 1; }

# ---- scratch: settings files, an empty working directory and HOME (so no
# real ~/.srt-settings.json is read and nothing is written to the real home)
stage="$(mktemp -d /var/tmp/srt-vsnpm.XXXXXX)"
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/work" "$stage/home"
# A private copy, so a concurrent `cargo build` cannot swap the binary mid-run.
cp "$bin" "$stage/srt"

npm_ver="$(node -p "require('$prefix/node_modules/@anthropic-ai/sandbox-runtime/package.json').version")"
echo "== machine"
echo "date:     $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "kernel:   $(uname -srvm)"
echo "cpus:     $(nproc) online; $(grep -m1 '^model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//')"
echo "memory:   $(awk '/^MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
echo "load:     $(cut -d' ' -f1-3 /proc/loadavg)   (1/5/15 min, at start)"
echo "ours:     $("$stage/srt" --version) ($bin, copied to $stage/srt)"
echo "npm:      @anthropic-ai/sandbox-runtime $npm_ver ($(readlink -f "$npm_cli")), node $(node --version)"
echo "tools:    $(bwrap --version), $(socat -V 2>/dev/null | awk '/socat version/ {print "socat " $3; exit}'), $(rg --version | head -1), $(curl --version | head -1 | cut -d' ' -f1-2), $(python3 --version)"
echo "user:     $(id -un) (uid $(id -u))"
echo

start=$SECONDS
status=0
(cd "$stage/work" && env HOME="$stage/home" python3 "$repo/scripts/bench/vs_npm.py" bench \
    --ours "$stage/srt" --npm-cli "$npm_cli" --stage "$stage" \
    --runs "$runs" --mem-reps "$mem_reps" --tp-runs "$tp_runs") || status=1

echo
echo "== request rate: small GETs from inside each sandbox through its HTTP proxy vs direct"
(cd "$stage/work" && env HOME="$stage/home" python3 "$repo/scripts/bench/request_rate.py" \
    --srt "$stage/srt" --npm-cli "$npm_cli" --stage "$stage" \
    --requests "${REQ_N:-2000}" --rounds "${REQ_ROUNDS:-5}") || status=1

echo
echo "== end"
echo "load:     $(cut -d' ' -f1-3 /proc/loadavg)   (1/5/15 min, at end)"
echo "elapsed:  $((SECONDS - start)) s"
[ "$status" -eq 0 ] || echo "bench-vs-npm: a measurement failed to run (see above)" >&2
exit "$status"
