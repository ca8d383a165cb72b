import pickle
import sys

import joblib
import numpy as np
import pytest
import torch
from conftest import FAST, hide_labels
from sklearn.base import clone
from sklearn.datasets import make_blobs
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from skorch.callbacks import Callback

from skshot import ShotVAEClassifier
from skshot.losses import warmup_weight


def fit_fast(X, y, **params):
    return ShotVAEClassifier(**{**FAST, **params}).fit(X, y)


def test_api_shapes_and_ranges(blobs):
    X, y = blobs
    y_partial = hide_labels(y, 5)
    clf = fit_fast(X, y_partial)
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    assert np.all(proba >= 0)
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[proba.argmax(axis=1)])
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2])
    assert clf.n_features_in_ == 2
    z = clf.transform(X)
    assert z.shape == (len(X), FAST["latent_dim"])
    elbo = clf.score_samples(X)
    assert elbo.shape == (len(X),) and np.all(np.isfinite(elbo))
    assert clf.likelihood_ == "gaussian"
    assert clf.get_feature_names_out().tolist() == [
        f"shotvaeclassifier{i}" for i in range(FAST["latent_dim"])]


def test_transform_is_the_posterior_mean(blobs):
    X, y = blobs
    clf = fit_fast(X, hide_labels(y, 5))
    with torch.no_grad():
        mu = clf.net_.module_.encode(torch.tensor(X))[0].numpy()
    np.testing.assert_allclose(clf.transform(X), mu, rtol=1e-5, atol=1e-6)


def test_learns_well_separated_blobs_from_two_labels_per_class():
    X, y = make_blobs(n_samples=600, centers=4, cluster_std=0.6, center_box=(-8, 8),
                      random_state=1)
    X = StandardScaler().fit_transform(X)
    y_partial = hide_labels(y, 2)
    unlabeled = y_partial == -1

    def accuracies(optimal_match, drop_intrusions=False):
        return [np.mean(fit_fast(X, y_partial, max_epochs=30, optimal_match=optimal_match,
                                 ot_drop_intrusions=drop_intrusions,
                                 random_state=seed).predict(X[unlabeled]) == y[unlabeled])
                for seed in range(3)]

    # With the paper's OT term, on well-separated clusters the closest partner
    # (eq. 13) carries the two labels through each cluster, where random
    # partners' mixes of two clusters also land on a third one.
    closest, random = accuracies(True), accuracies(False)
    assert min(closest) > 0.9, closest
    assert np.mean(closest) > np.mean(random), (closest, random)
    # Leaving those mixes out (the default) lifts random partners.
    dropped = accuracies(False, drop_intrusions=True)
    assert min(dropped) > 0.9 and np.mean(dropped) > np.mean(random), (dropped, random)


def test_shot_beats_the_labeled_only_network_on_digits(digits):
    X, y = digits
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, stratify=y,
                                                        random_state=0)
    y_partial = hide_labels(y_train, 5)
    params = {"optimizer": "adam", "lr": 1e-3, "beta": 1.0, "batch_size_unlabeled": 128,
                  "max_epochs": 100, "random_state": 0}
    shot = ShotVAEClassifier(objective="shot", **params).fit(X_train, y_partial)
    labeled_only = ShotVAEClassifier(objective="supervised", **params).fit(X_train, y_partial)
    assert shot.score(X_test, y_test) > labeled_only.score(X_test, y_test)


def test_same_random_state_gives_identical_predictions(blobs):
    X, y = blobs
    y_partial = hide_labels(y, 5)
    first = fit_fast(X, y_partial, random_state=3).predict_proba(X)
    second = fit_fast(X, y_partial, random_state=3).predict_proba(X)
    other = fit_fast(X, y_partial, random_state=4).predict_proba(X)
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first, other)


def test_fit_leaves_global_torch_random_state_alone(blobs):
    X, y = blobs
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    fit_fast(X, hide_labels(y, 5), max_epochs=2)
    np.testing.assert_array_equal(torch.rand(3).numpy(), expected.numpy())


