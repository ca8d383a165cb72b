"""Tests of skshot.losses against independent computations (numpy, scipy, torch.distributions)."""

import math

import numpy as np
import pytest
import torch
from scipy import optimize, special, stats

from skshot import losses

F64 = torch.float64


def _t(array):
    return torch.as_tensor(np.asarray(array, dtype=np.float64))


def _kl_diag_gauss_np(m1, lv1, m2, lv2):
    """KL(N(m1, exp(lv1)) || N(m2, exp(lv2))) summed over dimensions, one pair at a time."""
    s1 = np.exp(0.5 * lv1)
    s2 = np.exp(0.5 * lv2)
    terms = np.log(s2) - np.log(s1) + (s1 ** 2 + (m1 - m2) ** 2) / (2.0 * s2 ** 2) - 0.5
    return float(np.sum(terms))


def _pairwise_kl_np(mu, logvar):
    n = mu.shape[0]
    out = np.empty((n, n))
    for i in range(n):
        for j in range(n):
            out[i, j] = _kl_diag_gauss_np(mu[i], logvar[i], mu[j], logvar[j])
    return out


# ---------------------------------------------------------------------------
# sampling


def test_gaussian_reparameterize_moments():
    torch.manual_seed(0)
    n = 200_000
    mu0 = torch.tensor([0.0, -1.5, 3.0], dtype=F64)
    logvar0 = torch.tensor([0.0, -2.0, 1.0], dtype=F64)
    mu = mu0.expand(n, 3).contiguous()
    logvar = logvar0.expand(n, 3).contiguous()
    z = losses.gaussian_reparameterize(mu, logvar)
    assert z.shape == (n, 3)
    assert z.dtype == F64
    var = logvar0.exp().numpy()
    sample_mean = z.mean(dim=0).numpy()
    sample_var = z.var(dim=0).numpy()
    se_mean = np.sqrt(var / n)
    se_var = var * np.sqrt(2.0 / (n - 1))
    assert np.all(np.abs(sample_mean - mu0.numpy()) < 5 * se_mean)
    assert np.all(np.abs(sample_var - var) < 5 * se_var)


def test_gaussian_reparameterize_seed_and_gradient():
    rng = np.random.default_rng(0)
    mu = _t(rng.normal(size=(6, 4))).requires_grad_(True)
    logvar = _t(rng.normal(size=(6, 4))).requires_grad_(True)
    torch.manual_seed(3)
    z = losses.gaussian_reparameterize(mu, logvar)
    torch.manual_seed(3)
    z_again = losses.gaussian_reparameterize(mu, logvar)
    assert torch.equal(z, z_again)
    z.sum().backward()
    # dz/dmu = 1, dz/dlogvar = 0.5 * sigma * e = 0.5 * (z - mu)
    np.testing.assert_allclose(mu.grad.numpy(), np.ones((6, 4)), rtol=0, atol=0)
    expected = 0.5 * (z - mu).detach().numpy()
    np.testing.assert_allclose(logvar.grad.numpy(), expected, rtol=1e-12, atol=1e-14)


def test_gaussian_reparameterize_zero_variance_limit():
    torch.manual_seed(0)
    mu = torch.randn(5, 3, dtype=F64)
    logvar = torch.full((5, 3), -80.0, dtype=F64)
    z = losses.gaussian_reparameterize(mu, logvar)
    np.testing.assert_allclose(z.numpy(), mu.numpy(), rtol=0, atol=1e-15)


def test_gumbel_softmax_on_simplex():
    torch.manual_seed(0)
    logits = torch.randn(50, 7, dtype=F64) * 3
    for temperature in (0.1, 0.67, 1.0, 5.0):
        y = losses.gumbel_softmax_sample(logits, temperature)
        assert y.shape == logits.shape
        assert y.dtype == F64
        assert torch.all(y >= 0)
        np.testing.assert_allclose(y.sum(dim=-1).numpy(), np.ones(50), rtol=1e-12)


def test_gumbel_softmax_argmax_frequencies_match_softmax():
    torch.manual_seed(0)
    n = 50_000
    base = torch.tensor([0.5, -1.0, 2.0, 0.0, 1.0], dtype=F64)
    logits = base.expand(n, 5).contiguous()
    y = losses.gumbel_softmax_sample(logits, 0.01)
    probs = special.softmax(base.numpy())
    freq = np.bincount(y.argmax(dim=-1).numpy(), minlength=5) / n
    se = np.sqrt(probs * (1 - probs) / n)
    assert np.all(np.abs(freq - probs) < 5 * se)
    # at a small temperature the relaxed samples are nearly one-hot
    assert (y.max(dim=-1).values > 0.999).double().mean() > 0.95


