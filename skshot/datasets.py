"""Loaders for IDX image data sets (MNIST, KMNIST, Fashion-MNIST) and label masking.

Nothing here downloads anything: the files are read from a local directory.
Fashion-MNIST is found by default where the Debian/Ubuntu package
``dataset-fashion-mnist`` installs it (``/usr/share/datasets/fashion-mnist``).
"""

import gzip
import math
import numbers
import os
import zlib

import numpy as np
from sklearn.utils import Bunch, check_random_state

from ._labels import UNLABELED, unlabeled_mask

__all__ = ["load_fashion_mnist", "load_idx_dataset", "mask_labels", "read_idx"]

#: Where the Debian/Ubuntu package ``dataset-fashion-mnist`` installs the files.
DEFAULT_FASHION_MNIST_HOME = "/usr/share/datasets/fashion-mnist"

#: Environment variable naming a directory that holds the Fashion-MNIST files.
FASHION_MNIST_ENV = "SKSHOT_FASHION_MNIST"

#: The file names shared by MNIST, KMNIST and Fashion-MNIST, per subset, as
#: ``(images, labels)``; each may also be stored with a ``.gz`` suffix.
MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")

# IDX type code -> big-endian NumPy dtype of the stored values.
_IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_GZIP_MAGIC = b"\x1f\x8b"

_FASHION_MNIST_DESCR = """\
Fashion-MNIST
=============

Zalando's article images: 70,000 grayscale images of 28x28 pixels, split
into a training set of 60,000 and a test set of 10,000 examples, each
labeled with one of 10 classes (7,000 images per class: 6,000 train and
1,000 test). It is meant as a drop-in replacement of MNIST, with the same
image size, split and file format.

=================  =================================================
Classes            10: T-shirt/top, Trouser, Pullover, Dress, Coat,
                   Sandal, Shirt, Sneaker, Bag, Ankle boot
Samples            60,000 (train) + 10,000 (test)
Dimensionality     784 (28x28)
Features           pixel intensities, 0-255 (uint8), or [0, 1] scaled
License            MIT, Copyright (c) 2017 Zalando SE
=================  =================================================

References
----------
Han Xiao, Kashif Rasul, Roland Vollgraf. Fashion-MNIST: a Novel Image
Dataset for Benchmarking Machine Learning Algorithms. arXiv:1708.07747, 2017.
https://github.com/zalandoresearch/fashion-mnist
"""


def read_idx(path):
    """Read an IDX file, plain or gzip-compressed, into a NumPy array.

    IDX is the format of the MNIST family of data sets: a 4-byte magic
    number (two zero bytes, a type code and the number of dimensions), the
    size of each dimension as a big-endian unsigned 32-bit integer, then the
    values in C order, big-endian. Supported type codes are ``0x08``
    (unsigned byte), ``0x09`` (signed byte), ``0x0B`` (16-bit int), ``0x0C``
    (32-bit int), ``0x0D`` (32-bit float) and ``0x0E`` (64-bit float).

    Gzip compression is recognised by the file's first bytes, whatever its
    name, so ``train-images-idx3-ubyte.gz`` and a compressed file without the
    suffix are both read.

    Parameters
    ----------
    path : str or path-like
        The IDX file.

    Returns
    -------
    array : ndarray
        A writable array of the shape stored in the file, of dtype
        ``uint8``, ``int8``, ``int16``, ``int32``, ``float32`` or ``float64``
        in the machine's native byte order.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not a valid IDX file: a bad magic number, an unknown
        type code, a truncated header, a data size that does not match the
        dimensions (a truncated file or trailing bytes), or a corrupt gzip
        stream. The message names the file.

    Examples
    --------
    >>> import os, struct, tempfile
    >>> from skshot.datasets import read_idx
    >>> header = struct.pack(">BBBBI", 0, 0, 0x08, 1, 3)  # ubyte, 1-D, 3 values
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = os.path.join(tmp, "labels-idx1-ubyte")
    ...     with open(path, "wb") as f:
    ...         _ = f.write(header + bytes([7, 2, 1]))
    ...     labels = read_idx(path)
    >>> labels
    array([7, 2, 1], dtype=uint8)
    """
    path = os.fspath(path)
    with open(path, "rb") as raw:
        compressed = raw.read(2) == _GZIP_MAGIC
        raw.seek(0)
        if compressed:
            try:
                with gzip.GzipFile(fileobj=raw, mode="rb") as f:
                    content = f.read()
            except (OSError, EOFError, zlib.error) as exc:
                raise ValueError(
                    f"Cannot decompress the gzip-compressed IDX file {path!r}: {exc}") from exc
        else:
            content = raw.read()
    return _parse_idx(content, path, compressed)


