"""The terms of the SHOT-VAE objective as small, pure functions.

Every function here implements one formula of the SHOT-VAE paper (Feng et
al., AAAI 2021; equation numbers are the paper's), as the user guide writes
it (:ref:`the-model`, :ref:`smooth-elbo`, :ref:`ot-approximation`,
:ref:`warm-up`), and nothing else: no module calls, no global state besides PyTorch's random number
generator for the two sampling functions. Per-sample terms return a tensor of
shape ``(B,)`` (summed over features or latent dimensions); the objectives in
:mod:`skshot.objectives` average them over a batch and weight them.

Notation: ``B`` batch size, ``K`` classes, ``D`` features, ``d`` latent
dimensions. ``q(z|x) = N(mu, diag(exp(logvar)))`` and ``q(y|x) = Cat(softmax(logits))``.
"""

import math

import torch
import torch.nn.functional as F

from .voting import nearest_samples

__all__ = [
    "LOG_2PI",
    "categorical_entropy",
    "cross_entropy",
    "elbo",
    "ema_update",
    "gaussian_reparameterize",
    "gumbel_softmax_sample",
    "kl_categorical_uniform",
    "kl_gaussian_pairwise",
    "kl_gaussian_standard",
    "kl_smooth",
    "mixup",
    "optimal_match",
    "ot_approximation",
    "random_match",
    "reconstruction_nll",
    "sharpen",
    "smooth_elbo",
    "smooth_labels",
    "third_class_mixes",
    "warmup_weight",
]

LOG_2PI = math.log(2.0 * math.pi)


def gaussian_reparameterize(mu, logvar):
    """Draw ``z = mu + sigma * e`` with ``e ~ N(0, I)``, the reparameterisation of ``q(z|x)``.

    It estimates the expectation over ``z`` of the ELBO, eq. 4 (user guide:
    :ref:`the-model`).

    Parameters
    ----------
    mu, logvar : torch.Tensor of shape (B, d)
        Mean and log-variance of ``q(z|x)``.

    Returns
    -------
    z : torch.Tensor of shape (B, d)
    """
    return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)


def gumbel_softmax_sample(logits, temperature):
    """Relaxed one-hot sample ``softmax((log pi + g) / tau)``, ``g ~ Gumbel(0, 1)``.

    Parameters
    ----------
    logits : torch.Tensor of shape (B, K)
        Unnormalised ``log pi``; any additive constant per row cancels.
    temperature : float
        The relaxation temperature ``tau`` (the paper uses 0.67).

    Returns
    -------
    y : torch.Tensor of shape (B, K)
        Rows on the probability simplex.
    """
    gumbels = -torch.empty_like(logits).exponential_().log()
    return torch.softmax((logits + gumbels) / temperature, dim=-1)


def reconstruction_nll(x, decoded, likelihood):
    """``REC(x; z, y) = -log p(x | z, y)`` summed over features, the reconstruction of eq. 4.

    See the user guide's :ref:`the-model` and :ref:`likelihood`.

    Parameters
    ----------
    x : torch.Tensor of shape (B, D)
        The data.
    decoded : torch.Tensor of shape (B, D)
        The decoder's output: Bernoulli logits, or the Gaussian mean.
    likelihood : {"bernoulli", "gaussian"}
        ``"bernoulli"``: binary cross-entropy with logits (x in [0, 1]).
        ``"gaussian"``: unit-variance Gaussian,
        ``0.5 * ||x - mean||^2 + 0.5 * D * log(2 pi)``, so that the value is an
        exact negative log density.

    Returns
    -------
    nll : torch.Tensor of shape (B,)
    """
    if likelihood == "bernoulli":
        nll = F.binary_cross_entropy_with_logits(decoded, x, reduction="none")
        return nll.sum(dim=-1)
    if likelihood == "gaussian":
        return 0.5 * (x - decoded).pow(2).sum(dim=-1) + 0.5 * x.shape[-1] * LOG_2PI
    raise ValueError(f"likelihood must be 'bernoulli' or 'gaussian', got {likelihood!r}")


