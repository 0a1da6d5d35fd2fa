#!/usr/bin/env bash
# Runs every fuzz target for a fixed time (default 20 s each), from the seeds in
# fuzz/seeds/<target> (copied: the tree is not changed). A crash stops the script with
# the input that caused it in fuzz/artifacts/<target>/; see fuzz/README.md for how to
# reproduce it and turn it into a regression test.
#
# Usage: fuzz/run.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")"
SECONDS_EACH=${1:-20}
shift || true
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --version 0.13.2
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || mapfile -t TARGETS < <(cargo +nightly fuzz list)
cargo +nightly fuzz build -O -a -s none
WORK=$(mktemp -d /tmp/polyplug-fuzz.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
for t in "${TARGETS[@]}"; do
    mkdir -p "$WORK/$t"
    cp -r "seeds/$t/." "$WORK/$t/" 2>/dev/null || true
    echo "fuzz: $t for ${SECONDS_EACH} s"
    if ! cargo +nightly fuzz run -O -a -s none "$t" "$WORK/$t" -- \
        -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 > "$WORK/$t.log" 2>&1; then
        tail -40 "$WORK/$t.log"
        echo "fuzz: $t failed; the input is in fuzz/artifacts/$t/ (cargo +nightly fuzz run -O -a -s none $t <file> reproduces it)"
        exit 1
    fi
    grep -E '^stat::number_of_executed_units|^stat::new_units_added' "$WORK/$t.log" \
        | sed "s/^/fuzz: $t /"
done
echo "fuzz: ${#TARGETS[@]} targets, ${SECONDS_EACH} s each, no crash"