def test_gumbel_softmax_shift_invariance_and_high_temperature():
    logits = torch.tensor([[0.3, -2.0, 1.0, 4.0]], dtype=F64).expand(1000, 4).contiguous()
    torch.manual_seed(5)
    y = losses.gumbel_softmax_sample(logits, 0.67)
    torch.manual_seed(5)
    y_shifted = losses.gumbel_softmax_sample(logits + 17.0, 0.67)
    np.testing.assert_allclose(y.numpy(), y_shifted.numpy(), rtol=1e-10, atol=1e-12)
    torch.manual_seed(5)
    y_flat = losses.gumbel_softmax_sample(logits, 1e8)
    np.testing.assert_allclose(y_flat.numpy(), np.full((1000, 4), 0.25), rtol=0, atol=1e-6)


# ---------------------------------------------------------------------------
# reconstruction


@pytest.mark.parametrize("binary", [True, False])
def test_reconstruction_nll_bernoulli(binary):
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(8, 20))
    if binary:
        x = (x > 0.5).astype(np.float64)
    logits = rng.normal(scale=3.0, size=(8, 20))
    p = 1.0 / (1.0 + np.exp(-logits))
    expected = -np.sum(x * np.log(p) + (1 - x) * np.log(1 - p), axis=-1)
    got = losses.reconstruction_nll(_t(x), _t(logits), "bernoulli")
    assert got.shape == (8,)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-10)


def test_reconstruction_nll_gaussian():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(6, 11))
    mean = rng.normal(size=(6, 11))
    expected = -stats.norm.logpdf(x, loc=mean, scale=1.0).sum(axis=-1)
    got = losses.reconstruction_nll(_t(x), _t(mean), "gaussian")
    assert got.shape == (6,)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12)


def test_reconstruction_nll_invalid_likelihood():
    x = torch.zeros(2, 3)
    with pytest.raises(ValueError):
        losses.reconstruction_nll(x, x, "poisson")


# ---------------------------------------------------------------------------
# KL terms


def test_kl_gaussian_standard_vs_torch_distributions():
    rng = np.random.default_rng(0)
    mu = _t(rng.normal(size=(10, 5)))
    logvar = _t(rng.normal(scale=1.5, size=(10, 5)))
    q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    p = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    expected = torch.distributions.kl_divergence(q, p).sum(dim=-1)
    got = losses.kl_gaussian_standard(mu, logvar)
    assert got.shape == (10,)
    np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-12)
    zero = losses.kl_gaussian_standard(torch.zeros(3, 4, dtype=F64), torch.zeros(3, 4, dtype=F64))
    np.testing.assert_array_equal(zero.numpy(), np.zeros(3))


def test_kl_gaussian_standard_monte_carlo():
    rng = np.random.default_rng(0)
    mu = np.array([0.7, -1.2, 0.0])
    logvar = np.array([-0.5, 0.4, 1.0])
    sigma = np.exp(0.5 * logvar)
    n = 200_000
    z = mu + sigma * rng.standard_normal(size=(n, 3))
    log_ratio = (stats.norm.logpdf(z, loc=mu, scale=sigma) - stats.norm.logpdf(z)).sum(axis=-1)
    estimate = log_ratio.mean()
    se = log_ratio.std(ddof=1) / np.sqrt(n)
    got = losses.kl_gaussian_standard(_t(mu[None]), _t(logvar[None])).item()
    assert abs(got - estimate) < 5 * se


def test_kl_categorical_uniform_vs_scipy():
    rng = np.random.default_rng(0)
    logits = rng.normal(scale=2.0, size=(9, 6))
    logits[0] = [-50.0, 0.0, 50.0, 1.0, -3.0, 2.0]
    logits[1] = 0.0
    pi = special.softmax(logits, axis=-1)
    k = logits.shape[1]
    expected = stats.entropy(pi, np.full(k, 1.0 / k), axis=-1)
    explicit = np.log(k) + np.sum(special.xlogy(pi, pi), axis=-1)
    got = losses.kl_categorical_uniform(_t(logits))
    assert got.shape == (9,)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(got.numpy(), explicit, rtol=1e-10, atol=1e-14)
    assert abs(got[1].item()) < 1e-14
    assert np.all(got.numpy() >= -1e-14)
    assert np.all(got.numpy() <= np.log(k) + 1e-12)


