"""Tests of skshot.backbones and of ShotVAE around them: shapes, the WideResNet's size,
the image-shape checks, and the contract of a user's backbone."""

import pytest
import torch
from torch import nn

from skshot.backbones import (
    BACKBONES,
    build_backbone,
    conv_backbone,
    conv_encoder,
    conv_mlp_backbone,
    mlp_backbone,
    wide_resnet_backbone,
)
from skshot.modules import ShotVAE


@pytest.fixture(autouse=True, scope="module")
def _small_tensors(one_torch_thread):
    """Small tensors: intra-op threads only add synchronisation overhead."""


def _n_params(module):
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize(("backbone", "input_shape"), [
    ("mlp", (12,)), ("mlp", (1, 4, 4)), ("conv", (1, 28, 28)), ("conv", (3, 8, 12)),
    ("conv-mlp", (1, 28, 28)), ("conv-mlp", (3, 8, 12)), ("wrn-28-2", (3, 32, 32)),
    ("wrn-28-2", (1, 8, 8)),
])
def test_built_in_backbones_map_images_to_features_and_codes_to_images(backbone, input_shape):
    latent_dim, n_classes, batch = 5, 3, 4
    encoder, decoder = build_backbone(backbone, input_shape, latent_dim, n_classes, (16,))
    features = encoder(torch.rand(batch, *input_shape))
    assert features.ndim == 2 and features.shape[0] == batch
    out = decoder(torch.rand(batch, latent_dim + n_classes))
    assert out.shape[0] == batch
    assert out[0].numel() == torch.Size(input_shape).numel()


def test_conv_encoder_is_the_conv_backbone_s_encoder_with_any_channels():
    torch.manual_seed(0)
    own = conv_encoder((1, 28, 28))
    torch.manual_seed(0)
    encoder, _ = conv_backbone((1, 28, 28), latent_dim=5, n_classes=3)
    assert [p.shape for p in own.parameters()] == [p.shape for p in encoder.parameters()]
    assert all(torch.equal(a, b) for a, b in zip(own.parameters(), encoder.parameters()))
    narrow = conv_encoder((3, 8, 12), channels=(16, 32), width=7)
    assert [m.out_channels for m in narrow if isinstance(m, nn.Conv2d)] == [16, 32]
    assert narrow(torch.zeros(2, 3, 8, 12)).shape == (2, 7)
    with pytest.raises(ValueError, match="divisible by 4"):
        conv_encoder((1, 6, 8))


def test_conv_mlp_is_the_narrow_conv_encoder_in_channels_last_and_the_mlp_decoder():
    torch.manual_seed(0)
    encoder, decoder = conv_mlp_backbone((1, 28, 28), latent_dim=5, n_classes=3,
                                         hidden_sizes=(40, 30))
    torch.manual_seed(0)
    narrow = conv_encoder((1, 28, 28), channels=(16, 32))
    _, mlp_decoder = mlp_backbone((1, 28, 28), 5, 3, (40, 30))
    convs = [m for m in encoder.modules() if isinstance(m, nn.Conv2d)]
    assert [m.out_channels for m in convs] == [16, 32]
    assert all(m.weight.is_contiguous(memory_format=torch.channels_last) for m in convs)
    # the same weights as the encoder built in the usual layout, the same values out
    assert all(torch.equal(a, b) for a, b in zip(encoder.parameters(), narrow.parameters()))
    x = torch.rand(4, 1, 28, 28)
    torch.testing.assert_close(encoder(x), narrow(x))
    # the decoder is the MLP's: hidden_sizes reversed, one output per pixel
    assert [m.out_features for m in decoder if isinstance(m, nn.Linear)] == [30, 40, 784]
    assert [p.shape for p in decoder.parameters()] == \
        [p.shape for p in mlp_decoder.parameters()]
    with pytest.raises(ValueError, match=r"backbone='conv-mlp' needs images"):
        conv_mlp_backbone((784,), 5, 3)


def test_build_backbone_gives_hidden_sizes_to_the_conv_mlp_decoder():
    _, decoder = build_backbone("conv-mlp", (1, 8, 8), 2, 3, (11,))
    assert [m.out_features for m in decoder if isinstance(m, nn.Linear)] == [11, 64]


def test_wide_resnet_28_2_has_the_published_size():
    # WRN-28-2 with a 10-class linear classifier has 1 467 610 parameters (the
    # figure of the semi-supervised literature's CIFAR-10 runs, "1.5M").
    encoder, _ = wide_resnet_backbone((3, 32, 32), latent_dim=10, n_classes=10)
    n_features = encoder(torch.zeros(2, 3, 32, 32)).shape[1]
    assert n_features == 128
    assert _n_params(encoder) + _n_params(nn.Linear(128, 10)) == 1_467_610
    # a stem convolution and 3 groups of 4 blocks of two 3x3 convolutions, with
    # a 1x1 projection where a group changes the width
    convs = [m for m in encoder.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)]
    assert len(convs) == 1 + 3 * 4 * 2
    shortcuts = [m for m in encoder.modules() if isinstance(m, nn.Conv2d)
                 and m.kernel_size == (1, 1)]
    assert len(shortcuts) == 3


