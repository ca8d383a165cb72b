"""Who learns best from the input graph's pseudo-labels: a neighbour vote, an SVM or an MLP?

For each protocol and label draw (``_protocols.py``: validation splits of the
training data only), the pseudo-labels of ``propagation_features="input"``
(the graph of the samples themselves, :mod:`skshot.propagation`, with the
estimator's settings) are computed once, without any network; then learners
are fitted to them and their error is measured on the validation split:
a vote of the 1, 7 or 15 nearest training samples over the pseudo-labels'
class distributions, an RBF support vector machine and scikit-learn's
``MLPClassifier`` with two hidden layers of 500 (the estimator's default
widths), on the inputs as the estimator sees them and standardised. ``LabelSpreading`` (7 neighbours) is the reference. It separates two
causes of a semi-supervised network's error: pseudo-labels that are wrong, and
a learner that generalises from right ones less well.

Usage::

    python benchmarks/graph_students.py [--protocols digits-50] [--draws 0 1 2 3 4 5 6 7]

It writes ``benchmarks/results/graph_students.md``.
"""

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.neighbors import NearestNeighbors
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler
from sklearn.semi_supervised import LabelSpreading
from sklearn.svm import SVC

sys.path.insert(0, str(Path(__file__).parent))
from _protocols import PROTOCOLS, mean_sd, split, threads

from skshot import propagation

RESULTS = Path(__file__).parent / "results"
NEIGHBOURS = (1, 7, 15)
COLUMNS = ("pseudo-labels wrong", "LabelSpreading's own labels wrong", "LabelSpreading",
           *(f"vote of {k}" for k in NEIGHBOURS), "RBF SVM", "MLP, inputs as given",
           "MLP, standardised")


def input_graph_scores(X, y_partial, n_classes, n_neighbors=10):
    """Class scores of the graph of the samples themselves, as ``propagation_features="input"``."""
    features = propagation.graph_features(torch.as_tensor(X, dtype=torch.float32))
    return propagation.propagate_labels(features, torch.as_tensor(y_partial), n_classes,
                                        n_neighbors)


def measure(protocol, draw, mlp_iter=200):
    """Error (%) of each column of :data:`COLUMNS` on one label draw."""
    X, y_partial, X_val, y_val, y_fit = split(protocol, draw)
    unlabeled = y_partial == -1
    classes = np.unique(y_fit)
    scores = input_graph_scores(X, y_partial, len(classes))
    labels, _ = propagation.pseudo_labels(scores, torch.as_tensor(y_partial))
    labels = labels.numpy()
    p = (scores / scores.sum(dim=1, keepdim=True).clamp(min=1e-30)).numpy()
    spreading = LabelSpreading(kernel="knn", n_neighbors=7).fit(X, y_partial)
    row = [np.mean(labels[unlabeled] != y_fit[unlabeled]),
           np.mean(spreading.transduction_[unlabeled] != y_fit[unlabeled]),
           np.mean(spreading.predict(X_val) != y_val)]
    for k in NEIGHBOURS:
        index = NearestNeighbors(n_neighbors=k).fit(X).kneighbors(X_val, return_distance=False)
        row.append(np.mean(p[index].mean(axis=1).argmax(axis=1) != y_val))
    row.append(np.mean(SVC().fit(X, labels).predict(X_val) != y_val))
    scaler = StandardScaler().fit(X)
    for transform in (lambda a: a, scaler.transform):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            mlp = MLPClassifier((500, 500), max_iter=mlp_iter, random_state=draw)
            mlp.fit(transform(X), labels)
        row.append(np.mean(mlp.predict(transform(X_val)) != y_val))
    return [100.0 * float(v) for v in row]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--protocols", nargs="+", choices=list(PROTOCOLS),
                        default=["digits-50"])
    parser.add_argument("--draws", nargs="+", type=int, default=list(range(8)))
    parser.add_argument("--mlp-iter", type=int, default=200)
    parser.add_argument("--out", type=Path, default=RESULTS / "graph_students.md")
    args = parser.parse_args(argv)
    print(f"{threads()} PyTorch threads", flush=True)
    lines = [
        "# Learners fitted to the input graph's pseudo-labels: " + ", ".join(args.protocols),
        "",
        "Written by `python benchmarks/graph_students.py`. Validation error in % (mean ± sd",
        f"over label draws {' '.join(map(str, args.draws))}) of learners fitted to the",
        "pseudo-labels of the graph of the samples themselves (`propagation_features=\"input\"`,",
        "10 neighbours, no network), and the share of unlabeled training samples whose",
        "pseudo-label is wrong; `LabelSpreading` (7 neighbours) for reference, with the share",
        "of its own labels of the unlabeled training samples that are wrong. A vote of k:",
        "the mean class distribution of the k nearest training samples. The MLPs (two hidden",
        "layers of 500, the estimator's default widths) see the inputs as the estimator does",
        "or standardised.",
        "",
        "| protocol | " + " | ".join(COLUMNS) + " |",
        "| --- |" + " --- |" * len(COLUMNS),
    ]
    for protocol in args.protocols:
        rows = []
        for draw in args.draws:
            rows.append(measure(protocol, draw, args.mlp_iter))
            print(protocol, draw, " ".join(f"{v:5.1f}" for v in rows[-1]), flush=True)
        cells = [mean_sd([r[i] for r in rows]) for i in range(len(COLUMNS))]
        lines.append(f"| {protocol} | " + " | ".join(cells) + " |")
    args.out.write_text("\n".join(lines) + "\n")
    print(args.out.read_text())


if __name__ == "__main__":
    main()
