"""Validation error of class distributions averaged over translated copies of the images.

The image defaults train the encoder on images translated by up to
``translate_shift`` pixels (``augmentation="translate-encoder"``). Averaging
``q(y|x)`` over a few translated copies of each image (test-time
augmentation) asks the encoder what it was trained to answer on all of them.
Each label draw of each image protocol (``_protocols.py``: validation splits
of the training data only, never a test split) is fitted once with the
defaults but for ``predict_shift=0`` (each image read as given, the
estimator's prediction before ``predict_shift`` existed; it does not change
the training), and the validation images are predicted with ``q(y|x)``
averaged over each set of offsets below, each copy made as in training
(reflect padding, then a crop at the offset), computed here one copy at a
time, not through the estimator's ``predict_shift``:

- ``none``: the image as given (``predict_shift=0``);
- ``plus5``: the image and its four translations by one pixel (not offered
  by the estimator);
- ``grid9``: every offset in ``{-1, 0, 1}`` squared (``predict_shift=1``);
- ``grid25``: every offset in ``{-2, ..., 2}`` squared, the training range
  (``predict_shift=2``).

Each is measured three ways: the network alone; blended with the default
vote of the nearest training samples as fitted (``label_distributions_``
from ``q(y|x)`` of the training images as given); and blended with the
vote whose unlabeled training samples' rows are the averaged ``q(y|x)`` too
(what the estimator does with ``predict_shift`` at the fit).

``--offsets`` measures only the sets named (``none`` always). ``--shares``
measures the two blends again with each given share of the vote
(``vote_weight``) besides the default one, so a share can be chosen together
with the offsets from the same fits.

One JSON line per fit is appended to ``results/test_time_translation.jsonl``
(``--out`` another file; the rows measured since ``--shares`` name the
backbone and the precision the defaults resolved to on the machine that ran
them); ``--summary`` writes its ``.md``.

Usage::

    python benchmarks/test_time_translation.py --protocols fmnist-100 --draws 0 1 2
    python benchmarks/test_time_translation.py --summary
    python benchmarks/test_time_translation.py --protocols fmnist-1000 --shares 0.3 0.4 0.5 \
        --out benchmarks/results/test_time_translation-conv.jsonl
"""

import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from _protocols import draws_by_protocol, error_cells, fit_for_vote, run_draws, split

from skshot import voting
from skshot._net import softmax_float64
from skshot.augmentation import translate, translation_offsets

RESULTS = Path(__file__).parent / "results"
OFFSETS = {
    "none": [(0, 0)],
    "plus5": [(0, 0), (-1, 0), (1, 0), (0, -1), (0, 1)],
    "grid9": translation_offsets(1),
    "grid25": translation_offsets(2),
}
WAYS = ["network", "vote as fitted", "vote averaged too"]


def averaged_proba(clf, X, offsets):
    """``q(y|x)`` averaged over the translated copies of ``X`` (float64, on the CPU)."""
    x = torch.from_numpy(np.ascontiguousarray(X.reshape(len(X), -1), dtype=np.float32))
    shape = tuple(clf.input_shape_)
    total = 0.0
    for dy, dx in offsets:
        total = total + clf.net_.map_batches(translate(x, shape, dy, dx), lambda xb: softmax_float64(
            clf.net_.module_.encode(xb)[2]))
    return total / len(offsets)


def measure(protocol, draw, shares=(), offsets=tuple(OFFSETS)):
    """Each offset set's validation error (%), three ways, and its prediction time.

    With ``shares``, ``row["shares"][str(w)][offsets][way]`` is the error of
    the two blends with the vote's share ``w``; ``offsets`` names the sets
    of :data:`OFFSETS` measured (``"none"`` always).
    """
    clf, X_fit, X_val, error, _, row = fit_for_vote(protocol, draw, predict_shift=0)
    row.update(backbone=clf.backbone_, mixed_precision=clf.mixed_precision_,
               max_epochs=clf.max_epochs_, beta=clf.beta_)
    labeled = torch.from_numpy(split(protocol, draw)[1] != -1)
    references = torch.from_numpy(np.ascontiguousarray(X_fit.reshape(len(X_fit), -1)))
    queries = torch.from_numpy(np.ascontiguousarray(X_val.reshape(len(X_val), -1)))
    nearest = voting.nearest_samples(queries.float(), references.float(), clf.vote_neighbors)
    fitted = torch.from_numpy(clf.label_distributions_)
    weight = row["vote_weight"]  # the share the defaults give with predict_shift=0
    row["offsets"], row["seconds"] = {}, {}
    if shares:
        row["shares"] = {str(w): {} for w in shares}
    for name in ["none"] + [name for name in offsets if name != "none"]:
        start = time.perf_counter()
        proba = averaged_proba(clf, X_val, OFFSETS[name])
        row["seconds"][name] = time.perf_counter() - start
        own = torch.where(labeled[:, None], fitted, averaged_proba(clf, X_fit, OFFSETS[name]))
        votes = {"vote as fitted": voting.neighbour_vote(fitted, nearest),
                 "vote averaged too": voting.neighbour_vote(own, nearest)}
        row["offsets"][name] = {"network": error(proba.numpy())} | {
            way: error(voting.blend(proba, vote, weight).numpy()) for way, vote in votes.items()}
        for w in shares:
            row["shares"][str(w)][name] = {
                way: error(voting.blend(proba, vote, w).numpy()) for way, vote in votes.items()}
    # no offset is the estimator's own prediction
    assert abs(row["offsets"]["none"]["vote as fitted"] - error(clf.predict_proba(X_val))) < 1e-9
    assert abs(row["offsets"]["none"]["network"] - row["network"]) < 1e-9
    return row


