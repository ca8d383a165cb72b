"""Pickling, device moves, skorch's parameter files, checkpoints and resumed fits, and the
safe file format of skshot.save and skshot.load."""

import copy
import hashlib
import json
import pickle
import shutil
import warnings
import zipfile

import joblib
import numpy as np
import pytest
import safetensors.torch
import torch
from conftest import FAST, hide_labels
from sklearn.exceptions import NotFittedError
from sklearn.semi_supervised import LabelSpreading
from skorch.callbacks import Callback, Checkpoint, LoadInitState
from skorch.exceptions import DeviceWarning

import skshot
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
    # the network's own files: its weights, not the estimator's fitted attributes, which
    # the vote of the nearest training samples reads
    X, y = data
    clf = fit(X, y, vote_neighbors=0)
    files = {"f_params": tmp_path / "params.pt", "f_optimizer": tmp_path / "optimizer.pt",
                 "f_history": tmp_path / "history.json"}
    clf.net_.save_params(**files)
    other = fit(X, y, random_state=7, max_epochs=1, vote_neighbors=0)
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
    # With the defaults' label propagation, whose pseudo-labels the checkpoint keeps.
    params = {"lr_schedule": "step", "max_epochs": 12}
    full = fit(X, y, **params)
    assert "pl_u" in full.history_[-1]

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


# ----------------------------------------------------------------- skshot.save / skshot.load
def small_backbone(input_shape, latent_dim, n_classes):
    """A user's own networks, for the tests of a callable backbone."""
    n_features = input_shape[0]
    encoder = torch.nn.Sequential(torch.nn.Linear(n_features, 16), torch.nn.ReLU())
    decoder = torch.nn.Linear(latent_dim + n_classes, n_features)
    return encoder, decoder


def assert_same_model(loaded, clf, X):
    assert type(loaded) is ShotVAEClassifier
    assert loaded.get_params() == clf.get_params()
    for name in ("classes_", "transduction_", "label_distributions_", "X_", "vote_axes_",
                 "vote_mean_"):
        if getattr(clf, name) is None:  # X_ of a fit with vote_neighbors=0, ...
            assert getattr(loaded, name) is None, name
            continue
        np.testing.assert_array_equal(getattr(loaded, name), getattr(clf, name))
        assert getattr(loaded, name).dtype == getattr(clf, name).dtype, name
    for name in ("n_features_in_", "input_shape_", "likelihood_", "n_iter_",
                 "propagation_features_", "ot_intrusion_neighbors_", "backbone_",
                 "augmentation_", "mixed_precision_"):
        assert getattr(loaded, name) == getattr(clf, name), name
    assert loaded.net_.propagation_features == clf.propagation_features_
    assert loaded.net_.criterion_.ot_intrusion_neighbors == clf.ot_intrusion_neighbors_
    assert loaded.history_.to_list() == clf.history_.to_list()
    for method in ("predict_proba", "predict_log_proba", "predict", "transform",
                   "score_samples"):
        np.testing.assert_array_equal(getattr(loaded, method)(X), getattr(clf, method)(X))
    for a, b in zip(loaded.sample(clf.classes_[:2], n_samples=3, random_state=0),
                    clf.sample(clf.classes_[:2], n_samples=3, random_state=0)):
        np.testing.assert_array_equal(a, b)


def rewrite(path, metadata=None, **members):
    """Rewrite the archive at ``path``, with ``metadata(dict)`` applied and members replaced."""
    with zipfile.ZipFile(path) as archive:
        contents = {name: archive.read(name) for name in archive.namelist()}
    if metadata is not None:
        meta = json.loads(contents["metadata.json"])
        metadata(meta)
        contents["metadata.json"] = json.dumps(meta).encode()
    contents.update({name.replace("_", "."): data for name, data in members.items()})
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in contents.items():
            archive.writestr(name, data)


def edited_copy(original, tmp_path, edit):
    """A copy of the archive ``original`` in ``tmp_path``, its metadata changed by ``edit``."""
    path = tmp_path / "old.skshot"
    shutil.copy(original, path)
    rewrite(path, metadata=edit)
    return path


@pytest.fixture(scope="module")
def saved(data, tmp_path_factory):
    X, y = data
    clf = fit(X, y, max_epochs=3)
    path = tmp_path_factory.mktemp("saved") / "clf.skshot"
    skshot.save(clf, path)
    return clf, path


