"""The negligible weights and the subnormal optimizer state set to zero after every training step."""

import math

import numpy as np
import pytest
import torch
from conftest import FAST, hide_labels
from skorch.callbacks import Callback

from skshot import ShotVAEClassifier
from skshot.numerics import flush_negligible_, flush_subnormals_


@pytest.fixture(autouse=True, scope="module")
def _threads(one_torch_thread):
    """Tiny fits: one thread avoids synchronisation overhead."""


def tiny_count(tensor, bound):
    """Nonzero entries of magnitude at most ``bound``, counted with NumPy."""
    values = tensor.detach().cpu().numpy()
    return int(((values != 0) & (np.abs(values) <= bound)).sum())


@pytest.mark.parametrize("flush, power", [(flush_subnormals_, 1), (flush_negligible_, 0.5)],
                         ids=["subnormals", "negligible"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16])
def test_flush_zeroes_what_numpy_finds_at_most_the_bound(flush, power, dtype):
    tiny = torch.finfo(dtype).tiny
    bound = np.finfo(torch.empty(0, dtype=dtype).numpy().dtype).tiny ** power
    special = [0.0, -0.0, tiny / 4, -tiny / 4, tiny / 2 ** 5, tiny, -tiny, 2 * tiny,
               -3 * tiny, math.sqrt(tiny), -math.sqrt(tiny) / 2, 3 * math.sqrt(tiny),
               1.0, -0.5, float("nan"), float("inf"), -float("inf")]
    generator = torch.Generator().manual_seed(0)
    scales = torch.tensor([tiny / 8, tiny * 8, math.sqrt(tiny), 1.0], dtype=torch.float64)
    random = (torch.randn(400, generator=generator, dtype=torch.float64)
              * scales[torch.randint(0, 4, (400,), generator=generator)])
    tensor = torch.cat([torch.tensor(special, dtype=torch.float64), random]).to(dtype)
    values = tensor.numpy().copy()
    expected = np.where(np.abs(values) <= bound, 0, values)
    assert tiny_count(tensor, bound) > 0 and (expected != 0).sum() > 3

    flush([tensor])

    np.testing.assert_array_equal(tensor.numpy(), expected)
    assert tiny_count(tensor, bound) == 0


@pytest.mark.parametrize("flush", [flush_subnormals_, flush_negligible_])
def test_flush_changes_parameters_in_place_and_leaves_integers(flush):
    param = torch.nn.Parameter(torch.tensor([1e-39, 0.25, -1e-40]))
    storage = param.data_ptr()
    counts = torch.tensor([0, 1, 2])

    flush([param, counts])

    assert param.data_ptr() == storage and param.requires_grad
    np.testing.assert_array_equal(param.detach().numpy(), [0.0, 0.25, 0.0])
    np.testing.assert_array_equal(counts.numpy(), [0, 1, 2])


def weights_and_state(net):
    """The modules' weights (teacher included) and the optimizer's floating-point state
    (less Adam's step counts, one number each)."""
    weights = list(net.module_.parameters())
    if net.teacher_ is not None:
        weights.extend(net.teacher_.parameters())
    state = [v for s in net.optimizer_.state.values() for v in s.values()
             if torch.is_tensor(v) and v.is_floating_point() and v.numel() > 1]
    return weights, state


@pytest.mark.parametrize("params", [{}, {"ot_target_ema": 0.9},
                                    {"optimizer": "sgd", "momentum": 0.9}],
                         ids=["adam", "teacher", "sgd"])
def test_net_flush_covers_weights_teacher_and_optimizer_state(blobs, params):
    X, y = blobs
    clf = ShotVAEClassifier(**{**FAST, "max_epochs": 2, **params}).fit(X, hide_labels(y, 3))
    weights, state = weights_and_state(clf.net_)
    assert len(state) >= len(list(clf.net_.module_.parameters()))
    with torch.no_grad():
        for tensor in weights:  # negligible, not subnormal
            tensor.view(-1)[0] = 1e-25
        for tensor in state:  # the second moments keep small normal numbers
            tensor.view(-1)[:2] = torch.tensor([1e-39, 1e-25])
    kept = [t.view(-1)[1:].clone() for t in weights]

    clf.net_.flush_tiny_numbers()

    assert [t.view(-1)[0].item() for t in weights] == [0.0] * len(weights)
    assert all(torch.equal(t.view(-1)[1:], rest) for t, rest in zip(weights, kept))
    assert [t.view(-1)[:2].tolist() for t in state] == [[0.0, pytest.approx(1e-25)]] * len(state)


class NegligibleWeights(Callback):
    """Puts a negligible entry into every weight before each training step and
    counts the negligible entries left after it."""

    def initialize(self):
        self.left = []
        return self

    def on_batch_begin(self, net, training=False, **kwargs):
        if training:
            with torch.no_grad():
                for param in net.module_.parameters():
                    param.view(-1)[0] = 1e-25

    def on_batch_end(self, net, training=False, **kwargs):
        if training:
            self.left.append(sum(tiny_count(p, 1e-19) for p in net.module_.parameters()))


def test_every_training_step_leaves_no_negligible_weight(blobs):
    """With a learning rate too small to move a float32 weight, only the flush removes them."""
    X, y = blobs
    spy = NegligibleWeights()
    clf = ShotVAEClassifier(**{**FAST, "max_epochs": 2, "lr": 1e-300, "weight_decay": 0.0,
                               "callbacks": [("spy", spy)]}).fit(X, hide_labels(y, 3))
    steps = dict(clf.net_.callbacks_)["spy"].left
    assert len(steps) == sum(clf.history_[:, "train_batch_count"])
    assert steps == [0] * len(steps)