def kl_gaussian_standard(mu, logvar):
    """``KLz = KL(N(mu, diag sigma^2) || N(0, I))`` in closed form, a prior term of eq. 4.

    See the user guide's :ref:`the-model`.

    ``0.5 * sum_d (mu_d^2 + sigma_d^2 - log sigma_d^2 - 1)``.

    Returns
    -------
    kl : torch.Tensor of shape (B,)
    """
    return 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1.0).sum(dim=-1)


def kl_categorical_uniform(logits):
    """``KLy = KL(Cat(pi) || Uniform(K)) = sum_k pi_k (log pi_k + log K)``, eq. 4's prior term.

    See the user guide's :ref:`the-model`.

    Returns
    -------
    kl : torch.Tensor of shape (B,)
    """
    log_pi = torch.log_softmax(logits, dim=-1)
    n_classes = logits.shape[-1]
    return (log_pi.exp() * (log_pi + math.log(n_classes))).sum(dim=-1)


def kl_gaussian_pairwise(mu, logvar):
    """All pairwise ``KL(q(z|x_i) || q(z|x_j))`` of a batch of diagonal Gaussians.

    The distance that the optimal match of eq. 13 minimises, in the closed
    form of the user guide's :ref:`ot-approximation` (step 1),
    ``sum_d [log s_j - log s_i + (s_i^2 + (m_i - m_j)^2) / (2 s_j^2) - 1/2]``,
    expanded into three matrix products and broadcast sums, so a batch of
    512 costs a few small matrix multiplications and no Python loop.

    Parameters
    ----------
    mu, logvar : torch.Tensor of shape (B, d)

    Returns
    -------
    kl : torch.Tensor of shape (B, B)
        ``kl[i, j] = KL(q_i || q_j)``; the diagonal is zero up to rounding.
    """
    inv_var = torch.exp(-logvar)  # 1 / s_j^2, (B, d)
    # sum_d (s_i^2 + m_i^2) / s_j^2  -  2 sum_d m_i m_j / s_j^2  +  sum_d m_j^2 / s_j^2
    quad = (logvar.exp() + mu.pow(2)) @ inv_var.T
    quad = quad - 2.0 * (mu @ (mu * inv_var).T)
    quad = quad + (mu.pow(2) * inv_var).sum(dim=-1)[None, :]
    half_logdet = 0.5 * logvar.sum(dim=-1)
    return half_logdet[None, :] - half_logdet[:, None] + 0.5 * quad - 0.5 * mu.shape[-1]


def smooth_labels(y, n_classes, epsilon, dtype=None):
    """``smooth(1_y)`` of eq. 9: ``1 - eps`` at the true class, ``eps / (K - 1)`` elsewhere.

    Parameters
    ----------
    y : torch.Tensor of shape (B,), integer class indices in ``[0, K)``
    n_classes : int
        ``K``, at least 2.
    epsilon : float
        The smoothing mass ``eps`` in ``[0, 1)``.
    dtype : torch.dtype, default=None
        Floating dtype of the result; PyTorch's default dtype when None.

    Returns
    -------
    targets : torch.Tensor of shape (B, K)
        Rows sum to one.
    """
    if n_classes < 2:
        raise ValueError(f"smooth_labels needs at least 2 classes, got n_classes={n_classes}")
    off = epsilon / (n_classes - 1)
    targets = torch.full((y.shape[0], n_classes), off, dtype=dtype or torch.get_default_dtype(),
                         device=y.device)
    targets.scatter_(1, y[:, None], 1.0 - epsilon)
    return targets


def kl_smooth(targets, logits):
    """``KLsmooth = KL(smooth(1_y) || pi(x)) = sum_k s_k (log s_k - log pi_k)``.

    The label term of the smooth-ELBO, eq. 11 (user guide: :ref:`smooth-elbo`).

    Zero-probability target entries contribute zero (``0 log 0 = 0``).

    Parameters
    ----------
    targets : torch.Tensor of shape (B, K)
        ``smooth(1_y)`` or any distribution over the classes.
    logits : torch.Tensor of shape (B, K)
        Logits of ``q(y|x)``.

    Returns
    -------
    kl : torch.Tensor of shape (B,)
    """
    log_pi = torch.log_softmax(logits, dim=-1)
    return (torch.xlogy(targets, targets) - targets * log_pi).sum(dim=-1)


