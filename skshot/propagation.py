"""Label propagation over the network's features, as pure functions.

The pseudo-labels of :class:`skshot.ShotVAEClassifier`'s
``propagation_weight`` follow the label propagation of Iscen et al., "Label
Propagation for Deep Semi-supervised Learning" (CVPR 2019; equation numbers
are theirs), as the user guide writes it (:ref:`label-propagation`):

1. a symmetric k-nearest-neighbour graph of the samples' features, with
   affinities ``max(cos(f_i, f_j), 0) ** power`` (eq. 9);
2. its symmetric normalisation ``S = D^(-1/2) W D^(-1/2)`` (eq. 10);
3. the diffusion of the labeled samples' one-hot rows ``Y``, each class's
   column divided by its number of labels, through the graph:
   ``Z = sum_t alpha^t S^t Y``, the truncated series of ``(I - alpha S)^(-1) Y``
   (eq. 10's solution);
4. each sample's pseudo-label ``argmax_k Z_ik`` (eq. 11) and its weight: the
   certainty ``1 - H(z_i) / log K`` of the normalised row (eq. 12) times the
   inverse frequency of its pseudo-label, scaled so that a balanced set has
   weights 1 (eq. 13's class balance).

The features are centred and projected on their leading principal
components first (:func:`graph_features`), and the network is trained on
the weighted cross-entropy of the pseudo-labels (:func:`pseudo_label_loss`,
eq. 7).

Notation: ``n`` samples, ``K`` classes, ``k`` neighbours.
"""

import math

import torch
import torch.nn.functional as F

from . import losses
from .topk import row_topk
from .voting import principal_axes, project

__all__ = ["diffuse_labels", "graph_features", "joint_features", "knn_affinity",
           "normalize_affinity", "propagate_labels", "pseudo_label_loss", "pseudo_labels"]


def graph_features(features, n_components=64):
    """The features centred and, if they have more, projected on their leading principal axes.

    They are projected on ``min(n_components, n)`` axes: ``n`` centred
    samples span at most ``n - 1`` dimensions, so with fewer samples than
    ``n_components`` the projection keeps every distance between them. The
    axes are the leading eigenvectors of the features' scatter matrix,
    computed exactly (:func:`skshot.voting.principal_axes`), so the graph
    draws nothing from PyTorch's generator.

    Parameters
    ----------
    features : torch.Tensor of shape (n, f)
    n_components : int, default=64

    Returns
    -------
    torch.Tensor of shape (n, min(f, n_components, n))
        All ``f`` centred features when ``f <= min(n_components, n)``.
    """
    n_axes = min(n_components, features.shape[0])
    if features.shape[1] <= n_axes:
        return features.float() - features.float().mean(dim=0)
    mean, axes = principal_axes(features, n_axes)
    return project(features, mean, axes)


def joint_features(*features):
    """The rows of each feature matrix scaled to unit length, side by side.

    The cosine similarity of two rows of the result is the mean of their
    cosine similarities in each of the ``m`` matrices, so that a graph of
    :func:`knn_affinity` over it weighs each view of the samples alike.

    Parameters
    ----------
    *features : torch.Tensor of shape (n, f_i)

    Returns
    -------
    torch.Tensor of shape (n, sum(f_i))
    """
    return torch.cat([F.normalize(f.float(), dim=1) for f in features], dim=1)


def knn_affinity(features, n_neighbors, power=3, chunk_size=4096):
    """Sparse affinity matrix ``W`` of the symmetric k-nearest-neighbour graph (eq. 9).

    Each sample is linked to its ``n_neighbors`` most cosine-similar other
    samples with affinity ``max(cos, 0) ** power``; ``W = A + A^T`` makes
    the graph symmetric (a pair that are each other's neighbours counts
    twice).

    Parameters
    ----------
    features : torch.Tensor of shape (n, f)
    n_neighbors : int
        ``k``, at most ``n - 1``.
    power : float, default=3
    chunk_size : int, default=4096
        Rows of the similarity matrix computed at a time (memory: ``chunk_size * n``).

    Returns
    -------
    W : torch.Tensor, sparse COO of shape (n, n), coalesced
    """
    n = features.shape[0]
    if not 1 <= n_neighbors < n:
        raise ValueError(f"n_neighbors must lie in [1, {n - 1}] for {n} samples, "
                         f"got {n_neighbors}")
    unit = F.normalize(features.float(), dim=1)
    columns, values = [], []
    # One buffer for every chunk's similarities: a fresh (chunk_size, n) matrix
    # per chunk doubles the time of the products on a CPU (the pages of a new
    # allocation are faulted in and zeroed each time).
    buffer = torch.empty((min(chunk_size, n), n), dtype=unit.dtype, device=unit.device)
    for start in range(0, n, chunk_size):
        chunk = unit[start:start + chunk_size]
        sim = torch.mm(chunk, unit.T, out=buffer[:chunk.shape[0]])
        rows = torch.arange(sim.shape[0], device=sim.device)
        sim[rows, rows + start] = -math.inf  # no sample is its own neighbour
        top, index = row_topk(sim, n_neighbors)
        columns.append(index)
        values.append(top.clamp(min=0) ** power)
    rows = torch.arange(n, device=features.device).repeat_interleave(n_neighbors)
    indices = torch.stack([rows, torch.cat(columns).flatten()])
    A = torch.sparse_coo_tensor(indices, torch.cat(values).flatten(), (n, n),
                                check_invariants=False)
    return (A + A.t()).coalesce()


