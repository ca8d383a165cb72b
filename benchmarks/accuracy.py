"""Test error of ShotVAEClassifier and scikit-learn's semi-supervised estimators.

Protocols (each over several seeds; a seed draws the labels, initialises the networks
and, in the quick profile, draws the Fashion-MNIST subsets):

- ``fmnist-100``: Fashion-MNIST, 10 labels per class, 60 000 training and
  10 000 test images;
- ``fmnist-1000``: the same with 100 labels per class;
- ``digits-50``: scikit-learn's digits, stratified 80/20 split, 5 labels per class;
- ``cancer-20``, ``wine-30`` and ``iris-30``: scikit-learn's breast cancer
  (569 samples, 30 features, 2 classes), wine (178 samples, 13 features, 3
  classes) and iris (150 samples, 4 features, 3 classes) data, stratified
  70/30 split, 10 labels per class, every method behind a
  ``StandardScaler`` fitted on the training split;
- ``synth-40``: a fixed draw of ``make_classification`` (1 000 samples, 6
  features, 4 classes of 2 clusters each; ``_protocols.py``), split and
  scaled as the tabular sets, 10 labels per class.

The small data sets' test split is fixed (``_protocols.small_test_split``):
the validation protocols that chose the defaults (``levers.py``) never read
it, and a seed draws the labels (and the networks' initialisation) only.

Methods: ``ShotVAEClassifier`` with ``objective`` ``"m2"``, ``"smooth-elbo"``
and ``"shot"``; ``"shot-3x"``, the defaults trained three times as long (the
check that longer training does not make the model worse); the same network
trained on the labeled samples only (``objective="supervised"``, predicting with
``q(y|x)`` alone, ``vote_neighbors=0``); ``LabelSpreading(kernel="knn")`` (on 50 PCA
components for Fashion-MNIST) and ``SelfTrainingClassifier(LogisticRegression())``.
Measured only when named in ``--methods``: ``"shot+propagation"``, the defaults
with the label propagation weighted 1 (``propagation_weight=1``; the default
is 0.3); ``"shot+early-stopping"`` and
``"shot-3x+early-stopping"``, the defaults and the three times longer fit with
``early_stopping=True`` (a tenth of the labels held out; it needs at least one
held-out label per class, so not on the digits' 50 labels); ``"shot+input-graph"``,
the defaults with the label propagation's graph built from the samples themselves
(``propagation_features="input"``; the default ``"auto"`` links the samples and
the network's features side by side on the small sets and the features alone on
Fashion-MNIST); ``"shot+input-graph-w1"``, that graph with the label propagation
weighted 1; ``"shot+weight-decay"`` and ``"shot-3x+weight-decay"``, the
defaults and the three times longer fit with ``weight_decay=0.1`` (the default
is 5e-4), the user guide's advice for small tabular sets; ``"shot+intrusion-k1"``, the
defaults with ``ot_intrusion_neighbors=1``, the behaviour of earlier versions (the default
``"auto"`` looks at three neighbours of a mix on the small sets and at one on Fashion-MNIST);
``"shot+image-vote"``, the defaults with a larger share for the vote of 7 nearest training
samples (``vote_neighbors=7, vote_weight=0.8``), the user guide's option for small image sets;
``"shot+small-images"``, that vote with a learning rate of 3e-3 (``lr=3e-3``; the default is
1e-3), the user guide's advice for small image sets from 2026-12-05;
``"shot+small-images+eps0.1"``, that with the labels smoothed by ``epsilon=0.1`` (the default
is the paper's 1e-3), a candidate addition to that advice;
``"shot+vote-axes64"``, the defaults with the vote's distances measured on the training
samples' first 64 principal axes (``vote_components=64``), the option that cuts the vote's
cost on images; ``"shot+mlp"`` and ``"shot-3x+mlp"``, the defaults and the three times
longer fit with the ``"mlp"`` backbone (``backbone="mlp"``), which reads images as rows of
pixels, without translation and in float32: the defaults for images before 2026-12-06;
``"labeled-only+mlp"``, the same network trained on the labels alone; ``"shot+conv-mlp"``,
``"shot-3x+conv-mlp"`` and ``"labeled-only+conv-mlp"``, the same with the ``"conv-mlp"``
backbone (``backbone="conv-mlp"``: convolutions with 16 and 32 channels and the MLP's
decoder, translated for the encoder), the option for images on a CPU without AMX;
``"shot+conv-mlp-beta10-0.75x"`` and ``"shot-3x+conv-mlp-beta10-0.75x"``, that
backbone with ``beta=10`` (the default is 6) at three quarters of the default length (26
epochs on 60 000 images) and three times that, such a CPU's defaults for images since
2026-12-07; ``"m2+conv-mlp-beta10-0.75x"`` and ``"smooth-elbo+conv-mlp-beta10-0.75x"``, the
ablation's objectives with those defaults.

Fashion-MNIST's images reach every ``ShotVAEClassifier`` method as 28x28 images
(``input_shape=(1, 28, 28)``), so that on a GPU or a CPU with AMX (bfloat16 matrix
units) the defaults read them with the ``"conv"`` backbone, translated for the
encoder, under bfloat16 (``backbone``, ``augmentation`` and ``mixed_precision``
``"auto"``); the rows ``shot``, ``shot-3x``, ``m2``, ``smooth-elbo`` and
``labeled-only`` of ``results/accuracy.md`` were measured so, on such a CPU. On a CPU
without AMX ``"auto"`` resolves to the ``"conv-mlp"`` backbone in float32, which the
``+conv-mlp`` methods measure on every machine, and the ``+mlp`` methods measure the
``"mlp"`` backbone.

Hyperparameters: for each protocol and method, the candidates of
``CANDIDATES`` are compared on a validation split carved from the training
data of the first seed (labeled validation images, never trained on); the one
with the lowest validation error is then used for every seed. The test split
is only used for the reported errors.

Writes ``benchmarks/results/accuracy.md`` and ``accuracy.json`` (or
``accuracy-quick.*`` with ``--quick``). A run updates the rows it measures
and keeps the others of the same profile, so protocols and methods can be
measured in separate runs (``--protocols``, ``--methods``), also at the same
time: each write reads the file again and keeps the rows that other runs
wrote meanwhile. Each row of a ``ShotVAEClassifier`` method records the
estimator's defaults it ran under; a row measured under earlier defaults
names, in its setting, the parameters whose defaults have changed since,
with the values it ran.

Usage: ``python benchmarks/accuracy.py [--quick] [--protocols fmnist-100 digits-50 ...]
[--methods shot shot-3x ...] [--seeds 0]``
"""

