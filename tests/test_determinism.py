"""Same random_state, same results: within a process, across processes, under joblib."""

import hashlib
import os
import subprocess
import sys

import numpy as np
import torch
from conftest import FAST, hide_labels
from sklearn.datasets import make_blobs
from sklearn.model_selection import GridSearchCV, cross_validate
from skorch.callbacks import Callback

from skshot import ShotVAEClassifier

FIT_AND_HASH = """
import hashlib, numpy as np, torch
from sklearn.datasets import make_blobs
from skshot import ShotVAEClassifier
torch.set_num_threads({threads})
X, y = make_blobs(n_samples=150, centers=3, random_state=0)
y_partial = np.where(np.arange(150) % 10 == 0, y, -1)
clf = ShotVAEClassifier(**{params}).fit(X.astype(np.float32), y_partial)
print(hashlib.sha256(clf.predict_proba(X.astype(np.float32)).tobytes()).hexdigest())
"""


def blob_data():
    X, y = make_blobs(n_samples=150, centers=3, random_state=0)
    return X.astype(np.float32), np.where(np.arange(150) % 10 == 0, y, -1)


def test_two_fits_in_one_process_are_identical():
    X, y = blob_data()
    first = ShotVAEClassifier(**FAST).fit(X, y)
    second = ShotVAEClassifier(**FAST).fit(X, y)
    np.testing.assert_array_equal(first.predict_proba(X), second.predict_proba(X))
    np.testing.assert_array_equal(first.transform(X), second.transform(X))
    assert first.history_[:, "train_loss"] == second.history_[:, "train_loss"]


def test_a_fit_in_another_process_is_identical():
    X, y = blob_data()
    clf = ShotVAEClassifier(**FAST).fit(X, y)
    expected = hashlib.sha256(clf.predict_proba(X).tobytes()).hexdigest()
    code = FIT_AND_HASH.format(threads=torch.get_num_threads(), params=repr(FAST))
    env = {**os.environ, "PYTHONHASHSEED": "123"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, check=True, timeout=300)
    assert out.stdout.strip() == expected


class RecordThreads(Callback):
    def on_train_begin(self, net, **kwargs):
        self.n_threads = torch.get_num_threads()


def test_parallel_cross_validation_limits_torch_threads_per_worker():
    X, y = blob_data()
    clf = ShotVAEClassifier(**{**FAST, "max_epochs": 3}, callbacks=[("threads", RecordThreads())])
    result = cross_validate(clf, X, y, cv=2, n_jobs=2, return_estimator=True)
    budget = max(1, (os.cpu_count() or 1) // 2)
    for fitted in result["estimator"]:
        assert dict(fitted.net_.callbacks_)["threads"].n_threads <= budget
    assert np.all(np.isfinite(result["test_score"]))


def test_grid_search_with_two_jobs_matches_one_job():
    X, y = blob_data()
    y = hide_labels(np.where(y == -1, make_blobs(150, centers=3, random_state=0)[1], y), 10)
    grid = {"epsilon": [1e-3, 0.1], "gamma": [0.0, 5.0]}
    estimator = ShotVAEClassifier(**{**FAST, "max_epochs": 3})
    serial = GridSearchCV(estimator, grid, cv=2, n_jobs=1).fit(X, y)
    parallel = GridSearchCV(estimator, grid, cv=2, n_jobs=2).fit(X, y)
    assert serial.cv_results_["params"] == parallel.cv_results_["params"]
    # Workers run torch with fewer threads, which may change the last bits of sums.
    np.testing.assert_allclose(serial.cv_results_["mean_test_score"],
                               parallel.cv_results_["mean_test_score"], atol=0.05)
