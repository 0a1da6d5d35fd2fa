#!/usr/bin/env bash
# What the results store costs: a run of the trivial native plugin id_stats (two values
# per entity) over 500,000 IDs, i.e. 1,000,000 values, with
#   - --no-store (results TSV only),
#   - the default SQLite store (./polyplug.db),
#   - a PostgreSQL store (a throw-away server started on loopback by this script),
# all writing the same results TSV. Prints entities/s and the ratios to --no-store.
# Target: the default SQLite store costs at most 2x the run without a store.
#
# Usage: bench/store.sh            (N=500000 entities; REPEAT=3 runs each, best kept)
#        N=100000 REPEAT=1 bench/store.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
N=${N:-500000}
REPEAT=${REPEAT:-3}
JOBS=${JOBS:-2}

cargo build --release -q -p polyplug-cli -p id_stats
BIN=$ROOT/target/release/polyplug
LIB=$ROOT/target/release/libid_stats.so

WORK=$(mktemp -d /tmp/polyplug-bench-store.XXXXXX)
PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
[ -x "$PGBIN/initdb" ] || { echo "PostgreSQL server binaries not found (apt-get install postgresql)"; exit 1; }
if [ "$(id -u)" = 0 ]; then AS_PG=(runuser -u postgres --); chown postgres "$WORK"; else AS_PG=(); fi
PGDATA=$WORK/pgdata
cleanup() {
    "${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$PGDATA" -m fast stop >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"${AS_PG[@]}" "$PGBIN/initdb" -D "$PGDATA" -U postgres --auth=trust --encoding=UTF8 >/dev/null
"${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$PGDATA" -l "$WORK/pg.log" -w \
    -o "-p $PORT -k $WORK -c listen_addresses=127.0.0.1" start >/dev/null
PGURL=postgres://postgres@127.0.0.1:$PORT

cd "$WORK"
python3 -c "
import random
random.seed(1)
with open('ids.txt','w') as f:
    for i in range($N):
        f.write('ID%07d%s\n' % (i, ''.join(random.choice('ACGT') for _ in range(8))))
"

# Runs one configuration REPEAT times on a fresh store; prints the best seconds.
best=
measure() { # name, store args...
    local name=$1; shift
    best=
    for r in $(seq "$REPEAT"); do
        rm -f out.tsv polyplug.db polyplug.db-wal polyplug.db-shm
        if [ "$name" = postgres ]; then
            "$PGBIN/dropdb" -h 127.0.0.1 -p "$PORT" -U postgres --if-exists bench 2>/dev/null
            "$PGBIN/createdb" -h 127.0.0.1 -p "$PORT" -U postgres bench
        fi
        local t0 t1
        t0=$(date +%s.%N)
        "$BIN" run "$LIB" ids ids.txt -o out.tsv -r report.yaml -j "$JOBS" "$@"
        t1=$(date +%s.%N)
        [ "$(wc -l < out.tsv)" -eq "$N" ] || { echo "$name: expected $N rows"; exit 1; }
        local s
        s=$(python3 -c "print($t1 - $t0)")
        best=$(python3 -c "print(min(x for x in [$s, ${best:-$s}]))")
    done
    printf '%-10s %8.3f s  %10.0f entities/s  %10.0f values/s\n' "$name" "$best" \
        "$(python3 -c "print($N / $best)")" "$(python3 -c "print(2 * $N / $best)")"
}

echo "polyplug store benchmark: $N entities x 2 values (id_stats), -j $JOBS, best of $REPEAT"
measure no-store --no-store;           t_none=$best
measure sqlite;                        t_sqlite=$best
[ "$(python3 -c "
import sqlite3; print(sqlite3.connect('polyplug.db').execute('select sum(n_values) from block').fetchone()[0])")" -eq $((2 * N)) ] \
    || { echo "sqlite: values missing"; exit 1; }
measure postgres --store "$PGURL/bench"; t_pg=$best
python3 - "$t_none" "$t_sqlite" "$t_pg" <<'EOF'
import sys
none, sqlite, pg = map(float, sys.argv[1:])
print(f"ratio sqlite/no-store:   {sqlite / none:.2f}x  (target <= 2.00x)")
print(f"ratio postgres/no-store: {pg / none:.2f}x")
EOF
