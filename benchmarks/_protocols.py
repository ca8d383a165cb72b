"""Validation protocols shared by the benchmark scripts that choose and follow settings.

Every protocol is built from *training* data only: a split of it is held out
with all of its labels (the validation set), and a few labels per class of
the rest are kept, drawn anew for each ``draw``. No test split is read here:
Fashion-MNIST's test images are a file of their own, and of each small data
set a fixed share, :func:`small_test_split`, is set aside before any draw;
that share is the test split of ``accuracy.py``.

- ``fmnist-100``: Fashion-MNIST's 60 000 training images, 50 000 to train on
  (10 labels per class) and 10 000 held out;
- ``fmnist-1000``: the same split with 100 labels per class;
- ``fmnist2k-100``, ``fmnist5k-100`` and ``fmnist10k-100``: a fixed
  stratified 2 000, 5 000 or 10 000 of those 50 000 images to train on, 10
  labels per class, the same 10 000 held out (small and mid-sized image
  sets: 4, 10 or 20 steps an epoch);
- ``digits-50``: scikit-learn's 1 797 digits less the 20 % test split,
  stratified 80/20 per draw, 5 labels per class;
- ``digits300-50``: the same, training on a stratified 300 of each draw's
  1 149 training digits (a small image set the size of the tabular sets), the
  same 288 held out;
- ``cancer-20``: scikit-learn's breast cancer data (569 samples, 30
  features, standardised) less the 30 % test split, stratified 70/30 per
  draw, 10 labels per class;
- ``wine-30``: scikit-learn's wine data (178 samples, 13 features,
  standardised) less the 30 % test split, stratified 70/30 per draw, 10
  labels per class;
- ``iris-30``: scikit-learn's iris data (150 samples, 4 features,
  standardised), split as wine;
- ``synth-40``: a fixed draw of :func:`sklearn.datasets.make_classification`
  (1 000 samples, 6 features of which 4 informative and 1 redundant, 4
  classes of 2 clusters each, 1 % of the labels flipped; standardised),
  split as wine, 10 labels per class: a low-dimensional multi-class set
  whose validation split (210 samples) tells settings apart by smaller
  differences than the bundled tabular sets can;
- ``cancerpoly-20``: the breast cancer data of ``cancer-20`` (the same test
  split and draws) with every product of two of its standardised features
  beside them (30 + 465 = 495 features, standardised again, the scalings
  fitted on each draw's training samples): a tabular set with more features
  than the vote's 64 principal axes;
- ``synth200-40``: a fixed draw of :func:`sklearn.datasets.make_classification`
  with 200 features (20 informative, 20 redundant, 160 of noise; 4 classes of
  2 clusters each, ``class_sep=2``, 1 % of the labels flipped; standardised),
  split as wine, 10 labels per class: many features of which few carry the
  classes.
"""

import argparse
import json
import math
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import (
    load_breast_cancer,
    load_digits,
    load_iris,
    load_wine,
    make_classification,
)
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import (
    GridSearchCV,
    StratifiedKFold,
    cross_val_predict,
    train_test_split,
)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import PolynomialFeatures, StandardScaler
from sklearn.semi_supervised import LabelSpreading, SelfTrainingClassifier
from torch import nn

from skshot import ShotVAEClassifier
from skshot.backbones import mlp, mlp_backbone
from skshot.callbacks import HeldOutAccuracy
from skshot.datasets import load_fashion_mnist, mask_labels

#: name: (image shape or None, labels per class)
PROTOCOLS = {"fmnist-100": ((1, 28, 28), 10), "fmnist-1000": ((1, 28, 28), 100),
             "fmnist2k-100": ((1, 28, 28), 10), "fmnist5k-100": ((1, 28, 28), 10),
             "fmnist10k-100": ((1, 28, 28), 10),
             "digits-50": ((1, 8, 8), 5), "digits300-50": ((1, 8, 8), 5),
             "cancer-20": (None, 10), "wine-30": (None, 10), "iris-30": (None, 10),
             "synth-40": (None, 10), "cancerpoly-20": (None, 10), "synth200-40": (None, 10)}

#: Share of each small data set set aside as the test split of ``accuracy.py``
#: (the same for every draw and seed), and the share of the rest held out for
#: validation in each draw.
SMALL_TEST = {"digits": 0.2, "cancer": 0.3, "wine": 0.3, "iris": 0.3, "synth": 0.3,
              "cancerpoly": 0.3, "synth200": 0.3}
