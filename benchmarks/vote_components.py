"""Validation error and search time of the vote in other spaces: ``vote_components``.

The vote of the nearest training samples (``vote_neighbors``) measures
Euclidean distances between the inputs as given; with ``vote_components=m``
between their coordinates on the training samples' first ``m`` principal
axes. ``vote_components`` acts at the fit, but the fit does not depend on it:
so each label draw of each protocol (``_protocols.py``: validation splits of
the training data only, never a test split) is fitted once with the defaults,
and the vote of the defaults' neighbours and share is recomputed for every
space below with the functions the estimator uses
(:func:`skshot.voting.principal_axes`, :func:`~skshot.voting.project`,
:func:`~skshot.voting.nearest_samples`):

- ``input``: the inputs as given (``vote_components=None``, the default);
- ``axes m``: ``vote_components=m``;
- ``latent z``: the posterior mean of ``q(z|x)`` (:meth:`transform`), which
  the estimator does not offer; measured to see whether the network's code
  is a better space for the vote than its inputs;
- ``cosine``: the inputs scaled to unit length, so that the nearest are those
  of the largest cosine similarity (as in the graph of the estimator's label
  propagation, :func:`skshot.propagation.knn_affinity`); ``centred cosine``:
  the same after subtracting the training samples' mean. Neither is offered by the
  estimator; measured to see whether the angle between inputs follows the
  classes better than their distance.

One JSON line per fit is appended to ``results/vote_components.jsonl``
(the rows with the cosine spaces: ``--out results/vote_spaces.jsonl``);
``--summary`` writes the ``.md`` beside it: per protocol and space,
the mean validation error over the draws, on how many draws it was lower and
higher than the network alone, and the median time to search the validation
samples' neighbours among the training samples.

Usage::

    python benchmarks/vote_components.py --protocols fmnist2k-100 --draws 0 1 2 3 4
    python benchmarks/vote_components.py --summary
"""

import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from _protocols import draws_by_protocol, error_cells, fit_for_vote, run_draws

from skshot import voting

RESULTS = Path(__file__).parent / "results"
COMPONENTS = [16, 32, 64, 128]


def spaces(clf, X_fit, X_val):
    """Each space's (name, training samples, validation samples, seconds to project)."""
    fit_rows = torch.from_numpy(np.ascontiguousarray(X_fit.reshape(len(X_fit), -1)))
    val_rows = torch.from_numpy(np.ascontiguousarray(X_val.reshape(len(X_val), -1)))
    yield "input", fit_rows, val_rows, 0.0
    for m in (m for m in COMPONENTS if m < fit_rows.shape[1]):
        start = time.perf_counter()
        mean, axes = voting.principal_axes(fit_rows, m)
        references = voting.project(fit_rows, mean, axes)
        seconds = time.perf_counter() - start
        yield f"axes {m}", references, voting.project(val_rows, mean, axes), seconds
    yield ("latent z", torch.from_numpy(clf.transform(X_fit)),
           torch.from_numpy(clf.transform(X_val)), 0.0)
    centre = fit_rows.double().mean(dim=0).float()
    for name, origin in (("cosine", 0.0), ("centred cosine", centre)):
        yield (name, torch.nn.functional.normalize(fit_rows.float() - origin, dim=1),
               torch.nn.functional.normalize(val_rows.float() - origin, dim=1), 0.0)


def measure(protocol, draw):
    """The validation error (%) of the network alone and of the default vote in each space."""
    clf, X_fit, X_val, error, network, row = fit_for_vote(protocol, draw)
    assert clf.vote_components is None
    k, weight = clf.vote_neighbors, clf._resolved_vote_weight()
    distributions = torch.from_numpy(clf.label_distributions_)
    row["spaces"] = {}
    for name, references, queries, project_seconds in spaces(clf, X_fit, X_val):
        start = time.perf_counter()
        nearest = voting.nearest_samples(queries, references, k)
        search_seconds = time.perf_counter() - start
        proba = voting.blend(network, voting.neighbour_vote(distributions, nearest), weight)
        row["spaces"][name] = {"error": error(proba.numpy()), "search_seconds": search_seconds,
                               "project_seconds": project_seconds,
                               "dimensions": int(references.shape[1])}
    # the estimator's own prediction is the input space's
    assert abs(error(clf.predict_proba(X_val)) - row["spaces"]["input"]["error"]) < 1e-9
    return row


def write_summary(path, out):
    lines = [
        f"# The vote's distances in other spaces: `vote_components` (`{Path(path).name}`)", "",
        ("Written by `python benchmarks/vote_components.py --summary`. Validation error in % "
         "(validation splits of the training data, never a test split; mean ± sd over the "
         "label draws) of one fit per draw with the estimator's defaults, predicting with the "
         "network alone (`vote_neighbors=0`) and with the default vote (its neighbours and "
         "share) whose distances are measured in each space: the inputs as given (the "
         "default), their coordinates on the training samples' first m principal axes "
         "(`vote_components=m`), the latent code's posterior mean, or (in the rows that "
         "have them) the inputs scaled to unit length, as given (`cosine`) or after "
         "subtracting the training samples' mean (`centred cosine`); the last three are not "
         "offered by the estimator. In brackets, the draws on which the vote was lower / higher than the "
         "network alone. Search: median seconds to find the validation samples' neighbours "
         "among the training samples on one machine, with the threads the run had; "
         "projection: median seconds to compute the axes and project the training samples, "
         "once per fit."), ""]
    for protocol, own, network, described in draws_by_protocol(path):
        lines += [f"## {protocol}", "",
                  (f"{described} {own[0]['vote_neighbors']} neighbours at "
                   f"`vote_weight={own[0]['vote_weight']}`."), "",
                  "| space | dimensions | validation error | search (s) | projection (s) |",
                  "| --- | --- | --- | --- | --- |"]
        # rows of an earlier version lack the spaces added since: list those every row has
        for name in (n for n in own[0]["spaces"] if all(n in r["spaces"] for r in own)):
            cells = [r["spaces"][name] for r in own]
            mean_sd, counts = error_cells([c["error"] for c in cells], network)
            lines.append(
                f"| {name} | {cells[0]['dimensions']} | {mean_sd} ({counts}) | "
                f"{np.median([c['search_seconds'] for c in cells]):.2f} | "
                f"{np.median([c['project_seconds'] for c in cells]):.2f} |")
        lines.append("")
    out.write_text("\n".join(lines))


def main(argv=None):
    run_draws(__doc__.split("\n")[0], measure, write_summary,
              lambda row: f"network {row['network']:.2f} %, " + ", ".join(
                  f"{name} {cell['error']:.2f} %" for name, cell in row["spaces"].items()),
              RESULTS / "vote_components.jsonl", argv)


if __name__ == "__main__":
    main()
