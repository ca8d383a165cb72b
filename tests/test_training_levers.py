"""Training options beyond the paper's objective: entropy minimisation, the OT
warm-up's horizon and maximum, the moving-average teacher, the mixes left out of
the OT term, image augmentation,
label propagation, and the held-out accuracy callback."""

import numpy as np
import pytest
import torch
from conftest import FAST, hide_labels, np_affinity, np_seeds
from sklearn.base import clone

from skshot import ShotVAEClassifier, propagation
from skshot._net import ShotVAENet
from skshot.callbacks import HeldOutAccuracy
from skshot.losses import warmup_weight
from skshot.objectives import SemiSupervisedObjective


@pytest.fixture(autouse=True, scope="module")
def _threads(one_torch_thread):
    """Tiny fits: one thread avoids synchronisation overhead."""


def fit_fast(X, y, **params):
    return ShotVAEClassifier(**{**FAST, **params}).fit(X, y)


@pytest.fixture(scope="module")
def digit_images(digits):
    X, y = digits
    keep = np.isin(y, [0, 1, 2])
    X, y = X[keep][:90].reshape(-1, 1, 8, 8), y[keep][:90]
    return X, y, hide_labels(y, 5)


def test_entropy_weight_adds_the_unlabeled_entropy_and_lowers_it(blobs):
    X, y = blobs
    y_partial = hide_labels(y, 3)
    plain = fit_fast(X, y_partial, max_epochs=8, entropy_weight=0.0)
    assert "ent_u" not in plain.history_[-1]
    sharp = fit_fast(X, y_partial, max_epochs=8, entropy_weight=2.0)
    entropy = sharp.history_[:, "ent_u"]
    assert len(entropy) == 8 and all(0.0 <= e <= np.log(3) + 1e-6 for e in entropy)

    def mean_entropy(clf):
        p = clf.predict_proba(X[y_partial == -1])
        return float(-(p * np.log(p)).sum(axis=1).mean())

    assert mean_entropy(sharp) < mean_entropy(plain)


def test_ot_warmup_and_ot_weight_shape_the_logged_weight(blobs):
    X, y = blobs
    clf = fit_fast(X, hide_labels(y, 5), max_epochs=5, gamma=5.0, ot_warmup=0.4, ot_weight=3.0)
    expected = [warmup_weight(e / 5, 5.0, horizon=0.4, maximum=3.0) for e in range(1, 6)]
    np.testing.assert_allclose(clf.history_[:, "ot_weight"], expected)
    assert clf.history_[:, "ot_weight"][1:] == [3.0] * 4


def test_the_teacher_follows_a_moving_average_and_is_not_trained(blobs):
    X, y = blobs
    clf = fit_fast(X, hide_labels(y, 5), max_epochs=3, ot_target_ema=0.9)
    net = clf.net_
    student, teacher = dict(net.module_.named_parameters()), dict(net.teacher_.named_parameters())
    assert student.keys() == teacher.keys()
    assert all(not p.requires_grad for p in teacher.values())
    assert any(not torch.equal(student[k], teacher[k]) for k in student)
    # The optimizer holds the module's parameters only.
    optimized = {id(p) for group in net.optimizer_.param_groups for p in group["params"]}
    assert optimized == {id(p) for p in student.values()}
    assert not optimized & {id(p) for p in teacher.values()}
    # A teacher changes the OT targets, so the fit.
    other = fit_fast(X, hide_labels(y, 5), max_epochs=3)
    assert other.net_.teacher_ is None
    assert not np.allclose(other.predict_proba(X), clf.predict_proba(X))


def test_the_teacher_averages_the_weights_of_every_step(blobs):
    # With decay 0 the teacher is a copy of the last weights.
    X, y = blobs
    clf = fit_fast(X, hide_labels(y, 5), max_epochs=2, ot_target_ema=0.0)
    for (name, p), q in zip(clf.net_.module_.named_parameters(),
                            clf.net_.teacher_.parameters()):
        torch.testing.assert_close(p, q, msg=name)


