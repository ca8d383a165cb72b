"""vote_neighbors: predict_proba as the mean of q(y|x) and the vote of the nearest training
samples, checked against scikit-learn's NearestNeighbors on the same fit."""

import copy

import numpy as np
import pytest
from conftest import FAST, hide_labels
from sklearn.decomposition import PCA
from sklearn.neighbors import NearestNeighbors

from skshot import ShotVAEClassifier


@pytest.fixture(scope="module")
def data(blobs):
    """The blobs with 5 labels per class, and a fit whose 7 nearest samples vote."""
    X, y = blobs
    y_partial = hide_labels(y, 5)
    clf = ShotVAEClassifier(**{**FAST, "max_epochs": 5, "vote_neighbors": 7}).fit(X, y_partial)
    return X, y, y_partial, clf


@pytest.fixture(scope="module")
def fitted(data):
    return data[3]


def network_alone(clf):
    return copy.deepcopy(clf).set_params(vote_neighbors=0)


def test_predict_proba_is_the_mean_of_the_network_and_the_neighbours_vote(data, fitted):
    X, *_ = data
    rng = np.random.RandomState(0)
    X_new = X[:50] + rng.normal(scale=0.3, size=(50, X.shape[1])).astype(np.float32)
    neighbours = NearestNeighbors(n_neighbors=7).fit(X).kneighbors(X_new, return_distance=False)
    vote = fitted.label_distributions_[neighbours].mean(axis=1)
    network = network_alone(fitted).predict_proba(X_new)
    for weight in (0.5, 0.2, 1.0):
        model = copy.deepcopy(fitted).set_params(vote_weight=weight)
        expected = (1 - weight) * network + weight * vote
        np.testing.assert_allclose(model.predict_proba(X_new), expected, rtol=1e-6, atol=1e-9)
        with np.errstate(divide="ignore"):
            np.testing.assert_allclose(model.predict_log_proba(X_new), np.log(expected),
                                       rtol=1e-6, atol=1e-9)
        np.testing.assert_array_equal(model.predict(X_new),
                                      model.classes_[np.argmax(expected, axis=1)])


def test_auto_gives_the_vote_one_half_of_the_prediction_of_rows_of_features(data, fitted):
    X, *_ = data
    assert fitted.vote_weight == "auto" and fitted.augmentation_ is None
    half = copy.deepcopy(fitted).set_params(vote_weight=0.5)
    np.testing.assert_array_equal(fitted.predict_proba(X), half.predict_proba(X))
    np.testing.assert_array_equal(fitted.predict_log_proba(X), half.predict_log_proba(X))
    assert np.abs(fitted.predict_proba(X)
                  - copy.deepcopy(fitted).set_params(vote_weight=0.4).predict_proba(X)).max() > 0


def test_the_vote_corrects_the_network_where_the_neighbours_agree(data):
    # a network barely trained on 5 labels per class errs on many blobs; 15 neighbours'
    # labels outvote many of its mistakes
    X, y, y_partial, _ = data
    clf = ShotVAEClassifier(**{**FAST, "max_epochs": 1, "vote_neighbors": 15}).fit(X, y_partial)
    labeled = y_partial != -1
    clf.label_distributions_ = np.eye(3)[y]  # every training sample's true label votes
    voted = clf.score(X[~labeled], y[~labeled])
    alone = network_alone(clf).score(X[~labeled], y[~labeled])
    assert alone < 0.95 and voted > alone


def test_the_training_does_not_read_vote_neighbors(data, fitted):
    X, _, y_partial, _ = data
    other = ShotVAEClassifier(**{**FAST, "max_epochs": 5, "vote_neighbors": 0,
                                 "vote_weight": 0.9}).fit(X, y_partial)
    assert other.history_[:, "train_loss"] == fitted.history_[:, "train_loss"]
    np.testing.assert_array_equal(other.label_distributions_, fitted.label_distributions_)
    np.testing.assert_array_equal(other.predict_proba(X), network_alone(fitted).predict_proba(X))


