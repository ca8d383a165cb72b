"""Tests of skshot.datasets: the IDX reader, the Fashion-MNIST loader and mask_labels."""

import gzip
import os
import struct

import numpy as np
import pytest
from sklearn.utils import Bunch

from skshot import datasets
from skshot.datasets import load_fashion_mnist, load_idx_dataset, mask_labels, read_idx

REAL_HOME = "/usr/share/datasets/fashion-mnist"
CLASS_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
               "Sneaker", "Bag", "Ankle boot"]
FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
         "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


def idx_bytes(array, code, big_endian_dtype):
    """The bytes of an IDX file, built by hand: magic, dimension sizes, big-endian data."""
    array = np.asarray(array)
    header = struct.pack(">BBBB", 0, 0, code, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(big_endian_dtype).tobytes()


def write(path, content, compress=False):
    path.write_bytes(gzip.compress(content) if compress else content)
    return path


def fake_fashion(directory, n_train=20, n_test=10, seed=0):
    """Tiny Fashion-MNIST-like files: train gzip-compressed (as Debian ships them),
    test plain; returns the arrays written."""
    rng = np.random.RandomState(seed)
    directory.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for subset, n, compress in [("train", n_train, True), ("test", n_test, False)]:
        images = rng.randint(0, 256, size=(n, 28, 28)).astype(np.uint8)
        images[0, 0, 0], images[-1, -1, -1] = 0, 255
        labels = ((np.arange(n) + seed) % 10).astype(np.uint8)
        suffix = ".gz" if compress else ""
        image_name, label_name = FILES[subset]
        write(directory / (image_name + suffix), idx_bytes(images, 0x08, ">u1"), compress)
        write(directory / (label_name + suffix), idx_bytes(labels, 0x08, ">u1"), compress)
        arrays[subset] = images, labels
    return arrays


@pytest.fixture
def fashion_dir(tmp_path, monkeypatch):
    monkeypatch.delenv("SKSHOT_FASHION_MNIST", raising=False)
    monkeypatch.setattr(datasets, "DEFAULT_FASHION_MNIST_HOME", str(tmp_path / "nowhere"))
    directory = tmp_path / "fashion"
    return directory, fake_fashion(directory)


# --- read_idx -------------------------------------------------------------------------------

@pytest.mark.parametrize("code, big, native, values", [
    (0x08, ">u1", np.uint8, np.array([0, 1, 7, 128, 255])),
    (0x09, ">i1", np.int8, np.array([[-128, -1, 0], [1, 64, 127]])),
    (0x0B, ">i2", np.int16, np.arange(-12, 12).reshape(2, 3, 4) * 1000),
    (0x0C, ">i4", np.int32, np.array([-2**31, -70000, 0, 70000, 2**31 - 1])),
    (0x0D, ">f4", np.float32, np.linspace(-3.5, 1e6, 2 * 28 * 28).reshape(2, 28, 28)),
    (0x0E, ">f8", np.float64, np.array([[[[-1e300, np.pi], [1e-300, 0.1]]]])),
])
@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_round_trips(tmp_path, code, big, native, values, compress):
    path = write(tmp_path / "data-idx", idx_bytes(values, code, big), compress)
    array = read_idx(path)
    assert array.dtype == np.dtype(native)
    assert array.dtype.isnative
    assert array.shape == values.shape
    np.testing.assert_array_equal(array, values.astype(native))
    assert array.flags.writeable
    array.flat[0] = 1  # writable in place, not a view of read-only bytes


def test_read_idx_mnist_like_images_and_str_path(tmp_path):
    images = np.arange(3 * 28 * 28).reshape(3, 28, 28) % 256
    path = write(tmp_path / "train-images-idx3-ubyte", idx_bytes(images, 0x08, ">u1"))
    array = read_idx(str(path))
    assert array.shape == (3, 28, 28) and array.dtype == np.uint8
    np.testing.assert_array_equal(array, images)


def test_read_idx_detects_gzip_by_content_not_suffix(tmp_path):
    labels = np.array([3, 1, 4, 1, 5])
    content = idx_bytes(labels, 0x08, ">u1")
    compressed_no_suffix = write(tmp_path / "labels-idx1-ubyte", content, compress=True)
    plain_with_suffix = write(tmp_path / "labels-idx1-ubyte.gz", content, compress=False)
    assert compressed_no_suffix.read_bytes()[:2] == b"\x1f\x8b"
    np.testing.assert_array_equal(read_idx(compressed_no_suffix), labels)
    np.testing.assert_array_equal(read_idx(plain_with_suffix), labels)


def test_read_idx_zero_length_dimension(tmp_path):
    path = write(tmp_path / "empty-idx", idx_bytes(np.zeros((0, 28, 28)), 0x08, ">u1"))
    array = read_idx(path)
    assert array.shape == (0, 28, 28) and array.dtype == np.uint8


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("content, match", [
    (b"\x01\x00\x08\x01" + struct.pack(">I", 1) + b"\x00", "bad magic number 0x01000801"),
    (b"\x00\x01\x08\x01" + struct.pack(">I", 1) + b"\x00", "bad magic number"),
    (b"\x00\x00\x0a\x01" + struct.pack(">I", 1) + b"\x00", "unknown type code 0x0A"),
    (b"\x00\x00\x08", "truncated"),
    (b"", "truncated"),
    (b"\x00\x00\x08\x03" + struct.pack(">2I", 2, 28), "truncated: its header announces 3"),
    (b"\x00\x00\x08\x01" + struct.pack(">I", 5) + b"\x01\x02\x03\x04", "truncated"),
    (b"\x00\x00\x0b\x01" + struct.pack(">I", 2) + b"\x00\x01\x00", "needs 4 data bytes, found 3"),
    (b"\x00\x00\x08\x01" + struct.pack(">I", 2) + b"\x01\x02\x03", "longer than its header"),
], ids=["magic-byte0", "magic-byte1", "type-code", "short-magic", "empty", "short-dims",
        "short-ubyte-data", "short-int16-data", "trailing-bytes"])
def test_read_idx_rejects_invalid_files(tmp_path, content, match, compress):
    path = write(tmp_path / "bad-idx", content, compress)
    with pytest.raises(ValueError, match=match) as excinfo:
        read_idx(path)
    assert str(path) in str(excinfo.value)
    assert ("gzip" in str(excinfo.value)) == compress


def test_read_idx_rejects_truncated_gzip_stream(tmp_path):
    compressed = gzip.compress(idx_bytes(np.arange(1000) % 256, 0x08, ">u1"))
    path = write(tmp_path / "cut-idx1-ubyte.gz", compressed[: len(compressed) // 2])
    with pytest.raises(ValueError, match="Cannot decompress") as excinfo:
        read_idx(path)
    assert str(path) in str(excinfo.value)


def test_read_idx_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "absent-idx")


# --- load_idx_dataset -----------------------------------------------------------------------

def test_load_idx_dataset_subsets(fashion_dir):
    directory, arrays = fashion_dir
    for subset in ["train", "test"]:
        images, labels = load_idx_dataset(directory, subset=subset)
        assert images.dtype == np.uint8 and labels.dtype == np.uint8
        np.testing.assert_array_equal(images, arrays[subset][0])
        np.testing.assert_array_equal(labels, arrays[subset][1])
    images, labels = load_idx_dataset(str(directory), subset="all")
    assert images.shape == (30, 28, 28) and labels.shape == (30,)
    np.testing.assert_array_equal(images[:20], arrays["train"][0])
    np.testing.assert_array_equal(images[20:], arrays["test"][0])
    np.testing.assert_array_equal(labels, np.concatenate([arrays["train"][1],
                                                          arrays["test"][1]]))


def test_load_idx_dataset_custom_file_names(tmp_path):
    images = np.arange(2 * 3 * 4).reshape(2, 3, 4).astype(np.int16) - 5
    labels = np.array([1, 0])
    write(tmp_path / "imgs.idx", idx_bytes(images, 0x0B, ">i2"))
    write(tmp_path / "labs.idx.gz", idx_bytes(labels, 0x08, ">u1"), compress=True)
    files = {"only": ("imgs.idx", "labs.idx")}
    X, y = load_idx_dataset(tmp_path, subset="only", files=files)
    np.testing.assert_array_equal(X, images)
    np.testing.assert_array_equal(y, labels)
    X_all, _ = load_idx_dataset(tmp_path, subset="all", files=files)
    np.testing.assert_array_equal(X_all, images)
    with pytest.raises(ValueError, match="'only', 'all'; got 'train'"):
        load_idx_dataset(tmp_path, subset="train", files=files)


def test_load_idx_dataset_mismatched_counts(tmp_path):
    write(tmp_path / "train-images-idx3-ubyte", idx_bytes(np.zeros((3, 2, 2)), 0x08, ">u1"))
    write(tmp_path / "train-labels-idx1-ubyte", idx_bytes(np.zeros(4), 0x08, ">u1"))
    with pytest.raises(ValueError, match="do not pair up"):
        load_idx_dataset(tmp_path)


def test_load_idx_dataset_missing_files_lists_paths(tmp_path):
    with pytest.raises(FileNotFoundError) as excinfo:
        load_idx_dataset(tmp_path, subset="test")
    message = str(excinfo.value)
    for name in FILES["test"]:
        assert os.path.join(str(tmp_path), name) in message
        assert os.path.join(str(tmp_path), name + ".gz") in message
    assert "train-images" not in message
    assert "apt-get" not in message


# --- load_fashion_mnist ---------------------------------------------------------------------

@pytest.mark.parametrize("subset, rows", [("train", slice(0, 20)), ("test", slice(20, 30)),
                                          ("all", slice(0, 30))])
def test_load_fashion_mnist_subsets(fashion_dir, subset, rows):
    directory, arrays = fashion_dir
    all_images = np.concatenate([arrays["train"][0], arrays["test"][0]])[rows]
    all_labels = np.concatenate([arrays["train"][1], arrays["test"][1]])[rows]
    n = len(all_labels)

    X, y = load_fashion_mnist(directory, subset=subset, return_X_y=True)
    assert X.shape == (n, 784) and X.dtype == np.float32
    assert y.shape == (n,) and y.dtype == np.int64
    np.testing.assert_allclose(X, all_images.reshape(n, 784) / 255.0, rtol=1e-6, atol=0)
    np.testing.assert_array_equal(y, all_labels)
    assert X.min() == 0.0 and X.max() == 1.0

    X_raw, _ = load_fashion_mnist(directory, subset=subset, return_X_y=True, scale=False)
    assert X_raw.dtype == np.uint8
    np.testing.assert_array_equal(X_raw, all_images.reshape(n, 784))

    X_img, _ = load_fashion_mnist(directory, subset=subset, return_X_y=True, flatten=False)
    assert X_img.shape == (n, 28, 28) and X_img.dtype == np.float32
    np.testing.assert_array_equal(X_img.reshape(n, 784), X)

    X_img_raw, _ = load_fashion_mnist(directory, subset=subset, return_X_y=True,
                                      flatten=False, scale=False)
    assert X_img_raw.shape == (n, 28, 28) and X_img_raw.dtype == np.uint8
    np.testing.assert_array_equal(X_img_raw, all_images)


def test_load_fashion_mnist_bunch(fashion_dir):
    directory, _ = fashion_dir
    bunch = load_fashion_mnist(directory, subset="test")
    assert isinstance(bunch, Bunch)
    assert set(bunch) == {"data", "target", "target_names", "DESCR"}
    X, y = load_fashion_mnist(directory, subset="test", return_X_y=True)
    np.testing.assert_array_equal(bunch.data, X)
    np.testing.assert_array_equal(bunch.target, y)
    assert list(bunch.target_names) == CLASS_NAMES
    assert "Fashion-MNIST" in bunch.DESCR and "1708.07747" in bunch.DESCR


def test_load_fashion_mnist_invalid_subset(fashion_dir):
    with pytest.raises(ValueError, match="subset must be one of 'train', 'test', 'all'"):
        load_fashion_mnist(fashion_dir[0], subset="validation")


def test_load_fashion_mnist_location_precedence(tmp_path, monkeypatch):
    # Three directories told apart by their number of training images.
    default, env, param = tmp_path / "default", tmp_path / "env", tmp_path / "param"
    fake_fashion(default, n_train=11)
    fake_fashion(env, n_train=12)
    fake_fashion(param, n_train=13)
    monkeypatch.setattr(datasets, "DEFAULT_FASHION_MNIST_HOME", str(default))

    def n_train(**kwargs):
        return len(load_fashion_mnist(return_X_y=True, **kwargs)[1])

    monkeypatch.delenv("SKSHOT_FASHION_MNIST", raising=False)
    assert n_train() == 11
    monkeypatch.setenv("SKSHOT_FASHION_MNIST", "")  # empty counts as unset
    assert n_train() == 11
    monkeypatch.setenv("SKSHOT_FASHION_MNIST", str(env))
    assert n_train() == 12
    assert n_train(data_home=param) == 13
    assert n_train(data_home=str(param)) == 13


def test_load_fashion_mnist_explicit_location_does_not_fall_back(tmp_path, monkeypatch):
    fake_fashion(tmp_path / "default")
    monkeypatch.setattr(datasets, "DEFAULT_FASHION_MNIST_HOME", str(tmp_path / "default"))
    monkeypatch.setenv("SKSHOT_FASHION_MNIST", str(tmp_path / "empty"))
    with pytest.raises(FileNotFoundError, match="environment variable SKSHOT_FASHION_MNIST"):
        load_fashion_mnist()


def test_load_fashion_mnist_missing_files_message(tmp_path, monkeypatch):
    monkeypatch.delenv("SKSHOT_FASHION_MNIST", raising=False)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError) as excinfo:
        load_fashion_mnist(empty, subset="all")
    message = str(excinfo.value)
    for subset in ["train", "test"]:
        for name in FILES[subset]:
            assert os.path.join(str(empty), name) in message
            assert os.path.join(str(empty), name + ".gz") in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert "SKSHOT_FASHION_MNIST" in message and "data_home" in message
    assert "data_home parameter" in message.split("\n")[-1].split(".")[0]


def test_load_fashion_mnist_missing_default_names_default(tmp_path, monkeypatch):
    monkeypatch.delenv("SKSHOT_FASHION_MNIST", raising=False)
    monkeypatch.setattr(datasets, "DEFAULT_FASHION_MNIST_HOME", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="the default location") as excinfo:
        load_fashion_mnist(subset="test")
    assert str(tmp_path / "nowhere" / "t10k-images-idx3-ubyte.gz") in str(excinfo.value)


def test_load_fashion_mnist_only_missing_files_listed(fashion_dir):
    directory, _ = fashion_dir
    (directory / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError) as excinfo:
        load_fashion_mnist(directory, subset="test")
    message = str(excinfo.value)
    assert str(directory / "t10k-labels-idx1-ubyte.gz") in message
    assert "t10k-images" not in message
    load_fashion_mnist(directory, subset="train")  # the train files are still there


def test_load_fashion_mnist_rejects_non_fashion_files(tmp_path):
    write(tmp_path / "t10k-images-idx3-ubyte", idx_bytes(np.zeros((2, 8, 8)), 0x08, ">u1"))
    write(tmp_path / "t10k-labels-idx1-ubyte", idx_bytes(np.zeros(2), 0x08, ">u1"))
    with pytest.raises(ValueError, match=r"28x28 uint8 images; found shape \(8, 8\)"):
        load_fashion_mnist(tmp_path, subset="test")
    write(tmp_path / "t10k-images-idx3-ubyte", idx_bytes(np.zeros((2, 28, 28)), 0x08, ">u1"))
    write(tmp_path / "t10k-labels-idx1-ubyte", idx_bytes([3, 10], 0x08, ">u1"))
    with pytest.raises(ValueError, match=r"should lie in 0..9; found 3..10"):
        load_fashion_mnist(tmp_path, subset="test")


@pytest.mark.skipif(
    not os.path.isfile(os.path.join(REAL_HOME, "t10k-images-idx3-ubyte.gz")),
    reason=f"the Fashion-MNIST files of the Debian package dataset-fashion-mnist are not "
           f"installed in {REAL_HOME} (apt-get install dataset-fashion-mnist)")
def test_load_real_fashion_mnist_test_subset():
    X, y = load_fashion_mnist(REAL_HOME, subset="test", return_X_y=True)
    assert X.shape == (10000, 784) and X.dtype == np.float32
    assert X.min() == 0.0 and X.max() == 1.0
    assert 0.2 < X.mean() < 0.4  # mostly dark background, not noise or all-zero
    assert y.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(y), np.full(10, 1000))