@pytest.mark.parametrize("backbone", ["conv", "conv-mlp", "wrn-28-2"])
@pytest.mark.parametrize("input_shape", [(784,), (1, 28, 30), (1, 30, 28), (28, 28)])
def test_image_backbones_refuse_shapes_they_cannot_mirror(backbone, input_shape):
    with pytest.raises(ValueError, match=r"height and width divisible by 4"):
        build_backbone(backbone, input_shape, 4, 2)


def test_an_unknown_backbone_name_is_refused():
    with pytest.raises(ValueError, match=r"backbone must be one of \['conv', 'conv-mlp', 'mlp', "
                                         r"'wrn-28-2'\]"):
        build_backbone("resnet", (4,), 2, 2)
    assert sorted(BACKBONES) == ["conv", "conv-mlp", "mlp", "wrn-28-2"]


@pytest.mark.parametrize(("backbone", "input_shape"), [
    ("mlp", (6,)), ("conv", (1, 8, 8)), ("conv-mlp", (1, 8, 8)), ("wrn-28-2", (3, 4, 8)),
])
def test_shot_vae_reads_and_writes_flat_rows(backbone, input_shape):
    torch.manual_seed(0)
    module = ShotVAE(input_shape, n_classes=3, latent_dim=2, backbone=backbone,
                     hidden_sizes=(8,)).eval()
    n_features = torch.Size(input_shape).numel()
    x = torch.rand(5, n_features)
    mu, logvar, logits = module.encode(x)
    assert mu.shape == logvar.shape == (5, 2) and logits.shape == (5, 3)
    # the rows are the images, flattened: encoding the images directly agrees
    features = module.encoder(x.view(5, *input_shape)).flatten(1)
    torch.testing.assert_close(module.heads(features)[:, 2 * 2:], logits)
    decoded = module.decode(mu, torch.softmax(logits, dim=1))
    assert decoded.shape == (5, n_features)


def test_shot_vae_returns_float32_heads_and_decoder_output_under_bf16_autocast():
    torch.manual_seed(0)
    module = ShotVAE((1, 8, 8), n_classes=2, latent_dim=3, backbone="conv")
    x = torch.rand(4, 64)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        features = module.encoder(x.view(4, 1, 8, 8))
        mu, logvar, logits = module.encode(x)
        decoded = module.decode(mu, torch.softmax(logits, dim=1))
    assert features.dtype == torch.bfloat16  # autocast is active inside the backbone
    assert {mu.dtype, logvar.dtype, logits.dtype, decoded.dtype} == {torch.float32}


# ---------------------------------------------------------------------------
# a user's backbone


def _user_backbone(input_shape, latent_dim, n_classes):
    n_features = torch.Size(input_shape).numel()
    encoder = nn.Sequential(nn.Flatten(), nn.Linear(n_features, 7), nn.Tanh())
    decoder = nn.Sequential(nn.Linear(latent_dim + n_classes, n_features),
                            nn.Unflatten(1, input_shape))
    return encoder, decoder


def test_a_callable_backbone_is_called_with_keywords_and_wrapped_with_heads():
    calls = []

    def backbone(**kwargs):
        calls.append(kwargs)
        return _user_backbone(**kwargs)

    module = ShotVAE((2, 3), n_classes=4, latent_dim=2, backbone=backbone)
    assert calls == [{"input_shape": (2, 3), "latent_dim": 2, "n_classes": 4}]
    assert (module.heads.in_features, module.heads.out_features) == (7, 2 * 2 + 4)
    assert module.decode(torch.zeros(3, 2), torch.zeros(3, 4)).shape == (3, 6)


def test_the_shape_check_leaves_the_backbone_in_training_mode_and_its_statistics_unchanged():
    def backbone(input_shape, latent_dim, n_classes):
        encoder = nn.Sequential(nn.Flatten(), nn.Linear(4, 3), nn.BatchNorm1d(3))
        return encoder, nn.Linear(latent_dim + n_classes, 4)

    module = ShotVAE((4,), n_classes=2, latent_dim=1, backbone=backbone)
    assert module.encoder.training and module.decoder.training
    batch_norm = module.encoder[2]
    assert int(batch_norm.num_batches_tracked) == 0
    torch.testing.assert_close(batch_norm.running_mean, torch.zeros(3))


@pytest.mark.parametrize(("returned", "error", "message"), [
    (lambda s, d, k: nn.Linear(4, 3), TypeError, r"must return a pair \(encoder, decoder\)"),
    (lambda s, d, k: (nn.Linear(4, 3), "decoder"), TypeError, r"must return a pair"),
    (lambda s, d, k: (nn.Linear(4, 3), nn.Linear(d + k, 5)), ValueError,
     (r"decoder must map \[z, y\] of shape \(B, 3\) to \(B, \*\(4,\)\), 4 values per sample; "
     r"it gave \(2, 5\)")),
    (lambda s, d, k: (nn.Flatten(0), nn.Linear(d + k, 4)), ValueError,
     r"encoder must map a batch .* features of shape \(B, F\); it gave \(8,\)"),
])
def test_a_backbone_breaking_the_contract_is_refused_with_its_shapes(returned, error, message):
    def backbone(input_shape, latent_dim, n_classes):
        return returned(input_shape, latent_dim, n_classes)

    with pytest.raises(error, match=message):
        ShotVAE((4,), n_classes=2, latent_dim=1, backbone=backbone)
