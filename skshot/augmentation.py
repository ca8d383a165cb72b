"""Random transformations of image inputs applied on the device during training.

The SHOT-VAE authors train every image data set on randomly translated
copies of the training images: each image is padded by reflection and
cropped back to its size at a random offset. :func:`random_translate` does
this for a whole batch at once, on whatever device the batch is on, with
one offset per image and no loop over the images.
"""

import torch
import torch.nn.functional as F

__all__ = ["random_translate"]


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
    if len(input_shape) != 3:
        raise ValueError(f"random_translate needs images, input_shape (C, H, W), got "
                         f"{tuple(input_shape)!r}")
    channels, height, width = (int(s) for s in input_shape)
    if max_shift == 0 or x.shape[0] == 0:
        return x
    if not 0 < max_shift < min(height, width):
        raise ValueError(f"max_shift must lie in [0, {min(height, width)}) for images of "
                         f"{height}x{width} pixels, got {max_shift}")
    n = x.shape[0]
    padded = F.pad(x.reshape(n, channels, height, width), (max_shift,) * 4, mode="reflect")
    offsets = torch.randint(0, 2 * max_shift + 1, (n, 2), device=x.device)
    rows = offsets[:, :1] + torch.arange(height, device=x.device)  # (B, H)
    cols = offsets[:, 1:] + torch.arange(width, device=x.device)  # (B, W)
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    channel = torch.arange(channels, device=x.device)[None, :, None, None]
    shifted = padded[batch, channel, rows[:, None, :, None], cols[:, None, None, :]]
    return shifted.reshape(n, -1)
