"""The vote of a sample's nearest training samples, as pure functions.

With ``vote_neighbors=k > 0``, :meth:`skshot.ShotVAEClassifier.predict_proba`
returns a weighted mean of two class distributions of a sample ``x`` (the
user guide's :ref:`neighbour-vote`, :func:`blend`):

1. the network's ``q(y|x)``, with weight ``1 - vote_weight``;
2. with weight ``vote_weight``, the vote of the ``k`` training samples
   nearest to ``x`` (Euclidean distance between the inputs,
   :func:`nearest_samples`): the mean of their rows of
   ``label_distributions_``, one-hot at the given label of a labeled sample
   and ``q(y|x_j)`` of an unlabeled one (:func:`neighbour_vote`).

With ``vote_components=m``, the distances are measured between the inputs'
coordinates on the training samples' first ``m`` principal axes
(:func:`principal_axes`, :func:`project`) instead, which divides the stored
samples and the distances' arithmetic by ``n_features / m``.

This is the inductive step of :class:`sklearn.semi_supervised.LabelSpreading`
(a new sample takes the labels of the training samples near it) with the
network's labels of the training samples in place of diffused ones. The
network's mistakes on the unlabeled training samples are scattered, so the
vote of a neighbourhood outweighs many of them where the inputs' distances
follow the classes.

Notation: ``m`` queries, ``n`` training samples, ``f`` features, ``K`` classes.
"""

import math

import torch

from .topk import row_topk

__all__ = ["blend", "log_blend", "nearest_samples", "neighbour_vote", "principal_axes",
           "project"]


