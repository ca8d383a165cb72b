"""ShotVAEClassifier trained through skorch's Accelerate integration: alone, it is the
plain fit; in two processes on the CPU (gloo on the loopback interface), the processes
train on different batches and end with the same model."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from accelerate import Accelerator
from conftest import FAST, hide_labels

from skshot import ShotVAEClassifier

WORKER = Path(__file__).with_name("accelerate_worker.py")


def test_a_single_process_accelerator_gives_the_plain_fit(digits, one_torch_thread):
    X, y = digits
    X, y_partial = X[:300], hide_labels(y[:300], 3)
    params = {**FAST, "max_epochs": 3}
    plain = ShotVAEClassifier(**params).fit(X, y_partial)
    accelerated = ShotVAEClassifier(accelerator=Accelerator(cpu=True), **params)
    accelerated.fit(X, y_partial)
    assert type(accelerated.net_).__name__ == "AcceleratedShotVAENet"
    assert accelerated.device_ == "cpu"
    np.testing.assert_array_equal(accelerated.history_[:, "train_loss"],
                                  plain.history_[:, "train_loss"])
    np.testing.assert_array_equal(accelerated.predict_proba(X), plain.predict_proba(X))


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_processes_share_the_batches_and_end_with_the_same_model(tmp_path):
    env = {**os.environ, "WORLD_SIZE": "2", "LOCAL_WORLD_SIZE": "2",
           "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(_free_port()),
           "OMP_NUM_THREADS": "1"}
    workers = [subprocess.Popen([sys.executable, str(WORKER), str(tmp_path)],
                                env={**env, "RANK": str(rank), "LOCAL_RANK": str(rank)},
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
               for rank in range(2)]
    for worker in workers:
        output, _ = worker.communicate(timeout=300)
        assert worker.returncode == 0, output
    first, second = (np.load(tmp_path / f"rank{rank}.npz") for rank in range(2))
    # 300 samples, 32 per batch and process: 5 steps per epoch each, not 10
    assert first["batches"].tolist() == second["batches"].tolist() == [5, 5, 5]
    # different batches, hence different losses...
    assert not np.allclose(first["train_loss"], second["train_loss"])
    # ...but averaged gradients: the same weights in both processes
    np.testing.assert_allclose(first["weights"], second["weights"], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(first["proba"], second["proba"], rtol=1e-5, atol=1e-7)


def test_the_accelerator_parameter_is_validated():
    X, y = np.random.rand(30, 4).astype(np.float32), np.tile([0, 1, -1], 10)
    with pytest.raises(ValueError, match=r"'accelerator' parameter .* must be an object "
                                         r"implementing 'prepare' and 'backward' or None"):
        ShotVAEClassifier(accelerator="cuda").fit(X, y)
