"""Saving a fitted classifier as plain data, and loading it without running code.

:func:`save` writes a fitted :class:`~skshot.ShotVAEClassifier` to one file,
a zip archive that holds

``metadata.json``
    The file format and its version, the constructor parameters, the fitted
    attributes (``classes_``, ``n_features_in_``, ``input_shape_``,
    ``transduction_``, ...), the training history and the optimizer's
    settings, as JSON, and a SHA-256 digest of each of the other two members.
``model.safetensors``
    The module's weights and buffers and the optimizer's state, as
    `safetensors <https://huggingface.co/docs/safetensors>`_.
``attributes.safetensors``
    The numeric arrays among the fitted attributes (e.g.
    ``label_distributions_``), as safetensors.

:func:`load` reads it with :mod:`zipfile`, :mod:`json` and safetensors only,
never with :mod:`pickle` or :func:`torch.load`, so opening a file from an
untrusted source runs no code of that file. It checks everything it reads and
raises a ``ValueError`` that names the problem for a file that is not such an
archive, is truncated or altered, or was written in a newer format.

Parameters that are not plain data (a callable ``backbone``, ``callbacks``,
an ``accelerator``, a ``RandomState`` as ``random_state``) cannot be stored:
the file records only that they were set, and :func:`load` asks the caller to
pass them again.
"""

import hashlib
import json
import os
import re
import uuid
import warnings
import zipfile
import zlib
from numbers import Integral

import numpy as np
import safetensors
import safetensors.numpy
import safetensors.torch
import torch
from sklearn.utils.validation import check_is_fitted
from skorch.exceptions import DeviceWarning
from skorch.history import History

from . import __version__
from ._device import check_device
from .classifier import ShotVAEClassifier

__all__ = ["ADDED_PARAMETERS", "FORMAT_VERSION", "load", "save"]

#: Version of the file format that :func:`save` writes; :func:`load` reads it
#: and every older one, and refuses newer ones.
FORMAT_VERSION = 1
#: Parameters added to :class:`~skshot.ShotVAEClassifier` after files were
#: written without them, each with the value that does what the estimator did
#: before it existed; :func:`load` gives a file that does not name one this value.
ADDED_PARAMETERS = {"ot_drop_intrusions": False, "ot_intrusion_neighbors": 1,
                    "vote_neighbors": 0, "vote_components": None, "predict_shift": 0}
_FORMAT = "skshot.ShotVAEClassifier"
_METADATA = "metadata.json"
_WEIGHTS = "model.safetensors"
_ARRAYS = "attributes.safetensors"
_ATTRIBUTE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*_")
#: dtype kinds of arrays stored in ``attributes.safetensors``: bool, ints, floats.
_NUMERIC_KINDS = "biuf"


class _NotPlain(Exception):
    """A value that JSON cannot hold as plain data."""


