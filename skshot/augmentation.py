"""Random transformations of image inputs applied on the device during training.

The SHOT-VAE authors train every image data set on randomly translated
copies of the training images: each image is padded by reflection and
cropped back to its size at a random offset. :func:`random_translate` does
this for a whole batch at once, on whatever device the batch is on, with
one offset per image and no loop over the images.

At prediction, :func:`mean_over_translations` averages a function of the
images (the class distributions, say) over their copies translated by every
offset up to a shift, each made by :func:`translate` as in training.
"""

import itertools
import math

import torch
import torch.nn.functional as F

__all__ = ["mean_over_translations", "random_translate", "translate", "translation_offsets"]


def _image_sides(input_shape, name):
    if len(input_shape) != 3:
        raise ValueError(f"{name} needs images, input_shape (C, H, W), got "
                         f"{tuple(input_shape)!r}")
    return tuple(int(s) for s in input_shape)


def _check_shift(shift, height, width):
    if not 0 <= shift < min(height, width):
        raise ValueError(f"max_shift must lie in [0, {min(height, width)}) for images of "
                         f"{height}x{width} pixels, got {shift}")


def random_translate(x, input_shape, max_shift):
    """Translate every image of a batch by its own random offset (pad and crop).

    Each image is reflect-padded by ``max_shift`` pixels on every side and
    cropped back to ``(H, W)`` at an offset drawn uniformly from
    ``{-max_shift, ..., max_shift}`` in each direction, independently per
    image. Offsets come from PyTorch's global generator.

    Parameters
    ----------
    x : torch.Tensor of shape (B, C * H * W)
        Flat images, as the SHOT-VAE module takes them.
    input_shape : tuple of int
        ``(C, H, W)``.
    max_shift : int
        Largest translation in pixels; smaller than ``H`` and ``W``. 0
        returns ``x`` unchanged.

    Returns
    -------
    x_shifted : torch.Tensor of shape (B, C * H * W)
    """
    channels, height, width = _image_sides(input_shape, "random_translate")
    _check_shift(max_shift, height, width)
    if max_shift == 0 or x.shape[0] == 0:
        return x
    n = x.shape[0]
    padded = F.pad(x.reshape(n, channels, height, width), (max_shift,) * 4, mode="reflect")
    offsets = torch.randint(0, 2 * max_shift + 1, (n, 2), device=x.device)
    rows = offsets[:, :1] + torch.arange(height, device=x.device)  # (B, H)
    cols = offsets[:, 1:] + torch.arange(width, device=x.device)  # (B, W)
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    channel = torch.arange(channels, device=x.device)[None, :, None, None]
    shifted = padded[batch, channel, rows[:, None, :, None], cols[:, None, None, :]]
    return shifted.reshape(n, -1)


def translate(x, input_shape, dy, dx):
    """Translate every image of a batch by the same offset (pad and crop).

    The copy that :func:`random_translate` makes of an image when it draws
    the offset ``(dy, dx)``: the image reflect-padded and cropped back to
    ``(H, W)`` with its top left corner at row ``dy`` and column ``dx`` of
    the image, so pixel ``(i, j)`` of the copy is pixel ``(i + dy, j + dx)``
    of the image, reflected at its borders.

    Parameters
    ----------
    x : torch.Tensor of shape (B, C * H * W)
        Flat images.
    input_shape : tuple of int
        ``(C, H, W)``.
    dy, dx : int
        The offset in rows and columns; each smaller than ``H`` and ``W`` in
        absolute value.

    Returns
    -------
    x_shifted : torch.Tensor of shape (B, C * H * W)
    """
    channels, height, width = _image_sides(input_shape, "translate")
    pad = max(abs(int(dy)), abs(int(dx)))
    _check_shift(pad, height, width)
    if pad == 0:
        return x
    n = x.shape[0]
    padded = F.pad(x.reshape(n, channels, height, width), (pad,) * 4, mode="reflect")
    return padded[:, :, pad + dy:pad + dy + height, pad + dx:pad + dx + width].reshape(n, -1)


def translation_offsets(max_shift):
    """Every offset ``(dy, dx)`` with both in ``{-max_shift, ..., max_shift}``, row by row."""
    return list(itertools.product(range(-int(max_shift), int(max_shift) + 1), repeat=2))


def mean_over_translations(fn, x, input_shape, max_shift, log=False):
    """The mean of ``fn`` over the copies of ``x`` translated by every offset up to ``max_shift``.

    Parameters
    ----------
    fn : callable
        Maps a batch of flat images to a tensor ``(B, ...)``: class
        probabilities, say.
    x : torch.Tensor of shape (B, C * H * W)
        Flat images.
    input_shape : tuple of int
        ``(C, H, W)``.
    max_shift : int
        The copies are :func:`translate`'s for each offset of
        :func:`translation_offsets`: ``(2 * max_shift + 1) ** 2`` of them,
        ``x`` itself among them. 0 returns ``fn(x)``, whatever ``input_shape``.
    log : bool, default=False
        Whether ``fn`` returns logarithms (of probabilities, say): the
        result is then the logarithm of the mean of their exponentials,
        computed in log space (``logsumexp``), so that a value whose
        exponential rounds to zero stays finite.

    Returns
    -------
    mean : torch.Tensor
        Of the shape and dtype of ``fn``'s output.
    """
    if max_shift == 0:  # any input_shape, rows of features included
        return fn(x)
    offsets = translation_offsets(max_shift)
    outputs = torch.stack([fn(translate(x, input_shape, dy, dx)) for dy, dx in offsets])
    if log:
        return torch.logsumexp(outputs, dim=0) - math.log(len(offsets))
    return outputs.mean(dim=0)
