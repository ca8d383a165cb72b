"""Tests of skshot._data: the batches of one epoch.

The feature columns hold each sample's index, so the values of a batch reveal
which samples it holds.
"""

import math

import numpy as np
import pytest
import torch

from skshot._data import SemiSupervisedBatches, SemiSupervisedData


def make_data(n_labeled, n_unlabeled, n_features=2):
    """Labeled row i is (i, 0.5 i, ...), label 3 i + 1; unlabeled row j is (j, ...)."""
    idx_l = torch.arange(n_labeled, dtype=torch.float64)
    x_l = idx_l[:, None] * torch.linspace(1.0, 0.5, n_features, dtype=torch.float64)
    y_l = 3 * torch.arange(n_labeled) + 1
    x_u = torch.arange(n_unlabeled, dtype=torch.float64)[:, None].repeat(1, n_features)
    return SemiSupervisedData(x_l, y_l, x_u)


def epoch(data, bs_l, bs_u, seed=0, generator=None):
    generator = generator if generator is not None else torch.Generator().manual_seed(seed)
    return list(SemiSupervisedBatches(data, bs_l, bs_u, generator))


def unlabeled_indices(batch):
    return batch[1][:, 0].long().tolist()


def labeled_indices(batch):
    return batch[0][0][:, 0].long().tolist()


def test_data_holds_the_tensors_and_its_length_is_the_unlabeled_count():
    data = make_data(3, 11)
    assert len(data) == 11
    assert data.x_labeled.shape == (3, 2) and data.y_labeled.shape == (3,)
    assert data.x_unlabeled.shape == (11, 2)


def test_key_is_the_stream_size_and_its_sums_and_tells_other_data_apart():
    x_u = torch.arange(12, dtype=torch.float64).reshape(6, 2)
    data = SemiSupervisedData(x_u[:2], torch.tensor([1, 0]), x_u, torch.tensor([0, 1]))
    # 6 samples, sum of 0..11 = 66, stream labels (1, 0, -1, -1, -1, -1) + 1 sum to 3
    torch.testing.assert_close(data.key(), torch.tensor([6.0, 66.0, 3.0]))
    same = SemiSupervisedData(x_u[:2], torch.tensor([1, 0]), x_u.clone(), torch.tensor([0, 1]))
    assert torch.equal(same.key(), data.key())
    other_labels = SemiSupervisedData(x_u[:2], torch.tensor([1, 1]), x_u, torch.tensor([0, 1]))
    other_rows = SemiSupervisedData(x_u[:2], torch.tensor([1, 0]), x_u + 1, torch.tensor([0, 1]))
    assert not torch.equal(other_labels.key(), data.key())
    assert not torch.equal(other_rows.key(), data.key())


