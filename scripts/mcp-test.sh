#!/usr/bin/env bash
# End-to-end tests of srt-mcp through the official Python MCP client (PyPI
# `mcp`), over stdio: builds srt-mcp, creates the client's venv when missing
# (one per user), runs crates/srt-mcp/tests/client_test.py. As root, runs the
# tests again as the unprivileged user $SRT_TEST_USER (default srt-test).
#
#   scripts/mcp-test.sh [TEST-NAME-SUBSTRING]
set -euo pipefail
cd "$(dirname "$0")/.."

TEST_USER="${SRT_TEST_USER:-srt-test}"
MCP_PIN='mcp>=2.3,<3'

cargo build --quiet --locked -p srt-mcp
target="${CARGO_TARGET_DIR:-target}"

# Not under /tmp: sandboxed programs have a private /tmp.
stage="$(mktemp -d /var/tmp/srt-mcp-test.XXXXXX)"
trap 'rm -rf "$stage"' EXIT
chmod 755 "$stage"
cp "$target/debug/srt-mcp" crates/srt-mcp/tests/client_test.py "$stage/"
chmod 755 "$stage/srt-mcp"
chmod 644 "$stage/client_test.py"

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

echo "== srt-mcp through the Python mcp client (as $(id -un))"
status=0
bash -c "$run_tests" "$MCP_PIN" "$stage" "$@" || status=1
if [ "$(id -u)" -eq 0 ] && id "$TEST_USER" >/dev/null 2>&1; then
    echo "== srt-mcp through the Python mcp client (as $TEST_USER)"
    (cd "$stage" && runuser -u "$TEST_USER" -- env HOME="/home/$TEST_USER" TMPDIR=/tmp \
        bash -c "$run_tests" "$MCP_PIN" "$stage" "$@") || status=1
fi
exit $status