def test_auto_augmentation_translates_images_for_the_encoder_of_image_backbones(digit_images,
                                                                               blobs):
    X, _, y_partial = digit_images
    base = {"max_epochs": 3, "batch_size_unlabeled": 32, "translate_shift": 1,
            "mixed_precision": None}
    auto = fit_fast(X, y_partial, backbone="conv", **base)  # augmentation="auto"
    assert (auto.net_.translate_shift, auto.net_.reconstruct_translated) == (1, False)
    assert auto.augmentation_ == "translate-encoder"
    plain = fit_fast(X, y_partial, backbone="conv", augmentation=None, **base)
    assert plain.net_.translate_shift == 0 and plain.augmentation_ is None
    assert not np.allclose(auto.predict_proba(X), plain.predict_proba(X))
    # Flat rows with input_shape are images too.
    rows = fit_fast(X.reshape(len(X), -1), y_partial, backbone="conv", input_shape=(1, 8, 8),
                    **base)
    np.testing.assert_allclose(rows.predict_proba(X), auto.predict_proba(X), atol=1e-6)
    # The MLP reads images as rows of pixels, and tabular data have no pixels: neither moves.
    mlp = fit_fast(X, y_partial, backbone="mlp", **base)
    assert mlp.net_.translate_shift == 0 and mlp.augmentation_ is None
    Xb, yb = blobs
    tabular = fit_fast(Xb, hide_labels(yb, 5), max_epochs=1)
    assert tabular.net_.translate_shift == 0 and tabular.augmentation_ is None
    # An explicit "translate" on images moves them for the decoder too.
    both = fit_fast(X, y_partial, backbone="mlp", augmentation="translate", **base)
    assert (both.net_.translate_shift, both.net_.reconstruct_translated) == (1, True)


def _is_translation(img, moved, shift):
    """Whether flat ``moved`` is ``img`` (1 x 8 x 8) reflect-padded and cropped at some offset."""
    padded = np.pad(img.reshape(8, 8), shift, mode="reflect")
    return any(np.array_equal(padded[dy:dy + 8, dx:dx + 8].ravel(), moved)
               for dy in range(2 * shift + 1) for dx in range(2 * shift + 1))


@pytest.mark.parametrize("augmentation", ["translate", "translate-encoder"])
def test_translate_encoder_reconstructs_the_images_as_given(digit_images, monkeypatch,
                                                             augmentation):
    X, _, y_partial = digit_images
    steps = []
    forward = SemiSupervisedObjective.forward

    def spy(self, module, x_l, y_l, x_u, *args, x_seen=None, **kwargs):
        steps.append((x_l.numpy().copy(), x_u.numpy().copy(),
                      None if x_seen is None else [s.numpy().copy() for s in x_seen]))
        return forward(self, module, x_l, y_l, x_u, *args, x_seen=x_seen, **kwargs)

    monkeypatch.setattr(SemiSupervisedObjective, "forward", spy)
    clf = fit_fast(X, y_partial, max_epochs=2, batch_size_unlabeled=32,
                   augmentation=augmentation, translate_shift=1)
    assert clf.net_.reconstruct_translated is (augmentation == "translate")
    rows = {row.tobytes() for row in X.reshape(len(X), -1).astype(np.float32)}
    moved = 0
    for x_l, x_u, x_seen in steps:
        targets = np.concatenate([x_l, x_u])
        given = [row.tobytes() in rows for row in targets]
        if augmentation == "translate":
            # the decoder reconstructs what the encoder reads: translated images
            assert x_seen is None
            moved += given.count(False)
            continue
        assert all(given), "a reconstruction target is not a training image as given"
        seen = np.concatenate(x_seen)
        assert seen.shape == targets.shape
        assert all(_is_translation(t, s, 1) for t, s in zip(targets, seen))
        moved += int((seen != targets).any(axis=1).sum())
    assert len(steps) > 2 and moved > len(X) // 2


