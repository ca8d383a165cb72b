"""Validation error with virtual adversarial training added to the defaults' objective.

Virtual adversarial training (VAT; Miyato et al., "Virtual Adversarial
Training: A Regularization Method for Supervised and Semi-Supervised
Learning", TPAMI 2019) asks the classifier to give an unlabeled sample and
the sample moved by a small step in its most sensitive direction the same
class distribution. It is the strongest consistency term known for
fully-connected networks on permutation-invariant MNIST with 100 labels, the
setting of the estimator's default network, and it goes beyond the paper.
Here it is added to the estimator's objective with weight ``--weight``: for
each unlabeled sample ``x`` with ``p = q(y|x)`` (held constant),

1. ``d`` a random direction of length ``xi``;
2. ``g``, the gradient of ``KL(p || q(y | x + d))`` with respect to ``d`` (one
   step of the power iteration towards the direction that changes ``q(y|x)``
   most);
3. the loss ``KL(p || q(y | x + r))`` with ``r = radius * g / |g|``.

The step's length ``radius`` is ``--radius`` times the median distance of a
training sample to its nearest other training sample (of at most 3 000 of
them), so that one setting means the same on pixels and on standardised
features; ``xi`` is a tenth of it (VAT's own ``xi = 1e-6`` is below float32's
resolution next to inputs of order one, so its direction would be rounding
noise).

Each label draw of each protocol (``_protocols.py``: validation splits of the
training data only, never a test split) is fitted once per radius; the
defaults' rows for the same draws are fitted with ``--radius 0``. One JSON
line per fit is appended to ``results/virtual_adversarial.jsonl``;
``--summary`` writes ``results/virtual_adversarial.md``.

Usage::

    python benchmarks/virtual_adversarial.py --protocols fmnist2k-100 digits-50 \\
        --draws 0 1 2 --radius 0 0.2 0.5
    python benchmarks/virtual_adversarial.py --summary
"""

import json
import sys
from pathlib import Path

import numpy as np
import torch
from sklearn.neighbors import NearestNeighbors

sys.path.insert(0, str(Path(__file__).parent))
from _protocols import fit_defaults, mean_sd, network_error, run_draws, split

from skshot import ShotVAEClassifier
from skshot.losses import kl_smooth
from skshot.objectives import SemiSupervisedObjective

RESULTS = Path(__file__).parent / "results"


def unit_rows(v):
    """Each row of ``v`` divided by its Euclidean length (rows of zeros stay zero)."""
    return v / v.norm(dim=1, keepdim=True).clamp_min(torch.finfo(v.dtype).tiny)


def virtual_adversarial_loss(logits_fn, x, radius, xi):
    """Per sample ``KL(p || q(y | x + r_adv))``, ``p = q(y|x)`` held constant.

    ``r_adv`` has length ``radius`` along the gradient, with respect to a
    random step ``d`` of length ``xi``, of ``KL(p || q(y | x + d))``: one
    power iteration towards the leading eigenvector of that divergence's
    Hessian at ``d = 0``. The random steps draw from PyTorch's generator.
    """
    with torch.no_grad():
        p = torch.softmax(logits_fn(x), dim=-1)
    d = (xi * unit_rows(torch.randn_like(x))).requires_grad_(True)
    (g,) = torch.autograd.grad(kl_smooth(p, logits_fn(x + d)).sum(), d)
    r_adv = radius * unit_rows(g)
    return kl_smooth(p, logits_fn(x + r_adv))


