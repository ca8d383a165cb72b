"""Pickling, device moves, skorch's parameter files, checkpoints and resumed fits."""

import pickle

import joblib
import numpy as np
import pytest
import torch
from conftest import FAST, hide_labels
from skorch.callbacks import Callback, Checkpoint, LoadInitState
from skorch.exceptions import DeviceWarning

from skshot import ShotVAEClassifier


@pytest.fixture(scope="module")
def data(blobs):
    X, y = blobs
    return X, hide_labels(y, 5)


def fit(X, y, **params):
    return ShotVAEClassifier(**{**FAST, "max_epochs": 6, **params}).fit(X, y)


class StopAfter(Callback):
    """Interrupts the fit after epoch ``epoch``, as a user's Ctrl-C would."""

    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) == self.epoch:
            raise KeyboardInterrupt


def test_pickle_and_joblib_give_identical_predictions(data, tmp_path):
    X, y = data
    clf = fit(X, y)
    expected = clf.predict_proba(X)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(clf)).predict_proba(X), expected)
    joblib.dump(clf, tmp_path / "clf.joblib")
    loaded = joblib.load(tmp_path / "clf.joblib")
    np.testing.assert_array_equal(loaded.predict_proba(X), expected)
    np.testing.assert_array_equal(loaded.transform(X), clf.transform(X))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks how a CUDA-fitted model loads where no GPU "
                    "exists; with a GPU present it would stay on CUDA")
def test_a_model_fitted_on_cuda_loads_and_predicts_without_a_gpu(data):
    X, y = data
    clf = fit(X, y)
    expected = clf.predict_proba(X)
    # What a fit with device="cuda" leaves behind, as far as unpickling is concerned.
    clf.net_.device = "cuda"
    clf.device_ = "cuda"
    with pytest.warns(DeviceWarning, match="CUDA"):
        loaded = pickle.loads(pickle.dumps(clf))
    assert loaded.device_ == "cpu" and str(loaded.net_.device) == "cpu"
    np.testing.assert_array_equal(loaded.predict_proba(X), expected)
    assert np.all(np.isfinite(loaded.score_samples(X)))


def test_skorch_save_params_and_load_params_round_trip(data, tmp_path, monkeypatch):
    X, y = data
    clf = fit(X, y)
    files = {"f_params": tmp_path / "params.pt", "f_optimizer": tmp_path / "optimizer.pt",
                 "f_history": tmp_path / "history.json"}
    clf.net_.save_params(**files)
    other = fit(X, y, random_state=7, max_epochs=1)
    assert not np.array_equal(other.predict_proba(X), clf.predict_proba(X))

    load_kwargs = []
    torch_load = torch.load

    def recording_load(*args, **kwargs):
        load_kwargs.append(kwargs)
        return torch_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", recording_load)
    other.net_.load_params(**files)
    np.testing.assert_array_equal(other.predict_proba(X), clf.predict_proba(X))
    assert len(other.history_) == 6
    assert load_kwargs and all(kw.get("weights_only") is True for kw in load_kwargs)


def test_interrupted_fit_resumed_with_warm_start_matches_an_uninterrupted_fit(data):
    X, y = data
    full = fit(X, y)
    clf = fit(X, y, callbacks=[StopAfter(3)])
    assert len(clf.history_) == 3
    clf.set_params(warm_start=True)
    clf.fit(X, y)
    assert len(clf.history_) == 6
    np.testing.assert_array_equal(clf.history_[:, "ot_weight"], full.history_[:, "ot_weight"])
    np.testing.assert_allclose(clf.predict_proba(X), full.predict_proba(X), rtol=0, atol=1e-6)


def test_checkpoint_and_load_init_state_resume_to_the_planned_epochs(data, tmp_path):
    X, y = data
    params = {"lr_schedule": "step", "max_epochs": 12}
    full = fit(X, y, **params)

    checkpoint = Checkpoint(monitor=None, dirname=str(tmp_path))
    fit(X, y, callbacks=[checkpoint, StopAfter(5)], **params)
    checkpoint = Checkpoint(monitor=None, dirname=str(tmp_path))
    resumed = fit(X, y, callbacks=[checkpoint, LoadInitState(checkpoint)], **params)

    assert len(resumed.history_) == 12
    np.testing.assert_allclose(resumed.history_[:, "event_lr"], full.history_[:, "event_lr"])
    np.testing.assert_array_equal(resumed.history_[:, "ot_weight"], full.history_[:, "ot_weight"])
    np.testing.assert_allclose(resumed.predict_proba(X), full.predict_proba(X), rtol=0, atol=1e-6)


def test_warm_start_continues_the_fitted_weights(data):
    X, y = data
    params = {"gamma": 0.0, "lr_schedule": "constant"}
    direct = fit(X, y, max_epochs=6, **params)
    clf = fit(X, y, max_epochs=3, warm_start=True, **params)
    clf.set_params(max_epochs=6).fit(X, y)
    assert len(clf.history_) == 6
    np.testing.assert_allclose(clf.predict_proba(X), direct.predict_proba(X), rtol=0, atol=1e-6)


def test_warm_start_with_all_epochs_run_trains_no_further(data):
    X, y = data
    clf = fit(X, y, max_epochs=3, warm_start=True)
    before = [p.detach().clone() for p in clf.net_.module_.parameters()]
    clf.fit(X, y)
    assert len(clf.history_) == 3
    for old, new in zip(before, clf.net_.module_.parameters()):
        torch.testing.assert_close(old, new, rtol=0, atol=0)


def test_without_warm_start_a_second_fit_starts_anew(data):
    X, y = data
    clf = fit(X, y, max_epochs=3)
    first_net = clf.net_
    clf.fit(X, y)
    assert clf.net_ is not first_net and len(clf.history_) == 3
    np.testing.assert_array_equal(clf.predict_proba(X), fit(X, y, max_epochs=3).predict_proba(X))


def test_warm_start_refuses_other_classes(data):
    X, y = data
    clf = fit(X, y, max_epochs=2, warm_start=True)
    y_other = np.where(y == 2, 5, y)
    with pytest.raises(ValueError, match=r"warm_start=True continues the previous fit, whose "
                                         r"classes were \[0, 1, 2\]"):
        clf.set_params(max_epochs=3).fit(X, y_other)
