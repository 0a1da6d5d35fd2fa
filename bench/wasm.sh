#!/bin/sh
# WebAssembly benchmark: the trivial plugin (length and GC count of the ID) over
# 1,000,000 IDs, as WebAssembly (examples-plugins/wasm/id_stats.rs, Rust guest) next to
# the native Rust plugin (target/release/libid_stats.so), at -j1 and -j2, in the same
# run; then the start-up time of a WebAssembly plugin with a cold compile cache
# (Cranelift compiles the module) and a warm one (the compiled module is loaded).
#
# Target: WebAssembly within 2x of native.
#
# Usage: bench/wasm.sh [N_IDS]     (default 1000000)
# Builds polyplug and id_stats in release (only those packages) and the wasm examples.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# The host and its loaders are measured without the results store (bench/store.sh
# measures the store); with it, every repeat would skip the entities already stored.
export POLYPLUG_STORE=none
n=${1:-1000000}
work=$(mktemp -d "${TMPDIR:-/tmp}/polyplug-bench-wasm.XXXXXX")
trap 'rm -rf "$work"' EXIT

echo "# building (release: polyplug-cli, id_stats; wasm examples)" >&2
cargo build --release -q -p polyplug-cli -p id_stats
sh examples-plugins/wasm/build.sh "$work/wasm" >/dev/null
pp="$root/target/release/polyplug"
native="$root/target/release/libid_stats.so"
wasm="$work/wasm/id_stats_wasm.wasm"

python3 - "$n" > "$work/ids.txt" <<'PY'
import random, sys
random.seed(1)
n = int(sys.argv[1])
for i in range(n):
    # (numbered: an input that repeats an ID is refused)
    print("".join(random.choice("ACGT") for _ in range(random.randint(8, 24))) + f"_{i}")
PY
export POLYPLUG_CACHE_DIR="$work/cache"

# seconds of wall time of a command, best of 3
best() {
    python3 - "$@" <<'PY'
import subprocess, sys, time
best = None
for _ in range(3):
    t = time.perf_counter()
    subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    d = time.perf_counter() - t
    best = d if best is None or d < best else best
print(f"{best:.3f}")
PY
}

# Warm the compile cache so the throughput runs measure computing, not compiling, and
# check that both plugins give the same rows.
"$pp" info "$wasm" >/dev/null
"$pp" run "$native" ids "$work/ids.txt" -r "$work/r.yaml" > "$work/native.tsv"
"$pp" run "$wasm" ids "$work/ids.txt" -r "$work/r.yaml" > "$work/wasm.tsv"
cmp -s "$work/native.tsv" "$work/wasm.tsv" || { echo "native and wasm rows differ" >&2; exit 1; }

echo "trivial plugin, $n IDs (best of 3 wall-clock runs)"
printf '%-6s %10s %10s %8s %12s\n' jobs native_s wasm_s ratio wasm_ids/s
for j in 1 2; do
    # Results go to stdout (discarded): an -o file would become the skip list of the
    # next repetition.
    tn=$(best "$pp" run "$native" ids "$work/ids.txt" -j "$j" -r "$work/r.yaml")
    tw=$(best "$pp" run "$wasm" ids "$work/ids.txt" -j "$j" -r "$work/r.yaml")
    python3 -c "import sys; n,tn,tw=int(sys.argv[1]),float(sys.argv[2]),float(sys.argv[3]); print(f'{sys.argv[4]:<6} {tn:10.3f} {tw:10.3f} {tw/tn:7.2f}x {n/tw:12.0f}')" "$n" "$tn" "$tw" "-j$j"
done
echo "ratio = wasm time / native time (target: <= 2)"

# Start-up: load and describe the plugin (polyplug info), cold and warm cache.
cold=$(python3 - "$pp" "$wasm" "$work/cold" <<'PY'
import os, shutil, subprocess, sys, time
pp, wasm, cache = sys.argv[1:]
best = None
for _ in range(3):
    shutil.rmtree(cache, ignore_errors=True)
    env = dict(os.environ, POLYPLUG_CACHE_DIR=cache)
    t = time.perf_counter()
    subprocess.run([pp, "info", wasm], check=True, stdout=subprocess.DEVNULL, env=env)
    d = time.perf_counter() - t
    best = d if best is None or d < best else best
print(f"{best:.3f}")
PY
)
warm=$(best "$pp" info "$wasm")
nat=$(best "$pp" info "$native")
echo
echo "start-up (polyplug info, best of 3)"
printf '  wasm, first run (compile):  %s s\n' "$cold"
printf '  wasm, cached compile:       %s s\n' "$warm"
printf '  native library:             %s s\n' "$nat"
python3 -c "import sys; c,w=float(sys.argv[1]),float(sys.argv[2]); print(f'  cache speed-up: {c/w:.1f}x')" "$cold" "$warm"
