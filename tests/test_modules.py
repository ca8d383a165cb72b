"""Tests of skshot.modules: shapes, the architecture against a hand-written forward pass,
the log-variance clamp and the parameter count."""

import itertools

import numpy as np
import pytest
import torch
from scipy import special
from torch import nn

from skshot import losses, modules
from skshot.modules import MLPShotVAE, mlp

F64 = torch.float64

CONFIGS = [
    # n_features, n_classes, latent_dim, hidden_sizes
    (7, 3, 2, (5,)),
    (4, 2, 3, ()),
    (9, 5, 4, (6, 3)),
    (1, 2, 1, (2, 2, 2)),
]


def _linears(seq):
    return [m for m in seq.modules() if isinstance(m, nn.Linear)]


def _np_mlp(x, layers, final_relu=False):
    """Forward pass of a list of Linear layers with ReLU between them, in numpy."""
    for i, layer in enumerate(layers):
        w = layer.weight.detach().numpy()
        b = layer.bias.detach().numpy()
        x = x @ w.T + b
        if i < len(layers) - 1 or final_relu:
            x = np.maximum(x, 0.0)
    return x


def _module(config, likelihood="bernoulli", seed=0):
    n_features, n_classes, latent_dim, hidden = config
    torch.manual_seed(seed)
    return MLPShotVAE(n_features, n_classes, latent_dim, hidden, likelihood).double()



@pytest.fixture(autouse=True, scope="module")
def _tiny_tensors(one_torch_thread):
    """The tensors here are tiny: intra-op threads only add synchronisation overhead."""

# ---------------------------------------------------------------------------
# mlp


def test_mlp_builds_linear_layers_with_activations_between_them():
    net = mlp((3, 5, 7, 2))
    kinds = [type(m) for m in net]
    assert kinds == [nn.Linear, nn.ReLU, nn.Linear, nn.ReLU, nn.Linear]
    shapes = [(m.in_features, m.out_features) for m in net if isinstance(m, nn.Linear)]
    assert shapes == [(3, 5), (5, 7), (7, 2)]
    assert all(m.bias is not None for m in net if isinstance(m, nn.Linear))


def test_mlp_activation_argument_and_degenerate_sizes():
    net = mlp((4, 6, 2), activation=nn.Tanh)
    assert [type(m) for m in net] == [nn.Linear, nn.Tanh, nn.Linear]
    single = mlp((4, 3))
    assert [type(m) for m in single] == [nn.Linear]
    assert (single[0].in_features, single[0].out_features) == (4, 3)
    assert len(mlp((4,))) == 0