def cross_entropy(logits, y):
    """``CE(pi(x), y) = -log pi_y(x)``, the label term of M2 (eq. 6).

    Returns
    -------
    ce : torch.Tensor of shape (B,)
    """
    return F.cross_entropy(logits, y, reduction="none")


def elbo(rec, kl_z, kl_y, beta=1.0):
    """ELBO of eq. 4 (unlabeled) with beta-VAE weighting: ``-REC - beta (KLz + KLy)``.

    For the labeled ELBO of M2 (eqs. 5 and 8) pass ``kl_y = 0``.

    Parameters
    ----------
    rec, kl_z, kl_y : torch.Tensor of shape (B,) or scalars
    beta : float, default=1.0
        Weight of the two prior KL terms (1 gives the true ELBO).
    """
    return -(rec + beta * (kl_z + kl_y))


def smooth_elbo(rec, kl_z, kl_y, kl_label, beta=1.0):
    """smooth-ELBO of eq. 11: ``-REC - beta (KLz + KLy) - KLsmooth``.

    The label enters through ``KLsmooth = KL(smooth(1_y) || pi(x))``; ``beta``
    weights the two prior KL terms only, the label term keeps weight one.
    """
    return elbo(rec, kl_z, kl_y, beta) - kl_label


def optimal_match(mu, logvar):
    """Optimal partner of each sample in z-space (eq. 13; user guide: :ref:`ot-approximation`).

    ``match[i] = argmin_{j != i} KL(q(z|x_i) || q(z|x_j))`` over the batch.

    Parameters
    ----------
    mu, logvar : torch.Tensor of shape (B, d), B >= 2

    Returns
    -------
    match : torch.LongTensor of shape (B,)
    """
    kl = kl_gaussian_pairwise(mu, logvar)
    kl.diagonal().fill_(float("inf"))
    return kl.argmin(dim=1)


def random_match(n, device=None):
    """Random partner for each of ``n >= 2`` samples, never the sample itself.

    Samples are put on a random cycle: each one's partner is the next one on it.
    This is the pairing of the authors' released code (a random permutation),
    without its fixed points; see the user guide's :ref:`departures`.
    """
    if n < 2:
        raise ValueError(f"random_match needs at least 2 samples, got {n}")
    order = torch.randperm(n, device=device)
    match = torch.empty_like(order)
    match[order] = order.roll(-1)
    return match


def mixup(a, b, lam):
    """``(1 - lam) * a + lam * b`` (eq. 14 for inputs, eq. 15's target for probabilities).

    Parameters
    ----------
    a, b : torch.Tensor of shape (B, ...)
    lam : torch.Tensor of shape (B, 1) or broadcastable
    """
    return torch.lerp(a, b, lam)


def third_class_mixes(x_mix, x_ref, classes_ref, classes_a, classes_b, n_neighbors=1):
    """Which mixes land next to a sample of neither parent's class.

    A mix of two samples of classes ``a`` and ``b`` with a third class among
    its nearest reference samples (Euclidean distance in input space,
    :func:`skshot.voting.nearest_samples`) lies next to that class's
    samples, where eq. 15's target, a mix of ``a`` and ``b``, contradicts it
    ("manifold intrusion").

    Parameters
    ----------
    x_mix : torch.Tensor of shape (B, ...)
        The mixes.
    x_ref : torch.Tensor of shape (N, ...)
        The reference samples, of the same shape as the mixes per sample.
    classes_ref : torch.LongTensor of shape (N,)
        Classes of the reference samples.
    classes_a, classes_b : torch.LongTensor of shape (B,)
        Classes of each mix's two parents.
    n_neighbors : int, default=1
        How many of the nearest reference samples are looked at (at most
        ``N``).

    Returns
    -------
    mask : torch.BoolTensor of shape (B,)
        True where the class of any of the ``n_neighbors`` nearest reference
        samples is neither parent's.
    """
    k = min(n_neighbors, x_ref.shape[0])
    nearest = classes_ref[nearest_samples(x_mix.flatten(1), x_ref.flatten(1), k)]
    third = (nearest != classes_a[:, None]) & (nearest != classes_b[:, None])
    return third.any(dim=1)


