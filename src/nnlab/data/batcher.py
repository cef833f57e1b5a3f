"""Batches from tensors by indexing with a seeded permutation: no DataLoader, no workers.

The split lives on the training device; each epoch draws one permutation from this batcher's own
generator, so the order is reproducible and its state can be checkpointed.
"""

from __future__ import annotations

import math

import torch

from nnlab.data.dataset import Split


class TensorBatcher:
    def __init__(self, split: Split, batch_size: int, device: torch.device, shuffle: bool,
                 seed: int = 0):
        self.x = split.x.to(device)
        self.y = split.y.to(device)
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return math.ceil(len(self.y) / self.batch_size)

    def __iter__(self):
        n = len(self.y)
        if self.shuffle:
            order = torch.randperm(n, generator=self.generator).to(self.x.device)
        else:
            order = None
        for start in range(0, n, self.batch_size):
            if order is None:
                yield self.x[start:start + self.batch_size], self.y[start:start + self.batch_size]
            else:
                idx = order[start:start + self.batch_size]
                yield self.x[idx], self.y[idx]
