#!/usr/bin/env bash
# {{name}}: a polyplug plugin in Bash, written to the MultiPlug/Prenacs conventions
# (constants are shell variables; compute prints the TAB-separated results on its
# first output line and log messages on the following lines).
#
# For every ID it returns the length of the ID and its number of G and C letters.
# IDs shorter than the parameter min_length give no result and a log message. The
# state is a file (made by initialize, passed to compute as state=<path>) counting
# what the worker computed. A non-zero exit status fails that entity only.
#
# Run it (in this folder):
#     polyplug run {{name}}.sh ids ids.txt

ID="{{name}}"
VERSION="0.1.0"
INPUT="any ID (one line of the IDs file)"
OUTPUT=( "length" "gc_count" )
PARAMETERS=( "min_length\tint\t0\tIDs shorter than this give no result" )
METHOD="length: number of characters of the ID; gc_count: number of G and C letters"
IMPLEMENTATION="Bash"

initialize() {
  local statefile
  statefile=$(mktemp) || return 1
  echo 0 > "$statefile"
  # The state is what initialize prints, without a trailing newline.
  printf '%s' "$statefile"
}

compute() {
  local entity=$1; shift
  local min_length=0 state=""
  # Keyword arguments arrive as key=value; read them without eval.
  local kw
  for kw in "$@"; do
    case $kw in
      min_length=*) min_length=${kw#*=} ;;
      state=*) state=${kw#*=} ;;
    esac
  done
  if (( ${#entity} < min_length )); then
    # Empty first line: no result for this entity; the next line is a log message.
    printf '\nlength\t%s characters, below min_length %s\n' "${#entity}" "$min_length"
    return 0
  fi
  local gc=${entity//[^GCgc]/}
  printf '%s\t%s\n' "${#entity}" "${#gc}"
  if [[ -f $state ]]; then
    echo $(( $(< "$state") + 1 )) > "$state"
  fi
}

finalize() {
  local statefile=$1
  rm -f "$statefile"
}
