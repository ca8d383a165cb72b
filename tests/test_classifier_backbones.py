"""ShotVAEClassifier with image backbones, images as 4-D arrays, a user's backbone,
bf16 autocast, and the device-side batching."""

import numpy as np
import pytest
import torch
from conftest import FAST, hide_labels
from sklearn.base import clone
from torch import nn

import skshot.classifier
from skshot import ShotVAEClassifier
from skshot._net import TensorSlices, to_device_async

IMAGE_FAST = {**FAST, "max_epochs": 2, "batch_size_unlabeled": 32, "batch_size_labeled": 16,
              "latent_dim": 3}


@pytest.fixture(scope="module")
def digit_images(digits):
    """80 digits as (n, 1, 8, 8) images in [0, 1], 3 classes, 5 labels per class."""
    X, y = digits
    keep = np.flatnonzero(y < 3)[:80]
    X, y = X[keep].reshape(-1, 1, 8, 8), y[keep]
    return X, y, hide_labels(y, 5)


@pytest.mark.parametrize("backbone", ["conv", "conv-mlp", "wrn-28-2"])
def test_image_backbones_fit_and_predict_on_tiny_images(digit_images, backbone):
    X, _y, y_partial = digit_images
    if backbone == "wrn-28-2":
        X = np.repeat(X, 3, axis=1)  # colour images, (n, 3, 8, 8)
    clf = ShotVAEClassifier(backbone=backbone, **IMAGE_FAST).fit(X, y_partial)
    assert clf.input_shape_ == X.shape[1:]
    assert clf.n_features_in_ == np.prod(X.shape[1:])
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert set(clf.predict(X)) <= set(clf.classes_)
    assert clf.transform(X).shape == (len(X), 3)
    X_new, _y_new = clf.sample([0, 2], n_samples=2, random_state=0)
    assert X_new.shape == (4, np.prod(X.shape[1:]))
    assert X_new.reshape(-1, *clf.input_shape_).shape == (4, *X.shape[1:])
    assert np.isfinite(clf.history_[-1, "train_loss"])


def test_conv_backbone_learns_from_the_labels(digit_images):
    X, y, _ = digit_images
    params = {**IMAGE_FAST, "max_epochs": 30, "lr": 3e-3}
    clf = ShotVAEClassifier(backbone="conv", objective="supervised", **params).fit(X, y)
    # three digit classes, all labeled: well above the 1/3 of chance
    assert clf.score(X, y) > 0.9


def test_flat_rows_with_input_shape_give_the_same_model_as_images(digit_images):
    X, _, y_partial = digit_images
    images = ShotVAEClassifier(backbone="conv", **IMAGE_FAST).fit(X, y_partial)
    rows = ShotVAEClassifier(backbone="conv", input_shape=(1, 8, 8), **IMAGE_FAST).fit(
        X.reshape(len(X), -1), y_partial)
    assert rows.input_shape_ == (1, 8, 8)
    np.testing.assert_array_equal(images.predict_proba(X), rows.predict_proba(X))
    # a model fitted on images predicts on rows and the other way round
    np.testing.assert_array_equal(images.predict_proba(X.reshape(len(X), -1)),
                                  rows.predict_proba(X))


