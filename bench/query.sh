#!/usr/bin/env bash
# What `polyplug query` costs on a large store: id_stats (two values per entity) over
# N IDs in a shuffled order (default 5,000,000, i.e. 10,000,000 stored values) into a
# SQLite store, then the whole answer (TSV, sorted by entity), half of it (-a length)
# and one entity, each with its wall time and peak memory. The answer is sorted in at
# most --sort-memory MiB (64) and temporary files: peak memory must stay flat whatever
# the size of the answer, and time linear.
#
# Usage: bench/query.sh          (N=5000000)
#        N=500000 bench/query.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
N=${N:-5000000}

cargo build --release -q -p polyplug-cli -p id_stats
BIN=$ROOT/target/release/polyplug
LIB=$ROOT/target/release/libid_stats.so
WORK=$(mktemp -d /tmp/polyplug-bench-query.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
python3 -c "
import random
random.seed(1)
ids = ['ID%08d%s' % (i, ''.join(random.choice('ACGT') for _ in range(8))) for i in range($N)]
random.shuffle(ids)
open('ids.txt', 'w').write('\n'.join(ids) + '\n')
"
"$BIN" run "$LIB" ids ids.txt -o out.tsv -r report.yaml -j 2 --store q.db 2>/dev/null

# name, expected rows, query arguments...
measure() {
    local name=$1 rows=$2; shift 2
    /usr/bin/time -f '%e %M' -o time.txt "$BIN" query --store q.db "$@" > answer.tsv
    [ "$(($(wc -l < answer.tsv) - 1))" -eq "$rows" ] || { echo "$name: expected $rows rows"; exit 1; }
    read -r secs kib < time.txt
    printf '%-16s %10d values  %7.2f s  %10.0f values/s  %6.0f MB peak\n' "$name" "$rows" \
        "$secs" "$(python3 -c "print($rows / max($secs, 0.01))")" "$(python3 -c "print($kib / 1024)")"
}
echo "polyplug query over $((2 * N)) stored values (id_stats, $N entities, SQLite)"
measure "whole answer" $((2 * N))
measure "-a length" "$N" -a length
measure "one entity" 2 -e "$(head -1 ids.txt)"