# ---------------------------------------------------------------------- save
def save(estimator, path):
    """Write a fitted classifier to ``path`` as plain data: JSON and safetensors.

    The file can be opened with :func:`load` without running any code, unlike
    a pickle; use it to share a model, to open a model from a source you do
    not fully trust, and to keep a model for longer than one version of the
    software stack (see the user guide's :ref:`saving`).

    Stored: every constructor parameter that is plain data (numbers,
    strings, booleans, None, and tuples or lists of them), every fitted
    attribute (``classes_`` with its dtype, ``n_features_in_``,
    ``feature_names_in_``, ``likelihood_``, ``input_shape_``, ``device_``,
    ``n_iter_``, ``transduction_``, ``label_distributions_``, ``X_``, ...),
    the module's weights and buffers, the training history and the
    optimizer's state. ``X_``, the training samples whose labels vote with
    ``vote_neighbors > 0``, makes the file about as large as the training
    data in float32 (``vote_components=m`` keeps ``m`` coordinates per sample
    instead); a model fitted with ``vote_neighbors=0`` has none. The
    loaded classifier therefore predicts as the saved one and a fit with
    ``warm_start=True`` continues its training. Not stored:
    parameters that are not plain data (a callable ``backbone``,
    ``callbacks``, an ``accelerator``, a ``RandomState`` instance as
    ``random_state``); the file records their names and :func:`load` needs
    them again.

    Parameters
    ----------
    estimator : ShotVAEClassifier
        A fitted classifier.
    path : str or os.PathLike
        The file to write (conventionally ending in ``.skshot``). It is
        written to a temporary file first and then renamed, so an existing
        file is replaced only by a complete one.

    Raises
    ------
    TypeError
        If ``estimator`` is not a :class:`~skshot.ShotVAEClassifier`.
    sklearn.exceptions.NotFittedError
        If it is not fitted.
    ValueError
        If a fitted attribute or the optimizer's settings hold a value that
        is not plain data; the message names it.

    See Also
    --------
    load : Read the file back.
    """
    if type(estimator) is not ShotVAEClassifier:
        raise TypeError(f"save stores a ShotVAEClassifier, got {type(estimator).__name__}.")
    check_is_fitted(estimator)
    net = estimator.net_

    params, external = {}, {}
    for name, value in estimator.get_params(deep=False).items():
        if isinstance(value, torch.device):
            value = str(value)
        try:
            params[name] = _plain(value)
        except _NotPlain:
            external[name] = _describe(value)

    arrays, attributes = {}, {}
    for name, value in vars(estimator).items():
        if name == "net_" or not _ATTRIBUTE_NAME.fullmatch(name):
            continue
        attributes[name] = _encode_attribute(name, value, arrays)

    weights = {f"module.{key}": _detached(tensor)
               for key, tensor in net.module_.state_dict().items()}
    if getattr(net, "teacher_", None) is not None:  # the moving average of ot_target_ema
        weights.update({f"teacher.{key}": _detached(tensor)
                        for key, tensor in net.teacher_.state_dict().items()})
    optimizer = net.optimizer_.state_dict()
    optimizer_values = {}
    for param_id, state in optimizer["state"].items():
        for key, value in state.items():
            if isinstance(value, torch.Tensor):
                weights[f"optimizer.{param_id}.{key}"] = _detached(value)
            else:
                optimizer_values.setdefault(str(param_id), {})[key] = _plain_or_raise(
                    value, f"the optimizer's state {key!r}")
    weights_bytes = safetensors.torch.save(weights)
    arrays_bytes = safetensors.numpy.save(arrays)

    metadata = {
        "format": _FORMAT,
        "format_version": FORMAT_VERSION,
        "skshot_version": __version__,
        "params": params,
        "external_params": external,
        "attributes": attributes,
        "net": {
            "seed": int(net.seed),
            "history": _plain_or_raise(list(net.history), "the training history"),
            "optimizer_param_groups": _plain_or_raise(optimizer["param_groups"],
                                                      "the optimizer's param_groups"),
            "optimizer_state": optimizer_values,
        },
        "sha256": {_WEIGHTS: _sha256(weights_bytes), _ARRAYS: _sha256(arrays_bytes)},
    }
    metadata_bytes = json.dumps(metadata, indent=1, allow_nan=True).encode("utf-8")

    path = os.fspath(path)
    tmp = f"{path}.{uuid.uuid4().hex[:12]}.tmp"
    try:
        with open(tmp, "xb") as file, zipfile.ZipFile(file, "w") as archive:
            archive.writestr(_METADATA, metadata_bytes, compress_type=zipfile.ZIP_DEFLATED)
            archive.writestr(_WEIGHTS, weights_bytes, compress_type=zipfile.ZIP_STORED)
            archive.writestr(_ARRAYS, arrays_bytes, compress_type=zipfile.ZIP_STORED)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _plain(value):
    """``value`` as JSON data; tuples are tagged so that they load as tuples."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (np.bool_, np.integer, np.floating)) or (
            isinstance(value, torch.Tensor) and value.ndim == 0):
        return value.item()
    if isinstance(value, Integral):
        return int(value)
    if isinstance(value, float):
        return value
    if isinstance(value, tuple):
        return {"__tuple__": [_plain(v) for v in value]}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value) \
            and not ({"__tuple__", "__array__"} & set(value)):
        return {k: _plain(v) for k, v in value.items()}
    raise _NotPlain(value)


def _plain_or_raise(value, what):
    try:
        return _plain(value)
    except _NotPlain as exc:
        raise ValueError(f"{what} holds {_describe(exc.args[0])}, which a file of plain data "
                         "cannot store.") from None


def _describe(value):
    if callable(value) and hasattr(value, "__qualname__"):
        return f"{getattr(value, '__module__', '?')}.{value.__qualname__}"
    return f"a {type(value).__module__}.{type(value).__qualname__} object"


def _encode_attribute(name, value, arrays):
    if isinstance(value, np.ndarray):
        kind = value.dtype.kind
        if kind in _NUMERIC_KINDS:
            arrays[name] = np.ascontiguousarray(value.astype(value.dtype.newbyteorder("=")))
            return {"__array__": "numeric", "dtype": arrays[name].dtype.str}
        if kind in "UO":
            try:
                items = [_plain(v) for v in value.ravel().tolist()]
            except _NotPlain:
                items = None
            if items is not None and all(v is None or isinstance(v, (bool, int, float, str))
                                         for v in items):
                return {"__array__": "json", "dtype": "O" if kind == "O" else "U",
                        "shape": list(value.shape), "items": items}
        raise ValueError(f"The fitted attribute {name} is an array of dtype {value.dtype}, "
                         "which a file of plain data cannot store (numbers, strings and "
                         "object arrays of strings and numbers can be stored).")
    return _plain_or_raise(value, f"The fitted attribute {name}")


def _detached(tensor):
    # A copy of its own: tensors that share memory cannot be written by safetensors.
    return tensor.detach().to("cpu", copy=True).contiguous()


def _sha256(data):
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------------- load
def load(path, *, device=None, **params):
    """Read a classifier written by :func:`save`, without unpickling anything.

    The file is read with :mod:`zipfile`, :mod:`json` and safetensors only;
    neither :mod:`pickle` nor :func:`torch.load` is called, so loading runs
    no code from the file. The network is rebuilt from the stored parameters
    (without training), its weights are loaded strictly (every tensor must be
    present and of the right shape), and the training history and the
    optimizer's state are restored: the loaded classifier predicts as the
    saved one did, and with ``warm_start=True`` a further ``fit`` continues
    the training. As after every training step, weights of magnitude at most
    about 1.1e-19 and subnormal entries of the optimizer's state are set to
    zero on a CPU (:mod:`skshot.numerics`): a file written by an earlier
    skshot, before training did so, can hold them, and they slow the
    predictions down without changing them.

    Parameters
    ----------
    path : str or os.PathLike
        A file written by :func:`save`.
    device : str, default=None
        Where to place the model, e.g. ``"cpu"`` (checked as ``fit`` checks
        the ``device`` parameter). None places it on the device it was
        fitted on (``device_``) when this machine has it, and on the CPU
        otherwise, with a :class:`skorch.exceptions.DeviceWarning`; so a
        model fitted on a GPU loads on a machine without one. The ``device``
        parameter keeps its saved value; ``device_`` says where the model is.
    **params
        The parameters that :func:`save` could not store, by name: a
        callable ``backbone`` (the same function, building the same
        networks), ``callbacks`` (None is fine for prediction) and
        ``random_state``. ``accelerator`` must be None: the loaded model is
        placed on ``device``. The names the file needs are in the error
        raised when one is missing.

    Returns
    -------
    estimator : ShotVAEClassifier
        The fitted classifier.

    Raises
    ------
    ValueError
        If the file is not a model file of skshot (not a zip archive, or one
        without the expected members), if it is truncated or altered (a
        digest, a type, a key, a shape or a value does not match), if it was
        written in a newer format than this version reads, if a parameter it
        needs is not passed, or if ``device`` cannot be used here.

    See Also
    --------
    save : Write the file.
    """
    path = os.fspath(path)
    metadata, weights_bytes, arrays_bytes = _read_archive(path)
    version = _get(metadata, "format_version", int, "metadata.json")
    if version > FORMAT_VERSION:
        raise ValueError(
            f"{path} is in file format {version}, written by a newer skshot "
            f"({metadata.get('skshot_version', 'unknown version')!s}); this skshot "
            f"({__version__}) reads formats up to {FORMAT_VERSION}. Upgrade skshot to load it.")
    if version < 1:
        raise ValueError(f"{path}: format_version must be a positive integer, got {version}.")
    for name, data in ((_WEIGHTS, weights_bytes), (_ARRAYS, arrays_bytes)):
        expected = _get(_get(metadata, "sha256", dict, "metadata.json"), name, str,
                        "metadata.json's sha256")
        if _sha256(data) != expected:
            raise ValueError(f"{path}: {name} does not match its SHA-256 digest in "
                             "metadata.json; the file was altered or damaged.")

    estimator = _build_estimator(path, metadata, params)
    attributes = _decode_attributes(path, metadata, arrays_bytes)
    # a file written before propagation_features_ existed: the graph its fit used
    attributes.setdefault("propagation_features_", "network" if estimator.propagation_features
                          == "auto" else estimator.propagation_features)
    if "ot_intrusion_neighbors_" not in attributes:
        # a file written before ot_intrusion_neighbors_ existed, when the parameter was an int
        if estimator.ot_intrusion_neighbors == "auto":
            raise ValueError("The model file is damaged: metadata.json lacks the fitted "
                             "attribute 'ot_intrusion_neighbors_', which "
                             "ot_intrusion_neighbors='auto' needs.")
        attributes["ot_intrusion_neighbors_"] = estimator.ot_intrusion_neighbors
    net_meta = _get(metadata, "net", dict, "metadata.json")
    try:
        weights = safetensors.torch.load(weights_bytes)
    except safetensors.SafetensorError as exc:
        raise ValueError(f"{path}: {_WEIGHTS} cannot be read: {exc}") from None

    device = _choose_device(estimator, attributes, device)
    # a file written before beta="auto" holds no beta_: its beta is the number its fit used
    attributes.setdefault("beta_", estimator._resolve_beta(_fitted_backbone(estimator, attributes)))
    net = _rebuild_net(path, estimator, attributes, net_meta, weights, device)
    # a file written before the "auto" backbone, augmentation and precision: what its fit used
    backbone, augmentation, _ = estimator._resolve_image_settings(attributes["input_shape_"],
                                                                  device)
    attributes.setdefault("backbone_", backbone if isinstance(backbone, str) else "callable")
    attributes.setdefault("augmentation_", augmentation)
    attributes.setdefault("mixed_precision_", estimator.mixed_precision)
    for name, value in attributes.items():
        setattr(estimator, name, value)
    estimator.net_ = net
    estimator.device_ = str(net.compute_device)
    return estimator


def _read_archive(path):
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            missing = [n for n in (_METADATA, _WEIGHTS, _ARRAYS) if n not in names]
            if missing:
                raise ValueError(f"{path} is not a model file of skshot: the archive lacks "
                                 f"{', '.join(missing)}.")
            members = [archive.read(n) for n in (_METADATA, _WEIGHTS, _ARRAYS)]
    except zipfile.BadZipFile as exc:
        raise ValueError(f"{path} is not a model file of skshot, or it is truncated or "
                         f"damaged: it cannot be read as a zip archive ({exc}).") from None
    except (EOFError, zlib.error) as exc:
        raise ValueError(f"{path} is truncated or damaged: {exc!r}.") from None
    try:
        metadata = json.loads(members[0].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: metadata.json is not valid JSON ({exc}).") from None
    if not isinstance(metadata, dict) or metadata.get("format") != _FORMAT:
        raise ValueError(f"{path} is not a model file of skshot: metadata.json does not "
                         f"declare the format {_FORMAT!r}.")
    return metadata, members[1], members[2]


def _get(mapping, key, kind, where):
    """``mapping[key]``, checked to be of type ``kind``; a ValueError naming it otherwise."""
    if key not in mapping:
        raise ValueError(f"The model file is damaged: {where} lacks {key!r}.")
    value = mapping[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise ValueError(f"The model file is damaged: {key!r} of {where} must be of type "
                         f"{names}, got {type(value).__name__} ({value!r:.60}).")
    return value


def _unplain(value, where):
    """Inverse of :func:`_plain`: tagged tuples back to tuples."""
    if isinstance(value, list):
        return [_unplain(v, where) for v in value]
    if isinstance(value, dict):
        if "__tuple__" in value:
            return tuple(_unplain(v, where) for v in _get(value, "__tuple__", list, where))
        return {k: _unplain(v, where) for k, v in value.items()}
    return value


def _build_estimator(path, metadata, given):
    stored = _get(metadata, "params", dict, "metadata.json")
    external = _get(metadata, "external_params", dict, "metadata.json")
    known = set(ShotVAEClassifier().get_params(deep=False))
    unknown = sorted((set(stored) | set(external)) - known)
    if unknown:
        raise ValueError(f"{path} sets parameters this version of skshot does not know: "
                         f"{', '.join(unknown)}.")
    missing = {name: what for name, what in external.items() if name not in given}
    if missing:
        needed = "; ".join(f"{name} (was {what})" for name, what in sorted(missing.items()))
        example = ", ".join(f"{name}=..." for name in sorted(missing))
        raise ValueError(
            f"{path} was saved without parameters that are not plain data, which load needs "
            f"again: {needed}. Pass them, e.g. skshot.load(path, {example}); callbacks=None "
            "is fine for prediction.")
    extra = sorted(set(given) - set(external))
    if extra:
        raise ValueError(
            f"load takes only the parameters that the file could not store "
            f"({', '.join(sorted(external)) or 'none here'}), got {', '.join(extra)}; set "
            "the others with set_params after loading.")
    if given.get("accelerator") is not None:
        raise ValueError("load places the model on `device`; pass accelerator=None (set "
                         "it with set_params, then fit anew, to train with an accelerator).")
    params = {name: _unplain(value, f"parameter {name}") for name, value in stored.items()}
    # a parameter the file does not name did not exist yet: its fit ran as ADDED_PARAMETERS says
    estimator = ShotVAEClassifier(**{**ADDED_PARAMETERS, **params}, **given)
    try:
        estimator._validate_params()
        estimator._check_hidden_sizes()
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{path} holds an invalid parameter: {exc}") from None
    return estimator


def _decode_attributes(path, metadata, arrays_bytes):
    stored = _get(metadata, "attributes", dict, "metadata.json")
    try:
        arrays = safetensors.numpy.load(arrays_bytes)
    except safetensors.SafetensorError as exc:
        raise ValueError(f"{path}: {_ARRAYS} cannot be read: {exc}") from None
    attributes = {}
    for name, value in stored.items():
        where = f"the fitted attribute {name}"
        if not _ATTRIBUTE_NAME.fullmatch(name) or hasattr(ShotVAEClassifier, name) \
                or name == "net_":
            raise ValueError(f"{path} holds an unexpected fitted attribute {name!r}.")
        if isinstance(value, dict) and "__array__" in value:
            attributes[name] = _decode_array(path, name, value, arrays)
        else:
            attributes[name] = _unplain(value, where)

    for name in ("classes_", "n_features_in_", "input_shape_", "likelihood_", "n_iter_"):
        if name not in attributes:
            raise ValueError(f"The model file is damaged: metadata.json lacks the fitted "
                             f"attribute {name!r}.")
    classes = attributes["classes_"]
    if not isinstance(classes, np.ndarray) or classes.ndim != 1 or len(classes) < 2:
        raise ValueError("The model file is damaged: classes_ must be a 1-D array of at least "
                         f"2 classes, got {classes!r:.80}.")
    shape = attributes["input_shape_"]
    if not isinstance(shape, tuple) or len(shape) not in (1, 3) or not all(
            isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in shape):
        raise ValueError("The model file is damaged: input_shape_ must be a tuple of 1 or 3 "
                         f"positive integers, got {shape!r:.80}.")
    if attributes["n_features_in_"] != int(np.prod(shape)):
        raise ValueError(f"The model file is damaged: n_features_in_ "
                         f"({attributes['n_features_in_']!r:.40}) differs from the size of "
                         f"input_shape_ {shape}.")
    if attributes["likelihood_"] not in ("bernoulli", "gaussian"):
        raise ValueError("The model file is damaged: likelihood_ must be 'bernoulli' or "
                         f"'gaussian', got {attributes['likelihood_']!r:.40}.")
    graph = attributes.get("propagation_features_")  # absent in files of earlier versions
    if graph is not None and graph not in ("network", "input", "both"):
        raise ValueError("The model file is damaged: propagation_features_ must be "
                         f"'network', 'input' or 'both', got {graph!r:.40}.")
    neighbors = attributes.get("ot_intrusion_neighbors_", 1)  # absent in earlier files
    if not isinstance(neighbors, int) or isinstance(neighbors, bool) or neighbors < 1:
        raise ValueError("The model file is damaged: ot_intrusion_neighbors_ must be a "
                         f"positive integer, got {neighbors!r:.40}.")
    # X_, vote_axes_ and vote_mean_ are absent in files written before they existed
    samples = attributes.setdefault("X_", None)
    axes = attributes.setdefault("vote_axes_", None)
    mean = attributes.setdefault("vote_mean_", None)
    n_features = attributes["n_features_in_"]
    axes_valid = (_is_float32(axes) and axes.ndim == 2 and 1 <= len(axes) < n_features
                  and axes.shape[1] == n_features and _is_float32(mean)
                  and mean.shape == (n_features,) and samples is not None)
    if (axes is not None or mean is not None) and not axes_valid:
        raise ValueError(
            "The model file is damaged: vote_axes_ must be a float32 array of fewer rows "
            f"than n_features_in_ ({n_features!r:.40}) of n_features_in_ values, with "
            "vote_mean_ a float32 array of n_features_in_ values and the samples X_, got "
            f"vote_axes_ {_described(axes)} and vote_mean_ {_described(mean)}.")
    if samples is not None:
        distributions = attributes.get("label_distributions_")
        rows = len(distributions) if isinstance(distributions, np.ndarray) else None
        width, what = (n_features, "n_features_in_") if axes is None else (
            len(axes), "vote_axes_' rows")
        if not _is_float32(samples) or samples.shape != (rows, width):
            raise ValueError(
                f"The model file is damaged: X_ must be a float32 array of {what} "
                f"({width!r:.40}) values per row of label_distributions_, got "
                f"{_described(samples)}.")
    return attributes


def _is_float32(value):
    return isinstance(value, np.ndarray) and value.dtype == np.float32


def _described(value):
    """A stored attribute's dtype and shape, for an error message."""
    return (f"{getattr(value, 'dtype', type(value).__name__)!s:.20} of shape "
            f"{getattr(value, 'shape', None)!r:.40}")


