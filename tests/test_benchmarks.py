"""Smoke tests of the benchmark scripts on tiny data."""

import gzip
import importlib.util
import json
import math
import struct
from pathlib import Path

import numpy as np
import pytest
import skorch
import torch
from sklearn.datasets import load_wine
from sklearn.neighbors import KNeighborsRegressor, NearestNeighbors
from sklearn.preprocessing import StandardScaler

from skshot import ShotVAEClassifier
from skshot._device import has_fast_bf16
from skshot._net import ShotVAENet
from skshot.backbones import build_backbone

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
            "tabular_epochs": 2, "seeds": {"fmnist": [0, 1], "digits": [0], "tabular": [0]},
            "validation": {"fmnist": 50, "digits": 0.2, "tabular": 0.3}}
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
            assert row["measured"] == {"date": results["date"],
                                       "threads": torch.get_num_threads(),
                                       "cpu_bf16": has_fast_bf16("cpu")}
            # the same fits predicting with the network alone, where the neighbours vote
            voting = method in accuracy.VAE_METHODS and method != "labeled-only"
            assert ("network_errors" in row) == voting
            if voting:
                assert len(row["network_errors"]) == seeds
    table = (tmp_path / "results" / "accuracy-quick.md").read_text()
    cpu = "" if has_fast_bf16("cpu") else ", CPU without AMX"
    assert f"| {results['date']}, {torch.get_num_threads()} thread(s){cpu} |" in table
    assert table.count("| fmnist-100 | ") >= len(accuracy.METHODS)
    assert "How the settings were chosen" in table

    # A later run of other protocols and methods adds its rows and keeps the others.
    accuracy.main(["--quick", "--protocols", "wine-30", "--methods", "shot", "shot-3x",
                   "SelfTraining"])
    updated = json.loads((tmp_path / "results" / "accuracy-quick.json").read_text())
    assert updated["protocols"]["fmnist-100"] == results["protocols"]["fmnist-100"]
    assert list(updated["protocols"]["wine-30"]) == ["shot", "shot-3x", "SelfTraining"]
    assert "| wine-30 | shot-3x | " in (tmp_path / "results" / "accuracy-quick.md").read_text()


def test_accuracy_script_trains_the_long_method_three_times_as_long():
    accuracy = load_script("accuracy")
    for epochs, n_train, expected in [(4, 100, 12), ("auto", 1437, 300),
                                      ("auto", 60000, 3 * 34)]:
        model = accuracy.make_model("shot-3x", "digits", {}, epochs, 0, n_train)
        assert model.max_epochs == expected
        assert accuracy.make_model("shot", "digits", {}, epochs, 0, n_train).max_epochs == epochs
    tabular = accuracy.make_model("SelfTraining", "wine", {}, "auto", 0, 100)
    assert type(tabular[0]).__name__ == "StandardScaler"


def test_accuracy_script_measures_the_propagation_option_only_on_request():
    accuracy = load_script("accuracy")
    assert "shot+propagation" not in accuracy.METHODS
    model = accuracy.make_model("shot+propagation", "digits", {"lr": 3e-3}, 5, 0, 100)
    assert (model.objective, model.propagation_weight, model.lr) == ("shot", 1.0, 3e-3)
    default = accuracy.ShotVAEClassifier().propagation_weight
    assert accuracy.make_model("shot", "digits", {}, 5, 0, 100).propagation_weight == default
    assert default != accuracy.METHOD_PARAMS["shot+propagation"]["propagation_weight"]
    with pytest.raises(SystemExit):
        accuracy.main(["--methods", "propagation"])


def test_accuracy_script_measures_the_input_graph_option_only_on_request():
    accuracy = load_script("accuracy")
    assert "shot+input-graph" not in accuracy.METHODS
    model = accuracy.make_model("shot+input-graph", "wine", {}, 5, 0, 100)
    assert (model[-1].objective, model[-1].propagation_features) == ("shot", "input")
    default = accuracy.make_model("shot", "wine", {}, 5, 0, 100)[-1]
    assert default.propagation_features == accuracy.ShotVAEClassifier().propagation_features
    assert default.propagation_features != "input"
    weighted = accuracy.make_model("shot+input-graph-w1", "wine", {}, 5, 0, 100)[-1]
    assert "shot+input-graph-w1" not in accuracy.METHODS
    assert (weighted.propagation_features, weighted.propagation_weight) == ("input", 1.0)
    assert default.propagation_weight == accuracy.ShotVAEClassifier().propagation_weight != 1.0


def test_accuracy_script_measures_early_stopping_only_on_request():
    accuracy = load_script("accuracy")
    assert not {"shot+early-stopping", "shot-3x+early-stopping"} & set(accuracy.METHODS)
    assert accuracy.ShotVAEClassifier().early_stopping is False
    once, thrice, plain = (accuracy.make_model(method, "wine", {}, "auto", 0, 100)[-1]
                           for method in ("shot+early-stopping", "shot-3x+early-stopping",
                                          "shot-3x"))
    assert once.early_stopping and thrice.early_stopping and not plain.early_stopping
    assert thrice.max_epochs == plain.max_epochs == 3 * once._resolve_max_epochs(100, "mlp")


def test_accuracy_script_measures_the_weight_decay_option_only_on_request():
    accuracy = load_script("accuracy")
    assert not {"shot+weight-decay", "shot-3x+weight-decay"} & set(accuracy.METHODS)
    once, thrice, plain = (accuracy.make_model(method, "wine", {}, "auto", 0, 100)[-1]
                           for method in ("shot+weight-decay", "shot-3x+weight-decay", "shot"))
    assert once.weight_decay == thrice.weight_decay == 0.1
    assert plain.weight_decay == accuracy.ShotVAEClassifier().weight_decay != 0.1
    assert thrice.max_epochs == 3 * once._resolve_max_epochs(100, "mlp")


def test_accuracy_script_measures_one_intrusion_neighbour_only_on_request():
    accuracy = load_script("accuracy")
    assert "shot+intrusion-k1" not in accuracy.METHODS
    option, plain = (accuracy.make_model(method, "iris", {}, "auto", 0, 100)[-1]
                     for method in ("shot+intrusion-k1", "shot"))
    assert option.ot_intrusion_neighbors == 1
    assert plain.ot_intrusion_neighbors == accuracy.ShotVAEClassifier().ot_intrusion_neighbors
    assert plain.ot_intrusion_neighbors == "auto"


def test_accuracy_script_measures_the_image_vote_option_only_on_request():
    accuracy = load_script("accuracy")
    assert "shot+image-vote" not in accuracy.METHODS
    option, plain = (accuracy.make_model(method, "digits", {}, "auto", 0, 100)
                     for method in ("shot+image-vote", "shot"))
    assert (option.vote_neighbors, option.vote_weight) == (7, 0.8)
    defaults = accuracy.ShotVAEClassifier()
    assert (plain.vote_neighbors, plain.vote_weight) == (defaults.vote_neighbors,
                                                         defaults.vote_weight) == (10, "auto")
    assert "shot+vote-axes64" not in accuracy.METHODS
    axes = accuracy.make_model("shot+vote-axes64", "digits", {}, "auto", 0, 100)
    assert axes.vote_components == 64 and plain.vote_components is None
    assert axes.get_params() == {**plain.get_params(), "vote_components": 64}
    assert "shot+small-images" not in accuracy.METHODS
    small = accuracy.make_model("shot+small-images", "digits", {}, "auto", 0, 100)
    assert small.get_params() == {**plain.get_params(), "lr": 3e-3, "vote_neighbors": 7,
                                  "vote_weight": 0.8}
    assert "shot+small-images+eps0.1" not in accuracy.METHODS
    smooth = accuracy.make_model("shot+small-images+eps0.1", "digits", {}, "auto", 0, 100)
    assert smooth.get_params() == {**small.get_params(), "epsilon": 0.1}
    assert plain.epsilon == 1e-3


