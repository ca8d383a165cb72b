"""transduction_, label_distributions_, n_iter_ and predict_log_proba, checked against
sklearn.semi_supervised.LabelSpreading on the same data."""

import copy

import numpy as np
import pytest
import torch
from conftest import FAST, hide_labels
from scipy.special import log_softmax
from sklearn.semi_supervised import LabelSpreading

from skshot import ShotVAEClassifier
from skshot._net import ShotVAENet


@pytest.fixture(scope="module")
def data(blobs):
    X, y = blobs
    return X, y, hide_labels(y, 5)


@pytest.fixture(scope="module")
def fitted(data):
    X, _, y_partial = data
    return ShotVAEClassifier(**FAST).fit(X, y_partial)


def test_shapes_dtypes_and_meaning_match_label_spreading(data, fitted):
    X, y, y_partial = data
    spreading = LabelSpreading().fit(X, y_partial)
    for name in ("transduction_", "label_distributions_"):
        ours, theirs = getattr(fitted, name), getattr(spreading, name)
        assert ours.shape == theirs.shape and ours.dtype == theirs.dtype, name
    assert fitted.transduction_.dtype == fitted.classes_.dtype
    np.testing.assert_array_equal(fitted.classes_, spreading.classes_)
    for model in (fitted, spreading):  # a distribution per sample, its argmax the label
        np.testing.assert_allclose(model.label_distributions_.sum(axis=1), 1.0, atol=1e-12)
        np.testing.assert_array_equal(
            model.transduction_, model.classes_[model.label_distributions_.argmax(axis=1)])
    # both label the unlabeled blobs; they agree on nearly all of them
    unlabeled = y_partial == -1
    assert np.mean(fitted.transduction_[unlabeled] == y[unlabeled]) > 0.9
    assert np.mean(fitted.transduction_ == spreading.transduction_) > 0.85


def test_labeled_samples_keep_their_label_and_the_others_get_the_prediction(data, fitted):
    X, _, y_partial = data
    labeled = y_partial != -1
    np.testing.assert_array_equal(fitted.transduction_[labeled], y_partial[labeled])
    one_hot = (fitted.classes_ == y_partial[labeled][:, None]).astype(float)
    np.testing.assert_array_equal(fitted.label_distributions_[labeled], one_hot)
    network = copy.deepcopy(fitted).set_params(vote_neighbors=0)  # q(y|x) alone
    np.testing.assert_array_equal(fitted.label_distributions_[~labeled],
                                  network.predict_proba(X[~labeled]))
    np.testing.assert_array_equal(fitted.transduction_[~labeled], network.predict(X[~labeled]))


def test_a_labeled_sample_keeps_its_label_even_where_the_model_disagrees(data):
    X, y, y_partial = data
    y_wrong = y_partial.copy()
    first = np.flatnonzero(y_partial != -1)[0]
    y_wrong[first] = (y[first] + 1) % 3
    clf = ShotVAEClassifier(**{**FAST, "max_epochs": 3}).fit(X, y_wrong)
    assert clf.transduction_[first] == y_wrong[first]


@pytest.mark.parametrize("labels", [np.array(["ant", "bee", "cat"]),
                                    np.array(["ant", "bee", "cat"], dtype=object)],
                         ids=["str", "object"])
def test_transduction_has_the_dtype_of_string_classes(data, labels):
    X, _, y_partial = data
    y_named = np.where(y_partial == -1, "-1", labels[np.maximum(y_partial, 0)])
    if labels.dtype == object:
        y_named = np.where(y_partial == -1, -1, y_named).astype(object)
    clf = ShotVAEClassifier(**{**FAST, "max_epochs": 2}).fit(X, y_named)
    assert clf.transduction_.dtype == clf.classes_.dtype
    assert set(clf.transduction_) <= set(labels)
    labeled = y_partial != -1
    np.testing.assert_array_equal(clf.transduction_[labeled], y_named[labeled])


def test_samples_held_out_for_validation_get_their_given_label(data):
    X, _, y_partial = data
    clf = ShotVAEClassifier(**{**FAST, "max_epochs": 2, "validation_fraction": 0.4}).fit(
        X, y_partial)
    assert clf.transduction_.shape == (len(X),)
    labeled = y_partial != -1
    np.testing.assert_array_equal(clf.transduction_[labeled], y_partial[labeled])


def test_the_transduction_is_computed_once_at_the_end_of_fit(data, monkeypatch):
    X, _, y_partial = data
    calls = []
    map_batches = ShotVAENet.map_batches

    def counting(net, X, fn):
        calls.append(len(net.history))
        return map_batches(net, X, fn)

    monkeypatch.setattr(ShotVAENet, "map_batches", counting)
    # Without label propagation, whose refreshes map the features too.
    clf = ShotVAEClassifier(**{**FAST, "max_epochs": 4, "propagation_weight": 0.0})
    clf.fit(X, y_partial)
    assert calls == [4]  # once, after the fourth and last epoch
    assert not any("transduction" in key for key in clf.history_[-1])


def test_n_iter_counts_the_epochs_of_a_warm_start_too(data):
    X, _, y_partial = data
    clf = ShotVAEClassifier(**{**FAST, "max_epochs": 2, "warm_start": True}).fit(X, y_partial)
    assert clf.n_iter_ == 2
    clf.set_params(max_epochs=5).fit(X, y_partial)
    assert clf.n_iter_ == len(clf.history_) == 5
    clf.set_params(warm_start=False, max_epochs=3).fit(X, y_partial)
    assert clf.n_iter_ == 3


def test_predict_log_proba_is_the_log_of_predict_proba(data, fitted):
    X, _, _ = data
    log_proba = fitted.predict_log_proba(X)
    assert log_proba.shape == (len(X), 3) and log_proba.dtype == np.float64
    np.testing.assert_allclose(np.exp(log_proba), fitted.predict_proba(X), rtol=1e-12, atol=0)
    np.testing.assert_allclose(np.logaddexp.reduce(log_proba, axis=1), 0.0, atol=1e-12)


def test_predict_log_proba_stays_finite_where_a_probability_rounds_to_zero(data):
    X, _, y_partial = data
    clf = ShotVAEClassifier(**{**FAST, "max_epochs": 1, "vote_neighbors": 0}).fit(X, y_partial)
    with torch.no_grad():  # logits a thousand times larger: softmax underflows to 0
        clf.net_.module_.heads.weight[-3:] *= 1e3
        clf.net_.module_.heads.bias[-3:] *= 1e3
        logits = clf.net_.module_.encode(torch.tensor(X))[2].double().numpy()
    assert np.any(clf.predict_proba(X) == 0.0)
    log_proba = clf.predict_log_proba(X)
    assert np.all(np.isfinite(log_proba))
    np.testing.assert_allclose(log_proba, log_softmax(logits, axis=1), rtol=1e-12, atol=1e-9)
