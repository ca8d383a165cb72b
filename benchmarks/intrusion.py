"""Where the OT term's mixes land: among the training samples of a third class?

The OT-approximation (paper eq. 15) mixes two samples, ``lam * x_i + (1 - lam)
* x_j`` with ``lam ~ Beta(mixup_alpha, mixup_alpha)``, and asks the classifier
for the same mix of their class distributions. When the two are of different
classes and the mix lands among samples of a third class, that target
contradicts the third class's labels ("manifold intrusion"). For each label
draw of a validation protocol (``_protocols.py``: training data only) this
script draws random pairs of training samples, as the OT term does, and
reports, among the pairs of two different classes, the share of mixes whose
nearest training sample (Euclidean) is of neither parent's class, once with
the training samples' true classes, which a fit does not see, and once with
the classes that ``LabelSpreading`` (7 neighbours) gives them from the draw's
labels alone, which a fit could compute. It explains the measurements of
``levers.md``; it is no part of the estimator.

Usage::

    python benchmarks/intrusion.py [--protocols iris-30 wine-30 ...] [--draws 0 1 2]

It writes ``benchmarks/results/intrusion.md``.
"""

import argparse
import sys
from pathlib import Path

import numpy as np
from sklearn.neighbors import NearestNeighbors

sys.path.insert(0, str(Path(__file__).parent))
from _protocols import PROTOCOLS, label_spreading, mean_sd, split

RESULTS = Path(__file__).parent / "results"


def third_class_share(X, y, n_pairs=2000, mixup_alpha=1.0, random_state=0):
    """Share of mixes of two different classes whose nearest sample is of a third class.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,)
    n_pairs : int, default=2000
        Random pairs ``(i, j)`` drawn with replacement.
    mixup_alpha : float, default=1.0
        ``lam ~ Beta(mixup_alpha, mixup_alpha)``, as the estimator draws it.
    random_state : int, default=0

    Returns
    -------
    float or None
        None when no pair has two different classes.
    """
    rng = np.random.default_rng(random_state)
    X = np.asarray(X, dtype=np.float64).reshape(len(X), -1)
    y = np.asarray(y)
    i, j = rng.integers(0, len(X), n_pairs), rng.integers(0, len(X), n_pairs)
    cross = y[i] != y[j]
    if not cross.any():
        return None
    i, j = i[cross], j[cross]
    lam = rng.beta(mixup_alpha, mixup_alpha, len(i))[:, None]
    mixes = lam * X[i] + (1.0 - lam) * X[j]
    nearest = NearestNeighbors(n_neighbors=1).fit(X).kneighbors(mixes)[1][:, 0]
    return float(np.mean((y[nearest] != y[i]) & (y[nearest] != y[j])))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--protocols", nargs="+", choices=list(PROTOCOLS),
                        default=["iris-30", "wine-30", "cancer-20", "synth-40", "digits300-50",
                                 "digits-50"])
    parser.add_argument("--draws", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=RESULTS / "intrusion.md")
    args = parser.parse_args(argv)
    lines = ["# Where the OT term's mixes land", "",
             ("Written by `python benchmarks/intrusion.py` (label draws "
              f"{args.draws}). Among random pairs of training samples of two different "
              "classes, mixed with `lam ~ U(0, 1)` as the OT term mixes them, the share (%, "
              "mean ± sd over the draws) whose nearest training sample is of a third class, "
              "so that the OT target contradicts that class's labels: with the true classes "
              "of the training samples, which no fit sees, and with those that "
              "`LabelSpreading` (7 neighbours) propagates from the draw's labels."), "",
             ("| protocol | samples | features | third-class share (%), true classes "
              "| the same, propagated classes |"),
             "| --- | --- | --- | --- | --- |"]
    for protocol in args.protocols:
        shares, propagated = [], []
        for draw in args.draws:
            X_fit, y_partial, _, _, y_fit = split(protocol, draw)
            X_flat = X_fit.reshape(len(X_fit), -1)
            guessed = label_spreading().fit(X_flat, y_partial).transduction_
            for out, classes in ((shares, y_fit), (propagated, guessed)):
                share = third_class_share(X_flat, classes, random_state=draw)
                out.append(None if share is None else 100.0 * share)
        lines.append(f"| {protocol} | {len(X_flat)} | {X_flat.shape[1]} | {mean_sd(shares)} "
                     f"| {mean_sd(propagated)} |")
        print(lines[-1], flush=True)
    args.out.parent.mkdir(exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
