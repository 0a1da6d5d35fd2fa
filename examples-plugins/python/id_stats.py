"""id_stats in Python: the trivial plugin of the benchmarks.

The length of the ID in bytes (UTF-8) and the number of G and C letters in it
(case-insensitive). Its
compute is as small as a compute can be, so that bench/run measures what the host
costs per entity. It follows the MultiPlug/Prenacs conventions, so Prenacs runs the very
same file. The same plugin exists in every language under examples-plugins/, with
identical rows.

    polyplug run examples-plugins/python/id_stats.py ids ids.txt
"""
ID = "id_stats_python"
VERSION = "1.0"
INPUT = "any ID"
OUTPUT = ["length", "gc_count"]


def compute(entity, **kwargs):
    gc = entity.count("G") + entity.count("C") + entity.count("g") + entity.count("c")
    return [len(entity.encode()), gc], []