@pytest.mark.parametrize("params, message", [
    ({"augmentation": "translate"}, "needs images"),
    ({"augmentation": "translate-encoder"}, "augmentation='translate-encoder' needs images"),
    ({"augmentation": "translate", "translate_shift": 8, "input_shape": (1, 8, 8)},
     "translate_shift=8 must be smaller"),
    ({"augmentation": "flip"}, "augmentation"),
    ({"translate_shift": 0}, "translate_shift"),
    ({"ot_warmup": 0.0}, "ot_warmup"),
    ({"ot_warmup": 1.5}, "ot_warmup"),
    ({"ot_target_ema": 1.0}, "ot_target_ema"),
    ({"entropy_weight": -1.0}, "entropy_weight"),
    ({"ot_weight": -0.5}, "ot_weight"),
    ({"ot_target_temperature": 0.0}, "ot_target_temperature"),
    ({"propagation_weight": -1.0}, "propagation_weight"),
    ({"propagation_neighbors": 0}, "propagation_neighbors"),
    ({"propagation_neighbors": 2.5}, "propagation_neighbors"),
    ({"propagation_features": "latent"}, "propagation_features"),
    ({"ot_drop_intrusions": "yes"}, "ot_drop_intrusions"),
    ({"ot_intrusion_neighbors": 0}, "ot_intrusion_neighbors"),
    ({"ot_intrusion_neighbors": 2.5}, "ot_intrusion_neighbors"),
    ({"ot_intrusion_neighbors": "three"}, "ot_intrusion_neighbors"),
    ({"vote_neighbors": -1}, "vote_neighbors"),
    ({"vote_neighbors": 2.5}, "vote_neighbors"),
    ({"vote_neighbors": "auto"}, "vote_neighbors"),
    ({"vote_weight": 1.5}, "vote_weight"),
    ({"vote_weight": -0.1}, "vote_weight"),
    ({"vote_weight": "half"}, "vote_weight"),
])
def test_bad_lever_parameters_are_refused(digits, params, message):
    X, y = digits
    with pytest.raises(ValueError, match=message):
        ShotVAEClassifier(**{**FAST, "max_epochs": 1, **params}).fit(X, hide_labels(y, 2))


def test_heldout_accuracy_is_recorded_every_epoch(blobs):
    X, y = blobs
    y_partial = hide_labels(y, 5)
    callback = HeldOutAccuracy(X[:100], y[:100])
    clf = fit_fast(X, y_partial, max_epochs=4, callbacks=[callback])
    accuracies = clf.history_[:, "heldout_acc"]
    assert len(accuracies) == 4
    assert accuracies[-1] == pytest.approx(clf.score(X[:100], y[:100]))
    assert not hasattr(callback, "X_")  # the user's callback object is left as it was
    # String labels: the accuracy compares labels, not indices.
    names = np.array(["a", "b", "c"])[y]
    y_names = np.where(y_partial == -1, "-1", names)
    clf = fit_fast(X, y_names, max_epochs=2,
                   callbacks=[("held", HeldOutAccuracy(X[:60], names[:60], name="acc"))])
    assert clf.history_[-1, "acc"] == pytest.approx(clf.score(X[:60], names[:60]))
    clone(clf)  # the callback survives cloning


def test_heldout_accuracy_refuses_mismatched_lengths(blobs):
    X, y = blobs
    with pytest.raises(ValueError, match="3 samples but 2 labels"):
        fit_fast(X, hide_labels(y, 5), max_epochs=1,
                 callbacks=[HeldOutAccuracy(X[:3], y[:2])])


