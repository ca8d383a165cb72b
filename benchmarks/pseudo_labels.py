"""How good are the pseudo-labels of ``propagation_weight``, and does the network follow them?

For each protocol and label draw (``_protocols.py``: validation splits of the
training data only), this script fits ``ShotVAEClassifier(propagation_weight=1)``
and records, at every refresh of the pseudo-labels, the share of unlabeled
training samples whose pseudo-label is their true class, beside the network's
validation error after every epoch.

Usage::

    python benchmarks/pseudo_labels.py [--protocols digits-50 fmnist-100] [--draws 0] \
        [--params '{"max_epochs": 20}']

It writes ``benchmarks/results/pseudo_labels.md``.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _protocols import PROTOCOLS, split, threads

from skshot import ShotVAEClassifier
from skshot._net import ShotVAENet
from skshot.callbacks import HeldOutAccuracy

RESULTS = Path(__file__).parent / "results"


def measure(protocol, draw, params=None):
    """``(refreshes, curve)``: (epoch, pseudo-label accuracy %) pairs and the validation error %."""
    X_fit, y_partial, X_val, y_val, y_fit = split(protocol, draw)
    unlabeled = y_partial == -1
    refreshes = []
    original = ShotVAENet.refresh_pseudo_labels

    def recording(net, data):
        original(net, data)
        labels = data.pseudo_labels[0].cpu().numpy()
        right = np.mean(net.classes[labels[unlabeled]] == y_fit[unlabeled])
        refreshes.append((len(net.history), 100.0 * float(right)))

    ShotVAENet.refresh_pseudo_labels = recording
    try:
        clf = ShotVAEClassifier(**{"random_state": draw, "propagation_weight": 1.0,
                                   **(params or {})},
                                callbacks=[HeldOutAccuracy(X_val, y_val)]).fit(X_fit, y_partial)
    finally:
        ShotVAENet.refresh_pseudo_labels = original
    curve = [100.0 * (1.0 - a) for a in clf.history_[:, "heldout_acc"]]
    return refreshes, curve


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--protocols", nargs="+", choices=list(PROTOCOLS),
                        default=["digits-50", "fmnist-100"])
    parser.add_argument("--draws", nargs="+", type=int, default=[0])
    parser.add_argument("--params", type=json.loads, default={},
                        help="further ShotVAEClassifier parameters (JSON)")
    parser.add_argument("--out", type=Path, default=RESULTS / "pseudo_labels.md")
    args = parser.parse_args(argv)
    print(f"{threads()} PyTorch threads", flush=True)
    lines = [
        "# Pseudo-labels of the label propagation against the network's error: "
        + ", ".join(args.protocols),
        "",
        "Written by `python benchmarks/pseudo_labels.py`.",
        "`ShotVAEClassifier(propagation_weight=1)`, the other parameters at their defaults",
        "unless named here, on validation protocols (training data only). Further",
        f"parameters: `{json.dumps(args.params)}`.",
        "Pseudo-labels: the share (%) of unlabeled training samples whose pseudo-label is their",
        "class, at the start of each epoch where they were computed. Error: the validation error",
        "(%) after the epoch before that refresh, and at the end of the fit.",
        "",
        "| protocol | draw | epoch | pseudo-labels right | network's error before | final error |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for protocol in args.protocols:
        for draw in args.draws:
            refreshes, curve = measure(protocol, draw, args.params)
            for epoch, right in refreshes:
                before = f"{curve[epoch - 2]:.1f}" if epoch >= 2 else "–"
                lines.append(f"| {protocol} | {draw} | {epoch} | {right:.1f} | {before} | "
                             f"{curve[-1]:.1f} |")
                print(lines[-1], flush=True)
    args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