@pytest.mark.parametrize("shape, given_as, large", [
    ((1, 16, 16), "images", True), ((1, 16, 16), "input_shape", True),
    ((3, 20, 24), "images", True), ((1, 8, 8), "images", False),
    ((1, 18, 18), "images", False), ((1, 16, 16), "rows", False),
])
@pytest.mark.parametrize("fast_bf16", [True, False])
def test_the_auto_backbone_reads_images_of_16_pixels_or_more_with_convolutions(
        monkeypatch, shape, given_as, large, fast_bf16):
    monkeypatch.setattr("skshot.classifier.has_fast_bf16", lambda device: fast_bf16)
    # as if these 24 images were many: fewer than AUTO_CONV_MIN_SAMPLES go to the MLP
    monkeypatch.setattr("skshot.classifier.AUTO_CONV_MIN_SAMPLES", 24)
    rng = np.random.RandomState(0)
    X = rng.uniform(size=(24, *shape)).astype(np.float32)
    y = hide_labels(np.arange(24) % 2, 3)
    params = {**IMAGE_FAST, "max_epochs": 1}
    if given_as == "input_shape":
        params["input_shape"] = shape
    if given_as != "images":
        X = X.reshape(len(X), -1)
    clf = ShotVAEClassifier(**params).fit(X, y)
    # on a CPU, the full convolutional network only where it computes in bfloat16
    # natively, else the convolutional encoder with the MLP's decoder
    expected = ("conv" if fast_bf16 else "conv-mlp") if large else "mlp"
    convolutions = [m for m in clf.net_.module_.modules() if isinstance(m, nn.Conv2d)]
    transposed = [m for m in clf.net_.module_.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert clf.backbone_ == expected and bool(convolutions) == large
    assert bool(transposed) == (expected == "conv")
    # with it the encoder sees translated images and, on fast bfloat16, runs in bfloat16
    assert clf.augmentation_ == ("translate-encoder" if large else None)
    assert (clf.net_.translate_shift > 0) == large
    bf16 = large and fast_bf16
    assert clf.mixed_precision_ == clf.net_.mixed_precision == ("bf16" if bf16 else None)
    # the convolutional encoder with the MLP's decoder weighs the prior KL terms more
    assert clf.beta_ == clf.net_.criterion_.beta == (10.0 if expected == "conv-mlp" else 6.0)


@pytest.mark.parametrize("fast_bf16", [True, False])
def test_the_auto_backbone_reads_fewer_images_than_its_minimum_with_the_mlp(monkeypatch,
                                                                            fast_bf16):
    monkeypatch.setattr("skshot.classifier.has_fast_bf16", lambda device: fast_bf16)
    minimum = skshot.classifier.AUTO_CONV_MIN_SAMPLES
    assert minimum == 10_000
    conv = "conv" if fast_bf16 else "conv-mlp"
    clf = ShotVAEClassifier()
    assert clf._resolve_backbone((1, 28, 28), "cpu", n_train=minimum) == conv
    assert clf._resolve_backbone((1, 28, 28), "cpu", n_train=minimum - 1) == "mlp"
    assert clf._resolve_image_settings((1, 28, 28), "cpu", n_train=minimum - 1) == \
        ("mlp", None, None)
    # a backbone named is kept however few the images
    for backbone in ("conv", "conv-mlp"):
        assert ShotVAEClassifier(backbone=backbone)._resolve_backbone(
            (1, 28, 28), "cpu", n_train=10) == backbone


@pytest.mark.parametrize("early_stopping", [False, True])
def test_a_fit_on_few_images_trains_the_mlp_and_counts_the_samples_it_trains_on(
        monkeypatch, early_stopping):
    monkeypatch.setattr("skshot.classifier.has_fast_bf16", lambda device: False)
    rng = np.random.RandomState(0)
    X = rng.uniform(size=(40, 1, 16, 16)).astype(np.float32)
    y = hide_labels(np.arange(40) % 2, 6)
    params = {**IMAGE_FAST, "max_epochs": 1, "early_stopping": early_stopping}
    clf = ShotVAEClassifier(**params).fit(X, y)
    assert (clf.backbone_, clf.augmentation_, clf.beta_) == ("mlp", None, 6.0)
    assert not any(isinstance(m, nn.Conv2d) for m in clf.net_.module_.modules())
    # the minimum is read against the samples the network trains on: with early
    # stopping, less the labels held out
    n_train = 40 - (2 if early_stopping else 0)
    monkeypatch.setattr("skshot.classifier.AUTO_CONV_MIN_SAMPLES", n_train)
    assert ShotVAEClassifier(**params).fit(X, y).backbone_ == "conv-mlp"
    monkeypatch.setattr("skshot.classifier.AUTO_CONV_MIN_SAMPLES", n_train + 1)
    assert ShotVAEClassifier(**params).fit(X, y).backbone_ == "mlp"


@pytest.mark.parametrize("device, fast_bf16, expected", [
    ("cpu", True, "conv"), ("cpu", False, "conv-mlp"), ("cuda", False, "conv"),
    ("cuda:1", True, "conv"), ("mps", False, "conv"),
])
def test_the_auto_backbone_chooses_convolutions_by_the_device(monkeypatch, device, fast_bf16,
                                                              expected):
    monkeypatch.setattr("skshot.classifier.has_fast_bf16", lambda device: fast_bf16)
    clf = ShotVAEClassifier()
    assert clf._resolve_backbone((1, 28, 28), device) == expected
    assert clf._resolve_backbone((1, 8, 8), device) == "mlp"
    assert clf._resolve_backbone((784,), device) == "mlp"
    # a name given is kept on every device
    assert ShotVAEClassifier(backbone="conv")._resolve_backbone((1, 28, 28), device) == "conv"
    assert ShotVAEClassifier(backbone="mlp")._resolve_backbone((1, 28, 28), device) == "mlp"
    assert ShotVAEClassifier(backbone="conv-mlp")._resolve_backbone((1, 28, 28), device) == \
        "conv-mlp"


@pytest.mark.parametrize("fast_bf16", [True, False])
def test_conv_mlp_is_a_convolutional_backbone_for_the_auto_settings(monkeypatch, fast_bf16):
    # translated for the encoder, and in bfloat16 where the device computes it natively
    monkeypatch.setattr("skshot.classifier.has_fast_bf16", lambda device: fast_bf16)
    settings = ShotVAEClassifier(backbone="conv-mlp")._resolve_image_settings((1, 28, 28),
                                                                              "cpu")
    assert settings == ("conv-mlp", "translate-encoder", "bf16" if fast_bf16 else None)


def test_explicit_backbone_augmentation_and_precision_are_kept(monkeypatch, digit_images):
    monkeypatch.setattr("skshot.classifier.has_fast_bf16", lambda device: False)
    X, _, y_partial = digit_images
    clf = ShotVAEClassifier(backbone="conv", augmentation="translate", mixed_precision="bf16",
                            **IMAGE_FAST).fit(X, y_partial)
    assert (clf.backbone_, clf.augmentation_, clf.mixed_precision_) == \
        ("conv", "translate", "bf16")
    mlp = ShotVAEClassifier(backbone="mlp", mixed_precision=None, **IMAGE_FAST).fit(
        np.repeat(np.repeat(X, 2, axis=2), 2, axis=3), y_partial)  # 16x16 images
    assert (mlp.backbone_, mlp.augmentation_, mlp.mixed_precision_) == ("mlp", None, None)
    user = ShotVAEClassifier(backbone=_make_backbone([]), **IMAGE_FAST).fit(X, y_partial)
    assert (user.backbone_, user.augmentation_, user.mixed_precision_) == \
        ("callable", None, None)


def test_mlp_backbone_accepts_images_and_flattens_them(digit_images):
    X, _, y_partial = digit_images
    params = {**IMAGE_FAST, "max_epochs": 3}
    images = ShotVAEClassifier(**params).fit(X, y_partial)
    rows = ShotVAEClassifier(**params).fit(X.reshape(len(X), -1), y_partial)
    assert images.input_shape_ == (1, 8, 8) and rows.input_shape_ == (64,)
    np.testing.assert_allclose(images.predict_proba(X), rows.predict_proba(X), rtol=1e-5,
                               atol=1e-6)


def test_input_images_are_not_changed(digit_images):
    X, _, y_partial = digit_images
    X_copy = X.copy()
    clf = ShotVAEClassifier(backbone="conv", **IMAGE_FAST).fit(X, y_partial)
    clf.predict(X)
    np.testing.assert_array_equal(X, X_copy)
    assert X.shape == (80, 1, 8, 8)


@pytest.mark.parametrize(("params", "X_shape", "message"), [
    ({"backbone": "conv"}, (30, 64),
     (r"backbone='conv' needs the shape of the images: pass input_shape=\(channels, height, "
     r"width\), or X of shape \(n_samples, channels, height, width\) instead of rows of 64")),
    ({"backbone": "conv", "input_shape": (1, 8, 9)}, (30, 64),
     r"input_shape=\(1, 8, 9\) holds 72 values per sample, but X has 64 features"),
    ({"backbone": "conv", "input_shape": (1, 4, 16)}, (30, 1, 8, 8),
     r"input_shape=\(1, 4, 16\) differs from the shape of the images in X, \(1, 8, 8\)"),
    ({"input_shape": (8, 8)}, (30, 64),
     (r"input_shape must be \(n_features,\) or \(channels, height, width\) of positive "
     r"integers, got \(8, 8\)")),
    ({"input_shape": (1, 8, -8)}, (30, 64), r"input_shape must be .* got \(1, 8, -8\)"),
    ({"backbone": "wrn-28-2"}, (30, 3, 6, 6), r"height and width divisible by 4"),
    ({}, (30, 8, 8), (r"X must be 2-D, \(n_samples, n_features\), or 4-D images.*3 "
     r"dimensions.*add the channel axis: X\[:, None\]")),
    ({}, (30, 1, 1, 8, 8), r"X must be 2-D.*5 dimensions"),
])
def test_bad_image_shapes_are_refused_with_a_clear_error(params, X_shape, message):
    X = np.random.RandomState(0).rand(*X_shape).astype(np.float32)
    y = np.tile([0, 1, -1], 10)
    with pytest.raises(ValueError, match=message):
        ShotVAEClassifier(**params, **IMAGE_FAST).fit(X, y)


def test_predicting_on_images_of_another_shape_is_refused(digit_images):
    X, _, y_partial = digit_images
    clf = ShotVAEClassifier(backbone="conv", **IMAGE_FAST).fit(X, y_partial)
    with pytest.raises(ValueError, match=r"images of shape \(4, 4, 4\), but the model was "
                                         r"fitted on samples of shape \(1, 8, 8\)"):
        clf.predict(X.reshape(len(X), 4, 4, 4))


def test_backbone_and_input_shape_are_validated_parameters():
    X, y = np.random.rand(30, 4).astype(np.float32), np.tile([0, 1, -1], 10)
    with pytest.raises(ValueError, match=r"'backbone' parameter .* must be a str among "
                                         r"\{.*'auto'.*\} or a callable"):
        ShotVAEClassifier(backbone="resnet50").fit(X, y)
    with pytest.raises(ValueError, match=r"'mixed_precision' parameter .* must be a str "
                                         r"among \{('bf16', 'auto'|'auto', 'bf16')\} or None"):
        ShotVAEClassifier(mixed_precision="fp16").fit(X, y)


# ---------------------------------------------------------------------------
# a user's backbone


class _Recorder(nn.Module):
    """Identity that records the dtypes of the tensors passing through it."""

    def __init__(self, seen):
        super().__init__()
        self.seen = seen

    def forward(self, x):
        self.seen.append(x.dtype)
        return x


def _make_backbone(seen):
    def backbone(input_shape, latent_dim, n_classes):
        n_features = int(np.prod(input_shape))
        encoder = nn.Sequential(nn.Flatten(), nn.Linear(n_features, 16), nn.ReLU(),
                                _Recorder(seen))
        decoder = nn.Sequential(nn.Linear(latent_dim + n_classes, 16), nn.ReLU(),
                                nn.Linear(16, n_features), nn.Unflatten(1, input_shape))
        return encoder, decoder
    return backbone


def test_a_user_backbone_trains_under_the_random_state_and_survives_clone(digit_images):
    X, _, y_partial = digit_images
    seen = []
    clf = ShotVAEClassifier(backbone=_make_backbone(seen), **IMAGE_FAST)
    first = clf.fit(X, y_partial).predict_proba(X)
    assert seen and set(seen) == {torch.float32}
    # the callable is called again, under the same seed: the same weights
    second = clone(clf).fit(X, y_partial).predict_proba(X)
    np.testing.assert_array_equal(first, second)
    other = clone(clf).set_params(random_state=1).fit(X, y_partial).predict_proba(X)
    assert not np.array_equal(first, other)


def test_bf16_autocast_runs_the_backbone_in_bfloat16_and_the_loss_in_float32(digit_images):
    X, y, y_partial = digit_images
    seen = []
    params = {**IMAGE_FAST, "max_epochs": 20}
    clf = ShotVAEClassifier(backbone=_make_backbone(seen), mixed_precision="bf16", **params)
    clf.fit(X, y_partial)
    # the shape check on zeros when the module is built, then training in bf16...
    assert seen[0] == torch.float32 and set(seen[1:]) == {torch.bfloat16}
    n_fit = len(seen)
    proba = clf.predict_proba(X)
    assert len(seen) > n_fit and set(seen[n_fit:]) == {torch.bfloat16}  # ...and prediction
    assert proba.dtype == np.float64 and np.isfinite(proba).all()
    assert all(p.dtype == torch.float32 for p in clf.net_.module_.parameters())
    assert all(np.isfinite(clf.history_[:, "train_loss"]))
    # bf16 is an approximation of the float32 fit, not a different model
    reference = ShotVAEClassifier(backbone=_make_backbone([]), **params).fit(X, y_partial)
    agreement = np.mean(clf.predict(X) == reference.predict(X))
    assert agreement > 0.8, agreement
    assert clf.score(X, y) > 0.6


# ---------------------------------------------------------------------------
# batching helpers


def test_tensor_slices_cover_the_rows_in_order_with_views():
    X = torch.arange(14.0).view(7, 2)
    y = torch.arange(7)
    batches = list(TensorSlices(X, y, 3))
    assert len(TensorSlices(X, y, 3)) == len(batches) == 3
    torch.testing.assert_close(torch.cat([b[0] for b in batches]), X)
    torch.testing.assert_close(torch.cat([b[1] for b in batches]), y)
    assert all(b[0].data_ptr() == X[3 * i].data_ptr() for i, b in enumerate(batches))
    assert [b[1] for b in TensorSlices(X, None, 5)] == [None, None]


def test_to_device_async_keeps_a_tensor_on_its_device_and_converts_arrays():
    x = torch.ones(3)
    assert to_device_async(x, "cpu") is x
    converted = to_device_async(np.ones(3, dtype=np.float32), "cpu")
    assert isinstance(converted, torch.Tensor) and converted.dtype == torch.float32


@pytest.mark.parametrize("beta, backbone, expected", [
    ("auto", "conv-mlp", 10.0), ("auto", "mlp", 6.0), ("auto", "conv", 6.0),
    ("auto", "wrn-28-2", 6.0), ("auto", "callable", 6.0), (2.5, "conv-mlp", 2.5),
    (0, "mlp", 0.0),
])
def test_auto_beta_weighs_the_prior_more_for_the_conv_mlp_backbone(beta, backbone, expected):
    assert ShotVAEClassifier(beta=beta)._resolve_beta(backbone) == expected
