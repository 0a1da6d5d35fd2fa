# polyplug's Bash worker: one long-lived bash process per worker.
#
# Started as `bash --noprofile --norc -c <this> bash <plugin> <workdir> <mode> <token>`.
# Requests arrive on fd 57 (the host's pipe, moved off stdin), answers leave on fd 58
# (the host's pipe, moved off stdout). Plugin code never sees either: stdin is
# /dev/null, stdout and stderr of every call go to files in <workdir> that the host
# reads, and fds 57/58 are closed for the duration of every call, so neither the
# plugin's top level nor its background jobs can write into the framing.
#
# A request on fd 57 is two NUL-terminated fields, an operation and its argument:
#   K word   add a keyword argument (`name=value`, quoted by the host)
#   S word   set the state argument (`state=value`, quoted by the host)
#   B k      run batch k: the requests in <workdir>/k.req (NUL-terminated fields too),
#            one after the other, each of these:
#   C entity call `compute entity <keywords> <state>`
#   I -      call `initialize <keywords>`
#   F state  call `finalize state`;   f -  call `finalize` (no state)
#   D unit   call `compute_id unit`
#   R id     records mode: the next compute's record has this ID (POLYPLUG_RECORD_ID)
#   V f      records mode: one field of that record, `name<US>value` (US: \x1f), put in
#            the associative array POLYPLUG_FIELDS for the next compute (the names, in
#            order, in the array POLYPLUG_FIELD_NAMES)
# A batch is read whole (a regular file, read in blocks), and its calls write to two
# files opened once per batch, <workdir>/k.o and k.e, so that a call costs no system
# call of the framing beyond a separator: after call n (numbered from 1 for the
# worker's life), `\n<token> n <status> <EPOCHREALTIME>\n` in k.o, and `\n<token> n\n`
# in k.e once k.e is not empty (the host gives stderr before the first separator to
# the call that separator names, and none to the calls before it). The batch is
# answered with one line `<token> <n>` on fd 58, n the last call's number. Should the
# shell die in a call, the host finds in k.o how far the batch got: the calls with a
# separator are done, the next one is the culprit; should a call overrun, the time of
# the last separator says when the running call started. After every call, fds 1 and
# 2 are pointed at the batch's files again, so that a call that closed or moved them
# costs only itself.
#
# Mode p (persistent) sources the plugin once, here; mode r (re-sourced) sources it
# again in a fresh subshell for every call, as MultiPlug does. A fifth argument `x`
# traces every compute with `set -x` (`--trace`): the trace is in the call's stderr.
exec 57<&0 58>&1 0</dev/null 1>&2
# `--max-memory`: bash limits itself before it reads a request, so that nothing it
# starts escapes the limit (the guard that started it limits it too, but from outside
# and a moment later). The same limit as `limit_bash_memory`: the plugin's MiB and 16.
if [[ ${POLYPLUG_MAX_MEMORY_MIB-} =~ ^[0-9]+$ ]]; then
  ulimit -d $(( (POLYPLUG_MAX_MEMORY_MIB + 16) * 1024 )) 2>/dev/null
fi
__pp_file=$1 __pp_dir=$2 __pp_mode=$3 __pp_tok=$4 __pp_trace=${5-}
set --
__pp_kw=() __pp_st=() __pp_n=0 __pp_rec=0
if [[ $__pp_mode == p ]]; then
  builtin source "$__pp_file" 57<&- 58>&- >"$__pp_dir/source" 2>&1
