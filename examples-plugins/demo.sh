#!/usr/bin/env bash
# The polyplug demo: runs the fas_stats example plugin, written in every language that
# this build supports, over the bundled FASTA files, and shows that all of them give
# the same rows. Run it after `cargo build --release` (README, first command).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=target/release/polyplug
[ -x "$bin" ] || { echo "run 'cargo build --release' first" >&2; exit 2; }
# Plugins are found by ID in ./plugins and in each folder of POLYPLUG_PATH.
export POLYPLUG_PATH="target/release:examples-plugins/python:examples-plugins/bash:examples-plugins/nim:examples-plugins/wasm"
defs=examples-plugins/attribute_definitions.yaml
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

echo "== plugins found"
"$bin" list
echo
first=""
for id in $("$bin" list | awk 'NR > 1 && $1 ~ /^fas_stats_/ {print $1}'); do
  echo "== polyplug run $id files 'examples-plugins/data/*.fas'"
  "$bin" run "$id" files 'examples-plugins/data/*.fas' --defs "$defs" \
      -o "$out/$id.tsv" -l "$out/$id.log" -r "$out/$id.yaml"
  cat "$out/$id.tsv"
  if [ -z "$first" ]; then
    first=$id
  elif cmp -s "$out/$first.tsv" "$out/$id.tsv"; then
    echo "(identical to $first)"
  else
    echo "differs from $first!" >&2
    exit 1
  fi
  echo
done
echo "== the computation report of the $first run"
cat "$out/$first.yaml"
