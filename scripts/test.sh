#!/usr/bin/env bash
# Every check CI runs: formatting, lints, all tests as the current user, and,
# when run as root, the sandbox and end-to-end tests again as an unprivileged
# user (root's capabilities hide real bugs).
set -euo pipefail
cd "$(dirname "$0")/.."

TEST_USER="${SRT_TEST_USER:-srt-test}"
# In CI a missing kernel feature is a failure, not a skip.
export SRT_MUST_WORK="${SRT_MUST_WORK:-1}"

scripts/setup.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo doc"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked --quiet

echo "== cargo test (as $(id -un))"
cargo test --workspace --locked

# Through an MCP client this project did not write (PyPI's mcp); when run as
# root it repeats itself as the unprivileged test user.
echo "== srt-mcp end to end (Python mcp client)"
scripts/mcp-test.sh

if [ "$(id -u)" -ne 0 ]; then
    echo "== not root: the unprivileged pass above is the only one"
    exit 0
fi

echo "== tests again as unprivileged user $TEST_USER"
# Not under /tmp: the sandbox has a private /tmp, and a nested-srt test runs
# the staged binary from inside.
stage="$(mktemp -d /var/tmp/srt-unpriv.XXXXXX)"
trap 'rm -rf "$stage"' EXIT
chmod 755 "$stage"
cargo build --workspace --locked --quiet
cp target/debug/srt "$stage/srt"
cp target/debug/srt-mcp "$stage/srt-mcp"
# The integration-test binaries of the parts that touch the kernel or run srt.
cargo test --workspace --locked --no-run --message-format=json 2>/dev/null |
    python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["kind"] == ["test"]:
        print(m["executable"])
' > "$stage/tests.txt"
status=0
while read -r bin; do
    name="$(basename "$bin")"
    cp "$bin" "$stage/$name"
    chmod 755 "$stage/$name"
    echo "-- $name as $TEST_USER"
    if ! (cd "$stage" && runuser -u "$TEST_USER" -- env HOME="/home/$TEST_USER" TMPDIR=/tmp \
            SRT_BIN="$stage/srt" SRT_MCP_BIN="$stage/srt-mcp" SRT_MUST_WORK="$SRT_MUST_WORK" "$stage/$name" --test-threads=2); then
        status=1
    fi
done < "$stage/tests.txt"
exit $status