fi
# How calls are made: p (persistent), x (persistent, traced), r (re-sourced).
if [[ $__pp_mode != p ]]; then __pp_how=r; elif [[ $__pp_trace == x ]]; then __pp_how=x; else __pp_how=p; fi
__pp_nltok=$'\n'$__pp_tok
# Runs the requests in __pp_req, with fd 59 the batch's stdout file and 60 its stderr
# file (the path in __pp_err). Bash spends microseconds on every command, so the
# common call (a compute in a persistent worker) takes the shortest path.
__pp_batch() {
  __pp_i=0 __pp_len=${#__pp_req[@]}
  while (( __pp_i < __pp_len )); do
    __pp_op=${__pp_req[__pp_i++]} __pp_arg=${__pp_req[__pp_i++]}
    if [[ $__pp_how$__pp_op$__pp_rec == pC0 ]]; then
      compute "$__pp_arg" "${__pp_kw[@]}" "${__pp_st[@]}"
      __pp_status=$?
    else
      # (Not `__pp_call || continue`: `set -e` would not apply inside it.)
      __pp_call
      if [[ -n $__pp_nocall ]]; then continue; fi
    fi
    # (`exec` itself: `builtin exec` would undo them after itself. `echo -n` prints
    # each separator in one write.)
    exec 1>&59 2>&60
    __pp_sep="$__pp_nltok $((++__pp_n)) $__pp_status $EPOCHREALTIME"$'\n'
    builtin echo -n "$__pp_sep"
    if [[ -s $__pp_err ]]; then
      __pp_sep="$__pp_nltok $__pp_n"$'\n'
      exec 1>&60; builtin echo -n "$__pp_sep"; exec 1>&59
    fi
  done
}
# Any other request of a batch: a call, its status in __pp_status; or a records-mode
# setting for the next compute (__pp_nocall set: no call).
__pp_call() {
  __pp_nocall=
  case $__pp_op in
  C) __pp_fn=compute __pp_args=("$__pp_arg" "${__pp_kw[@]}" "${__pp_st[@]}") ;;
  I) __pp_fn=initialize __pp_args=("${__pp_kw[@]}") ;;
  F) __pp_fn=finalize __pp_args=("$__pp_arg") ;;
  f) __pp_fn=finalize __pp_args=() ;;
  D) __pp_fn=compute_id __pp_args=("$__pp_arg") ;;
  R) __pp_rec=1; POLYPLUG_RECORD_ID=$__pp_arg
     builtin declare -gA POLYPLUG_FIELDS; POLYPLUG_FIELDS=(); POLYPLUG_FIELD_NAMES=(); __pp_nocall=1; return ;;
  V) POLYPLUG_FIELD_NAMES+=("${__pp_arg%%$'\x1f'*}")
     POLYPLUG_FIELDS[${__pp_arg%%$'\x1f'*}]=${__pp_arg#*$'\x1f'}; __pp_nocall=1; return ;;
  *) builtin echo "polyplug: unknown batch request '$__pp_op'" >&2; builtin exit 70 ;;
  esac
  if [[ $__pp_how == r ]]; then
    (builtin source "$__pp_file" >&2
     if [[ $__pp_trace == x && $__pp_fn == compute ]]; then builtin set -x; fi
     "$__pp_fn" "${__pp_args[@]}")
    __pp_status=$?
  elif [[ $__pp_how == x && $__pp_fn == compute ]]; then
    { builtin set -x; "$__pp_fn" "${__pp_args[@]}"; { __pp_status=$?; builtin set +x; } 2>/dev/null; }
  else
    "$__pp_fn" "${__pp_args[@]}"
    __pp_status=$?
  fi
  if [[ $__pp_rec == 1 ]]; then
    __pp_rec=0; builtin unset POLYPLUG_RECORD_ID POLYPLUG_FIELDS POLYPLUG_FIELD_NAMES
  fi
}
builtin printf '%s ready\n' "$__pp_tok" >&58
while IFS= builtin read -r -d '' -u 57 __pp_op && IFS= builtin read -r -d '' -u 57 __pp_arg; do
  case $__pp_op in
  K) __pp_kw+=("$__pp_arg"); continue ;;
  S) __pp_st=("$__pp_arg"); continue ;;
  B) ;;
  *) builtin printf '%s protocol unknown operation\n' "$__pp_tok" >&58; builtin exit 70 ;;
  esac
  builtin unset -f exec # the driver's `exec` is the builtin, whatever the script defines
  builtin mapfile -d '' -t __pp_req <"$__pp_dir/$__pp_arg.req"
  __pp_err=$__pp_dir/$__pp_arg.e
  __pp_batch 57<&- 58>&- 59>"$__pp_dir/$__pp_arg.o" 60>"$__pp_err" 1>&59 2>&60
  builtin printf '%s %d\n' "$__pp_tok" "$__pp_n" >&58
done