@pytest.mark.parametrize("n_samples, batch, expected", [
    (300, 64, 100),      # 5 steps per epoch: capped at 100 epochs
    (60_000, 512, 34),   # 118 steps per epoch: 34 epochs, 4 012 steps
    (1_000_000, 512, 3),  # 1 954 steps per epoch: 3 epochs, 5 862 steps
])
@pytest.mark.parametrize("backbone", ["mlp", "conv", "wrn-28-2", None])
def test_auto_max_epochs_aims_at_a_number_of_steps(n_samples, batch, expected, backbone):
    clf = ShotVAEClassifier(batch_size_unlabeled=batch)
    assert clf._resolve_max_epochs(n_samples, backbone) == expected
    assert ShotVAEClassifier(max_epochs=7)._resolve_max_epochs(n_samples, backbone) == 7


@pytest.mark.parametrize("n_samples, expected", [
    (300, 100),       # 1 step per epoch: capped at 100 epochs
    (60_000, 26),     # 118 steps per epoch: 26 epochs, 3 068 steps
    (1_000_000, 2),   # 1 954 steps per epoch: 2 epochs, 3 908 steps
])
def test_auto_max_epochs_trains_the_conv_mlp_backbone_three_quarters_as_long(n_samples, expected):
    clf = ShotVAEClassifier()
    assert clf._resolve_max_epochs(n_samples, "conv-mlp") == expected
    assert ShotVAEClassifier(max_epochs=7)._resolve_max_epochs(n_samples, "conv-mlp") == 7


def test_auto_max_epochs_is_resolved_in_the_fit(blobs):
    X, y = blobs
    clf = fit_fast(X, hide_labels(y, 5), max_epochs="auto", batch_size_unlabeled=150)
    # 300 samples in batches of 150: 2 steps per epoch, capped at 100 epochs
    assert clf.max_epochs_ == 100 == len(clf.history_) == clf.n_iter_
    # The warm-up spans the resolved epochs: its maximum is reached at the end.
    assert clf.history_[-1, "ot_weight"] == clf.ot_weight
    with pytest.raises(ValueError, match="max_epochs"):
        ShotVAEClassifier(max_epochs="many").fit(X, hide_labels(y, 5))


def test_ot_target_temperature_reaches_the_objective_and_changes_the_fit(blobs):
    X, y = blobs
    y_partial = hide_labels(y, 5)
    plain = fit_fast(X, y_partial, max_epochs=3)
    sharp = fit_fast(X, y_partial, max_epochs=3, ot_target_temperature=0.5)
    assert plain.net_.criterion_.ot_target_temperature == 1.0
    assert sharp.net_.criterion_.ot_target_temperature == 0.5
    # same seed and draws, other targets: the OT term differs from the first step on
    assert sharp.history_[0, "ot"] != plain.history_[0, "ot"]


def test_ot_drop_intrusions_reaches_the_objective_and_changes_the_fit(blobs):
    X, y = blobs
    y_partial = hide_labels(y, 5)
    kept = fit_fast(X, y_partial, max_epochs=3)
    paper = fit_fast(X, y_partial, max_epochs=3, ot_drop_intrusions=False)
    assert kept.net_.criterion_.ot_drop_intrusions is True
    assert paper.net_.criterion_.ot_drop_intrusions is False
    # the same draws, some mixes left out: a smaller OT term on some epoch
    assert any(a < b for a, b in zip(kept.history_[:, "ot"], paper.history_[:, "ot"]))


def test_ot_intrusion_neighbors_reaches_the_objective_and_leaves_out_more_mixes(blobs):
    X, y = blobs
    y_partial = hide_labels(y, 5)
    one = fit_fast(X, y_partial, max_epochs=3, ot_intrusion_neighbors=1)
    many = fit_fast(X, y_partial, max_epochs=3, ot_intrusion_neighbors=50)
    assert one.net_.criterion_.ot_intrusion_neighbors == 1
    assert many.net_.criterion_.ot_intrusion_neighbors == 50
    # the same first draws; more neighbours find a third class for more mixes
    assert many.history_[0, "ot"] < one.history_[0, "ot"]


