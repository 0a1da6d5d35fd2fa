#!/usr/bin/env bash
# Benchmark: the cost of splitting a run into shards and merging them. The trivial
# native plugin id_stats over N IDs (default 1,000,000) and the trivial Python plugin
# over N/10 IDs, each as one run, as 8 `--shard I/8 --run-dir` processes (2 at a
# time: this machine has 2 cores) then `polyplug merge`, and on a local one-node
# Slurm (bench/local-slurm.sh) as `polyplug slurm submit --shards 1` and `--shards 8`
# (array and merge job, `--wait`). Prints each as a ratio to the single run, and the
# merge's own time per million rows.
# Targets: merge at most 10% of the single run; sharded within 1.3x of it.
#
# Usage: bench/shards.sh [N_IDS]
set -euo pipefail
cd "$(dirname "$0")/.."
export POLYPLUG_STORE=none
N=${1:-1000000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cargo build --release -q -p polyplug-cli -p id_stats
bin=$PWD/target/release/polyplug
cat > "$work/trivial.py" <<'PY'
ID = 'trivial_py'
VERSION = '1.0'
INPUT = 'an ID'
OUTPUT = ['length']

def compute(entity, **kwargs):
    return [len(entity)], []
PY

python3 bench/gen-ids.py "$N" "$work/ids.txt"
head -n $((N / 10)) "$work/ids.txt" > "$work/ids10.txt"

now() { date +%s.%N; }
since() { echo "$(now) - $1" | bc -l; }

bench() { # name plugin idsfile
  local name=$1 plugin=$2 ids=$3 rows
  rows=$(wc -l < "$ids")
  rm -rf "$work/rd" "$work/single.tsv"
  local s; s=$(now)
  "$bin" run "$plugin" ids "$ids" -o "$work/single.tsv" -r "$work/single.yaml" -j2 2>/dev/null
  local single; single=$(since "$s")
  single_time=$single
  s=$(now)
  seq 0 7 | xargs -P 2 -I{} "$bin" run "$plugin" ids "$ids" --run-dir "$work/rd" \
    --shard {}/8 -j1 2>/dev/null
  local shards; shards=$(since "$s")
  s=$(now)
  "$bin" merge "$work/rd" 2>/dev/null
  local merge; merge=$(since "$s")
  cmp -s "$work/single.tsv" "$work/rd/results.tsv" || { echo "$name: merged rows differ" >&2; exit 1; }
  printf "%-22s %9d %9.3f %9.3f %9.3f %8.2f %8.2f %10.3f\n" "$name" "$rows" "$single" "$shards" \
    "$merge" "$(echo "($shards + $merge) / $single" | bc -l)" "$(echo "$merge / $single" | bc -l)" \
    "$(echo "$merge * 1000000 / $rows" | bc -l)"
}

slurm_bench() { # name plugin idsfile
  local name=$1 plugin=$2 ids=$3 n s t1 t8
  for n in 1 8; do
    rm -rf "$work/srd$n"
    s=$(now)
    (cd "$work" && "$bin" slurm submit "$plugin" ids "$ids" -j1 --shards $n --run-dir "srd$n" \
      -o "slurm$n.tsv" --wait >/dev/null 2>&1)
    eval "t$n=\$(since \"\$s\")"
    cmp -s "$work/single.tsv" "$work/slurm$n.tsv" || { echo "$name: slurm $n rows differ" >&2; exit 1; }
  done
  printf "%-22s %9.3f %9.3f %8.2f %8.2f\n" "$name" "$t1" "$t8" \
    "$(echo "$t1 / $single_time" | bc -l)" "$(echo "$t8 / $single_time" | bc -l)"
}

printf "%-22s %9s %9s %9s %9s %8s %8s %10s\n" "plugin" "IDs" "single" "8 shards" "merge" \
  "sharded" "merge" "merge s/M"
bench "native id_stats" "$PWD/target/release/libid_stats.so" "$work/ids.txt"
native_single=$single_time
bench "python trivial" "$work/trivial.py" "$work/ids10.txt"
python_single=$single_time
echo "seconds; sharded = (8 shards + merge) / single, merge = merge / single"
echo "(targets: sharded <= 1.3, merge <= 0.10)"

# The same on a local Slurm: submission, scheduling, the array and the merge job.
. bench/local-slurm.sh
slurm_start "$work/slurm"
trap 'slurm_stop "$work/slurm"; rm -rf "$work"' EXIT
echo
printf "%-22s %9s %9s %8s %8s\n" "on Slurm" "1 shard" "8 shards" "1/single" "8/single"
"$bin" run "$PWD/target/release/libid_stats.so" ids "$work/ids.txt" -o "$work/single.tsv.n" -j2 2>/dev/null
mv "$work/single.tsv.n" "$work/single.tsv"
single_time=$native_single
slurm_bench "native id_stats" "$PWD/target/release/libid_stats.so" "$work/ids.txt"
"$bin" run "$work/trivial.py" ids "$work/ids10.txt" -o "$work/single.tsv.p" -j2 2>/dev/null
mv "$work/single.tsv.p" "$work/single.tsv"
single_time=$python_single
slurm_bench "python trivial" "$work/trivial.py" "$work/ids10.txt"
echo "seconds from submission to the merged results (slurm submit --wait)"