@pytest.mark.parametrize("objective", ["shot", "smooth-elbo", "m2", "supervised"])
def test_every_objective_fits_and_logs_its_parts(blobs, objective):
    X, y = blobs
    clf = fit_fast(X, hide_labels(y, 5), objective=objective, max_epochs=3)
    last = clf.history_[-1]
    expected = {
        "shot": {"rec_l", "kl_z_l", "kl_y_l", "kl_smooth", "rec_u", "kl_z_u", "kl_y_u", "ot",
                 "ot_weight"},
        "smooth-elbo": {"rec_l", "kl_z_l", "kl_y_l", "kl_smooth", "rec_u", "kl_z_u", "kl_y_u"},
        "m2": {"rec_l", "kl_z_l", "ce", "rec_u", "kl_z_u", "kl_y_u"},
        "supervised": {"ce"},
    }[objective]
    assert expected <= set(last)
    assert {"ot", "ot_weight"} & set(last) == ({"ot", "ot_weight"} if objective == "shot"
                                              else set())
    assert all(np.isfinite(last[k]) for k in expected)
    assert len(clf.history_) == 3


def test_warmup_weight_follows_eq16_over_the_fit(blobs):
    X, y = blobs
    clf = fit_fast(X, hide_labels(y, 5), max_epochs=4, gamma=5.0, ot_weight=1.0)
    logged = clf.history_[:, "ot_weight"]
    np.testing.assert_allclose(logged, [warmup_weight(e / 4, 5.0) for e in (1, 2, 3, 4)])
    assert logged[-1] == 1.0


def test_validation_fraction_records_validation_accuracy(blobs):
    X, y = blobs
    clf = fit_fast(X, hide_labels(y, 20), validation_fraction=0.25, max_epochs=3)
    accuracies = clf.history_[:, "valid_acc"]
    assert len(accuracies) == 3 and all(0.0 <= a <= 1.0 for a in accuracies)
    assert all(np.isfinite(clf.history_[:, "valid_loss"]))


def test_validation_fraction_too_large_for_the_labels_is_refused(blobs):
    X, y = blobs
    with pytest.raises(ValueError, match="validation_fraction"):
        fit_fast(X, hide_labels(y, 1), validation_fraction=0.5)


class _WeightsPerEpoch(Callback):
    """Keeps a copy of the module's weights after every epoch."""

    def on_train_begin(self, net, **kwargs):
        self.weights = {}

    def on_epoch_end(self, net, **kwargs):
        self.weights[net.history[-1, "epoch"]] = {
            name: tensor.detach().clone() for name, tensor in net.module_.state_dict().items()}


def test_early_stopping_stops_and_keeps_the_weights_of_the_best_epoch(blobs):
    X, y = blobs
    clf = fit_fast(X, hide_labels(y, 20), early_stopping=True, n_iter_no_change=2,
                   validation_fraction=0.25, max_epochs=40,
                   callbacks=[("weights", _WeightsPerEpoch())])
    scores = list(zip(clf.history_[:, "valid_acc"], -np.asarray(clf.history_[:, "valid_loss"])))
    assert clf.n_iter_ < 40  # it stopped
    # the highest held-out accuracy, ties broken by the lower held-out cross-entropy
    assert clf.best_epoch_ == scores.index(max(scores)) + 1
    assert clf.n_iter_ - clf.best_epoch_ == 2  # two epochs without improvement
    kept = clf.net_.module_.state_dict()
    weights = dict(clf.net_.callbacks_)["weights"].weights  # the fit's copy of the callback
    best, last = weights[clf.best_epoch_], weights[clf.n_iter_]
    assert all(torch.equal(kept[name], best[name]) for name in kept)
    assert not all(torch.equal(kept[name], last[name]) for name in kept)


