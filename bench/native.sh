#!/usr/bin/env bash
# Benchmark: end-to-end entities per second of `polyplug run` on the trivial native
# plugin id_stats (length and GC count of the ID) over generated IDs, at -j1 and -j2,
# next to the same computation as a plain Rust loop without the host (bench/direct-loop),
# which is the limit. Prints figures and the host/direct ratio (target: within 3x).
# Also prints the peak memory of a 10,000,000-ID run (memory must stay flat: streamed).
#
# Usage: bench/native.sh [N_IDS]      (default 1000000)
set -euo pipefail
cd "$(dirname "$0")/.."
# The host and its loaders are measured without the results store (bench/store.sh
# measures the store); with it, every repeat would skip the entities already stored.
export POLYPLUG_STORE=none
N=${1:-1000000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cargo build --release -q -p polyplug-cli -p id_stats -p direct-loop
bin=target/release/polyplug
lib=target/release/libid_stats.so

python3 - "$N" "$work/ids.txt" <<'PY'
import random, sys
n, path = int(sys.argv[1]), sys.argv[2]
rng = random.Random(42)
with open(path, "w") as f:
    for i in range(n):
        f.write("".join(rng.choice("ACGT") for _ in range(12)) + f"_{i}\n")
PY

# Seconds (wall clock) of the fastest of 3 runs of a command.
best_of_3() {
  local best=""
  for _ in 1 2 3; do
    rm -f "$work/out.tsv"
    local s e
    s=$(date +%s.%N); "$@" > /dev/null 2>&1; e=$(date +%s.%N)
    local t; t=$(echo "$e - $s" | bc -l)
    if [ -z "$best" ] || (( $(echo "$t < $best" | bc -l) )); then best=$t; fi
  done
  echo "$best"
}

direct=$(best_of_3 target/release/direct-loop "$work/ids.txt" "$work/out.tsv")
j1=$(best_of_3 "$bin" run "$lib" ids "$work/ids.txt" -o "$work/out.tsv" -r "$work/r.yaml" -j1)
j2=$(best_of_3 "$bin" run "$lib" ids "$work/ids.txt" -o "$work/out.tsv" -r "$work/r.yaml" -j2)

# Check the host wrote the same rows as the direct loop.
target/release/direct-loop "$work/ids.txt" "$work/direct.tsv"
rm -f "$work/out.tsv"; "$bin" run "$lib" ids "$work/ids.txt" -o "$work/out.tsv" -r "$work/r.yaml" -j2
cmp -s "$work/direct.tsv" "$work/out.tsv" || { echo "host and direct loop rows differ" >&2; exit 1; }

rate() { echo "$N / $1" | bc -l | xargs printf "%.0f"; }
printf "%-28s %10s %14s %8s\n" "run ($N IDs)" "seconds" "entities/s" "ratio"
printf "%-28s %10.3f %14s %8s\n" "direct loop (no host)" "$direct" "$(rate "$direct")" "1.00"
printf "%-28s %10.3f %14s %8.2f\n" "polyplug -j1" "$j1" "$(rate "$j1")" "$(echo "$j1 / $direct" | bc -l)"
printf "%-28s %10.3f %14s %8.2f\n" "polyplug -j2" "$j2" "$(rate "$j2")" "$(echo "$j2 / $direct" | bc -l)"
echo "ratio = host time / direct-loop time (target: <= 3)"

# Memory stays flat: peak RSS for 10x more IDs.
big="$work/ids10x.txt"
for _ in 1 2 3 4 5 6 7 8 9 10; do cat "$work/ids.txt"; done > "$big"
rm -f "$work/out.tsv"
/usr/bin/time -f %M -o "$work/rss1" "$bin" run "$lib" ids "$work/ids.txt" -o "$work/out.tsv" -r "$work/r.yaml" -j2 >/dev/null 2>&1
rm -f "$work/out.tsv"
/usr/bin/time -f %M -o "$work/rss10" "$bin" run "$lib" ids "$big" -o "$work/out.tsv" -r "$work/r.yaml" -j2 >/dev/null 2>&1
echo "peak RSS: $(tail -1 "$work/rss1") KiB for $N IDs, $(tail -1 "$work/rss10") KiB for $((N * 10)) IDs"
