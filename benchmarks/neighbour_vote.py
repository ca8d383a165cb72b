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
was lower and higher than the network alone.

Usage::

    python benchmarks/neighbour_vote.py --protocols iris-30 wine-30 --draws 0 1 2
    python benchmarks/neighbour_vote.py --summary
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


def measure(protocol, draw):
    """The validation error (%) of the network alone and of each grid pair, one fit."""
    clf, _, X_val, labels, seconds = fit_defaults(protocol, draw)

    # the network's q(y|x) and the neighbours once; each pair from them, as predict_proba does
    default = clf.get_params()
    network = clf.set_params(vote_neighbors=0).predict_proba(X_val)
    queries = torch.from_numpy(X_val.reshape(len(X_val), -1))
    nearest = voting.nearest_samples(queries, torch.from_numpy(clf.X_), max(NEIGHBORS))
    distributions = torch.from_numpy(clf.label_distributions_)

    def error(proba):
        return 100.0 * float(np.mean(np.argmax(proba, axis=1) != labels))

    grid = {}
    for k in NEIGHBORS:
        vote = voting.neighbour_vote(distributions, nearest[:, :k])
        for w in WEIGHTS:
            grid[f"{k},{w}"] = error(voting.blend(torch.from_numpy(network), vote, w).numpy())
    clf.set_params(vote_neighbors=default["vote_neighbors"], vote_weight=default["vote_weight"])
    key = f"{default['vote_neighbors']},{default['vote_weight']}"
    if key in grid:  # the estimator's own prediction agrees with the grid's
        assert abs(error(clf.predict_proba(X_val)) - grid[key]) < 1e-9
    return {"protocol": protocol, "draw": draw, "fit_seconds": seconds,
            "defaults": {"vote_neighbors": ShotVAEClassifier().vote_neighbors,
                         "vote_weight": ShotVAEClassifier().vote_weight},
            "network": error(network), "grid": grid}


def write_summary(path, out):
    lines = [
        "# The vote of the nearest training samples: `vote_neighbors` and `vote_weight`", "",
        ("Written by `python benchmarks/neighbour_vote.py --summary`. Validation error in % "
        "(validation splits of the training data, never a test split; mean ± sd over the "
        "label draws) of one fit per draw with the estimator's other defaults, predicting "
        "with the network alone (`vote_neighbors=0`) and with each pair of neighbours `k` "
        "and vote share `w` (`vote_weight`); in brackets, the draws on which the pair was "
        "lower / higher than the network alone. The fit does not depend on the pair."), ""]
    for protocol, own, network, described in draws_by_protocol(path):
        lines += [f"## {protocol}", "", described, "",
                  "| k | " + " | ".join(f"w = {w}" for w in WEIGHTS) + " |",
                  "| --- |" + " --- |" * len(WEIGHTS)]
        for k in NEIGHBORS:
            cells = []
            for w in WEIGHTS:
                errors = np.array([r["grid"][f"{k},{w}"] for r in own])
                cells.append(f"{errors.mean():.2f} ({int((errors < network).sum())} / "
                             f"{int((errors > network).sum())})")
            lines.append(f"| {k} | " + " | ".join(cells) + " |")
        lines.append("")
    out.write_text("\n".join(lines))


def main(argv=None):
    run_draws(__doc__.split("\n")[0], measure, write_summary,
              lambda row: f"network {row['network']:.2f} %, k=10 w=0.5 "
                          f"{row['grid']['10,0.5']:.2f} %",
              RESULTS / "neighbour_vote.jsonl", argv)


if __name__ == "__main__":
    main()