def test_early_stopping_holds_out_a_tenth_of_the_labels_by_default(blobs):
    X, y = blobs
    y_partial = hide_labels(y, 20)  # 60 labels: 6 held out
    clf = fit_fast(X, y_partial, early_stopping=True, max_epochs=3)
    assert len(clf.history_[:, "valid_acc"]) == clf.n_iter_
    assert clf.best_epoch_ in (1, 2, 3)
    plain = fit_fast(X, y_partial, max_epochs=3)
    assert "valid_loss" not in plain.history_[-1] and plain.best_epoch_ is None
    # the split matches validation_fraction=0.1 given explicitly
    explicit = fit_fast(X, y_partial, early_stopping=True, max_epochs=3,
                        validation_fraction=0.1)
    np.testing.assert_array_equal(clf.history_[:, "valid_loss"],
                                  explicit.history_[:, "valid_loss"])


def test_early_stopping_without_enough_labels_to_hold_out_is_refused(blobs):
    X, y = blobs
    with pytest.raises(ValueError, match="early_stopping=True"):
        fit_fast(X, hide_labels(y, 1), early_stopping=True)


@pytest.mark.parametrize("labels", [
    np.array([3, 7, 11]),
    np.array(["cat", "dog", "emu"]),
    np.array(["cat", "dog", "emu"], dtype=object),
])
def test_class_labels_of_any_kind(blobs, labels):
    X, y = blobs
    y_named = labels[y]
    unlabeled = hide_labels(y, 5) == -1
    if y_named.dtype.kind == "U":
        y_named[unlabeled] = "-1"
    else:
        y_named[unlabeled] = -1
    clf = fit_fast(X, y_named)
    np.testing.assert_array_equal(clf.classes_, np.sort(labels))
    assert set(clf.predict(X)) <= set(labels)
    assert clf.score(X, labels[y]) > 0.8


def test_fully_labeled_y_works(blobs):
    X, y = blobs
    assert fit_fast(X, y).score(X, y) > 0.9


def test_no_labeled_sample_is_refused(blobs):
    X, _ = blobs
    with pytest.raises(ValueError, match="no labeled sample"):
        fit_fast(X, np.full(len(X), -1))


def test_a_single_labeled_class_is_refused(blobs):
    X, _ = blobs
    y = np.full(len(X), -1)
    y[:5] = 2
    with pytest.raises(ValueError, match="only one class"):
        fit_fast(X, y)


def test_score_counts_only_labeled_samples(blobs):
    X, y = blobs
    clf = fit_fast(X, hide_labels(y, 5))
    y_eval = y.copy()
    y_eval[::2] = -1
    keep = y_eval != -1
    expected = np.mean(clf.predict(X[keep]) == y[keep])
    assert clf.score(X, y_eval) == pytest.approx(expected)
    with pytest.raises(ValueError, match="every entry of y is -1"):
        clf.score(X, np.full(len(X), -1))


def test_likelihood_auto_and_bernoulli_range_check(digits, blobs):
    X, y = digits
    clf = fit_fast(X[:200], hide_labels(y[:200], 3), max_epochs=1)
    assert clf.likelihood_ == "bernoulli"
    Xb, yb = blobs
    with pytest.raises(ValueError, match=r"likelihood='bernoulli' needs every feature in \[0, 1\]"):
        fit_fast(Xb, yb, likelihood="bernoulli")


def test_sample_from_the_prior_and_in_the_style_of_inputs(digits):
    X, y = digits
    clf = fit_fast(X[:300], hide_labels(y[:300], 3), max_epochs=2)
    X_new, y_new = clf.sample([3, 7], n_samples=4, random_state=0)
    assert X_new.shape == (8, 64)
    np.testing.assert_array_equal(y_new, [3] * 4 + [7] * 4)
    assert X_new.min() >= 0 and X_new.max() <= 1
    np.testing.assert_array_equal(X_new, clf.sample([3, 7], n_samples=4, random_state=0)[0])

    X_style, y_style = clf.sample([0, 1, 2], X=X[:5])
    assert X_style.shape == (15, 64)
    np.testing.assert_array_equal(y_style, np.repeat([0, 1, 2], 5))
    # Each block decodes the same z (the inputs' posterior means) with another class.
    module = clf.net_.module_
    with torch.no_grad():
        z = module.encode(torch.tensor(X[:5]))[0]
        expected = module.decode_mean(z, torch.nn.functional.one_hot(
            torch.full((5,), 1), 10).float()).numpy()
    np.testing.assert_allclose(X_style[5:10], expected, rtol=1e-5, atol=1e-6)