def nearest_samples(queries, references, n_neighbors, chunk_size=None):
    """Indices of each query's ``n_neighbors`` nearest references, by Euclidean distance.

    Parameters
    ----------
    queries : torch.Tensor of shape (m, f)
    references : torch.Tensor of shape (n, f)
        On the device of ``queries``.
    n_neighbors : int
        ``k``, between 1 and ``n``. A query that is itself a reference
        counts itself (distance 0) among its neighbours, as in
        :class:`sklearn.neighbors.KNeighborsClassifier`.
    chunk_size : int, default=None
        Queries handled at a time (memory: ``chunk_size * n`` distances);
        None: as many as keep that to about 2**23 distances (32 MiB).

    Returns
    -------
    torch.LongTensor of shape (m, k)
        Nearest first (:func:`skshot.topk.row_topk`).
    """
    n = references.shape[0]
    if not 1 <= n_neighbors <= n:
        raise ValueError(f"n_neighbors must lie in [1, {n}] for {n} reference samples, "
                         f"got {n_neighbors}")
    if chunk_size is None:
        chunk_size = max(1, 2 ** 23 // n)
    references = references.float()
    squared_norms = (references * references).sum(dim=1)
    indices = []
    # one buffer for every chunk's distances (see skshot.propagation.knn_affinity)
    buffer = torch.empty((min(chunk_size, max(queries.shape[0], 1)), n),
                         dtype=references.dtype, device=references.device)
    for start in range(0, queries.shape[0], chunk_size):
        chunk = queries[start:start + chunk_size].float()
        # |q - r|^2 = |q|^2 - 2 q.r + |r|^2; |q|^2 is the same for every r of a row,
        # so the nearest r have the largest 2 q.r - |r|^2
        partial = torch.mm(chunk, references.T, out=buffer[:chunk.shape[0]])
        partial.mul_(2.0).sub_(squared_norms)
        indices.append(row_topk(partial, n_neighbors)[1])
    if not indices:
        return torch.empty((0, n_neighbors), dtype=torch.long, device=references.device)
    return torch.cat(indices)


def principal_axes(samples, n_components, chunk_size=4096):
    """The mean and the first ``n_components`` principal axes of ``samples``.

    The axes are the eigenvectors of the samples' scatter matrix
    ``sum_i (x_i - mean)(x_i - mean)^T`` with the largest eigenvalues,
    computed in float64 from chunks of rows, so the ``n * f`` samples are
    never copied whole. It is deterministic and returns the axes, so that
    new samples can be projected onto them (:func:`project`); the label
    propagation's graph uses it too (:func:`skshot.propagation.graph_features`).

    Parameters
    ----------
    samples : torch.Tensor of shape (n, f)
    n_components : int
        ``m``, between 1 and ``f``.
    chunk_size : int, default=4096
        Rows added to the scatter matrix at a time.

    Returns
    -------
    mean : torch.Tensor of shape (f,)
        float32.
    axes : torch.Tensor of shape (m, f)
        float32 orthonormal rows, by decreasing variance; each row's entry of
        largest magnitude is positive, so the signs do not depend on the
        eigensolver.
    """
    n, f = samples.shape
    if not 1 <= n_components <= f:
        raise ValueError(f"n_components must lie in [1, {f}] for {f} features, "
                         f"got {n_components}")
    if n < 1:
        raise ValueError("principal_axes needs at least one sample")
    chunks = range(0, n, chunk_size)
    mean = sum(samples[s:s + chunk_size].double().sum(dim=0) for s in chunks) / n
    scatter = torch.zeros((f, f), dtype=torch.float64, device=samples.device)
    for start in chunks:
        centred = samples[start:start + chunk_size].double() - mean
        scatter += centred.T @ centred
    _, vectors = torch.linalg.eigh(scatter)  # eigenvalues ascending
    axes = vectors.flip(dims=[1])[:, :n_components].T
    largest = axes.abs().argmax(dim=1, keepdim=True)
    axes = axes * torch.sign(axes.gather(1, largest))
    return mean.float(), axes.float().contiguous()


def project(samples, mean, axes):
    """The coordinates of ``samples`` on ``axes`` through ``mean``: ``(x - mean) @ axes.T``.

    Parameters
    ----------
    samples : torch.Tensor of shape (n, f)
    mean : torch.Tensor of shape (f,)
    axes : torch.Tensor of shape (m, f)
        :func:`principal_axes`.

    Returns
    -------
    torch.Tensor of shape (n, m)
        float32.
    """
    return (samples.float() - mean) @ axes.T


def neighbour_vote(distributions, indices):
    """The mean class distribution of each query's neighbours.

    Parameters
    ----------
    distributions : torch.Tensor of shape (n, K)
        A class distribution per training sample (rows sum to one).
    indices : torch.LongTensor of shape (m, k)
        :func:`nearest_samples`.

    Returns
    -------
    torch.Tensor of shape (m, K)
        ``mean_j distributions[indices[i, j]]``; rows sum to one.
    """
    return distributions[indices].mean(dim=1)


def blend(proba, vote, weight=0.5):
    """The weighted mean of two class distributions, ``(1 - weight) * proba + weight * vote``.

    Parameters
    ----------
    proba, vote : torch.Tensor of shape (m, K)
    weight : float, default=0.5
        The vote's share, in [0, 1].

    Returns
    -------
    torch.Tensor of shape (m, K)
    """
    return (1.0 - weight) * proba + weight * vote


def log_blend(log_proba, vote, weight=0.5):
    """``log((1 - weight) * exp(log_proba) + weight * vote)``, without rounding ``exp(log_proba)``.

    Where ``vote`` is zero the result is ``log_proba + log(1 - weight)``,
    finite whenever ``log_proba`` is and ``weight < 1``.

    Parameters
    ----------
    log_proba : torch.Tensor of shape (m, K)
    vote : torch.Tensor of shape (m, K)
        Non-negative.
    weight : float, default=0.5
        The vote's share, in [0, 1].

    Returns
    -------
    torch.Tensor of shape (m, K)
    """
    def log_of(x):
        return torch.where(x > 0, x.clamp(min=torch.finfo(x.dtype).tiny).log(),
                           torch.full_like(x, -math.inf))

    own = log_proba + math.log(1.0 - weight) if weight < 1.0 else torch.full_like(
        log_proba, -math.inf)
    voted = log_of(vote) + math.log(weight) if weight > 0.0 else torch.full_like(
        vote, -math.inf)
    return torch.logaddexp(own, voted)