@pytest.mark.parametrize("batch, dim", [(2, 1), (7, 4), (12, 10)])
def test_kl_gaussian_pairwise_brute_force(batch, dim):
    rng = np.random.default_rng(batch * 100 + dim)
    mu = rng.normal(size=(batch, dim))
    logvar = rng.normal(scale=0.8, size=(batch, dim))
    expected = _pairwise_kl_np(mu, logvar)
    got = losses.kl_gaussian_pairwise(_t(mu), _t(logvar)).numpy()
    assert got.shape == (batch, batch)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)
    assert np.all(np.abs(np.diag(got)) < 1e-12)
    assert np.all(got >= -1e-12)
    off = got[~np.eye(batch, dtype=bool)]
    assert np.all(off > 0)


def test_kl_gaussian_pairwise_vs_torch_distributions():
    rng = np.random.default_rng(4)
    mu = _t(rng.normal(size=(5, 3)))
    logvar = _t(rng.normal(size=(5, 3)))
    scale = torch.exp(0.5 * logvar)
    q_i = torch.distributions.Normal(mu[:, None, :], scale[:, None, :])
    q_j = torch.distributions.Normal(mu[None, :, :], scale[None, :, :])
    expected = torch.distributions.kl_divergence(q_i, q_j).sum(dim=-1)
    got = losses.kl_gaussian_pairwise(mu, logvar)
    np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-10, atol=1e-12)


def test_kl_gaussian_pairwise_large_batch():
    rng = np.random.default_rng(0)
    mu = rng.normal(size=(512, 10))
    logvar = rng.normal(scale=0.5, size=(512, 10))
    got = losses.kl_gaussian_pairwise(_t(mu), _t(logvar)).numpy()
    assert got.shape == (512, 512)
    assert np.all(np.isfinite(got))
    assert np.all(np.abs(np.diag(got)) < 1e-10)
    assert np.all(got >= -1e-10)
    for i, j in rng.integers(0, 512, size=(30, 2)):
        expected = _kl_diag_gauss_np(mu[i], logvar[i], mu[j], logvar[j])
        assert got[i, j] == pytest.approx(expected, rel=1e-10, abs=1e-12)
    # the single-precision path agrees with the double-precision one
    got32 = losses.kl_gaussian_pairwise(
        torch.as_tensor(mu, dtype=torch.float32), torch.as_tensor(logvar, dtype=torch.float32)
    ).numpy()
    assert got32.dtype == np.float32
    np.testing.assert_allclose(got32, got, rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------------------------
# labels


@pytest.mark.parametrize("epsilon", [0.0, 1e-3, 0.1, 0.5])
@pytest.mark.parametrize("n_classes", [2, 5, 10])
def test_smooth_labels(epsilon, n_classes):
    rng = np.random.default_rng(0)
    y = rng.integers(0, n_classes, size=13)
    expected = np.full((13, n_classes), epsilon / (n_classes - 1))
    expected[np.arange(13), y] = 1.0 - epsilon
    got = losses.smooth_labels(torch.as_tensor(y), n_classes, epsilon)
    assert got.shape == (13, n_classes)
    assert got.dtype == torch.get_default_dtype()
    np.testing.assert_array_equal(got.numpy(), expected.astype(got.numpy().dtype))
    np.testing.assert_allclose(got.sum(dim=-1).numpy(), np.ones(13), rtol=0, atol=1e-6)
    assert np.all(got.numpy()[np.arange(13), y] == np.float32(1.0 - epsilon))


def test_kl_smooth_vs_scipy():
    rng = np.random.default_rng(0)
    targets = rng.dirichlet(np.ones(6), size=10)
    targets[0] = [0.0, 0.0, 1.0, 0.0, 0.0, 0.0]
    targets[1] = [0.5, 0.0, 0.0, 0.25, 0.25, 0.0]
    logits = rng.normal(scale=2.0, size=(10, 6))
    pi = special.softmax(logits, axis=-1)
    expected = stats.entropy(targets, pi, axis=-1)
    got = losses.kl_smooth(_t(targets), _t(logits))
    assert got.shape == (10,)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-10)
    np.testing.assert_allclose(got[0].item(), -np.log(pi[0, 2]), rtol=1e-12)