def _parse_idx(content, path, compressed):
    kind = "gzip-compressed IDX file" if compressed else "IDX file"
    if len(content) < 4:
        raise ValueError(f"The {kind} {path!r} is truncated: it holds {len(content)} bytes, "
                         "fewer than the 4 bytes of the magic number.")
    zero0, zero1, code, ndim = content[:4]
    if zero0 != 0 or zero1 != 0:
        after = " (after gzip decompression)" if compressed else ""
        raise ValueError(f"{path!r} is not an IDX file{after}: bad magic number "
                         f"0x{content[:4].hex()} "
                         "(an IDX file starts with two zero bytes, a type code and the "
                         "number of dimensions).")
    if code not in _IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in _IDX_DTYPES)
        raise ValueError(f"The {kind} {path!r} has the unknown type code 0x{code:02X} "
                         f"in its magic number; known codes: {known}.")
    header_size = 4 + 4 * ndim
    if len(content) < header_size:
        raise ValueError(f"The {kind} {path!r} is truncated: its header announces {ndim} "
                         f"dimensions ({header_size} header bytes) but the file holds "
                         f"{len(content)} bytes.")
    shape = tuple(int(s) for s in np.frombuffer(content, dtype=">u4", count=ndim, offset=4))
    dtype = _IDX_DTYPES[code]
    expected = math.prod(shape) * dtype.itemsize
    found = len(content) - header_size
    if found != expected:
        problem = "truncated" if found < expected else "longer than its header says"
        raise ValueError(f"The {kind} {path!r} is {problem}: shape {shape} of {dtype.name} "
                         f"needs {expected} data bytes, found {found}.")
    data = np.frombuffer(content, dtype=dtype, offset=header_size).reshape(shape)
    # astype copies, so the result is writable and owns its memory.
    return data.astype(dtype.newbyteorder("="))


def _candidates(directory, name):
    """Paths a file ``name`` may be stored at: as named, and gzip-suffixed or not."""
    names = [name, name[:-3]] if name.endswith(".gz") else [name, name + ".gz"]
    return [os.path.join(directory, n) for n in names]


def _resolve(directory, names):
    """Existing path of each name, and the paths tried for the names not found."""
    found, tried = [], []
    for name in names:
        paths = _candidates(directory, name)
        hit = next((p for p in paths if os.path.isfile(p)), None)
        if hit is None:
            tried.extend(paths)
        found.append(hit)
    return found, tried


def _subsets(subset, files):
    if subset == "all":
        return list(files)
    if subset not in files:
        allowed = ", ".join(repr(s) for s in [*files, "all"])
        raise ValueError(f"subset must be one of {allowed}; got {subset!r}.")
    return [subset]


def _load_pairs(data_home, subset, files, hint=""):
    data_home = os.path.expanduser(os.fspath(data_home))
    subsets = _subsets(subset, files)
    names = [name for s in subsets for name in files[s]]
    paths, tried = _resolve(data_home, names)
    if tried:
        looked = "\n".join(f"  {p}" for p in tried)
        raise FileNotFoundError(
            f"Missing IDX file(s) for subset {subset!r} in {data_home!r}; looked for:\n"
            f"{looked}{hint}")
    images, labels = [], []
    for image_path, label_path in zip(paths[::2], paths[1::2]):
        x, y = read_idx(image_path), read_idx(label_path)
        if y.ndim != 1 or x.ndim < 1 or len(x) != len(y):
            raise ValueError(f"The images {image_path!r} (shape {x.shape}) and labels "
                             f"{label_path!r} (shape {y.shape}) do not pair up: expected "
                             "1-D labels, one per image.")
        images.append(x)
        labels.append(y)
    if len(images) == 1:
        return images[0], labels[0]
    return np.concatenate(images), np.concatenate(labels)