def _decode_array(path, name, entry, arrays):
    where = f"the fitted attribute {name}"
    storage = _get(entry, "__array__", str, where)
    dtype = _get(entry, "dtype", str, where)
    if storage == "numeric":
        if name not in arrays:
            raise ValueError(f"The model file is damaged: {_ARRAYS} lacks {name}.")
        array = arrays[name]
        if array.dtype.str != dtype:
            raise ValueError(f"The model file is damaged: {name} is stored as {array.dtype.str} "
                             f"but metadata.json says {dtype}.")
        return array
    if storage == "json" and dtype in ("U", "O"):
        shape = tuple(_get(entry, "shape", list, where))
        items = _get(entry, "items", list, where)
        if not all(isinstance(s, int) and s >= 0 for s in shape) or len(items) != int(
                np.prod(shape, dtype=np.int64)) or not all(
                v is None or isinstance(v, (bool, int, float, str)) for v in items):
            raise ValueError(f"The model file is damaged: {where} has a shape {list(shape)} "
                             f"that does not fit its {len(items)} items, or items that are "
                             "not strings or numbers.")
        if dtype == "U":
            if not all(isinstance(v, str) for v in items):
                raise ValueError(f"The model file is damaged: {where} is a string array "
                                 "with items that are not strings.")
            return np.array(items, dtype=str).reshape(shape)
        array = np.empty(len(items), dtype=object)
        array[:] = items
        return array.reshape(shape)
    raise ValueError(f"The model file is damaged: {where} has an unknown storage "
                     f"{storage!r:.40} or dtype {dtype!r:.40}.")


