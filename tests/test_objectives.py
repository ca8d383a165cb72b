"""Tests of skshot.objectives against the paper's formulas, as the user guide writes them,
recomputed by hand in numpy.

The random draws of one step are reproduced by re-seeding torch and drawing
in the objective's order: the Gumbel noise of the unlabeled logits, the
Gaussian noise of ``z`` for the labeled and unlabeled batch together, then,
for the OT term, the partner permutation (random match only) and ``lam``.
"""

import copy
import itertools

import numpy as np
import pytest
import torch
from scipy import special, stats

from skshot.modules import MLPShotVAE
from skshot.objectives import OBJECTIVES, SemiSupervisedObjective, elbo_per_sample

F64 = torch.float64
N_FEATURES, N_CLASSES, LATENT = 5, 3, 2
LOG_2PI = np.log(2.0 * np.pi)


def make_module(likelihood="bernoulli", hidden=(6,), seed=0, n_features=N_FEATURES,
                n_classes=N_CLASSES, latent_dim=LATENT, sharpen=10.0):
    """A tiny float64 model; its class logits scaled up so that q(y|x) varies across inputs."""
    torch.manual_seed(seed)
    module = MLPShotVAE(n_features, n_classes, latent_dim, hidden, likelihood).double()
    with torch.no_grad():
        module.heads.weight[2 * latent_dim:] *= sharpen
    return module


def make_batch(likelihood="bernoulli", n_l=4, n_u=6, seed=0, n_features=N_FEATURES):
    rng = np.random.default_rng(seed)
    if likelihood == "bernoulli":
        x_l, x_u = rng.random((n_l, n_features)), rng.random((n_u, n_features))
    else:
        x_l, x_u = rng.normal(size=(n_l, n_features)), rng.normal(size=(n_u, n_features))
    y_l = np.arange(n_l) % N_CLASSES
    rng.shuffle(y_l)
    return torch.from_numpy(x_l), torch.from_numpy(y_l).long(), torch.from_numpy(x_u)



@pytest.fixture(autouse=True, scope="module")
def _tiny_tensors(one_torch_thread):
    """The tensors here are tiny: intra-op threads only add synchronisation overhead."""

# ---------------------------------------------------------------------------
# the paper's formulas in numpy


def np_encode(module, x):
    with torch.no_grad():
        mu, logvar, logits = module.encode(torch.as_tensor(x))
    return mu.numpy(), logvar.numpy(), logits.numpy()


def np_decode(module, z, y):
    with torch.no_grad():
        return module.decode(torch.as_tensor(z), torch.as_tensor(y)).numpy()


def np_rec(x, out, likelihood):
    """-log p(x | z, y), summed over features."""
    if likelihood == "bernoulli":
        # -[x log sigmoid(a) + (1 - x) log(1 - sigmoid(a))] = log(1 + e^a) - x a
        return (np.logaddexp(0.0, out) - x * out).sum(axis=-1)
    return (0.5 * (x - out) ** 2 + 0.5 * LOG_2PI).sum(axis=-1)


def np_kl_z(mu, logvar):
    return 0.5 * (mu ** 2 + np.exp(logvar) - logvar - 1.0).sum(axis=-1)


def np_kl_y(logits):
    log_pi = special.log_softmax(logits, axis=-1)
    return (np.exp(log_pi) * (log_pi + np.log(logits.shape[-1]))).sum(axis=-1)


def np_smooth(y, n_classes, epsilon):
    s = np.full((len(y), n_classes), epsilon / (n_classes - 1))
    s[np.arange(len(y)), y] = 1.0 - epsilon
    return s


def np_kl(p, log_q):
    """KL(p || q) for rows of probabilities p, with 0 log 0 = 0."""
    return (special.xlogy(p, p) - p * log_q).sum(axis=-1)


def np_gauss_kl(m1, lv1, m2, lv2):
    """KL(N(m1, e^lv1) || N(m2, e^lv2)) of diagonal Gaussians."""
    s1, s2 = np.exp(0.5 * lv1), np.exp(0.5 * lv2)
    return float(np.sum(np.log(s2) - np.log(s1) + (s1 ** 2 + (m1 - m2) ** 2) / (2 * s2 ** 2)
                        - 0.5))


def np_optimal_partners(mu, logvar):
    n = len(mu)
    partners = []
    for i in range(n):
        kls = [np_gauss_kl(mu[i], logvar[i], mu[j], logvar[j]) if j != i else np.inf
               for j in range(n)]
        partners.append(int(np.argmin(kls)))
    return np.array(partners)


