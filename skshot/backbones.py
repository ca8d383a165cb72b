"""Encoder and decoder networks ("backbones") of the SHOT-VAE module.

A backbone is a pair ``(encoder, decoder)`` of :class:`torch.nn.Module`:

- the **encoder** maps a batch of inputs of shape ``(B, *input_shape)`` to
  features of shape ``(B, F)`` (any shape ``(B, ...)`` is flattened); the
  module :class:`skshot.modules.ShotVAE` puts one linear layer on top that
  gives ``mu``, ``logvar`` and the class logits;
- the **decoder** maps ``[z, y]``, of shape ``(B, latent_dim + n_classes)``,
  to one value per input feature, of shape ``(B, *input_shape)`` or
  ``(B, prod(input_shape))``: Bernoulli logits or Gaussian means, with no
  final activation.

Built-in backbones, by name (:data:`BACKBONES`):

``"mlp"``
    Fully connected layers of widths ``hidden_sizes`` (the paper's MNIST
    network); any ``input_shape``.
``"conv"``
    A small convolutional network for grey or colour images: two stride-2
    convolutions (32 and 64 channels) and a 256-unit dense layer; the decoder
    mirrors it with transposed convolutions. Made for 28x28 grey images
    (Fashion-MNIST, MNIST); any ``(C, H, W)`` with H and W divisible by 4.
``"conv-mlp"``
    The ``"conv"`` encoder at half its channels (16 and 32), its
    convolutions in the channels-last memory layout, and the ``"mlp"``
    decoder of widths ``hidden_sizes``: convolutions for a CPU without
    AMX (bfloat16 matrix units), where a fit with ``"conv"`` takes about four
    times as long as the MLP's in float32 (most of it in the decoder's
    transposed convolutions) and one with this backbone 1.6 times.
``"wrn-28-2"``
    WideResNet-28-2 (Zagoruyko & Komodakis, 2016), the paper's encoder for
    CIFAR-10 and SVHN: 28 layers, width 2, 1.47 million parameters,
    pre-activation residual blocks of 32, 64 and 128 channels and global
    average pooling. The decoder expands ``[z, y]`` to a 128-channel map of
    a quarter of the image size and upsamples it twice with transposed
    convolutions. Made for 32x32x3 images; any ``(C, H, W)`` with H and W
    divisible by 4.

A user's own backbone is a callable ``backbone(input_shape, latent_dim,
n_classes)`` (keywords) returning ``(encoder, decoder)`` that follow the
contract above; see :class:`skshot.ShotVAEClassifier`.
"""

import itertools
import math

import torch
from torch import nn

__all__ = ["BACKBONES", "build_backbone", "conv_backbone", "conv_encoder",
           "conv_mlp_backbone", "mlp", "mlp_backbone", "wide_resnet_backbone"]


def mlp(sizes, activation=nn.ReLU):
    """A stack of ``Linear`` layers with ``activation`` between them (not after the last).

    Parameters
    ----------
    sizes : sequence of int
        Layer widths, input first: ``(784, 500, 500)`` has two ``Linear`` layers.
    activation : callable returning an ``nn.Module``, default=nn.ReLU
    """
    layers = []
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        if i:
            layers.append(activation())
        layers.append(nn.Linear(n_in, n_out))
    return nn.Sequential(*layers)


def mlp_backbone(input_shape, latent_dim, n_classes, hidden_sizes=(500, 500)):
    """Fully connected encoder and mirrored decoder.

    The encoder is ``Flatten`` followed by ``Linear``-``ReLU`` layers of
    widths ``hidden_sizes`` (only ``Flatten`` when there are none); the
    decoder maps ``latent_dim + n_classes`` through the reversed widths to
    ``prod(input_shape)`` outputs.
    """
    hidden_sizes = tuple(int(h) for h in hidden_sizes)
    n_features = math.prod(input_shape)
    encoder = nn.Sequential(nn.Flatten(), mlp((n_features,) + hidden_sizes), nn.ReLU()) \
        if hidden_sizes else nn.Flatten()
    decoder = mlp((latent_dim + n_classes,) + hidden_sizes[::-1] + (n_features,))
    return encoder, decoder