def _choose_device(estimator, attributes, device):
    if device is not None:
        return check_device(device, estimator.mixed_precision)
    fitted_on = attributes.get("device_", "cpu")
    try:
        return check_device(fitted_on, estimator.mixed_precision)
    except ValueError as exc:
        warnings.warn(f"The model was fitted on device {fitted_on!r}, which cannot be used "
                      f"here ({exc}); it is loaded on the CPU.", DeviceWarning, stacklevel=3)
        return torch.device("cpu")


def _fitted_backbone(estimator, attributes):
    """The backbone the stored fit used (a name, or the ``backbone`` callable given again);
    None for a file written before ``backbone_`` existed, whose ``backbone`` names it."""
    fitted = attributes.get("backbone_")
    if fitted is None:
        return None
    return estimator.backbone if fitted == "callable" else fitted


def _rebuild_net(path, estimator, attributes, net_meta, weights, device):
    seed = _get(net_meta, "seed", int, "metadata.json's net")
    history = _get(net_meta, "history", list, "metadata.json's net")
    if not all(isinstance(row, dict) for row in history):
        raise ValueError("The model file is damaged: the history must be a list of objects.")
    param_groups = _unplain(_get(net_meta, "optimizer_param_groups", list,
                                 "metadata.json's net"), "optimizer_param_groups")
    state_values = _get(net_meta, "optimizer_state", dict, "metadata.json's net")

    module_state, teacher_state, optimizer_state = {}, {}, {}
    for key, tensor in weights.items():
        if key.startswith("module."):
            module_state[key[len("module."):]] = tensor
        elif key.startswith("teacher."):
            teacher_state[key[len("teacher."):]] = tensor
        elif key.startswith("optimizer.") and key.count(".") >= 2:
            _, param_id, name = key.split(".", 2)
            if not param_id.isdigit():
                raise ValueError(f"The model file is damaged: unexpected tensor {key!r}.")
            optimizer_state.setdefault(int(param_id), {})[name] = tensor
        else:
            raise ValueError(f"The model file is damaged: unexpected tensor {key!r}.")
    for param_id, values in state_values.items():
        if not param_id.isdigit() or not isinstance(values, dict):
            raise ValueError("The model file is damaged: the optimizer's state is malformed.")
        optimizer_state.setdefault(int(param_id), {}).update(_unplain(values, "optimizer"))
    for key, tensor in {**module_state, **teacher_state}.items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise ValueError(f"The model file is damaged: the weights {key!r} are not finite.")

    try:
        net = estimator._build_net(attributes["input_shape_"], attributes["classes_"],
                                   attributes["likelihood_"], str(device), seed, None,
                                   attributes.get("max_epochs_", estimator.max_epochs),
                                   attributes["propagation_features_"],
                                   attributes["ot_intrusion_neighbors_"],
                                   _fitted_backbone(estimator, attributes), attributes["beta_"])
        with torch.random.fork_rng(devices=[]):
            net.initialize()  # random weights, replaced below; the global seed is kept
    except (ValueError, TypeError, RuntimeError) as exc:
        raise ValueError(f"{path}: the network cannot be rebuilt from the stored "
                         f"parameters: {exc}") from exc
    try:
        net.module_.load_state_dict(module_state, strict=True)
        teacher = getattr(net, "teacher_", None)
        if (teacher is None) != (not teacher_state):
            raise RuntimeError("the moving-average weights of ot_target_ema are "
                               + ("missing" if teacher_state == {} else "unexpected"))
        if teacher is not None:
            teacher.load_state_dict(teacher_state, strict=True)
    except RuntimeError as exc:
        raise ValueError(f"{path}: the stored weights do not fit the network that the stored "
                         f"parameters build: {exc}") from None
    parameters = [p for group in net.optimizer_.param_groups for p in group["params"]]
    for param_id, state in optimizer_state.items():
        for name, value in state.items():
            if param_id >= len(parameters) or (isinstance(value, torch.Tensor) and value.ndim
                                               and value.shape != parameters[param_id].shape):
                raise ValueError(f"{path}: the stored optimizer state {name!r} of parameter "
                                 f"{param_id} does not fit the network.")
    try:
        net.optimizer_.load_state_dict({"state": optimizer_state, "param_groups": param_groups})
    except (ValueError, KeyError, TypeError, RuntimeError) as exc:
        raise ValueError(f"{path}: the stored optimizer state does not fit the network: "
                         f"{exc!r}") from None
    # A file written before training flushed its tiny numbers can hold subnormal
    # weights, which slow every prediction on a CPU and change none.
    net.flush_tiny_numbers()
    net.history = History(history)
    return net
