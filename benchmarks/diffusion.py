"""How right the label propagation's pseudo-labels are, by the length of its diffusion.

:func:`skshot.propagation.diffuse_labels` sums the first ``n_iter + 1``
terms of the series ``sum_t alpha^t S^t Y`` (the estimator uses 20 after
the first), a truncation of the solution ``(I - alpha S)^(-1) Y`` that
Iscen et al. compute exactly. This script measures, on each label draw of
each protocol (``_protocols.py``: validation splits of the training data
only, never a test split; the graph of the samples themselves,
``propagation_features="input"``, so that no network is trained), the share
of unlabeled training samples whose pseudo-label is their class after
``--iters`` terms, with the plain ``argmax`` of eq. 11 and with class mass
normalisation (each class's column of the normalised scores divided by its
sum before the ``argmax``, as Zhu et al. 2003 balance a harmonic solution).

One JSON line per draw is appended to ``results/diffusion.jsonl``;
``--summary`` writes ``results/diffusion.md``.

Usage::

    python benchmarks/diffusion.py --protocols digits-50 fmnist-100 --draws 0 1 2
    python benchmarks/diffusion.py --summary
"""

import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from _protocols import mean_sd, run_draws, split

from skshot import propagation

RESULTS = Path(__file__).parent / "results"
ITERS = (20, 50, 100, 400)
NEIGHBORS = 10  # the estimator's default propagation_neighbors


def class_mass_normalised(Z):
    """Each row of ``Z`` normalised to sum 1, then each class's column divided by its sum."""
    p = Z / Z.sum(dim=1, keepdim=True).clamp(min=1e-30)
    return p / p.sum(dim=0, keepdim=True).clamp(min=1e-30)


def measure(protocol, draw, iters=ITERS):
    """The shares (%) of right pseudo-labels on one draw, after each number of terms."""
    X_fit, y_partial, _, _, y_fit = split(protocol, draw)
    start = time.perf_counter()
    flat = torch.from_numpy(np.ascontiguousarray(X_fit.reshape(len(X_fit), -1), np.float32))
    classes = np.unique(y_partial[y_partial >= 0])
    y_index = torch.from_numpy(np.where(y_partial >= 0, np.searchsorted(classes, y_partial), -1))
    features = propagation.graph_features(flat)
    S = propagation.normalize_affinity(
        propagation.knn_affinity(features, min(NEIGHBORS, len(flat) - 1)))
    unlabeled = (y_index < 0).numpy()
    truth = np.searchsorted(classes, y_fit)[unlabeled]
    row = {"protocol": protocol, "draw": draw, "iters": list(iters)}
    for name in ("argmax", "class mass"):
        row[name] = []
    for n_iter in iters:
        Z = propagation.diffuse_labels(S, y_index, len(classes), n_iter=n_iter)
        for name, scores in (("argmax", Z), ("class mass", class_mass_normalised(Z))):
            row[name].append(100.0 * float(np.mean(scores.argmax(dim=1).numpy()[unlabeled]
                                                   == truth)))
    row["seconds"] = time.perf_counter() - start
    return row


def report(row):
    return ", ".join(f"{n}: {a:.2f} / {c:.2f}"
                     for n, a, c in zip(row["iters"], row["argmax"], row["class mass"]))


def write_summary(path, out):
    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    lines = [
        "# Pseudo-labels of the label propagation by the length of its diffusion",
        "",
        (f"Written by `python benchmarks/diffusion.py --summary` from `{Path(path).name}`. "
         "The share"),
        "(%, mean ± sd over the label draws) of unlabeled training samples whose pseudo-label",
        "is their class, on the graph of the samples themselves (10 neighbours, 64 principal",
        "axes; validation protocols, training data only), after the number of terms of the",
        "diffusion given (the estimator: 20), with the `argmax` of eq. 11 and with class mass",
        "normalisation.",
        "",
    ]
    for protocol in dict.fromkeys(r["protocol"] for r in rows):
        own = {r["draw"]: r for r in rows if r["protocol"] == protocol}
        own = [own[d] for d in sorted(own)]
        iters = own[0]["iters"]
        lines += [f"## {protocol}", "",
                  f"{len(own)} draws ({' '.join(str(r['draw']) for r in own)}).", "",
                  "| terms | argmax | class mass |", "| --- | --- | --- |"]
        for i, n in enumerate(iters):
            lines.append(f"| {n} | {mean_sd([r['argmax'][i] for r in own])} | "
                         f"{mean_sd([r['class mass'][i] for r in own])} |")
        lines.append("")
    Path(out).write_text("\n".join(lines))
    print("\n".join(lines))


def main(argv=None):
    run_draws(__doc__.split("\n")[0], measure, write_summary, report,
              RESULTS / "diffusion.jsonl", argv)


if __name__ == "__main__":
    main()