def expected_step(module, x_l, y_l, x_u, ot_weight=1.0, seed=0, teacher=None, x_seen=None,
                  **kw):
    """(loss, parts) of one step, computed from the formulas with the same random draws.

    With ``x_seen = (a_l, a_u)`` the encoder reads ``a_l`` and ``a_u`` and the
    decoder reconstructs ``x_l`` and ``x_u``.
    """
    kw = {"objective": "shot", "likelihood": "bernoulli", "epsilon": 1e-3, "beta": 0.01,
          "elbo_weight": 1.0, "temperature": 0.67, "alpha": 1.0, "optimal_match": True,
          "mixup_alpha": 1.0, "ot_kl_direction": "forward", "entropy_weight": 0.0,
          "ot_target_temperature": 1.0, "ot_drop_intrusions": False,
          "ot_intrusion_neighbors": 1, **kw}
    x_l, y_l, x_u = x_l.numpy(), y_l.numpy(), x_u.numpy()
    a_l, a_u = (x_l, x_u) if x_seen is None else (x_seen[0].numpy(), x_seen[1].numpy())
    n_l, n_u, n_classes = len(x_l), len(x_u), N_CLASSES
    torch.manual_seed(seed)

    if kw["objective"] == "supervised":
        logits = np_encode(module, a_l)[2]
        ce = -special.log_softmax(logits, axis=-1)[np.arange(n_l), y_l]
        return ce.mean(), {"ce": ce.mean()}

    x = np.concatenate([x_l, x_u])
    mu, logvar, logits = np_encode(module, np.concatenate([a_l, a_u]))
    log_pi = special.log_softmax(logits, axis=-1)
    # 1. Gumbel noise of the unlabeled logits, 2. Gaussian noise of z
    gumbel = -np.log(torch.empty(n_u, n_classes, dtype=F64).exponential_().numpy())
    e = torch.randn(n_l + n_u, LATENT, dtype=F64).numpy()
    y_u_in = special.softmax((log_pi[n_l:] + gumbel) / kw["temperature"], axis=-1)
    if kw["objective"] == "m2":
        y_l_in = np.eye(n_classes)[y_l]
    else:
        y_l_in = np_smooth(y_l, n_classes, kw["epsilon"])
    z = mu + np.exp(0.5 * logvar) * e
    rec = np_rec(x, np_decode(module, z, np.concatenate([y_l_in, y_u_in])), kw["likelihood"])
    kl_z, kl_y = np_kl_z(mu, logvar), np_kl_y(logits)
    parts = {"rec_l": rec[:n_l].mean(), "kl_z_l": kl_z[:n_l].mean(),
             "rec_u": rec[n_l:].mean(), "kl_z_u": kl_z[n_l:].mean(),
             "kl_y_u": kl_y[n_l:].mean()}
    beta, w = kw["beta"], kw["elbo_weight"]
    neg_elbo_u = parts["rec_u"] + beta * (parts["kl_z_u"] + parts["kl_y_u"])
    if kw["objective"] == "m2":
        parts["ce"] = -log_pi[np.arange(n_l), y_l].mean()
        neg_elbo_l = parts["rec_l"] + beta * parts["kl_z_l"]
        loss = w * (neg_elbo_l + neg_elbo_u) + kw["alpha"] * parts["ce"]
    else:
        parts["kl_y_l"] = kl_y[:n_l].mean()
        parts["kl_smooth"] = np_kl(y_l_in, log_pi[:n_l]).mean()
        neg_elbo_l = parts["rec_l"] + beta * (parts["kl_z_l"] + parts["kl_y_l"])
        loss = w * (neg_elbo_l + neg_elbo_u) + parts["kl_smooth"]
    if kw["entropy_weight"]:
        parts["ent_u"] = stats.entropy(np.exp(log_pi[n_l:]), axis=1).mean()
        loss = loss + kw["entropy_weight"] * parts["ent_u"]
    if kw["objective"] == "shot" and n_u > 1:
        mu_u, logvar_u, pi_u = mu[n_l:], logvar[n_l:], np.exp(log_pi[n_l:])
        if teacher is not None:  # the targets' class distributions come from the teacher
            pi_u = special.softmax(np_encode(teacher, a_u)[2], axis=-1)
        # sharpening: pi^(1/T), renormalised
        pi_u = pi_u ** (1.0 / kw["ot_target_temperature"])
        pi_u = pi_u / pi_u.sum(axis=1, keepdims=True)
        if kw["optimal_match"]:
            partner = np_optimal_partners(mu_u, logvar_u)
        else:
            # 3. the random cycle: each sample's partner is the next on a random order
            order = torch.randperm(n_u).numpy()
            partner = np.empty(n_u, dtype=int)
            partner[order] = np.roll(order, -1)
        # 4. lam ~ Beta(a, a), one per unlabeled sample
        a = torch.full((n_u, 1), float(kw["mixup_alpha"]), dtype=F64)
        lam = torch.distributions.Beta(a, a).sample().numpy()
        target = (1.0 - lam) * pi_u + lam * pi_u[partner]
        x_mix = (1.0 - lam) * a_u + lam * a_u[partner]
        log_q = special.log_softmax(np_encode(module, x_mix)[2], axis=-1)
        if kw["ot_kl_direction"] == "forward":
            ot = np_kl(np.exp(log_q), np.log(target))
        else:
            ot = np_kl(target, log_q)
        if kw["ot_drop_intrusions"]:
            # 5. a mix with an unlabeled sample predicted as neither parent's
            # predicted class among its k nearest adds nothing; the mean stays
            # over the batch
            predicted = pi_u.argmax(axis=1)
            squared = ((x_mix[:, None, :] - a_u[None, :, :]) ** 2).sum(axis=-1)
            k = kw["ot_intrusion_neighbors"]
            nearest = predicted[np.argsort(squared, axis=1, kind="stable")[:, :k]]
            third = (nearest != predicted[:, None]) & (nearest != predicted[partner][:, None])
            ot = np.where(third.any(axis=1), 0.0, ot)
        parts["ot"] = ot.mean()
        loss = loss + ot_weight * parts["ot"]
    return loss, parts


# ---------------------------------------------------------------------------
# the loss of every objective, recomputed


