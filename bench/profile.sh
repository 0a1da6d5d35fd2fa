#!/usr/bin/env bash
# Where the time goes, per entity, in instructions: each plugin kind's trivial plugin
# (id_stats, examples-plugins/) run under valgrind's callgrind, which counts the
# instructions every process executes (the host and its worker processes), so the
# figures do not depend on the machine's load. Two runs of each kind, over N and 5 x N
# IDs: the difference divided by 4 x N is the cost of one entity with start-up and
# initialization taken out. Then the functions that cost most in the larger run, per
# role (the host, the worker processes), by self cost, with start-up taken out alike.
#
# Usage: bench/profile.sh [KIND...]   KIND: rust c nim wasm-rust wasm-c python bash, or
#                                     a limit: loop-rust loop-python loop-bash (the same
#                                     computation without polyplug, as bench/run has it)
#                                     or rust-inproc (the Rust plugin with --in-process)
#                                     (default: all of them); TOP=N functions per process (8)
# Needs valgrind (apt-get install valgrind) and a release build (built if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
export POLYPLUG_STORE=none LC_ALL=C
TOP=${TOP:-8}
kinds=("$@")
[ ${#kinds[@]} -gt 0 ] || kinds=(rust rust-inproc c nim wasm-rust wasm-c python bash loop-rust loop-python loop-bash)
command -v valgrind >/dev/null || { echo "valgrind is missing: apt-get install valgrind" >&2; exit 1; }

cargo build --release -q -p polyplug-cli -p id_stats -p polyplug-example-c -p direct-loop
pp=$PWD/target/release/polyplug
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export POLYPLUG_CACHE_DIR=$work/cache
sh examples-plugins/wasm/build.sh "$work/wasm" >/dev/null

plugin_of() {
  case $1 in
    rust | rust-inproc) echo "$PWD/target/release/libid_stats.so" ;;
    c) echo "$PWD/target/release/libid_stats_c.so" ;;
    nim) echo "$PWD/examples-plugins/nim/id_stats.nim" ;;
    wasm-rust) echo "$work/wasm/id_stats_wasm.wasm" ;;
    wasm-c) echo "$work/wasm/id_stats_wasm_c.wasm" ;;
    python) echo "$PWD/examples-plugins/python/id_stats.py" ;;
    bash | loop-bash) echo "$PWD/examples-plugins/bash/id_stats.sh" ;;
    loop-rust) echo "$PWD/target/release/libid_stats.so" ;;
    loop-python) echo "$PWD/examples-plugins/python/id_stats.py" ;;
    *) echo "unknown kind $1 (rust rust-inproc c nim wasm-rust wasm-c python bash" \
         "loop-rust loop-python loop-bash)" >&2; exit 2 ;;
  esac
}
# IDs per kind: the interpreted kinds are slow under valgrind.
n_of() {
  case $1 in
    python | loop-python) echo 4000 ;;
    bash | loop-bash) echo 1000 ;;
    *) echo 20000 ;;
  esac
}

python3 bench/gen-ids.py 200000 "$work/all.txt"
# The plain Python loop of bench/run, run by the interpreter itself (not a pyenv shim,
# which valgrind would measure instead).
python=$(python3 -c 'import sys; print(sys.executable)')
cat > "$work/loop.py" <<'PY'
import importlib.util, sys
spec = importlib.util.spec_from_file_location("p", sys.argv[1])
p = importlib.util.module_from_spec(spec); spec.loader.exec_module(p)
compute = p.compute
with open(sys.argv[2]) as f, open(sys.argv[3], "w") as out:
    for line in f:
        e = line.rstrip("\n")
        v, _ = compute(e)
        out.write(e + "\t" + "\t".join(map(str, v)) + "\n")
PY

# Total instructions of every process of one run: "summary:" of each callgrind file.
instructions() { # folder
  awk '/^summary:/ { s += $2 } END { printf "%d", s }' "$1"/callgrind.out.*
}

