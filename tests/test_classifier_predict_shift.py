"""ShotVAEClassifier's class distributions averaged over translated copies (``predict_shift``)."""

import copy

import numpy as np
import pytest
import torch
from conftest import FAST, hide_labels
from sklearn.base import clone

import skshot
from skshot import ShotVAEClassifier
from skshot.classifier import AUTO_PREDICT_SHIFT, AUTO_VOTE_WEIGHT, AUTO_VOTE_WEIGHT_SHIFTED

IMAGE_FAST = {**FAST, "max_epochs": 2, "batch_size_unlabeled": 32, "batch_size_labeled": 16,
              "latent_dim": 3, "backbone": "conv-mlp"}


@pytest.fixture(scope="module")
def images(digits):
    """60 digits as (n, 1, 8, 8) images, 3 classes, 5 labels per class."""
    X, y = digits
    keep = np.flatnonzero(y < 3)[:60]
    return X[keep].reshape(-1, 1, 8, 8), hide_labels(y[keep], 5)


@pytest.fixture(scope="module")
def fitted(images):
    X, y_partial = images
    return ShotVAEClassifier(**IMAGE_FAST).fit(X, y_partial)


def shifted(X, dy, dx):
    """Each (1, H, W) image of ``X`` reflect-padded by numpy and cropped at offset (dy, dx)."""
    pad = max(abs(dy), abs(dx))
    padded = np.pad(X, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode="reflect")
    return padded[:, :, pad + dy:pad + dy + X.shape[2], pad + dx:pad + dx + X.shape[3]]


def copies_mean(clf, X, shift):
    """The network's q(y|x) averaged over every translated copy, computed one copy at a time."""
    alone = copy.deepcopy(clf).set_params(predict_shift=0, vote_neighbors=0)
    offsets = [(dy, dx) for dy in range(-shift, shift + 1) for dx in range(-shift, shift + 1)]
    return np.mean([alone.predict_proba(shifted(X, dy, dx)) for dy, dx in offsets], axis=0)


def test_auto_averages_over_one_pixel_translations_for_a_model_trained_on_them(images, fitted):
    X, _ = images
    assert fitted.augmentation_ == "translate-encoder" and fitted.predict_shift == "auto"
    assert AUTO_PREDICT_SHIFT == 1
    network = copy.deepcopy(fitted).set_params(vote_neighbors=0)
    np.testing.assert_allclose(network.predict_proba(X), copies_mean(fitted, X, 1), rtol=1e-6,
                               atol=1e-9)
    # and it is not the image as given
    assert np.abs(network.predict_proba(X) - copies_mean(fitted, X, 0)).max() > 1e-4


@pytest.mark.parametrize("shift", [0, 2])
def test_a_given_shift_averages_over_its_square_of_offsets(images, fitted, shift):
    X, _ = images
    network = copy.deepcopy(fitted).set_params(vote_neighbors=0, predict_shift=shift)
    np.testing.assert_allclose(network.predict_proba(X), copies_mean(fitted, X, shift),
                               rtol=1e-6, atol=1e-9)


