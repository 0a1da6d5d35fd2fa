#!/usr/bin/env bash
# Benchmark of records mode over a generated FASTA file of N records (default
# 1,000,000 records, 2 GB; --quick: 100,000 records, 200 MB):
#
# 1. indexing: `polyplug index fasta` building the .fai, in MB/s, next to
#    `cat file > /dev/null` on the same (warm) file, the disk limit, and to
#    `samtools faidx` when samtools is installed (target: at least 50% of cat);
# 2. per-record throughput of the trivial native plugin id_stats in records mode
#    (each record read by its worker by byte range) at -j1 and -j2, next to a plain
#    Rust loop that reads the records with the same library (noodles) and computes the
#    same function, bench/direct-loop's records-loop (target: within 2x of the loop);
# 3. peak memory of a records run over a file a tenth of the size and over the whole
#    file (target: flat in the file size).
#
# Each time is the fastest of ${REPEATS:-3} runs, the configurations taking turns.
# Usage: bench/records.sh [--quick]
set -euo pipefail
cd "$(dirname "$0")/.."
export POLYPLUG_STORE=none
N=1000000 SIZE=2000000000
if [ "${1:-}" = "--quick" ]; then N=100000 SIZE=200000000; fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cargo build --release -q -p polyplug-cli -p id_stats -p direct-loop
bin=$PWD/target/release/polyplug
lib=$PWD/target/release/libid_stats.so
loop=$PWD/target/release/records-loop

python3 bench/gen-fasta.py "$N" "$SIZE" "$work/big.fa"
python3 bench/gen-fasta.py "$((N / 10))" "$((SIZE / 10))" "$work/small.fa"
mb=$(stat -c %s "$work/big.fa" | awk '{printf "%.0f", $1 / 1e6}')

seconds() { local s e; s=$(date +%s.%N); "$@" > /dev/null 2>&1; e=$(date +%s.%N); echo "$e - $s" | bc -l; }
declare -A best
keep() { if [ -z "${best[$1]:-}" ] || (( $(echo "$2 < ${best[$1]}" | bc -l) )); then best[$1]=$2; fi; }
cat "$work/big.fa" > /dev/null # warm the page cache
have_samtools=$(command -v samtools >/dev/null && echo yes || echo no)
for _ in $(seq "${REPEATS:-3}"); do
  keep cat "$(seconds sh -c "cat '$work/big.fa' > /dev/null")"
  rm -f "$work/big.fa.fai"
  keep index "$(seconds "$bin" index fasta "$work/big.fa")"
  if [ "$have_samtools" = yes ]; then
    rm -f "$work/big.fa.fai"
    keep samtools "$(seconds samtools faidx "$work/big.fa")"
  fi
done
rm -f "$work/big.fa.fai"
"$bin" index fasta "$work/big.fa" > /dev/null 2>&1 # the index the runs reuse
for _ in $(seq "${REPEATS:-3}"); do
  keep loop "$(seconds "$loop" "$work/big.fa" "$work/loop.tsv")"
  for j in 1 2; do
    keep "j$j" "$(seconds "$bin" run "$lib" records fasta "$work/big.fa" -j"$j" -o "$work/out$j.tsv" -r "$work/r.yaml")"
    rm -f "$work/out$j.tsv"
  done
done
# The host's rows are the loop's.
"$bin" run "$lib" records fasta "$work/big.fa" -j2 -o "$work/out.tsv" -r "$work/r.yaml" 2>/dev/null
cmp -s "$work/loop.tsv" "$work/out.tsv" || { echo "records mode and the loop give other rows" >&2; exit 1; }

peak() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1; }
"$bin" index fasta "$work/small.fa" > /dev/null 2>&1
small_kb=$(peak "$bin" run "$lib" records fasta "$work/small.fa" -j2 -o /dev/null -r "$work/r.yaml")
big_kb=$(peak "$bin" run "$lib" records fasta "$work/big.fa" -j2 -o /dev/null -r "$work/r.yaml")

mbs() { echo "$mb / $1" | bc -l | xargs printf "%.0f"; }
rate() { echo "$N / $1" | bc -l | xargs printf "%.0f"; }
ratio() { echo "$1 / $2" | bc -l | xargs printf "%.2f"; }
echo "records mode, $N FASTA records, $mb MB"
printf "%-34s %9s %12s %8s\n" "indexing" seconds "MB/s" "vs cat"
printf "%-34s %9.3f %12s %8s\n" "cat file > /dev/null" "${best[cat]}" "$(mbs "${best[cat]}")" "1.00"
printf "%-34s %9.3f %12s %8s\n" "polyplug index fasta (.fai)" "${best[index]}" "$(mbs "${best[index]}")" "$(ratio "${best[cat]}" "${best[index]}")"
if [ "$have_samtools" = yes ]; then
  printf "%-34s %9.3f %12s %8s\n" "samtools faidx" "${best[samtools]}" "$(mbs "${best[samtools]}")" "$(ratio "${best[cat]}" "${best[samtools]}")"
fi
echo
printf "%-34s %9s %12s %8s\n" "computing (id_stats)" seconds "records/s" "vs loop"
printf "%-34s %9.3f %12s %8s\n" "plain loop (noodles, 1 thread)" "${best[loop]}" "$(rate "${best[loop]}")" "1.00"
for j in 1 2; do
  printf "%-34s %9.3f %12s %8s\n" "polyplug records -j$j" "${best[j$j]}" "$(rate "${best[j$j]}")" "$(ratio "${best[j$j]}" "${best[loop]}")"
done
echo
echo "peak memory of a -j2 run: $((small_kb / 1024)) MB for $((mb / 10)) MB of records, $((big_kb / 1024)) MB for $mb MB"
echo "targets: indexing at least 0.50 of cat's speed; records mode within 2x of the loop; memory flat"
