"""An independent implementation of sprs's initial weights (docs/language.md, "Initial weights"),
written from that text: the first values of one tensor's stream.

    python3 scripts/reference_init.py --seed 1 --name blocks.0.attention.q.weight --std 0.02 --count 5

Prints the values as f32 (shortest repr that round-trips), one per line. Standard library only.
"""

import argparse
import hashlib
import math
import struct

MASK = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


def splitmix(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def mix(a, b):
    return splitmix(a ^ ((b * GOLDEN) & MASK))


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def normal(seed, name, count, std):
    key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big")
    start = mix(seed, key)
    output = lambda i: splitmix((start + (i + 1) * GOLDEN) & MASK)
    values = []
    for j in range(0, count, 2):
        u1 = ((output(j) >> 11) + 1) / 2.0**53
        u2 = (output(j + 1) >> 11) / 2.0**53
        r = math.sqrt(-2.0 * math.log(u1))
        values += [f32(std * r * math.cos(2 * math.pi * u2)), f32(std * r * math.sin(2 * math.pi * u2))]
    return values[:count]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--std", type=float, required=True)
    p.add_argument("--count", type=int, default=5)
    a = p.parse_args()
    for v in normal(a.seed, a.name, a.count, a.std):
        print(repr(v))


if __name__ == "__main__":
    main()