def _check_image_shape(input_shape, name):
    if len(input_shape) != 3 or input_shape[1] % 4 or input_shape[2] % 4:
        raise ValueError(
            f"backbone={name!r} needs images of shape (channels, height, width) with height "
            f"and width divisible by 4, got input_shape={tuple(input_shape)!r}.")


def conv_encoder(input_shape, channels=(32, 64), width=256):
    """The ``"conv"`` backbone's encoder: two stride-2 convolutions and a dense layer.

    Parameters
    ----------
    input_shape : tuple of int
        ``(C, H, W)``, with H and W divisible by 4.
    channels : pair of int, default=(32, 64)
        Output channels of the two 4x4 convolutions.
    width : int, default=256
        Units of the ``Linear``-``ReLU`` layer on top; the encoder's features.

    Returns
    -------
    encoder : torch.nn.Sequential
        Maps ``(B, C, H, W)`` to ``(B, width)``; a part for a user's own
        backbone callable, e.g. beside :func:`mlp_backbone`'s decoder.
    """
    _check_image_shape(input_shape, "conv")
    c1, c2 = (int(c) for c in channels)
    n_grid = c2 * (input_shape[1] // 4) * (input_shape[2] // 4)
    return nn.Sequential(
        nn.Conv2d(input_shape[0], c1, 4, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(c1, c2, 4, stride=2, padding=1), nn.ReLU(),
        nn.Flatten(), nn.Linear(n_grid, width), nn.ReLU(),
    )


def conv_backbone(input_shape, latent_dim, n_classes, width=256):
    """Small convolutional encoder and transposed-convolution decoder (``"conv"``)."""
    encoder = conv_encoder(input_shape, width=width)
    channels, height, width_px = input_shape
    grid = (64, height // 4, width_px // 4)
    n_grid = math.prod(grid)
    decoder = nn.Sequential(
        nn.Linear(latent_dim + n_classes, width), nn.ReLU(),
        nn.Linear(width, n_grid), nn.ReLU(), nn.Unflatten(1, grid),
        nn.ConvTranspose2d(64, 32, 4, stride=2, padding=1), nn.ReLU(),
        nn.ConvTranspose2d(32, channels, 4, stride=2, padding=1),
    )
    return encoder, decoder


class _ChannelsLast(nn.Module):
    """Return the input in the channels-last memory layout; its values are unchanged.

    The first layer of an encoder whose convolutions hold their weights in
    that layout too: on an AVX2 CPU in float32 its convolutions then ran
    faster (the first one five times as fast), and the result is the same up
    to rounding.
    """

    def forward(self, x):
        return x.contiguous(memory_format=torch.channels_last)


def conv_mlp_backbone(input_shape, latent_dim, n_classes, hidden_sizes=(500, 500),
                      channels=(16, 32), width=256):
    """The ``"conv-mlp"`` backbone: a convolutional encoder and a fully connected decoder.

    Parameters
    ----------
    input_shape : tuple of int
        ``(C, H, W)``, with H and W divisible by 4.
    latent_dim, n_classes : int
    hidden_sizes : tuple of int, default=(500, 500)
        Widths of the decoder, in reverse: ``[z, y]`` goes through
        ``hidden_sizes[::-1]`` to ``prod(input_shape)`` outputs, as in
        :func:`mlp_backbone`.
    channels : pair of int, default=(16, 32)
        Output channels of :func:`conv_encoder`'s two convolutions.
    width : int, default=256
        The encoder's features.

    Returns
    -------
    encoder, decoder : torch.nn.Module
        The encoder computes in the channels-last layout (a layer that
        converts its input first, its weights in that layout); the decoder
        returns ``(B, prod(input_shape))``.
    """
    _check_image_shape(input_shape, "conv-mlp")
    encoder = conv_encoder(input_shape, channels=channels, width=width)
    encoder = nn.Sequential(_ChannelsLast(), *encoder).to(memory_format=torch.channels_last)
    _, decoder = mlp_backbone(input_shape, latent_dim, n_classes, hidden_sizes)
    return encoder, decoder


class _PreActBlock(nn.Module):
    """Pre-activation residual block: BN-ReLU-conv3x3-BN-ReLU-conv3x3 plus a shortcut."""

    def __init__(self, n_in, n_out, stride):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(n_in)
        self.conv1 = nn.Conv2d(n_in, n_out, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(n_out)
        self.conv2 = nn.Conv2d(n_out, n_out, 3, padding=1, bias=False)
        self.act = nn.LeakyReLU(0.1)
        self.shortcut = None if n_in == n_out and stride == 1 else \
            nn.Conv2d(n_in, n_out, 1, stride=stride, bias=False)

    def forward(self, x):
        h = self.act(self.bn1(x))
        # A projection shortcut reads the activated input, as in the original WRN.
        skip = x if self.shortcut is None else self.shortcut(h)
        h = self.conv2(self.act(self.bn2(self.conv1(h))))
        return h + skip


def _wide_resnet(in_channels, depth=28, widen=2):
    n_blocks = (depth - 4) // 6
    widths = [16, 16 * widen, 32 * widen, 64 * widen]
    layers = [nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False)]
    for group, stride in zip(range(3), (1, 2, 2)):
        for block in range(n_blocks):
            n_in = widths[group] if block == 0 else widths[group + 1]
            layers.append(_PreActBlock(n_in, widths[group + 1], stride if block == 0 else 1))
    layers += [nn.BatchNorm2d(widths[-1]), nn.LeakyReLU(0.1), nn.AdaptiveAvgPool2d(1),
               nn.Flatten()]
    return nn.Sequential(*layers)


def wide_resnet_backbone(input_shape, latent_dim, n_classes, depth=28, widen=2):
    """WideResNet encoder and transposed-convolution decoder (``"wrn-28-2"``)."""
    _check_image_shape(input_shape, f"wrn-{depth}-{widen}")
    channels, height, width_px = input_shape
    top = 64 * widen
    grid = (top, height // 4, width_px // 4)
    encoder = _wide_resnet(channels, depth, widen)
    decoder = nn.Sequential(
        nn.Linear(latent_dim + n_classes, math.prod(grid)), nn.Unflatten(1, grid),
        nn.BatchNorm2d(top), nn.LeakyReLU(0.1),
        nn.ConvTranspose2d(top, top // 2, 4, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(top // 2), nn.LeakyReLU(0.1),
        nn.ConvTranspose2d(top // 2, top // 4, 4, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(top // 4), nn.LeakyReLU(0.1),
        nn.Conv2d(top // 4, channels, 3, padding=1),
    )
    return encoder, decoder


#: The built-in backbones by name.
BACKBONES = {"mlp": mlp_backbone, "conv": conv_backbone, "conv-mlp": conv_mlp_backbone,
             "wrn-28-2": wide_resnet_backbone}


def build_backbone(backbone, input_shape, latent_dim, n_classes, hidden_sizes=(500, 500)):
    """Return ``(encoder, decoder)`` for a backbone name or a user's callable.

    Parameters
    ----------
    backbone : {"mlp", "conv", "conv-mlp", "wrn-28-2"} or callable
        A name of :data:`BACKBONES`, or a callable called as
        ``backbone(input_shape=..., latent_dim=..., n_classes=...)``.
    input_shape : tuple of int
        Shape of one sample, ``(n_features,)`` or ``(C, H, W)``.
    latent_dim, n_classes : int
    hidden_sizes : tuple of int, default=(500, 500)
        Widths of the ``"mlp"`` backbone and of ``"conv-mlp"``'s decoder; the
        other backbones ignore them.
    """
    input_shape = tuple(int(s) for s in input_shape)
    if callable(backbone):
        built = backbone(input_shape=input_shape, latent_dim=latent_dim, n_classes=n_classes)
        if not (isinstance(built, tuple | list) and len(built) == 2
                and all(isinstance(m, nn.Module) for m in built)):
            raise TypeError(f"The backbone callable {backbone!r} must return a pair "
                            f"(encoder, decoder) of torch.nn.Module, got {built!r}.")
        return tuple(built)
    if backbone not in BACKBONES:
        raise ValueError(f"backbone must be one of {sorted(BACKBONES)} or a callable, "
                         f"got {backbone!r}.")
    if backbone in ("mlp", "conv-mlp"):
        return BACKBONES[backbone](input_shape, latent_dim, n_classes, hidden_sizes)
    return BACKBONES[backbone](input_shape, latent_dim, n_classes)