SMALL_VALIDATION = SMALL_TEST
#: Fashion-MNIST training images held out for validation.
FMNIST_HELD_OUT = 10_000
#: Training images of the mid-sized Fashion-MNIST protocols.
FMNIST_SUBSETS = {"fmnist2k-100": 2_000, "fmnist5k-100": 5_000, "fmnist10k-100": 10_000}
#: Training samples of the small digits protocol, drawn from each draw's training split.
DIGITS_SUBSETS = {"digits300-50": 300}
_FMNIST = {}


def _fashion():
    if not _FMNIST:
        X, y = load_fashion_mnist(subset="train", return_X_y=True)
        fit, held = train_test_split(np.arange(len(X)), test_size=FMNIST_HELD_OUT, stratify=y,
                                     random_state=0)
        _FMNIST.update(X_fit=X[fit], y_fit=y[fit], X_val=X[held], y_val=y[held])
    return _FMNIST


def small_dataset(name):
    """``(X, y)`` of a small data set: ``"digits"`` (scaled to [0, 1]), ``"cancer"``, ``"wine"``,
    ``"iris"``, ``"synth"``, ``"cancerpoly"`` (the breast cancer samples as loaded: their
    products are formed by :func:`scaler`), ``"synth200"`` (the same samples every call)."""
    loader = {"digits": load_digits, "cancer": load_breast_cancer, "wine": load_wine,
              "iris": load_iris, "synth": _synthetic, "cancerpoly": load_breast_cancer,
              "synth200": _synthetic_many}[name]
    X, y = loader(return_X_y=True)
    return (X / 16.0 if name == "digits" else X).astype(np.float32), y


def _synthetic(return_X_y=True):
    """The fixed samples of ``synth-40``."""
    return make_classification(n_samples=1000, n_features=6, n_informative=4, n_redundant=1,
                               n_classes=4, n_clusters_per_class=2, random_state=0)


def _synthetic_many(return_X_y=True):
    """The fixed samples of ``synth200-40``."""
    return make_classification(n_samples=1000, n_features=200, n_informative=20,
                               n_redundant=20, n_classes=4, n_clusters_per_class=2,
                               class_sep=2.0, random_state=0)


def scaler(name):
    """The unfitted transformer a small tabular set's samples pass through, fitted per draw.

    Standardisation; for ``"cancerpoly"`` standardisation, every product of
    two features beside them, and standardisation again.
    """
    if name == "cancerpoly":
        return make_pipeline(StandardScaler(), PolynomialFeatures(2, include_bias=False),
                             StandardScaler())
    return StandardScaler()


def small_test_split(name):
    """``(X_rest, X_test, y_rest, y_test)``: the fixed test split of a small data set.

    ``accuracy.py`` reports on ``X_test``; the validation protocols draw from
    ``X_rest`` only.
    """
    X, y = small_dataset(name)
    return train_test_split(X, y, test_size=SMALL_TEST[name], stratify=y, random_state=0)


def split(protocol, draw):
    """``(X_fit, y_partial, X_val, y_val, y_fit)`` of one label draw of a protocol."""
    _, n_per_class = PROTOCOLS[protocol]
    if protocol.startswith("fmnist"):
        d = _fashion()
        X_fit, X_val, y_fit, y_val = d["X_fit"], d["X_val"], d["y_fit"], d["y_val"]
        if protocol in FMNIST_SUBSETS:
            keep, _ = train_test_split(np.arange(len(X_fit)),
                                       train_size=FMNIST_SUBSETS[protocol],
                                       stratify=y_fit, random_state=0)
            X_fit, y_fit = X_fit[keep], y_fit[keep]
    else:
        name = "digits" if protocol in DIGITS_SUBSETS else protocol.split("-")[0]
        X_rest, _, y_rest, _ = small_test_split(name)
        X_fit, X_val, y_fit, y_val = train_test_split(
            X_rest, y_rest, test_size=SMALL_VALIDATION[name], stratify=y_rest,
            random_state=draw)
        if protocol in DIGITS_SUBSETS:
            X_fit, _, y_fit, _ = train_test_split(X_fit, y_fit,
                                                  train_size=DIGITS_SUBSETS[protocol],
                                                  stratify=y_fit, random_state=draw)
        if name != "digits":
            fitted = scaler(name).fit(X_fit)
            X_fit, X_val = (fitted.transform(a).astype(np.float32) for a in (X_fit, X_val))
    y_partial = mask_labels(y_fit, n_per_class, random_state=draw)
    return X_fit, y_partial, X_val, y_val, y_fit


def fidelity_judge():
    """The independent classifier that judges ``sample()``'s outputs (unfitted)."""
    return LogisticRegression(max_iter=300)