def test_save_and_load_give_an_identical_int_labelled_model(data, saved):
    X, _ = data
    clf, path = saved
    assert_same_model(skshot.load(path), clf, X)


@pytest.mark.parametrize("dtype", [str, object])
def test_string_labels_and_feature_names_are_restored_with_their_dtype(data, tmp_path, dtype):
    pd = pytest.importorskip("pandas")
    X, y = data
    names = np.array(["ant", "bee", "cat"])
    y_named = np.where(y == -1, "-1", names[np.maximum(y, 0)]).astype(dtype)
    X_frame = pd.DataFrame(X, columns=["width", "height"])
    clf = fit(X_frame, y_named, max_epochs=2)
    skshot.save(clf, tmp_path / "clf.skshot")
    loaded = skshot.load(tmp_path / "clf.skshot")
    assert loaded.classes_.dtype == clf.classes_.dtype
    np.testing.assert_array_equal(loaded.feature_names_in_, ["width", "height"])
    assert loaded.feature_names_in_.dtype == object
    assert_same_model(loaded, clf, X_frame)


@pytest.mark.parametrize("backbone", ["conv", "conv-mlp"])
def test_an_image_model_is_restored(digits, tmp_path, backbone):
    X, y = digits
    keep = np.flatnonzero(y < 3)[:80]
    X, y = X[keep].reshape(-1, 1, 8, 8), hide_labels(y[keep], 5)
    clf = fit(X, y, backbone=backbone, max_epochs=2, batch_size_unlabeled=32, latent_dim=3)
    skshot.save(clf, tmp_path / "conv.skshot")
    loaded = skshot.load(tmp_path / "conv.skshot")
    assert loaded.input_shape_ == (1, 8, 8) and loaded.backbone_ == backbone
    assert_same_model(loaded, clf, X)
    # "conv-mlp" keeps its convolutions' weights in the channels-last layout when loaded
    convs = [m for m in loaded.net_.module_.modules() if isinstance(m, torch.nn.Conv2d)]
    layout = torch.channels_last if backbone == "conv-mlp" else torch.contiguous_format
    assert convs and all(m.weight.is_contiguous(memory_format=layout) for m in convs)


def test_an_auto_conv_model_loads_as_conv_where_auto_would_choose_the_mlp(
        digits, tmp_path, monkeypatch):
    # "auto" reads images with convolutions only where the device trains them fast;
    # a model fitted there keeps its backbone when loaded on a CPU without bfloat16.
    X, y = digits
    keep = np.flatnonzero(y < 3)[:80]
    X = np.repeat(np.repeat(X[keep].reshape(-1, 1, 8, 8), 2, axis=2), 2, axis=3)  # 16x16
    y = hide_labels(y[keep], 5)
    monkeypatch.setattr("skshot.classifier.has_fast_bf16", lambda device: True)
    monkeypatch.setattr("skshot.classifier.AUTO_CONV_MIN_SAMPLES", 1)  # as if they were many
    clf = fit(X, y, mixed_precision=None, max_epochs=2, batch_size_unlabeled=32, latent_dim=3)
    assert clf.backbone_ == "conv"
    skshot.save(clf, tmp_path / "auto.skshot")
    monkeypatch.setattr("skshot.classifier.has_fast_bf16", lambda device: False)
    assert clf._resolve_backbone((1, 16, 16), "cpu") == "conv-mlp"
    loaded = skshot.load(tmp_path / "auto.skshot")
    assert loaded.backbone_ == "conv" and loaded.augmentation_ == "translate-encoder"
    assert any(isinstance(m, torch.nn.Conv2d) for m in loaded.net_.module_.modules())
    assert_same_model(loaded, clf, X)


def test_a_loaded_model_continues_training_as_an_uninterrupted_fit(data, tmp_path):
    X, y = data
    full = fit(X, y)
    clf = fit(X, y, callbacks=[StopAfter(3)])
    skshot.save(clf, tmp_path / "clf.skshot")
    loaded = skshot.load(tmp_path / "clf.skshot", callbacks=None)
    loaded.set_params(warm_start=True).fit(X, y)
    assert loaded.n_iter_ == 6
    np.testing.assert_array_equal(loaded.history_[:, "ot_weight"], full.history_[:, "ot_weight"])
    np.testing.assert_allclose(loaded.predict_proba(X), full.predict_proba(X), rtol=0, atol=1e-6)


