"""Writes a FASTA file of N records, about SIZE bytes in all: record names seq<i>,
sequences of varied lengths (around SIZE/N letters) in 60-letter lines, the same for
the same N and SIZE: the input of the records-mode benchmark.

Usage: python3 bench/gen-fasta.py N SIZE OUTFILE
"""
import random
import sys

n, size, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
rng = random.Random(42)
# One long random sequence, sliced: fast enough for gigabytes.
pool = "".join(rng.choice("ACGT") for _ in range(1 << 20)) * 2
mean = max(1, size // n - 20)
with open(path, "w") as f:
    for i in range(n):
        length = rng.randint(mean // 2, mean + mean // 2)
        start = rng.randrange(0, len(pool) // 2)
        seq = pool[start:start + length] if length <= len(pool) // 2 else pool[:length]
        lines = "\n".join(seq[k:k + 60] for k in range(0, len(seq), 60))
        f.write(f">seq{i} a generated sequence\n{lines}\n")