@pytest.mark.parametrize("fast_bf16", [True, False])
def test_accuracy_script_gives_fashion_mnist_to_the_vae_methods_as_images(monkeypatch, fast_bf16):
    monkeypatch.setattr("skshot.classifier.has_fast_bf16", lambda device: fast_bf16)
    accuracy = load_script("accuracy")
    images, rows = (accuracy.make_model("shot", dataset, {}, "auto", 0, 100)
                    for dataset in ("fmnist", "digits"))
    assert images.input_shape == (1, 28, 28) and rows.input_shape is None
    assert images.get_params() == {**rows.get_params(), "input_shape": (1, 28, 28)}
    # the earlier defaults for images, as options: the MLP reading rows of pixels
    assert "shot+mlp" not in accuracy.METHODS and "shot-3x+mlp" not in accuracy.METHODS
    mlp = accuracy.make_model("shot+mlp", "fmnist", {}, "auto", 0, 100)
    assert mlp.get_params() == {**images.get_params(), "backbone": "mlp"}
    longer = accuracy.make_model("shot-3x+mlp", "fmnist", {}, 10, 0, 100)
    assert longer.get_params() == {**mlp.get_params(), "max_epochs": 30}
    # the network on the labels alone, with either backbone
    assert "labeled-only+mlp" not in accuracy.METHODS
    labels = accuracy.make_model("labeled-only", "fmnist", {}, "auto", 0, 100)
    assert labels.get_params() == {**images.get_params(), "objective": "supervised",
                                   "vote_neighbors": 0}
    labels_mlp = accuracy.make_model("labeled-only+mlp", "fmnist", {}, "auto", 0, 100)
    assert labels_mlp.get_params() == {**labels.get_params(), "backbone": "mlp"}
    # a labels-only row measured with the MLP names the backbone under "labeled-only" only
    current = accuracy.estimator_defaults()
    row = {"errors": [10.0], "fit_seconds": [1.0], "validation_errors": {}, "params": {},
           "defaults": {**current, "backbone": "mlp", "augmentation": None,
                        "mixed_precision": None, "beta": 1.0},
           "measured": {"date": "2026-12-07", "threads": 2, "cpu_bf16": fast_bf16}}
    assert accuracy.earlier_defaults("labeled-only+mlp", row, current, 10_000, (1, 28, 28)) == {}
    # "auto" takes the conv backbone there, or on a CPU without bfloat16 conv-mlp, both
    # translated for the encoder, and only the former under bfloat16
    # (and the MLP read each image as given, where they average translated copies)
    earlier = accuracy.earlier_defaults("labeled-only", row, current, 10_000, (1, 28, 28))
    assert earlier == ({"backbone": "mlp", "augmentation": None, "mixed_precision": None,
                        "predict_shift": 0}
                       if fast_bf16 else {"backbone": "mlp", "augmentation": None,
                                          "predict_shift": 0})


def test_accuracy_script_measures_the_conv_mlp_option_as_the_mlp_rows():
    accuracy = load_script("accuracy")
    assert not {"shot+conv-mlp", "shot-3x+conv-mlp", "labeled-only+conv-mlp"} & \
        set(accuracy.METHODS)
    images = accuracy.make_model("shot", "fmnist", {}, "auto", 0, 100)
    conv_mlp = accuracy.make_model("shot+conv-mlp", "fmnist", {}, "auto", 0, 100)
    assert conv_mlp.get_params() == {**images.get_params(), "backbone": "conv-mlp"}
    longer = accuracy.make_model("shot-3x+conv-mlp", "fmnist", {}, 10, 0, 100)
    assert longer.get_params() == {**conv_mlp.get_params(), "max_epochs": 30}
    labels = accuracy.make_model("labeled-only+conv-mlp", "fmnist", {}, "auto", 0, 100)
    assert labels.get_params() == {**conv_mlp.get_params(), "objective": "supervised",
                                   "vote_neighbors": 0}


def test_accuracy_script_trains_the_shorter_conv_mlp_candidate_three_quarters_as_long():
    accuracy = load_script("accuracy")
    assert not {"shot+conv-mlp-beta10-0.75x", "shot-3x+conv-mlp-beta10-0.75x"} & \
        set(accuracy.METHODS)
    conv_mlp = accuracy.make_model("shot+conv-mlp", "fmnist", {}, "auto", 0, 60000)
    auto = conv_mlp._resolve_max_epochs(60000, "mlp")
    shorter = accuracy.make_model("shot+conv-mlp-beta10-0.75x", "fmnist", {}, "auto", 0, 60000)
    assert shorter.get_params() == {**conv_mlp.get_params(), "beta": 10.0,
                                    "max_epochs": math.ceil(0.75 * auto)}
    assert shorter.max_epochs < auto
    # what "auto" now gives the conv-mlp backbone
    assert shorter.max_epochs == shorter._resolve_max_epochs(60000, "conv-mlp") == 26
    # three times the shorter length, not three quarters of three times the default's
    longer = accuracy.make_model("shot-3x+conv-mlp-beta10-0.75x", "fmnist", {}, "auto", 0, 60000)
    assert longer.max_epochs == 3 * shorter.max_epochs
    assert accuracy.make_model("shot+conv-mlp-beta10-0.75x", "fmnist", {}, 10, 0, 60000) \
        .max_epochs == 8
    # the ablation's objectives with the same defaults
    for objective in ("m2", "smooth-elbo"):
        ablation = accuracy.make_model(f"{objective}+conv-mlp-beta10-0.75x", "fmnist", {},
                                       "auto", 0, 60000)
        assert ablation.get_params() == {**shorter.get_params(), "objective": objective}
    # their rows name no earlier max_epochs: they set their own length
    current = accuracy.estimator_defaults()
    row = {"errors": [10.0], "fit_seconds": [1.0], "validation_errors": {}, "params": {},
           "defaults": {**current, "beta": 6.0},
           "measured": {"date": "2026-12-07", "threads": 2, "cpu_bf16": False}}
    for method in ("shot+conv-mlp-beta10-0.75x", "shot-3x+conv-mlp-beta10-0.75x"):
        assert accuracy.earlier_defaults(method, row, current, 60000, (1, 28, 28)) == {}
    # a row of the conv-mlp backbone at the earlier "auto" length names it
    assert accuracy.earlier_defaults("shot+conv-mlp", row, current, 60000, (1, 28, 28)) == \
        {"beta": 6.0, "max_epochs": 34}


@pytest.mark.parametrize("row_bf16", [True, False, None])
def test_accuracy_table_resolves_the_image_defaults_on_each_data_set(monkeypatch, row_bf16):
    # the table resolves "auto" as on the CPU that measured the row, whatever CPU writes it
    monkeypatch.setattr("skshot.classifier.has_fast_bf16", lambda device: row_bf16 is False)
    accuracy = load_script("accuracy")
    current = accuracy.estimator_defaults()
    before = {**current, "backbone": "mlp", "augmentation": None, "mixed_precision": None,
              "beta": 6.0}
    measured = {"date": "2026-12-02", "threads": 1}  # None: a row from before the record
    if row_bf16 is not None:
        measured["cpu_bf16"] = row_bf16
    fast_bf16 = row_bf16 is not False
    row = {"errors": [10.0], "fit_seconds": [1.0], "validation_errors": {}, "params": {},
           "defaults": before, "measured": measured}
    # rows of features: "auto" resolves to what the row ran
    assert accuracy.earlier_defaults("shot", row, current, n_train=10_000) == {}
    # 28x28 images: the row ran the earlier defaults where "auto" now reads them with
    # convolutions: "conv" on a CPU with bfloat16 (beta unchanged), "conv-mlp" without it
    # (with beta 10 and, on 60 000 images, 26 epochs against the MLP's 34), and average
    # the class distributions over translated copies (predict_shift "auto": 1, the MLP's 0),
    # blended with the vote at a share of 0.4 (vote_weight "auto"; 0.5 without the copies)
    earlier = {"backbone": "mlp", "augmentation": None, "mixed_precision": None} \
        if fast_bf16 else {"backbone": "mlp", "augmentation": None, "beta": 6.0}
    earlier.update(predict_shift=0, vote_weight=0.5)
    assert accuracy.earlier_defaults("shot", row, current, 10_000, (1, 28, 28)) == earlier
    longer = {} if fast_bf16 else {"max_epochs": 34}
    assert accuracy.earlier_defaults("shot", row, current, 60000, (1, 28, 28)) == \
        {**earlier, **longer}
    # fewer than 10 000 images "auto" reads with the MLP, as the row did
    assert accuracy.earlier_defaults("shot", row, current, 9_999, (1, 28, 28)) == {}
    # a method that sets the MLP resolves the other two with it: nothing changed for it
    assert accuracy.earlier_defaults("shot+mlp", row, current, 10_000, (1, 28, 28)) == {}
    conv = {"backbone": "conv", "augmentation": "translate-encoder", "mixed_precision": "bf16"}
    assert accuracy.earlier_defaults("shot", {**row, "params": conv}, current, 10_000,
                                     (1, 28, 28)) == {}
    # a row of those images measured before predict_shift existed read each image as given
    older = {k: v for k, v in before.items() if k != "predict_shift"}
    assert accuracy.earlier_defaults("shot", {**row, "params": conv, "defaults": older},
                                     current, 10_000, (1, 28, 28)) == {"predict_shift": 0,
                                                                     "vote_weight": 0.5}
    # one measured with the copies before vote_weight became "auto" blended at 0.5
    half = {**before, "predict_shift": "auto", "vote_weight": 0.5}
    assert accuracy.earlier_defaults("shot", {**row, "params": conv, "defaults": half},
                                     current, 10_000, (1, 28, 28)) == {"vote_weight": 0.5}
    # and the network on the labels alone reads no vote
    assert accuracy.earlier_defaults("labeled-only", {**row, "params": conv, "defaults": half},
                                     current, 10_000, (1, 28, 28)) == {}
    assert accuracy.earlier_defaults("shot", {**row, "defaults": older}, current,
                                     n_train=10_000) == {}  # rows of features: 0 either way


def test_accuracy_table_says_which_rows_a_cpu_without_bfloat16_measured():
    accuracy = load_script("accuracy")
    row = {"measured": {"date": "2026-12-06", "threads": 2}}
    assert accuracy._measured(row) == "2026-12-06, 2 thread(s)"
    row["measured"]["cpu_bf16"] = True
    assert accuracy._measured(row) == "2026-12-06, 2 thread(s)"
    row["measured"]["cpu_bf16"] = False
    assert accuracy._measured(row) == "2026-12-06, 2 thread(s), CPU without AMX"
    assert accuracy._measured({}) == "–"