def write_summary(path, out):
    lines = [
        "# Class distributions averaged over translated copies of the images", "",
        ("Written by `python benchmarks/test_time_translation.py --summary"
         + ("" if Path(path).resolve() == (RESULTS / "test_time_translation.jsonl").resolve()
            else f" --out benchmarks/results/{Path(path).name}")
         + "`. Validation error "
         "in % (validation splits of the training data, never a test split; mean ± sd over the "
         "label draws) of one fit per draw with the estimator's defaults, predicting with "
         "`q(y|x)` averaged over translated copies of each image: `none` (the image as given, "
         "`predict_shift=0`), `plus5` (and its four one-pixel translations), `grid9` "
         "(offsets in {-1, 0, 1} squared, `predict_shift=1`), `grid25` (offsets in "
         "{-2, ..., 2} squared, the training range, `predict_shift=2`). Each alone (`network`), blended with the default vote as fitted, "
         "and blended with a vote whose unlabeled training samples' rows are averaged the same "
         "way. The counts are the draws on which a cell was lower / higher than the same way "
         "with `none`. Seconds: the validation images' averaged `q(y|x)`, median over draws."),
        ""]
    for protocol, own, _, described in draws_by_protocol(path):
        lines += [f"## {protocol}", "", described, "",
                  "| offsets | " + " | ".join(WAYS) + " | seconds |",
                  "| --- | " + " | ".join("---" for _ in WAYS) + " | --- |"]
        for name in _measured_offsets(own):
            cells = []
            for way in WAYS:
                errors = [r["offsets"][name][way] for r in own]
                base = np.array([r["offsets"]["none"][way] for r in own])
                mean_sd, counts = error_cells(errors, base)
                cells.append(mean_sd if name == "none" else f"{mean_sd} ({counts})")
            seconds = np.median([r["seconds"][name] for r in own])
            lines.append(f"| {name} | " + " | ".join(cells) + f" | {seconds:.1f} |")
        lines.append("")
        lines += _shares_table(own)
    out.write_text("\n".join(lines))


def _measured_offsets(own):
    """The names of :data:`OFFSETS` that every row of ``own`` measured, in their order."""
    return [name for name in OFFSETS if all(name in r["offsets"] for r in own)]


def _shares_table(own):
    """Lines of the table of the vote's shares, for rows measured with ``--shares``."""
    if not all("shares" in r for r in own):
        return []
    first = own[0]
    shares = list(first["shares"])
    base = np.array([r["offsets"]["none"]["vote as fitted"] for r in own])
    lines = [
        (f"The backbone `{first['backbone']}`, mixed precision `{first['mixed_precision']}`, "
         f"{first['max_epochs']} epochs, `beta={first['beta']:g}`. The blends with each share "
         f"`w` of the vote (`vote_weight`); in brackets, the draws on which a cell was lower / "
         f"higher than the image as given with the vote as fitted at the share "
         f"{first['vote_weight']:g}, the estimator's prediction with `predict_shift=0`:"), "",
        "| offsets | way | " + " | ".join(f"w = {w}" for w in shares) + " |",
        "| --- | --- | " + " | ".join("---" for _ in shares) + " |"]
    for name in _measured_offsets(own):
        for way in WAYS[1:]:
            cells = []
            for w in shares:
                mean_sd, counts = error_cells([r["shares"][w][name][way] for r in own], base)
                cells.append(f"{mean_sd} ({counts})")
            lines.append(f"| {name} | {way} | " + " | ".join(cells) + " |")
    return lines + [""]


def main(argv=None):
    run_draws(__doc__.split("\n")[0], measure, write_summary,
              lambda row: "; ".join(
                  f"{name}: " + ", ".join(f"{e:.2f}" for e in row["offsets"][name].values())
                  for name in row["offsets"]),
              RESULTS / "test_time_translation.jsonl", argv, add_options)


def add_options(parser):
    parser.add_argument("--shares", nargs="+", type=float, default=[])
    parser.add_argument("--offsets", nargs="+", choices=list(OFFSETS), default=list(OFFSETS))


if __name__ == "__main__":
    main()
