"""The TensorBatcher: every sample once per epoch, seeded shuffles, host-resident splits."""

from __future__ import annotations

import pytest
import torch

from nnlab.data.batcher import TensorBatcher
from nnlab.data.dataset import Split

CPU = torch.device("cpu")

# --- TensorBatcher -----------------------------------------------------------------------------


def _split(n):
    return Split(torch.arange(n, dtype=torch.float32).unsqueeze(1) * 10, torch.arange(n))


def _epoch(batcher):
    return [(x.clone(), y.clone()) for x, y in batcher]


@pytest.mark.parametrize("shuffle", [True, False])
def test_batcher_covers_every_sample_once_and_keeps_the_last_partial_batch(shuffle):
    batcher = TensorBatcher(_split(10), 3, CPU, shuffle=shuffle, seed=0)
    assert len(batcher) == 4
    for _ in range(2):
        batches = _epoch(batcher)
        assert [len(y) for _, y in batches] == [3, 3, 3, 1]
        ys = torch.cat([y for _, y in batches])
        assert sorted(ys.tolist()) == list(range(10))
        for x, y in batches:  # inputs stay with their labels
            assert torch.equal(x[:, 0], y.float() * 10)


def test_batcher_without_shuffle_keeps_the_order():
    ys = torch.cat([y for _, y in TensorBatcher(_split(7), 2, CPU, shuffle=False)])
    assert ys.tolist() == list(range(7))


def test_batcher_shuffles_reproducibly():
    a = TensorBatcher(_split(20), 4, CPU, shuffle=True, seed=5)
    b = TensorBatcher(_split(20), 4, CPU, shuffle=True, seed=5)
    c = TensorBatcher(_split(20), 4, CPU, shuffle=True, seed=6)
    order = [torch.cat([y for _, y in _epoch(t)]).tolist() for t in (a, b, c)]
    assert order[0] == order[1]
    assert order[0] != order[2]
    assert order[0] != list(range(20))
    # the next epoch draws a new order, again the same for the same seed
    again = [torch.cat([y for _, y in _epoch(t)]).tolist() for t in (a, b)]
    assert again[0] == again[1] != order[0]


@pytest.mark.parametrize("batch_size", [10, 11, 1000])
def test_batcher_batch_at_least_n_is_full_batch(batch_size):
    batcher = TensorBatcher(_split(10), batch_size, CPU, shuffle=True)
    batches = _epoch(batcher)
    assert len(batcher) == 1 and len(batches) == 1
    assert sorted(batches[0][1].tolist()) == list(range(10))



def test_non_resident_batcher_gives_the_same_batches():
    """The path for splits too big for GPU memory: uint8 kept on the host, converted per batch."""
    x = torch.randint(0, 256, (50, 1, 4, 4), dtype=torch.uint8)
    split = Split(x, torch.arange(50) % 3)
    kept = TensorBatcher(split, 16, torch.device("cpu"), shuffle=True, seed=4, resident=True)
    streamed = TensorBatcher(split, 16, torch.device("cpu"), shuffle=True, seed=4, resident=False)
    assert streamed.x.dtype == torch.uint8 and kept.x.dtype == torch.float32
    for (xa, ya), (xb, yb) in zip(kept, streamed, strict=True):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
        assert xb.dtype == torch.float32 and xb.max() <= 1


def test_batchers_of_one_uint8_split_share_its_float_pixels():
    from nnlab.data.batcher import _RESIDENT

    split = Split(torch.randint(0, 256, (10, 1, 4, 4), dtype=torch.uint8),
                  torch.zeros(10, dtype=torch.long))
    a = TensorBatcher(split, 4, torch.device("cpu"), shuffle=False)
    b = TensorBatcher(split, 8, torch.device("cpu"), shuffle=True)
    assert a.x is b.x and a.x.dtype == torch.float32
    entries = len(_RESIDENT)
    del a, b, split
    assert len(_RESIDENT) == entries - 1  # released with the split