@pytest.mark.parametrize("epsilon", [0.0, 1e-3, 0.2])
def test_kl_smooth_with_smooth_labels(epsilon):
    rng = np.random.default_rng(1)
    y = rng.integers(0, 4, size=8)
    logits = rng.normal(size=(8, 4))
    targets = losses.smooth_labels(torch.as_tensor(y), 4, epsilon).to(F64)
    pi = special.softmax(logits, axis=-1)
    # explicit sum: the single-precision targets need not sum to one exactly in
    # double precision, and scipy.stats.entropy would renormalise them
    s = targets.numpy()
    expected = np.sum(special.xlogy(s, s) - s * np.log(pi), axis=-1)
    got = losses.kl_smooth(targets, _t(logits))
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-10)
    if epsilon == 0.0:
        np.testing.assert_allclose(got.numpy(), -np.log(pi[np.arange(8), y]), rtol=1e-12)


def test_kl_smooth_gradient_with_zero_targets():
    rng = np.random.default_rng(2)
    targets = rng.dirichlet(np.ones(5), size=4)
    targets[:, 1] = 0.0
    targets /= targets.sum(axis=-1, keepdims=True)
    logits = _t(rng.normal(size=(4, 5))).requires_grad_(True)
    losses.kl_smooth(_t(targets), logits).sum().backward()
    expected = special.softmax(logits.detach().numpy(), axis=-1) - targets
    assert np.all(np.isfinite(logits.grad.numpy()))
    np.testing.assert_allclose(logits.grad.numpy(), expected, rtol=1e-10, atol=1e-14)


def test_cross_entropy_by_hand():
    rng = np.random.default_rng(0)
    logits = rng.normal(scale=2.0, size=(7, 5))
    y = rng.integers(0, 5, size=7)
    softmax = np.exp(logits) / np.exp(logits).sum(axis=-1, keepdims=True)
    expected = -np.log(softmax[np.arange(7), y])
    got = losses.cross_entropy(_t(logits), torch.as_tensor(y))
    assert got.shape == (7,)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12)


def test_cross_entropy_extreme_logits():
    logits = np.array([[1000.0, 0.0, -1000.0], [1000.0, 0.0, -1000.0]])
    y = np.array([0, 2])
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_softmax = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    expected = -log_softmax[np.arange(2), y]
    got = losses.cross_entropy(_t(logits), torch.as_tensor(y))
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------
# ELBOs


@pytest.mark.parametrize("beta", [1.0, 0.01, 0.0, 2.5])
def test_elbo_and_smooth_elbo(beta):
    rng = np.random.default_rng(0)
    rec, kl_z, kl_y, kl_label = (rng.uniform(0, 10, size=6) for _ in range(4))
    expected = -rec - beta * (kl_z + kl_y)
    got = losses.elbo(_t(rec), _t(kl_z), _t(kl_y), beta)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12)
    got_smooth = losses.smooth_elbo(_t(rec), _t(kl_z), _t(kl_y), _t(kl_label), beta)
    np.testing.assert_allclose(got_smooth.numpy(), expected - kl_label, rtol=1e-12)
    labeled_m2 = losses.elbo(_t(rec), _t(kl_z), 0.0, beta)
    np.testing.assert_allclose(labeled_m2.numpy(), -rec - beta * kl_z, rtol=1e-12)


def test_elbo_default_beta_is_one():
    rec, kl_z, kl_y, kl_label = _t(3.0), _t(0.5), _t(0.25), _t(2.0)
    assert losses.elbo(rec, kl_z, kl_y).item() == pytest.approx(-3.75, rel=1e-15)
    assert losses.smooth_elbo(rec, kl_z, kl_y, kl_label).item() == pytest.approx(-5.75, rel=1e-15)
    assert losses.elbo(3.0, 0.5, 0.25) == pytest.approx(-3.75, rel=1e-15)


# ---------------------------------------------------------------------------
# matching


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_optimal_match_brute_force(seed):
    rng = np.random.default_rng(seed)
    mu = rng.normal(size=(9, 3))
    logvar = rng.normal(scale=1.0, size=(9, 3))
    kl = _pairwise_kl_np(mu, logvar)
    np.fill_diagonal(kl, np.inf)
    expected = kl.argmin(axis=1)
    got = losses.optimal_match(_t(mu), _t(logvar)).numpy()
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, expected)
    assert np.all(got != np.arange(9))