def test_loading_leaves_the_global_torch_random_state_alone(saved):
    _, path = saved
    state = torch.get_rng_state()
    skshot.load(path)
    assert torch.equal(torch.get_rng_state(), state)


def test_load_never_unpickles(data, saved, monkeypatch):
    X, _ = data
    clf, path = saved

    def forbidden(*args, **kwargs):
        raise AssertionError("load unpickled something")

    for module, name in [(pickle, "load"), (pickle, "loads"), (pickle, "Unpickler"),
                         (torch, "load"), (joblib, "load")]:
        monkeypatch.setattr(module, name, forbidden)
    np.testing.assert_array_equal(skshot.load(path).predict_proba(X), clf.predict_proba(X))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks how a CUDA-fitted model loads "
                    "where no GPU exists")
def test_a_model_saved_on_cuda_loads_on_the_cpu(data, tmp_path):
    X, y = data
    clf = fit(X, y, max_epochs=2)
    expected = clf.predict_proba(X)
    skshot.save(clf, tmp_path / "clf.skshot")
    # What a fit with device="cuda" writes, as far as loading is concerned.
    rewrite(tmp_path / "clf.skshot", metadata=lambda meta: meta["attributes"].update(
        device_="cuda:0") or meta["params"].update(device="cuda"))
    with pytest.warns(DeviceWarning, match=r"fitted on device 'cuda:0'.*loaded on the CPU"):
        loaded = skshot.load(tmp_path / "clf.skshot")
    assert loaded.device_ == "cpu" and loaded.get_params()["device"] == "cuda"
    np.testing.assert_array_equal(loaded.predict_proba(X), expected)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert skshot.load(tmp_path / "clf.skshot", device="cpu").device_ == "cpu"
    with pytest.raises(ValueError, match="device='tpu9' is not a device PyTorch knows"):
        skshot.load(tmp_path / "clf.skshot", device="tpu9")


def test_a_callable_backbone_is_passed_again_at_load(data, tmp_path):
    X, y = data
    clf = fit(X, y, backbone=small_backbone, max_epochs=2)
    skshot.save(clf, tmp_path / "own.skshot")
    with pytest.raises(ValueError, match=r"saved without parameters that are not plain data.*"
                                         r"backbone \(was test_persistence\.small_backbone\).*"
                                         r"skshot\.load\(path, backbone=\.\.\.\)"):
        skshot.load(tmp_path / "own.skshot")
    assert_same_model(skshot.load(tmp_path / "own.skshot", backbone=small_backbone), clf, X)


def test_callbacks_and_an_accelerator_are_passed_again_at_load(data, saved, tmp_path):
    X, _ = data
    clf, _ = saved

    class FakeAccelerator:
        def prepare(self, obj):
            return obj

        def backward(self, loss):
            loss.backward()

    clf = copy.deepcopy(clf).set_params(callbacks=[StopAfter(9)], accelerator=FakeAccelerator())
    skshot.save(clf, tmp_path / "clf.skshot")
    with pytest.raises(ValueError, match=r"accelerator \(was a .*FakeAccelerator object\); "
                                         r"callbacks \(was a builtins\.list object\)"):
        skshot.load(tmp_path / "clf.skshot")
    with pytest.raises(ValueError, match="pass accelerator=None"):
        skshot.load(tmp_path / "clf.skshot", callbacks=None, accelerator=FakeAccelerator())
    with pytest.raises(ValueError, match=r"load takes only the parameters that the file could "
                                         r"not store \(accelerator, callbacks\), got lr"):
        skshot.load(tmp_path / "clf.skshot", callbacks=None, accelerator=None, lr=0.1)
    loaded = skshot.load(tmp_path / "clf.skshot", callbacks=None, accelerator=None)
    assert loaded.callbacks is None and loaded.accelerator is None
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))


def test_save_refuses_what_it_cannot_store(data, saved, tmp_path):
    X, y = data
    clf, _ = saved
    with pytest.raises(NotFittedError):
        skshot.save(ShotVAEClassifier(), tmp_path / "unfitted.skshot")
    with pytest.raises(TypeError, match="save stores a ShotVAEClassifier, got LabelSpreading"):
        skshot.save(LabelSpreading().fit(X, y), tmp_path / "other.skshot")
    odd = copy.deepcopy(clf)
    odd.extra_ = object()
    with pytest.raises(ValueError, match="fitted attribute extra_ holds a builtins.object object"):
        skshot.save(odd, tmp_path / "odd.skshot")
    assert not (tmp_path / "odd.skshot").exists()


