"""The time of a default fit on Fashion-MNIST's 60 000 training images, and where it goes.

Fits :class:`skshot.ShotVAEClassifier` with its defaults (``input_shape``
given) on all 60 000 training images with 10 labels per class, with all the
PyTorch threads the machine has, and splits the fit's time into

- the training epochs (the sum of the history's ``dur``: the steps, and the
  work of the callbacks between them);
- the label propagation's refreshes of the pseudo-labels
  (:meth:`skshot._net.ShotVAENet.refresh_pseudo_labels`, timed around each
  call), which run before an epoch's timer starts;
- the rest: validation of the inputs, set-up, the training samples'
  ``label_distributions_`` and the vote's copy of the samples.

Writes ``results/fit_time.md`` and ``results/fit_time.json``.

Usage::

    python benchmarks/fit_time.py [--n-samples 60000]
"""

import argparse
import json
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _protocols import threads

from skshot import ShotVAEClassifier
from skshot._net import ShotVAENet
from skshot.datasets import load_fashion_mnist, mask_labels

RESULTS = Path(__file__).parent / "results"


def timed_fit(X, y):
    """``(clf, seconds of the fit, seconds of each label-propagation refresh)``."""
    refreshes = []
    original = ShotVAENet.refresh_pseudo_labels

    def timed(net, data):
        start = time.perf_counter()
        original(net, data)
        refreshes.append(time.perf_counter() - start)

    ShotVAENet.refresh_pseudo_labels = timed
    try:
        clf = ShotVAEClassifier(input_shape=(1, 28, 28), random_state=0)
        start = time.perf_counter()
        clf.fit(X, y)
        seconds = time.perf_counter() - start
    finally:
        ShotVAENet.refresh_pseudo_labels = original
    return clf, seconds, refreshes


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=60_000)
    parser.add_argument("--out", type=Path, default=RESULTS / "fit_time.json")
    args = parser.parse_args(argv)
    n_threads = threads()
    X, y = load_fashion_mnist(subset="train", return_X_y=True)
    X, y = X[:args.n_samples], mask_labels(y[:args.n_samples], 10, random_state=0)
    clf, seconds, refreshes = timed_fit(X, y)
    epochs = [float(d) for d in clf.net_.history[:, "dur"]]
    result = {"date": time.strftime("%Y-%m-%d"), "machine": platform.platform(),
              "threads": n_threads, "n_samples": len(X), "epochs": len(epochs),
              "steps_per_epoch": int(clf.net_.history[-1, "train_batch_count"]),
              "fit_seconds": seconds, "epoch_seconds": epochs, "refresh_seconds": refreshes,
              "backbone": clf.backbone_, "augmentation": clf.augmentation_,
              "mixed_precision": clf.mixed_precision_}
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    rest = seconds - sum(epochs) - sum(refreshes)
    lines = [
        "# The time of a default fit on 60 000 images", "",
        (f"Written by `python benchmarks/fit_time.py` on {result['date']}, {result['machine']}, "
         f"{n_threads} PyTorch threads, nothing else running: `ShotVAEClassifier` with its "
         f"defaults on the first {len(X)} Fashion-MNIST training images, 10 labels per class "
         f"({result['epochs']} epochs of {result['steps_per_epoch']} steps); the defaults chose "
         f"`backbone={clf.backbone_!r}`, `augmentation={clf.augmentation_!r}`, "
         f"`mixed_precision={clf.mixed_precision_!r}` on this machine."), "",
        "| part | seconds | share |", "| --- | --- | --- |",
        f"| the fit | {seconds:.0f} | 100 % |",
        (f"| the training epochs (median {sorted(epochs)[len(epochs) // 2]:.1f} s) | "
         f"{sum(epochs):.0f} | {100 * sum(epochs) / seconds:.0f} % |"),
        (f"| {len(refreshes)} label-propagation refreshes (each "
         f"{min(refreshes, default=0):.1f}–{max(refreshes, default=0):.1f} s) | "
         f"{sum(refreshes):.0f} | {100 * sum(refreshes) / seconds:.0f} % |"),
        f"| the rest | {rest:.0f} | {100 * rest / seconds:.0f} % |", ""]
    args.out.with_suffix(".md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