def sample_fidelity(clf, X_val, y_val, seed=0, judge=None):
    """Share of generated samples that an independent classifier assigns to their class.

    The judge is a logistic regression trained on the labeled held-out
    samples. Returns ``(prior, restyled)``: samples with ``z`` drawn from the
    prior (20 per class), and 50 held-out inputs redrawn as every class.
    ``judge``: that classifier already fitted, if it is.
    """
    if judge is None:
        judge = fidelity_judge().fit(X_val, y_val)
    classes = clf.classes_
    X_new, y_new = clf.sample(classes, n_samples=20, random_state=seed)
    prior = float(np.mean(judge.predict(X_new) == y_new))
    X_new, y_new = clf.sample(classes, X=X_val[:50])
    restyled = float(np.mean(judge.predict(X_new) == y_new))
    return prior, restyled


def per_class_fidelity(clf, X_val, y_val, seed=0, n_per_class=100, n_inputs=300, judge=None):
    """Each class's share of generated samples that an independent classifier assigns to it.

    The judge is :func:`sample_fidelity`'s, a logistic regression trained on
    the labeled held-out samples. Returns a dict of lists in ``clf.classes_``'s
    order: ``"prior"`` (``n_per_class`` samples per class with ``z`` drawn
    from the prior), ``"restyled"`` (the first ``n_inputs`` held-out inputs
    redrawn as each class) and ``"judge"``, the judge's own recall of each
    class on real held-out inputs (two-fold cross-validated predictions, so
    from a judge trained on half of them): a ceiling for the other two.
    ``judge``: that classifier already fitted, if it is.
    """
    if judge is None:
        judge = fidelity_judge().fit(X_val, y_val)
    classes = clf.classes_

    def recall(y_true, y_pred):
        return [float(np.mean(y_pred[y_true == c] == c)) for c in classes]

    X_new, y_new = clf.sample(classes, n_samples=n_per_class, random_state=seed)
    prior = recall(y_new, judge.predict(X_new))
    X_new, y_new = clf.sample(classes, X=X_val[:n_inputs])
    restyled = recall(y_new, judge.predict(X_new))
    folds = StratifiedKFold(n_splits=2, shuffle=True, random_state=seed)
    real = cross_val_predict(fidelity_judge(), X_val, y_val, cv=folds)
    return {"classes": [c.item() if hasattr(c, "item") else c for c in classes],
            "prior": prior, "restyled": restyled, "judge": recall(y_val, real)}


def label_spreading(**params):
    """``LabelSpreading`` on a k-nearest-neighbour graph (7 neighbours unless ``params`` say)."""
    return LabelSpreading(kernel="knn", max_iter=100, **{"n_neighbors": 7, **params})


def mean_sd(values):
    """``"mean ± sd"`` (sample standard deviation) of the values that are not None, or "–"."""
    values = [v for v in values if v is not None]
    if not values:
        return "–"
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.1f} ± {sd:.1f}"


def error_cells(errors, *baselines):
    """``"mean ± sd"`` of ``errors`` (two decimals), then ``"lower / higher"`` per baseline.

    Each baseline is an array of the same draws' errors; the counts are the
    draws on which ``errors`` were lower and higher than it.
    """
    errors = np.asarray(errors, dtype=float)
    sd = errors.std(ddof=1) if len(errors) > 1 else 0.0
    return [f"{errors.mean():.2f} ± {sd:.2f}"] + [
        f"{int((errors < b).sum())} / {int((errors > b).sum())}" for b in baselines]


def peer(name, protocol, params=None):
    """scikit-learn's semi-supervised estimators, as in ``accuracy.py``, with ``params``."""
    params = params or {}
    if name == "LabelSpreading":
        spreading = label_spreading(**params)
        return make_pipeline(PCA(50, random_state=0), spreading) \
            if protocol.startswith("fmnist") else spreading
    return SelfTrainingClassifier(LogisticRegression(max_iter=500),
                                  **{"threshold": 0.9, **params})


def run_peer(name, protocol, draw, params=None):
    """Fit a scikit-learn peer on one label draw; same result keys as :func:`run`."""
    X_fit, y_partial, X_val, y_val, _ = split(protocol, draw)
    start = time.perf_counter()
    model = peer(name, protocol, params).fit(X_fit, y_partial)
    error = 100.0 * (1.0 - float(np.mean(model.predict(X_val) == y_val)))
    return {"protocol": protocol, "draw": draw, "seconds": time.perf_counter() - start,
            "val_error": error, "curve": [error], "parts": {}}


