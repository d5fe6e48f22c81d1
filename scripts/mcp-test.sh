#!/usr/bin/env bash
# End-to-end tests of srt-mcp through the official MCP clients: the Python
# SDK (PyPI `mcp`) over stdio, crates/srt-mcp/tests/client_test.py, in a venv
# made when missing (one per user); then the TypeScript SDK (npm
# `@modelcontextprotocol/sdk`) over stdio and streamable HTTP,
# crates/srt-mcp/tests/ts_client_test.mjs, installed when missing under
# /var/tmp/srt-mcp-ts-<uid>. As root, both run again as the unprivileged user
# $SRT_TEST_USER (default srt-test).
#
#   scripts/mcp-test.sh [TEST-NAME-SUBSTRING]   (the substring selects Python tests)
set -euo pipefail
cd "$(dirname "$0")/.."

TEST_USER="${SRT_TEST_USER:-srt-test}"
MCP_PIN='mcp>=2.3,<3'
TS_SDK='@modelcontextprotocol/sdk@1.32.2'

cargo build --quiet --locked -p srt-mcp
target="${CARGO_TARGET_DIR:-target}"

# Not under /tmp: sandboxed programs have a private /tmp.
stage="$(mktemp -d /var/tmp/srt-mcp-test.XXXXXX)"
trap 'rm -rf "$stage"' EXIT
chmod 755 "$stage"
cp "$target/debug/srt-mcp" crates/srt-mcp/tests/client_test.py crates/srt-mcp/tests/ts_client_test.mjs "$stage/"
chmod 755 "$stage/srt-mcp"
chmod 644 "$stage/client_test.py" "$stage/ts_client_test.mjs"

# Creates the venv of the current user when missing, then runs the tests.
run_tests='
set -euo pipefail
venv="/var/tmp/srt-mcp-venv-$(id -u)"
if ! "$venv/bin/python" -c "import mcp" 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "$0"
fi
exec "$venv/bin/python" "$1/client_test.py" "$1/srt-mcp" "${@:2}"
'

# Installs the TypeScript SDK for the current user when missing, then runs
# the tests (node resolves the SDK from the script's own directory).
run_ts_tests='
set -euo pipefail
dir="/var/tmp/srt-mcp-ts-$(id -u)"
if [ ! -f "$dir/node_modules/@modelcontextprotocol/sdk/package.json" ] ||
    [ "$(cat "$dir/.pin" 2>/dev/null)" != "$0" ]; then
    mkdir -p "$dir"
    (cd "$dir" && rm -rf node_modules package.json package-lock.json &&
        echo "{\"name\":\"srt-mcp-ts-test\",\"private\":true,\"type\":\"module\"}" > package.json &&
        npm install --silent --no-audit --no-fund "$0" >/dev/null && echo "$0" > .pin)
fi
cp "$1/ts_client_test.mjs" "$dir/"
exec node "$dir/ts_client_test.mjs" "$1/srt-mcp"
'

status=0
echo "== srt-mcp through the Python mcp client (as $(id -un))"
bash -c "$run_tests" "$MCP_PIN" "$stage" "$@" || status=1
echo "== srt-mcp through the TypeScript SDK (as $(id -un))"
bash -c "$run_ts_tests" "$TS_SDK" "$stage" || status=1
if [ "$(id -u)" -eq 0 ] && id "$TEST_USER" >/dev/null 2>&1; then
    echo "== srt-mcp through the Python mcp client (as $TEST_USER)"
    (cd "$stage" && runuser -u "$TEST_USER" -- env HOME="/home/$TEST_USER" TMPDIR=/tmp \
        bash -c "$run_tests" "$MCP_PIN" "$stage" "$@") || status=1
    echo "== srt-mcp through the TypeScript SDK (as $TEST_USER)"
    (cd "$stage" && runuser -u "$TEST_USER" -- env HOME="/home/$TEST_USER" TMPDIR=/tmp \
        bash -c "$run_ts_tests" "$TS_SDK" "$stage") || status=1
fi
exit $status
