# polyplug's Bash constants reader: sources a plugin once and writes its constants and
# functions to fd 58 (the host's pipe, moved off stdout) as NUL-terminated fields:
#   <NAME> S 1 <value>            a scalar
#   <NAME> A <n> <v1> ... <vn>    an indexed array
#   <NAME> H 0                    an associative array (not allowed)
#   F <function>                  a defined function
#   END
# Values are expanded as `echo -e` does (MultiPlug reads them with `echo -e`), so
# `\t` in a PARAMETERS element separates its fields. Output of the plugin's top level
# goes to stderr, which the host shows only when the plugin turns out broken.
exec 58>&1 0</dev/null 1>&2
__pp_file=$1
set --
builtin source "$__pp_file" 58>&-
for __pp_name in ID VERSION INPUT OUTPUT PARAMETERS METHOD IMPLEMENTATION REQ_SOFTWARE \
  REQ_HARDWARE ADVICE POLYPLUG_PERSISTENT; do
  builtin declare -p "$__pp_name" >/dev/null 2>&1 || continue
  __pp_attrs=${!__pp_name@a}
  if [[ $__pp_attrs == *A* ]]; then
    builtin printf '%s\0' "$__pp_name" H 0 >&58
  elif [[ $__pp_attrs == *a* ]]; then
    builtin declare -n __pp_ref=$__pp_name
    builtin printf '%s\0' "$__pp_name" A "${#__pp_ref[@]}" >&58
    for __pp_e in "${__pp_ref[@]}"; do
      builtin printf -v __pp_v '%b' "$__pp_e"
      builtin printf '%s\0' "$__pp_v" >&58
    done
    builtin unset -n __pp_ref
  else
    builtin printf -v __pp_v '%b' "${!__pp_name}"
    builtin printf '%s\0' "$__pp_name" S 1 "$__pp_v" >&58
  fi
done
for __pp_f in compute initialize finalize compute_id; do
  if builtin declare -F "$__pp_f" >/dev/null; then
    builtin printf '%s\0' F "$__pp_f" >&58
  fi
done
builtin printf 'END\0' >&58
