"""Tests of skshot.topk against torch.topk."""

import math

import pytest
import torch

from skshot.topk import row_topk


def _same_entries(scores, values, indices, k):
    """The values are the k largest of each row, largest first, at the returned columns."""
    expected = scores.topk(k, dim=1).values
    torch.testing.assert_close(values, expected, rtol=0, atol=0)
    torch.testing.assert_close(scores.gather(1, indices), values, rtol=0, atol=0)
    assert all(len(set(row.tolist())) == k for row in indices)  # no column twice


@pytest.mark.parametrize("m", [700, 1024, 1031])  # groups of 4: whole, and a shorter last one
@pytest.mark.parametrize("k", [1, 3, 10])
def test_row_topk_finds_torch_topks_entries(m, k):
    scores = torch.randn(50, m, generator=torch.Generator().manual_seed(m + k))
    values, indices = row_topk(scores, k, group=4)
    _same_entries(scores, values, indices, k)


def test_row_topk_when_the_largest_entries_share_a_group_or_lie_past_the_last():
    scores = torch.zeros(3, 403)  # 100 groups of 4 and three columns after them
    scores[:, 40:44] = torch.tensor([5.0, 4.0, 3.0, 2.0])  # one group holds all
    scores[1, 399] = 6.0  # the last group
    scores[2, 402] = 7.0  # past the last group
    values, indices = row_topk(scores, 4, group=4)
    _same_entries(scores, values, indices, 4)
    assert indices.tolist() == [[40, 41, 42, 43], [399, 40, 41, 42], [402, 40, 41, 42]]


def test_row_topk_with_minus_infinity_and_ties():
    gen = torch.Generator().manual_seed(0)
    scores = torch.randint(0, 3, (20, 997), generator=gen).float()  # many equal entries
    scores[:, ::2] = -math.inf
    scores[5, 1:] = -math.inf  # a row with one finite entry: the rest ties at -inf
    values, indices = row_topk(scores, 5, group=8)
    _same_entries(scores, values, indices, 5)
    assert indices.max() < 997


def test_row_topk_of_short_rows_is_torch_topk():
    scores = torch.randn(4, 64 * 8, generator=torch.Generator().manual_seed(1))
    for got, expected in zip(row_topk(scores, 3, group=8), scores.topk(3, dim=1)):
        torch.testing.assert_close(got, expected, rtol=0, atol=0)


def test_row_topk_refuses_k_outside_the_row():
    with pytest.raises(ValueError, match="k must lie in"):
        row_topk(torch.zeros(2, 5), 6)
