# id_stats in Bash: the trivial plugin of the benchmarks.
#
# The length of the ID in bytes and the number of G and C letters in it (case-insensitive), in
# pure Bash (no subprocess), so that bench/run measures what the host costs per entity.
# It follows the MultiPlug/Prenacs conventions (compute prints its values separated by
# TABs), so Prenacs runs the very same file. The same plugin exists in every language
# under examples-plugins/, with identical rows.
#
#     polyplug run examples-plugins/bash/id_stats.sh ids ids.txt

ID="id_stats_bash"
VERSION="1.0"
INPUT="any ID"
OUTPUT=( "length" "gc_count" )

compute() {
  local LC_ALL=C entity=$1   # C locale: ${#entity} counts bytes
  local gc=${entity//[^GCgc]/}
  printf '%s\t%s\n' "${#entity}" "${#gc}"
}