import argparse
import functools
import json
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.semi_supervised import LabelSpreading, SelfTrainingClassifier

from skshot import ShotVAEClassifier
from skshot._device import has_fast_bf16
from skshot.datasets import load_fashion_mnist, mask_labels
from skshot.persistence import ADDED_PARAMETERS

sys.path.insert(0, str(Path(__file__).parent))
from _protocols import network_error, small_test_split

RESULTS = Path(__file__).parent / "results"
#: The defaults for images of a CPU without AMX as options (``backbone="conv-mlp"``,
#: ``beta=10``, three quarters of the MLP's length), by method: each one's objective.
CONV_MLP_DEFAULTS = {"shot+conv-mlp-beta10-0.75x": "shot", "shot-3x+conv-mlp-beta10-0.75x": "shot",
                     "m2+conv-mlp-beta10-0.75x": "m2",
                     "smooth-elbo+conv-mlp-beta10-0.75x": "smooth-elbo"}
VAE_METHODS = {"m2": "m2", "smooth-elbo": "smooth-elbo", "shot": "shot",
               "shot-3x": "shot", "labeled-only": "supervised", "shot+propagation": "shot",
               "shot+early-stopping": "shot", "shot-3x+early-stopping": "shot",
               "shot+input-graph": "shot", "shot+input-graph-w1": "shot",
               "shot+weight-decay": "shot", "shot-3x+weight-decay": "shot",
               "shot+intrusion-k1": "shot", "shot+image-vote": "shot",
               "shot+vote-axes64": "shot", "shot+small-images": "shot",
               "shot+small-images+eps0.1": "shot", "shot+mlp": "shot",
               "shot-3x+mlp": "shot", "labeled-only+mlp": "supervised",
               "shot+conv-mlp": "shot", "shot-3x+conv-mlp": "shot",
               "labeled-only+conv-mlp": "supervised", **CONV_MLP_DEFAULTS}
