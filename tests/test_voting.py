"""skshot.voting, each function against an independent computation (NumPy, scikit-learn)."""

import math

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA
from sklearn.neighbors import NearestNeighbors

from skshot import voting


@pytest.fixture
def points():
    rng = np.random.RandomState(0)
    return rng.normal(size=(40, 5)).astype(np.float32), rng.normal(size=(17, 5)).astype(
        np.float32)


@pytest.mark.parametrize("chunk_size", [1, 4, 1024, None])
def test_nearest_samples_are_scikit_learns_nearest_neighbours(points, chunk_size):
    references, queries = points
    ours = voting.nearest_samples(torch.from_numpy(queries), torch.from_numpy(references), 6,
                                  chunk_size=chunk_size).numpy()
    theirs = NearestNeighbors(n_neighbors=6).fit(references).kneighbors(
        queries, return_distance=False)
    np.testing.assert_array_equal(ours, theirs)


def test_nearest_samples_among_many_references():
    # more than 64 * 64 references: the search goes through groups of columns
    rng = np.random.RandomState(1)
    references, queries = rng.normal(size=(4200, 3)), rng.normal(size=(30, 3))
    ours = voting.nearest_samples(torch.from_numpy(queries), torch.from_numpy(references), 2)
    theirs = NearestNeighbors(n_neighbors=2).fit(references).kneighbors(
        queries, return_distance=False)
    np.testing.assert_array_equal(ours.numpy(), theirs)


def test_a_training_sample_is_its_own_nearest_sample(points):
    references, _ = points
    ours = voting.nearest_samples(torch.from_numpy(references), torch.from_numpy(references), 3)
    np.testing.assert_array_equal(ours[:, 0].numpy(), np.arange(len(references)))


def test_nearest_samples_of_no_queries_and_a_bad_number_of_neighbours(points):
    references, _ = points
    refs = torch.from_numpy(references)
    assert voting.nearest_samples(refs[:0], refs, 3).shape == (0, 3)
    for k in (0, len(references) + 1):
        with pytest.raises(ValueError, match=r"n_neighbors must lie in \[1, 40\]"):
            voting.nearest_samples(refs, refs, k)


@pytest.fixture
def correlated():
    """Samples whose variances differ along every axis, so the principal axes are unique."""
    rng = np.random.RandomState(1)
    mixing = rng.normal(size=(6, 6)) * np.array([5.0, 3.0, 2.0, 1.0, 0.5, 0.2])[:, None]
    return (rng.normal(size=(200, 6)) @ mixing + 3.0).astype(np.float32)


@pytest.mark.parametrize("chunk_size", [7, 4096])
def test_principal_axes_are_scikit_learns_pca_up_to_sign(correlated, chunk_size):
    mean, axes = voting.principal_axes(torch.from_numpy(correlated), 3, chunk_size=chunk_size)
    pca = PCA(n_components=3, svd_solver="full").fit(correlated.astype(np.float64))
    assert mean.dtype == axes.dtype == torch.float32 and axes.shape == (3, 6)
    np.testing.assert_allclose(mean.numpy(), pca.mean_, rtol=1e-5, atol=1e-5)
    signs = np.sign(np.sum(axes.numpy() * pca.components_, axis=1))
    np.testing.assert_allclose(axes.numpy(), signs[:, None] * pca.components_, atol=1e-5)
    np.testing.assert_allclose(axes.numpy() @ axes.numpy().T, np.eye(3), atol=1e-6)
    largest = axes.numpy()[np.arange(3), np.abs(axes.numpy()).argmax(axis=1)]
    assert np.all(largest > 0)  # the sign convention, whatever the eigensolver returned
    projected = voting.project(torch.from_numpy(correlated), mean, axes).numpy()
    np.testing.assert_allclose(projected, pca.transform(correlated) * signs, rtol=1e-4,
                               atol=1e-3)


def test_all_principal_axes_keep_the_distances(correlated):
    mean, axes = voting.principal_axes(torch.from_numpy(correlated), 6)
    projected = voting.project(torch.from_numpy(correlated), mean, axes).numpy()
    def squared_distances(a):
        return ((a[:, None, :].astype(np.float64) - a[None, :, :]) ** 2).sum(axis=-1)
    np.testing.assert_allclose(squared_distances(projected), squared_distances(correlated),
                               rtol=1e-4, atol=1e-2)


def test_principal_axes_of_a_bad_number_of_components(correlated):
    for m in (0, 7):
        with pytest.raises(ValueError, match=r"n_components must lie in \[1, 6\] for 6 "):
            voting.principal_axes(torch.from_numpy(correlated), m)
    with pytest.raises(ValueError, match="at least one sample"):
        voting.principal_axes(torch.from_numpy(correlated[:0]), 2)


def test_the_vote_is_the_mean_of_the_neighbours_distributions():
    rng = np.random.RandomState(1)
    distributions = rng.dirichlet(np.ones(4), size=30)
    indices = rng.randint(0, 30, size=(8, 5))
    expected = np.array([distributions[row].sum(axis=0) / 5 for row in indices])
    ours = voting.neighbour_vote(torch.from_numpy(distributions), torch.from_numpy(indices))
    np.testing.assert_allclose(ours.numpy(), expected, rtol=1e-12)
    np.testing.assert_allclose(ours.sum(dim=1).numpy(), 1.0, rtol=1e-12)


@pytest.mark.parametrize("weight", [0.0, 0.3, 0.5, 1.0])
def test_blend_and_log_blend_are_the_weighted_mean_of_two_distributions(weight):
    rng = np.random.RandomState(2)
    proba, vote = rng.dirichlet(np.ones(3), size=6), rng.dirichlet(np.ones(3), size=6)
    vote[0] = [1.0, 0.0, 0.0]  # classes no neighbour votes for
    expected = (1 - weight) * proba + weight * vote
    np.testing.assert_allclose(voting.blend(torch.from_numpy(proba), torch.from_numpy(vote),
                                            weight).numpy(), expected, rtol=1e-12)
    with np.errstate(divide="ignore"):
        log_expected = np.log(expected)
    log = voting.log_blend(torch.from_numpy(np.log(proba)), torch.from_numpy(vote), weight)
    np.testing.assert_allclose(log.numpy(), log_expected, rtol=1e-12)


def test_log_blend_keeps_a_probability_that_rounds_to_zero_finite():
    log_proba = torch.tensor([[0.0, -1000.0]], dtype=torch.float64)  # exp(-1000) == 0.0
    vote = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    log = voting.log_blend(log_proba, vote, 0.25)
    assert torch.isfinite(log).all()
    assert log[0, 1].item() == pytest.approx(-1000.0 + math.log(0.75))
    assert log[0, 0].item() == pytest.approx(0.0)