class VirtualAdversarialObjective(SemiSupervisedObjective):
    """The estimator's objective plus ``vat_weight`` times the unlabeled batch's mean VAT loss."""

    def __init__(self, *args, vat_weight=1.0, vat_radius=1.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.vat_weight, self.vat_radius = vat_weight, vat_radius

    def forward(self, module, x_l, y_l, x_u, **kwargs):
        loss, parts = super().forward(module, x_l, y_l, x_u, **kwargs)
        if self.vat_weight and self.objective != "supervised":
            vat = virtual_adversarial_loss(lambda x: module.encode(x)[2], x_u,
                                           self.vat_radius, 0.1 * self.vat_radius)
            loss = loss + self.vat_weight * vat.mean()
        return loss, parts


class VirtualAdversarialClassifier(ShotVAEClassifier):
    """:class:`ShotVAEClassifier` trained with :class:`VirtualAdversarialObjective`.

    The VAT settings are the attributes ``vat_weight`` and ``vat_radius`` (in
    the inputs' units), set after construction.
    """

    vat_weight = 1.0
    vat_radius = 1.0

    def _build_net(self, *args, **kwargs):
        return super()._build_net(*args, **kwargs).set_params(
            criterion=VirtualAdversarialObjective, criterion__vat_weight=self.vat_weight,
            criterion__vat_radius=self.vat_radius)


def neighbour_distance(X, max_samples=3000):
    """The median distance of a sample to its nearest other sample, over at most ``max_samples``."""
    X = np.asarray(X, dtype=np.float64)
    if len(X) > max_samples:
        X = X[np.random.RandomState(0).permutation(len(X))[:max_samples]]
    distances, _ = NearestNeighbors(n_neighbors=2).fit(X).kneighbors(X)
    return float(np.median(distances[:, 1]))


def measure(protocol, draw, radius=(0.0,), weight=1.0):
    """One fit per radius on one draw: the validation errors with the vote and of the network alone."""
    scale = neighbour_distance(split(protocol, draw)[0])
    row = {"protocol": protocol, "draw": draw, "weight": weight, "scale": scale, "fits": {}}
    for c in radius:
        if c:
            class Estimator(VirtualAdversarialClassifier):
                vat_weight, vat_radius = weight, c * scale
        else:
            Estimator = ShotVAEClassifier
        clf, _, X_val, labels, seconds = fit_defaults(protocol, draw, estimator=Estimator)
        vote = 100.0 * float(np.mean(np.argmax(clf.predict_proba(X_val), axis=1) != labels))
        row["fits"][f"{c:g}"] = {"vote": vote,
                                 "network": network_error(clf, X_val, clf.classes_[labels]),
                                 "fit_seconds": seconds}
    return row


def write_summary(path, out):
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    lines = [
        "# Virtual adversarial training on top of the defaults",
        "",
        f"Written by `python benchmarks/virtual_adversarial.py --summary` from `{path.name}`.",
        "Validation error in % (mean ± sd over the label draws; validation splits of the",
        "training data only) of the defaults with the VAT loss of the unlabeled samples added",
        "(weight `w`), by the step's radius in units of the median distance of a training",
        "sample to its nearest other one (0: the defaults). `vote`: the estimator's prediction,",
        "`network`: `q(y|x)` alone. In brackets: on how many draws the error was lower / higher",
        "than the defaults' (with the vote).",
        "",
    ]
    groups = {}
    for row in rows:
        groups.setdefault((row["protocol"], row["weight"]), {}).setdefault(
            row["draw"], {}).update(row["fits"])
    for (protocol, weight), by_draw in groups.items():
        radii = sorted({c for fits in by_draw.values() for c in fits}, key=float)
        lines += [f"## {protocol}, w = {weight:g}", "",
                  "| radius | draws | vote | network | median fit (s) |",
                  "| --- | --- | --- | --- | --- |"]
        for c in radii:
            draws = sorted(d for d, fits in by_draw.items() if c in fits)
            fits = [by_draw[d][c] for d in draws]
            vote = np.array([f["vote"] for f in fits])
            cell = mean_sd(vote)
            if c != "0" and all("0" in by_draw[d] for d in draws):
                base = np.array([by_draw[d]["0"]["vote"] for d in draws])
                cell += f" ({int(np.sum(vote < base))} / {int(np.sum(vote > base))})"
            lines.append(f"| {c} | {' '.join(map(str, draws))} | {cell} | "
                         f"{mean_sd(np.array([f['network'] for f in fits]))} | "
                         f"{np.median([f['fit_seconds'] for f in fits]):.0f} |")
        lines.append("")
    out.write_text("\n".join(lines))
    print("\n".join(lines))


def add_options(parser):
    parser.add_argument("--radius", nargs="+", type=float, default=[0.0, 0.2, 0.5],
                        help="step radii in units of the median nearest-neighbour distance")
    parser.add_argument("--weight", type=float, default=1.0, help="weight of the VAT loss")


def report(row):
    return ", ".join(f"radius {c}: {f['vote']:.2f}/{f['network']:.2f} ({f['fit_seconds']:.0f} s)"
                     for c, f in row["fits"].items())


def main(argv=None):
    run_draws(__doc__.split("\n")[0], measure, write_summary, report,
              RESULTS / "virtual_adversarial.jsonl", argv, add_options)


if __name__ == "__main__":
    main()