def test_optimal_match_uses_kl_direction_i_to_j():
    # data for which argmin_j KL(i||j) and argmin_j KL(j||i) disagree somewhere,
    # so that a transposed matrix would be caught
    rng = np.random.default_rng(11)
    mu = rng.normal(size=(10, 2))
    logvar = rng.normal(scale=1.5, size=(10, 2))
    kl = _pairwise_kl_np(mu, logvar)
    np.fill_diagonal(kl, np.inf)
    forward, backward = kl.argmin(axis=1), kl.T.argmin(axis=1)
    assert np.any(forward != backward)
    np.testing.assert_array_equal(losses.optimal_match(_t(mu), _t(logvar)).numpy(), forward)


def test_optimal_match_duplicates_and_two_samples():
    rng = np.random.default_rng(0)
    mu = rng.normal(size=(8, 4))
    logvar = rng.normal(scale=0.5, size=(8, 4))
    mu[6], logvar[6] = mu[3], logvar[3]
    got = losses.optimal_match(_t(mu), _t(logvar)).numpy()
    assert got[3] == 6
    assert got[6] == 3
    assert np.all(got != np.arange(8))
    # all samples identical: any partner is optimal but never oneself
    same = losses.optimal_match(torch.zeros(5, 3, dtype=F64), torch.zeros(5, 3, dtype=F64))
    assert np.all(same.numpy() != np.arange(5))
    pair = losses.optimal_match(_t(mu[:2]), _t(logvar[:2]))
    np.testing.assert_array_equal(pair.numpy(), [1, 0])


def test_optimal_match_accepts_tensors_requiring_grad():
    rng = np.random.default_rng(3)
    mu = _t(rng.normal(size=(6, 2))).requires_grad_(True)
    logvar = _t(rng.normal(size=(6, 2))).requires_grad_(True)
    kl = _pairwise_kl_np(mu.detach().numpy(), logvar.detach().numpy())
    np.fill_diagonal(kl, np.inf)
    np.testing.assert_array_equal(losses.optimal_match(mu, logvar).numpy(), kl.argmin(axis=1))


@pytest.mark.parametrize("n", [2, 3, 5, 64])
def test_random_match_derangement(n):
    torch.manual_seed(0)
    for _ in range(20):
        match = losses.random_match(n).numpy()
        assert match.shape == (n,)
        assert np.all(match != np.arange(n))
        np.testing.assert_array_equal(np.sort(match), np.arange(n))


def test_random_match_reproducible():
    torch.manual_seed(42)
    first = losses.random_match(64)
    torch.manual_seed(42)
    second = losses.random_match(64)
    assert torch.equal(first, second)
    torch.manual_seed(43)
    assert not torch.equal(first, losses.random_match(64))


def test_random_match_partners_uniform():
    torch.manual_seed(0)
    n, draws = 5, 4000
    counts = np.zeros((n, n))
    for _ in range(draws):
        counts[np.arange(n), losses.random_match(n).numpy()] += 1
    assert np.all(np.diag(counts) == 0)
    p = 1.0 / (n - 1)
    freq = counts[~np.eye(n, dtype=bool)] / draws
    assert np.all(np.abs(freq - p) < 5 * np.sqrt(p * (1 - p) / draws))


# ---------------------------------------------------------------------------
# mixup and OT


def test_mixup_endpoints():
    rng = np.random.default_rng(0)
    a, b = _t(rng.normal(size=(4, 6))), _t(rng.normal(size=(4, 6)))
    assert torch.equal(losses.mixup(a, b, torch.zeros(4, 1, dtype=F64)), a)
    assert torch.equal(losses.mixup(a, b, torch.ones(4, 1, dtype=F64)), b)
    assert torch.equal(losses.mixup(a, b, 0.0), a)
    assert torch.equal(losses.mixup(a, b, 1.0), b)


def test_mixup_vs_numpy():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(5, 3, 4, 4))
    b = rng.normal(size=(5, 3, 4, 4))
    lam = rng.uniform(size=(5, 1, 1, 1))
    got = losses.mixup(_t(a), _t(b), _t(lam))
    assert got.shape == a.shape
    np.testing.assert_allclose(got.numpy(), (1 - lam) * a + lam * b, rtol=1e-12, atol=1e-14)
    pa, pb = rng.dirichlet(np.ones(4), size=5), rng.dirichlet(np.ones(4), size=5)
    mixed = losses.mixup(_t(pa), _t(pb), _t(lam[:, :, 0, 0])).numpy()
    np.testing.assert_allclose(mixed, (1 - lam[:, :, 0, 0]) * pa + lam[:, :, 0, 0] * pb,
                               rtol=1e-12)
    np.testing.assert_allclose(mixed.sum(axis=-1), np.ones(5), rtol=1e-12)


