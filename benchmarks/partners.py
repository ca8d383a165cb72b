"""What the code ``z`` holds: is a sample's nearest neighbour in ``z`` of its own class?

The OT-approximation with ``optimal_match=True`` pairs each unlabeled sample
with its closest partner in ``z`` (paper eq. 13). Whether that partner shares
the sample's class depends on what ``z`` encodes, which ``beta`` decides. For
each label draw of a validation protocol (``_protocols.py``: training data
only) and each setting, this script fits the estimator and reports

- the validation error of the fit;
- the share of training samples whose nearest neighbour (Euclidean) among the
  posterior means ``transform(X)`` has the same class, and the same share in
  input space;
- the validation error of ``LabelSpreading(kernel="knn", n_neighbors=15)``
  on ``z`` and on the inputs, with the draw's labels: how well ``z`` alone
  separates the classes.

Usage::

    python benchmarks/partners.py [--protocol digits-50] [--draws 0 1 2]

It writes ``benchmarks/results/partners.md``.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from sklearn.neighbors import NearestNeighbors

sys.path.insert(0, str(Path(__file__).parent))
from _protocols import PROTOCOLS, label_spreading, mean_sd, split, threads

from skshot import ShotVAEClassifier

RESULTS = Path(__file__).parent / "results"
SETTINGS = {"defaults": {}, "beta=0.01": {"beta": 0.01}}


def same_class_neighbour(features, y):
    """Share (%) of samples whose nearest other sample in ``features`` has their class."""
    nearest = NearestNeighbors(n_neighbors=2).fit(features).kneighbors(
        features, return_distance=False)[:, 1]
    return 100.0 * float(np.mean(y[nearest] == y))


def spreading_error(features, y_partial, features_val, y_val):
    """Validation error (%) of k-NN label spreading on ``features``."""
    model = label_spreading(n_neighbors=15).fit(features, y_partial)
    return 100.0 * float(np.mean(model.predict(features_val) != y_val))


def measure(protocol, draw, params):
    X, y_partial, X_val, y_val, y_fit = split(protocol, draw)
    clf = ShotVAEClassifier(random_state=draw, **params).fit(X, y_partial)
    Z, Z_val = clf.transform(X), clf.transform(X_val)
    return {
        "model": 100.0 * (1.0 - clf.score(X_val, y_val)),
        "same_z": same_class_neighbour(Z, y_fit),
        "same_input": same_class_neighbour(X, y_fit),
        "spreading_z": spreading_error(Z, y_partial, Z_val, y_val),
        "spreading_input": spreading_error(X, y_partial, X_val, y_val),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--protocol", choices=list(PROTOCOLS), default="digits-50")
    parser.add_argument("--draws", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--settings", type=json.loads, default=SETTINGS,
                        help="name: parameters, as JSON")
    parser.add_argument("--out", type=Path, default=RESULTS / "partners.md")
    args = parser.parse_args(argv)
    n_threads = threads()
    columns = [("model", "validation error of the fit"),
               ("same_z", "nearest neighbour in z of the same class"),
               ("same_input", "the same in input space"),
               ("spreading_z", "LabelSpreading on z, validation error"),
               ("spreading_input", "LabelSpreading on the inputs, validation error")]
    lines = ["# What z holds: nearest neighbours and label spreading in z", "",
             (f"Written by `python benchmarks/partners.py` ({args.protocol}, label draws "
              f"{args.draws}, {n_threads} PyTorch threads). All figures in %, mean ± standard "
              "deviation over the draws, on validation splits of the training data. "
              f"`defaults`: the estimator's defaults (`beta={ShotVAEClassifier()._resolve_beta('mlp'):g}` "
             "with the MLP); "
              "`beta=0.01`: the same with the "
              "paper's beta, under which z carries the class."), "",
             "| setting | parameters | " + " | ".join(title for _, title in columns) + " |",
             "| --- | --- | " + " | ".join("---" for _ in columns) + " |"]
    for name, params in args.settings.items():
        runs = [measure(args.protocol, draw, params) for draw in args.draws]
        cells = [mean_sd([run[key] for run in runs]) for key, _ in columns]
        lines.append(f"| {name} | `{json.dumps(params)}` | " + " | ".join(cells) + " |")
        print(lines[-1], flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
