#!/usr/bin/env bash
# Bash plugin throughput: polyplug's persistent mode, its re-sourced mode and Prenacs,
# on the same pure-Bash plugin file (the length of each ID) over the same IDs.
#
#     bench/bash.sh                       # 100,000 IDs for every contender
#     N=20000 PRENACS_N=3000 bench/bash.sh
#
# N is the number of IDs for polyplug; PRENACS_N (default N) the number Prenacs gets,
# since it spawns a bash per ID (entities/s are compared, so a smaller PRENACS_N only
# shortens the wait). JOBS sets polyplug's -j (default: all cores, as Prenacs uses).
# POLYPLUG names the binary (default target/release/polyplug, built if missing).
# Prenacs comes from bench/.venv, created on first use.
# Targets (issue 4): persistent >= 20x Prenacs; re-sourced no slower than Prenacs.
set -euo pipefail
cd "$(dirname "$0")/.."
# The host and its loaders are measured without the results store (bench/store.sh
# measures the store); with it, every repeat would skip the entities already stored.
export POLYPLUG_STORE=none
N=${N:-100000}
PRENACS_N=${PRENACS_N:-$N}
POLYPLUG=${POLYPLUG:-target/release/polyplug}
JOBS=${JOBS:-$(nproc)}
VENV=bench/.venv

if [[ ! -x $POLYPLUG ]]; then
  cargo build --release -p polyplug-cli
fi
if [[ ! -x $VENV/bin/prenacs-batch-compute ]]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet prenacs
fi

work=$(mktemp -d)
trap 'rm -rf -- "$work"' EXIT
plugin=$work/id_length.sh
cat > "$plugin" <<'PLUGIN'
ID="id_length_bash"
VERSION="1.0"
INPUT="an ID"
OUTPUT=( "length" )
compute() {
  local entity=$1; shift
  for kw in $*; do eval $kw; done
  echo -en "${#entity}\n"
}
PLUGIN
seq 1 "$N" | sed 's/^/id/' > "$work/ids.txt"
head -n "$PRENACS_N" "$work/ids.txt" > "$work/ids_prenacs.txt"

now() { date +%s.%N; }
# rate <n> <seconds>
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", n / s }'; }
lines() { wc -l < "$1" | tr -d ' '; }

echo "# bash plugin throughput: $N IDs for polyplug (-j $JOBS), $PRENACS_N for Prenacs"
echo "# $($POLYPLUG --version), $(bash --version | head -n 1)"

t0=$(now)
"$POLYPLUG" run "$plugin" ids "$work/ids.txt" -j "$JOBS" -o "$work/persistent.tsv" -r /dev/null
t1=$(now)
POLYPLUG_PERSISTENT=0 "$POLYPLUG" run "$plugin" ids "$work/ids.txt" -j "$JOBS" \
  -o "$work/resourced.tsv" -r /dev/null
t2=$(now)
touch "$work/prenacs.tsv"
"$VENV/bin/prenacs-batch-compute" "$plugin" ids "$work/ids_prenacs.txt" \
  -o "$work/prenacs.tsv" 2> "$work/prenacs.err" || { cat "$work/prenacs.err" >&2; exit 1; }
t3=$(now)

for f in persistent resourced; do
  if [[ $(lines "$work/$f.tsv") != "$N" ]]; then
    echo "error: $f mode wrote $(lines "$work/$f.tsv") rows, expected $N" >&2
    exit 1
  fi
done
if ! cmp -s "$work/persistent.tsv" "$work/resourced.tsv"; then
  echo "error: persistent and re-sourced results differ" >&2
  exit 1
fi
if [[ $(lines "$work/prenacs.tsv") != "$PRENACS_N" ]]; then
  echo "error: Prenacs wrote $(lines "$work/prenacs.tsv") rows, expected $PRENACS_N" >&2
  exit 1
fi

# The same rows as Prenacs (which writes them in completion order).
if ! cmp -s <(head -n "$PRENACS_N" "$work/persistent.tsv" | sort) <(sort "$work/prenacs.tsv"); then
  echo "error: polyplug's rows differ from Prenacs' rows for the same IDs" >&2
  exit 1
fi

persistent=$(rate "$N" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')")
resourced=$(rate "$N" "$(awk -v a="$t1" -v b="$t2" 'BEGIN { print b - a }')")
prenacs=$(rate "$PRENACS_N" "$(awk -v a="$t2" -v b="$t3" 'BEGIN { print b - a }')")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a / b }'; }
printf '%-28s %10s entities/s\n' "polyplug persistent" "$persistent"
printf '%-28s %10s entities/s\n' "polyplug re-sourced" "$resourced"
printf '%-28s %10s entities/s\n' "prenacs-batch-compute" "$prenacs"
printf 'persistent / Prenacs: %sx (target >= 20)\n' "$(ratio "$persistent" "$prenacs")"
printf 're-sourced / Prenacs: %sx (target >= 1)\n' "$(ratio "$resourced" "$prenacs")"
printf 'persistent / re-sourced: %sx\n' "$(ratio "$persistent" "$resourced")"
echo "rows: persistent = re-sourced = Prenacs (for the IDs Prenacs computed)"

# pp_py_float (plugin-sdk/bash/polyplug.sh): a float as Python writes it. With -v it
# asks one awk coprocess per worker instead of starting awk for every value.
sdk=plugin-sdk/bash/polyplug.sh
calls=2000
t_v=$(bash -c "source $sdk; s=\$(date +%s.%N); for ((i = 1; i <= $calls; i++)); do pp_py_float -v f \$i 7; done; e=\$(date +%s.%N); echo \"\$e - \$s\" | bc -l")
t_old=$(bash -c "s=\$(date +%s.%N); for ((i = 1; i <= $calls / 10; i++)); do f=\$(LC_ALL=C awk -v a=\$i 'BEGIN { printf \"%.17g\", a / 7 }'); done; e=\$(date +%s.%N); echo \"(\$e - \$s) * 10\" | bc -l")
printf 'pp_py_float -v, per value:   %6.0f us (one awk per worker)\n' "$(echo "$t_v / $calls * 1000000" | bc -l)"
printf 'awk started per value:       %6.0f us (as pp_py_float did before)\n' "$(echo "$t_old / $calls * 1000000" | bc -l)"
