"""Translation of image batches: random in training, every offset at prediction."""

import numpy as np
import pytest
import torch

from skshot.augmentation import (
    mean_over_translations,
    random_translate,
    translate,
    translation_offsets,
)


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


@pytest.mark.parametrize(("dy", "dx"), [(0, 0), (1, 0), (0, -1), (-2, 1), (2, 2)])
def test_translate_is_the_reflect_padded_crop_at_its_offset(dy, dx):
    shape = (2, 6, 5)
    x = torch.rand(3, int(np.prod(shape)))
    out = translate(x, shape, dy, dx).numpy().reshape(-1, *shape)
    for img, moved in zip(x.numpy().reshape(-1, *shape), out):
        np.testing.assert_array_equal(moved, _reference(img, dy, dx, 2))


def test_translate_gives_each_copy_random_translate_can_draw():
    torch.manual_seed(3)
    shape, shift = (1, 7, 6), 2
    x = torch.rand(30, 42)
    drawn = random_translate(x, shape, shift)
    copies = torch.stack([translate(x, shape, dy, dx) for dy, dx in translation_offsets(shift)])
    assert all((copies[:, i] == drawn[i]).all(dim=1).any() for i in range(len(x)))


def test_translation_offsets_are_the_square_grid():
    assert translation_offsets(0) == [(0, 0)]
    offsets = translation_offsets(2)
    assert len(offsets) == len(set(offsets)) == 25
    assert {dy for dy, _ in offsets} == {dx for _, dx in offsets} == set(range(-2, 3))


def test_mean_over_translations_averages_fn_over_every_copy():
    shape = (1, 5, 5)
    x = torch.rand(4, 25, dtype=torch.float64)

    def fn(xb):  # a value per image that moves with the translation
        return xb[:, :3] * 2.0

    expected = np.mean([fn(translate(x, shape, dy, dx)).numpy()
                        for dy in (-1, 0, 1) for dx in (-1, 0, 1)], axis=0)
    np.testing.assert_allclose(mean_over_translations(fn, x, shape, 1).numpy(), expected)
    torch.testing.assert_close(mean_over_translations(fn, x, shape, 0), fn(x))


def test_mean_over_translations_in_log_space_is_the_log_of_the_mean():
    shape = (1, 4, 4)
    x = torch.randn(6, 16, dtype=torch.float64)

    def log_proba(xb):
        return torch.log_softmax(xb[:, :5] * 30.0, dim=1)  # confident: some exp round to 0

    logged = mean_over_translations(log_proba, x, shape, 1, log=True)
    plain = mean_over_translations(lambda xb: log_proba(xb).exp(), x, shape, 1)
    assert torch.isfinite(logged).all()
    torch.testing.assert_close(logged.exp(), plain)


@pytest.mark.parametrize(("shape", "shift", "match"), [
    ((16,), 1, "needs images"), ((1, 4, 4), 4, "max_shift")])
def test_translate_bad_arguments(shape, shift, match):
    with pytest.raises(ValueError, match=match):
        translate(torch.rand(2, 16), shape, shift, 0)
