"""Tests of skshot.propagation against dense NumPy computations of the same formulas."""

import math

import numpy as np
import pytest
import torch
from conftest import np_affinity, np_seeds

from skshot import propagation


def _dense(sparse):
    return sparse.to_dense().numpy()


@pytest.mark.parametrize("n, k, power, chunk", [(12, 1, 3, 4096), (12, 3, 3, 4), (12, 5, 1, 7),
                                                (12, 11, 2, 3),
                                                # rows longer than 64 * 64: groups of columns
                                                (4200, 2, 3, 1024)])
def test_knn_affinity_matches_a_dense_computation(n, k, power, chunk):
    rng = np.random.default_rng(k)
    features = rng.normal(size=(n, 4))
    W = propagation.knn_affinity(torch.as_tensor(features), k, power=power, chunk_size=chunk)
    np.testing.assert_allclose(_dense(W), np_affinity(features, k, power), rtol=1e-5,
                               atol=1e-7)


@pytest.mark.parametrize("k", [0, 12])
def test_knn_affinity_refuses_an_impossible_neighbour_count(k):
    with pytest.raises(ValueError, match="n_neighbors must lie in"):
        propagation.knn_affinity(torch.ones(12, 3), k)


def test_normalize_affinity_is_d_to_the_minus_half_w_d_to_the_minus_half():
    rng = np.random.default_rng(0)
    W = rng.uniform(size=(6, 6)) * (rng.uniform(size=(6, 6)) < 0.5)
    W = W + W.T
    W[3], W[:, 3] = 0.0, 0.0  # an isolated sample keeps a zero row
    S = propagation.normalize_affinity(torch.as_tensor(W).to_sparse())
    d = W.sum(axis=1)
    inv = np.where(d > 0, 1.0 / np.sqrt(np.where(d > 0, d, 1.0)), 0.0)
    np.testing.assert_allclose(_dense(S), inv[:, None] * W * inv[None, :], rtol=1e-12)


def test_diffuse_labels_is_the_truncated_series():
    rng = np.random.default_rng(1)
    W = rng.uniform(size=(7, 7))
    W = W + W.T
    S = W / np.sqrt(W.sum(1)[:, None] * W.sum(1)[None, :])
    y = np.array([0, -1, 2, -1, 0, -1, -1])
    Z = propagation.diffuse_labels(torch.as_tensor(S).to_sparse(), torch.as_tensor(y), 4,
                                   alpha=0.9, n_iter=5).numpy()
    Y = np_seeds(y, 4)
    expected = sum(0.9 ** t * np.linalg.matrix_power(S, t) @ Y for t in range(6))
    np.testing.assert_allclose(Z, expected, rtol=1e-12)
    assert np.all(Z[:, 1] == 0) and np.all(Z[:, 3] == 0)  # classes without labels


def test_diffuse_labels_converges_to_the_closed_form():
    rng = np.random.default_rng(2)
    W = rng.uniform(size=(6, 6))
    W = W + W.T
    S = W / np.sqrt(W.sum(1)[:, None] * W.sum(1)[None, :])
    y = np.array([1, -1, -1, 0, -1, -1])
    Z = propagation.diffuse_labels(torch.as_tensor(S).to_sparse(), torch.as_tensor(y), 2,
                                   alpha=0.5, n_iter=200).numpy()
    np.testing.assert_allclose(Z, np.linalg.solve(np.eye(6) - 0.5 * S, np_seeds(y, 2)),
                               rtol=1e-10)