def _ot_inputs(seed):
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=2.0, size=(8, 5))
    pi0, pi1 = rng.dirichlet(np.ones(5), size=8), rng.dirichlet(np.ones(5), size=8)
    lam = rng.uniform(size=(8, 1))
    return logits, (1 - lam) * pi0 + lam * pi1


def test_ot_approximation_forward_vs_scipy():
    logits, target = _ot_inputs(0)
    q = special.softmax(logits, axis=-1)
    got = losses.ot_approximation(_t(logits), _t(target), "forward")
    assert got.shape == (8,)
    np.testing.assert_allclose(got.numpy(), stats.entropy(q, target, axis=-1), rtol=1e-10)
    default = losses.ot_approximation(_t(logits), _t(target))
    np.testing.assert_array_equal(default.numpy(), got.numpy())


def test_ot_approximation_reverse_vs_scipy():
    logits, target = _ot_inputs(1)
    target[0] = [0.0, 0.3, 0.0, 0.7, 0.0]
    q = special.softmax(logits, axis=-1)
    got = losses.ot_approximation(_t(logits), _t(target), "reverse")
    np.testing.assert_allclose(got.numpy(), stats.entropy(target, q, axis=-1), rtol=1e-10)


@pytest.mark.parametrize("direction", ["forward", "reverse"])
def test_ot_approximation_no_gradient_into_target(direction):
    logits, target = _ot_inputs(2)
    logits_t = _t(logits).requires_grad_(True)
    target_t = _t(target).requires_grad_(True)
    losses.ot_approximation(logits_t, target_t, direction).sum().backward()
    assert target_t.grad is None
    assert logits_t.grad is not None
    q = special.softmax(logits, axis=-1)
    if direction == "forward":
        log_ratio = np.log(q) - np.log(target)
        kl = np.sum(q * log_ratio, axis=-1, keepdims=True)
        expected = q * (log_ratio - kl)
    else:
        expected = q - target
    np.testing.assert_allclose(logits_t.grad.numpy(), expected, rtol=1e-9, atol=1e-13)


@pytest.mark.parametrize("direction", ["forward", "reverse"])
def test_ot_approximation_zero_at_target(direction):
    rng = np.random.default_rng(3)
    logits = _t(rng.normal(scale=2.0, size=(6, 4)))
    target = torch.softmax(logits, dim=-1)
    got = losses.ot_approximation(logits, target, direction)
    np.testing.assert_allclose(got.numpy(), np.zeros(6), rtol=0, atol=1e-14)
    other = losses.ot_approximation(logits, target.flip(0), direction)
    assert np.all(other.numpy() > 0)


def test_ot_approximation_invalid_direction():
    logits, target = _ot_inputs(4)
    with pytest.raises(ValueError):
        losses.ot_approximation(_t(logits), _t(target), "both")


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("k", [1, 3, 5])
def test_third_class_mixes_vs_sklearn_nearest_neighbors(seed, k):
    from sklearn.neighbors import NearestNeighbors

    rng = np.random.default_rng(seed)
    x_ref = rng.normal(size=(40, 3, 2))
    # four classes in bands of the first feature, so that neighbours share classes
    classes_ref = np.digitize(x_ref[:, 0, 0], [-0.7, 0.0, 0.7])
    x_mix = rng.normal(size=(25, 3, 2))
    a, b = rng.integers(0, 4, 25), rng.integers(0, 4, 25)
    nearest = NearestNeighbors(n_neighbors=k).fit(x_ref.reshape(40, -1)).kneighbors(
        x_mix.reshape(25, -1))[1]
    third = (classes_ref[nearest] != a[:, None]) & (classes_ref[nearest] != b[:, None])
    expected = third.any(axis=1)
    got = losses.third_class_mixes(*(torch.as_tensor(v) for v in (x_mix, x_ref, classes_ref, a, b)),
                                   n_neighbors=k)
    assert got.dtype == torch.bool
    np.testing.assert_array_equal(got.numpy(), expected)
    assert 0 < expected.sum() < 25
    fewer = losses.third_class_mixes(
        *(torch.as_tensor(v) for v in (x_mix, x_ref, classes_ref, a, b)), n_neighbors=k - 1
    ) if k > 1 else got
    assert bool((got | ~fewer).all())  # more neighbours leave out at least as many mixes