# --- mask_labels ----------------------------------------------------------------------------

def labels_10x20():
    return np.random.RandomState(1).permutation(np.repeat(np.arange(10), 20))


@pytest.mark.parametrize("n_per_class", [1, 3, 20])
def test_mask_labels_keeps_exactly_n_per_class(n_per_class):
    y = labels_10x20()
    y_before = y.copy()
    y_partial = mask_labels(y, n_per_class, random_state=0)
    np.testing.assert_array_equal(y, y_before)  # input unchanged
    assert y_partial is not y and y_partial.dtype == y.dtype and y_partial.shape == y.shape
    kept = y_partial != -1
    np.testing.assert_array_equal(np.bincount(y_partial[kept], minlength=10),
                                  np.full(10, n_per_class))
    np.testing.assert_array_equal(y_partial[kept], y[kept])
    assert kept.sum() == 10 * n_per_class


def test_mask_labels_random_state():
    y = labels_10x20()
    a = mask_labels(y, 3, random_state=0)
    np.testing.assert_array_equal(a, mask_labels(y, 3, random_state=0))
    np.testing.assert_array_equal(a, mask_labels(y, 3, random_state=np.random.RandomState(0)))
    assert not np.array_equal(a, mask_labels(y, 3, random_state=1))


def test_mask_labels_does_not_write_into_input_view():
    y = labels_10x20()
    view = y[::2]
    view_before = view.copy()
    mask_labels(view, 2, random_state=0)
    np.testing.assert_array_equal(view, view_before)
    np.testing.assert_array_equal(y[::2], view_before)