def test_accuracy_table_resolves_auto_defaults_on_each_protocol_s_training_size():
    accuracy = load_script("accuracy")
    current = accuracy.estimator_defaults()
    assert current["ot_intrusion_neighbors"] == "auto"
    before = {**current, "ot_intrusion_neighbors": 1}
    row = {"errors": [10.0], "fit_seconds": [1.0], "validation_errors": {}, "params": {},
           "defaults": before}
    batch = current["batch_size_unlabeled"]
    # many batches an epoch: "auto" is 1, what the row ran
    assert accuracy.earlier_defaults("shot", row, current, n_train=20 * batch) == {}
    # one batch an epoch: "auto" is 3, so the row ran an earlier default
    assert accuracy.earlier_defaults("shot", row, current, n_train=batch) == {
        "ot_intrusion_neighbors": 1}
    assert accuracy.earlier_defaults("shot", row, current) == {"ot_intrusion_neighbors": 1}
    # the protocols' sizes: the fixed test splits' training parts
    assert accuracy.train_size("iris", accuracy.PROFILES["full"]) == len(
        accuracy.small_test_split("iris")[0])


def test_levers_script_chooses_a_grid_by_cross_validation_on_the_training_labels(tmp_path):
    levers = load_script("levers")
    out = tmp_path / "levers.jsonl"
    levers.main(["--protocols", "wine-30", "--draws", "0", "--out", str(out),
                 "--setting", "cv", ('{"hidden_sizes": [16], "max_epochs": 2, '
                                     '"cv_grid": {"weight_decay": [0.0005, 0.1]}}')])
    row = json.loads(out.read_text())
    assert row["chosen"]["weight_decay"] in (0.0005, 0.1)
    assert row["effective"]["weight_decay"] == row["chosen"]["weight_decay"]
    assert len(row["curve"]) == 2


def test_levers_figure_pairs_each_setting_with_the_reference_over_common_draws(tmp_path):
    levers = load_script("levers")
    out = tmp_path / "levers.jsonl"

    def row(protocol, setting, draw, error, wd):
        return json.dumps({"protocol": protocol, "setting": setting, "draw": draw,
                           "val_error": error, "effective": {"weight_decay": wd}})

    out.write_text("\n".join([
        row("wine-30", "ref", 0, 5.0, 5e-4), row("wine-30", "ref", 1, 3.0, 5e-4),
        row("wine-30", "ref", 2, 9.0, 5e-4),
        row("wine-30", "strong", 0, 4.0, 0.1), row("wine-30", "strong", 1, 1.0, 0.1),
        row("wine-30", "weak", 1, 4.0, 0.01),  # one common draw
        row("digits-50", "ref", 0, 7.0, 5e-4),  # no other setting: left out
        row("digits-50", "unrelated", 0, 1.0, 0.3)]) + "\n")
    effects = levers.lever_effects(out, "weight_decay", "ref", ["strong", "weak"])
    assert list(effects) == ["wine-30"]
    (v0, c0, e0, n0), (v1, c1, e1, n1), (v2, c2, e2, n2) = effects["wine-30"]
    assert (v0, c0, e0, n0) == (5e-4, 0.0, 0.0, 3)
    assert (v1, c1, e1, n1) == (0.01, 1.0, 0.0, 1)
    # paired changes -1 and -2 over draws 0 and 1: mean -1.5, s.e. 0.5
    assert (v2, n2) == (0.1, 2) and c2 == pytest.approx(-1.5) and e2 == pytest.approx(0.5)
    levers.main(["--out", str(out), "--figure", "weight_decay", "ref", "strong", "weak"])
    assert (tmp_path / "levers-weight_decay.png").stat().st_size > 0
    with pytest.raises(SystemExit):
        levers.main(["--out", str(out), "--figure", "weight_decay", "ref"])


def test_intrusion_counts_mixes_that_land_on_a_third_class():
    intrusion = load_script("intrusion")
    rng = np.random.default_rng(0)
    # three classes in a row on a line: a mix of the outer two lands on the middle one
    line = np.concatenate([c + 0.05 * rng.normal(size=(30, 1)) for c in (0.0, 1.0, 2.0)])
    y = np.repeat([0, 1, 2], 30)
    # three classes at the corners of a triangle: a mix lies nearer a parent
    corners = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, np.sqrt(3) / 2]])
    triangle = np.concatenate([c + 0.02 * rng.normal(size=(30, 2)) for c in corners])
    on_line = intrusion.third_class_share(line, y, mixup_alpha=50.0)  # lam near 1/2
    assert on_line > 0.25  # a third of the cross pairs are (0, 2), nearly all intrude
    assert intrusion.third_class_share(triangle, y, mixup_alpha=50.0) == 0.0
    assert intrusion.third_class_share(line, np.zeros(90, dtype=int)) is None


def test_intrusion_script_writes_its_table(tmp_path):
    intrusion = load_script("intrusion")
    out = tmp_path / "intrusion.md"
    intrusion.main(["--protocols", "iris-30", "cancer-20", "--draws", "0", "--out", str(out)])
    text = out.read_text()
    assert "| iris-30 | 73 | 4 |" in text
    assert "| cancer-20 | 278 | 30 | 0.0 ± 0.0 | 0.0 ± 0.0 |" in text  # two classes


def test_levers_script_records_every_draw_and_summarises(tmp_path):
    levers = load_script("levers")
    out = tmp_path / "levers.jsonl"
    levers.main(["--protocols", "wine-30", "digits-50", "--draws", "0", "1",
                 "--fidelity-per-class",
                 "--epochs", '{"wine-30": 2, "digits-50": 2}', "--out", str(out),
                 "--setting", "small", '{"hidden_sizes": [16], "entropy_weight": 0.3}',
                 "--setting", "SelfTraining", "{}"])
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 2 * 2 * 2
    small = [r for r in rows if r["setting"] == "small"]
    assert all(len(r["curve"]) == 2 and 0 <= r["val_error"] <= 100 for r in small)
    # The last epoch's held-out error is the network's final error; the neighbours'
    # vote comes on top of it only in the final prediction.
    assert all(abs(r["curve"][-1] - r["network_val_error"]) < 1e-9 for r in small)
    assert all(0 <= r["fidelity_prior"] <= 1 and "ent_u" in r["parts"] for r in small)
    levers.main(["--summary", "--out", str(out)])
    table = (tmp_path / "levers.md").read_text()
    assert table.count("| small | `") == 2 and table.count("| SelfTraining |") == 2
    # And one row per class of each protocol for the setting measured per class.
    assert table.count("| small |") == 2 + 3 + 10


