import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits, make_blobs

#: A small, fast configuration for tests that fit many times.
FAST = {"hidden_sizes": (32,), "latent_dim": 4, "max_epochs": 20, "optimizer": "adam", "lr": 0.01,
            "batch_size_unlabeled": 64, "lr_schedule": "constant", "random_state": 0}


def hide_labels(y, n_per_class, random_state=0):
    """Copy of y with all but n_per_class labels per class set to -1."""
    rng = np.random.RandomState(random_state)
    y_partial = np.full_like(y, -1)
    for c in np.unique(y):
        keep = rng.choice(np.flatnonzero(y == c), n_per_class, replace=False)
        y_partial[keep] = c
    return y_partial


def np_affinity(features, k, power):
    """Dense W = A + A^T with A_ij = max(cos_ij, 0)^power for the k most similar j != i."""
    unit = features / np.linalg.norm(features, axis=1, keepdims=True)
    sim = unit @ unit.T
    np.fill_diagonal(sim, -np.inf)
    A = np.zeros_like(sim)
    for i in range(len(sim)):
        for j in np.argsort(-sim[i], kind="stable")[:k]:
            A[i, j] = max(sim[i, j], 0.0) ** power
    return A + A.T


def np_seeds(y, n_classes):
    """One-hot rows of the labeled samples (-1: none), each class's column over its count."""
    Y = np.zeros((len(y), n_classes))
    for i, c in enumerate(y):
        if c >= 0:
            Y[i, c] = 1.0
    return Y / np.maximum(Y.sum(axis=0, keepdims=True), 1.0)


@pytest.fixture(scope="session")
def blobs():
    X, y = make_blobs(n_samples=300, centers=3, cluster_std=1.0, random_state=0)
    X = (X - X.mean(0)) / X.std(0)
    return X.astype(np.float32), y


@pytest.fixture(scope="session")
def digits():
    X, y = load_digits(return_X_y=True)
    return (X / 16.0).astype(np.float32), y


@pytest.fixture(scope="module")
def one_torch_thread():
    """Run a module's tests with one PyTorch thread, restoring the setting after."""
    n_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n_threads)
