"""{{name}}: a polyplug plugin in Python, written to the Prenacs plugin conventions
(it runs unchanged under `prenacs-batch-compute` too).

For every ID it returns the length of the ID and its number of G and C letters.
IDs shorter than the parameter min_length give no result and a log message. Each
worker keeps a count of what it computed in its state. An exception fails that
entity only.

Run it (in this folder):
    polyplug run {{name}}.py ids ids.txt
"""

ID = "{{name}}"
VERSION = "0.1.0"
INPUT = "any ID (one line of the IDs file)"
OUTPUT = ["length", "gc_count"]
PARAMETERS = [
    ("min_length", "int", "0", "IDs shorter than this give no result"),
]
METHOD = "length: number of characters of the ID; gc_count: number of G and C letters"
IMPLEMENTATION = "Python"


def initialize(**params):
    """Called once per worker before its first compute; returns the state."""
    return {"computed": 0}


def compute(entity, state=None, **params):
    """Returns (results in OUTPUT order, log messages); [] results: no result."""
    min_length = int(params.get("min_length", 0))
    if len(entity) < min_length:
        return [], [f"length\t{len(entity)} characters, below min_length {min_length}"]
    gc = sum(1 for c in entity if c in "GCgc")
    state["computed"] += 1
    return [len(entity), gc], []


def finalize(state):
    """Called once per worker after its last compute."""
    state.clear()
