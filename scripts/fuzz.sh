#!/usr/bin/env bash
# Runs every cargo-fuzz target of fuzz/ (the srt-policy parsers: settings,
# domain; the srt-proxy SOCKS5 and HTTP proxies over loopback: proxy) for
# SECONDS each (default 60). Seeds from fuzz/seeds/TARGET are copied into the corpus
# fuzz/corpus/TARGET first; crashes land in fuzz/artifacts/TARGET and the
# libFuzzer log of each run in fuzz/artifacts/logs/TARGET.log.
#
# Usage: scripts/fuzz.sh [SECONDS]
#   FUZZ_TARGETS="domain"   only these targets (default: all of `cargo fuzz list`,
#                           i.e. settings, domain and proxy)
#   FUZZ_SANITIZER=none     skip AddressSanitizer (default: address, falling
#                           back to none if the ASan build fails)
#   FUZZ_TOLERATE_ESCAPED_NEWLINES=1
#                           settings target: look past the known multi-line
#                           error for keys with an escaped newline ({"\n":[]})
#   FUZZ_UNCAPPED_FS=1      settings target: build mount plans on plain RealFs
#                           (default: RealFs capped at 2000 directory entries
#                           read per plan, so absolute globs stay cheap)
#
# cargo-fuzz needs nightly flags; on a stable toolchain RUSTC_BOOTSTRAP=1
# unlocks them. Exits non-zero if any target crashes (or fails to build).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

secs="${1:-60}"
case "$secs" in '' | *[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;; esac
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

read -r -a targets <<<"${FUZZ_TARGETS:-$(cargo fuzz list | tr '\n' ' ')}"
sanitizer="${FUZZ_SANITIZER:-address}"

echo "== cargo fuzz build (sanitizer: $sanitizer)"
if ! cargo fuzz build -s "$sanitizer" "${targets[@]:0:1}" && [ "$sanitizer" != none ]; then
    echo "== build with -s $sanitizer failed; falling back to -s none" >&2
    sanitizer=none
fi
for t in "${targets[@]}"; do
    cargo fuzz build -s "$sanitizer" "$t"
done

mkdir -p artifacts/logs
status=0
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t"
    if [ -d "seeds/$t" ]; then
        cp -f seeds/"$t"/* "corpus/$t/"
    fi
    echo "== cargo fuzz run $t for ${secs}s (sanitizer: $sanitizer)"
    if cargo fuzz run -s "$sanitizer" "$t" "corpus/$t" -- \
        -max_total_time="$secs" -print_final_stats=1 2>&1 | tee "artifacts/logs/$t.log"; then
        echo "== $t: no crash in ${secs}s"
    else
        echo "== $t: CRASH (see fuzz/artifacts/$t and fuzz/artifacts/logs/$t.log)" >&2
        status=1
    fi
done
exit $status