def mlp_with_dropout(input_shape, latent_dim, n_classes, rate=0.2):
    """The ``"mlp"`` backbone with dropout of ``rate`` on the encoder's input and hidden layers.

    Dropout acts in training only (skorch puts the module in evaluation mode to
    predict), so the OT targets and the label terms see the noisy encoder.
    """
    hidden = (500, 500)

    def relu_dropout():
        return nn.Sequential(nn.ReLU(), nn.Dropout(rate))

    encoder = nn.Sequential(nn.Flatten(), nn.Dropout(rate),
                            mlp((math.prod(input_shape),) + hidden, relu_dropout),
                            relu_dropout())
    _, decoder = mlp_backbone(input_shape, latent_dim, n_classes, hidden)
    return encoder, decoder


#: Backbones of the benchmarks, by the name a setting's ``"backbone"`` gives them: a
#: callable, or the name of the built-in backbone it became (``"conv16-mlp"``, the
#: ``"conv"`` encoder with 16 and 32 channels and the ``"mlp"`` decoder, is ``"conv-mlp"``
#: since 2026-12-07; its earlier rows built the same network in the usual memory layout).
BENCHMARK_BACKBONES = {"conv16-mlp": "conv-mlp", "mlp-dropout": mlp_with_dropout}


def run(protocol, draw, params, *, fidelity=False):
    """Fit one setting on one label draw; return a dict of per-epoch and final figures.

    ``params`` are ShotVAEClassifier parameters; ``"images": True`` passes
    the protocol's image shape as ``input_shape``; ``"cv_grid": {name:
    [values]}`` chooses those parameters by :class:`GridSearchCV` on the
    training labels alone (3 stratified folds, scored on the labels each fold
    holds out), refits the best on all of them, and records the choice as
    ``"chosen"``; the validation split plays no part in the choice.
    ``fidelity=True`` adds :func:`sample_fidelity`'s two shares,
    ``fidelity="per-class"`` also :func:`per_class_fidelity`'s.
    """
    params = dict(params)
    shape, _ = PROTOCOLS[protocol]
    if params.pop("images", False):
        params["input_shape"] = shape
    if params.get("backbone") in BENCHMARK_BACKBONES:
        params["backbone"] = BENCHMARK_BACKBONES[params["backbone"]]
    grid = params.pop("cv_grid", None)
    X_fit, y_partial, X_val, y_val, y_fit = split(protocol, draw)
    clf = ShotVAEClassifier(random_state=draw, callbacks=[HeldOutAccuracy(X_val, y_val)],
                            **params)
    start = time.perf_counter()
    chosen = None
    if grid:
        folds = StratifiedKFold(n_splits=3, shuffle=True, random_state=draw)
        search = GridSearchCV(clf, grid, cv=folds).fit(X_fit, y_partial)
        clf, chosen = search.best_estimator_, search.best_params_
    else:
        clf.fit(X_fit, y_partial)
    seconds = time.perf_counter() - start
    history = clf.history_
    curve = [100.0 * (1.0 - a) for a in history[:, "heldout_acc"]]
    unlabeled = y_partial == -1
    effective = {k: v for k, v in clf.get_params().items()
                 if isinstance(v, (int, float, str, bool, type(None)))}
    result = {
        "protocol": protocol, "draw": draw, "seconds": seconds, "effective": effective,
        "val_error": 100.0 * (1.0 - float(np.mean(clf.predict(X_val) == y_val))),
        "network_val_error": network_error(clf, X_val, y_val),
        "unlabeled_error": 100.0 * (1.0 - float(np.mean(
            clf.predict(X_fit[unlabeled]) == y_fit[unlabeled]))),
        "curve": curve,
        "parts": {k: [row.get(k) for row in history]
                  for k in ("train_loss", "rec_u", "kl_z_u", "kl_y_u", "kl_smooth", "ce",
                            "ent_u", "ot", "ot_weight") if k in history[-1]},
    }
    if chosen is not None:
        result["chosen"] = chosen
    if fidelity and params.get("objective", "shot") != "supervised":
        judge = fidelity_judge().fit(X_val, y_val)
        result["fidelity_prior"], result["fidelity_restyled"] = sample_fidelity(
            clf, X_val, y_val, seed=draw, judge=judge)
        if fidelity == "per-class":
            result["fidelity_per_class"] = per_class_fidelity(clf, X_val, y_val, seed=draw,
                                                              judge=judge)
    return result


