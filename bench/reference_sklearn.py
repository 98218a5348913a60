"""scikit-learn reference for bench/reference: multinomial logistic regression
on standardized optdigits (mean and variance of the training file).

    reference_sklearn.py optdigits_sklearn_logistic

Prints one line: "TARGET accuracy VALUE SECONDS TOOL".
"""
import sys
import time

import sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

import reference_data as rd


def main():
    if sys.argv[1:] != ["optdigits_sklearn_logistic"]:
        sys.exit(__doc__)
    xtr, ytr, xte, yte = rd.optdigits()
    t0 = time.perf_counter()
    scale = StandardScaler().fit(xtr)
    # C=1 and lbfgs are the defaults; max_iter is raised so that lbfgs
    # converges instead of stopping at 100 iterations with a warning.
    model = LogisticRegression(C=1.0, max_iter=2000).fit(scale.transform(xtr), ytr)
    acc = model.score(scale.transform(xte), yte)
    print("optdigits_sklearn_logistic accuracy %.4f %.2f scikit-learn-%s"
          % (acc, time.perf_counter() - t0, sklearn.__version__))


if __name__ == "__main__":
    main()
