"""Validation error of the nearest training samples' vote: ``vote_neighbors``, ``vote_weight``.

``vote_neighbors`` and ``vote_weight`` change only how a fitted
:class:`skshot.ShotVAEClassifier` predicts, not its training. So each label
draw of each protocol (``_protocols.py``: validation splits of the training
data only, never a test split) is fitted once with the other defaults, and
its validation error is measured for every pair of the grid below through
``set_params``, the network alone (``vote_neighbors=0``) included. One JSON
line per fit is appended to ``results/neighbour_vote.jsonl``, so runs of
different protocols add up; ``--summary`` writes ``results/neighbour_vote.md``:
per protocol and pair, the mean error over the draws and on how many draws it
was lower and higher than the network alone. ``--neighbors`` and ``--weights``
replace the grid (each row keeps its own), and ``--out`` another file keeps a
second study apart; the models fitted on translated images predict with their
default ``predict_shift`` (``q(y|x)`` averaged over translated copies, in the
network's prediction and in the unlabeled rows of ``label_distributions_``
alike), as every other default.

Usage::

    python benchmarks/neighbour_vote.py --protocols iris-30 wine-30 --draws 0 1 2
    python benchmarks/neighbour_vote.py --summary
    python benchmarks/neighbour_vote.py --protocols fmnist2k-100 --neighbors 5 10 \
        --weights 0 0.1 0.2 0.3 0.4 0.5 --out benchmarks/results/neighbour_vote-translated.jsonl
"""

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from _protocols import draws_by_protocol, fit_defaults, run_draws

from skshot import ShotVAEClassifier, voting

RESULTS = Path(__file__).parent / "results"
NEIGHBORS = [3, 5, 7, 10, 15, 20]
WEIGHTS = [0.35, 0.5, 0.65, 0.8, 1.0]


def measure(protocol, draw, neighbors=tuple(NEIGHBORS), weights=tuple(WEIGHTS)):
    """The validation error (%) of the network alone and of each grid pair, one fit."""
    neighbors, weights = list(neighbors), list(weights)
    clf, _, X_val, labels, seconds = fit_defaults(protocol, draw)

    # the network's q(y|x) and the neighbours once; each pair from them, as predict_proba does
    default = clf.get_params()
    network = clf.set_params(vote_neighbors=0).predict_proba(X_val)
    queries = torch.from_numpy(X_val.reshape(len(X_val), -1))
    nearest = voting.nearest_samples(queries, torch.from_numpy(clf.X_), max(neighbors))
    distributions = torch.from_numpy(clf.label_distributions_)

    def error(proba):
        return 100.0 * float(np.mean(np.argmax(proba, axis=1) != labels))

    grid = {}
    for k in neighbors:
        vote = voting.neighbour_vote(distributions, nearest[:, :k])
        for w in weights:
            grid[f"{k},{w}"] = error(voting.blend(torch.from_numpy(network), vote, w).numpy())
    clf.set_params(vote_neighbors=default["vote_neighbors"], vote_weight=default["vote_weight"])
    key = f"{default['vote_neighbors']},{clf._resolved_vote_weight()}"
    if key in grid:  # the estimator's own prediction agrees with the grid's
        assert abs(error(clf.predict_proba(X_val)) - grid[key]) < 1e-9
    return {"protocol": protocol, "draw": draw, "fit_seconds": seconds,
            "defaults": {"vote_neighbors": ShotVAEClassifier().vote_neighbors,
                         "vote_weight": clf._resolved_vote_weight()},
            "predict_shift": clf._resolved_predict_shift(),
            "neighbors": neighbors, "weights": weights,
            "network": error(network), "grid": grid}


def write_summary(path, out):
    protocols = list(draws_by_protocol(path))
    copies = any(row.get("predict_shift", 0) > 0 for _, own, _, _ in protocols for row in own)
    default = RESULTS / "neighbour_vote.jsonl"
    out_option = "" if Path(path).resolve() == default.resolve() else (
        f" --out benchmarks/results/{Path(path).name}")
    lines = [
        "# The vote of the nearest training samples: `vote_neighbors` and `vote_weight`"
        + (", with `q(y|x)` averaged over translated copies" if copies else ""), "",
        (f"Written by `python benchmarks/neighbour_vote.py --summary{out_option}`. "
         "Validation error in % "
        "(validation splits of the training data, never a test split; mean ± sd over the "
        "label draws) of one fit per draw with the estimator's other defaults, predicting "
        "with the network alone (`vote_neighbors=0`) and with each pair of neighbours `k` "
        "and vote share `w` (`vote_weight`); in brackets, the draws on which the pair was "
        "lower / higher than the network alone. The fit does not depend on the pair."
        + (" The models trained on translated images predict from `q(y|x)` averaged over "
           "each image's translated copies (`predict_shift=\"auto\"`), in the network's "
           "prediction and in the unlabeled rows of `label_distributions_`." if copies
           else "")), ""]
    for protocol, own, network, described in protocols:
        neighbors = own[0].get("neighbors", NEIGHBORS)  # rows before --neighbors: the grid's
        weights = own[0].get("weights", WEIGHTS)
        lines += [f"## {protocol}", "", described, "",
                  "| k | " + " | ".join(f"w = {w}" for w in weights) + " |",
                  "| --- |" + " --- |" * len(weights)]
        for k in neighbors:
            cells = []
            for w in weights:
                errors = np.array([r["grid"][f"{k},{w}"] for r in own])
                cells.append(f"{errors.mean():.2f} ({int((errors < network).sum())} / "
                             f"{int((errors > network).sum())})")
            lines.append(f"| {k} | " + " | ".join(cells) + " |")
        lines.append("")
    out.write_text("\n".join(lines))


def main(argv=None):
    run_draws(__doc__.split("\n")[0], measure, write_summary,
              lambda row: f"network {row['network']:.2f} %; " + ", ".join(
                  f"k,w={pair} {error:.2f}" for pair, error in row["grid"].items()),
              RESULTS / "neighbour_vote.jsonl", argv, add_options)


def add_options(parser):
    parser.add_argument("--neighbors", nargs="+", type=int, default=list(NEIGHBORS))
    parser.add_argument("--weights", nargs="+", type=float, default=list(WEIGHTS))


if __name__ == "__main__":
    main()