def test_log_proba_predict_and_the_vote_read_the_averaged_distributions(images, fitted):
    X, _ = images
    proba = fitted.predict_proba(X)
    np.testing.assert_allclose(np.exp(fitted.predict_log_proba(X)), proba, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(fitted.predict(X), fitted.classes_[proba.argmax(axis=1)])
    flat = torch.from_numpy(np.ascontiguousarray(X.reshape(len(X), -1), dtype=np.float32))
    nearest = skshot.voting.nearest_samples(flat, flat, fitted.vote_neighbors)
    vote = skshot.voting.neighbour_vote(torch.from_numpy(fitted.label_distributions_), nearest)
    # vote_weight="auto" gives the vote a share of 0.4 where q(y|x) is averaged over copies
    assert fitted.vote_weight == "auto" and AUTO_VOTE_WEIGHT_SHIFTED == 0.4
    blended = 0.6 * copies_mean(fitted, X, 1) + 0.4 * vote.numpy()
    np.testing.assert_allclose(proba, blended, rtol=1e-6, atol=1e-9)
    # read as given, the vote's share is one half again
    assert AUTO_VOTE_WEIGHT == 0.5
    as_given = copy.deepcopy(fitted).set_params(predict_shift=0)
    np.testing.assert_allclose(as_given.predict_proba(X),
                               0.5 * copies_mean(fitted, X, 0) + 0.5 * vote.numpy(),
                               rtol=1e-6, atol=1e-9)
    # and a share the user gives is kept
    given = copy.deepcopy(fitted).set_params(vote_weight=0.8)
    np.testing.assert_allclose(given.predict_proba(X),
                               0.2 * copies_mean(fitted, X, 1) + 0.8 * vote.numpy(),
                               rtol=1e-6, atol=1e-9)


def test_unlabeled_training_rows_of_label_distributions_are_averaged_too(images, fitted):
    X, y_partial = images
    unlabeled = y_partial == -1
    np.testing.assert_allclose(fitted.label_distributions_[unlabeled],
                               copies_mean(fitted, X[unlabeled], 1), rtol=1e-6, atol=1e-9)
    labeled = ~unlabeled
    np.testing.assert_array_equal(fitted.label_distributions_[labeled].argmax(axis=1),
                                  np.searchsorted(fitted.classes_, y_partial[labeled]))


def test_auto_reads_each_image_as_given_without_translation_in_training(images):
    X, y_partial = images
    clf = ShotVAEClassifier(augmentation=None, **IMAGE_FAST).fit(X, y_partial)
    network = copy.deepcopy(clf).set_params(vote_neighbors=0)
    np.testing.assert_array_equal(network.predict_proba(X),
                                  copy.deepcopy(network).set_params(predict_shift=0)
                                  .predict_proba(X))


def test_rows_of_features_read_as_given_and_a_shift_is_refused(digits):
    X, y = digits
    y_partial = hide_labels(y, 3)
    clf = ShotVAEClassifier(**FAST).fit(X[:100], y_partial[:100])
    assert clf.augmentation_ is None
    clf.predict_proba(X[:5])  # "auto" means 0 here
    with pytest.raises(ValueError, match="predict_shift=1 translates images"):
        clf.set_params(predict_shift=1).predict_proba(X[:5])


def test_a_shift_as_large_as_the_images_is_refused(images, fitted):
    X, _ = images
    with pytest.raises(ValueError, match=r"predict_shift=8 must be smaller.*\(8, 8\)"):
        copy.deepcopy(fitted).set_params(predict_shift=8).predict_proba(X)


@pytest.mark.parametrize("value", [-1, 1.5, "all"])
def test_predict_shift_is_a_validated_parameter(images, value):
    X, y_partial = images
    with pytest.raises(ValueError, match="predict_shift"):
        ShotVAEClassifier(**{**IMAGE_FAST, "predict_shift": value}).fit(X, y_partial)


def test_clone_keeps_predict_shift(fitted):
    assert clone(fitted.set_params(predict_shift=2)).predict_shift == 2
    fitted.set_params(predict_shift="auto")


def test_saved_and_loaded_the_averaged_predictions_are_kept(images, fitted, tmp_path):
    X, _ = images
    skshot.save(fitted, tmp_path / "model")
    loaded = skshot.load(tmp_path / "model")
    assert loaded.predict_shift == "auto"
    np.testing.assert_array_equal(loaded.predict_proba(X), fitted.predict_proba(X))


def test_a_pickle_from_before_predict_shift_reads_each_image_as_given(images, fitted):
    X, _ = images
    state = copy.deepcopy(fitted).__getstate__()
    del state["predict_shift"]  # what an earlier version pickled
    old = ShotVAEClassifier.__new__(ShotVAEClassifier)
    old.__setstate__(state)
    assert old.predict_shift == 0
    np.testing.assert_array_equal(
        old.predict_proba(X), copy.deepcopy(fitted).set_params(predict_shift=0).predict_proba(X))