CASES = [
    ("shot", "bernoulli", {}),
    ("shot", "gaussian", {"beta": 0.5, "elbo_weight": 1e-3, "epsilon": 0.1, "temperature": 1.3,
                          "mixup_alpha": 2.0}),
    ("shot", "bernoulli", {"optimal_match": False, "ot_kl_direction": "reverse",
                           "mixup_alpha": 0.3, "beta": 1.0}),
    ("shot", "gaussian", {"optimal_match": False, "elbo_weight": 0.2}),
    ("shot", "bernoulli", {"ot_kl_direction": "reverse", "epsilon": 0.0}),
    ("smooth-elbo", "bernoulli", {"epsilon": 0.2, "beta": 1.0}),
    ("smooth-elbo", "gaussian", {"elbo_weight": 0.1, "temperature": 0.3}),
    ("m2", "bernoulli", {"alpha": 3.0, "beta": 0.3}),
    ("m2", "gaussian", {"elbo_weight": 0.5, "alpha": 0.0, "temperature": 2.0}),
    ("supervised", "bernoulli", {}),
    ("supervised", "gaussian", {"alpha": 7.0, "elbo_weight": 3.0}),
    ("shot", "bernoulli", {"entropy_weight": 0.3, "optimal_match": False, "beta": 1.0}),
    ("smooth-elbo", "gaussian", {"entropy_weight": 2.0}),
    ("m2", "bernoulli", {"entropy_weight": 0.5, "alpha": 2.0}),
    ("supervised", "bernoulli", {"entropy_weight": 0.5}),
    ("shot", "bernoulli", {"ot_target_temperature": 0.5, "optimal_match": False}),
    ("shot", "gaussian", {"ot_target_temperature": 2.0, "ot_kl_direction": "reverse"}),
    ("shot", "bernoulli", {"ot_drop_intrusions": True, "optimal_match": False}),
    ("shot", "gaussian", {"ot_drop_intrusions": True, "ot_kl_direction": "reverse"}),
    ("smooth-elbo", "bernoulli", {"ot_drop_intrusions": True}),
    ("shot", "gaussian", {"ot_drop_intrusions": True, "ot_intrusion_neighbors": 3,
                          "optimal_match": False}),
    ("shot", "bernoulli", {"ot_drop_intrusions": True, "ot_intrusion_neighbors": 100}),
]


