"""Training and prediction throughput of ShotVAEClassifier.

Measures, in one run and side by side:

1. training samples per second of ``ShotVAEClassifier.fit`` against a minimal
   hand-written PyTorch loop that computes the same loss on the same module
   with the same batches, the two alternated several times (ratio of medians),
   for the whole fit and for its training epochs alone (what starts and ends
   a fit, outside the raw loop, is timed apart);
   both set the tiny numbers to zero after each step (:mod:`skshot.numerics`),
   whose share of a step is measured too;
2. the optimal match's share of a training step (``objective="shot"``) at
   unlabeled batch sizes 128, 512 and 1024;
3. ``predict_proba`` samples per second;
4. the peak resident memory of a fit on Fashion-MNIST (in a fresh process).

Writes ``benchmarks/results/throughput.md`` and ``throughput.json``.

Usage: ``python benchmarks/throughput.py [--quick]``.
"""

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from skshot import ShotVAEClassifier, losses, numerics
from skshot._data import SemiSupervisedBatches, SemiSupervisedData
from skshot.datasets import load_fashion_mnist, mask_labels
from skshot.objectives import SemiSupervisedObjective

RESULTS = Path(__file__).parent / "results"


def fashion(n_samples, seed=0):
    X, y = load_fashion_mnist(subset="train", return_X_y=True)
    rng = np.random.RandomState(seed)
    rows = rng.choice(len(X), n_samples, replace=False)
    return X[rows], mask_labels(y[rows], 10, random_state=seed)


def estimator(epochs, **params):
    return ShotVAEClassifier(max_epochs=epochs, lr_schedule="constant", random_state=0,
                             **params)


def time_estimator_fit(X, y, epochs):
    """``(seconds of the whole fit, seconds of its training epochs, the fitted model)``.

    The epochs' seconds are skorch's ``dur`` of each epoch: the training steps and the
    per-epoch callbacks, without what starts a fit (checking the data, building the
    network) and what ends it (``label_distributions_``, the vote's copy of the samples).
    """
    clf = estimator(epochs)
    start = time.perf_counter()
    clf.fit(X, y)
    return time.perf_counter() - start, sum(clf.history_[:, "dur"]), clf


def time_raw_loop(X, y, epochs, template):
    """The same module, objective, optimizer, batches and tiny-number flush, without skorch."""
    net = template.net_
    module = type(net.module_)(**net.get_params_for("module"))
    objective = SemiSupervisedObjective(**net.get_params_for("criterion"))
    optimizer = net.optimizer(module.parameters(), lr=net.lr, **net.get_params_for("optimizer"))
    labeled = y != -1
    classes = np.unique(y[labeled])
    data = SemiSupervisedData(torch.tensor(X[labeled]),
                              torch.tensor(np.searchsorted(classes, y[labeled])),
                              torch.tensor(X))
    batches = SemiSupervisedBatches(data, template.batch_size_labeled,
                                    template.batch_size_unlabeled, torch.Generator())
    n_steps = epochs * len(batches)
    start = time.perf_counter()
    step = 0
    for epoch in range(epochs):
        batches.generator.manual_seed(epoch)
        for (x_l, y_l), x_u, _ in batches:
            step += 1
            weight = losses.warmup_weight(step / n_steps, template.gamma)
            optimizer.zero_grad()
            loss, _ = objective(module, x_l, y_l, x_u, ot_weight=weight)
            loss.backward()
            optimizer.step()
            numerics.flush_training_state_(module.parameters(), optimizer)
        float(loss.detach())  # one read per epoch, as the estimator does
    return time.perf_counter() - start


def fit_throughput(X, y, epochs, repeats):
    *_, template = time_estimator_fit(X, y, 1)  # warm-up, and the template of the raw loop
    fit_times, epoch_times, raw_times = [], [], []
    for _ in range(repeats):
        fit_seconds, epoch_seconds, _ = time_estimator_fit(X, y, epochs)
        fit_times.append(fit_seconds)
        epoch_times.append(epoch_seconds)
        raw_times.append(time_raw_loop(X, y, epochs, template))
    n = len(X) * epochs
    fit_rate, raw_rate = n / statistics.median(fit_times), n / statistics.median(raw_times)
    epoch_rate = n / statistics.median(epoch_times)
    step_seconds = statistics.median(raw_times) / (epochs * template.net_._n_train_batches)
    return {"fit_samples_per_s": fit_rate, "fit_epochs_samples_per_s": epoch_rate,
            "raw_loop_samples_per_s": raw_rate, "ratio": fit_rate / raw_rate,
            "epochs_ratio": epoch_rate / raw_rate,
            "fit_overhead_seconds": statistics.median(
                [f - e for f, e in zip(fit_times, epoch_times)]),
            "epochs": epochs, "n_samples": len(X), "repeats": repeats,
            "flush_share": flush_seconds(template.net_) / step_seconds}


