#!/usr/bin/env bash
# Source plugins and the Nim SDK: compile time on first use, start-up with a warm
# cache, and throughput of the trivial plugin (length and GC count of the ID) written
# in Nim, in C and in Rust as single source files, next to the native Rust cdylib
# (examples-plugins/rust/id_stats) in the same run.
#
#   bench/source.sh [N_IDS]        (default 1000000)
#
# Builds target/release/polyplug and libid_stats.so if missing (polyplug-cli and
# id_stats only). Needs cc, nim and rustc on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
# The host and its loaders are measured without the results store (bench/store.sh
# measures the store); with it, every repeat would skip the entities already stored.
export POLYPLUG_STORE=none
N=${1:-1000000}
BIN=${POLYPLUG_BIN:-target/release/polyplug}
LIB=${ID_STATS_LIB:-target/release/libid_stats.so}
if [[ ! -x $BIN || ! -f $LIB ]]; then
  cargo build --release -p polyplug-cli -p id_stats >&2
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export POLYPLUG_CACHE=$work/cache

python3 - "$N" > "$work/ids.txt" <<'EOF'
import random, sys
random.seed(7)
for i in range(int(sys.argv[1])):
    # (numbered: an input that repeats an ID is refused)
    print("".join(random.choice("ACGTacgtN") for _ in range(random.randint(20, 40))) + f"_{i}")
EOF

# The Nim example as it is (examples-plugins/nim/id_stats.nim), compiled from a copy.
cp examples-plugins/nim/id_stats.nim "$work/id_stats_nim.nim"
cat > "$work/id_stats_src_c.c" <<'EOF'
#include "polyplug.h"
static const char *const OUTPUT[] = {"length", "gc_count"};
static int32_t compute(void *s, const char *e, size_t n, const pp_call *c) {
    (void)s;
    int64_t gc = 0;
    for (size_t i = 0; i < n; i++)
        if (e[i] == 'G' || e[i] == 'C' || e[i] == 'g' || e[i] == 'c') gc++;
    pp_push_int(c, (int64_t)n);
    pp_push_int(c, gc);
    return PP_OK;
}
static const pp_plugin P = {
    .abi_version = POLYPLUG_ABI_VERSION, .struct_size = sizeof(pp_plugin),
    .id = "id_stats_src_c", .version = "1.0", .input = "any ID",
    .output = OUTPUT, .n_output = 2, .compute = compute,
};
POLYPLUG_EXPORT const pp_plugin *polyplug_plugin(void) { return &P; }
EOF
cat > "$work/id_stats_src_rs.rs" <<'EOF'
use polyplug_sdk::{export_plugin, Error, Output, Params, Plugin};
pub struct S;
impl Plugin for S {
    const ID: &'static str = "id_stats_src_rs";
    const VERSION: &'static str = "1.0";
    const INPUT: &'static str = "any ID";
    const OUTPUT: &'static [&'static str] = &["length", "gc_count"];
    fn initialize(_p: &Params) -> Result<Self, Error> { Ok(S) }
    fn compute(&mut self, e: &str, _p: &Params, out: &mut Output) -> Result<(), Error> {
        let gc = e.bytes().filter(|b| matches!(b, b'G' | b'C' | b'g' | b'c')).count();
        out.push(e.len()).push(gc);
        Ok(())
    }
}
export_plugin!(S);
EOF

seconds() { # runs "$@", prints wall seconds
  local t0 t1
  t0=$(date +%s.%N)
  "$@" > /dev/null 2>&1
  t1=$(date +%s.%N)
  python3 -c "print(f'{$t1 - $t0:.3f}')"
}

echo "== compile on first use (empty cache) and start-up with a warm cache"
printf '%-22s %12s %12s\n' plugin "compile s" "warm info s"
for src in id_stats_nim.nim id_stats_src_c.c id_stats_src_rs.rs; do
  cold=$(seconds "$BIN" build "$work/$src")
  warm=$(seconds "$BIN" info "$work/$src")
  printf '%-22s %12s %12s\n' "$src" "$cold" "$warm"
done
echo "(the Rust row includes building the polyplug_sdk rlib once per rustc version)"

echo
echo "== throughput over $N IDs (entities/s; ratio to the native Rust cdylib)"
declare -A rate
printf '%-22s %6s %14s %8s\n' plugin jobs "entities/s" ratio
for jobs in 1 2; do
  for p in "$LIB" "$work/id_stats_nim.nim" "$work/id_stats_src_c.c" "$work/id_stats_src_rs.rs"; do
    s=$(seconds "$BIN" run "$p" ids "$work/ids.txt" -j "$jobs" -r /dev/null -l /dev/null)
    r=$(python3 -c "print(int($N / $s))")
    name=$(basename "$p")
    rate[$name.$jobs]=$r
    base=${rate[$(basename "$LIB").$jobs]}
    ratio=$(python3 -c "print(f'{$r / $base:.2f}')")
    printf '%-22s %6s %14s %8s\n' "$name" "$jobs" "$r" "$ratio"
  done
done
