"""Tests of skshot._labels: the unlabeled marker -1 in every kind of target array."""

import numpy as np
import pytest

from skshot._labels import UNLABELED, encode_partial_labels, unlabeled_mask


def test_marker_is_minus_one():
    assert UNLABELED == -1


@pytest.mark.parametrize("y, expected", [
    (np.array([3, -1, 0, -1, 7]), [0, 1, 0, 1, 0]),
    (np.array([3, -1, 0], dtype=np.int8), [0, 1, 0]),
    (np.array([-1.0, 0.5, 2.0, -1.0]), [1, 0, 0, 1]),
    (np.array([-1.0, 1.0], dtype=np.float32), [1, 0]),
    (np.array([0, 1, 255], dtype=np.uint8), [0, 0, 0]),
    (np.array(["cat", "-1", "dog", "-1.0"]), [0, 1, 0, 0]),
    (np.array(["a", "-1"], dtype="<U10"), [0, 1]),
    (np.array([-1, 0, 2]).astype(str), [1, 0, 0]),
    (np.array(["a", -1, "b", "-1", None, -1.0], dtype=object), [0, 1, 0, 1, 0, 1]),
    (np.array([5, -1, 2], dtype=object), [0, 1, 0]),
    (np.array([True, False, True]), [0, 0, 0]),
    ([4, -1, 4], [0, 1, 0]),
    (np.array([], dtype=np.int64), []),
])
def test_unlabeled_mask(y, expected):
    mask = unlabeled_mask(y)
    assert mask.dtype == bool
    np.testing.assert_array_equal(mask, np.array(expected, dtype=bool))


def test_unlabeled_mask_does_not_modify_its_input():
    y = np.array(["a", -1, "-1"], dtype=object)
    copy = y.copy()
    unlabeled_mask(y)
    assert list(y) == list(copy)


@pytest.mark.parametrize("y, classes, y_index", [
    (np.array([2, -1, 0, 1, -1, 2]), [0, 1, 2], [2, 0, 1, 2]),
    # non-contiguous classes, given unsorted
    (np.array([40, -1, 7, 1000, 7, -1]), [7, 40, 1000], [1, 0, 2, 0]),
    (np.array([2.0, -1.0, 0.0, 2.0]), [0.0, 2.0], [1, 0, 1]),
    (np.array(["pear", "-1", "apple", "fig", "-1", "pear"]),
     ["apple", "fig", "pear"], [2, 0, 1, 2]),
    (np.array(["b", -1, "a", "-1", "b"], dtype=object), ["a", "b"], [1, 0, 1]),
    (np.array([True, False, False]), [False, True], [1, 0, 0]),
    # fully labeled
    (np.array([1, 0, 1]), [0, 1], [1, 0, 1]),
    # a negative label other than -1 is an ordinary class
    (np.array([-2, -1, 3, -2, 0]), [-2, 0, 3], [0, 2, 0, 1]),
    (np.array([-2.0, -1.0, 3.0]), [-2.0, 3.0], [0, 1]),
])
def test_encode_partial_labels(y, classes, y_index):
    labeled, got_classes, got_index = encode_partial_labels(y)
    np.testing.assert_array_equal(labeled, ~unlabeled_mask(y))
    assert labeled.dtype == bool and labeled.shape == y.shape
    np.testing.assert_array_equal(got_classes, np.array(classes, dtype=got_classes.dtype))
    assert got_index.dtype == np.int64
    np.testing.assert_array_equal(got_index, y_index)
    # the indices map back to the labels
    np.testing.assert_array_equal(got_classes[got_index], y[labeled])
    assert list(got_classes) == sorted(got_classes)


def test_encode_partial_labels_keeps_the_class_dtype():
    assert encode_partial_labels(np.array([1, -1, 5]))[1].dtype == np.int64
    assert encode_partial_labels(np.array([1.0, 5.0]))[1].dtype == np.float64
    assert encode_partial_labels(np.array(["x", "y"]))[1].dtype.kind == "U"


@pytest.mark.parametrize("y", [
    np.array([-1, -1, -1]),
    np.array([-1.0, -1.0]),
    np.array(["-1", "-1"]),
    np.array([-1, "-1"], dtype=object),
])
def test_no_labeled_sample_is_refused(y):
    with pytest.raises(ValueError, match="no labeled sample"):
        encode_partial_labels(y)


@pytest.mark.parametrize("y, label", [
    (np.array([3, -1, 3, -1]), "3"),
    (np.array(["cat", "-1"]), "cat"),
    (np.array([True, True]), "True"),
])
def test_a_single_class_is_refused(y, label):
    with pytest.raises(ValueError, match="only one class") as info:
        encode_partial_labels(y)
    assert label in str(info.value)


@pytest.mark.parametrize("y", [
    np.array([0.5, -1.0, 1.7, 2.25]),
    np.array([0.1, 0.2, 0.3]),
])
def test_continuous_labels_are_refused(y):
    with pytest.raises(ValueError, match="Unknown label type: continuous"):
        encode_partial_labels(y)

