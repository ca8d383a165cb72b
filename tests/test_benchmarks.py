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


def test_levers_script_records_every_draw_and_summarises(tmp_path):
    levers = load_script("levers")
    out = tmp_path / "levers.jsonl"
    levers.main(["--protocols", "wine-30", "digits-50", "--draws", "0", "1", "--fidelity",
                 "--epochs", '{"wine-30": 2, "digits-50": 2}', "--out", str(out),
                 "--setting", "small", '{"hidden_sizes": [16], "entropy_weight": 0.3}',
                 "--setting", "SelfTraining", "{}"])
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 2 * 2 * 2
    small = [r for r in rows if r["setting"] == "small"]
    assert all(len(r["curve"]) == 2 and 0 <= r["val_error"] <= 100 for r in small)
    # The last epoch's held-out error is the final error.
    assert all(abs(r["curve"][-1] - r["val_error"]) < 1e-9 for r in small)
    assert all(0 <= r["fidelity_prior"] <= 1 and "ent_u" in r["parts"] for r in small)
    levers.main(["--summary", "--out", str(out)])
    table = (tmp_path / "levers.md").read_text()
    assert table.count("| small |") == 2 and table.count("| SelfTraining |") == 2


def test_trajectory_script_draws_each_objective(tiny_fashion, tmp_path, monkeypatch):
    trajectory = load_script("trajectory")
    protocols = importlib.import_module("_protocols")
    monkeypatch.setattr(protocols, "FMNIST_HELD_OUT", 100)
    monkeypatch.setattr(protocols, "_FMNIST", {})
    monkeypatch.setattr(trajectory, "RESULTS", tmp_path)
    trajectory.main(["--quick", "--protocols", "digits-50", "fmnist-100",
                     "--epochs", '{"digits-50": 2, "fmnist-100": 2}',
                     "--setting", "wide", '{"hidden_sizes": [8]}'])
    results = json.loads((tmp_path / "trajectory-quick.json").read_text())
    names = [*trajectory.OBJECTIVES, "wide"]
    for protocol in ("digits-50", "fmnist-100"):
        assert list(results[protocol]) == names
        for runs in results[protocol].values():
            assert len(runs[0]["curve"]) == 2
    assert (tmp_path / "trajectory-quick.png").stat().st_size > 10_000
    assert (tmp_path / "trajectory-quick.md").read_text().count("| digits-50 |") == len(names)
