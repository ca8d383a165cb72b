"""skshot.voting, each function against an independent computation (NumPy, scikit-learn)."""

import math

import numpy as np
import pytest
import torch
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