def test_a_failed_save_leaves_the_previous_file_intact(data, saved, tmp_path, monkeypatch):
    X, _ = data
    clf, original = saved
    path = tmp_path / "clf.skshot"
    shutil.copy(original, path)
    writestr = zipfile.ZipFile.writestr

    def fail_on_the_weights(archive, name, *args, **kwargs):
        if name == "model.safetensors":
            raise OSError("disk full")
        return writestr(archive, name, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "writestr", fail_on_the_weights)
    with pytest.raises(OSError, match="disk full"):
        skshot.save(clf, path)
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir()] == ["clf.skshot"]  # no temporary file left
    np.testing.assert_array_equal(skshot.load(path).predict_proba(X), clf.predict_proba(X))


def drop(*keys):
    def edit(meta):
        where = meta
        for key in keys[:-1]:
            where = where[key]
        del where[keys[-1]]
    return edit


def put(value, *keys):
    def edit(meta):
        where = meta
        for key in keys[:-1]:
            where = where[key]
        where[keys[-1]] = value
    return edit


def wrong_shape_weights(path):
    with zipfile.ZipFile(path) as archive:
        weights = safetensors.torch.load(archive.read("model.safetensors"))
    key = min(k for k in weights if k.startswith("module.") and k.endswith("weight"))
    weights[key] = torch.zeros(weights[key].shape[0] + 1, *weights[key].shape[1:])
    return safetensors.torch.save(weights)


@pytest.mark.parametrize("damage, match", [
    (lambda path: path.write_bytes(b"not a zip archive"),
     "is not a model file of skshot, or it is truncated or damaged"),
    (lambda path: path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2]),
     "truncated or damaged"),
    (lambda path: path.write_bytes(path.read_bytes()[:-30]), "truncated or damaged"),
    (lambda path: rewrite(path, metadata_json=b"{not json"), "metadata.json is not valid JSON"),
    (lambda path: rewrite(path, metadata=put("sklearn", "format")),
     "does not declare the format 'skshot.ShotVAEClassifier'"),
    (lambda path: rewrite(path, metadata=put(2, "format_version")),
     r"is in file format 2, written by a newer skshot .* reads formats up to 1\. Upgrade"),
    (lambda path: rewrite(path, metadata=put("1", "format_version")),
     "'format_version' of metadata.json must be of type int, got str"),
    (lambda path: rewrite(path, metadata=put("four", "params", "latent_dim")),
     "invalid parameter: The 'latent_dim' parameter of ShotVAEClassifier must be an int"),
    (lambda path: rewrite(path, metadata=put(3, "params", "no_such_parameter")),
     "sets parameters this version of skshot does not know: no_such_parameter"),
    (lambda path: rewrite(path, metadata=drop("params")), "metadata.json lacks 'params'"),
    (lambda path: rewrite(path, metadata=drop("attributes", "classes_")),
     "metadata.json lacks the fitted attribute 'classes_'"),
    (lambda path: rewrite(path, metadata=put({"__tuple__": [2, 0]}, "attributes",
                                             "input_shape_")),
     r"input_shape_ must be a tuple of 1 or 3 positive integers, got \(2, 0\)"),
    (lambda path: rewrite(path, metadata=put("poisson", "attributes", "likelihood_")),
     "likelihood_ must be 'bernoulli' or 'gaussian'"),
    (lambda path: rewrite(path, metadata=put("latent", "attributes", "propagation_features_")),
     "propagation_features_ must be 'network', 'input' or 'both', got 'latent'"),
    (lambda path: rewrite(path, metadata=put(0, "attributes", "ot_intrusion_neighbors_")),
     "ot_intrusion_neighbors_ must be a positive integer, got 0"),
    (lambda path: rewrite(path, metadata=put("seven", "attributes", "X_")),
     ("X_ must be a float32 array of n_features_in_ .* values per row of "
      "label_distributions_, got str of shape None")),
    (lambda path: rewrite(path, metadata=put("seven", "net", "seed")),
     "'seed' of metadata.json's net must be of type int"),
    (lambda path: rewrite(path, metadata=drop("sha256", "model.safetensors")),
     "metadata.json's sha256 lacks 'model.safetensors'"),
    (lambda path: rewrite(path, model_safetensors=wrong_shape_weights(path)),
     "model.safetensors does not match its SHA-256 digest"),
    (lambda path: rewrite(path, model_safetensors=b"\x00" * 16, metadata=put(
        hashlib.sha256(b"\x00" * 16).hexdigest(), "sha256", "model.safetensors")),
     "model.safetensors cannot be read"),
    (lambda path: rewrite(path, model_safetensors=wrong_shape_weights(path), metadata=put(
        hashlib.sha256(wrong_shape_weights(path)).hexdigest(), "sha256", "model.safetensors")),
     r"(?s)the stored weights do not fit the network .*size mismatch for decoder"),
], ids=["not-a-zip", "truncated-half", "truncated-end", "json-syntax", "other-format",
        "newer-version", "version-type", "param-type", "unknown-param", "missing-params",
        "missing-classes", "bad-input-shape", "bad-likelihood", "bad-graph", "bad-neighbours", "bad-samples",
        "seed-type",
        "missing-digest", "altered-weights", "garbage-weights", "wrong-shape-weights"])