def test_mlp_computes_the_composition():
    torch.manual_seed(0)
    net = mlp((3, 5, 4, 2)).double()
    x = np.random.default_rng(0).normal(size=(6, 3))
    expected = _np_mlp(x, _linears(net))
    got = net(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    # negative outputs are possible: no activation after the last layer
    assert (got < 0).any()


# ---------------------------------------------------------------------------
# shapes and the architecture


@pytest.mark.parametrize("config", CONFIGS)
def test_output_shapes(config):
    n_features, n_classes, latent_dim, _ = config
    module = _module(config)
    x = torch.rand(8, n_features, dtype=F64)
    mu, logvar, logits = module.encode(x)
    assert mu.shape == (8, latent_dim)
    assert logvar.shape == (8, latent_dim)
    assert logits.shape == (8, n_classes)
    z = torch.randn(8, latent_dim, dtype=F64)
    y = torch.softmax(torch.randn(8, n_classes, dtype=F64), dim=-1)
    assert module.decode(z, y).shape == (8, n_features)
    assert module.decode_mean(z, y).shape == (8, n_features)
    out = module(x)
    assert isinstance(out, tuple) and len(out) == 3
    assert [t.shape for t in out] == [(8, n_classes), (8, latent_dim), (8, latent_dim)]


@pytest.mark.parametrize("config", CONFIGS)
def test_encode_and_decode_match_a_hand_written_forward_pass(config):
    n_features, n_classes, latent_dim, hidden = config
    module = _module(config, seed=1)
    encoder_layers = _linears(module.encoder) + _linears(module.heads)
    decoder_layers = _linears(module.decoder)
    # encoder: n_features -> hidden... -> 2 * latent_dim + n_classes
    enc_sizes = [(m.in_features, m.out_features) for m in encoder_layers]
    widths = (n_features,) + hidden + (2 * latent_dim + n_classes,)
    assert enc_sizes == list(itertools.pairwise(widths))
    # decoder: latent_dim + n_classes -> reversed hidden... -> n_features
    dec_sizes = [(m.in_features, m.out_features) for m in decoder_layers]
    widths = (latent_dim + n_classes,) + hidden[::-1] + (n_features,)
    assert dec_sizes == list(itertools.pairwise(widths))

    rng = np.random.default_rng(2)
    x = rng.normal(size=(5, n_features))
    out = _np_mlp(x, encoder_layers)
    mu, logvar, logits = module.encode(torch.from_numpy(x))
    np.testing.assert_allclose(mu.detach().numpy(), out[:, :latent_dim], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(logvar.detach().numpy(), out[:, latent_dim:2 * latent_dim],
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(logits.detach().numpy(), out[:, 2 * latent_dim:],
                               rtol=1e-12, atol=1e-12)

    z = rng.normal(size=(5, latent_dim))
    y = np.eye(n_classes)[rng.integers(0, n_classes, size=5)]
    expected = _np_mlp(np.concatenate([z, y], axis=1), decoder_layers)
    got = module.decode(torch.from_numpy(z), torch.from_numpy(y)).detach().numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_no_hidden_layers_gives_linear_encoder_and_decoder():
    module = _module((4, 3, 2, ()))
    assert isinstance(module.encoder, nn.Flatten)
    assert len(_linears(module.decoder)) == 1
    assert not any(isinstance(m, nn.ReLU) for m in module.modules())

    def encoder(x):
        return torch.cat(module.encode(x), dim=1).detach().numpy()

    def decoder(x):
        return module.decode(x[:, :2], x[:, 2:]).detach().numpy()

    # affine maps: f(a x1 + b x2) = a f(x1) + b f(x2) - (a + b - 1) f(0)
    for f, width in [(encoder, 4), (decoder, 5)]:
        x1, x2, zero = (torch.randn(1, width, dtype=F64), torch.randn(1, width, dtype=F64),
                        torch.zeros(1, width, dtype=F64))
        expected = 2.0 * f(x1) - 3.0 * f(x2) + 2.0 * f(zero)
        np.testing.assert_allclose(f(2.0 * x1 - 3.0 * x2), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("config", CONFIGS)
def test_forward_returns_logits_mu_logvar_of_encode(config):
    module = _module(config)
    x = torch.rand(6, config[0], dtype=F64)
    logits, mu, logvar = module(x)
    mu_e, logvar_e, logits_e = module.encode(x)
    assert torch.equal(logits, logits_e)
    assert torch.equal(mu, mu_e)
    assert torch.equal(logvar, logvar_e)


# ---------------------------------------------------------------------------
# log-variance clamp


@pytest.mark.parametrize("hidden", [(), (4,)])
def test_logvar_is_clamped_into_its_range(hidden):
    low, high = modules.LOGVAR_RANGE
    assert low < high
    latent_dim = 4
    module = _module((3, 2, latent_dim, hidden))
    bias = torch.tensor([-1e4, 1e4, 0.5 * (low + high), low - 0.5], dtype=F64)
    with torch.no_grad():
        module.heads.weight[latent_dim:2 * latent_dim].zero_()
        module.heads.bias[latent_dim:2 * latent_dim] = bias
    x = torch.rand(5, 3, dtype=F64)
    logvar = module.encode(x)[1].detach()
    assert torch.all(logvar >= low) and torch.all(logvar <= high)
    expected = torch.tensor([low, high, 0.5 * (low + high), low], dtype=F64).expand(5, -1)
    np.testing.assert_array_equal(logvar.numpy(), expected.numpy())
    # extreme weights as well as biases; a positive trunk keeps the hidden layer non-zero
    x = torch.rand(5, 3, dtype=F64) + 0.1
    for sign, bound in [(1.0, high), (-1.0, low)]:
        with torch.no_grad():
            for layer in _linears(module.encoder):
                layer.weight.fill_(1.0)
                layer.bias.zero_()
            module.heads.weight.fill_(sign * 1e6)
            module.heads.bias.zero_()
        logvar = module.encode(x)[1]
        np.testing.assert_array_equal(logvar.detach().numpy(), np.full((5, latent_dim), bound))


def test_clamped_variances_keep_the_pairwise_kl_finite_in_float32():
    low, high = modules.LOGVAR_RANGE
    assert low < 0.0 < high
    f32 = np.finfo(np.float32)
    # sigma^2 and 1 / sigma^2 are normal float32 numbers, and so is their largest ratio,
    # which scales the quadratic term of KL(q_i || q_j)
    for value in [np.exp(low), np.exp(high), np.exp(high - low)]:
        assert f32.tiny < value < f32.max
    # with the most extreme variances the model can produce, in float32
    module = MLPShotVAE(3, 2, 2, ())
    with torch.no_grad():
        module.heads.weight.zero_()
        module.heads.bias.copy_(torch.tensor([0.5, -0.5, 1e4, -1e4, 0.0, 0.0]))
    mu, logvar, _ = (t.detach() for t in module.encode(torch.rand(4, 3)))
    np.testing.assert_array_equal(logvar.numpy(), np.tile([high, low], (4, 1)))
    # rows 2 and 3 get the swapped variances: sigma_i^2 / sigma_j^2 reaches exp(high - low)
    logvar = torch.cat([logvar[:2], logvar[2:].flip(1)])
    mu = mu + 100.0 * torch.arange(4.0)[:, None]
    kl = losses.kl_gaussian_pairwise(mu, logvar)
    assert kl.dtype == torch.float32
    assert torch.all(torch.isfinite(kl))


def test_mu_and_logits_are_not_clamped():
    latent_dim = 2
    module = _module((3, 2, latent_dim, ()))
    with torch.no_grad():
        module.heads.weight.zero_()
        module.heads.bias.fill_(1e4)
    mu, logvar, logits = module.encode(torch.rand(2, 3, dtype=F64))
    assert torch.all(mu == 1e4) and torch.all(logits == 1e4)
    assert torch.all(logvar == modules.LOGVAR_RANGE[1])


# ---------------------------------------------------------------------------
# decode_mean


def test_decode_mean_bernoulli_is_sigmoid_of_the_logits_in_unit_interval():
    module = _module((6, 3, 2, (5,)), likelihood="bernoulli")
    with torch.no_grad():
        for layer in _linears(module.decoder):
            layer.weight.mul_(50.0)
    z = 3.0 * torch.randn(20, 2, dtype=F64)
    y = torch.eye(3, dtype=F64)[torch.randint(0, 3, (20,))]
    raw = module.decode(z, y).detach().numpy()
    mean = module.decode_mean(z, y).detach().numpy()
    assert np.abs(raw).max() > 1.0  # the test is only meaningful outside [0, 1]
    assert np.all(mean >= 0.0) and np.all(mean <= 1.0)
    np.testing.assert_allclose(mean, special.expit(raw), rtol=1e-12, atol=0)


def test_decode_mean_gaussian_is_the_raw_output():
    module = _module((6, 3, 2, (5,)), likelihood="gaussian")
    z = 3.0 * torch.randn(10, 2, dtype=F64)
    y = torch.softmax(torch.randn(10, 3, dtype=F64), dim=-1)
    raw = module.decode(z, y)
    assert torch.equal(module.decode_mean(z, y), raw)
    assert (raw.abs() > 1).any() or (raw < 0).any()


# ---------------------------------------------------------------------------
# size


def test_parameter_count_of_the_default_mnist_model():
    module = MLPShotVAE(784, 10)  # latent_dim=10, hidden_sizes=(500, 500)
    assert module.latent_dim == 10
    # encoder: 784 -> 500 -> 500, heads 500 -> 2 * 10 + 10
    encoder = (784 * 500 + 500) + (500 * 500 + 500) + (500 * 30 + 30)
    # decoder: 10 + 10 -> 500 -> 500 -> 784
    decoder = (20 * 500 + 500) + (500 * 500 + 500) + (500 * 784 + 784)
    expected = encoder + decoder
    assert expected == 1_311_814
    n_params = sum(p.numel() for p in module.parameters())
    assert n_params == expected
    assert all(p.requires_grad for p in module.parameters())


def test_float32_by_default_and_double_converts_everything():
    module = MLPShotVAE(5, 2, 3, (4,))
    assert all(p.dtype == torch.float32 for p in module.parameters())
    out = module(torch.rand(2, 5))
    assert all(t.dtype == torch.float32 for t in out)
    module.double()
    out = module(torch.rand(2, 5, dtype=F64))
    assert all(t.dtype == F64 for t in out)
