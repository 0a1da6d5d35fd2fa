#!/usr/bin/env bash
# Python plugin throughput: polyplug at -j1 (one worker process, the default), -j1
# --in-process (the interpreter inside polyplug) and -j2 (two worker processes)
# against Prenacs itself, on the same plugin file, in the same run.
#
# The plugin (tests/fixtures/python/ids.py) returns the length and the GC count of
# each ID: the cost measured is the host's, not the plugin's. Prenacs is run on fewer
# IDs (PRENACS_IDS, default 20000) because it is slow; throughputs are compared per
# entity.
#
# Usage: bench/python.sh [N_IDS]     (default 1000000)
# Environment: PRENACS_VENV   a virtualenv with prenacs (default bench/.venv, created
#                             with `pip install prenacs` when missing)
#              PRENACS_IDS    IDs given to Prenacs (default 20000)
set -euo pipefail
cd "$(dirname "$0")/.."
# The host and its loaders are measured without the results store (bench/store.sh
# measures the store); with it, every repeat would skip the entities already stored.
export POLYPLUG_STORE=none
N=${1:-1000000}
PN=${PRENACS_IDS:-20000}
VENV=${PRENACS_VENV:-bench/.venv}
PLUGIN=$PWD/tests/fixtures/python/ids.py

cargo build --release -q -p polyplug-cli
BIN=$PWD/target/release/polyplug

if [ ! -x "$VENV/bin/prenacs-batch-compute" ]; then
  echo "# creating $VENV with prenacs (once)" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q prenacs
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
python3 - "$N" "$WORK/ids.txt" <<'PY'
import random, sys
n, path = int(sys.argv[1]), sys.argv[2]
rng = random.Random(42)
with open(path, "w") as f:
    for i in range(n):
        f.write(f"ID{i:07d}_" + "".join(rng.choice("ACGT") for _ in range(12)) + "\n")
PY
head -n "$PN" "$WORK/ids.txt" > "$WORK/ids_prenacs.txt"

now() { date +%s.%N; }
rate() { python3 -c "print(f'{$1 / ($3 - $2):.0f}')"; }

measure_polyplug() { # jobs [name suffix] [options]
  local out="$WORK/out_j$1${2:-}.tsv"
  local t0 t1
  t0=$(now)
  "$BIN" run "$PLUGIN" ids "$WORK/ids.txt" -j "$1" -o "$out" -r "$WORK/report_j$1.yaml" "${@:3}"
  t1=$(now)
  local rows
  rows=$(wc -l < "$out")
  [ "$rows" -eq "$N" ] || { echo "polyplug -j$1 wrote $rows rows, expected $N" >&2; exit 1; }
  rate "$N" "$t0" "$t1"
}

J1=$(measure_polyplug 1)
P1=$(measure_polyplug 1 p --in-process)
J2=$(measure_polyplug 2)
cmp -s "$WORK/out_j1.tsv" "$WORK/out_j2.tsv" || { echo "-j1 and -j2 results differ" >&2; exit 1; }
cmp -s "$WORK/out_j1.tsv" "$WORK/out_j1p.tsv" || { echo "-j1 and --in-process results differ" >&2; exit 1; }

: > "$WORK/prenacs.tsv"
t0=$(now)
"$VENV/bin/prenacs-batch-compute" "$PLUGIN" ids "$WORK/ids_prenacs.txt" \
  -o "$WORK/prenacs.tsv" -r "$WORK/prenacs_report.yaml" 2>/dev/null
t1=$(now)
PR=$(rate "$PN" "$t0" "$t1")
# Same rows (Prenacs writes them in completion order).
head -n "$PN" "$WORK/out_j1.tsv" | sort > "$WORK/a"; sort "$WORK/prenacs.tsv" > "$WORK/b"
cmp -s "$WORK/a" "$WORK/b" || { echo "Prenacs and polyplug rows differ" >&2; exit 1; }

echo "python plugin, trivial compute (length and GC count of the ID)"
printf '%-32s %12s entities/s  (%s IDs)\n' "polyplug -j1 (a worker process)" "$J1" "$N"
printf '%-32s %12s entities/s  (%s IDs)\n' "polyplug -j1 --in-process" "$P1" "$N"
printf '%-32s %12s entities/s  (%s IDs)\n' "polyplug -j2 (2 worker processes)" "$J2" "$N"
printf '%-32s %12s entities/s  (%s IDs)\n' "prenacs-batch-compute (parallel)" "$PR" "$PN"
python3 -c "print(f'ratio -j1 / prenacs: {$J1 / $PR:.0f}x'); print(f'ratio -j1 --in-process / prenacs: {$P1 / $PR:.0f}x'); print(f'ratio -j2 / prenacs: {$J2 / $PR:.0f}x'); print(f'ratio -j2 / -j1:     {$J2 / $J1:.2f}x'); print('target: at least 100x prenacs')"