def test_a_damaged_or_altered_file_gives_a_clear_error(saved, tmp_path, damage, match):
    _, original = saved
    path = tmp_path / "clf.skshot"
    shutil.copy(original, path)
    damage(path)
    with pytest.raises(ValueError, match=match):
        skshot.load(path)


@pytest.mark.parametrize("stored, expected", [(None, "network"), ("input", "input")])
def test_a_file_without_the_resolved_graph_loads_with_the_graph_its_fit_used(
        data, saved, tmp_path, stored, expected):
    # Files written before propagation_features_ existed: without the
    # parameter their fits linked the network's features, with it what it named.
    X, _ = data
    clf, original = saved

    def edit(meta):
        del meta["attributes"]["propagation_features_"]
        if stored is None:
            del meta["params"]["propagation_features"]
        else:
            meta["params"]["propagation_features"] = stored

    loaded = skshot.load(edited_copy(original, tmp_path, edit))
    assert loaded.propagation_features_ == loaded.net_.propagation_features == expected
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))


@pytest.mark.parametrize("precision", [None, "bf16"])
def test_a_file_from_before_the_auto_backbone_loads_with_what_its_fit_used(
        data, saved, tmp_path, precision):
    # Files written before backbone, augmentation and mixed_precision had "auto"
    # defaults name the values they ran and hold no resolved attributes.
    X, _ = data
    clf, original = saved

    def edit(meta):
        for name in ("backbone_", "augmentation_", "mixed_precision_"):
            del meta["attributes"][name]
        meta["params"].update(backbone="mlp", augmentation=None, mixed_precision=precision)

    loaded = skshot.load(edited_copy(original, tmp_path, edit))
    assert (loaded.backbone_, loaded.augmentation_, loaded.mixed_precision_) == \
        ("mlp", None, precision)
    assert loaded.net_.mixed_precision == precision
    if precision is None:
        np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))


@pytest.mark.parametrize("beta", [6.0, 0.5])
def test_a_file_from_before_the_auto_beta_loads_with_the_beta_its_fit_used(data, saved,
                                                                         tmp_path, beta):
    # Files written before beta="auto" name the number they ran and hold no beta_.
    X, _ = data
    clf, original = saved

    def edit(meta):
        del meta["attributes"]["beta_"]
        meta["params"]["beta"] = beta

    loaded = skshot.load(edited_copy(original, tmp_path, edit))
    assert loaded.beta == loaded.beta_ == loaded.net_.criterion_.beta == beta
    # beta weighs the training loss only: the predictions are the same
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))


def test_a_saved_model_keeps_its_resolved_beta(data, saved, tmp_path):
    clf, path = saved
    assert clf.beta == "auto" and clf.beta_ == 6.0  # an MLP
    loaded = skshot.load(path)
    assert loaded.beta_ == loaded.net_.criterion_.beta == clf.beta_


def test_a_loaded_model_trains_on_with_the_stored_beta_not_a_new_resolution(data, saved,
                                                                            tmp_path):
    # what "auto" resolves to may change between versions; the fit's weight is the stored one
    clf, original = saved
    assert clf.beta == "auto" and clf._resolve_beta(clf.backbone_) != 3.5
    loaded = skshot.load(edited_copy(original, tmp_path,
                                     lambda meta: meta["attributes"].update(beta_=3.5)))
    assert loaded.beta == "auto" and loaded.beta_ == loaded.net_.criterion_.beta == 3.5


