"""Held-out error and the loss's parts after every epoch of a fit, for each objective.

For each protocol (``fmnist-100``, ``digits-50``; validation splits of the
training data, see ``_protocols.py``) and each objective (``m2``,
``smooth-elbo``, ``shot`` and the network on the labels alone), the
classifier is fitted with the estimator's defaults on one or more label
draws; after every epoch the error on the held-out images and the epoch's
mean loss terms are recorded. ``--setting NAME JSON`` adds fits with other
parameters (for example the previous defaults) for comparison.

Draws the error per epoch beside the unlabeled reconstruction term (the
paper's Fig. 5: accuracy as the ELBO improves) and writes
``benchmarks/results/trajectory.png``, ``trajectory.json`` and
``trajectory.md``.

Usage: ``python benchmarks/trajectory.py [--quick] [--draws 0 1 2] [--protocols digits-50]``
(``--quick``: 3 epochs on Fashion-MNIST, for a smoke run). A run replaces the
protocols it measures and keeps the others.
"""

import argparse
import json
import platform
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _protocols import run, threads

RESULTS = Path(__file__).parent / "results"
OBJECTIVES = {"m2": "m2", "smooth-elbo": "smooth-elbo", "shot": "shot",
              "labeled-only": "supervised"}


def curves(protocols, draws, settings, epochs):
    """``{protocol: {name: [result per draw]}}``."""
    out = {}
    for protocol in protocols:
        out[protocol] = {}
        for name, params in settings.items():
            fit_params = dict(params)
            if epochs.get(protocol):
                fit_params.setdefault("max_epochs", epochs[protocol])
            for draw in draws:
                result = run(protocol, draw, fit_params)
                out[protocol].setdefault(name, []).append(result)
                print(f"{protocol:10s} {name:24s} draw {draw}: final {result['val_error']:5.1f} %,"
                      f" best {min(result['curve']):5.1f} % ({result['seconds']:.0f} s)",
                      flush=True)
    return out


def _mean_curve(runs, key=None):
    series = [r["curve"] if key is None else r["parts"].get(key) for r in runs]
    series = [s for s in series if s and None not in s]
    return np.mean(series, axis=0) if series else None


def plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(results), 2, figsize=(11, 3.6 * len(results)), squeeze=False)
    for row, (protocol, by_name) in zip(axes, results.items()):
        for i, (name, runs) in enumerate(by_name.items()):
            error = _mean_curve(runs)
            epochs = np.arange(1, len(error) + 1)
            style = {"linestyle": "--" if name not in OBJECTIVES else "-", "color": f"C{i}"}
            row[0].plot(epochs, error, label=name, **style)
            rec = _mean_curve(runs, "rec_u")
            if rec is not None:
                row[1].plot(epochs, rec, label=name, **style)
        row[0].set(title=f"{protocol}: held-out error", xlabel="epoch", ylabel="error (%)")
        row[1].set(title=f"{protocol}: unlabeled reconstruction -log p(x|z,y)",
                   xlabel="epoch", ylabel="nats per sample")
        row[0].legend(fontsize=8)
        row[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def write(results, args):
    RESULTS.mkdir(exist_ok=True)
    stem = "trajectory-quick" if args.quick else "trajectory"
    (RESULTS / f"{stem}.json").write_text(json.dumps(results))
    plot(results, RESULTS / f"{stem}.png")
    lines = [
        "# Held-out error during training",
        "",
        (f"`python benchmarks/trajectory.py{' --quick' if args.quick else ''}`; label draws "
         f"{args.draws}; {platform.machine()}, {threads()} PyTorch threads. Validation splits"),
        "of the training data (never a test split). Error in % after the first, middle and last",
        "epochs and its minimum over the epochs (mean over the draws).",
        "",
        f"![held-out error per epoch]({stem}.png)",
        "",
        "| protocol | setting | epoch 1 | middle | last | best (epoch) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for protocol, by_name in results.items():
        for name, runs in by_name.items():
            error = _mean_curve(runs)
            best = int(np.argmin(error))
            lines.append(f"| {protocol} | {name} | {error[0]:.1f} | {error[len(error) // 2]:.1f}"
                         f" | {error[-1]:.1f} | {error[best]:.1f} ({best + 1}) |")
    seconds = [r["seconds"] for by in results.values() for runs in by.values() for r in runs]
    lines += ["", f"Total fit time {statistics.fsum(seconds) / 60:.1f} minutes."]
    (RESULTS / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--protocols", nargs="+", default=["digits-50", "fmnist-100"])
    parser.add_argument("--draws", nargs="+", type=int, default=[0])
    parser.add_argument("--epochs", type=json.loads, default={},
                        help='max_epochs per protocol, e.g. \'{"fmnist-100": 30}\'')
    parser.add_argument("--setting", nargs=2, action="append", default=[],
                        metavar=("NAME", "JSON"))
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    settings = {name: {"objective": objective} for name, objective in OBJECTIVES.items()}
    settings.update({name: json.loads(text) for name, text in args.setting})
    epochs = dict(args.epochs)
    if args.quick:
        epochs = {"fmnist-100": 3, "digits-50": 20, **epochs}
    results = curves(args.protocols, args.draws, settings, epochs)
    previous = RESULTS / f"trajectory{'-quick' if args.quick else ''}.json"
    if previous.exists():  # keep the protocols that this run does not measure
        results = {**json.loads(previous.read_text()), **results}
    write(results, args)


if __name__ == "__main__":
    main()
