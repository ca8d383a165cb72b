"""What ShotVAEClassifier does with each kind of bad or unusual input."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from conftest import FAST, hide_labels
from sklearn.exceptions import NotFittedError

from skshot import ShotVAEClassifier, classifier

RNG = np.random.RandomState(0)
X_OK = RNG.rand(60, 4).astype(np.float32)
Y_OK = hide_labels(np.arange(60) % 3, 4)


def with_value(value, where=(3, 1)):
    X = X_OK.copy()
    X[where] = value
    return X


def fit(X, y, **params):
    return ShotVAEClassifier(**{**FAST, "max_epochs": 2, **params}).fit(X, y)


@pytest.fixture(scope="module")
def fitted():
    return fit(X_OK, Y_OK)


# ----------------------------------------------------------------- refused at fit
@pytest.mark.parametrize("X, y, error, match", [
    (with_value(np.nan), Y_OK, ValueError, "Input X contains NaN"),
    (with_value(np.inf), Y_OK, ValueError, "Input X contains infinity"),
    (X_OK[:, 0], Y_OK, ValueError, "Expected 2D array, got 1D array"),
    (RNG.rand(60, 2, 2), Y_OK, ValueError, r"X must be 2-D.*3 dimensions.*X\[:, None\]"),
    (RNG.rand(60, 1, 1, 2, 2), Y_OK, ValueError, r"X must be 2-D.*or 4-D images.*5 dimensions"),
    (sp.csr_matrix(X_OK), Y_OK, TypeError, "Sparse data was passed"),
    (np.empty((0, 4)), np.empty(0), ValueError, "0 sample"),
    (X_OK, Y_OK[:-1], ValueError, "inconsistent numbers of samples"),
    (X_OK, np.full(60, -1), ValueError, "no labeled sample"),
    (X_OK, np.where(Y_OK == -1, -1, 2), ValueError, "only one class"),
    (X_OK, np.where(np.arange(60) == 5, np.nan, Y_OK), ValueError, "Input y contains NaN"),
    (X_OK, RNG.rand(60), ValueError, "Unknown label type"),
    (np.where(X_OK > 0.5, 1e40, X_OK), Y_OK, ValueError,
     "infinity or a value too large for dtype"),
], ids=["nan", "inf", "1d", "3d-images", "5d-images", "sparse", "empty", "length-mismatch",
        "all-unlabeled", "one-class", "y-nan", "y-continuous", "overflows-float32"])
def test_refused_at_fit_with_a_clear_error(X, y, error, match):
    with pytest.raises(error, match=match):
        fit(X, y)


@pytest.mark.parametrize("params, match", [
    ({"device": "tpu9"}, r"device='tpu9' is not a device PyTorch knows .*device=\"auto\""),
    ({"device": "cuda:99"}, (r"device='cuda:99' (needs CUDA, but CUDA is not available|asks "
                             r"for GPU 99).*device=\"auto\"")),
], ids=["unknown-device", "absent-gpu"])
def test_a_device_this_machine_lacks_is_refused_before_the_data_are_read(params, match,
                                                                          monkeypatch):
    def no_data_please(*args, **kwargs):
        raise AssertionError("the data were validated before the device")

    monkeypatch.setattr(classifier, "validate_data", no_data_please)
    with pytest.raises(ValueError, match=match):
        fit(X_OK, Y_OK, **params)


def test_bf16_on_a_gpu_without_bfloat16_is_refused_before_the_data_are_read(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: False)
    with pytest.raises(ValueError, match=r"mixed_precision='bf16' cannot run on device='cuda': "
                                         r"its GPU does not support bfloat16"):
        fit(with_value(np.nan), Y_OK, device="cuda", mixed_precision="bf16")


def test_the_device_is_left_to_the_accelerator_when_one_is_given(monkeypatch):
    class Reached(Exception):
        pass

    def check_device(*args):
        checked.append(args)
        raise Reached

    class Accelerator:  # enough of one to reach the network's construction
        device = "cpu"

        def prepare(self, obj):
            raise Reached

        def backward(self, loss):
            raise Reached

    checked = []
    monkeypatch.setattr(classifier, "check_device", check_device)
    with pytest.raises(Reached):
        fit(X_OK, Y_OK, device="tpu9", mixed_precision="bf16")
    assert checked == [("tpu9", "bf16")]
    checked.clear()
    with pytest.raises(Reached):
        fit(X_OK, Y_OK, device="tpu9", accelerator=Accelerator())
    assert checked == []


def test_bernoulli_likelihood_refuses_features_outside_the_unit_interval():
    with pytest.raises(ValueError, match=r"needs every feature in \[0, 1\], but X ranges over \[-0\.5, "):
        fit(with_value(-0.5), Y_OK, likelihood="bernoulli")


def test_huge_finite_values_stop_training_with_a_divergence_error():
    with pytest.raises(FloatingPointError,
                       match=r"diverged in epoch 1: .*rec_u \(reconstruction .*lower lr"):
        fit(with_value(1e30), Y_OK)


def test_a_failed_fit_leaves_the_estimator_unfitted():
    clf = ShotVAEClassifier(**{**FAST, "max_epochs": 2})
    with pytest.raises(FloatingPointError):
        clf.fit(with_value(1e30), Y_OK)
    with pytest.raises(NotFittedError):
        clf.predict(X_OK)


# ----------------------------------------------------------------- accepted
def test_negative_labels_other_than_minus_one_are_ordinary_classes():
    y = np.where(Y_OK == 0, -2, Y_OK)
    clf = fit(X_OK, y)
    np.testing.assert_array_equal(clf.classes_, [-2, 1, 2])


@pytest.mark.parametrize("dtype", [np.int64, np.float16, np.float64])
def test_integer_and_other_float_dtypes_give_the_float32_result(dtype):
    X_int = (X_OK * 10).round()
    X = X_int.astype(dtype)
    expected = fit(X_int.astype(np.float32), Y_OK).predict_proba(X_int.astype(np.float32))
    np.testing.assert_array_equal(fit(X, Y_OK).predict_proba(X), expected)


# ----------------------------------------------------------------- after fit
@pytest.mark.parametrize("method", ["predict", "predict_proba", "predict_log_proba",
                                    "transform", "score_samples", "sample"])
def test_every_method_before_fit_raises_not_fitted(method):
    args = ([0],) if method == "sample" else (X_OK,)
    with pytest.raises(NotFittedError):
        getattr(ShotVAEClassifier(), method)(*args)


@pytest.mark.parametrize("method", ["predict", "predict_proba", "predict_log_proba",
                                    "transform", "score_samples"])
def test_a_different_number_of_features_is_refused(fitted, method):
    with pytest.raises(ValueError, match="X has 3 features, but ShotVAEClassifier is expecting 4"):
        getattr(fitted, method)(X_OK[:, :3])


def test_sample_refuses_a_class_not_in_classes_(fitted):
    with pytest.raises(ValueError, match=r"classes \[7\] that are not in classes_ \[0, 1, 2\]"):
        fitted.sample([0, 7])


def test_predictions_on_features_far_outside_the_training_range_are_never_silently_nan(fitted):
    X = np.full((2, 4), 3e38, dtype=np.float32)
    with pytest.raises(ValueError, match="not finite"):
        fitted.predict_proba(X)
    with pytest.raises(ValueError, match="not finite"):
        fitted.predict(X)
    with pytest.raises(ValueError, match="not finite"):
        fitted.predict_log_proba(X)
