"""SHOT-VAE semi-supervised classifier with the scikit-learn API.

Design: :class:`ShotVAEClassifier` *owns* a skorch network
(:class:`skshot._net.ShotVAENet`, fitted attribute ``net_``) rather than
subclassing one. Its constructor lists every parameter by name, so
scikit-learn's own ``get_params``, ``set_params`` and ``clone`` work without
skorch's ``module__``/``optimizer__`` prefixes and with scikit-learn's
parameter validation; ``fit`` validates the data the scikit-learn way
(``validate_data``, unlabeled samples marked ``-1``) and then builds and trains
the skorch network, whose training is changed only through skorch hooks.
"""

import copy
import math
from numbers import Integral, Real
from typing import ClassVar

import numpy as np
import torch
from sklearn.base import (
    BaseEstimator,
    ClassifierMixin,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split
from sklearn.utils import _safe_indexing, check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data
from skorch.dataset import Dataset
from skorch.helper import predefined_split

from ._accelerate import accelerated_net_class
from ._data import SemiSupervisedData
from ._device import check_device, has_fast_bf16, resolve_device
from ._labels import encode_partial_labels, unlabeled_mask
from ._net import PROPAGATION_START, ShotVAENet, softmax_float64
from .augmentation import mean_over_translations
from .backbones import BACKBONES
from .callbacks import BestEpochStopping, EpochProgressBar, LRSchedule
from .modules import ShotVAE
from .objectives import OBJECTIVES, SemiSupervisedObjective, elbo_per_sample
from .voting import (
    blend,
    log_blend,
    nearest_samples,
    neighbour_vote,
    principal_axes,
    project,
)

__all__ = ["ShotVAEClassifier"]

_OPTIMIZERS = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}
#: ``max_epochs="auto"``: as many epochs as give this many training steps, ...
AUTO_STEPS = 4000
#: ... but at most this many epochs.
AUTO_MAX_EPOCHS = 100
#: ``propagation_features="auto"`` links the samples and the network's features
#: side by side when fewer training steps than this come before the first
#: graph, else the network's features alone.
AUTO_JOINT_GRAPH_STEPS = 100
#: ``ot_intrusion_neighbors="auto"`` looks at :data:`AUTO_INTRUSION_NEIGHBORS`
#: neighbours of a mix when an epoch has at most this many training steps (the
#: unlabeled batch holds at least a quarter of the training samples), else at one.
AUTO_INTRUSION_STEPS = 4
#: ... and this many neighbours then.
AUTO_INTRUSION_NEIGHBORS = 3
#: ``backbone="auto"`` reads images whose height and width are at least this
#: (and divisible by 4) with the ``"conv"`` backbone where the device trains it
#: fast (a GPU, a CPU with AMX, the bfloat16 matrix units), with ``"conv-mlp"``
#: on other CPUs, and other samples with the ``"mlp"``.
AUTO_CONV_MIN_SIDE = 16
#: ... when at least this many samples train it; fewer images go to the ``"mlp"``.
AUTO_CONV_MIN_SAMPLES = 10_000
#: ``max_epochs="auto"`` with the ``"conv-mlp"`` backbone: as many epochs as give
#: this many steps (instead of :data:`AUTO_STEPS`), so that a fit on 60 000 28x28
#: images stays within ten minutes on two cores of a CPU without AMX.
AUTO_STEPS_CONV_MLP = 3000
#: ``beta="auto"``: this with the ``"conv-mlp"`` backbone, ...
AUTO_BETA_CONV_MLP = 10.0
#: ... and this with every other backbone.
AUTO_BETA = 6.0
#: ``predict_shift="auto"`` averages the class distributions over the copies of
#: an image translated by up to this many pixels, for a model trained on
#: translated images.
AUTO_PREDICT_SHIFT = 1
#: ``vote_weight="auto"``: the vote's share of the prediction, ...
AUTO_VOTE_WEIGHT = 0.5
#: ... and this where the class distributions are averaged over translated
#: copies of each image (``predict_shift`` resolves above 0).
AUTO_VOTE_WEIGHT_SHIFTED = 0.4
#: The built-in backbones that read images with convolutions.
IMAGE_BACKBONES = frozenset({"conv", "conv-mlp", "wrn-28-2"})
#: Share of the labels that ``early_stopping=True`` holds out when ``validation_fraction`` is None.
EARLY_STOPPING_FRACTION = 0.1
#: Number of shared standard-normal draws of z in :meth:`ShotVAEClassifier.score_samples`.
_ELBO_DRAWS = 16


def _resolve_likelihood(likelihood, X):
    in_unit_interval = X.size > 0 and X.min() >= 0.0 and X.max() <= 1.0
    if likelihood == "auto":
        return "bernoulli" if in_unit_interval else "gaussian"
    if likelihood == "bernoulli" and not in_unit_interval:
        raise ValueError(
            "likelihood='bernoulli' needs every feature in [0, 1], but X ranges over "
            f"[{X.min():g}, {X.max():g}]. Scale X (e.g. MinMaxScaler) or use "
            "likelihood='gaussian' on standardised features.")
    return likelihood


def _check_finite_proba(values, x):
    """Refuse non-finite class probabilities (or log-probabilities) of the inputs ``x``."""
    if not np.isfinite(values).all():
        rows = np.flatnonzero(~np.isfinite(values).all(axis=1))
        raise ValueError(
            f"The class probabilities of {len(rows)} sample(s) (rows {rows[:5].tolist()}...) "
            f"are not finite; their features (largest |x| = {float(x.abs().max()):g}) lie "
            "far outside the range the network can handle. Scale X as for fit.")


def _all_positive_ints(values):
    return all(isinstance(v, Integral) and not isinstance(v, bool) and v >= 1 for v in values)


def _fast_convolutions(device, fast_bf16=None):
    """Whether ``device`` trains the ``"conv"`` backbone fast enough for ``backbone="auto"``.

    Any device but a CPU, and a CPU with AMX, which computes bfloat16 fast
    (:func:`skshot._device.has_fast_bf16`, or ``fast_bf16`` where given). A
    CPU without AMX trains it about five to seven times as slowly as the
    ``"mlp"`` backbone: on two cores of an AVX2 CPU 45.7 s an epoch over
    60 000 28x28 images in float32 against 9.0 s, so about 28 minutes for a
    default fit; on two cores of a CPU with AVX-512 BF16 but no AMX two
    epochs took 52 s in float32 and 62 s under bfloat16 autocast, against
    9 s.
    """
    if torch.device(resolve_device(device)).type != "cpu":
        return True
    return has_fast_bf16(device) if fast_bf16 is None else fast_bf16


def _image_rows(X):
    """``(X, None)`` for tabular X; ``(rows, (C, H, W))`` for an image array of shape (n, C, H, W).

    Image arrays are flattened, a view where possible; nothing else changes.
    """
    ndim = getattr(X, "ndim", None)
    if ndim is None or ndim <= 2:
        return X, None
    if ndim == 4:
        X = np.asarray(X)
        return X.reshape(X.shape[0], -1), tuple(int(s) for s in X.shape[1:])
    hint = (" For grey images of shape (n_samples, height, width), add the channel axis: "
            "X[:, None]." if ndim == 3 else "")
    raise ValueError(
        f"X must be 2-D, (n_samples, n_features), or 4-D images, (n_samples, channels, height, "
        f"width), but it has {ndim} dimensions, shape {X.shape}.{hint}")


