"""Validation error of other rules for the vote of the nearest training samples.

The estimator's vote (``vote_neighbors``, ``vote_weight``) is the plain mean
of the ``k`` nearest training samples' rows of ``label_distributions_``
(one-hot at a given label, ``q(y|x_j)`` for an unlabeled sample). The vote
acts only at prediction, so each label draw of each protocol
(``_protocols.py``: validation splits of the training data only, never a
test split) is fitted once with the defaults, and the same neighbours (the
defaults' ``k``, by the Euclidean distance between the inputs,
:func:`skshot.voting.nearest_samples`) vote under each rule below, blended
with the network's ``q(y|x)`` at the default share (:func:`~skshot.voting.blend`):

- ``mean``: the estimator's vote (:func:`~skshot.voting.neighbour_vote`);
- ``distance-weighted``: each neighbour's row weighted by the inverse of its
  distance to the query, as :class:`sklearn.neighbors.KNeighborsClassifier`
  does with ``weights="distance"`` (a query's neighbours at distance 0, if
  any, vote alone);
- ``hard labels``: each neighbour votes for one class, the largest of its
  row (its given label, or the network's class for it), as in a
  :class:`~sklearn.neighbors.KNeighborsClassifier` fitted to those classes;
- ``two rounds``: the unlabeled training samples' rows replaced by the
  estimator's own prediction for them (network and vote blended, their
  neighbourhoods including themselves), and the vote taken again from those
  rows: a second step of the smoothing that the vote performs.

None of the three is offered by the estimator; they are measured to see
whether a different rule makes better use of the same neighbours.

One JSON line per fit is appended to ``results/vote_rules.jsonl``;
``--summary`` writes ``results/vote_rules.md``: per protocol and rule, the
mean validation error over the draws and on how many draws it was lower and
higher than the network alone, and than the ``mean`` rule.

Usage::

    python benchmarks/vote_rules.py --protocols digits-50 --draws 0 1 2 3 4 5 6 7
    python benchmarks/vote_rules.py --summary
"""

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from _protocols import draws_by_protocol, error_cells, fit_for_vote, run_draws, split

from skshot import voting

RESULTS = Path(__file__).parent / "results"
RULES = ["mean", "distance-weighted", "hard labels", "two rounds"]


def inverse_distance_weights(distances):
    """Each row's weights ``1 / d``, normalised; rows with a zero distance weight those alone."""
    exact = distances == 0
    weights = torch.where(exact.any(dim=1, keepdim=True), exact.double(),
                          1.0 / distances.double().clamp(min=torch.finfo(torch.float64).tiny))
    return weights / weights.sum(dim=1, keepdim=True)


def votes(clf, X_fit, labeled, X_val, k, weight):
    """Each rule's (name, vote of the validation samples' ``k`` nearest training samples).

    ``labeled``: a boolean mask of the training samples with a given label.
    """
    references = torch.from_numpy(np.ascontiguousarray(X_fit.reshape(len(X_fit), -1))).float()
    queries = torch.from_numpy(np.ascontiguousarray(X_val.reshape(len(X_val), -1))).float()
    nearest = voting.nearest_samples(queries, references, k)
    distributions = torch.from_numpy(clf.label_distributions_)
    yield "mean", voting.neighbour_vote(distributions, nearest)

    distances = (references[nearest] - queries[:, None, :]).norm(dim=2)
    yield "distance-weighted", (inverse_distance_weights(distances)[:, :, None].to(
        distributions.dtype) * distributions[nearest]).sum(dim=1)

    classes = torch.nn.functional.one_hot(distributions.argmax(dim=1), distributions.shape[1])
    yield "hard labels", voting.neighbour_vote(classes.to(distributions.dtype), nearest)

    # the training samples' own neighbourhoods include themselves, as predict_proba's would
    own = voting.nearest_samples(references, references, k)
    smoothed = voting.blend(distributions, voting.neighbour_vote(distributions, own), weight)
    smoothed = torch.where(torch.from_numpy(labeled)[:, None], distributions, smoothed)
    yield "two rounds", voting.neighbour_vote(smoothed, nearest)


def measure(protocol, draw):
    """The validation error (%) of the network alone and of the default vote under each rule."""
    clf, X_fit, X_val, error, network, row = fit_for_vote(protocol, draw)
    labeled = split(protocol, draw)[1] != -1
    k, weight = clf.vote_neighbors, clf._resolved_vote_weight()
    row["rules"] = {name: error(voting.blend(network, vote, weight).numpy())
                    for name, vote in votes(clf, X_fit, labeled, X_val, k, weight)}
    # the estimator's own prediction is the mean rule's
    assert abs(error(clf.predict_proba(X_val)) - row["rules"]["mean"]) < 1e-9
    return row


def write_summary(path, out):
    lines = [
        "# Other rules for the vote of the nearest training samples", "",
        ("Written by `python benchmarks/vote_rules.py --summary`. Validation error in % "
         "(validation splits of the training data, never a test split; mean ± sd over the "
         "label draws) of one fit per draw with the estimator's defaults, predicting with the "
         "network alone (`vote_neighbors=0`) and with the default vote's neighbours and share "
         "under each rule: the plain mean of the neighbours' class distributions (`mean`, the "
         "estimator's), the mean weighted by the inverse distance, the neighbours' largest "
         "classes (`hard labels`), or the mean of the unlabeled training samples' voted "
         "distributions (`two rounds`); the last three are not offered by the estimator. The last "
         "two columns count the draws on which the rule was lower / higher than the network "
         "alone, and than the `mean` rule."), ""]
    for protocol, own, network, described in draws_by_protocol(path):
        lines += [f"## {protocol}", "",
                  (f"{described} {own[0]['vote_neighbors']} neighbours at "
                   f"`vote_weight={own[0]['vote_weight']}`."), "",
                  "| rule | validation error | against the network | against `mean` |",
                  "| --- | --- | --- | --- |"]
        mean_rule = np.array([r["rules"]["mean"] for r in own])
        for name in RULES:
            errors = np.array([r["rules"][name] for r in own])
            lines.append(f"| {name} | " + " | ".join(error_cells(errors, network, mean_rule))
                         + " |")
        lines.append("")
    out.write_text("\n".join(lines))


def main(argv=None):
    run_draws(__doc__.split("\n")[0], measure, write_summary,
              lambda row: f"network {row['network']:.2f} %, " + ", ".join(
                  f"{name} {error:.2f} %" for name, error in row["rules"].items()),
              RESULTS / "vote_rules.jsonl", argv)


if __name__ == "__main__":
    main()