@pytest.mark.parametrize("batch, expected", [
    (75, 3),  # 300 samples: 4 steps an epoch, the batch a quarter of them
    (74, 1),  # 5 steps an epoch
])
def test_auto_intrusion_neighbors_looks_further_only_when_few_steps_make_an_epoch(
        blobs, batch, expected):
    X, y = blobs
    y_partial = hide_labels(y, 5)
    auto = fit_fast(X, y_partial, max_epochs=2, batch_size_unlabeled=batch,
                    ot_intrusion_neighbors="auto")
    assert auto.ot_intrusion_neighbors == "auto"
    assert auto.ot_intrusion_neighbors_ == auto.net_.criterion_.ot_intrusion_neighbors == expected
    explicit = fit_fast(X, y_partial, max_epochs=2, batch_size_unlabeled=batch,
                        ot_intrusion_neighbors=expected)
    np.testing.assert_array_equal(auto.predict_proba(X), explicit.predict_proba(X))


def test_an_explicit_number_of_intrusion_neighbors_is_kept_whatever_the_steps(blobs):
    X, y = blobs
    clf = fit_fast(X, hide_labels(y, 5), max_epochs=1, batch_size_unlabeled=300,
                   ot_intrusion_neighbors=2)
    assert clf.ot_intrusion_neighbors_ == clf.net_.criterion_.ot_intrusion_neighbors == 2


def _record_refreshes(monkeypatch):
    """Record (epoch, stream labels, pseudo-labels, weights, stream) at every refresh."""
    calls = []
    original = ShotVAENet.refresh_pseudo_labels

    def spy(net, data):
        original(net, data)
        labels, weights = data.pseudo_labels
        calls.append((len(net.history), data.stream_labels().numpy().copy(),
                      labels.numpy().copy(), weights.numpy().copy(),
                      data.x_unlabeled.numpy().copy()))

    monkeypatch.setattr(ShotVAENet, "refresh_pseudo_labels", spy)
    return calls


def test_label_propagation_refreshes_its_pseudo_labels_on_schedule(blobs, monkeypatch):
    X, y = blobs
    y_partial = hide_labels(y, 5)
    calls = _record_refreshes(monkeypatch)
    clf = fit_fast(X, y_partial, max_epochs=12, propagation_weight=1.0,
                   propagation_features="network")
    # from epoch 3 on, every ceil(12 / 10) = 2 epochs
    assert [epoch for epoch, *_ in calls] == [3, 5, 7, 9, 11]
    assert all("pl_u" not in row for row in clf.history_[:2])
    assert all(row["pl_u"] >= 0 for row in clf.history_[2:])
    _, stream, labels, weights, _ = calls[-1]
    labeled = y_partial != -1
    np.testing.assert_array_equal(stream, np.where(labeled, y, -1))
    np.testing.assert_array_equal(labels[labeled], y[labeled])
    # three overlapping blobs (an SVC trained on all 300 labels fits 93 % of
    # them, LabelSpreading on the inputs labels 88 %): far above chance (33 %)
    assert np.mean(labels[~labeled] == y[~labeled]) > 0.85
    assert np.all(weights >= 0) and np.all(weights[labeled] > 0)


def test_label_propagation_is_on_by_default_and_weight_zero_turns_it_off(blobs, monkeypatch):
    X, y = blobs
    y_partial = hide_labels(y, 3)
    calls = _record_refreshes(monkeypatch)
    plain = fit_fast(X, y_partial, max_epochs=6, propagation_weight=0.0)
    assert calls == [] and "pl_u" not in plain.history_[-1]
    default = fit_fast(X, y_partial, max_epochs=6, propagation_features="network")
    assert default.propagation_weight == 0.3
    assert len(calls) == 4  # epochs 3 to 6
    assert "pl_u" in default.history_[-1]
    assert not np.allclose(plain.predict_proba(X), default.predict_proba(X))