#: How many times its base length (the default, or ``BASE_LENGTH``'s share of it) each VAE
#: method trains.
LENGTH_FACTOR = {"shot-3x": 3, "shot-3x+early-stopping": 3, "shot-3x+weight-decay": 3,
                 "shot-3x+mlp": 3, "shot-3x+conv-mlp": 3, "shot-3x+conv-mlp-beta10-0.75x": 3}
#: The share of the length of about 4 000 steps (``max_epochs="auto"`` of the ``"mlp"``
#: backbone, rounded up to whole epochs) that a VAE method takes as its own length before
#: ``LENGTH_FACTOR``.
BASE_LENGTH = dict.fromkeys(CONV_MLP_DEFAULTS, 0.75)
#: Parameters that a VAE method sets on top of the defaults and of its candidates.
METHOD_PARAMS = {"shot+propagation": {"propagation_weight": 1.0},
                 "shot+early-stopping": {"early_stopping": True},
                 "shot-3x+early-stopping": {"early_stopping": True},
                 "shot+input-graph": {"propagation_features": "input"},
                 "shot+input-graph-w1": {"propagation_features": "input",
                                         "propagation_weight": 1.0},
                 "shot+weight-decay": {"weight_decay": 0.1},
                 "shot-3x+weight-decay": {"weight_decay": 0.1},
                 "shot+intrusion-k1": {"ot_intrusion_neighbors": 1},
                 "shot+image-vote": {"vote_neighbors": 7, "vote_weight": 0.8},
                 "shot+vote-axes64": {"vote_components": 64},
                 "shot+small-images": {"lr": 3e-3, "vote_neighbors": 7, "vote_weight": 0.8},
                 "shot+small-images+eps0.1": {"lr": 3e-3, "vote_neighbors": 7,
                                              "vote_weight": 0.8, "epsilon": 0.1},
                 "shot+mlp": {"backbone": "mlp"}, "shot-3x+mlp": {"backbone": "mlp"},
                 # the network on the labels alone: no vote of the unlabeled samples either
                 "labeled-only": {"vote_neighbors": 0},
                 "labeled-only+mlp": {"vote_neighbors": 0, "backbone": "mlp"},
                 "shot+conv-mlp": {"backbone": "conv-mlp"},
                 "shot-3x+conv-mlp": {"backbone": "conv-mlp"},
                 "labeled-only+conv-mlp": {"vote_neighbors": 0, "backbone": "conv-mlp"},
                 **{method: {"backbone": "conv-mlp", "beta": 10.0}
                    for method in CONV_MLP_DEFAULTS}}
#: Methods measured only when ``--methods`` names them (options, not defaults).
OPTIONAL_METHODS = ["shot+propagation", "shot+early-stopping", "shot-3x+early-stopping",
                    "shot+input-graph", "shot+input-graph-w1", "shot+weight-decay",
                    "shot-3x+weight-decay", "shot+intrusion-k1", "shot+image-vote",
                    "shot+vote-axes64", "shot+small-images", "shot+small-images+eps0.1",
                    "shot+mlp", "shot-3x+mlp", "labeled-only+mlp",
                    "shot+conv-mlp", "shot-3x+conv-mlp", "labeled-only+conv-mlp",
                    *CONV_MLP_DEFAULTS]
#: Data sets of images, with the shape that the ``ShotVAEClassifier`` methods receive as
#: ``input_shape`` (the others read rows of features).
IMAGE_SHAPES = {"fmnist": (1, 28, 28)}
METHODS = [*(m for m in VAE_METHODS if m not in OPTIONAL_METHODS), "LabelSpreading",
           "SelfTraining"]