run_kind() { # kind n folder
  local plugin
  plugin=$(plugin_of "$1")
  mkdir -p "$3"
  head -n "$2" "$work/all.txt" > "$3/ids.txt"
  local cmd
  case $1 in
    loop-rust) cmd=("$PWD/target/release/direct-loop" "$3/ids.txt" "$3/out.tsv") ;;
    loop-python) cmd=("$python" "$work/loop.py" "$plugin" "$3/ids.txt" "$3/out.tsv") ;;
    loop-bash)
      cmd=(bash -c 'source "$1"; while IFS= read -r id; do printf "%s\t" "$id";
                    compute "$id"; done < "$2" > "$3"' loop "$plugin" "$3/ids.txt" "$3/out.tsv") ;;
    rust-inproc) cmd=("$pp" run "$plugin" ids "$3/ids.txt" -j1 --in-process -o "$3/out.tsv"
                      -r "$3/report.yaml") ;;
    *) cmd=("$pp" run "$plugin" ids "$3/ids.txt" -j1 -o "$3/out.tsv" -r "$3/report.yaml") ;;
  esac
  # JIT code (WebAssembly) needs valgrind to watch for code written at run time.
  valgrind --tool=callgrind --trace-children=yes --smc-check=all-non-file \
    --callgrind-out-file="$3/callgrind.out.%p" -q "${cmd[@]}" 2>/dev/null
  [ "$(wc -l < "$3/out.tsv")" -eq "$2" ] || { echo "$1: wrong number of rows" >&2; exit 1; }
}

# Per-entity self cost of the top functions of each role (the host; its workers):
# callgrind_annotate of both runs, the difference divided by 4N.
top_functions() { # folder-of-N folder-of-5N n
  python3 - "$1" "$2" "$3" "$TOP" <<'PY'
import glob, re, subprocess, sys
small, large, n, top = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
def costs(folder):
    by_role = {}
    for f in glob.glob(f"{folder}/callgrind.out.*"):
        cmd = next((l[5:].strip() for l in open(f) if l.startswith("cmd:")), "")
        # (bash's command line holds the driver's text, which may say " run ".)
        role = "worker process" if "__worker" in cmd else (
            "bash worker" if "bash --noprofile" in cmd[:40] else (
                "host (polyplug run)" if " run " in cmd else "process: " + cmd[:40]))
        out = subprocess.run(["callgrind_annotate", "--threshold=100", "--inclusive=no", "--auto=no", f],
                             capture_output=True, text=True).stdout
        d = by_role.setdefault(role, {})
        for line in out.splitlines():
            m = re.match(r"^\s*([0-9,]+)\s+(?:\([ 0-9.]+%\)\s+)?(\S.*)$", line)
            if not m or "PROGRAM TOTALS" in line or "events annotated" in line:
                continue
            name = m.group(2)
            name = re.sub(r"^.*?:(?=[^/]*$)", "", name.split(" [")[0]) or name
            d[name] = d.get(name, 0) + int(m.group(1).replace(",", ""))
    return by_role
a, b = costs(small), costs(large)
for role in sorted(b):
    diff = {k: (v - a.get(role, {}).get(k, 0)) / (4 * n) for k, v in b[role].items()}
    total = sum(diff.values())
    if total < 1:
        continue  # a tool run once (a compiler asked its version), no cost per entity
    print(f"    {role}: {total:.0f} instructions/entity")
    for k, v in sorted(diff.items(), key=lambda kv: -kv[1])[:top]:
        print(f"      {v:8.0f}  {k[:100]}")
PY
}

printf '%-10s %8s %16s\n' kind N instructions/entity
for kind in "${kinds[@]}"; do
  # Compile (Nim, WebAssembly) and remember the plugin's sha256 outside the counts: a
  # run of one ID (the runs measured would otherwise differ by the first one's hash),
  # under valgrind too, whose processor a compiled WebAssembly module is cached for.
  if [[ $kind != loop-* ]]; then
    head -n 1 "$work/all.txt" > "$work/warm.txt"
    valgrind --tool=none --trace-children=yes --smc-check=all-non-file -q \
      "$pp" run "$(plugin_of "$kind")" ids "$work/warm.txt" -o "$work/warm.tsv" >/dev/null 2>&1
    rm -f "$work/warm.tsv"
  fi
  n=$(n_of "$kind")
  run_kind "$kind" "$n" "$work/$kind-1"
  run_kind "$kind" $((5 * n)) "$work/$kind-5"
  a=$(instructions "$work/$kind-1")
  b=$(instructions "$work/$kind-5")
  printf '%-10s %8s %16s\n' "$kind" "$n" "$(( (b - a) / (4 * n) ))"
  top_functions "$work/$kind-1" "$work/$kind-5" "$n"
done
echo "instructions/entity = (instructions over 5N IDs - over N IDs) / 4N, in every process"
echo "(per role: the self cost of its top functions, the same difference)"