class ShotVAEClassifier(ClassNamePrefixFeaturesOutMixin, ClassifierMixin, TransformerMixin,
                        BaseEstimator):
    """Semi-supervised classifier: a SHOT-VAE trained with smooth-ELBO and OT-approximation.

    A variational autoencoder with a class variable, ``q(z, y | x) =
    q(z|x) q(y|x)`` and ``p(x | z, y)``, trained on labeled and unlabeled
    samples together (Feng et al., "SHOT-VAE", AAAI 2021). Labeled samples
    train the smooth-ELBO (eq. 11), which carries the label through
    ``KL(smooth(1_y) || q(y|x))``; unlabeled samples train the ELBO (eq. 4)
    plus the OT-approximation (eqs. 13-15): each sample is mixed with a
    partner (its closest one in z-space with ``optimal_match=True``) and
    ``q(y|mix)`` is pulled towards the same mixture of the two predicted class
    distributions, weighted by the warm-up ``w_t = exp(-gamma (1 - t/T)^2)``
    (eq. 16). ``objective`` selects the ablations ``"smooth-elbo"`` (no OT
    term), ``"m2"`` (Kingma et al. 2014) and ``"supervised"`` (the encoder
    trained on the labels alone).

    The objective of the paper is reachable through the parameters, but
    several defaults depart from it, each on validation evidence over
    several label draws that its parameter's description gives and the user
    guide's :ref:`recipe` details: ``entropy_weight=0.3`` (entropy
    minimisation on unlabeled samples, beyond the paper),
    ``propagation_weight=0.3`` (pseudo-labels from label propagation over the
    network's features, beyond the paper), ``ot_weight=3``, ``gamma=1``,
    ``beta="auto"`` (6; 10 for ``"conv-mlp"``), ``elbo_weight=0.01``, ``max_epochs="auto"``,
    ``optimizer="adam"``, ``lr=1e-3``, ``optimal_match=False``,
    ``ot_drop_intrusions=True``, ``ot_intrusion_neighbors="auto"``, and
    ``vote_neighbors=10`` with ``vote_weight="auto"`` (0.5; 0.4 with
    ``predict_shift``'s translated copies: predictions that blend
    ``q(y|x)`` with the labels of the nearest training samples; all beyond
    the paper). The paper's Algorithm 1
    as written is ``ShotVAEClassifier(entropy_weight=0, propagation_weight=0,
    ot_weight=1, gamma=5, beta=0.01, elbo_weight=1, optimal_match=True,
    ot_drop_intrusions=False, vote_neighbors=0, optimizer="sgd")`` with its
    learning rate;
    :ref:`departures` explains where the authors' released code differs
    from the paper.

    Unlabeled samples are marked ``-1`` in ``y``, as in
    :mod:`sklearn.semi_supervised`. With string labels write ``-1`` (in an
    object array) or ``"-1"`` (what ``-1`` becomes in a string array).
    Every training step sees ``batch_size_labeled`` labeled samples, cycled
    when there are few, and ``batch_size_unlabeled`` samples of the unlabeled
    stream, which is all of ``X`` (labeled samples included); an epoch is one
    pass over the unlabeled stream.

    Parameters
    ----------
    latent_dim : int, default=10
        Size of ``z`` (the paper uses 10 for MNIST).
    hidden_sizes : tuple of int, default=(500, 500)
        Hidden layer widths of the ``"mlp"`` backbone's encoder; the decoder
        mirrors them, and so does the ``"conv-mlp"`` backbone's. The other
        backbones ignore them.
    backbone : {"auto", "mlp", "conv", "conv-mlp", "wrn-28-2"} or callable, default="auto"
        The encoder and decoder networks (:mod:`skshot.backbones`).
        ``"auto"`` reads images (4-D ``X`` or ``input_shape``) whose height
        and width are at least 16 pixels and divisible by 4 with ``"conv"``
        where the device trains it fast: a GPU, or a CPU with AMX (the
        bfloat16 matrix units of recent Intel Xeons); on a CPU without AMX
        with ``"conv-mlp"``, also where it has AVX-512 BF16: on two cores of
        such a CPU two epochs of ``"conv"`` over 60 000 images took 62 s
        under bfloat16 autocast and 52 s in float32, so about 19 and 16
        minutes for a default fit, against 18 s for ``"conv-mlp"``, whose
        default fit took 275 s there. Everything else, smaller images and rows of
        features, goes to ``"mlp"`` (the fitted attribute ``backbone_`` says
        which, and a loaded model keeps it on any machine), and so do fewer than
        10 000 images of any size (the samples the network trains on, labeled
        and unlabeled): on validation splits of Fashion-MNIST with 10 labels per
        class ``"conv-mlp"`` was 2.0 points above the MLP on 2 000 images (ten
        label draws, 27.1 % against 25.1 %, above on nine) and 0.6 above on
        5 000 (ten draws, 24.0 % against 23.4 %), level with it on 10 000 (six
        draws, 23.7 % each) and taking 1.7 to 1.8 times as long on each
        (``levers-small-images.md``); on 50 000 images it is ahead (below).
        ``"conv"`` gave 26.0 % on the 2 000 images (ten draws, above the MLP on
        six) and 23.2 % against 23.1 % on 5 000 (five draws). On Fashion-MNIST's
        test split (60 000 images, three seeds) ``"conv"``, with
        ``augmentation`` and ``mixed_precision`` ``"auto"``, gave 14.2 % error
        against 16.4 % for ``"mlp"`` with 100 labels per class and 24.4 %
        against 25.0 % with 10, in 471 s a fit on two cores of a CPU with
        AMX; on two cores of a CPU without it (an AVX2
        AMD EPYC) it trained in float32 five times as slowly as the MLP
        (45.7 s an epoch against 9.0 s, about 28 minutes a fit on those
        images). ``"conv-mlp"`` leaves out the transposed convolutions that
        cost most of that time; ``max_epochs="auto"`` trains it three
        quarters as long as the other backbones (26 epochs on 60 000
        images: 547 s a fit on those two cores) and ``beta="auto"`` weighs
        its prior KL terms 10. So trained, on validation (50 000 images,
        three label draws) it gave 25.3 % against 25.6 % for the MLP with
        10 labels per class and 15.0 % against 15.5 % with 100, and its
        samples were recognised as their class 96 % of the time from the
        prior and 99 % restyled with 100 labels per class (the MLP's 91 %
        and 95 %); on the test split (three seeds) 24.3 % and 15.2 %
        against 25.0 % and 16.4 % for the MLP, in 386 to 434 s a fit on
        those two cores, and three times as long 24.4 % and 14.2 % (no
        drift; :ref:`conv-speed`). On the 8x8 digits the
        convolutions are no better than the MLP, and their translation cost
        3.7 points there.
        ``"mlp"``: fully connected layers of ``hidden_sizes`` (the paper's
        MNIST network). ``"conv"``: a small convolutional network for 28x28
        grey images. ``"conv-mlp"``: ``"conv"``'s encoder at half its
        channels with ``"mlp"``'s decoder, for such images on a CPU.
        ``"wrn-28-2"``: the paper's WideResNet-28-2 encoder for 32x32x3 images
        with a transposed-convolution decoder. The image backbones take any
        ``(C, H, W)`` with H and W divisible by 4 and need the images'
        shape, from ``input_shape`` or from X of shape ``(n_samples, C, H,
        W)``. A callable builds your own networks: it is
        called as ``backbone(input_shape=..., latent_dim=..., n_classes=...)``
        while the weights' seed is set and returns ``(encoder, decoder)``, two
        ``torch.nn.Module``: the encoder maps ``(B, *input_shape)`` to
        features ``(B, F)``, on which one linear layer gives ``mu``,
        ``logvar`` and the class logits; the decoder maps ``[z, y]``, of shape
        ``(B, latent_dim + n_classes)``, to ``(B, *input_shape)`` or ``(B,
        prod(input_shape))`` raw outputs (Bernoulli logits or Gaussian means,
        no final activation). Both are checked on a batch of zeros when the
        network is built. It reaches the skorch network as its module
        parameter ``module__backbone``.
    input_shape : tuple of int, default=None
        Shape of one sample when X holds flattened images, ``(channels,
        height, width)``; its product must be the number of features. None
        takes the shape of X's images when X is 4-D, and ``(n_features,)``
        otherwise (which only the ``"mlp"`` backbone and callables accept).
    likelihood : {"auto", "bernoulli", "gaussian"}, default="auto"
        ``p(x | z, y)``. ``"bernoulli"`` for features in [0, 1] (binary
        cross-entropy on logits); ``"gaussian"`` with unit variance for
        real-valued, standardised features; ``"auto"`` picks ``"bernoulli"``
        if and only if all of ``X`` lies in [0, 1].
    objective : {"shot", "smooth-elbo", "m2", "supervised"}, default="shot"
        ``"shot"`` is Algorithm 1 of the paper; see the class description.
    epsilon : float, default=1e-3
        Label smoothing of eq. 9 (the paper's value). Small image sets
        gain from more: 0.1 gave 5.0 % against 5.5 % validation error on
        the 8x8 digits with 5 labels per class (eight draws, lower on five,
        higher on none) and 8.7 % against 10.1 % on 300 of them. It stays
        at the paper's value because Fashion-MNIST loses (2 000 images:
        25.6 % against 25.1 %, higher on seven draws of ten; 50 000 with 10
        or 100 labels per class: 26.6 % against 25.6 % and 15.8 % against
        15.5 %, three draws) and the tabular sets do not gain on the whole
        (``benchmarks/results/levers-label-smoothing.md``).
    gamma : float, default=1.0
        Sharpness of the warm-up weight of eq. 16; the warm-up spans the
        whole fit, ``max_epochs`` epochs (see ``ot_warmup``). The paper uses
        5, which keeps the OT term near zero for the first half of the fit;
        with 1 it starts at ``0.37 * ot_weight``. 1 was chosen together with
        the other defaults on Fashion-MNIST (not measured alone there); on the
        small protocols and on Fashion-MNIST the authors' schedule (5, with
        ``ot_warmup=0.4``) was within the noise: digits 9.6 % against 9.4 %,
        Fashion-MNIST with 10 labels per class 26.7 % against 26.6 %
        validation error, 3 label draws, both at about 2 000 steps (see
        :ref:`recipe`).
    beta : float or "auto", default="auto"
        beta-VAE weight of the prior KL terms ``KL(q(z|x) || N(0, I))`` and
        ``KL(q(y|x) || Uniform)``. The paper uses 0.01 (its App. F.2), with
        which ``z`` carries the class and the decoder ignores ``y``:
        :meth:`sample` then does not generate the class asked for. ``"auto"``
        is 10 for the ``"conv-mlp"`` backbone and 6 for every other one (the
        fitted attribute ``beta_`` says which). With ``"conv-mlp"`` at the
        length ``max_epochs="auto"`` gives it, 6 left more of the class in
        ``z``: with 100 labels per class on Fashion-MNIST (validation, three
        label draws) its samples were recognised as their class 88 % of the
        time from the prior and 87 % restyled, against 96 % and 99 % with 10
        (at least 92 % for each class), at 15.0 % validation error either
        way; with 10 labels per class 10 gave 25.3 % against 24.7 % and
        samples recognised 96 % and 98 % of the time; 8 gave 89.5 % and
        94.8 % on the first draw with 100 labels per class. 6 is the value
        for the other backbones on validation evidence (:ref:`recipe`): on Fashion-MNIST with
        10 labels per class an independent classifier recognises 91 % of the
        samples of the defaults as their class (95 % of the restyled
        inputs; five label draws) against 82 % (90 %) with 4 (first draw),
        25 % (17 %) with 1 and 13 % (11 %) with the previous defaults' 0.01
        (both at shorter lengths), while the
        validation error stayed within the draws' spread: 26.0 % against
        25.7 % for 4 (five draws), 15.9 % against 15.8 % with 100 labels per
        class, the same on the digits and wine and 4.7 % against 4.9 % on
        breast cancer (six draws). 8 raised the error on Fashion-MNIST.
    elbo_weight : float, default=0.01
        Weight of every ELBO part (reconstruction and beta-weighted prior
        KLs) against the label terms, the OT term and the entropy term. The
        paper has no such weight (1); the authors' released code uses 1e-3,
        because the reconstruction, summed over features, otherwise dwarfs
        the label terms. 0.01 is the default on validation evidence: with
        0.1 the error was 10.5 % against 9.4 % on the digits, 5.3 % against
        4.7 % on breast cancer and 5.3 % against 6.1 % on wine (3 label
        draws, within the draws' spread); see :ref:`departures` and
        :ref:`recipe`.
    temperature : float, default=0.67
        Gumbel-softmax temperature of the unlabeled ``y`` (the paper's value).
    alpha : float, default=1.0
        Weight of the cross-entropy of the M2 objective (eq. 6); only read
        with ``objective="m2"``.
    optimal_match : bool, default=False
        True pairs each unlabeled sample with its closest partner in the
        batch, ``argmin_j KL(q(z|x_i) || q(z|x_j))``, as the paper describes
        (eq. 13). False pairs at random, as the authors' released code does by
        default. False is the default on validation evidence. With the
        paper's ``beta=0.01``, where ``z`` carries the class, the closest
        partner is nearly always a near-copy of the same class, so the OT
        term mostly rewards confidence in the current prediction; random
        partners gave validation error 8.3 % against 16.7 % on digits (5
        labels per class) and 24.1 % against 25.1 % on Fashion-MNIST (10 per
        class) (``benchmarks/results/defaults.md``). With the current
        defaults ``z`` holds the style rather than the class (the nearest
        digit in ``z`` is of the same class 45 % of the time, against 96 %
        with ``beta=0.01`` and 99 % in pixel space;
        ``benchmarks/results/partners.md``), and the closest partner gave
        13.5 % against 9.4 % on the digits (3 label draws, ``levers.md``).
        On data made of well-separated clusters the closest partner helps
        the paper's OT term instead: it carries the few labels through each
        cluster. With ``ot_drop_intrusions=True`` random partners do so as
        well (four blobs with two labels each: 99.4 % accuracy on the
        unlabeled samples, against 98.9 % for the closest partner and 92.7 %
        for random partners with the paper's term). See :ref:`departures`.
    mixup_alpha : float, default=1.0
        The mixing weight is ``lam ~ Beta(mixup_alpha, mixup_alpha)``. 1 is
        ``U(0, 1)``, the paper's; the authors' released code uses 2 (see
        :ref:`departures`).
    ot_kl_direction : {"forward", "reverse"}, default="forward"
        ``"forward"`` is ``KL(q(y|x_mix) || Cat(pi_mix))`` as in eq. 15;
        ``"reverse"``, ``KL(Cat(pi_mix) || q(y|x_mix))``, is the soft-target
        cross-entropy of the authors' released code (see :ref:`departures`).
    ot_weight : float, default=3.0
        Final value of the OT term's warm-up weight ``w_t`` (1 in the
        paper). 3 is the default on validation evidence (:ref:`recipe`): on
        Fashion-MNIST with 10 labels per class, 27.1 % error against 28.4 %
        for 1 (3 label draws); 10 did worse than 3 on both draws tried. With
        the ``"conv-mlp"`` backbone 6 was lower than 3 on 10 000 images
        (22.9 % against 23.7 %, each of six draws) but on 50 000 only within
        the draws' spread (24.6 % against 24.9 %, higher on two draws of
        six, where the error climbed after the middle of the fit; 14.5 %
        against 14.6 % with 100 labels per class). On
        small tabular data try 0: on iris with 10 labels per class the OT
        term gave 7.7 % validation error against 6.4 % without it (twenty
        label draws; 14.4 % with ``ot_drop_intrusions=False``), on breast
        cancer 5.0 % against 4.5 %, on wine 4.5 % against 4.6 % and 6.3 %
        against 4.5 % at three times the default length. On images keep it:
        without it 300 of the 8x8 digits gave 11.8 % against 11.1 %, and on
        Fashion-MNIST ``objective="smooth-elbo"`` (no OT term) 28.3 % against
        24.8 % test error. See :ref:`small-tabular`.
    ot_warmup : float, default=1.0
        Fraction of the fit after which ``w_t`` reaches ``ot_weight``, in
        ``(0, 1]``: ``w_t = ot_weight * exp(-gamma (1 - t / (ot_warmup *
        T))^2)`` until then. 1 is the paper's eq. 16; the authors' released
        code reaches the maximum at 0.4.
    ot_target_ema : float or None, default=None
        If set, the class distributions that make the OT targets, ``pi(x0)``
        and ``pi(x1)`` of eq. 15, come from a "teacher": a copy of the
        network whose weights are an exponential moving average of the
        trained weights with this decay (as in mean-teacher methods; the
        first steps average over the steps so far). None takes them from the
        network being trained, as the paper does.
    ot_target_temperature : float, default=1.0
        Sharpening of those class distributions before they are mixed:
        ``pi_k^(1/T) / sum_j pi_j^(1/T)`` with ``T`` this temperature (as
        MixMatch sharpens its guessed labels), so that the OT term pulls
        ``q(y|x_mix)`` towards more confident targets. 1 leaves them as they
        are, as the paper does; it must be positive. 0.5 did no better on
        the digits (10.1 % validation error against 9.4 %, 3 label draws) or
        the tabular sets, see :ref:`recipe`.
    ot_drop_intrusions : bool, default=True
        Whether the OT term leaves out the mixes that land among a third
        class (beyond the paper; :ref:`intrusions`). Such a mix is one whose
        nearest sample of the unlabeled batch (Euclidean, in input space) is
        predicted (the most probable class of ``q(y|x)``) as neither of its
        two parents' predicted classes; eq. 15's target would contradict
        that class. Those mixes add nothing to the batch's OT
        term, which is still divided by the whole batch. False is the
        paper's OT term. True is the default on validation evidence: on iris
        with 10 labels per class 7.7 % error against 14.4 % (twenty label
        draws, lower on 15 and higher on none; the classes lie in a row, so
        mixes of the outer two land on the middle one), and within 0.2
        points of False on wine (4.5 % against 4.6 %), breast cancer (5.0 %
        against 5.0 %), 300 and 1 149 of the digits (11.1 and 6.7 %, eight
        draws each), 2 000 Fashion-MNIST images (26.1 %, five draws), 10 000
        (23.5 %, three draws) and 50 000 (25.8 % against 25.9 %, three
        draws; with 100 labels per class 15.8 % against 15.9 %), and on a
        four-class ``make_classification`` set 35.3 % against 36.0 %
        (twenty draws, lower on 15). It costs one distance
        matrix of the unlabeled batch per step (about 8 % of a step on 784
        features).
    ot_intrusion_neighbors : int or "auto", default="auto"
        With ``ot_drop_intrusions=True``, how many of a mix's nearest
        unlabeled samples are looked at (beyond the paper; :ref:`intrusions`):
        the mix is left out when any of them is predicted as neither
        parent's class. ``"auto"`` (``ot_intrusion_neighbors_``) looks at 3
        when an epoch has at most 4 training steps (``ceil(n_train /
        batch_size_unlabeled) <= 4``: the unlabeled batch holds a quarter of
        the training samples or more; with the default batches, at most
        2 048 samples), and at 1 otherwise. The evidence (validation error,
        3 against 1): lower or equal within a few batches per epoch, on iris
        with 10 labels per class 5.3 % against 7.7 % (twenty label draws,
        lower on 11, higher on 1), on a four-class ``make_classification``
        set 34.4 % against 35.3 % (lower on 12, higher on 7), on the digits
        with 5 labels per class 6.3 % against 6.7 % (eight draws, three
        steps an epoch), on 2 000 Fashion-MNIST images (four steps) 25.3 %
        against 25.4 % (ten draws, lower on 7), and on wine and breast cancer
        within 0.2 points; a tie on 5 000 images (10 steps; 23.9 % against
        23.8 %, six draws, lower on 3); higher with more steps, 24.0 %
        against 23.5 % on 10 000 images (20 steps) and 27.1 % against 25.8 %
        on 50 000 (98 steps; higher on each of three draws on both). 1 is
        the behaviour of earlier versions.
    entropy_weight : float, default=0.3
        Weight of the entropy ``H(q(y|x))`` of the unlabeled samples' class
        distributions, added to the loss of every objective but
        ``"supervised"`` (entropy minimisation). The ELBO's ``KL(q(y|x) ||
        Uniform)`` rewards uncertain predictions on unlabeled samples; a
        positive weight rewards confident ones instead. 0 is the paper's
        objective. 0.3 is the default on validation evidence
        (:ref:`recipe`): without it the final error was higher on each of the
        digits, breast cancer and wine protocols (9.6, 5.3 and 5.3 % against
        9.1, 4.7 and 4.4 %, 3 label draws), by less than the draws' spread,
        and on Fashion-MNIST with 10 labels per class the defaults without it
        gave 27.3 % against 26.6 % (both at about 2 000 steps), their error
        climbing again after its best epoch; 0.1 and 1 did no better. The
        history records the term as ``ent_u``.
    propagation_weight : float, default=0.3
        Weight of pseudo-labels found by label propagation over the
        network's own features (Iscen et al., 2019; user guide:
        :ref:`label-propagation`): from the third epoch on, ten times in a
        fit, the encoder's outputs of all training samples are linked into
        a graph of ``propagation_neighbors`` nearest neighbours, the labels
        are diffused through it, and the loss of every objective but
        ``"supervised"`` adds this weight times the cross-entropy of each
        unlabeled sample's pseudo-label, weighted by its certainty and by
        the inverse frequency of its class. 0 turns it off, as the paper
        has it. 0.3 is the default on validation evidence: against 0, the
        final error was 7.5 % against 8.6 % on the digits (5 labels per
        class, lower on five of six label draws), 25.7 % against 27.4 % on
        Fashion-MNIST with 10 labels per class (lower on each of five
        draws), 15.8 % against 16.5 % with 100 labels per class (lower on
        each of three draws), and equal on the breast cancer data (4.9 %,
        six draws); on wine 5.7 % against 4.8 % (equal on five of six
        draws). A weight of 1 helps the digits more (6.5 %) but costs
        Fashion-MNIST (27.1 % against 25.9 %, three draws), and with
        ``beta=6`` breast cancer (6.2 % against 5.4 %, twenty draws).
        Each refresh builds a neighbour graph of the training samples: on
        50 000 images a fit takes a quarter to two fifths longer. The
        history records the term as ``pl_u``.
    propagation_neighbors : int, default=10
        Neighbours of each sample in the graph of ``propagation_weight``
        (with fewer training samples than this plus one, every other sample).
        Over six label draws of the digits (5 labels per class) 5 gave 6.8 %
        validation error against 7.5 % for 10 (3: 6.9 %, 20: 8.0 %), but
        on Fashion-MNIST with 10 labels per class 25.6 % against 25.3 %
        (higher on each of three draws; equal with 100 labels per class and
        on the tabular sets), so 10 stays the default and fewer neighbours
        are an option for small image sets.
    propagation_features : {"auto", "network", "input", "both"}, default="auto"
        What the graph of ``propagation_weight`` links. ``"network"``: the
        encoder's features, recomputed at each of the ten refreshes, as Iscen
        et al. do. ``"input"``: the training samples themselves (centred
        and, above 64 features, projected on their 64 principal axes), as
        :class:`~sklearn.semi_supervised.LabelSpreading` links them; that
        graph does not change during the fit, so the pseudo-labels are
        computed once, at the start of the third epoch. ``"both"``: the two
        side by side, each sample's row of each scaled to unit length, so
        that two samples' similarity is the mean of their cosine similarities
        in the inputs and in the features; recomputed at each refresh.
        ``"auto"`` (``propagation_features_``) is ``"both"`` when fewer
        than 100 training steps come before the first graph (two epochs of
        ``ceil(n_train / batch_size_unlabeled)`` steps; with the default
        batches, at most 25 088 training samples), while the network's
        features alone are still those of a barely trained network, and
        ``"network"`` otherwise. The evidence (validation error, user guide:
        :ref:`label-propagation`): below 100 steps ``"both"`` was at or
        below the features alone on every protocol measured (the digits 6.7 %
        against 7.3 %, eight label draws; breast cancer 5.0 % against 5.4 %
        and wine 4.6 % against 4.6 %, twenty draws; 2 000, 5 000 and 10 000
        Fashion-MNIST images 26.1 % against 26.1 %, 24.0 % against 24.5 %
        and 23.5 % against 24.6 %, five, five and three draws), while the
        samples alone were lower on the small sets (6.6, 4.7 and 4.2 %) but
        higher on 2 000 and 10 000 images (26.6 and 24.8 %). On 50 000 images
        (about 200 steps) the features alone and ``"both"`` tie (26.0 and
        25.8 %, five draws; lower on two, higher on three), and
        ``"input"`` gave 26.9 % against 25.6 % (two draws), where the
        pixels' graph labels fewer images right than the features' graph.
    vote_neighbors : int, default=10
        Neighbours whose labels vote on each prediction (user guide:
        :ref:`neighbour-vote`). :meth:`predict_proba` returns ``(1 -
        vote_weight) * q(y|x) + vote_weight * vote(x)``, where ``vote(x)`` is
        the mean row of ``label_distributions_`` over the ``vote_neighbors``
        training samples nearest to ``x`` (Euclidean distance between the
        inputs as given; at most every training sample): the given label of
        a labeled sample, the network's ``q(y|x)`` of an unlabeled one. This
        is :class:`~sklearn.semi_supervised.LabelSpreading`'s way of
        labeling a new sample, with the network's labels of the training
        samples; the network's mistakes on them are scattered, so a
        neighbourhood's vote outweighs many of them. 0 predicts with
        ``q(y|x)`` alone, as the paper does. The fit keeps the training
        samples for it (``X_``, ``n_samples * n_features`` float32 values, or
        ``vote_components`` coordinates per sample;
        also in pickles and in :func:`skshot.save`'s files) unless
        ``vote_neighbors=0``; it and ``vote_weight`` can be changed after the
        fit (for example ``vote_neighbors=0``, to compare with the network
        alone). The training does not read them: the history's scores and
        ``early_stopping``'s are the network's alone. A prediction measures
        its distance to every training sample: with 50 000 training images,
        10 000 predictions took 27 s on one CPU thread, against 0.4 s for
        the network alone (``vote_components`` cuts that).
        Ten neighbours at ``vote_weight=0.5`` (what ``"auto"`` means where
        each image is read as given) are the default on
        validation evidence (``benchmarks/results/neighbour_vote.md``, one fit
        per label draw, every pair through ``set_params``): against the
        network alone, 5.6 % against 6.2 % on the digits (5 labels per class,
        lower on each of eight draws), 10.2 % against 11.0 % on 300 of them,
        4.4 % against 5.1 % on breast cancer (lower on 11 of twenty draws,
        higher on 5), 4.1 % against 4.3 % on wine, 33.6 % against 34.4 % on
        ``make_classification`` (twenty draws), 25.8 % against 25.9 % on
        2 000 Fashion-MNIST images (five draws) and 25.5 % against 25.8 % on
        50 000 (three draws, lower on each; with 100 labels per class 15.5 %
        against 15.8 %, lower on each of three draws); on iris 5.5 % against 5.3 % (one error
        more over twenty draws of 32 samples). Fewer neighbours or a larger
        share help small image sets more (the digits 4.4 % with 7 neighbours
        and ``vote_weight=0.8``) but cost iris and Fashion-MNIST (2 000
        images: 26.8 %).
    vote_weight : float or "auto", default="auto"
        The vote's share of :meth:`predict_proba`, in [0, 1] (see
        ``vote_neighbors``): 0 is the network alone, 1 the neighbours' vote
        alone. ``"auto"`` means :data:`AUTO_VOTE_WEIGHT_SHIFTED` (0.4) where
        ``q(y|x)`` is averaged over translated copies (``predict_shift``
        resolves above 0: the convolutional backbones' default) and
        :data:`AUTO_VOTE_WEIGHT` (0.5) otherwise; like ``predict_shift`` it
        is read at each prediction. The copies make ``q(y|x)`` better, and
        the vote then deserves less of the blend: with the ``"conv-mlp"``
        defaults on validation (``benchmarks/results/neighbour_vote-translated.md``,
        ten neighbours) 0.4 gave 14.59 % against 14.75 % at 0.5 on 50 000
        Fashion-MNIST images with 100 labels per class (lower on each of
        three draws) and 26.90 % against 27.03 % on 2 000 with 10 (lower on
        six draws of eight, higher on none), but 25.16 % against 25.12 % on
        50 000 with 10 (lower on one draw of three, higher on two); 0.3 and
        0.2 cost that protocol more (25.20 % and 25.26 %), see
        :ref:`predict-shift`. Where each input is read as given, above 0.5
        Fashion-MNIST loses (2 000 images, ten neighbours: 26.2 % at 0.65
        and 26.9 % at 0.8 against 25.8 % at 0.5 and 25.9 % for the network
        alone), below it small image sets gain less (the digits 5.9 % at
        0.35); on 8x8 digits and other small
        image sets whose pixels' distances follow the classes, 0.8 with 3 to
        7 neighbours gave the lowest error (4.4 % and 8.5 % on 1 437 and 300
        digits); see :ref:`neighbour-vote`.
    vote_components : int or None, default=None
        Where the vote's distances are measured (see ``vote_neighbors``).
        None, or at least ``n_features``: between the inputs as given. An
        int ``m`` below ``n_features``: between their coordinates on the
        first ``m`` principal axes of the training samples, computed at the
        end of ``fit`` (``vote_axes_``, ``vote_mean_``); ``X_`` then keeps
        the training samples' ``m`` coordinates instead of their
        ``n_features`` values, and the distances of each prediction cost
        ``m / n_features`` as much to compute. Unlike the other two vote parameters it acts
        at the next fit. On Fashion-MNIST (784 pixels) 64 axes cost the vote
        nothing on validation data, keep a twelfth of the values and cut the
        search about fivefold (``benchmarks/results/vote_components.md``,
        with the pixels' distances in brackets: 50 000 images 25.74 %
        (25.74 %) with 10 labels per class and 15.54 % (15.52 %) with 100,
        three draws each, 2 000 images 25.76 % (25.76 %), five draws; the
        network alone 26.0, 15.8 and 26.0 %; 10 000 predictions against
        50 000 images 3.0 s against 14.5 s on one CPU thread); 16 and 32 axes
        lose part of the vote's gain. On the test split 64 axes gave 24.7 %
        and 16.4 % against 24.8 % and 16.5 % for the pixels (three seeds,
        ``accuracy.md``, row ``shot+vote-axes64``). On two tabular sets
        with more than 64 features (20 validation draws each) 64 axes were
        within the draws' spread of the inputs too: 41.45 % (42.19 %) on
        200 features of which 40 carry the classes, 12.17 % (12.00 %) on
        the breast cancer data with the products of its features (495). None
        stays the default, so that the vote's neighbours are those of the
        inputs as given; 64 is the advice for inputs with many features
        where the fitted model's size or the prediction's speed matters; see
        :ref:`neighbour-vote`.
    augmentation : {"auto", "translate", "translate-encoder"} or None, default="auto"
        Random transformation of the training images, drawn anew at every
        step on the device: ``"translate"`` shifts each image by up to
        ``translate_shift`` pixels in each direction (reflect padding and a
        random crop, as the authors' released code trains every image data
        set); it needs images (4-D ``X`` or ``input_shape``). ``"auto"``
        means ``"translate-encoder"`` for images read by a convolutional
        backbone (``"conv"``, ``"conv-mlp"``, ``"wrn-28-2"``) and None
        otherwise: for the ``"mlp"`` backbone, a callable one, and rows of
        features (the fitted attribute ``augmentation_`` says which; before 2026-12-06 ``"auto"``
        meant ``"translate"`` for any images, and None was the default).
        ``"translate-encoder"`` shifts the images the same way for the
        encoder only (the class distributions, the OT term's mixes, ``z``),
        while the decoder reconstructs the images as given, so that it
        learns, and ``sample`` draws, images in their usual place. None trains on the samples as
        given (the paper's description). On Fashion-MNIST with 10 labels per
        class (validation, three label draws), ``backbone="conv"`` with
        ``"translate"`` gave 24.8 % against 25.5 % for the MLP without
        translation on 50 000 images (higher on one draw) and 22.5 % against
        23.5 % on 10 000; with the ``"mlp"`` backbone the translation gave
        23.9 % on 10 000 images. With 100 labels per class the ``"conv"``
        backbone with it gave 13.9 % against 15.5 % on 50 000 images (lower
        on each draw), but the decoder learns shifted images: ``sample``'s
        outputs were recognised as their class 74 % of the time against
        91 %. With ``"translate-encoder"`` instead the ``"conv"`` backbone
        gave 13.8 % and its samples were recognised as their class 92 % of
        the time from the prior and 94 % restyled, as often as the MLP's
        (91 % and 95 %); with 10 labels per class 24.7 % (``"translate"``
        24.8 %, the MLP 25.5 %), samples recognised 93 % and 95 % of the
        time: hence ``"auto"``. With ``mixed_precision="bf16"`` on a CPU
        with AMX it fitted 60 000 images in 433 to 480 s
        on two cores and gave 14.2 % against 16.4 % for the MLP without
        translation on the test split with 100 labels per class, 24.4 %
        against 25.0 % with 10 (three seeds). With the ``"mlp"`` backbone
        neither translation lowered the error. See :ref:`recipe`.
    translate_shift : int, default=2
        Largest shift, in pixels, of ``augmentation="translate"`` and
        ``"translate-encoder"``. With the ``"conv-mlp"`` defaults on 10 000
        Fashion-MNIST images with 10 labels per class (validation, three
        label draws), 4, the padding of the authors' released code, gave
        25.0 % error against 22.9 % for 2 (higher on each draw), and 1 gave
        22.7 % (within the draws' spread).
    predict_shift : int or "auto", default="auto"
        Class distributions averaged over translated copies of each image
        (test-time augmentation): ``q(y|x)`` is the mean of the network's
        class distributions for the copies translated by every offset of up
        to ``predict_shift`` pixels in each direction (``(2 * predict_shift +
        1) ** 2`` copies, made as ``augmentation`` makes them in training:
        reflect padding and a crop). 0 reads each image as given. It acts in
        :meth:`predict_proba`, :meth:`predict_log_proba`, :meth:`predict`,
        :meth:`score` and in the unlabeled training samples' rows of
        ``label_distributions_`` (which the fit computes, and the vote of the
        nearest training samples reads); it can be changed after the fit,
        which leaves ``label_distributions_`` as they were. ``"auto"`` means
        :data:`AUTO_PREDICT_SHIFT` for a model trained on translated images
        (``augmentation_`` not None) and 0 otherwise. On validation (three
        label draws of 50 000 Fashion-MNIST images, the ``"conv-mlp"``
        defaults) one pixel gave 25.12 % against 25.35 % with 10 labels per
        class and 14.75 % against 14.95 % with 100, lower on each of the six
        draws (the network alone: 25.35 % against 25.74 %, 14.76 % against
        15.30 %); two pixels, the training's range, gave 25.27 % and 14.95 %.
        On 2 000 of those images (eight draws) one pixel was level, 27.03 %
        against 26.95 % (lower on four draws, higher on four). The nine
        copies cost nine times the encoder's work at prediction (10 000
        images: 2.3 to 2.5 s against 0.2 to 0.3 s on two cores), and so the
        fit about 15 s more for the rows of ``label_distributions_`` of
        60 000 images. On the test split (three seeds, 60 000 images) it
        gave 24.0 % against 24.3 % with 10 labels per class and 14.9 %
        against 15.2 % with 100, lower on each seed. See
        :ref:`predict-shift`.
    batch_size_labeled : int, default=64
        Labeled samples per step (all of them when there are fewer).
    batch_size_unlabeled : int, default=512
        Samples of the unlabeled stream per step. Large batches give the
        optimal match candidates to choose from.
    max_epochs : int or "auto", default="auto"
        Passes over the unlabeled stream (epochs); the warm-up and the
        learning rate schedule span them. ``"auto"`` trains for about 4 000
        steps, ``ceil(4000 / steps_per_epoch)`` epochs with ``steps_per_epoch
        = ceil(n_samples / batch_size_unlabeled)``, and at most 100 epochs:
        100 epochs (300 steps) on the 1 797 digits, 34 epochs on 60 000
        images (225 s with two CPU threads, ``benchmarks/fit_time.py``). The
        ``"conv-mlp"`` backbone, whose steps cost about twice the MLP's on a
        CPU, trains for about 3 000 steps (26 epochs on 60 000 images, 547 s
        on two cores of a CPU without AMX against 695 s for
        34; on validation with ``beta=6`` 24.7 % and 15.0 % against 24.3 % and
        14.6 % for 41 epochs on 50 000 images with 10 and 100 labels per
        class, three label draws; with ``beta=10`` on the test split, three
        seeds, 24.3 % and 15.2 %, and three times as long 24.4 % and
        14.2 %). The number used is ``max_epochs_``. On Fashion-MNIST with 10 labels per class, 4 000
        steps (41 epochs on 50 000 images) gave 25.9 % against 26.6 %
        validation error for 2 000 steps, lower on each of 3 label draws;
        under the current defaults (label propagation and the vote) 20
        epochs gave 25.4 % against 25.6 % there (lower on two draws of
        three) but 15.9 % against 15.5 % with 100 labels per class (higher
        on each of three; ``benchmarks/results/levers-screen.md``).
        Longer training does not hurt the defaults: 3 times as long gave
        9.0 % against 9.4 % validation error on the digits (3 draws) and,
        on the Fashion-MNIST test split, 26.4 % against 27.1 % (3 seeds);
        for the last point on large data, raise ``max_epochs``. See
        :ref:`recipe`.
    optimizer : {"sgd", "adam", "adamw"}, default="adam"
        The paper uses SGD with momentum 0.9 (``"sgd"``). Adam is the default
        on validation evidence: the reconstruction is summed over features,
        so the loss's scale, and the learning rates at which SGD is stable,
        grow with the number of features. On Fashion-MNIST (10 labels per
        class) SGD diverged at lr=0.01 and reached 46.7 % validation error at
        lr=1e-3 in 10 epochs, against 28.9 % for Adam at lr=1e-3
        (``benchmarks/results/defaults.md``).
    lr : float, default=1e-3
        Learning rate. On small image sets a larger one helps: 3e-3 gave
        4.8 % against 5.5 % validation error on the 8x8 digits with 5
        labels per class (eight draws, lower on six), and with the vote
        of :ref:`neighbour-vote` at ``vote_neighbors=7, vote_weight=0.8``
        4.0 % (lower on each draw; on the test split 5.2 % against 6.2 %,
        ``benchmarks/results/accuracy.md``, row ``shot+small-images``).
        Elsewhere keep the default: 2e-3 was higher on each of three draws
        of 50 000 Fashion-MNIST images (26.6 % against 25.6 %), 3e-3 on
        seven of ten draws of 2 000 (25.6 % against 25.1 %), and neither
        helped the tabular sets (``benchmarks/results/levers-screen.md``).
    momentum : float, default=0.9
        Momentum of SGD (ignored by Adam and AdamW).
    weight_decay : float, default=5e-4
        L2 penalty (AdamW: decoupled weight decay). On small tabular data
        (real-valued features, a few hundred samples) raise it to 0.1: on the
        wine and breast cancer data with 10 labels per class it gave 4.1 %
        and 4.5 % validation error against 4.5 % and 5.0 % (twenty label
        draws; with ``ot_drop_intrusions=False``, 3.9 % and 4.5 %, and 3.9 %
        and 4.2 % at three times the default length, where the default
        climbs on wine to 6.4 %). On images keep the default: on 300 of the
        8x8 digits 0.1 gave 29 % against 11 %, and on 2 000 Fashion-MNIST
        images 0.03 was higher on each of five draws. A grid search on a few
        dozen labels does not find the better value. On iris it did not help
        (9.1 % against 7.7 %), where ``ot_weight=0`` gives 6.4 %. See
        :ref:`small-tabular`.
    lr_schedule : {"step", "cosine", "constant"}, default="step"
        ``"step"`` multiplies the learning rate by 0.1 at 2/3, 5/6 and 11/12
        of ``max_epochs`` (the authors' schedule, epochs 400, 500 and 550 of
        600); ``"cosine"`` anneals it to zero over ``max_epochs``.
    validation_fraction : float or None, default=None
        Fraction of the labeled samples held out, stratified, to record the
        validation loss and accuracy (``valid_loss``, ``valid_acc``) in
        ``history_`` each epoch. Held-out samples are excluded from training
        entirely, also from the unlabeled stream. None holds out nothing,
        except with ``early_stopping=True``, which then holds out 0.1 (as
        :class:`~sklearn.neural_network.MLPClassifier` does).
    early_stopping : bool, default=False
        Stop training when the held-out labeled samples (see
        ``validation_fraction``) have not improved for ``n_iter_no_change``
        epochs, and keep the weights of the best epoch (``best_epoch_``). An
        epoch improves when its held-out accuracy (``valid_acc``) is higher,
        or equal with a lower held-out cross-entropy (``valid_loss``); see
        :class:`skshot.callbacks.BestEpochStopping`. A guard against a model
        that gets worse with longer training, paid for with the held-out
        labels. Validation error over label draws (user guide:
        :ref:`early-stopping`): on wine with 10 labels per class (three held
        out; the one data set where longer training hurts the defaults)
        5.3 % against 6.7 % at three times the default length and 5.0 %
        against 4.6 % at the default length; on breast cancer with 10 per
        class 4.7 % against 5.4 %; on the digits with 5 per class
        (``validation_fraction=0.2``: 10 of 50 held out) 8.5 % against
        7.3 %; on Fashion-MNIST with 100 per class 17.3 % against 15.9 %
        (three draws: the patience ends the fit before the learning rate
        drops). Off by default.
    n_iter_no_change : int, default=10
        Epochs without improvement after which ``early_stopping`` stops the
        fit.
    batch_size_predict : int, default=256
        Batch size of ``predict_proba``, ``transform``, ``score_samples`` and
        of the validation.
    device : str, default="cpu"
        A PyTorch device, e.g. ``"cpu"``, ``"cuda"`` or ``"cuda:1"``;
        ``"auto"`` takes ``"cuda"`` when available. ``fit`` checks it before
        it touches the data: a device PyTorch does not know, or one that this
        machine or PyTorch build lacks (no CUDA, fewer GPUs than the index),
        raises a ``ValueError``. The training data is copied to the device
        once per fit and each step indexes it there, so a step waits for no
        transfer and no host-device synchronisation; at prediction, CPU data
        bound for a GPU is pinned and copied batch by batch without blocking.
    mixed_precision : {"auto", "bf16"} or None, default="auto"
        ``"bf16"`` runs the networks' forward passes under
        :func:`torch.autocast` with bfloat16, on GPUs with bfloat16 units
        (NVIDIA Ampere and later) up to several times faster for the
        convolutional backbones. The encoder's heads and the decoder's output
        are cast back to float32 and every loss is computed in float32; the
        weights and the optimizer stay in float32. None computes in float32.
        ``fit`` raises a ``ValueError`` if the device lacks bfloat16 support
        (on CUDA, :func:`torch.cuda.is_bf16_supported`); the CPU has it. A
        CPU with AMX (bfloat16 matrix units) runs it faster too: on two
        cores of a CPU that most likely had it ``backbone="conv",
        augmentation="translate-encoder"`` fitted 50 000 Fashion-MNIST
        images in 451 to 455 s against 727 to 794 s in float32, with the same
        validation error (13.9 % against 13.8 % over three label draws with
        100 labels per class) and samples recognised as their class as often
        (92 % and 94 %); see :ref:`recipe`. A CPU without AMX is slower
        with it than in float32, even with AVX-512 BF16's bfloat16 dot
        products: there two epochs of ``"conv"`` over 60 000 images took
        62 s against 52 s, of ``"conv-mlp"`` 21 s against 18 s. ``"auto"`` means
        ``"bf16"`` for the convolutional backbones (``"conv"``,
        ``"conv-mlp"``, ``"wrn-28-2"``) on a device that computes in
        bfloat16 fast (a CUDA GPU with bfloat16 units, a CPU with AMX) and
        None otherwise, so the same fit can differ between machines by
        bfloat16's rounding; the MLP stays in float32 everywhere. The fitted
        attribute ``mixed_precision_`` says which; pass None for float32
        everywhere.
    accelerator : accelerate.Accelerator, default=None
        Trains through skorch's Accelerate integration
        (:class:`skorch.hf.AccelerateMixin`): the accelerator places the
        module, ``device`` is ignored, and under ``accelerate launch`` or
        ``torchrun`` with several processes (one per GPU, or several on the
        CPU) one model trains with data parallelism. Each process then takes
        its own share of every epoch's batches, ``batch_size_labeled`` and
        ``batch_size_unlabeled`` apply per process, and the gradients are
        averaged after each step; every process ends with the same model.
        Leave the accelerator's own ``mixed_precision`` at ``"no"`` and use
        this estimator's ``mixed_precision`` instead. Needs ``accelerate``
        (``pip install "skshot[accelerate]"``).
    callbacks : list of skorch callbacks or (name, callback) tuples, default=None
        Passed to the skorch network, after copying them, so that the
        objects given are never changed by a fit.
    warm_start : bool, default=False
        If True and the classifier is fitted, ``fit`` continues training the
        fitted network until it has run ``max_epochs`` epochs in all (none if
        it has already), instead of starting anew: the weights, the
        optimizer's state, the history, the warm-up weight ``w_t`` and the
        learning rate schedule carry on where they were, as after an
        interrupted fit. The classes must be the same; the other parameters of
        the first fit stay in force.
    random_state : int, RandomState instance or None, default=None
        Seeds the weights' initialisation, the batches, and every draw of the
        training (Gumbel, Gaussian, ``lam``). Results are reproducible on the
        CPU for a fixed integer; the global PyTorch random state is left as
        it was.
    verbose : int, default=0
        0 is silent; 1 shows a progress bar over the epochs with the last
        epoch's loss and its main parts (on standard error); 2 prints a table
        row per epoch with every part of the loss.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels (the unlabeled marker excluded).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of the features seen during fit, when X has string column names.
    likelihood_ : str
        The likelihood used, ``"auto"`` resolved.
    device_ : str
        The device used, ``"auto"`` resolved.
    input_shape_ : tuple of int
        Shape of one sample, ``(n_features,)`` or ``(channels, height, width)``.
    backbone_ : str
        The backbone that the fit built, ``backbone`` with ``"auto"``
        resolved; ``"callable"`` for a user's callable.
    augmentation_ : str or None
        The augmentation the fit trained with, ``augmentation`` with
        ``"auto"`` resolved.
    beta_ : float
        The weight of the prior KL terms that the fit used, ``beta`` with
        ``"auto"`` resolved for ``backbone_``.
    mixed_precision_ : str or None
        ``"bf16"`` if the fit's forward passes ran under bfloat16 autocast,
        None for float32: ``mixed_precision`` with ``"auto"`` resolved on
        the fit's device. Predictions on another device resolve ``"auto"``
        there.
    transduction_ : ndarray of shape (n_samples,)
        The label of every training sample, as in
        :class:`~sklearn.semi_supervised.LabelSpreading`: a labeled sample
        keeps its given label, every other one gets the network's
        prediction (``classes_[argmax q(y|x)]``), computed once at the end of
        ``fit``. Samples held out by ``validation_fraction`` are training
        samples too and get theirs. Same dtype as ``classes_``. With
        ``vote_neighbors > 0``, :meth:`predict` adds the vote of the
        neighbours, so on the training samples it can differ from this.
    label_distributions_ : ndarray of shape (n_samples, n_classes)
        The class distribution behind ``transduction_``: one-hot at the given
        label for a labeled sample, ``q(y|x)`` (:meth:`predict_proba` with
        ``vote_neighbors=0``) for the others; what the neighbours vote with.
        float64; rows sum to one, columns follow ``classes_``.
    X_ : ndarray of shape (n_samples, n_features) or None
        The training samples, float32 rows (images flattened), whose
        ``label_distributions_`` vote with ``vote_neighbors``; None after a
        fit with ``vote_neighbors=0``. With ``vote_components=m`` below
        ``n_features``, shape (n_samples, m): their coordinates on
        ``vote_axes_``.
    vote_axes_ : ndarray of shape (vote_components, n_features) or None
        The training samples' first principal axes (float32 orthonormal rows,
        by decreasing variance), on which the vote measures distances; None
        when it measures them between the inputs as given.
    vote_mean_ : ndarray of shape (n_features,) or None
        The training samples' mean, the origin of ``vote_axes_``; None with
        it.
    max_epochs_ : int
        The number of epochs of the fit, ``max_epochs`` with ``"auto"``
        resolved.
    propagation_features_ : {"network", "input", "both"}
        What the graph of the label propagation linked, ``propagation_features``
        with ``"auto"`` resolved (used only when ``propagation_weight > 0``).
    ot_intrusion_neighbors_ : int
        The neighbours of a mix that the fit looked at,
        ``ot_intrusion_neighbors`` with ``"auto"`` resolved (used only when
        ``ot_drop_intrusions=True``).
    n_iter_ : int
        Number of epochs run, those of a fit continued with ``warm_start``
        included (``len(history_)``).
    best_epoch_ : int or None
        With ``early_stopping``, the epoch (counted from 1, as in
        ``history_``) whose weights the model holds; None without it.
    net_ : skshot._net.ShotVAENet
        The fitted skorch network; ``net_.module_`` is the PyTorch module.
    history_ : skorch.History
        Per epoch: ``train_loss``, the batch means of the loss's parts
        (``rec_l``, ``kl_z_l``, ``kl_y_l``, ``kl_smooth`` or ``ce``, ``rec_u``,
        ``kl_z_u``, ``kl_y_u``, ``ot``), the warm-up weight ``ot_weight`` at
        the epoch's end, and with ``validation_fraction`` the ``valid_loss``
        and ``valid_acc``.

    See Also
    --------
    sklearn.semi_supervised.SelfTrainingClassifier : Self-training around any classifier.
    sklearn.semi_supervised.LabelSpreading : Graph-based label propagation.

    Notes
    -----
    **Input.** ``X`` is converted to float32 for training and prediction
    (integer, float16 and float64 input give the float32 result). These are
    refused with an error that names the problem: NaN or infinite values
    (also values that overflow float32), 1-D ``X``, arrays of 3 or of more
    than 4 dimensions, sparse
    matrices, empty ``X``, ``X`` and ``y`` of different lengths, ``y`` with
    NaN or continuous values, ``y`` without labeled samples or with labeled
    samples of a single class, features outside [0, 1] with
    ``likelihood="bernoulli"``, and at prediction time a different number of
    features; before the data are read, a ``device`` that PyTorch does not
    know or this machine lacks, and ``mixed_precision="bf16"`` on a device
    without bfloat16. Negative labels other than ``-1`` are ordinary classes. Finite
    but huge features (say 1e30) make the training diverge: ``fit`` then
    raises ``FloatingPointError`` naming the loss term and the epoch, and the
    estimator stays unfitted. ``predict_proba`` raises instead of returning
    non-finite probabilities. Images, ``X`` of shape ``(n_samples, channels,
    height, width)``, are flattened to rows (``n_features_in_`` is ``C * H *
    W``), at fit and at prediction; :meth:`sample` returns rows, which
    ``X_new.reshape(-1, *clf.input_shape_)`` turns back into images.

    **Reproducibility.** Every random draw of an epoch is seeded from
    ``(random_state, epoch)``: the same integer ``random_state`` gives the
    same result on the CPU, in one process or across processes, and a fit
    resumed from a checkpoint (skorch's ``Checkpoint`` and ``LoadInitState``
    in ``callbacks``) or with ``warm_start`` matches an uninterrupted one. On
    a GPU, results may vary between runs because some CUDA kernels are not
    deterministic. Under joblib (``GridSearchCV(n_jobs=...)``) each worker's
    PyTorch uses the thread budget joblib gives it, so the workers do not
    oversubscribe the cores.

    **Saving.** A fitted classifier pickles (``pickle``, ``joblib``), but
    loading a pickle runs code, so open only pickles you trust.
    :func:`skshot.save` and :func:`skshot.load` store it as plain data
    (parameters and fitted attributes as JSON, weights as safetensors)
    that loads without running code; see the user guide's
    :ref:`saving`.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import make_blobs
    >>> from skshot import ShotVAEClassifier
    >>> X, y = make_blobs(n_samples=200, centers=2, random_state=0)
    >>> y_partial = np.full_like(y, -1)
    >>> y_partial[:10] = y[:10]
    >>> clf = ShotVAEClassifier(hidden_sizes=(32,), max_epochs=30, optimizer="adam",
    ...                         lr=3e-3, random_state=0).fit(X, y_partial)
    >>> clf.predict(X[:3]).shape
    (3,)
    """

    _parameter_constraints: ClassVar[dict] = {
        "latent_dim": [Interval(Integral, 1, None, closed="left")],
        "hidden_sizes": [tuple, list],
        "backbone": [StrOptions({"auto", *BACKBONES}), callable],
        "input_shape": [tuple, list, None],
        "likelihood": [StrOptions({"auto", "bernoulli", "gaussian"})],
        "objective": [StrOptions(set(OBJECTIVES))],
        "epsilon": [Interval(Real, 0, 1, closed="left")],
        "gamma": [Interval(Real, 0, None, closed="left")],
        "beta": [Interval(Real, 0, None, closed="left"), StrOptions({"auto"})],
        "elbo_weight": [Interval(Real, 0, None, closed="left")],
        "temperature": [Interval(Real, 0, None, closed="neither")],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "optimal_match": ["boolean"],
        "mixup_alpha": [Interval(Real, 0, None, closed="neither")],
        "ot_kl_direction": [StrOptions({"forward", "reverse"})],
        "ot_weight": [Interval(Real, 0, None, closed="left")],
        "ot_warmup": [Interval(Real, 0, 1, closed="right")],
        "ot_target_ema": [Interval(Real, 0, 1, closed="left"), None],
        "ot_target_temperature": [Interval(Real, 0, None, closed="neither")],
        "ot_drop_intrusions": ["boolean"],
        "ot_intrusion_neighbors": [Interval(Integral, 1, None, closed="left"),
                                   StrOptions({"auto"})],
        "entropy_weight": [Interval(Real, 0, None, closed="left")],
        "propagation_weight": [Interval(Real, 0, None, closed="left")],
        "propagation_neighbors": [Interval(Integral, 1, None, closed="left")],
        "propagation_features": [StrOptions({"auto", "network", "input", "both"})],
        "vote_neighbors": [Interval(Integral, 0, None, closed="left")],
        "vote_weight": [Interval(Real, 0, 1, closed="both"), StrOptions({"auto"})],
        "vote_components": [Interval(Integral, 1, None, closed="left"), None],
        "augmentation": [StrOptions({"auto", "translate", "translate-encoder"}), None],
        "translate_shift": [Interval(Integral, 1, None, closed="left")],
        "predict_shift": [Interval(Integral, 0, None, closed="left"), StrOptions({"auto"})],
        "batch_size_labeled": [Interval(Integral, 1, None, closed="left")],
        "batch_size_unlabeled": [Interval(Integral, 1, None, closed="left")],
        "max_epochs": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "optimizer": [StrOptions(set(_OPTIMIZERS))],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "momentum": [Interval(Real, 0, 1, closed="left")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "lr_schedule": [StrOptions({"step", "cosine", "constant"})],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither"), None],
        "early_stopping": ["boolean"],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "batch_size_predict": [Interval(Integral, 1, None, closed="left")],
        "device": [str, torch.device],
        "mixed_precision": [StrOptions({"auto", "bf16"}), None],
        "accelerator": [HasMethods(["prepare", "backward"]), None],
        "callbacks": [list, None],
        "warm_start": ["boolean"],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        *,
        latent_dim=10,
        hidden_sizes=(500, 500),
        backbone="auto",
        input_shape=None,
        likelihood="auto",
        objective="shot",
        epsilon=1e-3,
        gamma=1.0,
        beta="auto",
        elbo_weight=0.01,
        temperature=0.67,
        alpha=1.0,
        optimal_match=False,
        mixup_alpha=1.0,
        ot_kl_direction="forward",
        ot_weight=3.0,
        ot_warmup=1.0,
        ot_target_ema=None,
        ot_target_temperature=1.0,
        ot_drop_intrusions=True,
        ot_intrusion_neighbors="auto",
        entropy_weight=0.3,
        propagation_weight=0.3,
        propagation_neighbors=10,
        propagation_features="auto",
        vote_neighbors=10,
        vote_weight="auto",
        vote_components=None,
        augmentation="auto",
        translate_shift=2,
        predict_shift="auto",
        batch_size_labeled=64,
        batch_size_unlabeled=512,
        max_epochs="auto",
        optimizer="adam",
        lr=1e-3,
        momentum=0.9,
        weight_decay=5e-4,
        lr_schedule="step",
        validation_fraction=None,
        early_stopping=False,
        n_iter_no_change=10,
        batch_size_predict=256,
        device="cpu",
        mixed_precision="auto",
        accelerator=None,
        callbacks=None,
        warm_start=False,
        random_state=None,
        verbose=0,
    ):
        self.latent_dim = latent_dim
        self.hidden_sizes = hidden_sizes
        self.backbone = backbone
        self.input_shape = input_shape
        self.likelihood = likelihood
        self.objective = objective
        self.epsilon = epsilon
        self.gamma = gamma
        self.beta = beta
        self.elbo_weight = elbo_weight
        self.temperature = temperature
        self.alpha = alpha
        self.optimal_match = optimal_match
        self.mixup_alpha = mixup_alpha
        self.ot_kl_direction = ot_kl_direction
        self.ot_weight = ot_weight
        self.ot_warmup = ot_warmup
        self.ot_target_ema = ot_target_ema
        self.ot_target_temperature = ot_target_temperature
        self.ot_drop_intrusions = ot_drop_intrusions
        self.ot_intrusion_neighbors = ot_intrusion_neighbors
        self.entropy_weight = entropy_weight
        self.propagation_weight = propagation_weight
        self.propagation_neighbors = propagation_neighbors
        self.propagation_features = propagation_features
        self.vote_neighbors = vote_neighbors
        self.vote_weight = vote_weight
        self.vote_components = vote_components
        self.augmentation = augmentation
        self.translate_shift = translate_shift
        self.predict_shift = predict_shift
        self.batch_size_labeled = batch_size_labeled
        self.batch_size_unlabeled = batch_size_unlabeled
        self.max_epochs = max_epochs
        self.optimizer = optimizer
        self.lr = lr
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.lr_schedule = lr_schedule
        self.validation_fraction = validation_fraction
        self.early_stopping = early_stopping
        self.n_iter_no_change = n_iter_no_change
        self.batch_size_predict = batch_size_predict
        self.device = device
        self.mixed_precision = mixed_precision
        self.accelerator = accelerator
        self.callbacks = callbacks
        self.warm_start = warm_start
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ fit
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Fit the model on labeled and unlabeled samples.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data, labeled and unlabeled samples together.
        y : array-like of shape (n_samples,)
            Class labels; ``-1`` marks an unlabeled sample. At least two
            classes must have a labeled sample. A fully labeled ``y`` works too.

        Returns
        -------
        self : ShotVAEClassifier
            The fitted classifier.
        """
        self._check_hidden_sizes()
        if self.accelerator is None and not (self.warm_start and hasattr(self, "net_")):
            check_device(self.device, self.mixed_precision)  # before any data is copied
        X, image_shape = _image_rows(X)
        warm = self.warm_start and hasattr(self, "net_")
        X, y = validate_data(self, X, y, dtype=np.float32, reset=not warm)
        if warm:
            self._check_image_shape(image_shape)
            input_shape = self.input_shape_
        else:
            input_shape = self._resolve_input_shape(image_shape, X.shape[1])
        labeled, classes, y_index = encode_partial_labels(y)
        given_index = y_index  # of every labeled sample, held-out ones included
        if warm:
            if not np.array_equal(classes, self.classes_):
                raise ValueError(
                    f"warm_start=True continues the previous fit, whose classes were "
                    f"{self.classes_.tolist()!r}, but y holds {classes.tolist()!r}.")
            likelihood, device, seed = self.likelihood_, self.net_.compute_device, self.net_.seed
            _resolve_likelihood(likelihood, X)  # bernoulli: the range check
        else:
            likelihood = _resolve_likelihood(self.likelihood, X)
            device = resolve_device(self.device) if self.accelerator is None \
                else self.accelerator.device
            seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))

        train_rows = np.arange(len(X))
        labeled_rows = np.flatnonzero(labeled)
        valid = None
        fraction = self._validation_fraction()
        if fraction is not None:
            labeled_rows, valid_rows, y_index, y_valid = self._split_validation(
                labeled_rows, y_index, seed, fraction)
            train_rows = np.setdiff1d(train_rows, valid_rows)

        def tensor(a):
            return torch.tensor(a, device=device)

        if fraction is not None:
            valid = Dataset(tensor(X[valid_rows]), tensor(y_valid))
        train_split = predefined_split(valid) if valid is not None else None

        data = SemiSupervisedData(tensor(X[labeled_rows]), tensor(y_index), tensor(X[train_rows]),
                                  tensor(np.searchsorted(train_rows, labeled_rows)))
        if warm:  # a continued fit keeps its network and the way it trains
            backbone = self.backbone_
        else:
            backbone, augmentation, _ = self._resolve_image_settings(
                input_shape, device, n_train=len(train_rows))
        max_epochs = self._resolve_max_epochs(len(train_rows), backbone)
        if warm:
            net = self.net_
            net.set_params(max_epochs=max_epochs, train_split=train_split)
        else:
            net = self._build_net(input_shape, classes, likelihood, device, seed,
                                  train_split, max_epochs,
                                  self._resolve_propagation_features(len(train_rows)),
                                  self._resolve_intrusion_neighbors(len(train_rows)), backbone,
                                  self._resolve_beta(backbone))
        devices = [torch.device(device)] if torch.device(device).type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)  # the weights' initialisation
            if warm:
                net.partial_fit(data, None)
            else:
                net.fit(data, None)
        self.classes_, self.likelihood_, self.device_ = classes, likelihood, str(device)
        self.input_shape_ = input_shape
        if not warm:
            self.augmentation_ = augmentation
            self.backbone_ = backbone if isinstance(backbone, str) else "callable"
            self.mixed_precision_ = net.mixed_precision
            self.beta_ = net.criterion__beta
        self.max_epochs_ = max_epochs
        self.propagation_features_ = net.propagation_features
        self.ot_intrusion_neighbors_ = net.criterion_.ot_intrusion_neighbors
        self.net_ = net
        self.n_iter_ = len(net.history)
        stopper = dict(net.callbacks_).get("early_stopping")
        self.best_epoch_ = None if stopper is None or stopper.best_epoch_ is None \
            else int(stopper.best_epoch_)
        self.label_distributions_, self.transduction_ = self._transduce(X, labeled, given_index)
        self.X_, self.vote_mean_, self.vote_axes_ = self._vote_samples(X)
        return self

    def _vote_samples(self, X):
        """``X_``, ``vote_mean_`` and ``vote_axes_``: what the vote searches, kept at the fit."""
        if self.vote_neighbors == 0:
            return None, None, None
        if self.vote_components is None or self.vote_components >= X.shape[1]:
            # a copy: the user's array may change after the fit
            return np.array(X, dtype=np.float32, copy=True), None, None
        samples = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))
        mean, axes = principal_axes(samples, self.vote_components)
        return project(samples, mean, axes).numpy(), mean.numpy(), axes.numpy()

    def _transduce(self, X, labeled, y_index):
        """``label_distributions_`` and ``transduction_`` of the training samples.

        Labeled samples keep their given label (a one-hot distribution); the
        others get the fitted model's ``q(y|x)``, computed once, in batches.
        """
        distributions = self._class_distributions(
            torch.from_numpy(np.ascontiguousarray(X))).numpy()
        distributions[labeled] = np.eye(len(self.classes_))[y_index]
        return distributions, self.classes_[np.argmax(distributions, axis=1)]

    def _resolve_input_shape(self, image_shape, n_features):
        """The shape of one sample: ``input_shape``, the images' shape, or ``(n_features,)``."""
        shape = self.input_shape
        if shape is not None:
            shape = tuple(shape)
            if len(shape) not in (1, 3) or not _all_positive_ints(shape):
                raise ValueError(
                    "input_shape must be (n_features,) or (channels, height, width) of positive "
                    f"integers, got {self.input_shape!r}.")
            shape = tuple(int(s) for s in shape)
            if image_shape is not None and shape != image_shape:
                raise ValueError(f"input_shape={shape!r} differs from the shape of the images "
                                 f"in X, {image_shape!r}.")
            if math.prod(shape) != n_features:
                raise ValueError(f"input_shape={shape!r} holds {math.prod(shape)} values per "
                                 f"sample, but X has {n_features} features.")
            return shape
        if image_shape is not None:
            return image_shape
        if isinstance(self.backbone, str) and self.backbone not in ("auto", "mlp"):
            raise ValueError(
                f"backbone={self.backbone!r} needs the shape of the images: pass "
                "input_shape=(channels, height, width), or X of shape (n_samples, channels, "
                f"height, width) instead of rows of {n_features} features.")
        return (n_features,)

    def _check_image_shape(self, image_shape):
        # A model fitted on rows takes images of as many values per sample.
        if image_shape is not None and len(self.input_shape_) == 3 \
                and image_shape != tuple(self.input_shape_):
            raise ValueError(f"X holds images of shape {image_shape!r}, but the model was fitted "
                             f"on samples of shape {tuple(self.input_shape_)!r}.")

    def _check_hidden_sizes(self):
        sizes = self.hidden_sizes
        if not _all_positive_ints(sizes):
            raise ValueError(
                f"hidden_sizes must be a sequence of positive integers, got {sizes!r}.")

    def _validation_fraction(self):
        """The share of labels held out: ``validation_fraction``, 0.1 for early stopping."""
        if self.validation_fraction is None and self.early_stopping:
            return EARLY_STOPPING_FRACTION
        return self.validation_fraction

    def _split_validation(self, labeled_rows, y_index, seed, fraction):
        try:
            return train_test_split(labeled_rows, y_index, test_size=fraction,
                                    stratify=y_index, random_state=seed)
        except ValueError as exc:
            given = "validation_fraction" if self.validation_fraction is not None else \
                "early_stopping=True (validation_fraction=None: 0.1)"
            raise ValueError(
                f"{given} cannot hold out a stratified validation set of {fraction:g} of "
                f"{len(labeled_rows)} labeled samples: {exc}") from exc

    def _resolve_backbone(self, input_shape, device, fast_bf16=None, n_train=None):
        """``backbone``, or for ``"auto"`` ``"conv"`` on images of :data:`AUTO_CONV_MIN_SIDE`
        pixels or more where ``device`` trains it fast (:func:`_fast_convolutions`), else
        ``"mlp"``; ``"mlp"`` also when fewer than :data:`AUTO_CONV_MIN_SAMPLES` samples
        (``n_train``, when given) train it."""
        if not (isinstance(self.backbone, str) and self.backbone == "auto"):
            return self.backbone
        sides = tuple(input_shape[1:]) if len(input_shape) == 3 else ()
        large = sides and all(side >= AUTO_CONV_MIN_SIDE and side % 4 == 0 for side in sides)
        if not large or (n_train is not None and n_train < AUTO_CONV_MIN_SAMPLES):
            return "mlp"
        return "conv" if _fast_convolutions(device, fast_bf16) else "conv-mlp"

    def _resolve_image_settings(self, input_shape, device, backbone=None, fast_bf16=None,
                                n_train=None):
        """``(backbone, augmentation, mixed_precision)`` with their ``"auto"`` resolved.

        ``augmentation="auto"`` is ``"translate-encoder"`` and
        ``mixed_precision="auto"`` is ``"bf16"`` (on a ``device`` with fast
        bfloat16) for the convolutional backbones, None for the others.
        ``backbone``, if given, is the one already resolved (a fitted model's,
        which a later ``device`` must not change). ``fast_bf16``, if given,
        says whether ``device`` computes in bfloat16 natively instead of
        asking it: the settings as they resolve on another machine. ``n_train``, if
        given, is the number of training samples, which ``backbone="auto"`` reads.
        """
        if fast_bf16 is None:
            fast_bf16 = has_fast_bf16(device)
        if backbone is None:
            backbone = self._resolve_backbone(input_shape, device, fast_bf16, n_train)
        convolutional = isinstance(backbone, str) and backbone in IMAGE_BACKBONES
        augmentation = self.augmentation
        if augmentation == "auto":
            augmentation = "translate-encoder" if convolutional else None
        mixed_precision = self.mixed_precision
        if mixed_precision == "auto":
            mixed_precision = "bf16" if convolutional and fast_bf16 else None
        return backbone, augmentation, mixed_precision

    def _translate_shift(self, input_shape, augmentation):
        """Pixels of random translation of the training images; 0 for none."""
        if augmentation is None:
            return 0
        if len(input_shape) != 3:
            raise ValueError(
                f"augmentation={augmentation!r} needs images: pass X of shape (n_samples, channels, "
                "height, width) or input_shape=(channels, height, width); the samples have "
                f"shape {tuple(input_shape)!r}.")
        if self.translate_shift >= min(input_shape[1:]):
            raise ValueError(f"translate_shift={self.translate_shift} must be smaller than the "
                             f"images' height and width, {tuple(input_shape[1:])!r}.")
        return self.translate_shift

    def _resolve_max_epochs(self, n_train, backbone):
        """``max_epochs``, or for ``"auto"`` the epochs that give about :data:`AUTO_STEPS` steps.

        With the resolved ``backbone`` ``"conv-mlp"``, :data:`AUTO_STEPS_CONV_MLP` steps.
        """
        if self.max_epochs != "auto":
            return int(self.max_epochs)
        steps = AUTO_STEPS_CONV_MLP if backbone == "conv-mlp" else AUTO_STEPS
        return min(AUTO_MAX_EPOCHS, math.ceil(steps / self._steps_per_epoch(n_train)))

    def _resolve_beta(self, backbone):
        """``beta``, or for ``"auto"`` the weight for the resolved ``backbone``."""
        if self.beta != "auto":
            return float(self.beta)
        return AUTO_BETA_CONV_MLP if backbone == "conv-mlp" else AUTO_BETA

    def _steps_per_epoch(self, n_train):
        """Training steps of an epoch over ``n_train`` samples: one per unlabeled batch."""
        return math.ceil(n_train / self.batch_size_unlabeled)

    def _resolve_propagation_features(self, n_train):
        """``propagation_features``, or for ``"auto"`` the view chosen by :data:`AUTO_JOINT_GRAPH_STEPS`.

        The first graph is built at the start of epoch ``PROPAGATION_START``,
        after ``PROPAGATION_START - 1`` epochs.
        """
        if self.propagation_features != "auto":
            return self.propagation_features
        steps_before = (PROPAGATION_START - 1) * self._steps_per_epoch(n_train)
        return "both" if steps_before < AUTO_JOINT_GRAPH_STEPS else "network"

    def _resolve_intrusion_neighbors(self, n_train):
        """``ot_intrusion_neighbors``, or for ``"auto"`` the number chosen by :data:`AUTO_INTRUSION_STEPS`."""
        if self.ot_intrusion_neighbors != "auto":
            return int(self.ot_intrusion_neighbors)
        few_steps = self._steps_per_epoch(n_train) <= AUTO_INTRUSION_STEPS
        return AUTO_INTRUSION_NEIGHBORS if few_steps else 1

    def _build_net(self, input_shape, classes, likelihood, device, seed, train_split,
                   max_epochs, propagation_features, intrusion_neighbors, backbone, beta):
        n_classes = len(classes)
        backbone, augmentation, mixed_precision = self._resolve_image_settings(
            input_shape, self.accelerator.device if self.accelerator is not None else device,
            backbone)
        callbacks = list(copy.deepcopy(self.callbacks)) if self.callbacks else []
        callbacks.append(("lr_schedule", LRSchedule(self.lr_schedule)))
        if self.verbose == 1:
            callbacks.append(("progress_bar", EpochProgressBar()))
        if self.early_stopping:
            callbacks.append(("early_stopping", BestEpochStopping(self.n_iter_no_change)))
        optimizer_params = {"optimizer__weight_decay": self.weight_decay}
        if self.optimizer == "sgd":
            optimizer_params["optimizer__momentum"] = self.momentum
        if self.accelerator is None:
            net_class, placement = ShotVAENet, {"device": device}
        else:
            # The accelerator places the module; the net's device stays None.
            net_class, placement = accelerated_net_class(), {"accelerator": self.accelerator}
        return net_class(
            module=ShotVAE,
            module__input_shape=input_shape,
            module__n_classes=n_classes,
            module__latent_dim=self.latent_dim,
            module__backbone=backbone,
            module__hidden_sizes=tuple(self.hidden_sizes),
            module__likelihood=likelihood,
            criterion=SemiSupervisedObjective,
            criterion__objective=self.objective,
            criterion__likelihood=likelihood,
            criterion__epsilon=self.epsilon,
            criterion__beta=beta,
            criterion__elbo_weight=self.elbo_weight,
            criterion__temperature=self.temperature,
            criterion__alpha=self.alpha,
            criterion__optimal_match=self.optimal_match,
            criterion__mixup_alpha=self.mixup_alpha,
            criterion__ot_kl_direction=self.ot_kl_direction,
            criterion__entropy_weight=self.entropy_weight,
            criterion__ot_target_temperature=self.ot_target_temperature,
            criterion__propagation_weight=self.propagation_weight,
            criterion__ot_drop_intrusions=self.ot_drop_intrusions,
            criterion__ot_intrusion_neighbors=intrusion_neighbors,
            optimizer=_OPTIMIZERS[self.optimizer],
            lr=self.lr,
            **optimizer_params,
            max_epochs=max_epochs,
            batch_size=self.batch_size_predict,
            batch_size_labeled=self.batch_size_labeled,
            batch_size_unlabeled=self.batch_size_unlabeled,
            gamma=self.gamma,
            ot_warmup=self.ot_warmup,
            ot_weight=self.ot_weight,
            translate_shift=self._translate_shift(input_shape, augmentation),
            reconstruct_translated=augmentation != "translate-encoder",
            ot_target_ema=self.ot_target_ema,
            classes=classes,
            propagation_neighbors=self.propagation_neighbors,
            propagation_features=propagation_features,
            seed=seed,
            mixed_precision=mixed_precision,
            train_split=train_split,
            callbacks=callbacks,
            predict_nonlinearity=softmax_float64,
            **placement,
            verbose=int(self.verbose >= 2),
        )

    # ------------------------------------------------------------------ inference
    def _validated_tensor(self, X):
        check_is_fitted(self)
        X, image_shape = _image_rows(X)
        self._check_image_shape(image_shape)
        X = validate_data(self, X, reset=False, dtype=np.float32)
        return torch.tensor(X)

    def predict_proba(self, X):
        """Class probabilities: ``q(y|x) = pi(x)`` and the vote of the nearest training samples.

        With ``vote_neighbors=k > 0``, ``(1 - vote_weight) * q(y|x) +
        vote_weight`` times the mean ``label_distributions_`` row of the ``k``
        training samples nearest to each sample (:ref:`neighbour-vote`);
        with 0, ``q(y|x)`` alone.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Columns follow ``classes_``; rows sum to one.
        """
        x = self._validated_tensor(X)
        proba = self._class_distributions(x)
        _check_finite_proba(proba.numpy(), x)
        vote = self._neighbour_vote(x)
        if vote is None:
            return proba.numpy()
        return blend(proba, vote, self._resolved_vote_weight()).numpy()

    @staticmethod
    def _auto_predict_shift(augmentation):
        """What ``predict_shift="auto"`` means for a model trained with ``augmentation``."""
        return AUTO_PREDICT_SHIFT if augmentation is not None else 0

    def _resolved_predict_shift(self):
        """``predict_shift``, or for ``"auto"`` :data:`AUTO_PREDICT_SHIFT` for a model trained on
        translated images and 0 otherwise; checked against the fitted images' size."""
        shift = self.predict_shift
        if shift == "auto":
            return self._auto_predict_shift(self.augmentation_)
        if shift and len(self.input_shape_) != 3:
            raise ValueError(
                f"predict_shift={shift} translates images, but the model was fitted on rows of "
                f"{self.input_shape_[0]} features: pass images (4-D X or input_shape), or "
                "predict_shift=0.")
        if shift and shift >= min(self.input_shape_[1:]):
            raise ValueError(
                f"predict_shift={shift} must be smaller than the images' height and width, "
                f"{tuple(self.input_shape_[1:])!r}.")
        return shift

    @staticmethod
    def _auto_vote_weight(predict_shift):
        """What ``vote_weight="auto"`` means for a model predicting with ``predict_shift``."""
        return AUTO_VOTE_WEIGHT_SHIFTED if predict_shift > 0 else AUTO_VOTE_WEIGHT

    def _resolved_vote_weight(self):
        """``vote_weight``, or for ``"auto"`` :data:`AUTO_VOTE_WEIGHT_SHIFTED` where the class
        distributions are averaged over translated copies and :data:`AUTO_VOTE_WEIGHT` else."""
        if self.vote_weight == "auto":
            return self._auto_vote_weight(self._resolved_predict_shift())
        return self.vote_weight

    def _class_distributions(self, x, log=False):
        """``q(y|x)`` of flat inputs ``x`` in float64 on the CPU (its logarithm with ``log``),
        averaged over the translated copies of :meth:`_resolved_predict_shift`."""
        shift = self._resolved_predict_shift()
        shape = tuple(self.input_shape_)

        def one(xb):
            logits = self.net_.module_.encode(xb)[2]
            return torch.log_softmax(logits.double(), dim=-1) if log else softmax_float64(logits)

        return self.net_.map_batches(
            x, lambda xb: mean_over_translations(one, xb, shape, shift, log=log))

    def _neighbour_vote(self, x):
        """The mean ``label_distributions_`` row of each sample's ``vote_neighbors`` nearest
        training samples (float64, on the CPU), or None with ``vote_neighbors=0``."""
        if self.vote_neighbors == 0:
            return None
        if getattr(self, "X_", None) is None:
            raise ValueError(
                f"vote_neighbors={self.vote_neighbors} needs the training samples, which a fit "
                "with vote_neighbors=0 does not keep (X_ is None): fit again with "
                "vote_neighbors > 0, or predict with vote_neighbors=0.")
        device = self.net_.compute_device
        references = torch.from_numpy(self.X_).to(device)
        queries = x.to(device)
        if getattr(self, "vote_axes_", None) is not None:
            queries = project(queries, torch.from_numpy(self.vote_mean_).to(device),
                              torch.from_numpy(self.vote_axes_).to(device))
        k = min(self.vote_neighbors, len(references))
        indices = nearest_samples(queries, references, k)
        return neighbour_vote(torch.from_numpy(self.label_distributions_), indices.cpu())

    def predict_log_proba(self, X):
        """Logarithm of the class probabilities of :meth:`predict_proba`.

        Computed from the logits with a log-softmax in float64, never as the
        logarithm of a rounded probability: a class whose probability rounds
        to zero keeps a finite log-probability. With ``vote_neighbors > 0``
        the vote is added in log space (``logaddexp``), so a class no
        neighbour votes for keeps ``log q(y|x) + log(1 - vote_weight)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            Columns follow ``classes_``; ``np.exp(log_proba)`` is
            :meth:`predict_proba`, up to rounding.
        """
        x = self._validated_tensor(X)
        log_proba = self._class_distributions(x, log=True)
        _check_finite_proba(log_proba.numpy(), x)
        vote = self._neighbour_vote(x)
        if vote is None:
            return log_proba.numpy()
        return log_blend(log_proba, vote, self._resolved_vote_weight()).numpy()

    def predict(self, X):
        """Most probable class of :meth:`predict_proba`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        """
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    def score(self, X, y, sample_weight=None):
        """Accuracy on the labeled samples of ``(X, y)``.

        Samples whose label is ``-1`` (unlabeled) are left out, so that
        cross-validation on partially labeled data scores each fold on its
        labeled part instead of counting ``-1`` as a wrong class.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            True labels, ``-1`` for unlabeled samples.
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        score : float
            Accuracy of :meth:`predict` over the labeled samples.
        """
        y = column_or_1d(y, warn=True)
        keep = ~unlabeled_mask(y)
        if not keep.any():
            raise ValueError("score needs labeled samples, but every entry of y is -1.")
        X = _safe_indexing(X, np.flatnonzero(keep))
        if sample_weight is not None:
            sample_weight = np.asarray(sample_weight)[keep]
        return accuracy_score(y[keep], self.predict(X), sample_weight=sample_weight)

    def transform(self, X):
        """Posterior mean of the latent code, ``mu(x)`` of ``q(z|x)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        z : ndarray of shape (n_samples, latent_dim)
        """
        x = self._validated_tensor(X)
        return self.net_.map_batches(x, lambda xb: self.net_.module_.encode(xb)[0]).numpy()

    def score_samples(self, X):
        """Each sample's ELBO (eq. 4 with beta = 1), a lower bound of ``log p(x)``.

        ``q(y|x)`` is summed over exactly; ``q(z|x)`` is averaged over 16
        draws shared by all samples, so the value does not depend on the
        other samples passed. Compare it with accuracy to see the "good ELBO,
        bad inference" the paper describes.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        elbo : ndarray of shape (n_samples,)
            In nats; for ``likelihood="gaussian"`` a density of the float
            features, for ``"bernoulli"`` a probability of the [0, 1] features.
        """
        x = self._validated_tensor(X)
        module = self.net_.module_
        generator = torch.Generator().manual_seed(0)
        noise = torch.randn(_ELBO_DRAWS, module.latent_dim, generator=generator)
        noise = noise.to(self.net_.compute_device)
        return self.net_.map_batches(
            x, lambda xb: elbo_per_sample(module, xb, noise, self.likelihood_)).numpy()

    def sample(self, y, n_samples=1, X=None, random_state=None):
        """Generate samples of given classes: decode ``[z, onehot(y)]``.

        Parameters
        ----------
        y : array-like of shape (n_classes_requested,)
            Classes to generate, each one of ``classes_``; one block of rows
            per entry, in order.
        n_samples : int, default=1
            Rows per block when ``z`` is drawn from the prior ``N(0, I)``.
            Must be 1 when ``X`` is given.
        X : array-like of shape (n_inputs, n_features), default=None
            If given, ``z`` is the posterior mean ``mu(x)`` of each row, its
            "style": each block then holds ``n_inputs`` rows, the inputs
            redrawn as the block's class (the paper's Fig. 6).
        random_state : int, RandomState instance or None, default=None
            Seeds the prior draws of ``z``.

        Returns
        -------
        X_new : ndarray of shape (n_classes_requested * block, n_features)
            The decoder's mean ``E[x | z, y]``: probabilities in [0, 1] for
            ``likelihood="bernoulli"`` (no binary draw), Gaussian means for
            ``"gaussian"``.
        y_new : ndarray of shape (n_classes_requested * block,)
            The class of each row.

        Notes
        -----
        The class only changes the samples if the decoder reads ``y``. With
        a small ``beta`` the latent code ``z`` can carry the class itself and
        the decoder then ignores ``y``; for conditional generation fit with a
        larger ``beta`` (on Fashion-MNIST, ``beta=10`` gives class-faithful
        samples at a similar accuracy).
        """
        check_is_fitted(self)
        y = np.asarray(y).ravel()
        unknown = y[~np.isin(y, self.classes_)]
        if unknown.size:
            raise ValueError(f"sample got classes {unknown.tolist()!r} that are not in classes_ "
                             f"{self.classes_.tolist()!r}.")
        if not isinstance(n_samples, Integral) or n_samples < 1:
            raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}.")
        module = self.net_.module_
        if X is not None:
            if n_samples != 1:
                raise ValueError("n_samples must be 1 when X is given: each row of X gives "
                                 "one z per class.")
            z = torch.from_numpy(self.transform(X))
        else:
            seed = int(check_random_state(random_state).randint(np.iinfo(np.int32).max))
            generator = torch.Generator().manual_seed(seed)
            z = torch.randn(n_samples, module.latent_dim, generator=generator)
        class_index = torch.from_numpy(np.searchsorted(self.classes_, y).astype(np.int64))
        z_all = z.repeat(len(y), 1)
        y_all = torch.nn.functional.one_hot(class_index.repeat_interleave(len(z)),
                                            len(self.classes_)).to(z.dtype)
        X_new = self.net_.map_batches(
            torch.cat([z_all, y_all], dim=1),
            lambda zy: module.decode_mean(zy[:, :module.latent_dim], zy[:, module.latent_dim:]))
        return X_new.numpy(), np.repeat(y, len(z))

    @property
    def history_(self):
        """The skorch history of the fit (see the class's Attributes)."""
        return self.net_.history

    def __sklearn_is_fitted__(self):
        return hasattr(self, "net_")

    def __setstate__(self, state):
        super().__setstate__(state)
        from .persistence import ADDED_PARAMETERS  # here: that module imports this one

        for name, value in ADDED_PARAMETERS.items():
            if name not in state:  # a pickle of an earlier skshot behaves as it did
                setattr(self, name, value)
        if "net_" in state:
            # skorch maps a net fitted on a GPU to the CPU when none is present.
            self.device_ = str(self.net_.compute_device)
            # as skshot.load: a pickle of an earlier skshot can hold subnormal weights
            self.net_.flush_tiny_numbers()

    @property
    def _n_features_out(self):
        """Number of output features of :meth:`transform`, for ``get_feature_names_out``."""
        return self.latent_dim

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        # The network computes in float32, whatever the input's precision.
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags
