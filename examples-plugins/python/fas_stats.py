"""
fas_stats in Python: genome size and GC content of a FASTA file, or of one
FASTA record (polyplug's records mode).

A Prenacs plugin, unchanged: constants and functions, nothing to import from
polyplug. It shows a stateful plugin: ``initialize`` makes the counters that every
compute of the worker updates, ``compute`` reads one file per entity, and
``finalize`` reports what the worker did. The same plugin exists in every language
under ``examples-plugins/``, with identical output rows.

Run it (from the repository root):

    polyplug run examples-plugins/python/fas_stats.py \\
        files 'examples-plugins/data/*.fas' \\
        --defs examples-plugins/attribute_definitions.yaml

or with Prenacs itself: ``prenacs-batch-compute examples-plugins/python/fas_stats.py
files 'examples-plugins/data/*.fas'``.
"""
ID = "fas_stats_python"
VERSION = "1.0"
INPUT = "path of a FASTA file (one genome, one or more records)"
OUTPUT = ["genome_size", "GC_content"]
PARAMETERS = [
    ("min_length", "int", "0",
     "genomes with fewer sequence letters than this give no result"),
]
METHOD = ("genome_size counts the letters of all sequence lines (header lines "
          "starting with '>' and whitespace excluded); GC_content is the number of "
          "G and C letters (case-insensitive) divided by genome_size")
IMPLEMENTATION = "Python, Prenacs plugin interface"

# The bytes that do not count as sequence letters: space, \t, \n, \r, \v, \f.
_WHITESPACE = b" \t\n\r\x0b\x0c"


def initialize(**kwargs):
    return {"files": 0, "records": 0, "letters": 0}


def _count(data):
    size = 0
    gc = 0
    for line in data.split(b"\n"):
        if line.startswith(b">"):
            continue
        letters = line.translate(None, _WHITESPACE)
        size += len(letters)
        gc += sum(letters.count(c) for c in b"GCgc")
    return size, gc


def compute(filename, state, **kwargs):
    min_length = kwargs.get("min_length", 0)
    # Records mode gives a Record: a str (the record's name) whose .data holds the
    # record's bytes (its header line and sequence lines); files mode a file name.
    data = getattr(filename, "data", None)
    if data is None:
        with open(filename, "rb") as f:
            data = f.read()
        state["files"] += 1
        what = "file"
    else:
        state["records"] += 1
        what = "record"
    size, gc = _count(data)
    state["letters"] += size
    if size == 0:
        return [], [f"genome_size\tno sequence letters in the {what}"]
    if size < min_length:
        return [], [f"genome_size\t{size} letters, below min_length {min_length}"]
    return [size, gc / size], []


def finalize(state):
    # polyplug logs what finalize returns (Prenacs ignores it).
    if state["records"] and not state["files"]:
        return f"processed {state['records']} records, {state['letters']} sequence letters"
    return f"processed {state['files']} files, {state['letters']} sequence letters"