def network_error(model, X, y):
    """The error (%) of ``model`` predicting with ``q(y|x)`` alone, without the neighbours' vote.

    ``model`` is a fitted ``ShotVAEClassifier`` or a pipeline that ends in one;
    its ``vote_neighbors`` is restored afterwards.
    """
    clf = model[-1] if hasattr(model, "steps") else model
    neighbors = clf.vote_neighbors
    try:
        clf.set_params(vote_neighbors=0)
        return 100.0 * (1.0 - float(np.mean(model.predict(X) == y)))
    finally:
        clf.set_params(vote_neighbors=neighbors)


def threads(n=None):
    """Use ``n`` PyTorch threads (all cores when None); returns the number in use."""
    if n:
        torch.set_num_threads(n)
    return torch.get_num_threads()


def fit_defaults(protocol, draw, estimator=ShotVAEClassifier, **params):
    """One fit of the estimator's defaults on a draw: ``(clf, X_fit, X_val, labels, seconds)``.

    ``labels`` are the validation labels as indices into ``clf.classes_``;
    ``params``, if any, are set on top of the defaults; ``estimator`` is the
    class fitted, ``ShotVAEClassifier`` or a subclass of it.
    """
    shape, _ = PROTOCOLS[protocol]
    if protocol.startswith("fmnist"):
        params.setdefault("input_shape", shape)
    X_fit, y_partial, X_val, y_val, _ = split(protocol, draw)
    clf = estimator(random_state=draw, **params)
    start = time.perf_counter()
    clf.fit(X_fit, y_partial)
    return clf, X_fit, X_val, np.searchsorted(clf.classes_, y_val), time.perf_counter() - start


def fit_for_vote(protocol, draw, **params):
    """One fit of the defaults for a study of their vote: ``(clf, X_fit, X_val, error, network, row)``.

    ``error(proba)`` is the validation error (%) of class distributions over
    ``clf.classes_``; ``network`` the validation samples' ``q(y|x)`` alone
    (``vote_neighbors=0``, restored afterwards), a float64 tensor; ``row`` the
    keys every such study's JSON line has. ``params``, if any, are set on top
    of the defaults.
    """
    clf, X_fit, X_val, labels, fit_seconds = fit_defaults(protocol, draw, **params)

    def error(proba):
        return 100.0 * float(np.mean(np.argmax(proba, axis=1) != labels))

    k = clf.vote_neighbors
    network = torch.from_numpy(clf.set_params(vote_neighbors=0).predict_proba(X_val))
    clf.set_params(vote_neighbors=k)
    row = {"protocol": protocol, "draw": draw, "fit_seconds": fit_seconds,
           "vote_neighbors": k, "vote_weight": clf._resolved_vote_weight(),
           "network": error(network.numpy())}
    return clf, X_fit, X_val, error, network, row


def run_draws(description, measure, write_summary, report, default_out, argv=None,
              add_options=None):
    """The command line of a script that measures one fit per protocol and draw.

    ``--protocols`` and ``--draws`` append one JSON line ``measure(protocol,
    draw, **options)`` per fit to ``--out`` (so runs add up) and print
    ``report(row)``; ``--summary`` calls ``write_summary(out,
    out.with_suffix(".md"))``. ``add_options(parser)``, if given, adds the
    script's own options, whose values ``measure`` receives by name.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--protocols", nargs="+", choices=list(PROTOCOLS), default=[])
    parser.add_argument("--draws", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=default_out)
    parser.add_argument("--summary", action="store_true")
    common = set(vars(parser.parse_args([])))
    if add_options is not None:
        add_options(parser)
    args = parser.parse_args(argv)
    if args.summary:
        write_summary(args.out, args.out.with_suffix(".md"))
        return
    options = {name: value for name, value in vars(args).items() if name not in common}
    threads()
    for protocol in args.protocols:
        for draw in args.draws:
            row = measure(protocol, draw, **options)
            with args.out.open("a") as f:
                f.write(json.dumps(row) + "\n")
            print(f"{protocol} draw {draw}: {report(row)}", flush=True)


def draws_by_protocol(path):
    """The rows of a :func:`run_draws` file, by protocol, for its summary.

    Yields ``(protocol, rows, network, described)``: the protocol's rows by
    draw, their errors of the network alone (``row["network"]``) and a
    sentence naming the draws, that error and the median fit time.
    """
    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    for protocol in dict.fromkeys(r["protocol"] for r in rows):
        own = sorted((r for r in rows if r["protocol"] == protocol), key=lambda r: r["draw"])
        network = np.array([r["network"] for r in own])
        yield protocol, own, network, (
            f"{len(own)} draws ({' '.join(str(r['draw']) for r in own)}); the network alone "
            f"{mean_sd(network)}; median fit {np.median([r['fit_seconds'] for r in own]):.0f} s.")