def test_samples_of_the_defaults_are_recognised_as_the_class_asked_for():
    # The defaults (beta=6) make the decoder read y: an independent judge, a
    # logistic regression fitted on digits the model never saw, assigns at least
    # 90 % of the samples (from the prior, and inputs restyled as every class)
    # to the class asked for. With the paper's beta=0.01 it is near chance.
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression

    from skshot.datasets import mask_labels

    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    X_fit, X_judge, y_fit, y_judge = train_test_split(X, y, test_size=0.3, stratify=y,
                                                      random_state=0)
    clf = ShotVAEClassifier(max_epochs=40, random_state=0)  # the defaults, shorter
    clf.fit(X_fit, mask_labels(y_fit, 5, random_state=0))
    judge = LogisticRegression(max_iter=500).fit(X_judge, y_judge)
    X_prior, y_prior = clf.sample(clf.classes_, n_samples=20, random_state=0)
    X_restyled, y_restyled = clf.sample(clf.classes_, X=X_judge[:50])
    assert judge.score(X_prior, y_prior) >= 0.9
    assert judge.score(X_restyled, y_restyled) >= 0.9


def test_sample_refuses_unknown_classes_and_n_samples_with_X(digits):
    X, y = digits
    clf = fit_fast(X[:300], hide_labels(y[:300], 3), max_epochs=1)
    with pytest.raises(ValueError, match=r"not in classes_"):
        clf.sample([10])
    with pytest.raises(ValueError, match="n_samples must be 1 when X is given"):
        clf.sample([1], n_samples=2, X=X[:2])
    with pytest.raises(ValueError, match="n_samples must be a positive integer"):
        clf.sample([1], n_samples=0)


def test_score_samples_does_not_depend_on_the_batch(blobs):
    X, y = blobs
    clf = fit_fast(X, hide_labels(y, 5), batch_size_predict=7)
    np.testing.assert_allclose(clf.score_samples(X[:5]), clf.score_samples(X)[:5], rtol=1e-5)


@pytest.mark.parametrize("method", ["predict", "predict_proba", "transform", "score_samples"])
def test_methods_before_fit_raise_not_fitted(blobs, method):
    X, _ = blobs
    with pytest.raises(NotFittedError):
        getattr(ShotVAEClassifier(), method)(X)


def test_clone_pickle_and_joblib_round_trips(blobs, tmp_path):
    X, y = blobs
    clf = fit_fast(X, hide_labels(y, 5))
    cloned = clone(clf)
    assert cloned.get_params() == clf.get_params()
    assert not hasattr(cloned, "net_")
    expected = clf.predict_proba(X)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(clf)).predict_proba(X), expected)
    joblib.dump(clf, tmp_path / "clf.joblib")
    np.testing.assert_array_equal(joblib.load(tmp_path / "clf.joblib").predict_proba(X), expected)


def test_grid_search_over_epsilon_and_gamma_scores_labeled_parts(blobs):
    X, y = blobs
    y_partial = hide_labels(y, 10)
    search = GridSearchCV(ShotVAEClassifier(**{**FAST, "max_epochs": 5}),
                          {"epsilon": [1e-3, 0.1], "gamma": [0.0, 5.0]}, cv=2)
    search.fit(X, y_partial)
    assert len(search.cv_results_["params"]) == 4
    assert search.best_params_["epsilon"] in (1e-3, 0.1)
    # Each fold is scored on its labeled samples only, so the scores are accuracies
    # of real labels, far above the share of labeled samples (10 %).
    assert np.min(search.cv_results_["mean_test_score"]) > 0.5