def flush_seconds(net, repeats=20):
    """Median time of one flush of the tiny numbers after a step (:mod:`skshot.numerics`)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        net.flush_tiny_numbers()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def match_share(X, y, batch_sizes, repeats):
    """Share of one "shot" training step spent in the optimal match."""
    clf = estimator(1).fit(X[:1024], y[:1024])
    module, objective = clf.net_.module_, clf.net_.criterion_
    optimizer = torch.optim.SGD(module.parameters(), lr=1e-3)
    x_l = torch.tensor(X[:64])
    y_l = torch.zeros(64, dtype=torch.long)
    out = {}
    for bs in batch_sizes:
        x_u = torch.tensor(X[:bs])
        step_times, match_times = [], []
        for _ in range(repeats):
            start = time.perf_counter()
            optimizer.zero_grad()
            loss, _ = objective(module, x_l, y_l, x_u, ot_weight=1.0)
            loss.backward()
            optimizer.step()
            step_times.append(time.perf_counter() - start)
            with torch.no_grad():
                mu, logvar, _ = module.encode(x_u)
                start = time.perf_counter()
                losses.optimal_match(mu, logvar)
                match_times.append(time.perf_counter() - start)
        out[bs] = statistics.median(match_times) / statistics.median(step_times)
    return out


def predict_rate(clf, X, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        clf.predict_proba(X)
        times.append(time.perf_counter() - start)
    return len(X) / statistics.median(times)


PEAK_RSS = """
import resource, sys, time
import numpy as np
from skshot import ShotVAEClassifier
from skshot.datasets import load_fashion_mnist, mask_labels
X, y = load_fashion_mnist(subset="train", return_X_y=True)
n = int(sys.argv[1])
X, y = X[:n], mask_labels(y[:n], 10, random_state=0)
start = time.perf_counter()
ShotVAEClassifier(max_epochs=1, random_state=0).fit(X, y)
print(time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller data, fewer repeats")
    args = parser.parse_args()
    n_fit, epochs, repeats = (4096, 1, 3) if args.quick else (20000, 2, 5)
    n_rss = 10000 if args.quick else 60000

    X, y = fashion(max(n_fit, 4096))
    results = {"date": time.strftime("%Y-%m-%d"), "machine": platform.platform(),
               "processor": platform.processor() or platform.machine(),
               "torch_threads": torch.get_num_threads(), "profile": "quick" if args.quick
               else "full"}
    results["fit"] = fit_throughput(X[:n_fit], y[:n_fit], epochs, repeats)
    results["optimal_match_share"] = match_share(X, y, (128, 512, 1024), 5 if args.quick
                                                 else 10)
    clf = estimator(1).fit(X[:2048], y[:2048])
    results["predict_proba_samples_per_s"] = predict_rate(clf, X[:4096], repeats)
    out = subprocess.run([sys.executable, "-c", PEAK_RSS, str(n_rss)], capture_output=True,
                         text=True, check=True)
    seconds, rss_kb = out.stdout.split()
    results["fashion_mnist_fit"] = {"n_samples": n_rss, "epoch_seconds": float(seconds),
                                    "peak_rss_mib": int(rss_kb) / 1024}
    write(results)


def write(results):
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "throughput.json").write_text(json.dumps(results, indent=2) + "\n")
    fit = results["fit"]
    share = results["optimal_match_share"]
    rss = results["fashion_mnist_fit"]
    lines = [
        "# Throughput",
        "",
        (f"Measured {results['date']} on {results['machine']} ({results['processor']}, "
        f"{results['torch_threads']} torch threads), profile `{results['profile']}`. "
        "Default MLP (500, 500), z = 10, objective `shot`, Fashion-MNIST images."),
        "",
        "| measure | value |",
        "| --- | --- |",
        f"| `fit` training samples/s | {fit['fit_samples_per_s']:.0f} |",
        (f"| raw PyTorch loop samples/s (same module, loss, batches) | "
        f"{fit['raw_loop_samples_per_s']:.0f} |"),
        f"| ratio `fit` / raw loop, whole fit | {fit['ratio']:.3f} |",
        (f"| ratio `fit` / raw loop, the training epochs only (target >= 0.9) | "
        f"{fit['epochs_ratio']:.3f} |"),
        (f"| start and end of a `fit`, outside its epochs | "
        f"{fit['fit_overhead_seconds']:.2f} s |"),
        f"| tiny-number flush share of a step, in both | {100 * fit['flush_share']:.1f} % |",
        *(f"| optimal match share of a step, unlabeled batch {bs} | {100 * s:.1f} % |"
          for bs, s in share.items()),
        f"| `predict_proba` samples/s | {results['predict_proba_samples_per_s']:.0f} |",
        (f"| one default epoch over {rss['n_samples']} Fashion-MNIST images | "
        f"{rss['epoch_seconds']:.1f} s |"),
        f"| peak resident memory of that fit | {rss['peak_rss_mib']:.0f} MiB |",
        "",
        (f"`fit` and the raw loop ran alternately, {fit['repeats']} times each, "
        f"{fit['epochs']} epoch(s) over {fit['n_samples']} images; the rates are medians. "
        "The whole `fit` also does what the raw loop lacks: at its start it checks the data "
        "and builds the network; at its end it computes the training samples' "
        "`label_distributions_` and the vote's copy of them. The epochs' ratio leaves "
        "these out (skorch's `dur` of each epoch): a default fit has tens of epochs, a "
        "start and an end."),
    ]
    (RESULTS / "throughput.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
