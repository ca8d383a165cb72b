"""Validation error of predictions rescaled towards the labeled samples' class shares.

A classifier trained on few labels can predict some classes more often than
they occur. If the classes' shares among the samples are known, the
predicted class distributions can be rescaled towards them (the prior
correction of Saerens et al., Neural Computation 2002; "distribution
alignment" in ReMixMatch, Berthelot et al., ICLR 2020): each class's
probability is multiplied by a weight ``w_k`` and each row renormalised, with
the weights chosen so that the mean rescaled distribution over the unlabeled
training samples comes nearer to the prior ``pi``:

- one step: ``w = pi / mean_i p_i``;
- ``s`` steps: the same step repeated on the rescaled distributions
  (iterative proportional fitting); as ``s`` grows the mean matches ``pi``.

Here ``pi`` is the share of each class among the labeled samples, the only
prior an estimator fitted on ``y`` knows. The protocols label the same number
of samples of each class, so ``pi`` is uniform; it is the samples' true
share on the digits, 2 000 Fashion-MNIST images, iris and ``synth-40``, but
not on breast cancer (37 % / 63 %) or wine (33 / 40 / 27 %).

The rescaling does not change the training, so each label draw of each
protocol (``_protocols.py``: validation splits of the training data only,
never a test split) is fitted once with the estimator's defaults, and the
validation error is measured with 0 (no rescaling), 1 and ``--steps`` steps,
for the estimator's prediction (the network blended with the vote of the
nearest training samples) and for the network alone, each rescaled with the
weights of its own predictions on the unlabeled training samples.

One JSON line per fit is appended to ``results/class_prior.jsonl``;
``--summary`` writes ``results/class_prior.md``.

Usage::

    python benchmarks/class_prior.py --protocols digits-50 fmnist2k-100 --draws 0 1 2 3 4 5 6 7
    python benchmarks/class_prior.py --summary
"""

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _protocols import fit_defaults, mean_sd, run_draws, split

RESULTS = Path(__file__).parent / "results"


def rescale(proba, weights):
    """Each row of ``proba`` times ``weights``, renormalised to sum to one."""
    scaled = proba * weights
    return scaled / scaled.sum(axis=1, keepdims=True)


def prior_weights(reference, prior, steps):
    """The class weights after ``steps`` steps towards ``prior`` of ``reference``'s mean row.

    Each step multiplies the weights by ``prior / mean(rescale(reference,
    weights))``; zero steps give weights of one.
    """
    weights = np.ones(reference.shape[1])
    for _ in range(steps):
        weights = weights * prior / rescale(reference, weights).mean(axis=0)
    return weights


def measure(protocol, draw, steps=(1, 10)):
    """One fit on one draw; validation errors for 0 and each number of steps."""
    clf, X_fit, X_val, labels, seconds = fit_defaults(protocol, draw)
    y_partial = split(protocol, draw)[1]
    unlabeled = y_partial == -1
    counts = np.bincount(np.searchsorted(clf.classes_, y_partial[~unlabeled]),
                         minlength=len(clf.classes_))
    prior = counts / counts.sum()
    row = {"protocol": protocol, "draw": draw, "fit_seconds": seconds,
           "prior": prior.tolist()}
    k = clf.vote_neighbors
    for name, neighbors in (("vote", k), ("network", 0)):
        clf.set_params(vote_neighbors=neighbors)
        val, reference = clf.predict_proba(X_val), clf.predict_proba(X_fit[unlabeled])
        row[name] = {str(s): 100.0 * float(np.mean(np.argmax(
            rescale(val, prior_weights(reference, prior, s)), axis=1) != labels))
            for s in (0, *steps)}
    clf.set_params(vote_neighbors=k)
    return row


def write_summary(path, out):
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    lines = [
        "# Predictions rescaled towards the labeled samples' class shares",
        "",
        (f"Written by `python benchmarks/class_prior.py --summary` from `{path.name}`. "
         "Validation"),
        "error in % (mean ± sd over the label draws; validation splits of the training data",
        "only) of one fit of the defaults per draw, its class distributions rescaled so that",
        "their mean over the unlabeled training samples comes nearer to the labeled samples'",
        "class shares, by the number of rescaling steps (0: as predicted). `vote`: the",
        "estimator's prediction, `network`: `q(y|x)` alone. In brackets: on how many draws",
        "the error was lower / higher than with 0 steps.",
        "",
    ]
    by_protocol = {}
    for row in rows:
        by_protocol.setdefault(row["protocol"], {})[row["draw"]] = row
    for protocol, by_draw in by_protocol.items():
        own = [by_draw[d] for d in sorted(by_draw)]
        lines += [f"## {protocol}", "",
                  (f"{len(own)} draws ({' '.join(str(r['draw']) for r in own)}); median fit "
                   f"{np.median([r['fit_seconds'] for r in own]):.0f} s."),
                  "", "| steps | vote | network |", "| --- | --- | --- |"]
        for s in own[0]["vote"]:
            cells = []
            for name in ("vote", "network"):
                values = np.array([r[name][s] for r in own])
                base = np.array([r[name]["0"] for r in own])
                cell = mean_sd(values)
                if s != "0":
                    cell += f" ({int(np.sum(values < base))} / {int(np.sum(values > base))})"
                cells.append(cell)
            lines.append(f"| {s} | {cells[0]} | {cells[1]} |")
        lines.append("")
    out.write_text("\n".join(lines))
    print("\n".join(lines))


def add_options(parser):
    parser.add_argument("--steps", nargs="+", type=int, default=[1, 10],
                        help="numbers of rescaling steps besides 0")


def report(row):
    return (f"({row['fit_seconds']:.0f} s) vote "
            + " ".join(f"{s}:{e:.2f}" for s, e in row["vote"].items()) + ", network "
            + " ".join(f"{s}:{e:.2f}" for s, e in row["network"].items()))


def main(argv=None):
    run_draws(__doc__.split("\n")[0], measure, write_summary, report,
              RESULTS / "class_prior.jsonl", argv, add_options)


if __name__ == "__main__":
    main()