def test_third_class_mixes_looks_at_no_more_neighbours_than_there_are_references():
    x_ref = torch.tensor([[0.0], [1.0], [2.0]])
    classes = torch.tensor([0, 1, 2])
    x_mix, a, b = torch.tensor([[0.1], [1.9]]), torch.tensor([0, 1]), torch.tensor([1, 2])
    # every reference is looked at: a third class is among them for both mixes
    assert losses.third_class_mixes(x_mix, x_ref, classes, a, b, n_neighbors=10).tolist() \
        == [True, True]
    assert losses.third_class_mixes(x_mix, x_ref, classes, a, b, n_neighbors=2).tolist() \
        == [False, False]


def test_third_class_mixes_on_a_row_of_three_classes():
    # Classes 0, 1, 2 at 0, 1, 2 on a line: the middle of 0 and 2 is among the 1s.
    x_ref = torch.tensor([[0.0], [1.0], [2.0]])
    classes = torch.tensor([0, 1, 2])
    x_mix = torch.tensor([[1.0], [0.2], [1.1]])
    a, b = torch.tensor([0, 0, 0]), torch.tensor([2, 2, 1])
    assert losses.third_class_mixes(x_mix, x_ref, classes, a, b).tolist() == [True, False, False]
    # with two neighbours the second mix (0.2, of a 0 and a 2) has the 1 and
    # the third (1.1, of a 0 and a 1) the 2 among them
    assert losses.third_class_mixes(x_mix, x_ref, classes, a, b, n_neighbors=2).tolist() \
        == [True, True, True]


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_mixture_minimises_weighted_kl_prop1(seed):
    rng = np.random.default_rng(seed)
    k = 5
    pi0, pi1 = rng.dirichlet(np.ones(k)), rng.dirichlet(np.ones(k))
    lam = rng.uniform()
    mixture = losses.mixup(_t(pi0), _t(pi1), lam).numpy()

    def weighted_kl(p):
        return (1 - lam) * stats.entropy(pi0, p, axis=-1) + lam * stats.entropy(pi1, p, axis=-1)

    # minimise over the simplex through a softmax parameterisation
    result = optimize.minimize(lambda theta: weighted_kl(special.softmax(theta)), np.zeros(k),
                               method="BFGS", options={"gtol": 1e-10})
    np.testing.assert_allclose(special.softmax(result.x), mixture, rtol=0, atol=1e-7)

    best = weighted_kl(mixture)
    scales = rng.choice([1e-3, 1e-1, 1.0], size=(300, 1))
    perturbed = special.softmax(np.log(mixture) + scales * rng.normal(size=(300, k)), axis=-1)
    assert np.all(weighted_kl(perturbed) >= best)
    assert np.all(weighted_kl(rng.dirichlet(np.ones(k), size=300)) >= best)

    # the same objective written with the library's KL term
    targets = torch.stack([_t(pi0), _t(pi1)])
    library = (1 - lam) * losses.kl_smooth(targets[:1], torch.log(_t(mixture))[None])
    library = library + lam * losses.kl_smooth(targets[1:], torch.log(_t(mixture))[None])
    assert library.item() == pytest.approx(best, rel=1e-10)


# ---------------------------------------------------------------------------
# warm-up


def test_warmup_weight_values():
    gamma = 5.0
    assert losses.warmup_weight(0.0, gamma) == pytest.approx(math.exp(-5.0), rel=1e-15)
    assert losses.warmup_weight(0.5, gamma) == pytest.approx(math.exp(-1.25), rel=1e-15)
    assert losses.warmup_weight(1.0, gamma) == 1.0
    assert losses.warmup_weight(0.25, 2.0) == pytest.approx(math.exp(-2.0 * 0.5625), rel=1e-15)
    assert isinstance(losses.warmup_weight(0.3, gamma), float)


@pytest.mark.parametrize("gamma", [0.5, 5.0, 20.0])
def test_warmup_weight_clipping_and_monotone(gamma):
    assert losses.warmup_weight(-0.7, gamma) == losses.warmup_weight(0.0, gamma)
    assert losses.warmup_weight(-0.7, gamma) == pytest.approx(math.exp(-gamma), rel=1e-15)
    assert losses.warmup_weight(3.0, gamma) == 1.0
    grid = np.linspace(-0.2, 1.2, 141)
    values = np.array([losses.warmup_weight(t, gamma) for t in grid])
    assert np.all(np.diff(values) >= 0)
    assert np.all((values > 0) & (values <= 1))
    assert values[0] < values[-1]


