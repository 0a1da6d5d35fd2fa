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
#       local f; pp_py_float -v f 1 "$n"  # no subshell: nothing forks
#       pp_result "$n" "$f"
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

# pp_py_float [-v VAR] numerator denominator: numerator/denominator as Python's str()
# writes that float (0.425, 1.0, 1e-05), so results match other languages' plugins
# byte for byte; printed, or with -v put in the variable VAR. The division is done by
# one awk process per worker, started at the first call and kept (a coprocess): with
# -v a call forks nothing and costs a pipe round trip, not an awk start (write
# `pp_py_float -v f 1 "$n"`, not `f=$(pp_py_float 1 "$n")`, whose subshell forks).
pp_py_float() {
  local _pp_var="" _pp_r
  if [[ $1 == -v ]]; then
    _pp_var=$2
    shift 2
  fi
  if [[ -z ${_PP_FLOAT_PID-} ]] || ! builtin kill -0 "$_PP_FLOAT_PID" 2>/dev/null; then
    # mawk (Debian's awk) reads ahead unless told to answer line by line.
    local _pp_interactive=()
    if awk -W version 2>/dev/null | grep -q mawk; then _pp_interactive=(-W interactive); fi
    coproc _PP_FLOAT { LC_ALL=C exec awk "${_pp_interactive[@]}" "$_pp_float_awk" 2>/dev/null; }
  fi
  builtin printf '%s %s\n' "$1" "$2" >&"${_PP_FLOAT[1]}" &&
    IFS= builtin read -r _pp_r <&"${_PP_FLOAT[0]}" || {
      builtin printf 'pp_py_float: the awk process is gone\n' >&2
      return 1
    }
  if [[ $_pp_r == error:* ]]; then
    builtin printf 'pp_py_float: %s\n' "${_pp_r#error: }" >&2
    return 1
  fi
  if [[ -n $_pp_var ]]; then
    builtin printf -v "$_pp_var" '%s' "$_pp_r"
  else
    builtin printf '%s\n' "$_pp_r"
  fi
}

# The awk program of pp_py_float: one "numerator denominator" line in, one line out.
_pp_float_awk='{
  a = $1; b = $2
  if (NF != 2 || a !~ /^[-+]?[0-9.]+([eE][-+]?[0-9]+)?$/ || b !~ /^[-+]?[0-9.]+([eE][-+]?[0-9]+)?$/) {
    print "error: give two numbers, not \"" $0 "\""; fflush(); next
  }
  if (b + 0 == 0) { print "error: division by zero"; fflush(); next }
  x = (a + 0) / (b + 0)
  # The fewest significant digits that read back as x, written as Python writes
  # them: in scientific notation below 1e-4 and from 1e16 on (1e-05, 1.5e+16), else
  # in full with at least one decimal (0.425, 2.0, 1234567890123456.0).
  for (p = 1; p < 17; p++) if (sprintf("%." p "g", x) + 0 == x) break
  ax = x < 0 ? -x : x
  if (ax != 0 && (ax >= 1e16 || ax < 1e-4)) {
    f = sprintf("%." (p - 1) "e", x)
  } else {
    for (q = 0; q < 20; q++) if ((f = sprintf("%." q "f", x)) + 0 == x) break
    if (f !~ /\./) f = f ".0"
  }
  print f; fflush()
}'

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
