"""Random translation of image batches."""

import numpy as np
import pytest
import torch

from skshot.augmentation import random_translate


def _reference(img, dy, dx, shift):
    """One image translated by numpy's reflect padding and a crop at (shift + dy, shift + dx)."""
    padded = np.pad(img, ((0, 0), (shift, shift), (shift, shift)), mode="reflect")
    _, h, w = img.shape
    return padded[:, shift + dy:shift + dy + h, shift + dx:shift + dx + w]


def test_each_image_is_a_reflect_padded_crop():
    torch.manual_seed(0)
    shape, shift = (2, 6, 5), 2
    x = torch.rand(40, int(np.prod(shape)))
    out = random_translate(x, shape, shift).numpy()
    offsets = set()
    for img, moved in zip(x.numpy().reshape(-1, *shape), out.reshape(-1, *shape)):
        matches = [(dy, dx) for dy in range(-shift, shift + 1) for dx in range(-shift, shift + 1)
                   if np.array_equal(_reference(img, dy, dx, shift), moved)]
        assert matches, "an output is not a translated copy of its input"
        offsets.add(matches[0])
    assert len(offsets) > 5  # offsets differ between images


def test_offsets_cover_the_range_and_are_seeded():
    shape = (1, 8, 8)
    # A single bright pixel in the middle shows the offset of each image.
    x = torch.zeros(2000, 64)
    x[:, 3 * 8 + 4] = 1.0
    torch.manual_seed(1)
    out = random_translate(x, shape, 2)
    rows, cols = np.divmod(out.argmax(dim=1).numpy(), 8)
    assert set(rows - 3) == set(range(-2, 3)) and set(cols - 4) == set(range(-2, 3))
    counts = np.bincount((rows - 1) * 5 + (cols - 2), minlength=25)
    assert counts.min() > 40  # about 80 each: uniform over the 25 offsets
    torch.manual_seed(1)
    torch.testing.assert_close(random_translate(x, shape, 2), out)


def test_zero_shift_and_empty_batch_are_identity():
    x = torch.rand(3, 16)
    assert random_translate(x, (1, 4, 4), 0) is x
    assert random_translate(x[:0], (1, 4, 4), 1).shape == (0, 16)


@pytest.mark.parametrize(("shape", "shift", "match"), [
    ((16,), 1, "needs images"), ((1, 4, 4), 4, "max_shift"), ((1, 4, 4), -1, "max_shift")])
def test_bad_arguments(shape, shift, match):
    with pytest.raises(ValueError, match=match):
        random_translate(torch.rand(2, 16), shape, shift)


def test_gradient_flows_and_dtype_kept():
    x = torch.rand(4, 2 * 4 * 4, dtype=torch.float64, requires_grad=True)
    out = random_translate(x, (2, 4, 4), 1)
    assert out.dtype == torch.float64
    out.sum().backward()
    assert x.grad is not None
