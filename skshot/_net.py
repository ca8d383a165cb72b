"""The skorch network behind :class:`skshot.ShotVAEClassifier`.

:class:`ShotVAENet` is a :class:`skorch.NeuralNet` whose behaviour is changed
through skorch's small hooks only:

- ``get_dataset`` / ``get_iterator``: training reads a
  :class:`~skshot._data.SemiSupervisedData` through
  :class:`~skshot._data.SemiSupervisedBatches`, so every step sees a labeled
  and an unlabeled batch; evaluation slices whole batches out of a tensor
  instead of collating single rows.
- ``train_step_single``: the loss needs several passes through the module
  (encoder, decoder, and the encoder again on the mixed inputs of the
  OT-approximation), so the step hands the module to the criterion,
  :class:`~skshot.objectives.SemiSupervisedObjective`, instead of calling
  ``infer``.
- ``run_single_epoch``: skorch's own loop calls ``loss.item()`` after every
  batch, a host-device synchronisation per step. Here the batch losses and the
  loss's parts stay on the device and are read once, at the end of the epoch.
- ``on_epoch_begin`` / ``on_epoch_end``: reseed every random draw of the epoch
  from ``(seed, epoch)``, so that a fit resumed from a checkpoint replays the
  epochs of an uninterrupted one; refresh the pseudo-labels of the label
  propagation when it is on (:meth:`ShotVAENet.refresh_pseudo_labels`);
  record the epoch means of the loss's parts, the warm-up weight ``w_t`` and
  the validation accuracy in ``history``; stop with an error that names the
  term when a part of the loss is not finite.
- ``train_step``: after the optimizer's step, update the mean teacher when
  ``ot_target_ema`` is on, and on the CPU set the negligible weights and the
  optimizer's subnormal entries to zero (:mod:`skshot.numerics`).
- ``infer`` / ``validation_step`` / ``map_batches``: run under bf16
  autocast when ``mixed_precision="bf16"``; copy CPU batches to the device
  without blocking; keep the outputs on the device until the last batch.
- ``fit_loop``: train up to ``max_epochs`` epochs *in all*, counting the
  epochs already in ``history`` (a warm start, or a history restored by
  skorch's ``LoadInitState``), so the warm-up of eq. 16 and the learning rate
  schedule continue where they were.
"""

import copy
import math

import numpy as np
import torch
from skorch import NeuralNet
from skorch.dataset import Dataset
from skorch.utils import to_tensor
from torch.utils.data import BatchSampler, DataLoader, SequentialSampler

from . import losses, numerics, propagation
from ._data import SemiSupervisedBatches, SemiSupervisedData
from .augmentation import random_translate
from .objectives import PART_DESCRIPTIONS

#: Label propagation: the first epoch (1-based) with pseudo-labels, and how
#: many times they are computed in a fit of ``max_epochs`` epochs.
PROPAGATION_START = 3
PROPAGATION_REFRESHES = 10

__all__ = ["ShotVAENet", "TensorSlices", "derive_seed", "softmax_float64", "to_device_async"]


def derive_seed(*keys):
    """A 63-bit seed drawn from a tuple of non-negative integers (NumPy's SeedSequence)."""
    return int(np.random.SeedSequence(list(keys)).generate_state(2, dtype=np.uint64)[0] >> 1)


def softmax_float64(logits):
    """Class probabilities in float64, so that each row sums to one to machine precision."""
    return torch.softmax(logits.double(), dim=-1)


