## id_stats in Nim: the trivial plugin of the benchmarks, the length of the ID and the
## number of G and C letters in it (case-insensitive). Its compute is as small as a
## compute can be, so that bench/run measures what the host costs per entity. A
## stateless plugin: no initialize, no finalize. The same plugin exists in every
## language under examples-plugins/, with identical rows.
##
##   polyplug run examples-plugins/nim/id_stats.nim ids ids.txt
import polyplug

const
  ID* = "id_stats_nim"
  VERSION* = "1.0"
  INPUT* = "any ID"
  OUTPUT* = ["length", "gc_count"]

proc compute(entity: string, params: Params): Computed =
  var gc = 0
  for c in entity:
    if c in {'G', 'C', 'g', 'c'}: inc gc
  result.add entity.len
  result.add gc

exportPlugin()
