"""ShotVAEClassifier on a CUDA GPU: end to end, bf16 autocast, no host synchronisation in
the training step, label propagation, agreement with the CPU, the neighbours' vote, saving
and loading, and the device check.
Skipped where no GPU is present."""

import pickle

import numpy as np
import pytest
import torch
from conftest import FAST, hide_labels

import skshot
from skshot import ShotVAEClassifier
from skshot._data import SemiSupervisedBatches, SemiSupervisedData
from skshot._net import derive_seed

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="needs a CUDA GPU; none is present")

IMAGE_FAST = {**FAST, "max_epochs": 2, "batch_size_unlabeled": 32, "batch_size_labeled": 16,
              "latent_dim": 3}


@pytest.fixture(scope="module")
def images(digits):
    X, y = digits
    return X[:200].reshape(-1, 1, 8, 8), hide_labels(y[:200], 3)


@pytest.mark.parametrize("backbone", ["mlp", "conv", "conv-mlp", "wrn-28-2"])
@pytest.mark.parametrize("mixed_precision", [None, "bf16"])
def test_fits_and_predicts_on_cuda(images, backbone, mixed_precision):
    X, y_partial = images
    clf = ShotVAEClassifier(backbone=backbone, device="cuda", mixed_precision=mixed_precision,
                            **IMAGE_FAST).fit(X, y_partial)
    assert clf.device_ == "cuda"
    assert next(clf.net_.module_.parameters()).is_cuda
    proba = clf.predict_proba(X)
    assert np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert clf.transform(X).shape == (len(X), 3)
    assert clf.sample([0], n_samples=2, random_state=0)[0].shape == (2, 64)


@pytest.mark.parametrize("mixed_precision", [None, "bf16"])
def test_label_propagation_runs_on_cuda(images, mixed_precision):
    X, y_partial = images
    clf = ShotVAEClassifier(device="cuda", mixed_precision=mixed_precision,
                            propagation_weight=1.0, **{**IMAGE_FAST, "max_epochs": 4}
                            ).fit(X, y_partial)
    parts = [row["pl_u"] for row in clf.history_[2:]]  # epochs 3 and 4
    assert len(parts) == 2 and all(np.isfinite(p) and p >= 0 for p in parts)
    assert np.isfinite(clf.predict_proba(X)).all()


def test_a_training_step_never_synchronises_with_the_host(images):
    X, y_partial = images
    clf = ShotVAEClassifier(backbone="conv", device="cuda", mixed_precision="bf16",
                            **IMAGE_FAST).fit(X, y_partial)
    net = clf.net_
    # One epoch's batches, built as fit builds them, on the GPU.
    x = torch.tensor(X.reshape(len(X), -1), device="cuda")
    labeled = y_partial != -1
    data = SemiSupervisedData(x[torch.tensor(labeled, device="cuda")],
                              torch.tensor(y_partial[labeled], device="cuda"), x)
    iterator = SemiSupervisedBatches(data, 16, 32, torch.Generator().manual_seed(
        derive_seed(0, 0, 1)))
    net.history.new_epoch()
    net.history.new_batch()
    net._n_train_batches = len(iterator)
    net.on_epoch_begin(net)
    batches = list(iterator)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for batch in batches:
            net.train_step(batch)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    torch.cuda.synchronize()


def test_cuda_and_cpu_fits_agree(images):
    X, y_partial = images
    params = {**IMAGE_FAST, "max_epochs": 10}
    cpu = ShotVAEClassifier(device="cpu", **params).fit(X, y_partial)
    gpu = ShotVAEClassifier(device="cuda", **params).fit(X, y_partial)
    # different kernels and random streams: not equal, but the same classifier
    assert np.mean(cpu.predict(X) == gpu.predict(X)) > 0.8


def test_the_neighbours_vote_on_cuda_as_on_the_cpu(images, tmp_path):
    # the same fitted model, its vote's distances computed on the GPU or on the CPU
    X, y_partial = images
    clf = ShotVAEClassifier(device="cuda", vote_neighbors=5, **IMAGE_FAST).fit(X, y_partial)
    skshot.save(clf, tmp_path / "clf.skshot")
    on_cpu = skshot.load(tmp_path / "clf.skshot", device="cpu")
    proba = clf.predict_proba(X)
    assert np.isfinite(proba).all()
    np.testing.assert_allclose(proba, on_cpu.predict_proba(X), rtol=1e-4, atol=1e-6)
    network = on_cpu.set_params(vote_neighbors=0).predict_proba(X)
    assert not np.allclose(proba, network)  # the vote took part


def test_a_cuda_model_pickles_and_stays_on_cuda(images):
    X, y_partial = images
    clf = ShotVAEClassifier(device="cuda", **IMAGE_FAST).fit(X, y_partial)
    loaded = pickle.loads(pickle.dumps(clf))
    assert loaded.device_ == "cuda"
    np.testing.assert_allclose(loaded.predict_proba(X), clf.predict_proba(X), rtol=1e-6)


def test_a_cuda_model_saves_and_loads_on_cuda_and_on_the_cpu(images, tmp_path):
    X, y_partial = images
    clf = ShotVAEClassifier(device="cuda", **IMAGE_FAST).fit(X, y_partial)
    skshot.save(clf, tmp_path / "clf.skshot")
    on_gpu = skshot.load(tmp_path / "clf.skshot")
    assert on_gpu.device_ == "cuda" and next(on_gpu.net_.module_.parameters()).is_cuda
    np.testing.assert_allclose(on_gpu.predict_proba(X), clf.predict_proba(X), rtol=1e-6)
    on_cpu = skshot.load(tmp_path / "clf.skshot", device="cpu")
    assert on_cpu.device_ == "cpu" and not next(on_cpu.net_.module_.parameters()).is_cuda
    np.testing.assert_allclose(on_cpu.predict_proba(X), clf.predict_proba(X), rtol=1e-4,
                               atol=1e-6)


def test_a_gpu_index_beyond_the_visible_gpus_is_refused(images):
    X, y_partial = images
    index = torch.cuda.device_count()
    with pytest.raises(ValueError, match=rf"device='cuda:{index}' asks for GPU {index}"):
        ShotVAEClassifier(device=f"cuda:{index}", **IMAGE_FAST).fit(X, y_partial)