def test_levers_builds_the_benchmark_backbones_by_name(tmp_path):
    levers = load_script("levers")
    protocols = importlib.import_module("_protocols")
    # "conv16-mlp" is the built-in "conv-mlp" by now
    assert protocols.BENCHMARK_BACKBONES["conv16-mlp"] == "conv-mlp"
    encoder, decoder = build_backbone(protocols.BENCHMARK_BACKBONES["conv16-mlp"],
                                      input_shape=(1, 8, 8), latent_dim=3, n_classes=10)
    convs = [m for m in encoder.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [16, 32]
    assert encoder(torch.zeros(5, 1, 8, 8)).shape == (5, 256)
    # The decoder is the fully connected one of the "mlp" backbone.
    assert not any(isinstance(m, torch.nn.ConvTranspose2d) for m in decoder.modules())
    assert decoder(torch.zeros(5, 13)).shape == (5, 64)
    out = tmp_path / "levers.jsonl"
    setting = json.dumps({"backbone": "conv16-mlp", "images": True, "max_epochs": 1})
    levers.main(["--protocols", "digits-50", "--draws", "0", "--out", str(out),
                 "--setting", "conv", setting])
    row = json.loads(out.read_text())
    assert row["params"]["backbone"] == "conv16-mlp" and 0 <= row["val_error"] <= 100


def test_trajectory_script_draws_each_objective(tiny_fashion, tmp_path, monkeypatch):
    trajectory = load_script("trajectory")
    protocols = importlib.import_module("_protocols")
    assert all(protocols.PROTOCOLS[name] == protocols.PROTOCOLS["fmnist-100"]
               for name in protocols.FMNIST_SUBSETS)
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


def _rows(X):
    return sorted(map(bytes, np.ascontiguousarray(X, dtype=np.float32)))


@pytest.mark.parametrize("protocol", ["digits-50", "cancer-20", "wine-30", "iris-30", "synth-40"])
def test_validation_protocols_never_read_the_small_sets_test_split(protocol):
    load_script("levers")  # puts the benchmarks folder on the path
    protocols = importlib.import_module("_protocols")
    accuracy = load_script("accuracy")
    name = protocol.split("-")[0]
    X_rest, X_test, y_rest, y_test = protocols.small_test_split(name)
    X_acc_train, X_acc_test, _, y_acc_test = accuracy.load(name, 2, accuracy.PROFILES["full"])
    np.testing.assert_array_equal(X_acc_test, X_test)  # the test split of accuracy.py
    np.testing.assert_array_equal(y_acc_test, y_test)
    np.testing.assert_array_equal(X_acc_train, X_rest)
    for draw in (0, 1, 2):
        X_fit, _y_partial, X_val, y_val, y_fit = protocols.split(protocol, draw)
        assert len(X_fit) + len(X_val) == len(X_rest)
        if protocol == "digits-50":  # unscaled: the rows themselves are X_rest's
            assert _rows(np.concatenate([X_fit, X_val])) == _rows(X_rest)
        assert sorted(np.concatenate([y_fit, y_val])) == sorted(y_rest)


def test_synthetic_protocol_is_a_fixed_four_class_set_split_as_the_tabular_sets():
    load_script("levers")  # puts the benchmarks folder on the path
    protocols = importlib.import_module("_protocols")
    X, y = protocols.small_dataset("synth")
    X_again, y_again = protocols.small_dataset("synth")
    np.testing.assert_array_equal(X, X_again)  # the same samples every call
    np.testing.assert_array_equal(y, y_again)
    assert X.shape == (1000, 6) and X.dtype == np.float32
    assert np.abs(np.bincount(y) - 250).max() <= 5  # 1 % of the labels flipped at random
    X_fit, y_partial, X_val, _, _ = protocols.split("synth-40", 0)
    assert (len(X_fit), len(X_val)) == (490, 210)
    np.testing.assert_array_equal(np.bincount(y_partial[y_partial >= 0]), np.full(4, 10))
    np.testing.assert_allclose(X_fit.mean(axis=0), 0.0, atol=1e-5)  # standardised


def test_many_feature_protocols_extend_the_tabular_sets_with_their_splits():
    load_script("levers")  # puts the benchmarks folder on the path
    protocols = importlib.import_module("_protocols")
    X, y = protocols.small_dataset("synth200")
    assert X.shape == (1000, 200) and X.dtype == np.float32 and len(np.unique(y)) == 4
    np.testing.assert_array_equal(X, protocols.small_dataset("synth200")[0])
    X_fit, y_partial, X_val, _, _ = protocols.split("synth200-40", 1)
    assert (len(X_fit), len(X_val)) == (490, 210)
    np.testing.assert_array_equal(np.bincount(y_partial[y_partial >= 0]), np.full(4, 10))
    # the products of two features: the same samples, test split and labels as cancer-20
    np.testing.assert_array_equal(protocols.small_test_split("cancerpoly")[3],
                                  protocols.small_test_split("cancer")[3])
    poly = protocols.split("cancerpoly-20", 2)
    plain = protocols.split("cancer-20", 2)
    for a, b in zip(poly[1:], plain[1:]):
        if a.ndim == 1:
            np.testing.assert_array_equal(a, b)
    assert poly[0].shape == (len(plain[0]), 30 + 30 * 31 // 2)
    # the first 30 columns are the standardised features themselves
    np.testing.assert_allclose(poly[0][:, :30], plain[0], atol=1e-4)
    np.testing.assert_allclose(poly[2][:, :30], plain[2], atol=1e-4)
    products = poly[0][:, 30]  # feature 0 squared, standardised on the training samples
    np.testing.assert_allclose([products.mean(), products.std()], [0.0, 1.0], atol=1e-4)
    squared = plain[0][:, 0].astype(np.float64) ** 2
    np.testing.assert_allclose(products, (squared - squared.mean()) / squared.std(), atol=1e-4)


def test_small_digits_protocol_trains_on_a_stratified_share_of_each_draw():
    load_script("levers")  # puts the benchmarks folder on the path
    protocols = importlib.import_module("_protocols")
    for draw in (0, 1):
        X_all, _, X_val_all, y_val_all, _ = protocols.split("digits-50", draw)
        X_fit, y_partial, X_val, y_val, y_fit = protocols.split("digits300-50", draw)
        assert X_fit.shape == (300, 64)
        assert set(_rows(X_fit)) <= set(_rows(X_all))  # the draw's own training digits
        assert np.abs(np.bincount(y_fit) - 30).max() <= 1  # stratified
        np.testing.assert_array_equal(np.bincount(y_partial[y_partial >= 0]), np.full(10, 5))
        np.testing.assert_array_equal(X_val, X_val_all)  # the same held-out digits
        np.testing.assert_array_equal(y_val, y_val_all)


def test_mid_sized_fashion_protocol_is_a_fixed_stratified_subset(tiny_fashion, monkeypatch):
    load_script("levers")  # puts the benchmarks folder on the path
    protocols = importlib.import_module("_protocols")
    assert all(protocols.PROTOCOLS[name] == protocols.PROTOCOLS["fmnist-100"]
               for name in protocols.FMNIST_SUBSETS)
    monkeypatch.setattr(protocols, "FMNIST_HELD_OUT", 100)
    monkeypatch.setattr(protocols, "FMNIST_SUBSETS", {"fmnist5k-100": 150})
    monkeypatch.setattr(protocols, "_FMNIST", {})
    X_all, _, X_val_all, y_val_all, _ = protocols.split("fmnist-100", 0)
    subsets = []
    for draw in (0, 1):
        X_fit, y_partial, X_val, y_val, y_fit = protocols.split("fmnist5k-100", draw)
        assert X_fit.shape == (150, 784)
        np.testing.assert_array_equal(np.bincount(y_fit), np.full(10, 15))
        np.testing.assert_array_equal(np.bincount(y_partial[y_partial >= 0]), np.full(10, 10))
        np.testing.assert_array_equal(X_val, X_val_all)  # the same held-out images
        np.testing.assert_array_equal(y_val, y_val_all)
        assert set(_rows(X_fit)) <= set(_rows(X_all))
        subsets.append((X_fit, y_partial))
    np.testing.assert_array_equal(subsets[0][0], subsets[1][0])  # the images stay fixed,
    assert not np.array_equal(subsets[0][1], subsets[1][1])  # the labels are drawn anew


def test_partners_script_measures_what_z_holds(tmp_path):
    partners = load_script("partners")
    out = tmp_path / "partners.md"
    partners.main(["--protocol", "wine-30", "--draws", "0", "1", "--out", str(out),
                   "--settings", '{"small": {"hidden_sizes": [16], "max_epochs": 2}}'])
    table = out.read_text()
    row = next(line for line in table.splitlines() if line.startswith("| small |"))
    cells = [c.strip() for c in row.strip("|").split("|")][2:]
    assert len(cells) == 5
    means = [float(c.split(" ± ")[0]) for c in cells]
    assert all(0.0 <= m <= 100.0 for m in means)


def test_same_class_neighbour_counts_the_nearest_other_sample():
    partners = load_script("partners")
    features = np.array([[0.0], [0.1], [5.0], [5.2], [9.0]])
    # nearest others: 1, 0, 3, 2, 3 -> classes 0, 0, 1, 1, 1 against 0, 0, 1, 1, 0
    assert partners.same_class_neighbour(features, np.array([0, 0, 1, 1, 0])) == 80.0


def test_pseudo_labels_script_follows_every_refresh(tmp_path):
    script = load_script("pseudo_labels")
    out = tmp_path / "pseudo_labels.md"
    script.main(["--protocols", "wine-30", "--draws", "0", "1", "--out", str(out),
                 "--params", ('{"hidden_sizes": [16], "max_epochs": 6, '
                              '"propagation_features": "network"}')])
    rows = [line.strip("|").split("|") for line in out.read_text().splitlines()
            if line.startswith("| wine-30 |")]
    # six epochs: a refresh at the start of each of epochs 3 to 6, for each draw
    assert [(int(r[1]), int(r[2])) for r in rows] == [(d, e) for d in (0, 1) for e in (3, 4, 5, 6)]
    values = [float(c) for r in rows for c in r[3:]]
    assert all(0.0 <= v <= 100.0 for v in values)
    assert out.read_text().splitlines()[0].endswith("network's error: wine-30")


def test_accuracy_script_keeps_rows_that_another_run_wrote_meanwhile(tmp_path, monkeypatch):
    accuracy = load_script("accuracy")
    tiny = {**accuracy.PROFILES["quick"], "tabular_epochs": 1}
    monkeypatch.setitem(accuracy.PROFILES, "quick", tiny)
    monkeypatch.setattr(accuracy, "RESULTS", tmp_path)
    path = tmp_path / "accuracy-quick.json"
    other = {"errors": [1.0], "fit_seconds": [0.1], "params": {}, "validation_errors": {}}

    def concurrent_write(*args, **kwargs):
        # Another run of the same profile writes a row while this one fits.
        if path.exists():
            on_disk = json.loads(path.read_text())
            on_disk["protocols"].setdefault("digits-50", {})["shot"] = other
            path.write_text(json.dumps(on_disk))
        return 5.0, 0.01, None

    accuracy.main(["--quick", "--protocols", "wine-30", "--methods", "SelfTraining"])
    monkeypatch.setattr(accuracy, "run_one", concurrent_write)
    accuracy.main(["--quick", "--protocols", "wine-30", "--methods", "LabelSpreading"])

    results = json.loads(path.read_text())
    assert results["protocols"]["digits-50"]["shot"] == other
    assert set(results["protocols"]["wine-30"]) == {"SelfTraining", "LabelSpreading"}
    assert results["protocols"]["wine-30"]["LabelSpreading"]["errors"] == [5.0] * 3


def test_accuracy_table_names_the_earlier_defaults_a_row_ran_under(tmp_path, monkeypatch):
    accuracy = load_script("accuracy")
    monkeypatch.setattr(accuracy, "RESULTS", tmp_path)
    current = accuracy.estimator_defaults()
    assert current["beta"] == accuracy.ShotVAEClassifier().beta
    earlier = {**current, "beta": 1.0, "gamma": current["gamma"] + 1.0}
    row = {"errors": [10.0], "fit_seconds": [1.0], "validation_errors": {},
           "params": {"gamma": 0.5}, "defaults": earlier}
    assert accuracy.earlier_defaults("shot", row, current) == {"beta": 1.0}
    assert accuracy.earlier_defaults("shot", {**row, "defaults": current}, current) == {}
    # A parameter that the method itself sets is not a default it ran under.
    method_param = next(iter(accuracy.METHOD_PARAMS["shot+propagation"]))
    changed = {**current, method_param: "earlier"}
    assert accuracy.earlier_defaults("shot+propagation", {**row, "defaults": changed},
                                     current) == {}
    assert accuracy.earlier_defaults("shot", {**row, "defaults": changed},
                                     current) == {method_param: "earlier"}
    # The labeled-only network does not read the unlabeled terms' parameters.
    assert accuracy.earlier_defaults("labeled-only", {**row, "defaults": changed},
                                     current) == {}
    assert accuracy.earlier_defaults("labeled-only", row, current) == {}
    # A parameter added since ran as ADDED_PARAMETERS says, and the objectives
    # without an OT term do not read the OT term's parameters.
    before = {k: v for k, v in current.items() if k != "ot_drop_intrusions"}
    assert accuracy.ADDED_PARAMETERS["ot_drop_intrusions"] != current["ot_drop_intrusions"]
    assert accuracy.earlier_defaults("shot", {**row, "defaults": before}, current) == {
        "ot_drop_intrusions": accuracy.ADDED_PARAMETERS["ot_drop_intrusions"]}
    assert accuracy.earlier_defaults("m2", {**row, "defaults": before}, current) == {}
    assert accuracy.earlier_defaults("smooth-elbo", {**row, "defaults": earlier},
                                     current) == {"beta": 1.0}
    assert accuracy.earlier_defaults("shot", {k: v for k, v in row.items() if k != "defaults"},
                                     current) == {}

    results = {"profile": "full", "date": "d", "machine": "m", "run_seconds": 60.0,
               "settings": accuracy.PROFILES["full"],
               "protocols": {"wine-30": {"shot": row, "m2": {**row, "defaults": current,
                                                             "network_errors": [8.0]}}}}
    accuracy.write(results, "accuracy")
    table = (tmp_path / "accuracy.md").read_text()
    beta = json.dumps({"beta": 1.0, "gamma": 0.5})
    assert f"| wine-30 | shot | 10.00 ± 0.00 | – | 1.0 | 1 | `{beta}` |" in table
    assert '| wine-30 | m2 | 10.00 ± 0.00 | 8.00 ± 0.00 | 1.0 | 1 | `{"gamma": 0.5}` |' in table


def test_graph_students_uses_the_pseudo_labels_of_the_estimators_input_graph(monkeypatch,
                                                                            tmp_path):
    script = load_script("graph_students")
    X, y_partial, *_ = script.split("wine-30", 0)
    seen = []
    original = ShotVAENet.refresh_pseudo_labels

    def spy(net, data):
        original(net, data)
        seen.append(data.pseudo_labels[0].numpy().copy())

    monkeypatch.setattr(ShotVAENet, "refresh_pseudo_labels", spy)
    ShotVAEClassifier(propagation_features="input", propagation_weight=1.0, max_epochs=3,
                      hidden_sizes=(8,), random_state=0).fit(X, y_partial)
    scores = script.input_graph_scores(X, y_partial, 3)
    labels, _ = script.propagation.pseudo_labels(scores, torch.as_tensor(y_partial))
    np.testing.assert_array_equal(labels.numpy(), seen[0])

    out = tmp_path / "students.md"
    script.main(["--protocols", "wine-30", "--draws", "0", "--mlp-iter", "5", "--out", str(out)])
    row = [line for line in out.read_text().splitlines() if line.startswith("| wine-30 |")]
    cells = row[0].strip("|").split("|")[1:]
    assert len(cells) == len(script.COLUMNS)
    assert all(0.0 <= float(c.split("±")[0]) <= 100.0 for c in cells)


@pytest.fixture
def short_fits(monkeypatch):
    """Makes every fit 3 epochs long; returns the training sizes of the fits, and the real fit."""
    fits = []
    original_fit = ShotVAEClassifier.fit

    def counting_fit(self, X, y):
        fits.append(len(X))
        return original_fit(self.set_params(max_epochs=3), X, y)

    monkeypatch.setattr(ShotVAEClassifier, "fit", counting_fit)
    return fits, original_fit


def test_neighbour_vote_script_measures_every_pair_from_one_fit(tmp_path, short_fits):
    script = load_script("neighbour_vote")
    fits, original_fit = short_fits
    out = tmp_path / "vote.jsonl"
    script.main(["--protocols", "wine-30", "--draws", "0", "1", "--out", str(out)])
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(fits) == len(rows) == 2  # one fit per draw, every pair from it
    X_fit, y_partial, X_val, y_val, _ = importlib.import_module("_protocols").split("wine-30", 1)
    clf = original_fit(ShotVAEClassifier(random_state=1, max_epochs=3), X_fit, y_partial)
    for k in script.NEIGHBORS:
        for w in script.WEIGHTS:
            expected = 100.0 * np.mean(
                clf.set_params(vote_neighbors=k, vote_weight=w).predict(X_val) != y_val)
            assert rows[1]["grid"][f"{k},{w}"] == pytest.approx(expected)
    assert rows[1]["network"] == pytest.approx(
        100.0 * np.mean(clf.set_params(vote_neighbors=0).predict(X_val) != y_val))
    script.main(["--summary", "--out", str(out)])
    table = out.with_suffix(".md").read_text()
    assert "## wine-30" in table and "2 draws (0 1)" in table
    assert sum(line.startswith("| ") and "(" in line for line in table.splitlines()) == len(
        script.NEIGHBORS)


def test_neighbour_vote_script_takes_its_grid_from_the_command_line(tmp_path, short_fits):
    script = load_script("neighbour_vote")
    fits, original_fit = short_fits
    out = tmp_path / "vote.jsonl"
    script.main(["--protocols", "wine-30", "--draws", "1", "--neighbors", "4", "10",
                 "--weights", "0", "0.2", "0.5", "--out", str(out)])
    (row,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(fits) == 1
    assert row["neighbors"] == [4, 10] and row["weights"] == [0.0, 0.2, 0.5]
    assert sorted(row["grid"]) == sorted(f"{k},{w}" for k in (4, 10) for w in (0.0, 0.2, 0.5))
    assert row["predict_shift"] == 0  # rows of features: no translated copies
    X_fit, y_partial, X_val, y_val, _ = importlib.import_module("_protocols").split("wine-30", 1)
    clf = original_fit(ShotVAEClassifier(random_state=1, max_epochs=3), X_fit, y_partial)
    for k, w in [(4, 0.2), (10, 0.2), (4, 0.5)]:
        expected = 100.0 * np.mean(
            clf.set_params(vote_neighbors=k, vote_weight=w).predict(X_val) != y_val)
        assert row["grid"][f"{k},{w}"] == pytest.approx(expected)
    for k in (4, 10):  # a share of 0 is the network alone
        assert row["grid"][f"{k},0.0"] == pytest.approx(row["network"])
    script.main(["--summary", "--out", str(out)])
    lines = out.with_suffix(".md").read_text().splitlines()
    assert "| k | w = 0.0 | w = 0.2 | w = 0.5 |" in lines
    assert "translated copies" not in lines[0]  # rows of features: q(y|x) as given
    rows = [line for line in lines if line.startswith(("| 4 ", "| 10 "))]
    assert [row.split("|")[1].strip() for row in rows] == ["4", "10"]


def one_draw_row(name, tmp_path, short_fits):
    """``(script, row, unpatched fit, rows file)`` of script ``name`` run on one draw of
    300 digits, after checking that the row came from one fit."""
    script = load_script(name)
    fits, original_fit = short_fits
    out = tmp_path / f"{name}.jsonl"
    script.main(["--protocols", "digits300-50", "--draws", "1", "--out", str(out)])
    (row,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(fits) == 1  # one fit, every variant from it
    return script, row, original_fit, out


def test_vote_components_script_measures_the_estimators_vote_in_each_space(tmp_path,
                                                                          short_fits):
    script, row, original_fit, out = one_draw_row("vote_components", tmp_path, short_fits)
    assert list(row["spaces"]) == ["input", "axes 16", "axes 32", "latent z", "cosine",
                                   "centred cosine"]  # 64 pixels: no axes 64 or 128
    X_fit, y_partial, X_val, y_val, _ = importlib.import_module("_protocols").split("digits300-50", 1)
    for m in (None, 16, 32):
        clf = original_fit(ShotVAEClassifier(random_state=1, max_epochs=3, vote_components=m),
                           X_fit, y_partial)
        name = "input" if m is None else f"axes {m}"
        assert row["spaces"][name]["dimensions"] == (m or 64)
        assert row["spaces"][name]["error"] == pytest.approx(
            100.0 * np.mean(clf.predict(X_val) != y_val))
    assert row["network"] == pytest.approx(
        100.0 * np.mean(clf.set_params(vote_neighbors=0).predict(X_val) != y_val))
    assert row["spaces"]["latent z"]["dimensions"] == clf.latent_dim
    # the cosine spaces against scikit-learn's cosine neighbours, blended as predict_proba does
    k, w = ShotVAEClassifier().vote_neighbors, clf._resolved_vote_weight()
    assert w == 0.5  # "auto" on untranslated digits
    network = clf.set_params(vote_neighbors=0).predict_proba(X_val)
    for name, origin in (("cosine", 0.0), ("centred cosine", X_fit.mean(axis=0))):
        search = NearestNeighbors(n_neighbors=k, metric="cosine").fit(X_fit - origin)
        nearest = search.kneighbors(X_val - origin, return_distance=False)
        proba = (1 - w) * network + w * clf.label_distributions_[nearest].mean(axis=1)
        assert row["spaces"][name]["error"] == pytest.approx(
            100.0 * np.mean(clf.classes_[proba.argmax(axis=1)] != y_val))
    script.main(["--summary", "--out", str(out)])
    table = out.with_suffix(".md").read_text()
    assert "## digits300-50" in table and "1 draws (1)" in table
    assert "| centred cosine | 64 |" in table
    assert sum(line.startswith("| axes ") for line in table.splitlines()) == 2


def test_vote_rules_inverse_distance_weights_let_exact_matches_vote_alone():
    script = load_script("vote_rules")
    weights = script.inverse_distance_weights(torch.tensor([[1.0, 2.0, 4.0], [0.0, 3.0, 0.0]]))
    np.testing.assert_allclose(weights.numpy(), [[4 / 7, 2 / 7, 1 / 7], [0.5, 0.0, 0.5]])


def test_vote_rules_script_measures_each_rule_against_scikit_learns_neighbours(tmp_path,
                                                                              short_fits):
    script, row, original_fit, out = one_draw_row("vote_rules", tmp_path, short_fits)
    assert list(row["rules"]) == script.RULES
    X_fit, y_partial, X_val, y_val, _ = importlib.import_module("_protocols").split(
        "digits300-50", 1)
    clf = original_fit(ShotVAEClassifier(random_state=1, max_epochs=3), X_fit, y_partial)
    k, w = clf.vote_neighbors, clf._resolved_vote_weight()

    def error(vote):
        proba = (1 - w) * clf.set_params(vote_neighbors=0).predict_proba(X_val) + w * vote
        clf.set_params(vote_neighbors=k)
        return 100.0 * np.mean(clf.classes_[proba.argmax(axis=1)] != y_val)

    def regressor(targets, weights="uniform"):
        return KNeighborsRegressor(n_neighbors=k, weights=weights).fit(X_fit, targets)

    assert row["rules"]["mean"] == pytest.approx(100.0 * np.mean(clf.predict(X_val) != y_val))
    assert row["network"] == pytest.approx(
        100.0 * np.mean(clf.set_params(vote_neighbors=0).predict(X_val) != y_val))
    clf.set_params(vote_neighbors=k)
    assert row["rules"]["distance-weighted"] == pytest.approx(
        error(regressor(clf.label_distributions_, "distance").predict(X_val)))
    classes = np.eye(len(clf.classes_))[np.searchsorted(clf.classes_, clf.transduction_)]
    assert row["rules"]["hard labels"] == pytest.approx(error(regressor(classes).predict(X_val)))
    # two rounds: the unlabeled training samples' rows are the estimator's prediction for them
    rows = np.where((y_partial != -1)[:, None], clf.label_distributions_,
                    clf.predict_proba(X_fit))
    assert row["rules"]["two rounds"] == pytest.approx(error(regressor(rows).predict(X_val)))
    script.main(["--summary", "--out", str(out)])
    table = out.with_suffix(".md").read_text()
    assert "## digits300-50" in table and "1 draws (1)" in table
    assert sum(line.startswith("| ") and " ± " in line for line in table.splitlines()) == len(
        script.RULES)


def test_fit_time_script_splits_a_default_fit_into_its_parts(tiny_fashion, tmp_path,
                                                             short_fits):
    script = load_script("fit_time")
    fits, _ = short_fits
    original = ShotVAENet.refresh_pseudo_labels
    out = tmp_path / "fit_time.json"
    script.main(["--n-samples", "200", "--out", str(out)])
    assert ShotVAENet.refresh_pseudo_labels is original  # the timer is taken off again
    result = json.loads(out.read_text())
    assert fits == [200] and result["n_samples"] == 200
    assert result["epochs"] == len(result["epoch_seconds"]) == 3
    # propagation starts at the third epoch: one refresh in three epochs
    assert len(result["refresh_seconds"]) == 1
    assert sum(result["epoch_seconds"]) + sum(result["refresh_seconds"]) < result["fit_seconds"]
    table = out.with_suffix(".md").read_text()
    assert "| the fit |" in table and "| 1 label-propagation refreshes" in table
    # the CPU is named, with whether it has AMX ("auto" depends on it) and AVX-512 BF16
    assert result["cpu"] and isinstance(result["cpu_bf16"], bool) and result["params"] == {}
    assert isinstance(result["cpu_avx512_bf16"], bool)
    assert result["cpu"] in table and "AMX)" in table


def test_fit_time_table_of_a_fit_that_ended_before_the_first_refresh(tmp_path):
    script = load_script("fit_time")
    record = {"date": "2026-12-07", "machine": "m", "cpu": "c", "cpu_bf16": False,
              "cpu_avx512_bf16": False, "params": {"max_epochs": 2}, "threads": 2,
              "n_samples": 60000, "epochs": 2, "steps_per_epoch": 118, "fit_seconds": 30.0,
              "epoch_seconds": [10.0, 8.0], "refresh_seconds": [], "backbone": "mlp",
              "augmentation": None, "mixed_precision": None}
    script.write_table(record, tmp_path / "t.md")
    table = (tmp_path / "t.md").read_text()
    assert "| no label-propagation refresh (the fit ended before the first) | 0 | 0 % |" in table
    assert "| the rest | 12 | 40 % |" in table and "c (without AMX)" in table


def test_fit_time_script_times_parameters_other_than_the_defaults(tiny_fashion, tmp_path,
                                                                  short_fits, monkeypatch):
    monkeypatch.setattr("skshot.classifier.has_fast_bf16", lambda device: False)
    script = load_script("fit_time")
    monkeypatch.setattr(script, "has_fast_bf16", lambda device: False)
    monkeypatch.setattr(script, "avx512_bf16", lambda: True)
    out = tmp_path / "fit_time-conv.json"
    script.main(["--n-samples", "200", "--out", str(out), "--params",
                 '{"backbone": "conv", "mixed_precision": null}'])
    result = json.loads(out.read_text())
    assert result["params"] == {"backbone": "conv", "mixed_precision": None}
    assert (result["backbone"], result["augmentation"], result["mixed_precision"]) == \
        ("conv", "translate-encoder", None)
    table = out.with_suffix(".md").read_text()
    assert table.startswith('# The time of a fit with `{"backbone": "conv", "mixed_precision": '
                            'null}` on 200 images, a CPU without AMX\n')
    assert "(with AVX-512 BF16, without AMX)" in table and "it ran `backbone='conv'`" in table
    # the table is written again from the record alone
    out.with_suffix(".md").unlink()
    script.main(["--out", str(out), "--summary"])
    assert out.with_suffix(".md").read_text() == table


def test_throughput_raw_loop_and_flush_share(tiny_fashion):
    """The raw loop trains the template's module with the estimator's flush of tiny numbers."""
    throughput = load_script("throughput")
    X, y = throughput.fashion(200)
    fit = throughput.fit_throughput(X, y, epochs=1, repeats=1)
    assert fit["n_samples"] == 200 and fit["raw_loop_samples_per_s"] > 0
    assert 0 < fit["flush_share"] < 1
    # the epochs are a part of the fit: its start and end are timed apart
    assert fit["fit_overhead_seconds"] > 0
    assert fit["fit_epochs_samples_per_s"] > fit["fit_samples_per_s"]
    assert fit["epochs_ratio"] == pytest.approx(
        fit["fit_epochs_samples_per_s"] / fit["raw_loop_samples_per_s"])
    fit_seconds, epoch_seconds, template = throughput.time_estimator_fit(X, y, 1)
    assert 0 < epoch_seconds < fit_seconds
    assert epoch_seconds == pytest.approx(template.history_[0, "dur"])
    calls = []
    original = throughput.numerics.flush_negligible_
    throughput.numerics.flush_negligible_ = lambda tensors: calls.append(list(tensors))
    try:
        throughput.time_raw_loop(X, y, 1, template)
    finally:
        throughput.numerics.flush_negligible_ = original
    assert len(calls) == template.net_._n_train_batches
    assert [p.shape for p in calls[0]] == [p.shape for p in template.net_.module_.parameters()]


def test_levers_summary_is_written_beside_its_lines_under_their_name(tmp_path):
    levers = load_script("levers")
    row = {"protocol": "wine-30", "setting": "ref", "draw": 0, "val_error": 4.0,
           "curve": [6.0, 4.0], "seconds": 1.0, "params": {}}
    for name in ("levers", "levers-extra"):
        (tmp_path / f"{name}.jsonl").write_text(json.dumps(row) + "\n")
        levers.main(["--out", str(tmp_path / f"{name}.jsonl"), "--summary"])
    main, extra = ((tmp_path / f"{n}.md").read_text() for n in ("levers", "levers-extra"))
    assert main.startswith("# Levers: validation error over label draws\n")
    assert extra.startswith("# Levers: validation error over label draws, extra\n")
    assert "from `levers-extra.jsonl`" in extra
    assert "| ref | `{}` | 1 | 4.0" in extra
    # the main study's setting names are explained there alone
    assert "`lead` is" in main and "`lead` is" not in extra
    assert "Settings: `defaults` are the estimator's defaults" in extra


def test_levers_summary_explains_a_files_settings_in_that_files_table_alone(tmp_path):
    levers = load_script("levers")
    row = {"protocol": "wine-30", "setting": "ref", "draw": 0, "val_error": 4.0,
           "curve": [6.0, 4.0], "seconds": 1.0, "params": {}}
    tables = {}
    for name in ("levers-conv", "levers-label-smoothing", "levers-extra"):
        (tmp_path / f"{name}.jsonl").write_text(json.dumps(row) + "\n")
        levers.main(["--out", str(tmp_path / f"{name}.jsonl"), "--summary"])
        tables[name] = (tmp_path / f"{name}.md").read_text()
    assert "`conv16-mlp` is" in tables["levers-conv"]
    assert "`eps0.1` and `eps0.3`" in tables["levers-label-smoothing"]
    for name, table in tables.items():
        assert ("`conv16-mlp` is" in table) == (name == "levers-conv")
        assert ("`eps0.1` and `eps0.3`" in table) == (name == "levers-label-smoothing")
        assert "Settings: `defaults` are the estimator's defaults" in table


def test_weight_average_script_measures_the_last_weights_and_their_averages(tmp_path,
                                                                           short_fits):
    script = load_script("weight_average")
    fits, original_fit = short_fits
    out = tmp_path / "weight_average.jsonl"
    script.main(["--protocols", "wine-30", "--draws", "1", "--out", str(out),
                 "--fractions", "1e-9", "0.5"])
    (row,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(fits) == 1  # the last weights and every average from one fit
    X_fit, y_partial, X_val, y_val, _ = importlib.import_module("_protocols").split("wine-30", 1)
    clf = original_fit(ShotVAEClassifier(random_state=1, max_epochs=3), X_fit, y_partial)
    network = 100.0 * np.mean(clf.set_params(vote_neighbors=0).predict(X_val) != y_val)
    vote = 100.0 * np.mean(clf.set_params(vote_neighbors=10).predict(X_val) != y_val)
    assert row["last"] == pytest.approx([vote, network])
    assert row["ema1e-09"] == row["last"]  # a horizon under one step: the last weights
    assert row["steps"] == 3 * clf.net_._n_train_batches
    script.main(["--summary", "--out", str(out)])
    table = out.with_suffix(".md").read_text()
    assert "## wine-30" in table and "| last |" in table
    assert "| average over 0.5 of the steps |" in table


def test_weight_averages_follow_the_steps_weights_with_the_mean_teacher_ramp():
    script = load_script("weight_average")

    class Snapshots(skorch.callbacks.Callback):
        def on_train_begin(self, net, **kwargs):
            self.steps_ = [[p.detach().clone() for p in net.module_.parameters()]]

        def on_batch_end(self, net, training=False, **kwargs):
            if training:
                self.steps_.append([p.detach().clone() for p in net.module_.parameters()])

    X, y = load_wine(return_X_y=True)
    X = StandardScaler().fit_transform(X).astype(np.float32)
    y = np.where(np.arange(len(y)) % 4 == 0, y, -1)
    clf = ShotVAEClassifier(random_state=0, max_epochs=4, hidden_sizes=(8,),
                            batch_size_unlabeled=32,
                            callbacks=[script.WeightAverages((0.5,)), Snapshots()]).fit(X, y)
    callbacks = [cb for _, cb in clf.net_.callbacks_]
    averages = next(cb for cb in callbacks if isinstance(cb, script.WeightAverages))
    initial, *steps = next(cb for cb in callbacks if isinstance(cb, Snapshots)).steps_
    assert averages.step_ == len(steps) > 4
    expected = [w.double() for w in initial]
    for t, weights in enumerate(steps, start=1):
        decay = max(0.0, min(1.0 - 1.0 / (0.5 * len(steps)), 1.0 - 1.0 / (t + 1)))
        expected = [decay * e + (1.0 - decay) * w.double() for e, w in zip(expected, weights)]
    for got, want, last in zip(averages.averages_[0.5], expected, steps[-1]):
        assert torch.allclose(got.double(), want, atol=1e-6)
    assert any(not torch.equal(got, last) for got, last in zip(averages.averages_[0.5],
                                                               steps[-1]))


def test_diffusion_script_counts_right_pseudo_labels_as_a_dense_computation_does(tmp_path):
    script = load_script("diffusion")
    out = tmp_path / "diffusion.jsonl"
    script.main(["--protocols", "wine-30", "--draws", "2", "--out", str(out)])
    (row,) = [json.loads(line) for line in out.read_text().splitlines()]
    X_fit, y_partial, _, _, y_fit = importlib.import_module("_protocols").split("wine-30", 2)
    # the graph by hand: 13 centred features (fewer than 64 axes), cosine, 10 neighbours
    f = X_fit - X_fit.mean(axis=0)
    unit = f / np.linalg.norm(f, axis=1, keepdims=True)
    cos = unit @ unit.T
    np.fill_diagonal(cos, -np.inf)
    A = np.zeros_like(cos)
    for i, row_ in enumerate(cos):
        nearest = np.argsort(-row_)[:10]
        A[i, nearest] = np.maximum(row_[nearest], 0) ** 3
    W = A + A.T
    d = W.sum(axis=1) ** -0.5
    S = d[:, None] * W * d[None, :]
    classes = np.unique(y_partial[y_partial >= 0])
    Y = np.zeros((len(y_partial), len(classes)))
    labeled = y_partial >= 0
    Y[labeled, np.searchsorted(classes, y_partial[labeled])] = 1.0
    Y /= Y.sum(axis=0)
    truth = np.searchsorted(classes, y_fit)
    for i, n_iter in enumerate(row["iters"]):
        Z, term = Y.copy(), Y.copy()
        for _ in range(n_iter):
            term = 0.99 * S @ term
            Z += term
        p = Z / Z.sum(axis=1, keepdims=True)
        for name, scores in (("argmax", Z), ("class mass", p / p.sum(axis=0))):
            share = 100.0 * np.mean(scores.argmax(axis=1)[~labeled] == truth[~labeled])
            assert row[name][i] == pytest.approx(share)
    script.main(["--summary", "--out", str(out)])
    table = out.with_suffix(".md").read_text()
    assert "## wine-30" in table and "| 20 |" in table and "1 draws (2)" in table


def test_virtual_adversarial_step_follows_the_hessians_power_iteration():
    script = load_script("virtual_adversarial")
    generator = torch.Generator().manual_seed(0)
    W = torch.randn(4, 6, generator=generator, dtype=torch.float64)
    x = torch.randn(5, 6, generator=generator, dtype=torch.float64)
    torch.manual_seed(3)
    got = script.virtual_adversarial_loss(lambda v: v @ W.T, x, radius=0.3, xi=1e-6)
    torch.manual_seed(3)
    d = torch.randn_like(x)  # the same random direction
    p = torch.softmax(x @ W.T, dim=1)
    for i in range(len(x)):
        # Hessian of KL(p || softmax(W (x + d))) in d at d = 0: W^T (diag p - p p^T) W
        H = W.T @ (torch.diag(p[i]) - torch.outer(p[i], p[i])) @ W
        step = H @ d[i]
        r = 0.3 * step / step.norm()
        q = torch.softmax(W @ (x[i] + r), dim=0)
        assert got[i].item() == pytest.approx(float((p[i] * (p[i] / q).log()).sum()), rel=1e-4)
    assert torch.all(got > 0)


def test_virtual_adversarial_objective_adds_the_weighted_mean_vat_loss():
    script = load_script("virtual_adversarial")
    from skshot.modules import MLPShotVAE
    from skshot.objectives import SemiSupervisedObjective

    torch.manual_seed(0)
    module = MLPShotVAE(6, 3, latent_dim=2, hidden_sizes=(8,))
    x_l, y_l, x_u = torch.rand(4, 6), torch.tensor([0, 1, 2, 0]), torch.rand(7, 6)
    torch.manual_seed(1)
    base, _ = SemiSupervisedObjective(objective="shot")(module, x_l, y_l, x_u)
    vat = script.virtual_adversarial_loss(lambda v: module.encode(v)[2], x_u, 0.4, 0.04)
    torch.manual_seed(1)
    with_vat, _ = script.VirtualAdversarialObjective(
        objective="shot", vat_weight=2.5, vat_radius=0.4)(module, x_l, y_l, x_u)
    assert with_vat.item() == pytest.approx((base + 2.5 * vat.mean()).item(), rel=1e-6)
    assert vat.mean().item() > 0


def test_virtual_adversarial_script_fits_the_defaults_and_each_radius(tmp_path, short_fits):
    script = load_script("virtual_adversarial")
    fits, original_fit = short_fits
    out = tmp_path / "vat.jsonl"
    script.main(["--protocols", "wine-30", "--draws", "1", "--radius", "0", "0.5",
                 "--out", str(out)])
    (row,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(fits) == 2  # one fit per radius
    X_fit, y_partial, X_val, y_val, _ = importlib.import_module("_protocols").split("wine-30", 1)
    distances, _ = NearestNeighbors(n_neighbors=2).fit(X_fit).kneighbors(X_fit)
    assert row["scale"] == pytest.approx(np.median(distances[:, 1]), rel=1e-6)
    clf = original_fit(ShotVAEClassifier(random_state=1, max_epochs=3), X_fit, y_partial)
    assert row["fits"]["0"]["vote"] == pytest.approx(100.0 * np.mean(clf.predict(X_val) != y_val))
    estimator = script.VirtualAdversarialClassifier(random_state=1, max_epochs=3)
    estimator.vat_radius = 0.5 * row["scale"]
    vat = original_fit(estimator, X_fit, y_partial)
    assert isinstance(vat.net_.criterion_, script.VirtualAdversarialObjective)
    assert vat.net_.criterion_.vat_radius == pytest.approx(0.5 * row["scale"])
    assert row["fits"]["0.5"]["vote"] == pytest.approx(
        100.0 * np.mean(vat.predict(X_val) != y_val))
    assert not np.allclose(vat.predict_proba(X_val), clf.predict_proba(X_val))
    script.main(["--summary", "--out", str(out)])
    table = out.with_suffix(".md").read_text()
    assert "## wine-30, w = 1" in table and "| 0.5 | 1 |" in table


def test_class_prior_weights_take_one_step_and_converge_to_the_prior():
    script = load_script("class_prior")
    rng = np.random.default_rng(0)
    reference = rng.dirichlet(np.full(4, 0.5), size=50)
    prior = np.array([0.1, 0.2, 0.3, 0.4])
    np.testing.assert_array_equal(script.prior_weights(reference, prior, 0), np.ones(4))
    np.testing.assert_allclose(script.prior_weights(reference, prior, 1),
                               prior / reference.mean(axis=0))
    weights = script.prior_weights(reference, prior, 200)
    scaled = reference * weights
    scaled /= scaled.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(scaled.mean(axis=0), prior, atol=1e-6)
    assert not np.allclose(reference.mean(axis=0), prior, atol=1e-2)


def test_class_prior_script_rescales_the_predictions_of_one_fit(tmp_path, short_fits):
    script = load_script("class_prior")
    fits, original_fit = short_fits
    out = tmp_path / "class_prior.jsonl"
    script.main(["--protocols", "wine-30", "--draws", "1", "--steps", "1", "--out", str(out)])
    (row,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(fits) == 1
    X_fit, y_partial, X_val, y_val, _ = importlib.import_module("_protocols").split("wine-30", 1)
    clf = original_fit(ShotVAEClassifier(random_state=1, max_epochs=3), X_fit, y_partial)
    assert row["prior"] == pytest.approx([1 / 3] * 3)  # ten labels of each class
    assert row["vote"]["0"] == pytest.approx(100.0 * np.mean(clf.predict(X_val) != y_val))
    clf.set_params(vote_neighbors=0)
    reference = clf.predict_proba(X_fit[y_partial == -1])
    scaled = clf.predict_proba(X_val) / reference.mean(axis=0)  # one step, uniform prior
    assert row["network"]["1"] == pytest.approx(
        100.0 * np.mean(clf.classes_[scaled.argmax(axis=1)] != y_val))
    script.main(["--summary", "--out", str(out)])
    table = out.with_suffix(".md").read_text()
    assert "## wine-30" in table and "| 1 |" in table and "1 draws (1)" in table


class _GeneratorStub:
    """Answers ``sample`` with real inputs of the class ``shift`` steps after the one asked for."""

    def __init__(self, X, y, shift):
        self.X, self.y, self.shift = X, y, shift
        self.classes_ = np.unique(y)

    def _inputs_of(self, asked):
        wanted = self.classes_[(np.searchsorted(self.classes_, asked) + self.shift)
                               % len(self.classes_)]
        pools = {c: self.X[self.y == c] for c in self.classes_}
        return np.stack([pools[c][i % len(pools[c])] for i, c in enumerate(wanted)])

    def sample(self, classes, n_samples=1, X=None, random_state=None):
        per_input = n_samples if X is None else len(X)
        asked = np.repeat(np.asarray(classes), per_input)
        return self._inputs_of(asked), asked


@pytest.mark.parametrize("shift, expected", [(0, 1.0), (1, 0.0)])
def test_per_class_fidelity_counts_each_class_alone(shift, expected):
    load_script("levers")  # puts the benchmarks folder on the path
    protocols = importlib.import_module("_protocols")
    X, y = load_wine(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    stub = _GeneratorStub(X, y, shift)
    shares = protocols.per_class_fidelity(stub, X, y, n_per_class=5, n_inputs=4)
    assert shares["classes"] == [0, 1, 2]
    # The judge, trained on all of wine, knows its own inputs of every class; handed
    # the next class's inputs it recognises none of them as the class asked for.
    assert shares["prior"] == [expected] * 3 and shares["restyled"] == [expected] * 3
    # Its cross-validated recall on real inputs is a share per class, below one somewhere
    # only if it errs.
    assert len(shares["judge"]) == 3 and all(0.8 < r <= 1.0 for r in shares["judge"])


def test_mlp_dropout_backbone_drops_in_training_only():
    load_script("levers")  # puts the benchmarks folder on the path
    protocols = importlib.import_module("_protocols")
    encoder, decoder = protocols.BENCHMARK_BACKBONES["mlp-dropout"](
        input_shape=(64,), latent_dim=3, n_classes=10)
    drops = [m for m in encoder.modules() if isinstance(m, torch.nn.Dropout)]
    assert [d.p for d in drops] == [0.2, 0.2, 0.2]
    x = torch.rand(8, 64)
    torch.manual_seed(0)
    assert not torch.equal(encoder(x), encoder(x))
    encoder.eval()
    assert torch.equal(encoder(x), encoder(x)) and encoder(x).shape == (8, 500)
    assert decoder(torch.zeros(5, 13)).shape == (5, 64)


def test_test_time_translation_script_averages_over_the_estimators_offsets(
        tiny_fashion, tmp_path, monkeypatch, short_fits):
    script = load_script("test_time_translation")
    protocols = importlib.import_module("_protocols")
    monkeypatch.setattr(protocols, "FMNIST_HELD_OUT", 60)
    monkeypatch.setattr(protocols, "FMNIST_SUBSETS", {"fmnist2k-100": 150})
    monkeypatch.setattr(protocols, "_FMNIST", {})
    # the tiny images stand for many: "auto" reads them with convolutions
    monkeypatch.setattr("skshot.classifier.AUTO_CONV_MIN_SAMPLES", 1)
    fits, original_fit = short_fits
    out = tmp_path / "tta.jsonl"
    script.main(["--protocols", "fmnist2k-100", "--draws", "1", "--out", str(out),
                 "--shares", "0.25", "0.4"])
    (row,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(fits) == 1 and list(row["offsets"]) == list(script.OFFSETS)
    assert list(row["shares"]) == ["0.25", "0.4"]
    assert row["backbone"] != "mlp" and row["max_epochs"] == 3
    X_fit, y_partial, X_val, y_val, _ = protocols.split("fmnist2k-100", 1)

    def error(clf):
        return 100.0 * np.mean(clf.predict(X_val) != y_val)

    # the estimator's predict_shift at the fit is the "vote averaged too" of its offsets
    for shift, name in [(0, "none"), (1, "grid9"), (2, "grid25")]:
        clf = original_fit(ShotVAEClassifier(random_state=1, max_epochs=3, input_shape=(1, 28, 28),
                                             predict_shift=shift, vote_weight=row["vote_weight"]),
                           X_fit, y_partial)
        assert clf.backbone_ != "mlp" and clf.augmentation_ == "translate-encoder"
        assert row["offsets"][name]["vote averaged too"] == pytest.approx(error(clf))
        for share in ["0.25", "0.4"]:  # the vote's share changes only the blend
            assert row["shares"][share][name]["vote averaged too"] == pytest.approx(
                error(clf.set_params(vote_weight=float(share))))
        assert row["offsets"][name]["network"] == pytest.approx(
            error(clf.set_params(vote_neighbors=0)))
    script.main(["--summary", "--out", str(out)])
    summary = out.with_suffix(".md").read_text()
    assert "## fmnist2k-100" in summary and "| grid9 |" in summary
    assert "| grid9 | vote averaged too |" in summary and "w = 0.4" in summary
