"""Writes the train and test parts of a LIBSVM file as Parasol's hold-out
picks them, for liblinear (standard library only).

    reference_split.py FILE TRAIN_OUT TEST_OUT --fraction F [--seed S]  (default seed 1)
    reference_split.py FILE TRAIN_OUT TEST_OUT --last N

--fraction: row i (0-based, counting every line) is a test row when
    pc_hash_u64(pc_hash_u64(seed) ^ i) / 2^64 < F   (data.test_fraction)
--last: the last N rows are the test rows                (data.test_rows)
Prints "train_rows test_rows test_positives" on stdout.
"""
import argparse

MASK = (1 << 64) - 1


def pc_hash_u64(x):
    """common/pc_hash.c: the first output of splitmix64 seeded with x."""
    z = (x + 0x9E3779B97F4A7C15) & MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def is_test_fraction(i, fraction, seed):
    # float() rounds to nearest as C's (double) conversion does.
    return float(pc_hash_u64((pc_hash_u64(seed) ^ i) & MASK)) / 2.0**64 < fraction


def main():
    ap = argparse.ArgumentParser(description="Parasol's hold-out of a LIBSVM file")
    ap.add_argument("file")
    ap.add_argument("train_out")
    ap.add_argument("test_out")
    how = ap.add_mutually_exclusive_group(required=True)
    how.add_argument("--fraction", type=float)
    how.add_argument("--last", type=int)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    with open(a.file) as f:
        lines = f.readlines()
    n = len(lines)
    if a.last is not None:
        pick = lambda i: i >= n - a.last
    else:
        pick = lambda i: is_test_fraction(i, a.fraction, a.seed)
    ntest = npos = 0
    with open(a.train_out, "w") as tr, open(a.test_out, "w") as te:
        for i, line in enumerate(lines):
            if pick(i):
                te.write(line)
                ntest += 1
                npos += line.split(None, 1)[0] in ("+1", "1")
            else:
                tr.write(line)
    print(n - ntest, ntest, npos)


if __name__ == "__main__":
    main()