def test_mask_labels_existing_unlabeled_stay_and_are_no_class():
    y = np.array([-1, 0, 0, -1, 1, 1, 1, -1, 2, 2])
    y_partial = mask_labels(y, 2, random_state=0)
    assert (y_partial[y == -1] == -1).all()
    np.testing.assert_array_equal(np.bincount(y_partial[y_partial != -1]), [2, 2, 2])
    assert (y_partial == -1).sum() == 4


def test_mask_labels_float_labels_keep_dtype():
    y = np.array([0.5, 0.5, 2.0, 2.0, -1.0])
    y_partial = mask_labels(y, 1, random_state=0)
    assert y_partial.dtype == np.float64
    np.testing.assert_array_equal(np.sort(y_partial), [-1.0, -1.0, -1.0, 0.5, 2.0])


def test_mask_labels_unsigned_labels_become_signed():
    y = np.repeat(np.arange(3, dtype=np.uint8), 4)
    y_partial = mask_labels(y, 1, random_state=0)
    assert y_partial.dtype == np.int64
    assert (y_partial == -1).sum() == 9
    np.testing.assert_array_equal(np.sort(y_partial[y_partial != -1]), [0, 1, 2])


@pytest.mark.parametrize("y", [np.array(["cat", "dog", "cat", "dog", "cat", "-1"]),
                               np.array(["cat", "dog", "cat", "dog", "cat", -1], dtype=object),
                               ["cat", "dog", "cat", "dog", "cat", "-1"]])
