"""numpy reference for bench/reference: MovieLens 100K u1.base -> u1.test,
read from ../shared/data/ml-100k (never copied into the project).

    reference_mf.py movielens_mf|movielens_biases

movielens_mf: biased matrix factorization, prediction
    mu + b_u + b_i + p_u . q_i
trained by plain SGD, one rating at a time, in a seeded random order per
epoch (Funk / Koren's "SVD" with biases). movielens_biases: the same with no
embeddings (mu + b_u + b_i). Predictions are clipped to [1, 5].
Prints one line: "TARGET rmse VALUE SECONDS TOOL".
"""
import sys
import time

import numpy as np

import reference_data as rd

SEED = 1
# name: (rank, epochs, lr, l2, init std)
TARGETS = {
    "movielens_mf": (20, 40, 0.01, 0.1, 0.1),
    "movielens_biases": (0, 40, 0.01, 0.1, 0.0),
}


def sgd_epoch(order, u, i, r, mu, bu, bi, p, q, lr, l2):
    for k in order:
        a, b = u[k], i[k]
        e = r[k] - (mu + bu[a] + bi[b] + p[a].dot(q[b]))
        bu[a] += lr * (e - l2 * bu[a])
        bi[b] += lr * (e - l2 * bi[b])
        pa = p[a].copy()
        p[a] += lr * (e * q[b] - l2 * pa)
        q[b] += lr * (e * pa - l2 * q[b])


def rmse(model, u, i, r):
    mu, bu, bi, p, q = model
    pred = np.clip(mu + bu[u] + bi[i] + np.einsum("ij,ij->i", p[u], q[i]), 1.0, 5.0)
    return float(np.sqrt(np.mean((pred - r) ** 2)))


def train(name, u, i, r, nusers, nitems):
    rank, epochs, lr, l2, std = TARGETS[name]
    rng = np.random.default_rng(SEED)
    mu = float(r.mean())
    bu, bi = np.zeros(nusers), np.zeros(nitems)
    p = rng.normal(0.0, std, (nusers, rank)) if rank else np.zeros((nusers, 0))
    q = rng.normal(0.0, std, (nitems, rank)) if rank else np.zeros((nitems, 0))
    # Python ints and floats index and add faster than numpy scalars.
    ul, il, rl = u.tolist(), i.tolist(), r.tolist()
    for _ in range(epochs):
        sgd_epoch(rng.permutation(len(rl)).tolist(), ul, il, rl, mu, bu, bi, p, q, lr, l2)
    return mu, bu, bi, p, q


def main():
    if len(sys.argv) != 2 or sys.argv[1] not in TARGETS:
        sys.exit(__doc__)
    name = sys.argv[1]
    if not rd.have_ml100k():
        print("%s skipped: %s/u1.base or u1.test missing (MovieLens 100K may not be copied "
              "into the project; get ml-100k from GroupLens and put it there)" % (name, rd.ML100K))
        return
    u, i, r = rd.ratings("u1.base")
    tu, ti, tr = rd.ratings("u1.test")
    nusers, nitems = int(max(u.max(), tu.max())) + 1, int(max(i.max(), ti.max())) + 1
    t0 = time.perf_counter()
    model = train(name, u, i, r, nusers, nitems)
    err = rmse(model, tu, ti, tr)
    print("%s rmse %.4f %.2f numpy-%s" % (name, err, time.perf_counter() - t0, np.__version__))


if __name__ == "__main__":
    main()
