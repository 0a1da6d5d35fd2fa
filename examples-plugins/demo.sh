#!/usr/bin/env bash
# The polyplug demo: runs the fas_stats example plugin, written in every language of
# this build, over the bundled FASTA files (files mode) and over the sequences of a
# multi-record FASTA file (records mode), shows that all of them give the same rows,
# and shows what the embedded default store (./polyplug.db, SQLite) recorded.
# Run it after `cargo build --release` (the README's first command).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$root/target/release/polyplug
[ -x "$bin" ] || { echo "run 'cargo build --release' first" >&2; exit 2; }
# A fresh working folder: the default store ./polyplug.db is created there.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
# Plugins are found by ID in ./plugins and in each folder of POLYPLUG_PATH.
mkdir plugins
cp "$root"/target/release/libfas_stats_{rust,c}.so plugins/
path="$root/examples-plugins/python:$root/examples-plugins/bash"
# The Nim example is a source plugin, compiled on first use: only if Nim is installed.
if command -v nim >/dev/null; then path="$path:$root/examples-plugins/nim"; fi
# The WebAssembly examples are built with clang-14 (C) and rustc (Rust), if installed.
if command -v clang-14 >/dev/null && "$root/examples-plugins/wasm/build.sh" "$work/wasm" >/dev/null 2>&1; then
  path="$path:$work/wasm"
fi
export POLYPLUG_PATH=$path
unset POLYPLUG_STORE
defs=$root/examples-plugins/attribute_definitions.yaml
data="$root/examples-plugins/data/*.fas"

echo "== polyplug list"
"$bin" list
echo
first=""
for id in $("$bin" list 2>/dev/null | awk 'NR > 1 && $1 ~ /^fas_stats_/ {print $1}'); do
  echo "== polyplug run $id files 'examples-plugins/data/*.fas'"
  "$bin" run "$id" files "$data" --defs "$defs" -o "$id.tsv" -l "$id.log" -r "$id.yaml"
  sed "s|$root/||" "$id.tsv"
  if [ -z "$first" ]; then
    first=$id
  elif cmp -s "$first.tsv" "$id.tsv"; then
    echo "(identical to $first)"
  else
    echo "differs from $first!" >&2
    exit 1
  fi
  echo
done
# Records mode: the same plugins over the records of one multi-record FASTA file
# (indexed once, into genomes.fa.fai, and each sequence read by its byte range).
cp "$root/examples-plugins/data/genomes.fa" .
first_records=""
for id in $("$bin" list 2>/dev/null | awk 'NR > 1 && $1 ~ /^fas_stats_/ {print $1}'); do
  echo "== polyplug run $id records fasta genomes.fa"
  "$bin" run "$id" records fasta genomes.fa --defs "$defs" -o "$id.records.tsv" \
    -l "$id.records.log" -r "$id.records.yaml"
  if [ -z "$first_records" ]; then
    first_records=$id
    cat "$id.records.tsv"
  elif cmp -s "$first_records.records.tsv" "$id.records.tsv"; then
    echo "(identical to $first_records)"
  else
    echo "differs from $first_records!" >&2
    exit 1
  fi
  echo
done
echo "== the computation report of $first"
cat "$first.yaml"
echo
echo "== polyplug runs list   (the store: ./polyplug.db)"
"$bin" runs list
echo
echo "== polyplug query -a GC_content --plugin $first"
"$bin" query -a GC_content --plugin "$first" | sed "s|$root/||"
