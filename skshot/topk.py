"""The ``k`` largest entries of each row of a wide matrix, found through the maxima of column groups.

The nearest-neighbour searches of :mod:`skshot.propagation` and
:mod:`skshot.voting` keep the ``k`` largest of ``n`` scores per row, with
``n`` up to the number of training samples and ``k`` about ten. On two AVX2
cores, :func:`torch.topk` over 60 000 rows of 60 000 scores took 4.5 s, almost
as long as the 5.7 s of the matrix product that computed them.
:func:`row_topk` instead reads each row once to take the maximum of every
group of ``group`` consecutive columns, keeps the ``k`` groups with the
largest maxima, and runs :func:`torch.topk` over their ``k * group`` columns
only; the label propagation's graph of 60 000 samples then took about 9 s
instead of 11.5 s.

The result is exact. Let ``v`` be the ``k``-th largest value of a row. A
group whose maximum exceeds ``v`` holds one of the entries above ``v``, and
there are fewer than ``k`` of those, so every such group is chosen; the
chosen groups then hold all entries above ``v`` and, with the groups whose
maximum is ``v``, enough entries equal to ``v``. Among equal entries, which
ones are returned may differ from :func:`torch.topk`'s choice.
"""

import math

import torch

__all__ = ["row_topk"]


def row_topk(scores, k, group=64):
    """Values and column indices of the ``k`` largest entries of each row, largest first.

    Parameters
    ----------
    scores : torch.Tensor of shape (r, m)
        Entries may be ``-inf`` (a sample excluded from its own neighbours,
        say); none may be NaN.
    k : int
        Between 1 and ``m``.
    group : int, default=64
        Columns per group. Rows of at most ``4 * k * group`` columns go to
        :func:`torch.topk` directly.

    Returns
    -------
    values : torch.Tensor of shape (r, k)
    indices : torch.LongTensor of shape (r, k)
        Sorted by decreasing value, as ``torch.topk(scores, k, dim=1)``.
    """
    m = scores.shape[1]
    if not 1 <= k <= m:
        raise ValueError(f"k must lie in [1, {m}] for rows of {m} entries, got {k}")
    if m <= 4 * k * group:
        return scores.topk(k, dim=1)
    n_full = m // group
    maxima = scores[:, :n_full * group].unflatten(1, (n_full, group)).amax(dim=2)
    if m > n_full * group:  # a last, shorter group
        maxima = torch.cat([maxima, scores[:, n_full * group:].amax(dim=1, keepdim=True)],
                           dim=1)
    chosen = maxima.topk(k, dim=1).indices  # (r, k)
    columns = (chosen[:, :, None] * group
               + torch.arange(group, device=scores.device)).flatten(1)  # (r, k * group)
    outside = columns >= m  # past the end of a shorter last group
    candidates = scores.gather(1, columns.clamp(max=m - 1)).masked_fill_(outside, -math.inf)
    values, position = candidates.topk(k, dim=1)
    indices = columns.gather(1, position)
    short = values[:, -1] == -math.inf  # rows with fewer than k entries above -inf
    if short.any():  # where the padding's -inf ties with the row's own: torch.topk decides
        values[short], indices[short] = scores[short].topk(k, dim=1)
    return values, indices