def ot_approximation(logits_mixed, target_probs, direction="forward"):
    """The OT-approximation loss of eq. 15, per sample.

    Parameters
    ----------
    logits_mixed : torch.Tensor of shape (B, K)
        Logits of ``q(y | x_mix)``.
    target_probs : torch.Tensor of shape (B, K)
        ``pi_mix = (1 - lam) pi(x0) + lam pi(x1)``, treated as a constant:
        it is detached here.
    direction : {"forward", "reverse"}, default="forward"
        ``"forward"``: ``KL(q(y|x_mix) || Cat(pi_mix))`` as the paper writes
        it. ``"reverse"``: ``KL(Cat(pi_mix) || q(y|x_mix))``, the soft-target
        cross-entropy that the authors' released code uses (up to a constant;
        see the user guide's :ref:`departures`).

    Returns
    -------
    kl : torch.Tensor of shape (B,)
    """
    target = target_probs.detach()
    log_q = torch.log_softmax(logits_mixed, dim=-1)
    if direction == "forward":
        log_t = torch.log(target.clamp_min(torch.finfo(target.dtype).tiny))
        return (log_q.exp() * (log_q - log_t)).sum(dim=-1)
    if direction == "reverse":
        return kl_smooth(target, logits_mixed)
    raise ValueError(f"direction must be 'forward' or 'reverse', got {direction!r}")


def warmup_weight(progress, gamma, horizon=1.0, maximum=1.0):
    """Warm-up weight of eq. 16, ``w_t = maximum * exp(-gamma (1 - t / (horizon T))^2)``.

    With the defaults it is the paper's ``exp(-gamma (1 - t / T)^2)``, which
    reaches one at the end of training. ``horizon < 1`` reaches ``maximum``
    earlier, after that fraction of training, and stays there (the authors'
    released code reaches it at 0.4).

    Parameters
    ----------
    progress : float
        ``t / T``, clipped to ``[0, 1]``.
    gamma : float
        Sharpness; 0 gives a constant weight of ``maximum``.
    horizon : float, default=1.0
        Fraction of training, in ``(0, 1]``, at which the weight reaches ``maximum``.
    maximum : float, default=1.0
        The weight's final value.

    Returns
    -------
    w : float
    """
    progress = min(max(float(progress) / horizon, 0.0), 1.0)
    return maximum * math.exp(-gamma * (1.0 - progress) ** 2)


def categorical_entropy(logits):
    """Entropy ``H(q(y|x)) = -sum_k pi_k log pi_k`` of the class distribution, in nats.

    ``KLy = log K - H``: minimising ``KLy``, as the ELBO of eq. 4 does,
    maximises the entropy; adding ``w * H`` to a loss instead rewards
    confident predictions (entropy minimisation, Grandvalet & Bengio 2005).

    Returns
    -------
    entropy : torch.Tensor of shape (B,)
    """
    log_pi = torch.log_softmax(logits, dim=-1)
    return -(log_pi.exp() * log_pi).sum(dim=-1)


def sharpen(logits, temperature):
    """Class distribution sharpened by a temperature, ``pi_k^(1/T) / sum_j pi_j^(1/T)``.

    With ``pi = softmax(logits)`` this is ``softmax(logits / T)``, computed so
    from the logits. ``T < 1`` moves the mass towards the most probable class
    (as MixMatch sharpens its guessed labels), ``T = 1`` returns ``pi``.

    Parameters
    ----------
    logits : torch.Tensor of shape (B, K)
    temperature : float
        ``T > 0``.

    Returns
    -------
    probs : torch.Tensor of shape (B, K)
    """
    return torch.softmax(logits / temperature, dim=-1)


@torch.no_grad()
def ema_update(averaged, current, decay):
    """Exponential moving average of tensors, in place: ``a <- decay * a + (1 - decay) * c``.

    Parameters
    ----------
    averaged : sequence of torch.Tensor
        The running averages, updated in place.
    current : sequence of torch.Tensor
        The current values, of the same shapes.
    decay : float
        In ``[0, 1]``; 0 copies ``current``, 1 keeps ``averaged``.
    """
    averaged, current = list(averaged), list(current)
    if len(averaged) != len(current):
        raise ValueError(f"ema_update needs as many averages as values, got {len(averaged)} "
                         f"and {len(current)}")
    torch._foreach_lerp_(averaged, current, 1.0 - decay)