@pytest.mark.parametrize("n_unlabeled, batch_size", [
    (10, 3), (10, 10), (10, 20), (7, 1), (100, 32), (1, 5), (33, 8), (64, 64), (65, 64),
])
def test_one_epoch_visits_every_unlabeled_sample_once_in_near_equal_batches(
        n_unlabeled, batch_size):
    data = make_data(4, n_unlabeled)
    batches_obj = SemiSupervisedBatches(data, 2, batch_size, torch.Generator().manual_seed(0))
    batches = list(batches_obj)
    n_batches = -(-n_unlabeled // batch_size)  # ceil without floats
    assert len(batches_obj) == n_batches
    assert len(batches) == n_batches
    sizes = [len(b[1]) for b in batches]
    assert sum(sizes) == n_unlabeled
    assert max(sizes) - min(sizes) <= 1
    assert max(sizes) <= batch_size
    assert min(sizes) >= 1
    seen = [i for b in batches for i in unlabeled_indices(b)]
    assert sorted(seen) == list(range(n_unlabeled))
    # the whole row comes along
    for b in batches:
        np.testing.assert_array_equal(b[1][:, 1].numpy(), b[1][:, 0].numpy())


def test_unlabeled_order_is_shuffled():
    data = make_data(2, 50)
    seen = [i for b in epoch(data, 2, 10) for i in unlabeled_indices(b)]
    assert seen != list(range(50))


@pytest.mark.parametrize("n_labeled, bs_l, n_unlabeled, bs_u", [
    (7, 3, 40, 4),    # 10 steps of 3 from passes of 7
    (5, 5, 20, 5),    # a whole pass per step
    (4, 10, 30, 7),   # batch size above the labeled count: all labels every step
    (6, 4, 6, 6),     # a single step
    (3, 2, 50, 3),    # batches straddle the passes
    (6, 2, 30, 3),
])
def test_labeled_stream_is_a_sequence_of_permutations(n_labeled, bs_l, n_unlabeled, bs_u):
    data = make_data(n_labeled, n_unlabeled)
    batches = epoch(data, bs_l, bs_u, seed=1)
    size = min(bs_l, n_labeled)
    assert all(len(b[0][0]) == size and len(b[0][1]) == size for b in batches)
    stream = [i for b in batches for i in labeled_indices(b)]
    assert len(stream) == len(batches) * size
    n_full = len(stream) // n_labeled
    for p in range(n_full):
        assert sorted(stream[p * n_labeled:(p + 1) * n_labeled]) == list(range(n_labeled))
    # the last, partial pass repeats no index
    rest = stream[n_full * n_labeled:]
    assert len(set(rest)) == len(rest)
    if n_labeled % size == 0:
        # batches aligned with the passes repeat no index
        assert all(len(set(labeled_indices(b))) == size for b in batches)


def test_labeled_passes_are_reshuffled():
    data = make_data(6, 60)
    stream = [i for b in epoch(data, 3, 2, seed=2) for i in labeled_indices(b)]
    passes = {tuple(stream[p:p + 6]) for p in range(0, len(stream), 6)}
    assert len(passes) > 1


def test_labels_stay_aligned_with_their_rows():
    data = make_data(9, 40, n_features=3)
    for (x_l, y_l), _, _ in epoch(data, 4, 6, seed=3):
        idx = x_l[:, 0].long()
        np.testing.assert_array_equal(y_l.numpy(), (3 * idx + 1).numpy())
        np.testing.assert_array_equal(x_l[:, 1].numpy(), 0.75 * x_l[:, 0].numpy())
        np.testing.assert_array_equal(x_l[:, 2].numpy(), 0.5 * x_l[:, 0].numpy())
        assert y_l.dtype == torch.int64


def test_ten_labels_among_sixty_thousand_samples():
    data = make_data(10, 60_000, n_features=1)
    batches = epoch(data, 64, 512, seed=4)
    assert len(batches) == math.ceil(60_000 / 512)
    seen = torch.cat([b[1][:, 0] for b in batches]).long()
    assert torch.equal(torch.sort(seen).values, torch.arange(60_000))
    for (x_l, y_l), _, _ in batches:
        # every step sees each of the ten labels once, in a fresh order
        assert sorted(x_l[:, 0].long().tolist()) == list(range(10))
        np.testing.assert_array_equal(y_l.numpy(), 3 * x_l[:, 0].long().numpy() + 1)
    orders = {tuple(labeled_indices(b)) for b in batches}
    assert len(orders) > 1


def test_same_seed_same_batches_different_seed_different_batches():
    data = make_data(5, 37)

    def flat(batches):
        return [(labeled_indices(b), unlabeled_indices(b)) for b in batches]

    a = flat(epoch(data, 3, 8, seed=7))
    b = flat(epoch(data, 3, 8, seed=7))
    c = flat(epoch(data, 3, 8, seed=8))
    assert a == b
    assert [u for _, u in a] != [u for _, u in c]
    assert [ll for ll, _ in a] != [ll for ll, _ in c]


def test_the_generator_carries_on_across_epochs():
    data = make_data(5, 37)
    generator = torch.Generator().manual_seed(9)
    batches = SemiSupervisedBatches(data, 3, 8, generator)
    first = [unlabeled_indices(b) for b in batches]
    second = [unlabeled_indices(b) for b in batches]
    assert first != second
    # and the sequence of epochs is reproducible from the seed
    again = SemiSupervisedBatches(data, 3, 8, torch.Generator().manual_seed(9))
    assert [unlabeled_indices(b) for b in again] == first
    assert [unlabeled_indices(b) for b in again] == second


def test_global_torch_random_state_is_untouched():
    data = make_data(5, 37)
    state = torch.get_rng_state()
    epoch(data, 3, 8, seed=0)
    assert torch.equal(torch.get_rng_state(), state)


def test_batches_keep_the_dtypes_of_the_data():
    data = make_data(4, 10)
    data.x_unlabeled = data.x_unlabeled.float()
    (x_l, y_l), x_u, pseudo_u = epoch(data, 2, 5)[0]
    assert pseudo_u is None
    assert x_u.dtype == torch.float32
    assert x_l.dtype == torch.float64
    assert y_l.dtype == torch.int64


def test_stream_labels_place_the_labels_at_their_rows():
    data = make_data(3, 8)
    assert data.stream_labels().tolist() == [-1] * 8
    data.labeled_positions = torch.tensor([5, 0, 2])
    assert data.stream_labels().tolist() == [4, -1, 7, -1, -1, 1, -1, -1]


def test_batches_carry_the_pseudo_labels_of_their_unlabeled_samples():
    data = make_data(3, 20)
    labels = 100 + torch.arange(20)
    weights = torch.arange(20, dtype=torch.float64) / 10
    data.pseudo_labels = (labels, weights)
    for batch in epoch(data, 2, 6):
        rows = unlabeled_indices(batch)
        batch_labels, batch_weights = batch[2]
        assert batch_labels.tolist() == [100 + r for r in rows]
        np.testing.assert_array_equal(batch_weights.numpy(), np.array(rows) / 10)
