#!/usr/bin/env bash
# Differential tests against Anthropic's Sandbox Runtime from npm
# (@anthropic-ai/sandbox-runtime 0.0.83, command `srt`; "npm" below, this
# project's build "ours"). A comparison, not a pass/fail test: the same
# settings files and the same probes run under both, as root and as the
# unprivileged user srt-test, and the outcomes, normalised to allow / deny,
# are printed side by side (SAME / DIFF). docs/differential.md explains every
# DIFF of the last recorded run.
#
# What is probed, per settings file (scripts/differential/probes.py lists
# them): whether srt runs the program or refuses the file; reads of files
# allowed and denied (denyRead/allowRead, globs, literal entries, ~, the
# host's /tmp); writes (new files and existing ones, inside and outside
# allowWrite, denyWrite, globs, the always-protected names: .git/hooks,
# .git/config, .bashrc, .vscode, .idea, .claude, .mcp.json, ..., the host's
# /tmp); requests through the sandbox's HTTP proxy to a host-loopback server
# and to names that are allowed, denied, wildcarded or port-limited (names
# that do not resolve here count as allowed when the proxy dialed: 502);
# direct connections; git's safe.directory; user-namespace creation; an
# environment variable; files left behind on the host. Plus a few
# command-line cases (exit status, signals, argv quoting, missing --settings).
#
# Idempotent set-up (as root): installs bubblewrap, socat, ripgrep, curl
# when missing, and the npm package into $NPM_SRT_PREFIX when it is not
# there yet (npm install needs the registry; an existing install is used
# as it is).
#
# Usage: scripts/differential.sh [--diff-only] [--only NAME,NAME] [--users root,srt-test]
#   --diff-only   print only the DIFF rows (counts stay complete)
#   --only        run only these settings files (names from probes.py; "cli"
#                 for the command-line cases)
#   --users       which users to run as (default: root,srt-test; srt-test is
#                 skipped when that account does not exist)
# Environment:
#   SRT_BIN=PATH          our binary (default: cargo build -p srt, target/debug/srt)
#   NPM_SRT_PREFIX=DIR    npm install prefix (default /var/tmp/srt083)
#   NPM_SRT_VERSION=V     version to install when missing (default 0.0.83)
#   DIFF_STAGE=DIR        scratch (default /var/tmp/diff-stage; recreated)
#   DIFF_KEEP=1           keep the scratch directory (results JSON inside)
#
# Exit status: 0 whatever the comparison shows; non-zero only when the
# harness itself could not run. Runtime: 2-4 minutes on a 2-core VM.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"

diff_only=""
only=""
users="root,srt-test"
while [ $# -gt 0 ]; do
    case "$1" in
        --diff-only) diff_only="--diff-only" ;;
        --only) only="$2"; shift ;;
        --only=*) only="${1#--only=}" ;;
        --users) users="$2"; shift ;;
        --users=*) users="${1#--users=}" ;;
        -h|--help) sed -n '2,42p' "$0"; exit 0 ;;
        *) echo "differential: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

prefix="${NPM_SRT_PREFIX:-/var/tmp/srt083}"
version="${NPM_SRT_VERSION:-0.0.83}"
pkg="$prefix/node_modules/@anthropic-ai/sandbox-runtime"
npm_cli="$pkg/dist/cli.js"
stage="${DIFF_STAGE:-/var/tmp/diff-stage}"
py=/usr/bin/python3

# ---- Debian packages the npm runtime needs
. scripts/lib/debian-packages.sh
ensure_packages differential bubblewrap socat ripgrep curl
for cmd in node python3 bwrap socat rg curl git unshare; do
    command -v "$cmd" >/dev/null 2>&1 || { echo "differential: $cmd not found" >&2; exit 1; }
done
[ -x "$py" ] || { echo "differential: $py not found" >&2; exit 1; }

# ---- the npm package
if [ ! -e "$npm_cli" ]; then
    echo "differential: npm install --prefix $prefix @anthropic-ai/sandbox-runtime@$version"
    mkdir -p "$prefix"
    npm install --prefix "$prefix" --no-audit --no-fund --loglevel=error \
        "@anthropic-ai/sandbox-runtime@$version" >/dev/null
