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
maximum is ``v``, enough entries equal to ``v``. The last columns, fewer than
a group, are candidates as they are. Among equal entries, which ones are
returned may differ from :func:`torch.topk`'s choice.
"""

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
        Columns per group. Rows of at most ``max(64, 4 * k) * group`` columns
        go to :func:`torch.topk` directly: over shorter rows the groups saved
        nothing.

    Returns
    -------
    values : torch.Tensor of shape (r, k)
    indices : torch.LongTensor of shape (r, k)
        Sorted by decreasing value, as ``torch.topk(scores, k, dim=1)``.
    """
    m = scores.shape[1]
    if not 1 <= k <= m:
        raise ValueError(f"k must lie in [1, {m}] for rows of {m} entries, got {k}")
    if m <= max(64, 4 * k) * group:
        return scores.topk(k, dim=1)
    body = m // group * group
    maxima = scores[:, :body].unflatten(1, (body // group, group)).amax(dim=2)
    chosen = maxima.topk(k, dim=1).indices  # (r, k)
    columns = (chosen[:, :, None] * group
               + torch.arange(group, device=scores.device)).flatten(1)  # (r, k * group)
    if body < m:  # the last columns, fewer than a group
        tail = torch.arange(body, m, device=scores.device).expand(len(scores), -1)
        columns = torch.cat([columns, tail], dim=1)
    values, position = scores.gather(1, columns).topk(k, dim=1)
    return values, columns.gather(1, position)
