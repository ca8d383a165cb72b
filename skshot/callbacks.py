"""skorch callbacks of skshot."""

import math

import numpy as np
import torch
from skorch.callbacks import Callback

__all__ = ["STEP_MILESTONES", "BestEpochStopping", "EpochProgressBar", "HeldOutAccuracy",
           "LRSchedule", "lr_factor"]

#: Epoch fractions at which the "step" schedule multiplies the learning rate by
#: 0.1: epochs 400, 500 and 550 of 600 in the SHOT-VAE authors' CIFAR runs.
STEP_MILESTONES = (400 / 600, 500 / 600, 550 / 600)


def lr_factor(schedule, epoch, n_epochs):
    """Multiplier of the initial learning rate in epoch ``epoch`` (0-based) of ``n_epochs``.

    ``"constant"``: 1. ``"step"``: ``0.1 ** k``, k the number of milestones
    ``round(f * n_epochs)`` (f in :data:`STEP_MILESTONES`, at least 1) that
    ``epoch`` has reached. ``"cosine"``: ``(1 + cos(pi * epoch / n_epochs)) / 2``.
    """
    if schedule == "constant":
        return 1.0
    if schedule == "step":
        milestones = {max(1, round(f * n_epochs)) for f in STEP_MILESTONES}
        return 0.1 ** sum(epoch >= m for m in milestones)
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * min(epoch, n_epochs) / n_epochs))
    raise ValueError(f"schedule must be 'constant', 'step' or 'cosine', got {schedule!r}")


class LRSchedule(Callback):
    """Set the learning rate at the start of every epoch from the epoch's index.

    Unlike a stateful PyTorch scheduler, the rate depends on ``len(net.history)``
    alone, so a fit resumed from a checkpoint (skorch's ``LoadInitState``) or
    continued with ``warm_start`` follows the schedule of an uninterrupted one.
    The rate of each epoch is recorded in the history as ``event_lr``.

    Parameters
    ----------
    schedule : {"constant", "step", "cosine"}
        See :func:`lr_factor`.
    """

    def __init__(self, schedule="step"):
        self.schedule = schedule

    def on_epoch_begin(self, net, **kwargs):
        epoch = len(net.history) - 1
        lr = net.lr * lr_factor(self.schedule, epoch, net.max_epochs)
        for group in net.optimizer_.param_groups:
            group["lr"] = lr
        net.history.record("event_lr", lr)


class EpochProgressBar(Callback):
    """A progress bar over the epochs of a fit, with the last epoch's loss parts.

    Shown by ``ShotVAEClassifier(verbose=1)``. The bar is updated once per
    epoch, from values the network already recorded, so it adds no
    synchronisation with the device.

    Parameters
    ----------
    keys : sequence of str
        History keys shown after the bar when present.
    """

    def __init__(self, keys=("train_loss", "rec_u", "kl_smooth", "ce", "ot", "ot_weight",
                             "valid_acc")):
        self.keys = keys

    def on_train_begin(self, net, **kwargs):
        from tqdm.auto import tqdm

        self.bar_ = tqdm(total=net.max_epochs, initial=len(net.history), unit="epoch",
                         desc=type(net.module_).__name__, leave=True)

    def on_epoch_end(self, net, **kwargs):
        last = net.history[-1]
        self.bar_.set_postfix({k: f"{last[k]:.4g}" for k in self.keys if k in last},
                              refresh=False)
        self.bar_.update(1)

    def on_train_end(self, net, **kwargs):
        self.bar_.close()
        del self.bar_


class HeldOutAccuracy(Callback):
    """Record the accuracy on held-out labeled samples after every epoch.

    Pass it in ``callbacks`` of :class:`skshot.ShotVAEClassifier` to follow
    how the classifier's accuracy develops during a fit, for example on a
    validation split that keeps all of its labels (``validation_fraction``
    instead holds out part of the few training labels). The accuracy of
    epoch ``i`` is ``history_[i, name]``.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features) or (n_samples, C, H, W)
        Held-out samples, prepared as the training ``X``.
    y : array-like of shape (n_samples,)
        Their true labels, from the classes of the training labels.
    name : str, default="heldout_acc"
        Key of the accuracy in the history.
    """

    def __init__(self, X, y, name="heldout_acc"):
        self.X = X
        self.y = y
        self.name = name

    def on_train_begin(self, net, **kwargs):
        X = np.asarray(self.X, dtype=np.float32)
        if len(X) != len(self.y):
            raise ValueError(f"HeldOutAccuracy got {len(X)} samples but {len(self.y)} labels.")
        self.X_ = torch.from_numpy(X.reshape(len(X), -1))
        self.y_ = np.asarray(self.y)

    def on_epoch_end(self, net, **kwargs):
        module = net.module_
        logits = net.map_batches(self.X_, lambda xb: module(xb)[0])
        predicted = np.asarray(net.classes)[logits.argmax(dim=1).numpy()]
        net.history.record(self.name, float(np.mean(predicted == self.y_)))

    def on_train_end(self, net, **kwargs):
        del self.X_, self.y_


class BestEpochStopping(Callback):
    """Stop when the held-out accuracy stops improving, and keep the best epoch's weights.

    An epoch improves on the best one so far when its held-out accuracy
    (``valid_acc``) is higher, or equal and its held-out cross-entropy
    (``valid_loss``) lower: a few held-out labels often give equal
    accuracies, and the cross-entropy tells those epochs apart. The
    cross-entropy alone would be a poor guide, as it rises with confident
    mistakes while the accuracy still improves. After ``patience`` epochs
    without improvement the fit stops; at its end the module holds the
    weights of the best epoch, ``best_epoch_`` (counted from 1). It is the
    callback of ``ShotVAEClassifier(early_stopping=True)``, which holds out
    the labels it needs (``validation_fraction``).

    Parameters
    ----------
    patience : int, default=10
        Epochs without improvement after which the fit stops.
    """

    def __init__(self, patience=10):
        self.patience = patience

    def on_train_begin(self, net, **kwargs):
        if net.train_split is None:
            raise ValueError("BestEpochStopping needs held-out labeled samples: fit with "
                             "validation_fraction set.")
        self.best_score_ = self.best_epoch_ = self.best_weights_ = None
        self.misses_ = 0

    def on_epoch_end(self, net, **kwargs):
        last = net.history[-1]
        score = (last["valid_acc"], -last["valid_loss"])
        if self.best_score_ is None or score > self.best_score_:
            self.best_score_, self.best_epoch_, self.misses_ = score, last["epoch"], 0
            self.best_weights_ = {name: tensor.detach().clone()
                                  for name, tensor in net.module_.state_dict().items()}
            return
        self.misses_ += 1
        if self.misses_ >= self.patience:
            raise KeyboardInterrupt  # skorch's way to end a fit early

    def on_train_end(self, net, **kwargs):
        if self.best_weights_ is not None and self.best_epoch_ != net.history[-1, "epoch"]:
            net.module_.load_state_dict(self.best_weights_)
        self.best_weights_ = None  # the module holds them; a pickle need not
