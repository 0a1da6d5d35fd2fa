# polyplug's Bash worker: one long-lived bash process per worker.
#
# Started as `bash --noprofile --norc -c <this> bash <plugin> <workdir> <mode> <token>`.
# Requests arrive on fd 57 (the host's pipe, moved off stdin), answers leave on fd 58
# (the host's pipe, moved off stdout). Plugin code never sees either: stdin is
# /dev/null, stdout and stderr of every call go to files in <workdir> that the host
# reads, and fds 57/58 are closed for the duration of every call, so neither the
# plugin's top level nor its background jobs can write into the framing.
#
# A request is two NUL-terminated fields, an operation and its argument:
#   K word   add a keyword argument (`name=value`, quoted by the host)
#   S word   set the state argument (`state=value`, quoted by the host)
#   C entity call `compute entity <keywords> <state>`
#   I -      call `initialize <keywords>`
#   F state  call `finalize state`;   f -  call `finalize` (no state)
#   D unit   call `compute_id unit`
#   R id     records mode: the next compute's record has this ID (POLYPLUG_RECORD_ID)
#   V f      records mode: one field of that record, `name<US>value` (US: \x1f), put in
#            the associative array POLYPLUG_FIELDS for the next compute (the names, in
#            order, in the array POLYPLUG_FIELD_NAMES)
# Every call is answered with one line `<token> <n> <status>`; its standard output
# and error are in <workdir>/<n>.o and <workdir>/<n>.e.
#
# Mode p (persistent) sources the plugin once, here; mode r (re-sourced) sources it
# again in a fresh subshell for every call, as MultiPlug does. A fifth argument `x`
# traces every compute with `set -x` (`--trace`): the trace is in the call's stderr.
exec 57<&0 58>&1 0</dev/null 1>&2
__pp_file=$1 __pp_dir=$2 __pp_mode=$3 __pp_tok=$4 __pp_trace=${5-}
set --
__pp_kw=() __pp_st=() __pp_n=0 __pp_rec=0
if [[ $__pp_mode == p ]]; then
  builtin source "$__pp_file" 57<&- 58>&- >"$__pp_dir/source" 2>&1
fi
builtin printf '%s ready\n' "$__pp_tok" >&58
while IFS= builtin read -r -d '' -u 57 __pp_op && IFS= builtin read -r -d '' -u 57 __pp_arg; do
  case $__pp_op in
  K) __pp_kw+=("$__pp_arg"); continue ;;
  S) __pp_st=("$__pp_arg"); continue ;;
  C) __pp_fn=compute __pp_args=("$__pp_arg" "${__pp_kw[@]}" "${__pp_st[@]}") ;;
  I) __pp_fn=initialize __pp_args=("${__pp_kw[@]}") ;;
  F) __pp_fn=finalize __pp_args=("$__pp_arg") ;;
  f) __pp_fn=finalize __pp_args=() ;;
  D) __pp_fn=compute_id __pp_args=("$__pp_arg") ;;
  R) __pp_rec=1; POLYPLUG_RECORD_ID=$__pp_arg
     builtin declare -gA POLYPLUG_FIELDS; POLYPLUG_FIELDS=(); POLYPLUG_FIELD_NAMES=(); continue ;;
  V) POLYPLUG_FIELD_NAMES+=("${__pp_arg%%$'\x1f'*}")
     POLYPLUG_FIELDS[${__pp_arg%%$'\x1f'*}]=${__pp_arg#*$'\x1f'}; continue ;;
  *) builtin printf '%s protocol unknown operation\n' "$__pp_tok" >&58; builtin exit 70 ;;
  esac
  __pp_n=$((__pp_n + 1))
  __pp_x=
  if [[ $__pp_trace == x && $__pp_fn == compute ]]; then __pp_x=-x; fi
  if [[ $__pp_mode == p && -n $__pp_x ]]; then
    { builtin set -x; "$__pp_fn" "${__pp_args[@]}"; { __pp_status=$?; builtin set +x; } 2>/dev/null; } 57<&- 58>&- >"$__pp_dir/$__pp_n.o" 2>"$__pp_dir/$__pp_n.e"
  elif [[ $__pp_mode == p ]]; then
    "$__pp_fn" "${__pp_args[@]}" 57<&- 58>&- >"$__pp_dir/$__pp_n.o" 2>"$__pp_dir/$__pp_n.e"
    __pp_status=$?
  else
    (builtin source "$__pp_file" >&2; if [[ -n $__pp_x ]]; then builtin set -x; fi; "$__pp_fn" "${__pp_args[@]}") 57<&- 58>&- >"$__pp_dir/$__pp_n.o" 2>"$__pp_dir/$__pp_n.e"
    __pp_status=$?
  fi
  if [[ $__pp_rec == 1 ]]; then
    __pp_rec=0; builtin unset POLYPLUG_RECORD_ID POLYPLUG_FIELDS POLYPLUG_FIELD_NAMES
  fi
  builtin printf '%s %d %d\n' "$__pp_tok" "$__pp_n" "$__pp_status" >&58
done
