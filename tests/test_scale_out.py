"""Grid search over ShotVAEClassifier on joblib's Dask backend, on a LocalCluster that
listens on the loopback interface only."""

import joblib
import numpy as np
import pytest
from conftest import FAST, hide_labels
from distributed import Client, LocalCluster, get_task_stream
from sklearn.model_selection import GridSearchCV

from skshot import ShotVAEClassifier

GRID = {"epsilon": [1e-3, 0.1], "gamma": [1.0, 5.0]}


@pytest.fixture(scope="module")
def cluster():
    # Worker processes, as on a real cluster: the estimator travels pickled. The
    # nanny starts them with one OpenMP/PyTorch thread each.
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as local_cluster:
        yield local_cluster


def test_grid_search_runs_on_the_dask_backend_and_matches_a_local_search(cluster, blobs,
                                                                          one_torch_thread):
    X, y = blobs
    y_partial = hide_labels(y, 5)
    estimator = ShotVAEClassifier(**{**FAST, "max_epochs": 5})

    with Client(cluster) as client:
        assert client.scheduler.address.startswith("tcp://127.0.0.1:")
        with get_task_stream(client) as tasks, joblib.parallel_config(backend="dask"):
            on_dask = GridSearchCV(estimator, GRID, cv=2).fit(X, y_partial)
        workers = {task["worker"] for task in tasks.data}
    assert tasks.data, "no task ran on the cluster"
    assert workers <= set(cluster.scheduler_info["workers"])

    local = GridSearchCV(estimator, GRID, cv=2, n_jobs=1).fit(X, y_partial)
    # the same candidates and folds, each fit seeded alike: the same scores
    np.testing.assert_array_equal(on_dask.cv_results_["mean_test_score"],
                                  local.cv_results_["mean_test_score"])
    assert on_dask.best_params_ == local.best_params_
    np.testing.assert_array_equal(on_dask.predict(X), local.predict(X))