def test_warmup_weight_gamma_zero_is_one():
    for t in np.linspace(-1.0, 2.0, 31):
        assert losses.warmup_weight(t, 0.0) == 1.0


def test_warmup_weight_horizon_and_maximum():
    # Reaches `maximum` at t/T = horizon and stays there; the shape is eq. 16 rescaled in t.
    assert losses.warmup_weight(0.4, 5.0, horizon=0.4, maximum=2.0) == 2.0
    assert losses.warmup_weight(0.9, 5.0, horizon=0.4, maximum=2.0) == 2.0
    assert losses.warmup_weight(0.2, 5.0, horizon=0.4, maximum=2.0) == pytest.approx(
        2.0 * math.exp(-5.0 * 0.25), rel=1e-15)
    assert losses.warmup_weight(0.0, 1.0, horizon=0.5, maximum=0.5) == pytest.approx(
        0.5 * math.exp(-1.0), rel=1e-15)


def test_categorical_entropy_vs_scipy():
    logits = torch.randn(7, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    expected = stats.entropy(special.softmax(logits.numpy(), axis=1), axis=1)
    np.testing.assert_allclose(losses.categorical_entropy(logits).numpy(), expected, rtol=1e-12)


def test_categorical_entropy_relation_to_kl_uniform_and_extremes():
    logits = torch.randn(6, 4, dtype=torch.float64)
    # KL(q || uniform) = log K - H(q)
    np.testing.assert_allclose((losses.kl_categorical_uniform(logits)
                                + losses.categorical_entropy(logits)).numpy(),
                               math.log(4), rtol=1e-12)
    assert losses.categorical_entropy(torch.zeros(1, 4)).item() == pytest.approx(math.log(4))
    confident = torch.tensor([[200.0, 0.0, 0.0]])
    assert losses.categorical_entropy(confident).item() == pytest.approx(0.0, abs=1e-12)
    assert torch.isfinite(losses.categorical_entropy(torch.tensor([[1e4, -1e4]]))).all()


def test_ema_update_against_explicit_average():
    averaged = [torch.zeros(3), torch.ones(2, 2)]
    current = [torch.arange(3.0), torch.full((2, 2), 3.0)]
    losses.ema_update(averaged, current, 0.75)
    np.testing.assert_allclose(averaged[0].numpy(), 0.25 * np.arange(3.0))
    np.testing.assert_allclose(averaged[1].numpy(), np.full((2, 2), 0.75 + 0.75))
    losses.ema_update(averaged, current, 0.0)  # decay 0 copies
    np.testing.assert_array_equal(averaged[0].numpy(), np.arange(3.0))
    losses.ema_update(averaged, [torch.zeros(3), torch.zeros(2, 2)], 1.0)  # decay 1 keeps
    np.testing.assert_array_equal(averaged[0].numpy(), np.arange(3.0))
    with pytest.raises(ValueError, match="as many"):
        losses.ema_update(averaged, current[:1], 0.5)


def test_sharpen_is_the_renormalised_power_of_the_probabilities():
    logits = torch.randn(6, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    pi = special.softmax(logits.numpy(), axis=1)
    for temperature in (0.25, 0.5, 1.0, 3.0):
        expected = pi ** (1.0 / temperature)
        expected /= expected.sum(axis=1, keepdims=True)
        np.testing.assert_allclose(losses.sharpen(logits, temperature).numpy(), expected,
                                   rtol=1e-10)


def test_sharpen_moves_mass_to_the_most_probable_class_and_keeps_the_order():
    logits = torch.tensor([[2.0, 1.0, -1.0], [0.0, 0.0, 0.0]], dtype=torch.float64)
    plain, sharp = torch.softmax(logits, dim=1), losses.sharpen(logits, 0.5)
    assert sharp[0, 0] > plain[0, 0]
    assert torch.equal(sharp.argsort(dim=1)[0], plain.argsort(dim=1)[0])
    torch.testing.assert_close(sharp[1], plain[1])  # a uniform distribution stays uniform
    assert torch.isfinite(losses.sharpen(torch.tensor([[1e4, -1e4]]), 0.1)).all()
