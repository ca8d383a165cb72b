"""Training throughput of ShotVAEClassifier with the WideResNet-28-2 backbone.

Trains ``objective="shot"`` with ``backbone="wrn-28-2"`` on synthetic
CIFAR-sized data (32x32x3 images in [0, 1], 10 classes) in float32 and under
bf16 autocast, side by side in one run, and reports for each:

- training samples per second: the samples of the unlabeled stream an epoch
  passes over (the labeled batch of each step comes on top), from skorch's
  per-epoch durations, the first epoch (warm-up, cuDNN's algorithm search)
  left out;
- achieved TFLOP/s: the floating-point operations of one training step
  (forward and backward passes of the whole SHOT loss, counted by
  :class:`torch.utils.flop_counter.FlopCounterMode`) times the steps per
  second, and its share of the GPU's dense bf16 peak where the GPU is known.

On a machine without a GPU it runs a small configuration on the CPU and says
so: the figures then only show that the script works.

Writes ``benchmarks/results/gpu_throughput.md`` and ``gpu_throughput.json``.

Usage: ``python benchmarks/gpu_throughput.py [--device cuda] [--samples 16384]``
"""

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from skshot import ShotVAEClassifier

RESULTS = Path(__file__).parent / "results"

#: Dense bfloat16 tensor-core peaks in TFLOP/s (no sparsity), from the vendors'
#: data sheets, matched against ``torch.cuda.get_device_name``.
BF16_PEAK_TFLOPS = {
    "H200": 989.4, "H100 SXM": 989.4, "H100 80GB HBM3": 989.4, "H100 PCIe": 756.0,
    "H100 NVL": 835.0, "A100": 312.0, "L40S": 362.1, "L4": 121.0, "A10G": 70.0,
    "A10": 125.0, "RTX 4090": 165.2,
}

GPU_CONFIG = {"samples": 16384, "labeled": 4000, "batch_size_labeled": 64,
              "batch_size_unlabeled": 512, "epochs": 4}
CPU_CONFIG = {"samples": 96, "labeled": 40, "batch_size_labeled": 8,
              "batch_size_unlabeled": 32, "epochs": 2}


def bf16_peak(device_name):
    """The dense bf16 peak of a GPU by name, or None if it is not in the table."""
    for key in sorted(BF16_PEAK_TFLOPS, key=len, reverse=True):
        if key in device_name:
            return BF16_PEAK_TFLOPS[key]
    return None


def synthetic_cifar(n_samples, n_labeled, seed=0):
    """Random 32x32x3 images in [0, 1] and labels, all but ``n_labeled`` marked -1."""
    rng = np.random.default_rng(seed)
    X = rng.random((n_samples, 3, 32, 32), dtype=np.float32)
    y = rng.integers(0, 10, n_samples)
    y[n_labeled:] = -1
    y[:10] = np.arange(10)  # every class labeled
    return X, y