class ShotVAENet(NeuralNet):
    """skorch network training a SHOT-VAE module with a semi-supervised objective.

    Parameters
    ----------
    module, criterion, **kwargs
        As for :class:`skorch.NeuralNet`; ``criterion`` is a
        :class:`~skshot.objectives.SemiSupervisedObjective`.
    batch_size_labeled, batch_size_unlabeled : int
        Samples per training step from each stream.
    gamma : float
        Sharpness of the warm-up weight of eq. 16.
    seed : int
        With the epoch's index, seeds every random draw of that epoch: the
        batches' shuffles and PyTorch's generator (Gumbel, Gaussian, ``lam``).
    mixed_precision : {None, "bf16"}, default=None
        ``"bf16"`` runs the module's forward passes under
        :func:`torch.autocast` with bfloat16; the losses stay in float32.
    ot_warmup : float, default=1.0
        Fraction of training after which the warm-up weight reaches ``ot_weight``.
    ot_weight : float, default=1.0
        The warm-up weight's final value.
    translate_shift : int, default=0
        Training images are translated by up to this many pixels
        (:func:`skshot.augmentation.random_translate`); 0 leaves them as they are.
    reconstruct_translated : bool, default=True
        Whether the decoder reconstructs the translated images (True) or the
        images as given, the encoder alone reading the translated ones
        (False). Unused when ``translate_shift`` is 0.
    ot_target_ema : float or None, default=None
        Decay of the exponential moving average of the module's weights (the
        "teacher", ``teacher_``) from which the OT targets are computed; None
        computes them with the module itself.
    classes : ndarray or None, default=None
        The class labels, in the order of the module's outputs.
    propagation_neighbors : int, default=10
        Neighbours of each sample in the graph of the label propagation. It
        runs when the criterion's ``propagation_weight`` is positive: the
        pseudo-labels of the training data are computed
        (:meth:`refresh_pseudo_labels`) at the start of epoch 3 and then
        every ``ceil(max_epochs / 10)`` epochs.
    propagation_features : {"network", "input", "both"}, default="network"
        What the graph of the label propagation links: ``"network"`` the
        module's features, recomputed at each refresh; ``"input"`` the
        training samples themselves (flattened), a graph that does not
        change, so the pseudo-labels are computed once, at the start of
        epoch 3; ``"both"`` the two side by side
        (:func:`skshot.propagation.joint_features`), recomputed at each
        refresh.
    """

    def __init__(self, module, criterion, *, batch_size_labeled=64, batch_size_unlabeled=512,
                 gamma=5.0, seed=0, mixed_precision=None, ot_warmup=1.0, ot_weight=1.0,
                 translate_shift=0, reconstruct_translated=True, ot_target_ema=None,
                 classes=None, propagation_neighbors=10,
                 propagation_features="network", **kwargs):
        super().__init__(module, criterion, **kwargs)
        self.batch_size_labeled = batch_size_labeled
        self.batch_size_unlabeled = batch_size_unlabeled
        self.gamma = gamma
        self.seed = seed
        self.mixed_precision = mixed_precision
        self.ot_warmup = ot_warmup
        self.ot_weight = ot_weight
        self.translate_shift = translate_shift
        self.reconstruct_translated = reconstruct_translated
        self.ot_target_ema = ot_target_ema
        self.classes = classes
        self.propagation_neighbors = propagation_neighbors
        self.propagation_features = propagation_features

    def initialize_module(self):
        super().initialize_module()
        # The teacher: a copy of the module whose weights follow a moving
        # average of the module's; it is never trained by the optimizer.
        teacher = None
        if self.ot_target_ema is not None:
            teacher = copy.deepcopy(self.module_)
            teacher.requires_grad_(False)
        self.teacher_ = teacher
        return self

    def get_all_learnable_params(self):
        # The teacher is a registered module (skorch moves and pickles it with
        # the others), but the optimizer must not train it.
        teacher = getattr(self, "teacher_", None)
        frozen = set() if teacher is None else {id(p) for p in teacher.parameters()}
        for name, param in super().get_all_learnable_params():
            if id(param) not in frozen:
                yield name, param

    @property
    def compute_device(self):
        """The :class:`torch.device` the module computes on."""
        return torch.device(self.device if self.device is not None else "cpu")

    def shard(self):
        """``(n_shards, index)``: this process's share of each epoch's batches; ``(1, 0)`` here."""
        return 1, 0

    def autocast(self):
        """The autocast context of the forward passes (disabled unless ``mixed_precision``)."""
        return torch.autocast(device_type=self.compute_device.type, dtype=torch.bfloat16,
                              enabled=self.mixed_precision == "bf16")

    # ---------------------------------------------------------------- data
    def get_dataset(self, X, y=None):
        if isinstance(X, SemiSupervisedData):
            return X
        return super().get_dataset(X, y)

    def get_iterator(self, dataset, training=False):
        if isinstance(dataset, SemiSupervisedData):
            if not training:
                raise ValueError("SemiSupervisedData is for training only")
            # run_single_epoch reseeds the generator at the start of every epoch.
            n_shards, index = self.shard()
            return SemiSupervisedBatches(dataset, self.batch_size_labeled,
                                         self.batch_size_unlabeled, torch.Generator(),
                                         n_shards=n_shards, shard=index)
        if training:
            return super().get_iterator(dataset, training=True)
        if isinstance(dataset, Dataset) and isinstance(dataset.X, torch.Tensor):
            # Evaluation of a tensor: contiguous slices, views that keep the
            # tensor's device and pinned memory, instead of collated rows.
            return TensorSlices(dataset.X, dataset.y, self.batch_size)
        sampler = BatchSampler(SequentialSampler(range(len(dataset))),
                               batch_size=self.batch_size, drop_last=False)
        return DataLoader(dataset, batch_size=None, sampler=sampler)

    def fit_loop(self, X, y=None, epochs=None, **fit_params):
        if epochs is None:
            epochs = max(0, self.max_epochs - len(self.history))
        return super().fit_loop(X, y, epochs=epochs, **fit_params)

    # ---------------------------------------------------------------- steps
    def warmup_progress(self):
        """``t / T`` of the current training step for eq. 16, over ``max_epochs``."""
        return self.steps_done() / (self.max_epochs * self._n_train_batches)

    def steps_done(self):
        """Training steps of the fit so far, the current one and the earlier epochs' included."""
        return (len(self.history) - 1) * self._n_train_batches + len(self.history[-1]["batches"])

    def train_step_single(self, batch, **fit_params):
        self._set_training(True)
        (x_l, y_l), x_u, pseudo_u = batch
        x_seen = None  # what the encoder reads, when it differs from what is reconstructed
        if self.translate_shift:
            shape = self.get_params_for("module")["input_shape"]
            x_seen = (random_translate(x_l, shape, self.translate_shift),
                      random_translate(x_u, shape, self.translate_shift))
            if getattr(self, "reconstruct_translated", True):  # absent from earlier pickles
                (x_l, x_u), x_seen = x_seen, None
        ot_weight = losses.warmup_weight(self.warmup_progress(), self.gamma,
                                         horizon=self.ot_warmup, maximum=self.ot_weight)
        with self.autocast():
            # The module's forward runs the whole step (see ShotVAE.forward).
            loss, parts = self.module_(x_l, y_l, x_u, objective=self.criterion_,
                                       ot_weight=ot_weight, teacher=self.teacher_,
                                       pseudo_u=pseudo_u, x_seen=x_seen)
        self.backward(loss)
        for name, value in parts.items():
            self._part_sums[name] = self._part_sums.get(name, 0.0) + value
        self._ot_weight = ot_weight
        return {"loss": loss, "y_pred": None}

    def train_step(self, batch, **fit_params):
        step = super().train_step(batch, **fit_params)
        if self.teacher_ is not None:
            # Mean-teacher ramp: an early teacher averages over the steps so far.
            decay = min(self.ot_target_ema, 1.0 - 1.0 / (self.steps_done() + 1))
            losses.ema_update(self.teacher_.parameters(), self.module_.parameters(), decay)
            for kept, current in zip(self.teacher_.buffers(), self.module_.buffers()):
                kept.copy_(current)
        self.flush_tiny_numbers()
        return step

    def flush_tiny_numbers(self):
        """Zero the negligible weights of the modules and the subnormal entries of the optimizer's state.

        Called after every training step: on a CPU such numbers slow the
        steps down by up to an order of magnitude, and they change no output
        (:mod:`skshot.numerics`).
        """
        weights = [param for _, param in self.get_all_learnable_params()]
        teacher = getattr(self, "teacher_", None)  # absent from pickles of earlier versions
        if teacher is not None:
            weights.extend(teacher.parameters())
        numerics.flush_training_state_(weights, self.optimizer_)

    def backward(self, loss):
        """Backpropagate the step's loss."""
        loss.backward()

    def validation_step(self, batch, **fit_params):
        self._set_training(False)
        x, y = batch
        x, y = to_device_async(x, self.compute_device), to_device_async(y, self.compute_device)
        with torch.no_grad(), self.autocast():
            logits = self.module_(x)[0]
            loss = losses.cross_entropy(logits, y).mean()
            self._valid_correct = self._valid_correct + (logits.argmax(dim=1) == y).sum()
        return {"loss": loss, "y_pred": logits}

    def run_single_epoch(self, iterator, training, prefix, step_fn, **fit_params):
        if iterator is None:
            return
        if training:
            self._n_train_batches = len(iterator)
            # The same shuffles in every process: each takes its own share.
            iterator.generator.manual_seed(derive_seed(self.seed, len(self.history), 1))
        batch_losses = []
        for batch in iterator:
            self.notify("on_batch_begin", batch=batch, training=training)
            step = step_fn(batch, **fit_params)
            batch_losses.append(step["loss"].detach())
            x = batch[1] if training else batch[0]
            self.history.record_batch(prefix + "_batch_size", len(x))
            self.notify("on_batch_end", batch=batch, training=training, **step)
        rows = self.history[-1]["batches"][-len(batch_losses):]
        for row, value in zip(rows, torch.stack(batch_losses).tolist()):
            row[prefix + "_loss"] = value
        self.history.record(prefix + "_batch_count", len(batch_losses))

    # ---------------------------------------------------------------- logging
    def on_epoch_begin(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        super().on_epoch_begin(net, dataset_train=dataset_train, dataset_valid=dataset_valid,
                               **kwargs)
        torch.manual_seed(derive_seed(self.seed, len(self.history), 0, *self._shard_key()))
        self._part_sums = {}
        self._valid_correct = 0
        self._ot_weight = None
        if self.criterion_.uses_pseudo_labels and isinstance(dataset_train, SemiSupervisedData):
            epoch = len(self.history)
            every = math.ceil(self.max_epochs / PROPAGATION_REFRESHES)
            if dataset_train.pseudo_labels is None and epoch > PROPAGATION_START:
                # a fit resumed from a checkpoint goes on with its pseudo-labels
                dataset_train.pseudo_labels = self._stored_pseudo_labels(dataset_train)
            due = dataset_train.pseudo_labels is None or (
                self.propagation_features != "input"
                and (epoch - PROPAGATION_START) % every == 0)
            if epoch >= PROPAGATION_START and due:
                self.refresh_pseudo_labels(dataset_train)

    def refresh_pseudo_labels(self, data):
        """Set ``data.pseudo_labels`` by label propagation over a graph of the training stream.

        The features of every sample of the unlabeled stream (the encoder's
        output, :meth:`skshot.modules.ShotVAE.features`, or with
        ``propagation_features="input"`` the flattened samples, or both side by
        side) are centred and projected on 64 principal axes, linked into a graph of
        ``propagation_neighbors`` nearest neighbours (at most the number of
        samples less one), and the labels are diffused through it
        (:mod:`skshot.propagation`).
        """
        module = getattr(self.module_, "module", self.module_)  # unwrapped if data-parallel
        views = []
        if self.propagation_features in ("input", "both"):
            if data.input_graph_features is None:  # the samples do not change: once a fit
                flat = data.x_unlabeled.reshape(len(data.x_unlabeled), -1)
                data.input_graph_features = propagation.graph_features(
                    flat.to(self.compute_device))
            views.append(data.input_graph_features)
        if self.propagation_features in ("network", "both"):
            features = self.map_batches(data.x_unlabeled, module.features)
            views.append(propagation.graph_features(features.to(self.compute_device)))
        features = views[0] if len(views) == 1 else propagation.joint_features(*views)
        y_index = data.stream_labels().to(self.compute_device)
        scores = propagation.propagate_labels(features, y_index, module.n_classes,
                                              self.propagation_neighbors)
        labels, weights = propagation.pseudo_labels(scores, y_index)
        data.pseudo_labels = (labels.to(data.x_unlabeled.device),
                              weights.to(data.x_unlabeled.device, data.x_unlabeled.dtype))
        self.criterion_.store_pseudo_labels(*data.pseudo_labels, data.key())

    def _stored_pseudo_labels(self, data):
        """The criterion's kept pseudo-labels of ``data`` on its device, or None."""
        stored = self.criterion_.stored_pseudo_labels(data.key())
        if stored is None:
            return None
        labels, weights = stored
        return (labels.to(data.x_unlabeled.device),
                weights.to(data.x_unlabeled.device, data.x_unlabeled.dtype))

    def _shard_key(self):
        """Extra seed key of this process: none alone, its index among several."""
        n_shards, index = self.shard()
        return (index,) if n_shards > 1 else ()

    def on_epoch_end(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        super().on_epoch_end(net, dataset_train=dataset_train, dataset_valid=dataset_valid,
                             **kwargs)
        names = list(self._part_sums)
        if names:
            n_batches = self.history[-1, "train_batch_count"]
            means = (torch.stack([self._part_sums[n] for n in names]) / n_batches).tolist()
            for name, value in zip(names, means):
                self.history.record(name, value)
            self._check_finite(dict(zip(names, means)))
        if self._ot_weight is not None and self.criterion_.objective == "shot":
            self.history.record("ot_weight", self._ot_weight)
        if dataset_valid is not None:
            correct = int(self._valid_correct)
            self.history.record("valid_acc", correct / len(dataset_valid))

    def on_train_end(self, net, X=None, y=None, **kwargs):
        super().on_train_end(net, X=X, y=y, **kwargs)
        # Per-epoch accumulators hold device tensors: drop them so that the
        # fitted net pickles without them.
        self._part_sums = self._valid_correct = self._ot_weight = None

    def _check_finite(self, part_means):
        bad = [name for name, value in part_means.items() if not math.isfinite(value)]
        if not bad:
            return
        terms = ", ".join(f"{name} ({PART_DESCRIPTIONS[name]})" for name in bad)
        lr = self.optimizer_.param_groups[0]["lr"]
        raise FloatingPointError(
            f"Training diverged in epoch {len(self.history)}: the loss term(s) {terms} became "
            f"non-finite. Try a lower lr (it is {lr:g}), scale the features (StandardScaler "
            "with likelihood='gaussian', MinMaxScaler with 'bernoulli'), or a smaller "
            "elbo_weight.")

    # ---------------------------------------------------------------- inference
    def infer(self, x, **fit_params):
        with self.autocast():
            return super().infer(to_device_async(x, self.compute_device), **fit_params)

    def map_batches(self, X, fn):
        """Apply ``fn`` to batches of ``X`` in evaluation mode and without gradients.

        A CPU tensor ``X`` bound for a GPU is pinned once and its batches are
        copied without blocking; the outputs stay on the device until the
        last batch. Returns the concatenation of the outputs on the CPU.
        """
        self.check_is_fitted()
        self._set_training(False)
        if isinstance(X, torch.Tensor) and self.compute_device.type == "cuda" \
                and X.device.type == "cpu" and not X.is_pinned():
            X = X.pin_memory()
        outputs = []
        with torch.no_grad(), self.autocast():
            for x, _ in self.get_iterator(self.get_dataset(X), training=False):
                outputs.append(fn(to_device_async(x, self.compute_device)))
        return torch.cat(outputs).cpu()


def to_device_async(x, device):
    """Move a tensor to ``device`` without blocking the host (a no-op on its own device)."""
    if isinstance(x, torch.Tensor):
        return x.to(device, non_blocking=True)
    return to_tensor(x, device)


class TensorSlices:
    """Consecutive batches ``(X[i:i + batch_size], y[i:i + batch_size])`` of tensors.

    ``y`` may be None (then every batch's ``y`` is None). Slices are views, so
    they keep ``X``'s device and pinned memory.
    """

    def __init__(self, X, y, batch_size):
        self.X, self.y, self.batch_size = X, y, int(batch_size)

    def __len__(self):
        return max(1, math.ceil(len(self.X) / self.batch_size))

    def __iter__(self):
        for start in range(0, len(self.X), self.batch_size):
            stop = start + self.batch_size
            yield self.X[start:stop], None if self.y is None else self.y[start:stop]
