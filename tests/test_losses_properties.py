"""Property-based tests of the loss terms (hypothesis)."""

import math

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from skshot import losses

settings.register_profile("skshot", max_examples=60, deadline=None)
settings.load_profile("skshot")

# Values on a 0.01 grid: distinct values differ by far more than rounding.
finite = st.integers(-400, 400).map(lambda i: i / 100)


def batch(n_rows, n_cols):
    return arrays(np.float64, (n_rows, n_cols), elements=finite).map(torch.from_numpy)


def simplex(k):
    """Strictly positive probability vectors of length k."""
    return arrays(np.float64, k, elements=st.integers(1, 100)).map(
        lambda a: torch.from_numpy(a / a.sum()))


@given(batch(3, 4), batch(3, 4))
def test_gaussian_kl_to_the_prior_is_nonnegative_and_zero_only_at_the_prior(mu, logvar):
    kl = losses.kl_gaussian_standard(mu, logvar)
    assert torch.all(kl >= 0)
    at_prior = (mu.abs().sum(1) == 0) & (logvar.abs().sum(1) == 0)
    assert torch.all((kl == 0) == at_prior) or torch.all(kl[~at_prior] > 1e-12)
    assert losses.kl_gaussian_standard(torch.zeros(2, 4), torch.zeros(2, 4)).abs().max() == 0


@given(batch(4, 3), batch(4, 3))
def test_pairwise_gaussian_kl_is_nonnegative_zero_on_the_diagonal(mu, logvar):
    kl = losses.kl_gaussian_pairwise(mu, logvar)
    assert torch.all(kl >= -1e-9)
    torch.testing.assert_close(kl.diagonal(), torch.zeros(4, dtype=kl.dtype), atol=1e-9,
                               rtol=0)
    same = (mu[:, None] == mu[None]).all(-1) & (logvar[:, None] == logvar[None]).all(-1)
    assert torch.all(kl[~same] > 0)


@given(batch(3, 5))
def test_categorical_kl_to_uniform_is_nonnegative_and_zero_only_when_uniform(logits):
    kl = losses.kl_categorical_uniform(logits)
    assert torch.all(kl >= -1e-12)
    pi = torch.softmax(logits, -1)
    uniform = (pi - 0.2).abs().max(-1).values < 1e-9
    assert torch.all(kl[~uniform] > 0)
    assert losses.kl_categorical_uniform(torch.full((1, 5), 2.5)).abs().item() < 1e-7


@given(simplex(4), batch(1, 4))
def test_smooth_kl_is_nonnegative_and_zero_at_the_target(target, logits):
    target = target[None]
    assert losses.kl_smooth(target, logits).item() >= -1e-12
    assert abs(losses.kl_smooth(target, target.log()).item()) < 1e-12


@given(simplex(5), batch(1, 5), st.sampled_from(["forward", "reverse"]))
def test_ot_kl_is_nonnegative_and_zero_only_at_equality(target, logits, direction):
    target = target[None]
    value = losses.ot_approximation(logits, target, direction).item()
    assert value >= -1e-12
    if (torch.softmax(logits, -1) - target).abs().max() > 1e-6:
        assert value > 0
    assert abs(losses.ot_approximation(target.log(), target, direction).item()) < 1e-12


@given(st.integers(2, 12), st.floats(0.0, 0.99), st.lists(st.integers(0, 11), min_size=1,
                                                           max_size=6))
def test_smoothed_labels_sum_to_one_with_the_right_entries(k, epsilon, labels):
    y = torch.tensor([c % k for c in labels])
    s = losses.smooth_labels(y, k, epsilon, dtype=torch.float64)
    torch.testing.assert_close(s.sum(1), torch.ones(len(y), dtype=torch.float64))
    torch.testing.assert_close(s[torch.arange(len(y)), y],
                               torch.full((len(y),), 1 - epsilon, dtype=torch.float64))
    off = s.clone()
    off[torch.arange(len(y)), y] = epsilon / (k - 1)
    torch.testing.assert_close(off, torch.full_like(s, epsilon / (k - 1)))


def weighted_kl(p, pi0, pi1, lam):
    def kl(a, b):
        return float(np.sum(a * (np.log(a) - np.log(b))))
    return (1 - lam) * kl(pi0, p) + lam * kl(pi1, p)


@given(simplex(4), simplex(4), st.floats(0.0, 1.0), st.lists(simplex(4), min_size=8,
                                                              max_size=8))
def test_prop1_the_mixture_minimises_the_weighted_kl(pi0, pi1, lam, others):
    pi0, pi1 = pi0.numpy(), pi1.numpy()
    mixture = losses.mixup(torch.from_numpy(pi0), torch.from_numpy(pi1),
                           torch.tensor(lam, dtype=torch.float64)).numpy()
    best = weighted_kl(mixture, pi0, pi1, lam)
    for other in others:
        assert best <= weighted_kl(other.numpy(), pi0, pi1, lam) + 1e-12
    for t in (0.5, 0.9, 0.99):  # also along the way towards any competitor
        nearby = t * mixture + (1 - t) * others[0].numpy()
        assert best <= weighted_kl(nearby, pi0, pi1, lam) + 1e-12


def smoothing_entropy(k, epsilon):
    """Entropy of smooth(1_y): the gap that remains when q(y|x) equals it."""
    rest = epsilon * math.log((k - 1) / epsilon) if epsilon > 0 else 0.0
    return -(1 - epsilon) * math.log(1 - epsilon) + rest


@given(st.integers(2, 10), st.floats(1e-6, 0.3), batch(1, 10), st.integers(0, 9),
       st.floats(0.1, 50.0), st.floats(0.0, 5.0))
def test_smooth_elbo_approaches_the_elbo_as_q_approaches_the_smoothed_label(
        k, epsilon, logits, label, rec, kl_z):
    # With beta = 1 and the same reconstruction term, smooth-ELBO (eq. 11) minus the
    # labeled ELBO (eq. 5, log p(y) = -log K) is H(s) + sum_k (s_k - q_k) log q_k, with
    # s = smooth(1_y). So it differs from the entropy H(s), itself at most
    # eps log(K - 1) + h(eps) and vanishing with eps, by at most ||s - q||_1 max|log q|,
    # which vanishes as q tends to s.
    y = torch.tensor([label % k])
    target = losses.smooth_labels(y, k, epsilon, dtype=torch.float64)
    rec, kl_z = torch.tensor(rec, dtype=torch.float64), torch.tensor(kl_z, dtype=torch.float64)
    elbo_l = losses.elbo(rec, kl_z, 0.0) - math.log(k)
    entropy = smoothing_entropy(k, epsilon)
    assert entropy <= epsilon * math.log(k - 1) - epsilon * math.log(epsilon) \
        - (1 - epsilon) * math.log(1 - epsilon) + 1e-12
    for t in (0.0, 0.5, 0.9, 0.99, 1.0):
        q = (1 - t) * torch.softmax(logits[:, :k], -1) + t * target
        q_logits = q.log()
        smooth = losses.smooth_elbo(rec, kl_z, losses.kl_categorical_uniform(q_logits),
                                    losses.kl_smooth(target, q_logits))
        gap = abs(float(smooth - elbo_l) - entropy)
        bound = float((target - q).abs().sum() * q_logits.abs().max())
        assert gap <= bound + 1e-9
    assert gap < 1e-9
