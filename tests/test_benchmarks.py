"""Smoke tests of the benchmark scripts on tiny data."""

import gzip
import importlib.util
import json
import struct
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).parent.parent / "benchmarks"


def load_script(name):
    spec = importlib.util.spec_from_file_location(f"benchmark_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_idx(path, array):
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I",
                                                                     *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


@pytest.fixture
def tiny_fashion(tmp_path, monkeypatch):
    rng = np.random.RandomState(0)
    for prefix, n in [("train", 300), ("t10k", 100)]:
        labels = np.arange(n) % 10
        # Class-dependent brightness, so the images carry their label.
        images = (rng.rand(n, 28, 28) * 60 + labels[:, None, None] * 19).astype(np.uint8)
        write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", labels)
    monkeypatch.setenv("SKSHOT_FASHION_MNIST", str(tmp_path))
    return tmp_path


def test_accuracy_script_writes_its_tables(tiny_fashion, tmp_path, monkeypatch):
    accuracy = load_script("accuracy")
    tiny = {"fmnist_train": 250, "fmnist_test": 80, "fmnist_epochs": 1, "digits_epochs": 1,
            "seeds": {"fmnist": [0, 1], "digits": [0]},
            "validation": {"fmnist": 50, "digits": 0.2}}
    monkeypatch.setitem(accuracy.PROFILES, "quick", tiny)
    monkeypatch.setattr(accuracy, "RESULTS", tmp_path / "results")
    monkeypatch.setitem(accuracy.QUICK_CANDIDATES, "vae", [
        {"hidden_sizes": (16,), "optimizer": "adam", "lr": 1e-3},
        {"hidden_sizes": (16,), "optimizer": "adam", "lr": 1e-2}])
    accuracy.main(["--quick", "--protocols", "fmnist-100", "digits-50"])

    results = json.loads((tmp_path / "results" / "accuracy-quick.json").read_text())
    candidates = json.loads(json.dumps([c for group in accuracy.QUICK_CANDIDATES.values()
                                        for c in group]))
    assert set(results["protocols"]) == {"fmnist-100", "digits-50"}
    for protocol, seeds in [("fmnist-100", 2), ("digits-50", 1)]:
        rows = results["protocols"][protocol]
        assert list(rows) == accuracy.METHODS
        for method, row in rows.items():
            assert len(row["errors"]) == seeds
            assert all(0.0 <= e <= 100.0 for e in row["errors"])
            assert row["params"] in candidates
            compared = len(accuracy.candidates(method, quick=True))
            assert len(row["validation_errors"]) == (compared if compared > 1 else 0)
    table = (tmp_path / "results" / "accuracy-quick.md").read_text()
    assert table.count("| fmnist-100 | ") >= len(accuracy.METHODS)
    assert "How the settings were chosen" in table
