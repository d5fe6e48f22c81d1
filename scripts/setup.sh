#!/usr/bin/env bash
# Installs what the tests and benchmarks need on a fresh Debian machine and
# creates the unprivileged test user. Idempotent; run as root (CI) or skipped
# by a developer who already has the tools.
set -euo pipefail

TEST_USER="${SRT_TEST_USER:-srt-test}"

need=()
for tool in python3:python3 curl:curl bwrap:bubblewrap runuser:util-linux setpriv:util-linux unshare:util-linux mount:mount ps:procps git:git openssl:openssl node:nodejs npm:npm cc:gcc; do
    command -v "${tool%%:*}" >/dev/null 2>&1 || need+=("${tool##*:}")
done
# The MCP client tests create a venv with Debian's python3 (for every user).
/usr/bin/python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || need+=(python3-venv)
# The network tests (crates/srt-cli/tests/network.rs) run requests and pip
# inside the sandbox with Debian's python3.
/usr/bin/python3 -c 'import requests' >/dev/null 2>&1 || need+=(python3-requests)
/usr/bin/python3 -m pip --version >/dev/null 2>&1 || need+=(python3-pip)
# `ip netns` for the test hosts of the network tests (root only; /usr/sbin is
# not on every user's PATH).
command -v ip >/dev/null 2>&1 || [ -x /usr/sbin/ip ] || [ -x /sbin/ip ] || need+=(iproute2)

if [ "$(id -u)" -ne 0 ]; then
    if [ "${#need[@]}" -gt 0 ]; then
        echo "setup: missing ${need[*]}; install them (as root: scripts/setup.sh)" >&2
    fi
    exit 0
fi

if [ "${#need[@]}" -gt 0 ]; then
    echo "setup: installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if ! id "$TEST_USER" >/dev/null 2>&1; then
    echo "setup: creating unprivileged test user $TEST_USER"
    useradd --create-home --shell /bin/bash "$TEST_USER"
fi