@pytest.mark.parametrize("objective, likelihood, params", CASES)
@pytest.mark.parametrize("seed", [0, 1])
def test_loss_and_parts_match_the_formulas(objective, likelihood, params, seed):
    module = make_module(likelihood, seed=seed)
    x_l, y_l, x_u = make_batch(likelihood, seed=seed)
    ot_weight = 0.37
    criterion = SemiSupervisedObjective(objective, likelihood, **params)
    torch.manual_seed(100 + seed)
    loss, parts = criterion(module, x_l, y_l, x_u, ot_weight=ot_weight)
    expected_loss, expected_parts = expected_step(
        module, x_l, y_l, x_u, ot_weight, seed=100 + seed, objective=objective,
        likelihood=likelihood, **params)
    assert loss.shape == ()
    assert loss.dtype == F64
    assert sorted(parts) == sorted(expected_parts)
    for name, value in expected_parts.items():
        assert parts[name].shape == ()
        assert not parts[name].requires_grad
        np.testing.assert_allclose(parts[name].item(), value, rtol=1e-10, atol=1e-12,
                                   err_msg=name)
    np.testing.assert_allclose(loss.item(), expected_loss, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("objective, likelihood, params", [
    ("shot", "bernoulli", {}),
    ("shot", "gaussian", {"optimal_match": False, "entropy_weight": 0.4}),
    ("shot", "bernoulli", {"ot_drop_intrusions": True, "ot_intrusion_neighbors": 2}),
    ("smooth-elbo", "bernoulli", {"beta": 1.0}),
    ("m2", "gaussian", {"alpha": 2.0}),
    ("supervised", "bernoulli", {}),
])
def test_the_encoder_reads_x_seen_and_the_decoder_reconstructs_x(objective, likelihood,
                                                                     params):
    module = make_module(likelihood, seed=3)
    x_l, y_l, x_u = make_batch(likelihood, seed=3)
    seen_l, _, seen_u = make_batch(likelihood, seed=4)  # other inputs of the same shapes
    criterion = SemiSupervisedObjective(objective, likelihood, **params)
    torch.manual_seed(11)
    loss, parts = criterion(module, x_l, y_l, x_u, ot_weight=0.6, x_seen=(seen_l, seen_u))
    expected_loss, expected_parts = expected_step(
        module, x_l, y_l, x_u, 0.6, seed=11, x_seen=(seen_l, seen_u), objective=objective,
        likelihood=likelihood, **params)
    assert sorted(parts) == sorted(expected_parts)
    for name, value in expected_parts.items():
        np.testing.assert_allclose(parts[name].item(), value, rtol=1e-10, atol=1e-12,
                                   err_msg=name)
    np.testing.assert_allclose(loss.item(), expected_loss, rtol=1e-10, atol=1e-12)
    # Reading the seen inputs is not reading x: the losses differ.
    torch.manual_seed(11)
    assert abs(criterion(module, x_l, y_l, x_u, ot_weight=0.6)[0].item() - loss.item()) > 1e-6


@pytest.mark.parametrize("params", [{}, {"optimal_match": False, "entropy_weight": 0.2,
                                     "ot_kl_direction": "reverse"}])
def test_a_teacher_gives_the_ot_targets(params):
    module = make_module(seed=0)
    teacher = make_module(seed=7)  # other weights: other class distributions
    x_l, y_l, x_u = make_batch(seed=2)
    criterion = SemiSupervisedObjective("shot", **params)
    torch.manual_seed(5)
    loss, parts = criterion(module, x_l, y_l, x_u, ot_weight=0.5, teacher=teacher)
    expected_loss, expected_parts = expected_step(module, x_l, y_l, x_u, 0.5, seed=5,
                                                  teacher=teacher, **params)
    np.testing.assert_allclose(parts["ot"].item(), expected_parts["ot"], rtol=1e-10)
    np.testing.assert_allclose(loss.item(), expected_loss, rtol=1e-10)
    torch.manual_seed(5)
    without = criterion(module, x_l, y_l, x_u, ot_weight=0.5)[1]["ot"].item()
    assert abs(without - parts["ot"].item()) > 1e-3
    loss.backward()
    assert all(p.grad is None for p in teacher.parameters())


def test_the_parts_of_each_objective():
    module = make_module()
    x_l, y_l, x_u = make_batch()
    names = {}
    for objective in OBJECTIVES:
        names[objective] = set(SemiSupervisedObjective(objective)(module, x_l, y_l, x_u)[1])
    common = {"rec_l", "kl_z_l", "rec_u", "kl_z_u", "kl_y_u"}
    assert names["shot"] == common | {"kl_y_l", "kl_smooth", "ot"}
    assert names["smooth-elbo"] == common | {"kl_y_l", "kl_smooth"}
    assert names["m2"] == common | {"ce"}
    assert names["supervised"] == {"ce"}


def test_unknown_objective_is_refused():
    with pytest.raises(ValueError, match="objective must be one of"):
        SemiSupervisedObjective("vae")


# ---------------------------------------------------------------------------
# how the parts combine


@pytest.mark.parametrize("elbo_weight, beta, ot_weight, alpha", [
    (1.0, 1.0, 1.0, 1.0),
    (1e-3, 0.01, 0.0067, 1.0),
    (0.25, 0.0, 2.5, 10.0),
    (3.0, 0.7, 0.0, 0.1),
])
@pytest.mark.parametrize("objective", ["shot", "smooth-elbo", "m2"])
def test_total_is_the_weighted_sum_of_the_parts(objective, elbo_weight, beta, ot_weight, alpha):
    module = make_module()
    x_l, y_l, x_u = make_batch(seed=3)
    criterion = SemiSupervisedObjective(objective, elbo_weight=elbo_weight, beta=beta,
                                        alpha=alpha)
    torch.manual_seed(0)
    loss, p = criterion(module, x_l, y_l, x_u, ot_weight=ot_weight)
    p = {k: v.item() for k, v in p.items()}
    unlabeled = p["rec_u"] + beta * (p["kl_z_u"] + p["kl_y_u"])
    if objective == "m2":
        labeled = p["rec_l"] + beta * p["kl_z_l"]
        expected = elbo_weight * (labeled + unlabeled) + alpha * p["ce"]
    else:
        labeled = p["rec_l"] + beta * (p["kl_z_l"] + p["kl_y_l"])
        expected = elbo_weight * (labeled + unlabeled) + p["kl_smooth"]
    if objective == "shot":
        expected += ot_weight * p["ot"]
    np.testing.assert_allclose(loss.item(), expected, rtol=1e-12, atol=1e-12)


def test_ot_weight_enters_linearly_and_only_for_shot():
    module = make_module()
    x_l, y_l, x_u = make_batch(seed=4)
    results = {}
    for objective, w in itertools.product(["shot", "smooth-elbo"], [0.0, 1.0, 3.0, 250.0]):
        torch.manual_seed(0)
        results[objective, w] = SemiSupervisedObjective(objective)(
            module, x_l, y_l, x_u, ot_weight=w)
    base = results["smooth-elbo", 0.0][0].item()
    ot = results["shot", 0.0][1]["ot"].item()
    assert ot > 0
    for w in [0.0, 1.0, 3.0, 250.0]:
        # the same draws up to the OT term: shot = smooth-ELBO objective + w * OT
        np.testing.assert_allclose(results["shot", w][0].item(), base + w * ot, rtol=1e-14)
        assert results["shot", w][1]["ot"].item() == ot
        assert results["smooth-elbo", w][0].item() == base


# ---------------------------------------------------------------------------
# "supervised"


def test_supervised_is_the_mean_cross_entropy_and_ignores_x_u():
    module = make_module()
    x_l, y_l, x_u = make_batch(seed=5)
    criterion = SemiSupervisedObjective("supervised", elbo_weight=5.0, beta=2.0, alpha=3.0)
    loss, parts = criterion(module, x_l, y_l, x_u)
    logits = np_encode(module, x_l)[2]
    pi = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    expected = -np.mean(np.log(pi[np.arange(len(y_l)), y_l.numpy()]))
    np.testing.assert_allclose(loss.item(), expected, rtol=1e-12)
    np.testing.assert_allclose(parts["ce"].item(), expected, rtol=1e-12)
    other_x_u = [x_u + 10.0, x_u[:1], torch.full((9, N_FEATURES), float("nan"), dtype=F64)]
    for x_u2 in other_x_u:
        torch.manual_seed(123)
        assert torch.equal(criterion(module, x_l, y_l, x_u2)[0], loss)
    # and it uses no random draws
    state = torch.get_rng_state()
    criterion(module, x_l, y_l, x_u)
    assert torch.equal(torch.get_rng_state(), state)


# ---------------------------------------------------------------------------
# gradients


def test_shot_loss_reaches_every_parameter():
    module = make_module(hidden=(6, 4))
    x_l, y_l, x_u = make_batch(seed=6)
    torch.manual_seed(0)
    loss, _ = SemiSupervisedObjective("shot", beta=0.5)(module, x_l, y_l, x_u)
    loss.backward()
    for name, param in module.named_parameters():
        assert param.grad is not None, name
        assert torch.all(torch.isfinite(param.grad)), name
        assert param.grad.abs().sum() > 0, name


def test_supervised_loss_reaches_the_encoder_only():
    module = make_module()
    x_l, y_l, x_u = make_batch(seed=6)
    SemiSupervisedObjective("supervised")(module, x_l, y_l, x_u)[0].backward()
    assert all(p.grad is None for p in module.decoder.parameters())
    assert module.heads.weight.grad[2 * LATENT:].abs().sum() > 0
    # the mu and logvar rows of the heads do not reach the logits
    assert module.heads.weight.grad[:2 * LATENT].abs().sum() == 0


@pytest.mark.parametrize("direction", ["forward", "reverse"])
@pytest.mark.parametrize("optimal_match", [True, False])
def test_ot_target_is_a_constant(direction, optimal_match):
    module = make_module(hidden=(6,))
    x_u = make_batch(n_u=7, seed=7)[2]
    criterion = SemiSupervisedObjective("shot", optimal_match=optimal_match,
                                        ot_kl_direction=direction, mixup_alpha=2.0)
    params = list(module.parameters())
    mu, logvar, logits = module.encode(x_u)
    torch.manual_seed(11)
    ot = criterion.ot_term(module, x_u, mu, logvar, logits)
    grads = torch.autograd.grad(ot, params, allow_unused=True)

    def reference(target_module):
        # the same partners and lam; the target computed by target_module
        torch.manual_seed(11)
        mu_t, logvar_t, logits_t = target_module.encode(x_u)
        if optimal_match:
            partner = torch.as_tensor(np_optimal_partners(mu_t.detach().numpy(),
                                                          logvar_t.detach().numpy()))
        else:
            order = torch.randperm(len(x_u))
            partner = torch.empty_like(order)
            partner[order] = order.roll(-1)
        a = torch.full((len(x_u), 1), 2.0, dtype=F64)
        lam = torch.distributions.Beta(a, a).sample()
        pi = torch.softmax(logits_t, dim=-1)
        target = (1 - lam) * pi + lam * pi[partner]
        x_mix = (1 - lam) * x_u + lam * x_u[partner]
        log_q = torch.log_softmax(module.encode(x_mix)[2], dim=-1)
        if direction == "forward":
            value = (log_q.exp() * (log_q - target.log())).sum(dim=-1).mean()
        else:
            value = (target * (target.log() - log_q)).sum(dim=-1).mean()
        return value, torch.autograd.grad(value, params, allow_unused=True)

    frozen = copy.deepcopy(module).requires_grad_(False)
    value, expected = reference(frozen)
    np.testing.assert_allclose(ot.item(), value.item(), rtol=1e-10)
    for name, g, g_ref in zip([n for n, _ in module.named_parameters()], grads, expected,
                              strict=True):
        assert (g is None) == (g_ref is None), name
        if g is not None:
            np.testing.assert_allclose(g.numpy(), g_ref.numpy(), rtol=1e-9, atol=1e-13,
                                       err_msg=name)
    # a target that carried gradient would change them
    _, through_target = reference(module)
    assert any(not torch.allclose(g, g2, rtol=1e-6, atol=1e-9)
               for g, g2 in zip(grads, through_target, strict=True)
               if g is not None and g2 is not None)
    # the decoder plays no part in the OT term
    names = [n for n, _ in module.named_parameters()]
    decoder_grads = [g for n, g in zip(names, grads, strict=True) if n.startswith("decoder.")]
    assert decoder_grads and all(g is None for g in decoder_grads)


# ---------------------------------------------------------------------------
# the OT term's pairing and lam, read from the mixed inputs


def capture_mixed_inputs(module, monkeypatch):
    """Record the inputs of every encode call."""
    calls = []
    original = module.encode

    def spy(x):
        calls.append(x.detach().clone())
        return original(x)

    monkeypatch.setattr(module, "encode", spy)
    return calls


def read_partners(x_mix):
    """Partner and lam of each row of x_mix, for one-hot unlabeled inputs x_u = I."""
    n = len(x_mix)
    others = x_mix.clone()
    others[torch.arange(n), torch.arange(n)] = 0.0
    partner = others.argmax(dim=1)
    lam = x_mix[torch.arange(n), partner]
    # nothing else is mixed in
    np.testing.assert_allclose(x_mix.sum(dim=1).numpy(), 1.0, rtol=0, atol=1e-14)
    np.testing.assert_allclose(x_mix.diagonal().numpy(), (1 - lam).numpy(), rtol=0, atol=1e-14)
    return partner, lam


@pytest.mark.parametrize("direction", ["forward", "reverse"])
def test_optimal_match_partners_lam_and_ot_value(monkeypatch, direction):
    n_u = N_FEATURES
    module = make_module(hidden=(6,), seed=3)
    x_l = make_batch(seed=8)[0]
    y_l = torch.tensor([0, 1, 2, 0])
    x_u = torch.eye(n_u, dtype=F64)
    calls = capture_mixed_inputs(module, monkeypatch)
    torch.manual_seed(0)
    _, parts = SemiSupervisedObjective("shot", ot_kl_direction=direction)(module, x_l, y_l, x_u)
    assert len(calls) == 2
    partner, lam = read_partners(calls[1])
    assert torch.all(lam > 0) and torch.all(lam < 1)

    mu, logvar, logits = np_encode(module, x_u)
    np.testing.assert_array_equal(partner.numpy(), np_optimal_partners(mu, logvar))
    pi = special.softmax(logits, axis=-1)
    lam = lam.numpy()[:, None]
    target = (1 - lam) * pi + lam * pi[partner]
    log_q = special.log_softmax(np_encode(module, calls[1])[2], axis=-1)
    if direction == "forward":
        expected = np_kl(np.exp(log_q), np.log(target)).mean()
    else:
        expected = np_kl(target, log_q).mean()
    np.testing.assert_allclose(parts["ot"].item(), expected, rtol=1e-10)
    assert parts["ot"].item() > 0


def test_random_match_never_pairs_a_sample_with_itself(monkeypatch):
    n_u = N_FEATURES
    module = make_module(seed=4)
    x_l, y_l = make_batch(seed=9)[:2]
    x_u = torch.eye(n_u, dtype=F64)
    calls = capture_mixed_inputs(module, monkeypatch)
    criterion = SemiSupervisedObjective("shot", optimal_match=False)
    seen = [set() for _ in range(n_u)]
    for seed in range(30):
        calls.clear()
        torch.manual_seed(seed)
        _, parts = criterion(module, x_l, y_l, x_u)
        partner, lam = read_partners(calls[1])
        assert torch.all(partner != torch.arange(n_u))
        assert torch.all(lam > 0)
        for i, j in enumerate(partner.tolist()):
            seen[i].add(j)
        pi = special.softmax(np_encode(module, x_u)[2], axis=-1)
        lam = lam.numpy()[:, None]
        target = (1 - lam) * pi + lam * pi[partner]
        log_q = special.log_softmax(np_encode(module, calls[1])[2], axis=-1)
        np.testing.assert_allclose(parts["ot"].item(), np_kl(np.exp(log_q), np.log(target)).mean(),
                                   rtol=1e-10)
    # random: every sample meets every other one over the draws
    for i in range(n_u):
        assert seen[i] == set(range(n_u)) - {i}


@pytest.mark.parametrize("mixup_alpha", [0.3, 1.0, 2.0])
def test_lam_follows_the_beta_distribution(monkeypatch, mixup_alpha):
    n_u = 300
    module = make_module(hidden=(), seed=5, n_features=n_u)
    x_l = torch.rand(2, n_u, dtype=F64)
    y_l = torch.tensor([0, 1])
    x_u = torch.eye(n_u, dtype=F64)
    calls = capture_mixed_inputs(module, monkeypatch)
    torch.manual_seed(0)
    SemiSupervisedObjective("shot", optimal_match=False, mixup_alpha=mixup_alpha)(
        module, x_l, y_l, x_u)
    lam = read_partners(calls[1])[1].numpy()
    assert stats.kstest(lam, stats.beta(mixup_alpha, mixup_alpha).cdf).pvalue > 1e-3
    # and not another member of the family
    other = 4.0 * mixup_alpha
    assert stats.kstest(lam, stats.beta(other, other).cdf).pvalue < 1e-3


def test_dropped_intrusions_are_the_third_class_mixes(monkeypatch):
    # Unlabeled samples on a line, predicted 0, 1, 2 from left to right (the
    # logits are read from the first feature): a mix of a 0 and a 2 near the
    # middle lands among the 1s.
    n_u = 9
    module = make_module(hidden=(), seed=6, n_features=2)
    with torch.no_grad():
        module.heads.weight.zero_()
        module.heads.bias.zero_()
        module.heads.weight[2 * LATENT:, 0] = torch.tensor([-20.0, 0.0, 20.0], dtype=F64)
        module.heads.bias[2 * LATENT:] = torch.tensor([-10.0, 0.0, -10.0], dtype=F64)
    x_u = torch.stack([torch.linspace(-1.5, 1.5, n_u, dtype=F64),
                       torch.zeros(n_u, dtype=F64)], dim=1)
    predicted = np_encode(module, x_u)[2].argmax(axis=1)
    assert predicted.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    x_l, y_l = x_u[:3].clone(), torch.tensor([0, 1, 2])
    calls = capture_mixed_inputs(module, monkeypatch)
    criterion = SemiSupervisedObjective("shot", "gaussian", optimal_match=False,
                                        ot_drop_intrusions=True)
    plain = SemiSupervisedObjective("shot", "gaussian", optimal_match=False)
    dropped_somewhere = 0
    for seed in range(20):
        calls.clear()
        torch.manual_seed(seed)
        parts = criterion(module, x_l, y_l, x_u)[1]
        x_mix = calls[1].numpy()
        _, expected = expected_step(module, x_l, y_l, x_u, seed=seed, objective="shot",
                                    likelihood="gaussian", optimal_match=False,
                                    ot_drop_intrusions=True)
        np.testing.assert_allclose(parts["ot"].item(), expected["ot"], rtol=1e-10, atol=1e-14)
        torch.manual_seed(seed)
        without = plain(module, x_l, y_l, x_u)[1]["ot"].item()
        # the mixes near the middle of the line, between a 0 and a 2 parent
        middle = np.abs(x_mix[:, 0]) < 0.5
        dropped_somewhere += int(middle.any() and without > parts["ot"].item())
        assert parts["ot"].item() <= without + 1e-12
    assert dropped_somewhere > 0


# ---------------------------------------------------------------------------
# small unlabeled batches


def test_a_single_unlabeled_sample_has_no_ot_part():
    module = make_module()
    x_l, y_l, x_u = make_batch(n_u=1, seed=10)
    torch.manual_seed(0)
    loss, parts = SemiSupervisedObjective("shot")(module, x_l, y_l, x_u, ot_weight=1.0)
    assert "ot" not in parts
    assert torch.isfinite(loss)
    torch.manual_seed(0)
    reference = SemiSupervisedObjective("smooth-elbo")(module, x_l, y_l, x_u)[0]
    assert torch.equal(loss, reference)
    expected, _ = expected_step(module, x_l, y_l, x_u, seed=0, objective="shot")
    np.testing.assert_allclose(loss.item(), expected, rtol=1e-10)
    loss.backward()


def test_two_unlabeled_samples_are_each_others_partner(monkeypatch):
    module = make_module()
    x_l, y_l, _ = make_batch(seed=11)
    x_u = torch.eye(2, N_FEATURES, dtype=F64)
    calls = capture_mixed_inputs(module, monkeypatch)
    for optimal_match in [True, False]:
        calls.clear()
        torch.manual_seed(0)
        _, parts = SemiSupervisedObjective("shot", optimal_match=optimal_match)(
            module, x_l, y_l, x_u)
        assert "ot" in parts
        x_mix = calls[1]
        lam = x_mix[:, [1, 0]].diagonal()
        np.testing.assert_allclose(x_mix[:, :2].numpy(),
                                   [[1 - lam[0], lam[0]], [lam[1], 1 - lam[1]]], atol=1e-15)


# ---------------------------------------------------------------------------
# elbo_per_sample


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_elbo_per_sample_matches_a_hand_monte_carlo_estimate(likelihood):
    module = make_module(likelihood, hidden=(6,), seed=6)
    x = make_batch(likelihood, n_u=4, seed=12)[2]
    noise = torch.randn(5, LATENT, dtype=F64, generator=torch.Generator().manual_seed(0))
    got = elbo_per_sample(module, x, noise, likelihood)
    assert got.shape == (4,)

    x_np, e = x.numpy(), noise.numpy()
    mu, logvar, logits = np_encode(module, x_np)
    pi = special.softmax(logits, axis=-1)
    expected = []
    for i in range(len(x_np)):
        value = 0.0
        for k in range(N_CLASSES):
            onehot = np.eye(N_CLASSES)[k][None]
            log_lik = []
            for s in e:
                z = mu[i] + np.exp(0.5 * logvar[i]) * s
                log_lik.append(-np_rec(x_np[i], np_decode(module, z[None], onehot)[0], likelihood))
            value += pi[i, k] * np.mean(log_lik)
        kl_z = np_kl_z(mu[i], logvar[i])
        kl_y = np.sum(pi[i] * np.log(pi[i] * N_CLASSES))
        expected.append(value - kl_z - kl_y)
    np.testing.assert_allclose(got.detach().numpy(), expected, rtol=1e-10)


def test_elbo_per_sample_does_not_depend_on_the_batch():
    module = make_module(seed=7)
    x = make_batch(n_u=9, seed=13)[2]
    noise = torch.randn(4, LATENT, dtype=F64, generator=torch.Generator().manual_seed(1))
    full = elbo_per_sample(module, x, noise, "bernoulli")
    for rows in [slice(0, 3), slice(3, 4), [8, 2, 5]]:
        part = elbo_per_sample(module, x[rows], noise, "bernoulli")
        np.testing.assert_allclose(part.detach().numpy(), full[rows].detach().numpy(),
                                   rtol=1e-12)
    # a single draw of zero noise: z = mu
    zero = elbo_per_sample(module, x, torch.zeros(1, LATENT, dtype=F64), "bernoulli")
    assert not torch.allclose(zero, full)


def linear_gaussian_model(delta_mu=0.0, delta_logits=0.0):
    """A linear-Gaussian SHOT-VAE whose exact posterior the encoder can represent.

    Decoder: x = W z + c_y + b + noise, noise ~ N(0, I), with orthogonal
    columns of W and every c_k orthogonal to them. Then
    p(z | x, y) = N(S W^T (x - b), S), S = (I + W^T W)^-1 (diagonal), does not
    depend on y, and log p(y | x) = c_y . (x - b) - |c_y|^2 / 2 + const is linear
    in x: a linear encoder (no hidden layer) holds the exact posterior.
    """
    w = np.array([[1.0, 0.5], [1.0, -0.5], [0.0, 0.5]])
    normal = np.cross(w[:, 0], w[:, 1])
    c = np.outer(normal, [-1.0, 0.0, 1.5])  # (D, K)
    b = np.array([0.3, -0.2, 0.1])
    n_features, latent_dim, n_classes = w.shape[0], w.shape[1], c.shape[1]
    assert abs(w[:, 0] @ w[:, 1]) < 1e-15 and np.abs(w.T @ c).max() < 1e-15
    s = np.linalg.inv(np.eye(latent_dim) + w.T @ w)
    s_diag = np.diag(s).copy()
    a = s @ w.T

    module = MLPShotVAE(n_features, n_classes, latent_dim, (), "gaussian").double()
    heads_w = np.concatenate([a, np.zeros((latent_dim, n_features)), c.T])
    heads_b = np.concatenate([-a @ b + delta_mu, np.log(s_diag),
                              -c.T @ b - 0.5 * (c ** 2).sum(axis=0) + delta_logits])
    with torch.no_grad():
        module.heads.weight.copy_(torch.from_numpy(heads_w))
        module.heads.bias.copy_(torch.from_numpy(heads_b))
        module.decoder[0].weight.copy_(torch.from_numpy(np.concatenate([w, c], axis=1)))
        module.decoder[0].bias.copy_(torch.from_numpy(b))

    def log_px(x):
        cov = w @ w.T + np.eye(n_features)
        comps = [stats.multivariate_normal(b + c[:, k], cov).logpdf(x) for k in range(n_classes)]
        return special.logsumexp(comps, axis=0) - np.log(n_classes)

    def posterior(x):
        """Exact p(z | x) mean and variance, and p(y | x)."""
        mean = (x - b) @ a.T
        log_py = special.log_softmax([
            stats.multivariate_normal(b + c[:, k], cov_x).logpdf(x) for k in range(n_classes)],
            axis=0).T
        return mean, s_diag, np.exp(log_py)

    cov_x = w @ w.T + np.eye(n_features)
    return module, log_px, posterior


def symmetric_noise(latent_dim):
    """2 d draws +-sqrt(d) e_i: sample mean 0 and sample covariance I, so the average
    of a quadratic function of z over them is its exact expectation."""
    e = np.sqrt(latent_dim) * np.eye(latent_dim)
    return torch.from_numpy(np.concatenate([e, -e]))


def test_elbo_per_sample_is_the_log_likelihood_when_q_is_the_exact_posterior():
    module, log_px, _ = linear_gaussian_model()
    x = np.random.default_rng(0).normal(size=(6, 3)) * 2.0
    noise = symmetric_noise(module.latent_dim)
    got = elbo_per_sample(module, torch.from_numpy(x), noise, "gaussian").detach().numpy()
    np.testing.assert_allclose(got, log_px(x), rtol=1e-10, atol=1e-10)


def test_elbo_per_sample_gap_is_the_kl_to_the_exact_posterior():
    delta_mu = np.array([0.4, -0.3])
    delta_logits = np.array([0.0, 0.8, -0.5])
    module, log_px, posterior = linear_gaussian_model(delta_mu, delta_logits)
    x = np.random.default_rng(1).normal(size=(6, 3)) * 2.0
    noise = symmetric_noise(module.latent_dim)
    got = elbo_per_sample(module, torch.from_numpy(x), noise, "gaussian").detach().numpy()
    exact = log_px(x)
    assert np.all(got < exact)
    # log p(x) - ELBO = KL(q(z|x) q(y|x) || p(z|x) p(y|x)), both factors known in closed form
    mean, var, p_y = posterior(x)
    mu_q, logvar_q, logits_q = np_encode(module, x)
    kl_z = [np_gauss_kl(mu_q[i], logvar_q[i], mean[i], np.log(var)) for i in range(len(x))]
    kl_y = np_kl(special.softmax(logits_q, axis=-1), np.log(p_y))
    np.testing.assert_allclose(exact - got, np.array(kl_z) + kl_y, rtol=1e-8, atol=1e-10)


# ---------------------------------------------------------------------------
# pseudo-labels of the label propagation


@pytest.mark.parametrize("objective", ["shot", "smooth-elbo", "m2"])
@pytest.mark.parametrize("weight", [0.5, 2.0])
def test_pseudo_labels_add_their_weighted_cross_entropy(objective, weight):
    module = make_module()
    x_l, y_l, x_u = make_batch(seed=6)
    labels = torch.tensor([2, 0, 1, 1, 2, 0])
    weights = torch.tensor([0.5, 1.0, 0.0, 2.0, 0.3, 1.5], dtype=F64)
    torch.manual_seed(0)
    base, _ = SemiSupervisedObjective(objective)(module, x_l, y_l, x_u, ot_weight=1.0)
    torch.manual_seed(0)
    loss, parts = SemiSupervisedObjective(objective, propagation_weight=weight)(
        module, x_l, y_l, x_u, ot_weight=1.0, pseudo_u=(labels, weights))
    with torch.no_grad():
        log_p = torch.log_softmax(module.encode(x_u)[2], dim=1).numpy()
    expected = np.mean(-weights.numpy() * log_p[np.arange(6), labels.numpy()])
    np.testing.assert_allclose(parts["pl_u"].item(), expected, rtol=1e-10)
    np.testing.assert_allclose(loss.item(), base.item() + weight * expected, rtol=1e-10)


def test_pseudo_labels_are_ignored_without_a_weight_or_by_supervised():
    module = make_module()
    x_l, y_l, x_u = make_batch(seed=7)
    pseudo_u = (torch.zeros(6, dtype=torch.long), torch.ones(6, dtype=F64))
    for objective, weight in [("shot", 0.0), ("supervised", 1.0)]:
        torch.manual_seed(0)
        base, _ = SemiSupervisedObjective(objective)(module, x_l, y_l, x_u)
        torch.manual_seed(0)
        loss, parts = SemiSupervisedObjective(objective, propagation_weight=weight)(
            module, x_l, y_l, x_u, pseudo_u=pseudo_u)
        assert "pl_u" not in parts
        assert loss.item() == base.item()
        assert not SemiSupervisedObjective(objective, propagation_weight=weight).uses_pseudo_labels
    assert SemiSupervisedObjective("m2", propagation_weight=0.3).uses_pseudo_labels


def test_kept_pseudo_labels_are_returned_for_their_data_only_and_survive_a_state_dict():
    objective = SemiSupervisedObjective("shot", propagation_weight=0.3)
    key = torch.tensor([5.0, 12.5, 3.0])
    assert objective.stored_pseudo_labels(key) is None  # nothing kept yet
    labels, weights = torch.tensor([2, 0, 1, 1, 0]), torch.tensor([0.5, 1.0, 0.0, 2.0, 0.3])
    objective.store_pseudo_labels(labels, weights, key)
    labels[0] = 1  # a copy is kept, not the caller's tensor
    kept = objective.stored_pseudo_labels(key.clone())
    assert kept[0].tolist() == [2, 0, 1, 1, 0] and torch.equal(kept[1], weights)
    assert objective.stored_pseudo_labels(torch.tensor([5.0, 12.5, 4.0])) is None
    assert objective.stored_pseudo_labels(torch.tensor([5.0, 12.5])) is None

    # A fresh objective (empty buffers) loads the saved ones, whatever their length.
    restored = SemiSupervisedObjective("shot", propagation_weight=0.3)
    restored.load_state_dict(objective.state_dict())
    kept = restored.stored_pseudo_labels(key)
    assert kept[0].tolist() == [2, 0, 1, 1, 0] and torch.equal(kept[1], weights)