#: Candidate settings per method family, compared on the validation split; the
#: quick profile compares fewer. A setting is applied on top of the defaults.
#: The estimator's defaults were chosen over several label draws on validation
#: splits (``levers.py``, ``results/levers.md``), so the VAE methods run them.
CANDIDATES = {
    "vae": [{}],
    "LabelSpreading": [{"n_neighbors": 7}, {"n_neighbors": 15}],
    "SelfTraining": [{"threshold": 0.9}],
}
QUICK_CANDIDATES = {"vae": [{}], "LabelSpreading": [{"n_neighbors": 15}],
                    "SelfTraining": [{"threshold": 0.9}]}

PROFILES = {
    # quick: Fashion-MNIST subsampled, few epochs, one seed; digits as in full.
    "quick": {"fmnist_train": 6000, "fmnist_test": 2000, "fmnist_epochs": 30,
              "digits_epochs": 100, "tabular_epochs": 100,
              "seeds": {"fmnist": [0], "digits": [0, 1, 2], "tabular": [0, 1, 2]},
              "validation": {"fmnist": 1000, "digits": 0.2, "tabular": 0.3}},
    # full: all of Fashion-MNIST, the estimator's default length (max_epochs="auto").
    "full": {"fmnist_train": None, "fmnist_test": None, "fmnist_epochs": "auto",
             "digits_epochs": "auto", "tabular_epochs": "auto",
             "seeds": {"fmnist": [0, 1, 2], "digits": [0, 1, 2], "tabular": [0, 1, 2]},
             "validation": {"fmnist": 5000, "digits": 0.2, "tabular": 0.3}},
}
PROTOCOLS = {"fmnist-100": ("fmnist", 10), "fmnist-1000": ("fmnist", 100),
             "digits-50": ("digits", 5), "cancer-20": ("cancer", 10),
             "wine-30": ("wine", 10), "iris-30": ("iris", 10),
             "synth-40": ("synth", 10)}
#: The profile's settings (epochs, seeds, validation size) of each data set.
FAMILY = {"fmnist": "fmnist", "digits": "digits", "cancer": "tabular", "wine": "tabular",
          "iris": "tabular", "synth": "tabular"}


def load(dataset, seed, profile):
    """Train/test split of one seed: (X_train, y_train, X_test, y_test)."""
    if dataset != "fmnist":  # a fixed test split, which no validation protocol reads
        return small_test_split(dataset)
    X_train, y_train = load_fashion_mnist(subset="train", return_X_y=True)
    X_test, y_test = load_fashion_mnist(subset="test", return_X_y=True)
    rng = np.random.RandomState(seed)
    n_train, n_test = profile["fmnist_train"], profile["fmnist_test"]
    train = rng.permutation(len(X_train))[:n_train]
    test = rng.permutation(len(X_test))[:n_test]
    return X_train[train], X_test[test], y_train[train], y_test[test]


def estimator_defaults():
    """The estimator's default parameters that are plain values, as JSON would store them."""
    return json.loads(json.dumps({
        k: v for k, v in ShotVAEClassifier().get_params().items()
        if isinstance(v, (int, float, str, bool, type(None), tuple))}))


def train_size(dataset, profile):
    """Training samples of a data set's test protocol (the same for every seed)."""
    return _train_size(dataset, profile["fmnist_train"])


@functools.cache
def _train_size(dataset, fmnist_train):
    return len(load(dataset, 0, {"fmnist_train": fmnist_train, "fmnist_test": 1})[0])


