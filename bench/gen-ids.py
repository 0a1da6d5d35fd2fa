"""Writes N random IDs (12 letters of ACGT and a serial number), one per line, the
same for the same N: the input of the native and sharding benchmarks.

Usage: python3 bench/gen-ids.py N OUTFILE
"""
import random
import sys

n, path = int(sys.argv[1]), sys.argv[2]
rng = random.Random(42)
with open(path, "w") as f:
    for i in range(n):
        f.write("".join(rng.choice("ACGT") for _ in range(12)) + f"_{i}\n")