def load_idx_dataset(data_home, *, subset="train", files=None):
    """Load the images and labels of an IDX data set such as MNIST.

    MNIST, KMNIST and Fashion-MNIST store each subset as a pair of IDX files
    with the same names (see ``files``), so a directory holding any of them
    is loaded the same way. Each file may be plain or gzip-compressed and
    stored with or without a ``.gz`` suffix.

    Parameters
    ----------
    data_home : str or path-like
        The directory holding the files.
    subset : str, default="train"
        A key of ``files`` (``"train"`` or ``"test"`` by default), or
        ``"all"`` for every subset concatenated in the order of ``files``
        (train, then test, by default).
    files : dict of str to (str, str), default=None
        The ``(images, labels)`` file names per subset. ``None`` uses the
        MNIST names: ``{"train": ("train-images-idx3-ubyte",
        "train-labels-idx1-ubyte"), "test": ("t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte")}``.

    Returns
    -------
    images : ndarray of shape (n_samples, ...)
        The images as stored (``uint8`` of shape ``(n_samples, 28, 28)`` for
        the MNIST family), in native byte order.
    labels : ndarray of shape (n_samples,)
        The labels as stored (``uint8`` for the MNIST family).

    Raises
    ------
    FileNotFoundError
        If a file is missing; the message lists every path looked at.
    ValueError
        If ``subset`` is unknown, a file is not a valid IDX file (see
        :func:`read_idx`), or images and labels differ in number.

    See Also
    --------
    load_fashion_mnist : Fashion-MNIST as scaled features and int64 targets.

    Examples
    --------
    >>> from skshot.datasets import load_idx_dataset
    >>> images, labels = load_idx_dataset("~/data/mnist", subset="test")  # doctest: +SKIP
    >>> images.shape, labels.shape  # doctest: +SKIP
    ((10000, 28, 28), (10000,))
    """
    return _load_pairs(data_home, subset, MNIST_FILES if files is None else files)


def _fashion_mnist_home(data_home):
    """The directory to read, and how it was chosen."""
    if data_home is not None:
        return data_home, "the data_home parameter"
    env = os.environ.get(FASHION_MNIST_ENV)
    if env:
        return env, f"the environment variable {FASHION_MNIST_ENV}"
    return DEFAULT_FASHION_MNIST_HOME, "the default location"


def load_fashion_mnist(data_home=None, *, subset="train", return_X_y=False, flatten=True,
                       scale=True):
    """Load the Fashion-MNIST data set from local IDX files.

    =================  ============================
    Classes                                      10
    Samples per class  6,000 train + 1,000 test
    Samples total      60,000 train + 10,000 test
    Dimensionality     784 (28x28)
    Features           [0, 1] float32, or 0-255
    =================  ============================

    Nothing is downloaded. The directory read is, in order of precedence:
    ``data_home`` if given, else the environment variable
    ``SKSHOT_FASHION_MNIST`` if set and not empty, else
    ``/usr/share/datasets/fashion-mnist``, where the Debian/Ubuntu package
    ``dataset-fashion-mnist`` installs the files (``apt-get install
    dataset-fashion-mnist``). Only that one directory is read. It must hold
    ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte`` (the ``t10k``
    files are the test subset), each with or without a ``.gz`` suffix, as
    distributed by Zalando Research.

    Parameters
    ----------
    data_home : str or path-like, default=None
        The directory holding the files; see above for the default.
    subset : {"train", "test", "all"}, default="train"
        The 60,000 training images, the 10,000 test images, or all 70,000,
        training images first.
    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.
    flatten : bool, default=True
        If True, each image is a row of 784 features; if False, ``data`` has
        shape ``(n_samples, 28, 28)``.
    scale : bool, default=True
        If True, ``data`` is float32, the pixel intensities divided by 255 so
        they lie in [0, 1] (suited to a Bernoulli likelihood); if False, the
        raw ``uint8`` intensities 0-255.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object, with the following attributes.

        data : ndarray of shape (n_samples, 784) or (n_samples, 28, 28)
            The images, float32 in [0, 1] if ``scale`` else uint8.
        target : ndarray of shape (n_samples,), dtype int64
            The class index of each image, 0 to 9.
        target_names : ndarray of shape (10,)
            The class names: T-shirt/top, Trouser, Pullover, Dress, Coat,
            Sandal, Shirt, Sneaker, Bag, Ankle boot.
        DESCR : str
            A description of the data set.

    (data, target) : tuple if ``return_X_y`` is True
        The two arrays described above.

    Raises
    ------
    FileNotFoundError
        If a file is missing; the message lists every path looked at and
        how to install the files or point to them.
    ValueError
        If ``subset`` is unknown or the files are not Fashion-MNIST-like
        (28x28 ``uint8`` images, labels 0 to 9).

    See Also
    --------
    load_idx_dataset : The raw arrays of any MNIST-like data set.
    mask_labels : Hide all but a few labels per class.

    Examples
    --------
    >>> from skshot.datasets import load_fashion_mnist
    >>> X, y = load_fashion_mnist(subset="test", return_X_y=True)  # doctest: +SKIP
    >>> X.shape, X.dtype, y.shape, y.dtype  # doctest: +SKIP
    ((10000, 784), dtype('float32'), (10000,), dtype('int64'))
    """
    home, source = _fashion_mnist_home(data_home)
    hint = (f"\nThe directory came from {source}. Install the files with "
            "`apt-get install dataset-fashion-mnist` (into "
            f"{DEFAULT_FASHION_MNIST_HOME}), or point to a directory holding them with "
            f"the {FASHION_MNIST_ENV} environment variable or the data_home parameter.")
    images, labels = _load_pairs(home, subset, MNIST_FILES, hint=hint)
    if images.dtype != np.uint8 or images.shape[1:] != (28, 28):
        raise ValueError(f"The Fashion-MNIST images in {os.fspath(home)!r} should be 28x28 "
                         f"uint8 images; found shape {images.shape[1:]} of {images.dtype}.")
    if labels.size and (labels.min() < 0 or labels.max() >= len(FASHION_MNIST_CLASSES)):
        raise ValueError(f"The Fashion-MNIST labels in {os.fspath(home)!r} should lie in "
                         f"0..9; found {labels.min()}..{labels.max()}.")
    X = images.reshape(len(images), -1) if flatten else images
    if scale:
        X = X.astype(np.float32) / np.float32(255)
    y = labels.astype(np.int64)
    if return_X_y:
        return X, y
    return Bunch(data=X, target=y, target_names=np.array(FASHION_MNIST_CLASSES),
                 DESCR=_FASHION_MNIST_DESCR)