fi
[ -e "$npm_cli" ] || { echo "differential: $npm_cli missing after npm install" >&2; exit 1; }
npm_ver="$(node -p "require('$pkg/package.json').version")"

# ---- our binary (another build may be in progress: retry, then fall back
# to the last one built)
if [ -n "${SRT_BIN:-}" ]; then
    bin="$SRT_BIN"
else
    bin="$repo/target/debug/srt"
    built=0
    for attempt in 1 2 3; do
        if cargo build -p srt --quiet 2>/tmp/srt-diff-build.log; then built=1; break; fi
        echo "differential: cargo build failed (attempt $attempt; see /tmp/srt-diff-build.log), retrying in 60 s" >&2
        sleep 60
    done
    if [ "$built" = 0 ]; then
        [ -x "$bin" ] || { echo "differential: no srt binary to test" >&2; exit 1; }
        echo "differential: using the last built $bin" >&2
    fi
fi
[ -x "$bin" ] || { echo "differential: $bin is not an executable" >&2; exit 1; }

# ---- stage: copies every user can read (a concurrent build cannot swap the
# binary mid-run)
rm -rf "$stage"
mkdir -p "$stage/bin" "$stage/www"
chmod 755 "$stage" "$stage/bin" "$stage/www"
cp "$bin" "$stage/bin/srt"
cp "$repo/scripts/differential/probes.py" "$stage/probes.py"
chmod 755 "$stage/bin/srt" "$stage/probes.py"
echo "hello from the host" >"$stage/www/index.html"
chmod 644 "$stage/www/index.html"

# ---- the host-loopback HTTP server
port="$($py -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
$py -m http.server "$port" --bind 127.0.0.1 --directory "$stage/www" >/dev/null 2>&1 &
server_pid=$!
cleanup() {
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    if [ "${DIFF_KEEP:-0}" != 1 ]; then rm -rf "$stage"; fi
}
trap cleanup EXIT
for _ in $(seq 50); do
    curl -s -o /dev/null "http://127.0.0.1:$port/" && break
    sleep 0.1
done

echo "== differential: npm srt vs ours"
echo "date:   $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "kernel: $(uname -sr); load $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cpus"
echo "npm:    @anthropic-ai/sandbox-runtime $npm_ver ($npm_cli), node $(node --version), $(bwrap --version)"
dirty=""
if [ -z "${SRT_BIN:-}" ] && [ -n "$(git -C "$repo" status --porcelain -- crates Cargo.toml Cargo.lock 2>/dev/null)" ]; then
    dirty=" + uncommitted changes under crates/"
fi
echo "ours:   $("$stage/bin/srt" --version 2>/dev/null || echo '?') ($bin, commit $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo '?')$dirty)"
echo "server: http://127.0.0.1:$port/"

results=()
IFS=',' read -r -a user_list <<<"$users"
for u in "${user_list[@]}"; do
    if ! id "$u" >/dev/null 2>&1; then
        echo "differential: user $u does not exist; skipped" >&2
        continue
    fi
    run="$stage/run-$u"
    mkdir -p "$run"
    out="$run/results.json"
    args=(drive --label "$u" --user-name "$u" --stage "$stage" --run-dir "$run" --ours "$stage/bin/srt"
          --npm-cli "$npm_cli" --probes "$stage/probes.py" --port "$port" --out "$out")
    [ -n "$only" ] && args+=(--only "$only")
    echo "-- running as $u"
    if [ "$u" = "$(id -un)" ]; then
        "$py" "$stage/probes.py" "${args[@]}"
    else
        chown "$u:" "$run"
        home="$(getent passwd "$u" | cut -d: -f6)"
        runuser -u "$u" -- env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$home" \
            "$py" "$stage/probes.py" "${args[@]}"
    fi
    results+=("$out")
done

[ "${#results[@]}" -gt 0 ] || { echo "differential: nothing ran" >&2; exit 1; }
"$py" "$stage/probes.py" report $diff_only "${results[@]}"
if [ "${DIFF_KEEP:-0}" = 1 ]; then echo "results kept in $stage"; fi
