"""Partially labeled targets: which entries are unlabeled, and the classes of the rest."""

import numpy as np
from sklearn.utils.multiclass import check_classification_targets

__all__ = ["UNLABELED", "encode_partial_labels", "unlabeled_mask"]

#: The marker of an unlabeled sample, as in :mod:`sklearn.semi_supervised`.
UNLABELED = -1


def unlabeled_mask(y):
    """Boolean mask of the unlabeled entries of ``y``.

    Numeric ``y``: entries equal to ``-1``. String ``y`` (dtype ``str`` or
    ``bytes``): entries equal to ``"-1"`` (``b"-1"``), which is what ``-1``
    becomes when NumPy builds a string array. Object ``y``: entries equal to ``-1`` or to ``"-1"``. Boolean ``y``
    has no unlabeled entries.
    """
    y = np.asarray(y)
    kind = y.dtype.kind
    if kind in "iuf":
        return y == UNLABELED
    if kind == "U":
        return y == str(UNLABELED)
    if kind == "S":
        return y == str(UNLABELED).encode()
    if kind == "O":
        return np.fromiter((v == UNLABELED or v == str(UNLABELED) for v in y),
                           dtype=bool, count=len(y))
    return np.zeros(len(y), dtype=bool)


def encode_partial_labels(y):
    """Split a partially labeled target into its classes and their indices.

    Parameters
    ----------
    y : ndarray of shape (n_samples,)
        Class labels, with ``-1`` (see :func:`unlabeled_mask`) for unlabeled samples.

    Returns
    -------
    labeled : ndarray of shape (n_samples,), dtype bool
        Which samples carry a label.
    classes : ndarray of shape (n_classes,)
        The sorted distinct labels, the unlabeled marker excluded.
    y_index : ndarray of shape (n_labeled,), dtype int64
        The index in ``classes`` of each labeled sample's label.

    Raises
    ------
    ValueError
        If ``y`` is not a classification target, if no sample is labeled, or
        if the labeled samples hold fewer than two classes.
    """
    labeled = ~unlabeled_mask(y)
    y_labeled = y[labeled]
    if y_labeled.size == 0:
        raise ValueError(
            "y has no labeled sample: every entry is -1, the marker of an unlabeled "
            "sample. At least one labeled sample of each of two classes is needed.")
    check_classification_targets(y_labeled)
    classes = np.unique(y_labeled)
    if len(classes) < 2:
        raise ValueError(
            f"The labeled samples of y hold only one class ({classes[0]}); a classifier "
            "needs labeled samples of at least 2 classes.")
    y_index = np.searchsorted(classes, y_labeled).astype(np.int64)
    return labeled, classes, y_index