def resolved_defaults(current, n_train, input_shape=None, fast_bf16=True):
    """``current`` with the ``"auto"`` values that depend on the data resolved.

    ``ot_intrusion_neighbors`` depends on the training size ``n_train``;
    ``backbone``, ``augmentation`` and ``mixed_precision`` on whether the
    samples are images (``input_shape``), on how many train (``n_train``) and
    on whether the CPU has bfloat16 instructions (``fast_bf16``: as on the CPU
    that measured the row, not on the one writing the table); ``predict_shift``
    on the augmentation and ``vote_weight`` on ``predict_shift``;
    ``beta`` and ``max_epochs`` on the backbone
    and the training size (a row that recorded a number for ``beta`` ran
    ``max_epochs="auto"`` at about 4 000 steps with every backbone). A row measured before such a default existed
    ran the value that it resolves to on its data if its recorded value is
    that one.
    """
    resolved = dict(current)
    if current.get("ot_intrusion_neighbors") == "auto":
        model = ShotVAEClassifier(batch_size_unlabeled=current["batch_size_unlabeled"])
        resolved["ot_intrusion_neighbors"] = model._resolve_intrusion_neighbors(n_train)
    names = ("backbone", "augmentation", "mixed_precision")
    model = ShotVAEClassifier(**{k: current[k] for k in names if k in current})
    settings = model._resolve_image_settings(input_shape or (1,), "cpu", fast_bf16=fast_bf16,
                                             n_train=n_train)
    resolved.update((k, v) for k, v in zip(names, settings) if k in current)
    backbone = settings[0]
    if current.get("predict_shift") == "auto":
        resolved["predict_shift"] = ShotVAEClassifier._auto_predict_shift(settings[1])
    if current.get("vote_weight") == "auto":
        resolved["vote_weight"] = ShotVAEClassifier._auto_vote_weight(
            resolved.get("predict_shift", 0))
    if current.get("beta") == "auto":
        resolved["beta"] = ShotVAEClassifier(beta="auto")._resolve_beta(backbone)
    if current.get("max_epochs") == "auto" and "batch_size_unlabeled" in current:
        # Until beta became "auto", "auto" took about AUTO_STEPS steps with every backbone.
        length_backbone = backbone if current.get("beta") == "auto" else "mlp"
        model = ShotVAEClassifier(batch_size_unlabeled=current["batch_size_unlabeled"])
        resolved["max_epochs"] = model._resolve_max_epochs(n_train, length_backbone)
    return resolved


def earlier_defaults(method, row, current, n_train=None, input_shape=None):
    """The parameters whose defaults changed since ``row`` was measured, as it ran them.

    Parameters that the row's candidate or its method set are not defaults,
    and the labeled-only network does not read the unlabeled terms' ones.
    With ``n_train``, the protocol's training size, and ``input_shape``, its
    images' shape (None for rows of features), a recorded value equal to
    what an ``"auto"`` default resolves to there, with the method's own
    parameters, has not changed. The image defaults resolve as on the CPU
    that measured the row (``measured["cpu_bf16"]``: AMX), and as on a CPU with
    AMX for a row without that record (the CPU of the
    table's Fashion-MNIST defaults; the rows without it that a CPU without
    them measured set the backbone themselves).
    """
    own = {**METHOD_PARAMS.get(method, {}), **row["params"]}
    objective = VAE_METHODS.get(method)
    unread = (UNSUPERVISED_PARAMS if objective == "supervised"
              else OT_PARAMS if objective in ("m2", "smooth-elbo") else set())
    if method in LENGTH_FACTOR or method in BASE_LENGTH:
        unread = unread | {"max_epochs"}  # the method sets its own length
    if own.get("vote_neighbors") == 0:
        unread = unread | {"vote_weight", "vote_components"}  # no neighbour votes
    # A parameter added after the row was measured ran as ADDED_PARAMETERS says.
    recorded = {**ADDED_PARAMETERS, **row["defaults"]} if "defaults" in row else {}
    if n_train is not None:
        fast_bf16 = (row.get("measured") or {}).get("cpu_bf16", True)
        current = resolved_defaults({**current, **own}, n_train, input_shape, fast_bf16)
        recorded = resolved_defaults({**recorded, **own}, n_train, input_shape, fast_bf16)
    return {k: v for k, v in recorded.items()
            if k in current and current[k] != v and k not in own and k not in unread}