def test_pipeline_with_a_scaler(digits):
    X, y = digits
    pipe = make_pipeline(MinMaxScaler(), ShotVAEClassifier(**FAST))
    pipe.fit(X[:400] * 16, hide_labels(y[:400], 5))
    assert pipe[-1].likelihood_ == "bernoulli"
    assert pipe.score(X[400:600] * 16, y[400:600]) > 0.5


class EpochCounter(Callback):
    def __init__(self):
        self.epochs = 0

    def on_epoch_end(self, net, **kwargs):
        self.epochs += 1


def test_callbacks_are_used_on_a_copy(blobs):
    X, y = blobs
    counter = EpochCounter()
    clf = fit_fast(X, hide_labels(y, 5), max_epochs=3, callbacks=[("counter", counter)])
    assert counter.epochs == 0
    assert dict(clf.net_.callbacks_)["counter"].epochs == 3


def test_verbose_levels(blobs, capsys):
    X, y = blobs
    fit_fast(X, hide_labels(y, 5), max_epochs=2, verbose=0)
    assert capsys.readouterr() == ("", "")
    fit_fast(X, hide_labels(y, 5), max_epochs=3, verbose=1)
    bar = capsys.readouterr().err
    assert "3/3" in bar and "rec_u=" in bar and "ot_weight=3" in bar  # the default ot_weight
    fit_fast(X, hide_labels(y, 5), max_epochs=2, verbose=2)
    table = capsys.readouterr().out
    assert "train_loss" in table and "kl_z_u" in table and len(table.splitlines()) == 4


def test_step_schedule_lowers_the_learning_rate_at_its_milestones(blobs):
    X, y = blobs
    clf = fit_fast(X, hide_labels(y, 5), max_epochs=12, lr=0.01, lr_schedule="step")
    lrs = clf.history_[:, "event_lr"]
    np.testing.assert_allclose(lrs[:8], 0.01)
    np.testing.assert_allclose(lrs[8:10], 1e-3)
    np.testing.assert_allclose(lrs[10:], [1e-4, 1e-5])


def test_few_labels_among_many_samples():
    rng = np.random.RandomState(0)
    X = rng.rand(60_000, 3).astype(np.float32)
    y = np.full(60_000, -1)
    y[:10] = np.arange(10) % 2
    clf = ShotVAEClassifier(hidden_sizes=(8,), latent_dim=2, max_epochs=1, random_state=0)
    clf.fit(X, y)
    assert clf.history_[-1, "train_batch_count"] == np.ceil(60_000 / 512)


def test_training_does_not_sync_with_the_device_every_step(blobs, monkeypatch):
    # Counts Tensor.item calls outside torch.optim, whose optimizers read their
    # step counters, CPU tensors that never wait for a device.
    X, y = blobs
    calls = {"item": 0}
    item = torch.Tensor.item

    def counting_item(self):
        caller = sys._getframe(1).f_globals.get("__name__", "")
        if not caller.startswith("torch.optim"):
            calls["item"] += 1
        return item(self)

    monkeypatch.setattr(torch.Tensor, "item", counting_item)
    clf = fit_fast(X, hide_labels(y, 5), max_epochs=2, batch_size_unlabeled=10)
    n_steps = sum(clf.history_[:, "train_batch_count"])
    assert n_steps == 60
    assert calls["item"] < n_steps / 4


@pytest.mark.parametrize("params, match", [
    ({"hidden_sizes": (32, 0)}, "hidden_sizes"),
    ({"objective": "vat"}, "objective"),
    ({"epsilon": 1.0}, "epsilon"),
    ({"temperature": 0.0}, "temperature"),
    ({"optimizer": "lbfgs"}, "optimizer"),
])
def test_invalid_parameters_are_named(blobs, params, match):
    X, y = blobs
    with pytest.raises(ValueError, match=match):
        ShotVAEClassifier(**params).fit(X, y)