def test_a_file_without_ot_drop_intrusions_loads_with_the_paper_s_ot_term(data, saved,
                                                                          tmp_path):
    # Files written before the parameter existed trained with the paper's OT
    # term; a further fit (warm_start) must go on with it.
    X, _ = data
    clf, original = saved
    assert clf.ot_drop_intrusions is True
    loaded = skshot.load(edited_copy(
        original, tmp_path, lambda meta: meta["params"].pop("ot_drop_intrusions")))
    assert loaded.ot_drop_intrusions is False
    assert loaded.net_.criterion_.ot_drop_intrusions is False
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    assert skshot.load(original).ot_drop_intrusions is True


@pytest.mark.parametrize("name", sorted(set(skshot.persistence.ADDED_PARAMETERS)
                                         - {"vote_neighbors", "vote_components", "predict_shift"}))
def test_a_file_without_an_added_parameter_loads_with_its_earlier_behaviour(data, saved, name,
                                                                           tmp_path):
    X, _ = data
    clf, original = saved

    def edit(meta):  # a file of a version without the parameter has no resolved value either
        meta["params"].pop(name)
        meta["attributes"].pop(name + "_", None)

    loaded = skshot.load(edited_copy(original, tmp_path, edit))
    value = skshot.persistence.ADDED_PARAMETERS[name]
    assert loaded.get_params()[name] == value
    assert getattr(loaded.net_.criterion_, name) == value
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))


def test_a_file_without_predict_shift_loads_reading_each_image_as_given(digits, tmp_path):
    # files written before predict_shift existed predicted from the images as given
    X, y = digits
    keep = np.flatnonzero(y < 3)[:60]
    X, y_partial = X[keep].reshape(-1, 1, 8, 8), hide_labels(y[keep], 5)
    clf = fit(X, y_partial, backbone="conv-mlp", max_epochs=2, batch_size_unlabeled=32)
    assert clf.augmentation_ is not None and clf._resolved_predict_shift() == 1
    path = tmp_path / "new.skshot"
    skshot.save(clf, path)
    loaded = skshot.load(edited_copy(path, tmp_path, lambda meta: meta["params"].pop(
        "predict_shift")))
    assert loaded.predict_shift == skshot.persistence.ADDED_PARAMETERS["predict_shift"] == 0
    as_given = copy.deepcopy(clf).set_params(predict_shift=0)
    np.testing.assert_array_equal(loaded.predict_proba(X), as_given.predict_proba(X))
    assert not np.array_equal(loaded.predict_proba(X), clf.predict_proba(X))


def test_a_file_without_the_vote_loads_predicting_with_the_network_alone(data, saved, tmp_path):
    # files written before vote_neighbors existed hold neither it nor the samples X_
    X, _ = data
    clf, original = saved
    assert clf.vote_neighbors > 0 and clf.X_ is not None
    loaded = skshot.load(edited_copy(original, tmp_path, lambda meta: (
        meta["params"].pop("vote_neighbors"), meta["attributes"].pop("X_"))))
    assert loaded.vote_neighbors == skshot.persistence.ADDED_PARAMETERS["vote_neighbors"] == 0
    assert loaded.X_ is None
    network = copy.deepcopy(clf).set_params(vote_neighbors=0)
    np.testing.assert_array_equal(loaded.predict_proba(X), network.predict_proba(X))


def test_a_fit_with_vote_components_saves_the_projected_samples_and_loads(data, tmp_path):
    X, y = data
    clf = fit(X, y, max_epochs=2, vote_components=1)
    assert clf.X_.shape == (len(X), 1) and clf.vote_axes_.shape == (1, X.shape[1])
    path = tmp_path / "axes.skshot"
    skshot.save(clf, path)
    loaded = skshot.load(path)
    assert_same_model(loaded, clf, X)

    damaged = tmp_path / "damaged.skshot"
    shutil.copy(path, damaged)
    rewrite(damaged, metadata=put("seven", "attributes", "vote_axes_"))
    with pytest.raises(ValueError, match=r"damaged: vote_axes_ must be a float32 array of fewer "
                                         r"rows than n_features_in_ \(2\) .* got vote_axes_ str"):
        skshot.load(damaged)


