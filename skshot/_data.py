"""Training data held as tensors once per fit, and the batches each step sees."""

import math

import torch

__all__ = ["SemiSupervisedBatches", "SemiSupervisedData"]


class SemiSupervisedData:
    """Labeled and unlabeled training tensors, converted and moved to the device once.

    Parameters
    ----------
    x_labeled : torch.Tensor of shape (n_labeled, D)
    y_labeled : torch.LongTensor of shape (n_labeled,), class indices
    x_unlabeled : torch.Tensor of shape (n_unlabeled, D)
        The unlabeled stream; :class:`skshot.ShotVAEClassifier` passes all of
        ``X`` here, the labeled samples included.
    labeled_positions : torch.LongTensor of shape (n_labeled,) or None, default=None
        Row of each labeled sample in ``x_unlabeled``, where the stream holds
        them; the label propagation needs it.

    Attributes
    ----------
    pseudo_labels : tuple of two tensors of shape (n_unlabeled,), or None
        ``(labels, weights)`` of the unlabeled stream's samples, set during a
        fit with label propagation (:mod:`skshot.propagation`); None before.
    input_graph_features : torch.Tensor of shape (n_unlabeled, f) or None
        The unlabeled stream's samples prepared for the label propagation's
        graph (:func:`skshot.propagation.graph_features`), computed at the
        first graph that links the samples themselves; None before.
    """

    def __init__(self, x_labeled, y_labeled, x_unlabeled, labeled_positions=None):
        self.x_labeled = x_labeled
        self.y_labeled = y_labeled
        self.x_unlabeled = x_unlabeled
        self.labeled_positions = labeled_positions
        self.pseudo_labels = None
        self.input_graph_features = None

    def stream_labels(self):
        """Class index of each sample of the unlabeled stream: its label where known, else -1."""
        y = torch.full((len(self.x_unlabeled),), -1, dtype=torch.long,
                       device=self.x_unlabeled.device)
        if self.labeled_positions is not None:
            y[self.labeled_positions] = self.y_labeled.to(y.device)
        return y

    def key(self):
        """A small tensor that tells this training stream from others: its size and sums.

        The kept pseudo-labels of a checkpoint are reused only for data with
        the same key (:meth:`skshot.objectives.SemiSupervisedObjective.stored_pseudo_labels`).
        """
        return torch.stack([
            torch.tensor(float(len(self.x_unlabeled))),
            self.x_unlabeled.float().sum().cpu(),
            (self.stream_labels() + 1).float().sum().cpu()])

    def __len__(self):
        return len(self.x_unlabeled)


class SemiSupervisedBatches:
    """Iterable over one epoch of ``((x_l, y_l), x_u, pseudo_u)`` batches.

    An epoch is one pass over the unlabeled stream in a random order, split
    into ``ceil(n_unlabeled / batch_size_unlabeled)`` batches of near-equal
    size, so no sample is dropped and no batch is tiny. Every step also gets
    ``min(batch_size_labeled, n_labeled)`` labeled samples, drawn from a
    stream of reshuffled passes over the labeled set, so a few labels are
    cycled many times per epoch. Indices are drawn with ``generator`` on the
    CPU and moved to the data's device once per epoch; the data is only
    indexed, never converted. ``pseudo_u`` is None, or while the data holds
    ``pseudo_labels``, the ``(labels, weights)`` of the batch's ``x_u``.

    With ``n_shards`` processes training one model together (data
    parallelism), each process builds the same epoch from the same
    ``generator`` state, cut into ``n_shards`` times as many batches, and
    iterates over its own share, every ``n_shards``-th batch from ``shard``
    on: all processes take the same number of steps, and an epoch is still
    one pass over the unlabeled stream.

    Parameters
    ----------
    data : SemiSupervisedData
    batch_size_labeled, batch_size_unlabeled : int
    generator : torch.Generator
        CPU generator for the shuffles; it carries on across epochs.
    n_shards : int, default=1
    shard : int, default=0
        This process's index, ``0 <= shard < n_shards``.
    """

    def __init__(self, data, batch_size_labeled, batch_size_unlabeled, generator, n_shards=1,
                 shard=0):
        if not 0 <= shard < n_shards:
            raise ValueError(f"shard must lie in [0, {n_shards}), got {shard}")
        if len(data.x_unlabeled) < n_shards:
            raise ValueError(f"{n_shards} processes need at least as many training samples, "
                             f"got {len(data.x_unlabeled)}")
        self.data = data
        self.batch_size_labeled = min(int(batch_size_labeled), len(data.y_labeled))
        self.batch_size_unlabeled = int(batch_size_unlabeled)
        self.generator = generator
        self.n_shards, self.shard = int(n_shards), int(shard)

    def __len__(self):
        """Steps per epoch of one process."""
        per_step = self.batch_size_unlabeled * self.n_shards
        return max(1, math.ceil(len(self.data.x_unlabeled) / per_step))

    def _labeled_indices(self, n_steps):
        n_labeled = len(self.data.y_labeled)
        n_needed = n_steps * self.batch_size_labeled
        n_passes = math.ceil(n_needed / n_labeled)
        passes = [torch.randperm(n_labeled, generator=self.generator) for _ in range(n_passes)]
        return torch.cat(passes)[:n_needed].view(n_steps, self.batch_size_labeled)

    def __iter__(self):
        data = self.data
        n_batches = len(self) * self.n_shards
        order = torch.randperm(len(data.x_unlabeled), generator=self.generator)
        labeled = self._labeled_indices(n_batches)
        # One copy of the epoch's indices to the data's device: the steps then
        # index on the device, with no host-device transfer.
        order = order.to(data.x_unlabeled.device, non_blocking=True)
        labeled = labeled.to(data.x_labeled.device, non_blocking=True)
        chunks = torch.tensor_split(order, n_batches)
        for batch in range(self.shard, n_batches, self.n_shards):
            idx_l, idx_u = labeled[batch], chunks[batch]
            pseudo = data.pseudo_labels
            pseudo_u = None if pseudo is None else (pseudo[0][idx_u], pseudo[1][idx_u])
            yield (data.x_labeled[idx_l], data.y_labeled[idx_l]), data.x_unlabeled[idx_u], pseudo_u