def make_model(method, dataset, params, epochs, seed, n_train):
    if method in VAE_METHODS:
        shape = {"input_shape": IMAGE_SHAPES[dataset]} if dataset in IMAGE_SHAPES else {}
        model = ShotVAEClassifier(objective=VAE_METHODS[method], random_state=seed,
                                  **{**METHOD_PARAMS.get(method, {}), **shape, **params})
        factor, base = LENGTH_FACTOR.get(method, 1), BASE_LENGTH.get(method, 1)
        if factor != 1 or base != 1:
            if epochs == "auto":
                backbone = "mlp" if base != 1 else model._resolve_image_settings(
                    IMAGE_SHAPES.get(dataset, (1,)), "cpu", n_train=n_train)[0]
                epochs = model.set_params(max_epochs="auto")._resolve_max_epochs(n_train,
                                                                                  backbone)
            epochs = factor * math.ceil(base * epochs)
        model.set_params(max_epochs=epochs)
    elif method == "LabelSpreading":
        model = LabelSpreading(kernel="knn", max_iter=100, **params)
        if dataset == "fmnist":
            model = make_pipeline(PCA(50, random_state=seed), model)
    else:
        model = SelfTrainingClassifier(LogisticRegression(max_iter=500), **params)
    if FAMILY[dataset] == "tabular":
        model = make_pipeline(StandardScaler(), model)
    return model


#: Parameters of the OT term alone, which the objectives without it do not read.
OT_PARAMS = {"gamma", "optimal_match", "mixup_alpha", "ot_kl_direction", "ot_weight",
             "ot_warmup", "ot_target_ema", "ot_target_temperature", "ot_drop_intrusions",
             "ot_intrusion_neighbors"}
#: Parameters that only the unlabeled terms read, not the labeled-only loss.
UNSUPERVISED_PARAMS = OT_PARAMS | {"beta", "elbo_weight", "epsilon", "temperature", "alpha",
                                   "likelihood", "entropy_weight", "propagation_weight",
                                   "propagation_neighbors"}


def candidates(method, quick=False):
    options = (QUICK_CANDIDATES if quick else CANDIDATES)["vae" if method in VAE_METHODS
                                                          else method]
    if VAE_METHODS.get(method) == "supervised":
        # Candidates that differ only in parameters the loss does not read are one.
        reduced = [{k: v for k, v in c.items() if k not in UNSUPERVISED_PARAMS}
                   for c in options]
        options = [c for i, c in enumerate(reduced) if c not in reduced[:i]]
    return options


def run_one(method, dataset, params, epochs, seed, X, y_partial, X_eval, y_eval):
    """``(error, fit seconds, error of the network alone)``, errors in %.

    The last is the same fit's error with ``vote_neighbors=0`` (``q(y|x)``
    alone), for a ``ShotVAEClassifier`` whose neighbours vote; None otherwise.
    """
    model = make_model(method, dataset, params, epochs, seed, len(X))
    start = time.perf_counter()
    model.fit(X, y_partial)
    seconds = time.perf_counter() - start
    error = 100.0 * (1.0 - np.mean(model.predict(X_eval) == y_eval))
    estimator = model[-1] if hasattr(model, "steps") else model
    if not isinstance(estimator, ShotVAEClassifier) or estimator.vote_neighbors == 0:
        return error, seconds, None
    return error, seconds, network_error(model, X_eval, y_eval)