def step_flops(clf, config):
    """Floating-point operations of one training step (forward and backward)."""
    net = clf.net_
    device = net.device
    x_l = torch.rand(config["batch_size_labeled"], 3 * 32 * 32, device=device)
    y_l = torch.randint(0, 10, (config["batch_size_labeled"],), device=device)
    x_u = torch.rand(config["batch_size_unlabeled"], 3 * 32 * 32, device=device)
    net.module_.train()
    with FlopCounterMode(display=False) as counter:
        loss, _ = net.criterion_(net.module_, x_l, y_l, x_u, ot_weight=1.0)
        loss.backward()
    net.module_.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def measure(X, y, config, device, mixed_precision):
    clf = ShotVAEClassifier(
        backbone="wrn-28-2", objective="shot", max_epochs=config["epochs"],
        batch_size_labeled=config["batch_size_labeled"],
        batch_size_unlabeled=config["batch_size_unlabeled"], lr_schedule="constant",
        device=device, mixed_precision=mixed_precision, random_state=0)
    start = time.perf_counter()
    clf.fit(X, y)
    wall = time.perf_counter() - start
    durations = clf.history_[:, "dur"]
    timed = durations[1:] if len(durations) > 1 else durations
    seconds_per_epoch = float(np.median(timed))
    steps_per_epoch = clf.history_[-1, "train_batch_count"]
    flops = step_flops(clf, config)
    return {
        "mixed_precision": mixed_precision,
        "samples_per_s": len(X) / seconds_per_epoch,
        "steps_per_s": steps_per_epoch / seconds_per_epoch,
        "flops_per_step": flops,
        "tflops": flops * steps_per_epoch / seconds_per_epoch / 1e12,
        "epoch_seconds": timed,
        "fit_seconds": wall,
        "final_train_loss": clf.history_[-1, "train_loss"],
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", help="'cuda', 'cpu' or 'auto'")
    parser.add_argument("--samples", type=int, help="training images (default by device)")
    parser.add_argument("--epochs", type=int, help="epochs, the first one untimed")
    args = parser.parse_args(argv)
    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    on_gpu = torch.device(device).type == "cuda"
    config = dict(GPU_CONFIG if on_gpu else CPU_CONFIG)
    if args.samples:
        config["samples"] = args.samples
    if args.epochs:
        config["epochs"] = args.epochs
    if on_gpu:
        torch.backends.cudnn.benchmark = True
        name = torch.cuda.get_device_name(device)
    else:
        name = f"CPU ({platform.processor() or platform.machine()}, "\
               f"{torch.get_num_threads()} PyTorch threads)"
    peak = bf16_peak(name) if on_gpu else None
    X, y = synthetic_cifar(config["samples"], config["labeled"])
    rows = [measure(X, y, config, device, precision) for precision in (None, "bf16")]
    results = {"date": time.strftime("%Y-%m-%d"), "device": name, "on_gpu": on_gpu,
               "torch": torch.__version__, "config": config, "bf16_peak_tflops": peak,
               "rows": rows}
    write(results)


def write(results):
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "gpu_throughput.json").write_text(json.dumps(results, indent=2) + "\n")
    config, peak = results["config"], results["bf16_peak_tflops"]
    lines = ["# GPU throughput: SHOT training with WideResNet-28-2", ""]
    if not results["on_gpu"]:
        lines += [("**No GPU: a small configuration run on the CPU.** These figures only show "
                  "that the script works; they say nothing of GPU throughput."), ""]
    lines += [
        (f"Measured {results['date']} on {results['device']}, PyTorch {results['torch']}. "
        f"Synthetic 32x32x3 images: {config['samples']} per epoch ({config['labeled']} "
        f"labeled), batches of {config['batch_size_unlabeled']} unlabeled + "
        f"{config['batch_size_labeled']} labeled images, {config['epochs']} epochs, the "
        "first one untimed. One step is a forward and backward pass of the whole SHOT loss: "
        "the encoder on both batches, the decoder, and the encoder again on the mixed "
        "images of the OT-approximation."),
        "",
        "| precision | samples/s | steps/s | GFLOP/step | achieved TFLOP/s | of bf16 peak |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in results["rows"]:
        share = f"{100 * row['tflops'] / peak:.1f} %" if peak else "peak unknown"
        lines.append(f"| {row['mixed_precision'] or 'float32'} | {row['samples_per_s']:,.0f} | "
                     f"{row['steps_per_s']:.2f} | {row['flops_per_step'] / 1e9:.1f} | "
                     f"{row['tflops']:.2f} | {share} |")
    fp32, bf16 = results["rows"]
    lines += ["", (f"bf16 / float32 throughput ratio: "
              f"{bf16['samples_per_s'] / fp32['samples_per_s']:.2f}.")]
    if peak:
        lines.append(f"Dense bf16 peak of this GPU: {peak} TFLOP/s (vendor data sheet).")
    (RESULTS / "gpu_throughput.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
