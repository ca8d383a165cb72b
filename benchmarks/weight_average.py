"""Validation error of predictions made with moving averages of the trained weights.

A fit's last weights carry the noise of its last steps. Predicting with an
average of the weights over the end of training instead (Polyak averaging,
the "teacher" of mean-teacher methods, stochastic weight averaging) is a
common way to lower the error of noisy, semi-supervised training and to
keep longer training from making a model worse. The averages do not change
the training, so each label draw of each protocol (``_protocols.py``:
validation splits of the training data only, never a test split) is fitted
once with the estimator's defaults (or ``--params``), and a callback keeps,
beside the trained weights, exponential moving averages of them whose
horizon is a fraction of the fit's training steps (``--fractions``; the
decay ``1 - 1 / (fraction * steps)``, with the mean-teacher ramp of
``ot_target_ema``: early on an average of the steps so far). At the end of
the fit the validation error is measured with the last weights and with
each average loaded in their place, each time predicting with the network
alone (``vote_neighbors=0``) and with the defaults' vote, whose
``label_distributions_`` are computed again from the weights in use.

One JSON line per fit is appended to ``results/weight_average.jsonl``;
``--summary`` writes ``results/weight_average.md``: per protocol and
average, the mean validation error over the draws and on how many draws it
was lower and higher than the last weights.

Usage::

    python benchmarks/weight_average.py --protocols digits-50 --draws 0 1 2 3 4 5 6 7
    python benchmarks/weight_average.py --protocols wine-30 --params '{"max_epochs": 300}' \\
        --out benchmarks/results/weight_average-3x.jsonl
    python benchmarks/weight_average.py --summary
"""

import json
import sys
from pathlib import Path

import numpy as np
import torch
from skorch.callbacks import Callback

sys.path.insert(0, str(Path(__file__).parent))
from _protocols import fit_defaults, mean_sd, run_draws, split

from skshot._labels import encode_partial_labels
from skshot.losses import ema_update

RESULTS = Path(__file__).parent / "results"
FRACTIONS = (0.02, 0.05, 0.1, 0.25)


class WeightAverages(Callback):
    """Exponential moving averages of a net's module weights, one per fraction of its steps."""

    def __init__(self, fractions):
        self.fractions = fractions

    def on_train_begin(self, net, **kwargs):
        self.averages_ = {f: [p.detach().clone() for p in net.module_.parameters()]
                          for f in self.fractions}
        self.step_ = 0

    def on_batch_end(self, net, training=False, **kwargs):
        if not training:
            return
        self.step_ += 1
        total = net.max_epochs * net._n_train_batches
        weights = list(net.module_.parameters())
        for fraction, average in self.averages_.items():
            decay = min(1.0 - 1.0 / max(fraction * total, 1.0), 1.0 - 1.0 / (self.step_ + 1))
            ema_update(average, weights, max(decay, 0.0))


def errors(clf, X_fit, labeled, given_index, X_val, labels):
    """``(vote, network)``: validation errors (%) with the weights now in the module."""
    clf.label_distributions_, clf.transduction_ = clf._transduce(X_fit, labeled, given_index)
    k = clf.vote_neighbors
    network = clf.set_params(vote_neighbors=0).predict_proba(X_val)
    vote = clf.set_params(vote_neighbors=k).predict_proba(X_val)
    return tuple(100.0 * float(np.mean(np.argmax(p, axis=1) != labels)) for p in (vote, network))


def measure(protocol, draw, params=None, fractions=FRACTIONS):
    """One fit on one draw; the validation errors of its last weights and of each average."""
    given = dict(params or {})
    clf, X_fit, X_val, labels, seconds = fit_defaults(
        protocol, draw, callbacks=[WeightAverages(fractions)], **given)
    # the fitted net's own copy of the callback
    averages = next(cb for _, cb in clf.net_.callbacks_ if isinstance(cb, WeightAverages))
    labeled, _, given_index = encode_partial_labels(split(protocol, draw)[1])
    module = clf.net_.module_
    last = [p.detach().clone() for p in module.parameters()]
    row = {"protocol": protocol, "draw": draw, "params": given, "fit_seconds": seconds,
           "steps": averages.step_}
    row["last"] = errors(clf, X_fit, labeled, given_index, X_val, labels)
    with torch.no_grad():
        for fraction, average in averages.averages_.items():
            for p, a in zip(module.parameters(), average):
                p.copy_(a)
            row[f"ema{fraction:g}"] = errors(clf, X_fit, labeled, given_index, X_val, labels)
        for p, w in zip(module.parameters(), last):
            p.copy_(w)
    return row


def write_summary(path, out):
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    lines = [
        "# Predicting with moving averages of the weights",
        "",
        (f"Written by `python benchmarks/weight_average.py --summary` from `{path.name}`. "
         "Validation"),
        "error in % (mean ± sd over the label draws; validation splits of the training data",
        "only) of one fit per draw, predicting with its last weights or with an exponential",
        "moving average of its weights whose horizon is the given fraction of the fit's",
        "training steps; `vote`: the estimator's prediction (the network blended with the vote",
        "of the nearest training samples, whose `label_distributions_` come from the same",
        "weights), `network`: `q(y|x)` alone. In brackets: on how many draws the average's error",
        "was lower / higher than the last weights'.",
        "",
    ]
    groups = {}
    for row in rows:
        key = (row["protocol"], json.dumps(row.get("params", {}), sort_keys=True))
        groups.setdefault(key, {})[row["draw"]] = row  # a later fit of a draw replaces one
    for (protocol, params), by_draw in groups.items():
        own = [by_draw[d] for d in sorted(by_draw)]
        names = [k for k in own[0] if k == "last" or k.startswith("ema")]
        steps = int(np.median([r["steps"] for r in own]))
        lines += [f"## {protocol}, parameters `{params}`", "",
                  (f"{len(own)} draws ({' '.join(str(r['draw']) for r in own)}); {steps} "
                   f"steps a fit; median fit {np.median([r['fit_seconds'] for r in own]):.0f} s."),
                  "", "| weights | vote | network |", "| --- | --- | --- |"]
        for name in names:
            cells = []
            for i in (0, 1):
                values = np.array([r[name][i] for r in own])
                cell = mean_sd(values)
                if name != "last":
                    base = np.array([r["last"][i] for r in own])
                    cell += f" ({int(np.sum(values < base))} / {int(np.sum(values > base))})"
                cells.append(cell)
            label = "last" if name == "last" else f"average over {name[3:]} of the steps"
            lines.append(f"| {label} | {cells[0]} | {cells[1]} |")
        lines.append("")
    out.write_text("\n".join(lines))
    print("\n".join(lines))


def add_options(parser):
    parser.add_argument("--params", type=json.loads, default={},
                        help="ShotVAEClassifier parameters other than the defaults (JSON)")
    parser.add_argument("--fractions", nargs="+", type=float, default=list(FRACTIONS))


def report(row):
    cells = ", ".join(f"{k} {v[0]:.2f}/{v[1]:.2f}" for k, v in row.items()
                      if k == "last" or k.startswith("ema"))
    return f"({row['fit_seconds']:.0f} s) {cells}"


def main(argv=None):
    run_draws(__doc__.split("\n")[0], measure, write_summary, report,
              RESULTS / "weight_average.jsonl", argv, add_options)


if __name__ == "__main__":
    main()