def test_pseudo_labels_argmax_certainty_and_class_balance():
    Z = torch.tensor([[3.0, 1.0, 0.0], [0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [0.0, 2.0, 2.0],
                      [0.2, 0.1, 0.7]], dtype=torch.float64)
    y = torch.tensor([-1, -1, -1, 0, -1])
    labels, weights = propagation.pseudo_labels(Z, y)
    expected_labels = [int(np.argmax(row)) for row in Z.numpy()]
    expected_labels[3] = 0  # a labeled sample keeps its label
    assert labels.tolist() == expected_labels
    p = Z.numpy() / np.maximum(Z.numpy().sum(1, keepdims=True), 1e-300)
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = -np.nansum(np.where(p > 0, p * np.log(p), 0.0), axis=1)
    certainty = 1.0 - entropy / math.log(3)
    certainty[1] = 0.0  # not reached by the diffusion
    certainty[3] = 1.0
    counts = np.bincount(expected_labels, minlength=3)
    balance = (5 / 3) / counts[expected_labels]
    np.testing.assert_allclose(weights.numpy(), certainty * balance, rtol=1e-12, atol=1e-15)
    assert weights[2].item() == pytest.approx(0.0, abs=1e-12)  # uniform scores: no certainty


def test_graph_features_centre_and_keep_the_leading_subspace():
    rng = np.random.default_rng(3)
    basis = np.linalg.qr(rng.normal(size=(20, 3)))[0]
    features = rng.normal(size=(50, 3)) * [5.0, 3.0, 2.0] @ basis.T + 7.0
    out = propagation.graph_features(torch.as_tensor(features), n_components=3).numpy()
    centred = features - features.mean(axis=0)
    assert out.shape == (50, 3)
    # rank-3 data: the projection keeps every pairwise distance
    dist = np.linalg.norm(centred[:, None] - centred[None], axis=-1)
    np.testing.assert_allclose(np.linalg.norm(out[:, None] - out[None], axis=-1), dist,
                               rtol=1e-6, atol=1e-6)
    few = propagation.graph_features(torch.as_tensor(features[:, :2]), n_components=3)
    np.testing.assert_allclose(few.numpy(), centred[:, :2], rtol=1e-6, atol=1e-5)  # float32


def test_graph_features_of_fewer_samples_than_components_keep_their_distances():
    # 20 samples of 100 features: at most 20 axes exist, and projecting on
    # them keeps every pairwise distance of the centred samples.
    rng = np.random.default_rng(4)
    features = rng.normal(size=(20, 100))
    out = propagation.graph_features(torch.as_tensor(features), n_components=64).numpy()
    assert out.shape == (20, 20)
    centred = features - features.mean(axis=0)
    dist = np.linalg.norm(centred[:, None] - centred[None], axis=-1)
    np.testing.assert_allclose(np.linalg.norm(out[:, None] - out[None], axis=-1), dist,
                               rtol=1e-4, atol=1e-4)


def test_propagate_labels_diffuses_through_the_graph_with_at_most_n_minus_one_neighbours():
    rng = np.random.default_rng(6)
    features = torch.as_tensor(rng.normal(size=(6, 3)))
    y_index = torch.tensor([0, -1, 1, -1, -1, 2])
    # 10 neighbours asked for, 5 possible: the graph of 5
    expected = propagation.diffuse_labels(
        propagation.normalize_affinity(propagation.knn_affinity(features, 5)), y_index, 3)
    out = propagation.propagate_labels(features, y_index, 3, n_neighbors=10)
    np.testing.assert_allclose(out.numpy(), expected.numpy(), rtol=1e-12, atol=1e-12)
    two = propagation.propagate_labels(features, y_index, 3, n_neighbors=2)
    assert not torch.allclose(two, out)


def test_joint_features_average_the_cosine_similarities_of_the_views():
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(12, 4)), 3.0 * rng.normal(size=(12, 7))

    def cosine(m):
        unit = m / np.linalg.norm(m, axis=1, keepdims=True)
        return unit @ unit.T

    joint = propagation.joint_features(torch.as_tensor(a), torch.as_tensor(b)).numpy()
    assert joint.shape == (12, 11)
    np.testing.assert_allclose(cosine(joint), (cosine(a) + cosine(b)) / 2, rtol=1e-5, atol=1e-6)
    # one view alone: its own cosines, whatever the rows' lengths
    np.testing.assert_allclose(cosine(propagation.joint_features(torch.as_tensor(b)).numpy()),
                               cosine(b), rtol=1e-5, atol=1e-6)


def test_pseudo_label_loss_is_the_weighted_cross_entropy():
    rng = np.random.default_rng(4)
    logits = rng.normal(size=(5, 3))
    labels = np.array([0, 2, 1, 1, 0])
    weights = rng.uniform(size=5)
    out = propagation.pseudo_label_loss(torch.as_tensor(logits), torch.as_tensor(labels),
                                        torch.as_tensor(weights)).numpy()
    log_p = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    np.testing.assert_allclose(out, -weights * log_p[np.arange(5), labels], rtol=1e-12)


def test_two_clusters_take_the_label_of_their_labeled_member():
    rng = np.random.default_rng(5)
    a = rng.normal(size=(20, 2)) * 0.3 + [4.0, 0.0]
    b = rng.normal(size=(20, 2)) * 0.3 + [0.0, 4.0]
    features = torch.as_tensor(np.vstack([a, b]))
    y = torch.full((40,), -1)
    y[0], y[25] = 1, 0
    S = propagation.normalize_affinity(propagation.knn_affinity(features, 5))
    labels, weights = propagation.pseudo_labels(propagation.diffuse_labels(S, y, 2), y)
    assert labels.tolist() == [1] * 20 + [0] * 20
    assert torch.all(weights > 0)


def test_graph_features_project_on_the_exact_principal_axes_without_random_draws():
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(7)
    features = rng.normal(size=(200, 30)) * np.linspace(3.0, 0.5, 30) + 2.0
    state = torch.random.get_rng_state()
    out = propagation.graph_features(torch.as_tensor(features), n_components=5).numpy()
    assert torch.equal(torch.random.get_rng_state(), state)  # nothing drawn
    expected = PCA(n_components=5, svd_solver="full").fit_transform(features)
    signs = np.sign(np.sum(out * expected, axis=0))  # each axis up to its sign
    np.testing.assert_allclose(out, expected * signs, rtol=1e-4, atol=1e-4)
