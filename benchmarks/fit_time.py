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

``--params`` sets parameters on top of the defaults (a backbone that
``"auto"`` would not choose on this machine, fewer epochs to time a few).
Writes ``results/fit_time.md`` and ``results/fit_time.json`` (or ``--out``),
naming the CPU and whether it has bfloat16 instructions, on which the
``"auto"`` defaults depend; ``--summary`` writes the table of ``--out``'s
record again.

Usage::

    python benchmarks/fit_time.py [--n-samples 60000]
    python benchmarks/fit_time.py --params '{"backbone": "conv", "max_epochs": 3}' \\
        --out benchmarks/results/fit_time-conv-3-epochs.json
"""

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from _protocols import threads

from skshot import ShotVAEClassifier
from skshot._device import has_fast_bf16
from skshot._net import ShotVAENet
from skshot.datasets import load_fashion_mnist, mask_labels

RESULTS = Path(__file__).parent / "results"


def cpu_name():
    """The CPU's model name as Linux reports it, or :func:`platform.processor`."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def timed_fit(X, y, params=None):
    """``(clf, seconds of the fit, seconds of each label-propagation refresh)``."""
    refreshes = []
    original = ShotVAENet.refresh_pseudo_labels

    def timed(net, data):
        start = time.perf_counter()
        original(net, data)
        refreshes.append(time.perf_counter() - start)

    ShotVAENet.refresh_pseudo_labels = timed
    try:
        clf = ShotVAEClassifier(input_shape=(1, 28, 28), random_state=0, **(params or {}))
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
    parser.add_argument("--params", type=json.loads, default={},
                        help="ShotVAEClassifier parameters other than the defaults (JSON)")
    parser.add_argument("--summary", action="store_true",
                        help="write the table of --out's JSON record again, without a fit")
    args = parser.parse_args(argv)
    if args.summary:
        write_table(json.loads(args.out.read_text()), args.out.with_suffix(".md"))
        return
    n_threads = threads()
    X, y = load_fashion_mnist(subset="train", return_X_y=True)
    X, y = X[:args.n_samples], mask_labels(y[:args.n_samples], 10, random_state=0)
    clf, seconds, refreshes = timed_fit(X, y, args.params)
    epochs = [float(d) for d in clf.net_.history[:, "dur"]]
    result = {"date": time.strftime("%Y-%m-%d"), "machine": platform.platform(),
              "cpu": cpu_name(), "cpu_bf16": has_fast_bf16("cpu"),
              "cpu_avx512_bf16": avx512_bf16(), "params": args.params,
              "threads": n_threads, "n_samples": len(X), "epochs": len(epochs),
              "steps_per_epoch": int(clf.net_.history[-1, "train_batch_count"]),
              "fit_seconds": seconds, "epoch_seconds": epochs, "refresh_seconds": refreshes,
              "backbone": clf.backbone_, "augmentation": clf.augmentation_,
              "mixed_precision": clf.mixed_precision_}
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    write_table(result, args.out.with_suffix(".md"))


def avx512_bf16():
    """Whether this CPU has AVX-512 BF16 (bfloat16 dot products, without AMX's tiles)."""
    return bool(getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)())


def cpu_bf16(result):
    """Whether the run's CPU computed bfloat16 fast (AMX); None where its record does not say.

    Records from before the field existed say it through ``mixed_precision``:
    ``"auto"`` chose ``"bf16"`` only on such a CPU.
    """
    if "cpu_bf16" in result:
        return result["cpu_bf16"]
    return True if result.get("mixed_precision") == "bf16" else None


def title(result):
    """The table's heading: what was timed, and on which kind of CPU."""
    what = f"a fit with `{json.dumps(result['params'])}`" if result.get("params") \
        else "a default fit"
    cpu = {True: ", a CPU with AMX", False: ", a CPU without AMX"}.get(cpu_bf16(result), "")
    return f"# The time of {what} on {result['n_samples']} images{cpu}"


def write_table(result, out):
    """Write ``out``, the Markdown table of a run's ``result`` (its JSON record)."""
    seconds, epochs, refreshes = (result["fit_seconds"], result["epoch_seconds"],
                                  result["refresh_seconds"])
    rest = seconds - sum(epochs) - sum(refreshes)
    given = f" and `{json.dumps(result['params'])}`" if result.get("params") else ""
    cpu = ""
    if "cpu" in result:
        features = ("with AMX" if cpu_bf16(result) else
                    "with AVX-512 BF16, without AMX" if result.get("cpu_avx512_bf16") else
                    "without AMX")
        cpu = f"{result['cpu']} ({features}), "
    lines = [
        title(result), "",
        (f"Written by `python benchmarks/fit_time.py` on {result['date']}, {result['machine']}, "
         f"{cpu}{result['threads']} PyTorch threads, nothing else running: "
         f"`ShotVAEClassifier` with its defaults{given} on the first {result['n_samples']} "
         f"Fashion-MNIST training images, 10 labels per class ({result['epochs']} epochs of "
         f"{result['steps_per_epoch']} steps); "
         f"{'it ran' if result.get('params') else 'the defaults chose'} "
         f"`backbone={result['backbone']!r}`, `augmentation={result['augmentation']!r}`, "
         f"`mixed_precision={result['mixed_precision']!r}` on this machine."), "",
        "| part | seconds | share |", "| --- | --- | --- |",
        f"| the fit | {seconds:.0f} | 100 % |",
        (f"| the training epochs (median {sorted(epochs)[len(epochs) // 2]:.1f} s) | "
         f"{sum(epochs):.0f} | {100 * sum(epochs) / seconds:.0f} % |"),
        (f"| {len(refreshes)} label-propagation refreshes (each "
         f"{min(refreshes):.1f}–{max(refreshes):.1f} s) | "
         if refreshes else "| no label-propagation refresh (the fit ended before the first) | ")
        + f"{sum(refreshes):.0f} | {100 * sum(refreshes) / seconds:.0f} % |",
        f"| the rest | {rest:.0f} | {100 * rest / seconds:.0f} % |", ""]
    out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