def test_a_file_without_vote_components_loads_with_the_inputs_distances(data, saved, tmp_path):
    X, _ = data
    clf, original = saved
    assert clf.vote_components is None and clf.vote_neighbors > 0
    loaded = skshot.load(edited_copy(original, tmp_path, lambda meta: [
        meta["params"].pop("vote_components")] + [
        meta["attributes"].pop(name) for name in ("vote_axes_", "vote_mean_")]))
    assert loaded.vote_components is None and loaded.vote_axes_ is None
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))


def test_a_fit_without_the_vote_saves_no_samples_and_loads(data, tmp_path):
    X, y = data
    clf = fit(X, y, max_epochs=2, vote_neighbors=0)
    path = tmp_path / "novote.skshot"
    skshot.save(clf, path)
    loaded = skshot.load(path)
    assert loaded.X_ is None
    assert_same_model(loaded, clf, X)


def test_auto_intrusion_neighbors_are_restored_as_the_fit_resolved_them(data, tmp_path):
    X, y = data
    clf = fit(X, y, max_epochs=2, batch_size_unlabeled=300, ot_intrusion_neighbors="auto")
    assert clf.ot_intrusion_neighbors_ == 3  # one step an epoch
    path = tmp_path / "auto.skshot"
    skshot.save(clf, path)
    assert_same_model(skshot.load(path), clf, X)
    # without the resolved value the file cannot say which number its fit used
    rewrite(path, metadata=drop("attributes", "ot_intrusion_neighbors_"))
    with pytest.raises(ValueError, match="lacks the fitted attribute 'ot_intrusion_neighbors_'"):
        skshot.load(path)


def test_an_archive_without_the_model_members_is_refused(tmp_path):
    with zipfile.ZipFile(tmp_path / "other.zip", "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(ValueError, match="not a model file of skshot: the archive lacks "
                                         "metadata.json, model.safetensors"):
        skshot.load(tmp_path / "other.zip")


def test_the_moving_average_teacher_is_saved_and_restored(data, tmp_path):
    import skshot

    X, y = data
    clf = fit(X, y, ot_target_ema=0.9)
    path = tmp_path / "ema.skshot"
    skshot.save(clf, path)
    loaded = skshot.load(path)
    for a, b in zip(clf.net_.teacher_.state_dict().values(),
                    loaded.net_.teacher_.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    restored = pickle.loads(pickle.dumps(clf))
    torch.testing.assert_close(next(restored.net_.teacher_.parameters()),
                               next(clf.net_.teacher_.parameters()))


def with_tiny_numbers(clf):
    """``clf`` with tiny weights and optimizer state, as fits before the flush left them."""
    weight = next(clf.net_.module_.parameters())
    with torch.no_grad():
        weight.view(-1)[:4] = torch.tensor([1e-40, -1e-30, 1e-20, 1e-10])
    exp_avg_sq = clf.net_.optimizer_.state[weight]["exp_avg_sq"]
    exp_avg_sq.view(-1)[:2] = torch.tensor([1e-40, 1e-30])
    return weight, exp_avg_sq


def assert_tiny_numbers_flushed(weight, exp_avg_sq):
    # weights up to sqrt(tiny) ~ 1.1e-19 go, larger ones stay; of the state only subnormals
    np.testing.assert_array_equal(weight.detach().view(-1)[:4].numpy(),
                                  np.array([0, 0, 0, 1e-10], dtype=np.float32))
    np.testing.assert_array_equal(exp_avg_sq.view(-1)[:2].numpy(), np.array([0, 1e-30], np.float32))


@pytest.mark.parametrize("how", ["load", "pickle"])
def test_tiny_numbers_of_an_earlier_model_are_flushed_when_it_is_read(data, tmp_path, how):
    X, y = data
    clf = fit(X, y, max_epochs=2)
    with_tiny_numbers(clf)
    expected = clf.predict_proba(X)
    if how == "load":
        skshot.save(clf, tmp_path / "clf.skshot")
        loaded = skshot.load(tmp_path / "clf.skshot")
    else:
        loaded = pickle.loads(pickle.dumps(clf))
    weight = next(loaded.net_.module_.parameters())
    assert_tiny_numbers_flushed(weight, loaded.net_.optimizer_.state[weight]["exp_avg_sq"])
    np.testing.assert_array_equal(loaded.predict_proba(X), expected)