def select(method, dataset, n_per_class, profile, epochs, quick):
    """Pick the candidate with the lowest error on a validation split (seed 0)."""
    options = candidates(method, quick)
    if len(options) == 1:
        return options[0], {}
    X_train, _, y_train, _ = load(dataset, 0, profile)
    size = profile["validation"][FAMILY[dataset]]
    X_fit, X_val, y_fit, y_val = train_test_split(X_train, y_train, test_size=size,
                                                  stratify=y_train, random_state=0)
    y_partial = mask_labels(y_fit, n_per_class, random_state=0)
    scores = []
    for params in options:
        error, _, _ = run_one(method, dataset, params, epochs, 0, X_fit, y_partial, X_val,
                              y_val)
        scores.append(error)
    return options[int(np.argmin(scores))], dict(zip(map(json.dumps, options), scores))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the quick profile (< 10 min)")
    parser.add_argument("--protocols", nargs="+", default=list(PROTOCOLS),
                        choices=list(PROTOCOLS))
    parser.add_argument("--methods", nargs="+", default=METHODS,
                        choices=METHODS + OPTIONAL_METHODS)
    parser.add_argument("--seeds", nargs="+", type=int, default=None,
                        help="seeds to run instead of the profile's (the table counts them); "
                        "a row of the same experiment measured on other seeds is joined")
    args = parser.parse_args(argv)
    name = "quick" if args.quick else "full"
    profile = PROFILES[name]
    started = time.perf_counter()
    stem = "accuracy-quick" if args.quick else "accuracy"
    results = {"protocols": {}, "profile": name, "date": time.strftime("%Y-%m-%d"),
               "machine": (f"{platform.platform()}, {platform.machine()}, "
                           f"{os.cpu_count()} cores, {torch.get_num_threads()} PyTorch "
                           "thread(s)"),
               "settings": profile}
    measured = set()  # (protocol, method) of the rows this run measured
    keep_rows_written_meanwhile(results, stem, measured)  # the rows of earlier runs
    for protocol in args.protocols:
        dataset, n_per_class = PROTOCOLS[protocol]
        epochs = profile[f"{FAMILY[dataset]}_epochs"]
        rows = results["protocols"].setdefault(protocol, {})
        for method in args.methods:
            params, validation = select(method, dataset, n_per_class, profile, epochs,
                                        args.quick)
            errors, seconds, network = [], [], []
            seeds = args.seeds or profile["seeds"][FAMILY[dataset]]
            for seed in seeds:
                X_train, X_test, y_train, y_test = load(dataset, seed, profile)
                y_partial = mask_labels(y_train, n_per_class, random_state=seed)
                error, fit_seconds, network_error = run_one(
                    method, dataset, params, epochs, seed, X_train, y_partial, X_test, y_test)
                errors.append(error)
                seconds.append(fit_seconds)
                network.append(network_error)
            row = {"errors": errors, "fit_seconds": seconds, "params": params,
                   "validation_errors": validation, "seeds": list(seeds),
                   "measured": {"date": time.strftime("%Y-%m-%d"),
                                "threads": torch.get_num_threads(),
                                "cpu_bf16": has_fast_bf16("cpu")}}
            if None not in network:
                row["network_errors"] = network
            if method in VAE_METHODS:
                row["defaults"] = estimator_defaults()
            rows[method] = with_earlier_seeds(rows.get(method), row) if args.seeds else row
            errors = rows[method]["errors"]
            measured.add((protocol, method))
            print(f"{protocol:12s} {method:14s} error {np.mean(errors):5.2f} ± "
                  f"{np.std(errors):4.2f} %  fit {statistics.median(seconds):6.1f} s  "
                  f"{params}", flush=True)
            # Written after every method, so that an interrupted run keeps its rows.
            results["run_seconds"] = time.perf_counter() - started
            keep_rows_written_meanwhile(results, stem, measured)
            write(results, stem)


def with_earlier_seeds(earlier, row):
    """``row`` joined with the seeds of the ``earlier`` row of the same method and protocol.

    Seeds measured in separate runs make one row only where the runs are the
    same experiment: the same parameters, the same estimator defaults and
    other seeds. Otherwise ``row`` replaces the earlier one.
    """
    same = (earlier is not None and "seeds" in earlier
            and earlier["params"] == row["params"]
            and earlier.get("defaults") == row.get("defaults")
            and not set(earlier["seeds"]) & set(row["seeds"])
            and ("network_errors" in earlier) == ("network_errors" in row))
    if not same:
        return row
    joined = dict(row)
    order = np.argsort(earlier["seeds"] + row["seeds"], kind="stable")
    for key in ("seeds", "errors", "fit_seconds", "network_errors"):
        if key in row:
            values = earlier[key] + row[key]
            joined[key] = [values[i] for i in order]
    return joined


def keep_rows_written_meanwhile(results, stem, measured):
    """Add to ``results`` the rows of the file on disk that this run did not measure.

    Another run of the same profile may have written rows since this one
    started; they are kept rather than overwritten.
    """
    path = RESULTS / f"{stem}.json"
    if not path.exists():
        return
    on_disk = json.loads(path.read_text())
    if on_disk.get("settings") != json.loads(json.dumps(results["settings"])):
        return
    for protocol, rows in on_disk["protocols"].items():
        for method, row in rows.items():
            if (protocol, method) not in measured:
                results["protocols"].setdefault(protocol, {})[method] = row


