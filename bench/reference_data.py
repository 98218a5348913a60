"""Data and splits for bench/reference: the same files and the same train/test
rows as Parasol's examples (see docs/results.md, "Splits").

Loaders return numpy arrays. Only the standard library and numpy are used, so
a missing torch or scikit-learn never hides a data error.
"""
import gzip
import os
import struct

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "data")
# MovieLens may not be copied into the project (its licence forbids
# redistribution): it is read where ../shared keeps it.
ML100K = os.path.join(os.path.dirname(ROOT), "shared", "data", "ml-100k")

MNIST_TRAIN_ROWS = 8000  # t10k images 0..7999 train, 8000..9999 test


def optdigits():
    """(x_train, y_train, x_test, y_test): 64 raw pixel counts 0..16, class 0..9."""
    def load(name):
        path = os.path.join(DATA, "optdigits", name)
        # optdigits.tes ends with an empty line; ndmin keeps a 2-D array.
        a = np.loadtxt(path, delimiter=",", dtype=np.float32, ndmin=2)
        return a[:, :64], a[:, 64].astype(np.int64)
    return load("optdigits.tra") + load("optdigits.tes")


def _idx(path, magic, dims):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    got_magic, = struct.unpack(">I", raw[:4])
    if got_magic != magic:
        raise ValueError("%s: idx magic 0x%08x, expected 0x%08x" % (path, got_magic, magic))
    shape = struct.unpack(">" + "I" * dims, raw[4:4 + 4 * dims])
    body = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims)
    if body.size != int(np.prod(shape)):
        raise ValueError("%s: header says %s, body has %d bytes" % (path, shape, body.size))
    return body.reshape(shape)


def mnist():
    """(x_train, y_train, x_test, y_test) from t10k: images as float32 in
    [0, 1] shaped (n, 1, 28, 28); the first 8000 train, the last 2000 test."""
    d = os.path.join(DATA, "mnist")
    x = _idx(os.path.join(d, "t10k-images-idx3-ubyte.gz"), 0x803, 3)
    y = _idx(os.path.join(d, "t10k-labels-idx1-ubyte.gz"), 0x801, 1).astype(np.int64)
    x = (x.astype(np.float32) / 255.0)[:, None, :, :]
    n = MNIST_TRAIN_ROWS
    return x[:n], y[:n], x[n:], y[n:]


def ratings(name):
    """(users, items, ratings) of an ml-100k file, ids 0-based."""
    a = np.loadtxt(os.path.join(ML100K, name), dtype=np.int64, usecols=(0, 1, 2), ndmin=2)
    return a[:, 0] - 1, a[:, 1] - 1, a[:, 2].astype(np.float64)


def have_ml100k():
    return all(os.path.isfile(os.path.join(ML100K, f)) for f in ("u1.base", "u1.test"))