def test_the_fit_keeps_a_copy_of_the_samples_only_when_they_vote(data, fitted):
    X, _, y_partial, _ = data
    assert fitted.X_.dtype == np.float32 and fitted.X_.shape == X.shape
    np.testing.assert_array_equal(fitted.X_, X)
    assert not np.shares_memory(fitted.X_, X)
    X_changed = X.copy()
    clf = ShotVAEClassifier(**{**FAST, "max_epochs": 2}).fit(X_changed, y_partial)
    before = clf.predict_proba(X)
    X_changed[:] = 0.0  # the user's array changes after the fit; the model does not
    np.testing.assert_array_equal(clf.predict_proba(X), before)
    clf = ShotVAEClassifier(**{**FAST, "max_epochs": 1, "vote_neighbors": 0}).fit(X, y_partial)
    assert clf.X_ is None
    with pytest.raises(ValueError, match=r"vote_neighbors=3 needs the training samples.*X_ is "
                                         r"None"):
        clf.set_params(vote_neighbors=3).predict(X)


def test_more_neighbours_than_samples_vote_with_all_of_them(data):
    X, _, y_partial, _ = data
    clf = ShotVAEClassifier(**{**FAST, "max_epochs": 1, "vote_neighbors": 10_000}).fit(
        X, y_partial)
    everyone = clf.label_distributions_.mean(axis=0)
    expected = (network_alone(clf).predict_proba(X[:5]) + everyone) / 2
    np.testing.assert_allclose(clf.predict_proba(X[:5]), expected, rtol=1e-6)


def test_images_vote_as_their_flattened_rows(digits):
    X, y = digits
    X, y = X[:300].reshape(-1, 1, 8, 8), y[:300]
    y_partial = hide_labels(y, 3)
    clf = ShotVAEClassifier(**{**FAST, "max_epochs": 1, "vote_neighbors": 4}).fit(X, y_partial)
    rows = X.reshape(len(X), -1)
    assert clf.X_.shape == rows.shape
    neighbours = NearestNeighbors(n_neighbors=4).fit(rows).kneighbors(
        rows[:20], return_distance=False)
    expected = (network_alone(clf).predict_proba(X[:20])
                + clf.label_distributions_[neighbours].mean(axis=1)) / 2
    np.testing.assert_allclose(clf.predict_proba(X[:20]), expected, rtol=1e-6, atol=1e-9)


def test_vote_components_measure_distances_on_the_principal_axes(digits):
    X, y = digits
    X, y = X[:300].reshape(-1, 1, 8, 8), y[:300]
    y_partial = hide_labels(y, 3)
    params = {**FAST, "max_epochs": 1, "vote_neighbors": 4}
    clf = ShotVAEClassifier(**params, vote_components=10).fit(X, y_partial)
    rows = X.reshape(len(X), -1)
    assert clf.X_.shape == (300, 10) and clf.X_.dtype == np.float32
    assert clf.vote_axes_.shape == (10, 64) and clf.vote_mean_.shape == (64,)
    pca = PCA(n_components=10, svd_solver="full").fit(rows.astype(np.float64))
    coordinates = pca.transform(rows)
    neighbours = NearestNeighbors(n_neighbors=4).fit(coordinates).kneighbors(
        coordinates[:40], return_distance=False)
    expected = (network_alone(clf).predict_proba(X[:40])
                + clf.label_distributions_[neighbours].mean(axis=1)) / 2
    np.testing.assert_allclose(clf.predict_proba(X[:40]), expected, rtol=1e-6, atol=1e-9)
    # the training is the same; only the space of the vote's distances differs
    exact = ShotVAEClassifier(**params).fit(X, y_partial)
    np.testing.assert_array_equal(exact.label_distributions_, clf.label_distributions_)
    assert exact.vote_axes_ is None and exact.vote_mean_ is None
    assert not np.allclose(exact.predict_proba(X), clf.predict_proba(X))


def test_vote_components_of_at_least_every_feature_keep_the_inputs(data):
    X, _, y_partial, _ = data
    for params in ({"vote_components": X.shape[1]}, {"vote_components": 50},
                   {"vote_components": 1, "vote_neighbors": 0}):
        clf = ShotVAEClassifier(**{**FAST, "max_epochs": 1, **params}).fit(X, y_partial)
        assert clf.vote_axes_ is None and clf.vote_mean_ is None
        if clf.vote_neighbors:
            np.testing.assert_array_equal(clf.X_, X)
        else:
            assert clf.X_ is None


def test_a_bad_vote_components_is_refused(data):
    X, _, y_partial, _ = data
    for value in (0, 2.5, "64"):
        with pytest.raises(ValueError, match="'vote_components' parameter of "
                                             "ShotVAEClassifier must be"):
            ShotVAEClassifier(**FAST, vote_components=value).fit(X, y_partial)
