# polyplug.sh: optional helpers for Bash compute plugins.
#
# A Bash plugin needs nothing from polyplug: constants are shell variables and compute
# prints its result line, then its log lines (see the README). These helpers make the
# usual steps safe. Source this file from your plugin, for example with
#
#     source "$(dirname "${BASH_SOURCE[0]}")/polyplug.bash"
#
# (a copy next to the plugin, renamed to .bash: polyplug takes every .sh file in a
# plugin folder for a plugin), or by its absolute path. Then:
#
#     compute() {
#       local entity=$1; shift
#       local min_length=0
#       pp_kwargs "$@" || return 1      # min_length=..., state=... without eval
#       local n=${#entity}
#       if (( n < min_length )); then pp_no_result "length" "$n, below $min_length"; return; fi
#       pp_result "$n" "$(pp_py_float 1 "$n")"
#       pp_log "length" "computed"      # after pp_result / pp_no_result
#     }
#
# Every name defined here starts with pp_ (functions) or _pp_ (internals).

# pp_kwargs "$@": assigns each key=value argument to the shell variable key, without
# running anything. It decodes both forms polyplug passes (key=value, and
# key=$'...' with \xHH escapes for values with other characters), so that a value can
# never be executed, even one written by another host. Declare the variables `local`
# first to keep them local to compute. Arguments that are not key=value are ignored.
pp_kwargs() {
  local _pp_kw _pp_k _pp_v
  for _pp_kw in "$@"; do
    [[ $_pp_kw == *=* ]] || continue
    _pp_k=${_pp_kw%%=*}
    _pp_v=${_pp_kw#*=}
    if [[ ! $_pp_k =~ ^[A-Za-z_][A-Za-z0-9_]*$ || $_pp_k == _pp_* ]]; then
      continue
    fi
    if [[ $_pp_v == \$\'*\' && ${#_pp_v} -ge 3 ]]; then
      _pp_v=${_pp_v:2:${#_pp_v}-3}
      printf -v "$_pp_k" '%b' "$_pp_v"
    else
      printf -v "$_pp_k" '%s' "$_pp_v"
    fi
  done
}

# pp_result v1 v2 ...: prints the result line (values separated by TABs). It must be
# compute's first output. A value holding a TAB or a newline would shift or split the
# row: pp_result refuses it (status 1, message on stderr) and prints nothing.
pp_result() {
  local _pp_v
  for _pp_v in "$@"; do
    if [[ $_pp_v == *$'\t'* || $_pp_v == *$'\n'* ]]; then
      printf 'pp_result: value %q holds a TAB or a newline\n' "$_pp_v" >&2
      return 1
    fi
  done
  local IFS=$'\t'
  printf '%s\n' "$*"
}

# pp_no_result [key message]: prints the empty first line meaning "no result for this
# entity", and, when given, one log line key<TAB>message.
pp_no_result() {
  printf '\n'
  if (( $# > 0 )); then pp_log "$@"; fi
}

# pp_log key message...: prints one log line key<TAB>message (newlines in the message
# become spaces, so it stays one log row). Call it after pp_result or pp_no_result:
# the first line compute prints is always its result.
pp_log() {
  local _pp_key=$1; shift
  local _pp_msg="$*"
  _pp_msg=${_pp_msg//$'\n'/ }
  if [[ -n $_pp_msg ]]; then
    printf '%s\t%s\n' "$_pp_key" "$_pp_msg"
  else
    printf '%s\n' "${_pp_key//$'\n'/ }"
  fi
}

# pp_py_float numerator denominator: prints numerator/denominator as Python's str()
# writes that float (0.425, 1.0, 1e-05), so results match other languages' plugins
# byte for byte. Uses awk.
pp_py_float() {
  LC_ALL=C awk -v a="$1" -v b="$2" 'BEGIN {
    if (b + 0 == 0) { print "pp_py_float: division by zero" > "/dev/stderr"; exit 1 }
    x = (a + 0) / (b + 0)
    if (x != x) { print "nan"; exit }
    for (p = 1; p <= 17; p++) { f = sprintf("%." p "g", x); if (f + 0 == x) break }
    if (f ~ /^-?inf/) { print (x < 0 ? "-inf" : "inf"); exit }
    if (f ~ /e/) {
      # C writes 1e+16 as 1e+16 and 1.5e-07 as 1.5e-07, as Python does; but Python
      # writes numbers below 1e16 in full: 1234567890123456.0 is fixed notation.
      split(f, m, "e"); e = m[2] + 0
      if (e >= -4 && e < 16) { f = sprintf("%.1f", x); for (q = 1; q <= 17; q++) { f = sprintf("%." q "f", x); if (f + 0 == x) break } }
    }
    if (f !~ /[.e]/) f = f ".0"
    print f
  }'
}

# Records mode (polyplug run <plugin> records <format> <file>...): compute's first
# argument is a file holding the record (its bytes as in the data file, without the
# final line ending; a FASTA record is a one-record FASTA file), the record's ID is in
# POLYPLUG_RECORD_ID and its fields in the associative array POLYPLUG_FIELDS (CSV/TSV
# columns, JSONL members; FASTA description and sequence; FASTQ description, sequence
# and quality), their names in order in the array POLYPLUG_FIELD_NAMES.
#
# pp_field NAME [DEFAULT]: prints the record's field NAME (DEFAULT, or nothing, when
# the record has no such field, or in ids and files mode); status 1 when it has none.
pp_field() {
  if [[ -v POLYPLUG_FIELDS && -v "POLYPLUG_FIELDS[$1]" ]]; then
    printf '%s' "${POLYPLUG_FIELDS[$1]}"
  else
    printf '%s' "${2-}"
    return 1
  fi
}