def _setting(method, row, current, n_train, input_shape):
    """A row's setting: its chosen parameters and any earlier defaults it ran under."""
    return {**earlier_defaults(method, row, current, n_train, input_shape), **row["params"]}


def _measured(row):
    """``"date, N thread(s)"`` of a row, or "–" for a row without the record.

    A row measured on a CPU without AMX (``measured["cpu_bf16"]`` False) says
    so: there the ``"auto"`` defaults read images with ``"conv-mlp"``, in
    float32.
    """
    measured = row.get("measured")
    if not measured:
        return "–"
    cpu = ", CPU without AMX" if measured.get("cpu_bf16") is False else ""
    return f"{measured['date']}, {measured['threads']} thread(s){cpu}"


def write(results, stem):
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{stem}.json").write_text(json.dumps(results, indent=2) + "\n")
    profile = results["settings"]
    lines = [
        "# Accuracy",
        "",
        (f"Profile `{results['profile']}`; the latest run: {results['date']} on "
         f"{results['machine']}, {results['run_seconds'] / 60:.1f} minutes. Rows of earlier "
         "runs are kept; `measured` gives each row's date and PyTorch threads (fit times "
         "compare only between rows measured alike; \"–\": a row measured before rows "
         "recorded it)."),
        "",
        ("Test error in % (mean ± standard deviation over the seeds) and median fit time. "
         "A `ShotVAEClassifier` row measured under earlier defaults names, in its setting, the "
         "parameters whose defaults have changed since, with the values it ran. \"network "
         "alone\": the same fits' error predicting with `q(y|x)` alone (`vote_neighbors=0`), "
         "for the rows whose training samples' labels vote (\"–\": rows without the vote)."),
        "",
        ("| protocol | method | test error (%) | network alone (%) | fit (s) | seeds | "
        "chosen setting | measured |"),
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    current = estimator_defaults()
    for protocol, rows in results["protocols"].items():
        n_train = train_size(PROTOCOLS[protocol][0], profile)
        shape = IMAGE_SHAPES.get(PROTOCOLS[protocol][0])
        for method, row in rows.items():
            errors, network = row["errors"], row.get("network_errors")
            alone = "–" if network is None else f"{np.mean(network):.2f} ± {np.std(network):.2f}"
            lines.append(
                f"| {protocol} | {method} | {np.mean(errors):.2f} ± {np.std(errors):.2f} | "
                f"{alone} | {statistics.median(row['fit_seconds']):.1f} | {len(errors)} | "
                f"`{json.dumps(_setting(method, row, current, n_train, shape))}` | {_measured(row)} |")
    lines += [
        "",
        "## How the settings were chosen",
        "",
        ("For each protocol and method, every candidate setting was fitted once on the "
        "training data of seed 0 minus a stratified validation split "
        f"({profile['validation']['fmnist']} Fashion-MNIST images, "
        f"{profile['validation']['digits']:.0%} of digits, "
        f"{profile['validation']['tabular']:.0%} of the tabular sets), with the protocol's labels "
        "per class; the candidate with the lowest error on the validation split was used "
        "for every seed (a method with a single candidate was not compared). The test "
        "split played no part. Validation errors (%):"),
        "",
        "| protocol | method | candidate | validation error (%) |",
        "| --- | --- | --- | --- |",
    ]
    for protocol, rows in results["protocols"].items():
        for method, row in rows.items():
            for candidate, error in row["validation_errors"].items():
                lines.append(f"| {protocol} | {method} | `{candidate}` | {error:.2f} |")
    lines += [
        "",
        (f"Settings of the profile: `{json.dumps(profile)}`. Epochs count passes over all "
        "training images; other parameters are the estimator's defaults."),
    ]
    (RESULTS / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines[:8 + sum(len(r) for r in results["protocols"].values())]))


if __name__ == "__main__":
    sys.exit(main())