@pytest.mark.parametrize("features", ["network", "both"])
def test_label_propagation_on_fewer_samples_than_graph_components(blobs, features):
    # 40 samples, hidden features of 100 units: the graph's projection has at
    # most 40 axes, not 64 (a fit of a fold of a small data set).
    X, y = blobs[0][:40], blobs[1][:40]
    y_partial = hide_labels(y, 3)
    clf = fit_fast(X, y_partial, max_epochs=4, hidden_sizes=(100,),
                   propagation_features=features)
    assert "pl_u" in clf.history_[-1]
    assert np.isfinite(clf.history_[-1, "train_loss"])


def _dense_input_pseudo_labels(x, stream, n_classes, k, power=3, alpha=0.99, n_iter=20):
    """The pseudo-labels of a graph of the samples themselves, written out densely in NumPy."""
    W = np_affinity(x - x.mean(axis=0), k, power)
    d = W.sum(axis=1)
    S = W / np.sqrt(np.outer(d, d))
    Y = np_seeds(stream, n_classes)
    Z = sum(alpha ** t * np.linalg.matrix_power(S, t) @ Y for t in range(n_iter + 1))
    return np.where(stream >= 0, stream, Z.argmax(axis=1))


def test_label_propagation_over_the_inputs_labels_once_from_the_samples(blobs, monkeypatch):
    X, y = blobs
    y_partial = hide_labels(y, 5)
    calls = _record_refreshes(monkeypatch)
    clf = fit_fast(X, y_partial, max_epochs=12, propagation_weight=1.0,
                   propagation_features="input")
    # the graph of the inputs does not change: one propagation, at epoch 3
    assert [epoch for epoch, *_ in calls] == [3]
    assert all(row["pl_u"] >= 0 for row in clf.history_[2:])
    _, stream, labels, _, x_stream = calls[0]
    expected = _dense_input_pseudo_labels(x_stream.astype(np.float64), stream, 3,
                                          clf.propagation_neighbors)
    np.testing.assert_array_equal(labels, expected)
    # the network's features give other pseudo-labels than the inputs do
    calls.clear()
    fit_fast(X, y_partial, max_epochs=3, propagation_weight=1.0, hidden_sizes=(4,),
             propagation_features="network")
    assert not np.array_equal(calls[0][2], labels)


@pytest.mark.parametrize("batch, expected", [
    (7, "both"),  # 43 steps an epoch, 86 before the first graph (epoch 3): fewer than 100
    (6, "network"),  # 50 steps an epoch, 100 before the first graph
])
def test_auto_graph_adds_the_samples_only_when_few_steps_precede_it(blobs, monkeypatch,
                                                                   batch, expected):
    X, y = blobs
    y_partial = hide_labels(y, 5)
    calls = _record_refreshes(monkeypatch)
    auto = fit_fast(X, y_partial, max_epochs=4, propagation_weight=1.0,
                    batch_size_unlabeled=batch)
    assert auto.propagation_features == "auto" and auto.propagation_features_ == expected
    assert [epoch for epoch, *_ in calls] == [3, 4]  # refreshed every ceil(4 / 10) = 1 epoch
    explicit = fit_fast(X, y_partial, max_epochs=4, propagation_weight=1.0,
                        batch_size_unlabeled=batch, propagation_features=expected)
    np.testing.assert_array_equal(auto.predict_proba(X), explicit.predict_proba(X))


def test_an_explicit_graph_is_kept_whatever_the_number_of_steps(blobs):
    X, y = blobs
    clf = fit_fast(X, hide_labels(y, 5), max_epochs=3, propagation_weight=1.0,
                   propagation_features="input")
    assert clf.propagation_features_ == clf.net_.propagation_features == "input"