def normalize_affinity(W):
    """``S = D^(-1/2) W D^(-1/2)`` with ``D`` the row sums of ``W`` (eq. 10); sparse in, sparse out.

    A sample without links (row sum 0) keeps a zero row.
    """
    degree = torch.sparse.sum(W, dim=1).to_dense()
    scale = torch.where(degree > 0, degree.clamp(min=1e-30).rsqrt(), torch.zeros_like(degree))
    i, j = W.indices()
    return torch.sparse_coo_tensor(W.indices(), W.values() * scale[i] * scale[j], W.shape,
                                   check_invariants=False).coalesce()


def diffuse_labels(S, y_index, n_classes, alpha=0.99, n_iter=20):
    """``Z = sum_{t=0}^{n_iter} alpha^t S^t Y``: the labels diffused through the graph (eq. 10).

    Parameters
    ----------
    S : torch.Tensor, sparse of shape (n, n)
        The normalised affinity, :func:`normalize_affinity`.
    y_index : torch.LongTensor of shape (n,)
        Class index of each labeled sample, -1 for the unlabeled ones.
    n_classes : int
    alpha : float in [0, 1), default=0.99
    n_iter : int, default=20
        Terms of the series after the first.

    Returns
    -------
    Z : torch.Tensor of shape (n, n_classes)
        Non-negative class scores (not normalised).
    """
    labeled = y_index >= 0
    Y = torch.zeros(len(y_index), n_classes, dtype=S.dtype, device=S.device)
    Y[labeled, y_index[labeled]] = 1.0
    Y = Y / Y.sum(dim=0, keepdim=True).clamp(min=1.0)
    Z = Y
    for _ in range(n_iter):
        Z = alpha * torch.sparse.mm(S, Z) + Y
    return Z


def propagate_labels(features, y_index, n_classes, n_neighbors):
    """Class scores of the labels diffused through the k-nearest-neighbour graph of ``features``.

    Steps 1 to 3 of the module's description: :func:`knn_affinity` with
    ``min(n_neighbors, n - 1)`` neighbours, :func:`normalize_affinity` and
    :func:`diffuse_labels`.

    Parameters
    ----------
    features : torch.Tensor of shape (n, f)
        Already prepared, for example by :func:`graph_features`.
    y_index : torch.LongTensor of shape (n,)
        Class index of each labeled sample, -1 for the unlabeled ones.
    n_classes : int
    n_neighbors : int

    Returns
    -------
    Z : torch.Tensor of shape (n, n_classes)
    """
    k = min(n_neighbors, len(features) - 1)
    graph = normalize_affinity(knn_affinity(features, k))
    return diffuse_labels(graph, y_index, n_classes)


def pseudo_labels(Z, y_index):
    """Pseudo-labels and their weights from diffused class scores (eqs. 11-13).

    Labeled samples keep their label with certainty 1; a sample the
    diffusion did not reach (a zero row) gets weight 0.

    Parameters
    ----------
    Z : torch.Tensor of shape (n, K)
        Non-negative class scores, :func:`diffuse_labels`.
    y_index : torch.LongTensor of shape (n,)
        Class index of each labeled sample, -1 for the unlabeled ones.

    Returns
    -------
    labels : torch.LongTensor of shape (n,)
    weights : torch.Tensor of shape (n,)
        Certainty ``1 - H(p_i) / log K`` of ``p_i = Z_i / sum(Z_i)`` times
        ``n / (K * n_c)``, with ``n_c`` the number of samples whose
        pseudo-label is ``c = labels[i]``.
    """
    n, n_classes = Z.shape
    total = Z.sum(dim=1, keepdim=True)
    p = Z / total.clamp(min=1e-30)
    entropy = -(p * p.clamp(min=1e-30).log()).sum(dim=1)
    certainty = torch.where(total[:, 0] > 0, 1.0 - entropy / math.log(n_classes),
                            torch.zeros_like(entropy))
    labels = Z.argmax(dim=1)
    labeled = y_index >= 0
    labels[labeled] = y_index[labeled]
    certainty[labeled] = 1.0
    counts = torch.bincount(labels, minlength=n_classes).to(Z.dtype)
    return labels, certainty * (n / n_classes) / counts[labels]


def pseudo_label_loss(logits, labels, weights):
    """Per-sample weighted cross-entropy ``weights_i * -log softmax(logits_i)[labels_i]`` (eq. 7).

    Parameters
    ----------
    logits : torch.Tensor of shape (B, K)
    labels : torch.LongTensor of shape (B,)
    weights : torch.Tensor of shape (B,)

    Returns
    -------
    torch.Tensor of shape (B,)
    """
    return weights * losses.cross_entropy(logits, labels)
