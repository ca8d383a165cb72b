import types

import pytest
import torch
from skorch.history import History

from skshot.callbacks import BestEpochStopping


def fake_net():
    return types.SimpleNamespace(history=History(), module_=torch.nn.Linear(2, 1),
                                 train_split=object())


def run_epochs(callback, net, scores):
    """Feed (valid_acc, valid_loss) pairs epoch by epoch; return the epochs run."""
    callback.on_train_begin(net)
    try:
        for epoch, (acc, loss) in enumerate(scores, start=1):
            with torch.no_grad():
                net.module_.weight.fill_(float(epoch))  # the weights tell the epoch
            net.history.new_epoch()
            net.history.record("epoch", epoch)
            net.history.record("valid_acc", acc)
            net.history.record("valid_loss", loss)
            callback.on_epoch_end(net)
    except KeyboardInterrupt:
        pass
    callback.on_train_end(net)
    return len(net.history)


def test_higher_accuracy_wins_whatever_the_loss():
    net, callback = fake_net(), BestEpochStopping(patience=2)
    run_epochs(callback, net, [(0.5, 0.1), (0.8, 9.0), (0.7, 0.01), (0.6, 0.01)])
    assert callback.best_epoch_ == 2
    assert torch.all(net.module_.weight == 2.0)


def test_an_equal_accuracy_improves_only_with_a_lower_loss():
    net, callback = fake_net(), BestEpochStopping(patience=3)
    n = run_epochs(callback, net, [(1.0, 0.5), (1.0, 0.4), (1.0, 0.6), (1.0, 0.45),
                                   (1.0, 0.7), (1.0, 0.1)])
    assert callback.best_epoch_ == 2 and n == 5  # stopped after three epochs without improvement
    assert torch.all(net.module_.weight == 2.0)


def test_the_last_epoch_is_kept_when_it_is_the_best():
    net, callback = fake_net(), BestEpochStopping(patience=5)
    n = run_epochs(callback, net, [(0.5, 1.0), (0.6, 1.0), (0.7, 1.0)])
    assert n == 3 and callback.best_epoch_ == 3
    assert torch.all(net.module_.weight == 3.0)
    assert callback.best_weights_ is None  # not kept twice


def test_without_held_out_labels_it_is_refused():
    net = fake_net()
    net.train_split = None
    with pytest.raises(ValueError, match="validation_fraction"):
        BestEpochStopping().on_train_begin(net)