def test_label_propagation_over_both_refreshes_a_graph_of_inputs_and_features(blobs,
                                                                            monkeypatch):
    X, y = blobs
    y_partial = hide_labels(y, 5)
    seen = []
    original = ShotVAENet.map_batches

    def spy(net, data, fn):
        out = original(net, data, fn)
        seen.append(out.shape)
        return out

    monkeypatch.setattr(ShotVAENet, "map_batches", spy)
    calls = _record_refreshes(monkeypatch)
    fit_fast(X, y_partial, max_epochs=12, propagation_weight=1.0,
             propagation_features="both", hidden_sizes=(4,))
    assert [epoch for epoch, *_ in calls] == [3, 5, 7, 9, 11]  # refreshed like "network"
    assert (len(X), 4) in seen  # the network's features were read for the graph
    _, stream, labels, _, x_stream = calls[0]
    inputs_only = _dense_input_pseudo_labels(x_stream.astype(np.float64), stream, 3, 10)
    # not the graph of the inputs alone, but close to it: the two views are averaged
    assert not np.array_equal(labels, inputs_only)
    assert np.mean(labels == inputs_only) > 0.8


def test_label_propagation_over_both_prepares_the_samples_once_a_fit(monkeypatch):
    # 80 features, more than the 64 axes: each view is projected; the samples'
    # view once for the five graphs, the network's features at each of them.
    rng = np.random.default_rng(0)
    y = np.arange(120) % 3
    X = (rng.normal(size=(120, 80)) + 2.0 * y[:, None]).astype(np.float32)
    widths = []
    original = propagation.graph_features

    def spy(features, *args, **kwargs):
        widths.append(features.shape[1])
        return original(features, *args, **kwargs)

    monkeypatch.setattr(propagation, "graph_features", spy)
    calls = _record_refreshes(monkeypatch)
    fit_fast(X, hide_labels(y, 5), max_epochs=12, propagation_weight=1.0,
             propagation_features="both", hidden_sizes=(70,))
    assert len(calls) == 5
    assert widths.count(80) == 1 and widths.count(70) == 5


def test_labeled_only_network_builds_no_pseudo_labels(blobs, monkeypatch):
    X, y = blobs
    calls = _record_refreshes(monkeypatch)
    clf = fit_fast(X, hide_labels(y, 3), max_epochs=6, objective="supervised",
                   propagation_weight=1.0)
    assert calls == [] and "pl_u" not in clf.history_[-1]


def test_label_propagation_skips_the_held_out_labels(blobs, monkeypatch):
    X, y = blobs
    y_partial = hide_labels(y, 8)
    calls = _record_refreshes(monkeypatch)
    fit_fast(X, y_partial, max_epochs=3, propagation_weight=1.0, validation_fraction=0.25)
    _, stream, _, _, x_stream = calls[0]
    assert len(x_stream) == len(X) - 6  # a quarter of the 24 labels held out
    rows = [int(np.flatnonzero((X == row).all(axis=1))[0]) for row in x_stream]
    labeled = stream >= 0
    assert labeled.sum() == 18
    np.testing.assert_array_equal(stream[labeled], y_partial[rows][labeled])
    assert np.all(y_partial[rows][~labeled] == -1)


def test_the_fit_resolves_auto_max_epochs_for_the_backbone_it_builds(monkeypatch):
    monkeypatch.setattr("skshot.classifier.AUTO_STEPS", 6)
    monkeypatch.setattr("skshot.classifier.AUTO_STEPS_CONV_MLP", 2)
    rng = np.random.RandomState(0)
    X = rng.uniform(size=(24, 1, 16, 16)).astype(np.float32)
    y = hide_labels(np.arange(24) % 2, 3)
    params = {"max_epochs": "auto", "batch_size_unlabeled": 8, "batch_size_labeled": 4,
              "latent_dim": 2, "vote_neighbors": 0, "propagation_weight": 0, "random_state": 0}
    # 24 samples in batches of 8: 3 steps per epoch
    mlp = ShotVAEClassifier(backbone="mlp", hidden_sizes=(8,), **params).fit(X, y)
    assert mlp.max_epochs_ == 2 == len(mlp.history_)
    conv_mlp = ShotVAEClassifier(backbone="conv-mlp", hidden_sizes=(8,), **params).fit(X, y)
    assert conv_mlp.max_epochs_ == 1 == len(conv_mlp.history_)