def test_mask_labels_string_labels_give_object_array(y):
    y_partial = mask_labels(y, 1, random_state=0)
    assert y_partial.dtype == object
    new = y_partial[:5]
    assert sorted(v for v in new if v != -1) == ["cat", "dog"]
    assert sum(v == -1 and isinstance(v, int) for v in new) == 3
    assert y_partial[5] in (-1, "-1")  # already unlabeled: unchanged
    assert list(np.asarray(y)[:5]) == ["cat", "dog", "cat", "dog", "cat"]


def test_mask_labels_class_too_small():
    y = np.array([0] * 5 + [1] * 2 + [2] * 5 + [7] * 1 + [-1] * 10)
    with pytest.raises(ValueError, match="class 1 has 2, class 7 has 1 labeled") as excinfo:
        mask_labels(y, 3)
    assert "class 0" not in str(excinfo.value) and "class -1" not in str(excinfo.value)
    with pytest.raises(ValueError, match="class 'b' has 1 labeled"):
        mask_labels(["a", "a", "b"], 2)


@pytest.mark.parametrize("n_per_class, error", [(0, ValueError), (-2, ValueError),
                                                (1.0, TypeError), (True, TypeError),
                                                ("1", TypeError), (None, TypeError)])
def test_mask_labels_invalid_n_per_class(n_per_class, error):
    with pytest.raises(error, match="n_per_class must be a positive int"):
        mask_labels(np.array([0, 1, 0, 1]), n_per_class)


def test_mask_labels_accepts_numpy_integer_n():
    y_partial = mask_labels(np.array([0, 1, 0, 1]), np.int64(1), random_state=0)
    assert (y_partial != -1).sum() == 2


@pytest.mark.parametrize("y, match", [(np.zeros((4, 2)), "1-D"),
                                      (np.array([], dtype=int), "no labeled sample"),
                                      (np.full(5, -1), "no labeled sample")])
def test_mask_labels_invalid_y(y, match):
    with pytest.raises(ValueError, match=match):
        mask_labels(y, 1)