def mask_labels(y, n_per_class, random_state=None):
    """Hide all but ``n_per_class`` labels of each class, for semi-supervised learning.

    Draws, per class and without replacement, exactly ``n_per_class`` samples
    whose label is kept, and marks every other sample unlabeled with ``-1``
    (the convention of :mod:`sklearn.semi_supervised` and
    :class:`skshot.ShotVAEClassifier`). ``y`` itself is never modified.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Class labels. Entries already unlabeled (``-1``; for string labels
        also ``"-1"``) stay unlabeled and are not counted as a class.
    n_per_class : int
        The number of labels kept in each class; at least 1.
    random_state : int, RandomState instance or None, default=None
        Seeds the draw; an int makes it reproducible.

    Returns
    -------
    y_partial : ndarray of shape (n_samples,)
        A copy of ``y`` with the hidden labels set to ``-1``. Signed integer
        and float labels keep their dtype; unsigned integer labels (such as
        the ``uint8`` labels of IDX files) become int64, which can hold
        ``-1``; string and boolean labels become an object array holding
        the kept labels and the integer ``-1``.

    Raises
    ------
    TypeError
        If ``n_per_class`` is not an integer.
    ValueError
        If ``n_per_class`` is below 1, ``y`` is not 1-D, ``y`` has no
        labeled sample, or a class has fewer than ``n_per_class`` labeled
        samples (the message names the classes).

    Examples
    --------
    >>> import numpy as np
    >>> from skshot.datasets import mask_labels
    >>> y = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2])
    >>> y_partial = mask_labels(y, 1, random_state=0)
    >>> y_partial.shape, int((y_partial == -1).sum())
    ((9,), 6)
    >>> np.unique(y_partial[y_partial != -1])
    array([0, 1, 2])
    """
    if isinstance(n_per_class, bool) or not isinstance(n_per_class, numbers.Integral):
        raise TypeError(f"n_per_class must be a positive int; got {n_per_class!r}.")
    if n_per_class < 1:
        raise ValueError(f"n_per_class must be a positive int; got {n_per_class!r}.")
    n_per_class = int(n_per_class)
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D; got an array of shape {y.shape}.")

    labeled = np.flatnonzero(~unlabeled_mask(y))
    if labeled.size == 0:
        raise ValueError("y has no labeled sample: it is empty or every entry is -1.")
    classes, class_of = np.unique(y[labeled], return_inverse=True)
    counts = np.bincount(class_of, minlength=len(classes))
    short = counts < n_per_class
    if short.any():
        listed = ", ".join(f"class {c!r} has {n}" for c, n in zip(classes[short].tolist(), counts[short]))
        raise ValueError(f"Cannot keep n_per_class={n_per_class} labels per class: {listed} "
                         "labeled sample(s).")

    rng = check_random_state(random_state)
    keep = np.zeros(len(y), dtype=bool)
    for k in range(len(classes)):
        keep[rng.choice(labeled[class_of == k], n_per_class, replace=False)] = True
    hide = np.zeros(len(y), dtype=bool)
    hide[labeled] = True
    hide &= ~keep

    if y.dtype.kind in "iuf":
        y_partial = y.astype(np.int64) if y.dtype.kind == "u" else y.copy()
    else:
        y_partial = y.astype(object)
    y_partial[hide] = UNLABELED
    return y_partial
