"""Batches from tensors by indexing with a seeded permutation: no DataLoader, no workers.

The split is moved to the training device and converted to float pixels once; each epoch draws
one permutation from this batcher's own generator, so the order is reproducible and its state
can be checkpointed. Augmentation, when given, runs on each batch as tensor ops.
"""

from __future__ import annotations

import math

import torch

from nnlab.data.dataset import Split, pixels


class TensorBatcher:
    def __init__(self, split: Split, batch_size: int, device: torch.device, shuffle: bool,
                 seed: int = 0, augment=None):
        self.x = pixels(split.x.to(device))
        self.y = split.y.to(device)
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.augment = augment if augment is not None and augment.active else None
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return math.ceil(len(self.y) / self.batch_size)

    def __iter__(self):
        n = len(self.y)
        order = torch.randperm(n, generator=self.generator).to(self.x.device) if self.shuffle else None
        for start in range(0, n, self.batch_size):
            if order is None:
                x, y = self.x[start:start + self.batch_size], self.y[start:start + self.batch_size]
            else:
                idx = order[start:start + self.batch_size]
                x, y = self.x[idx], self.y[idx]
            yield (self.augment(x) if self.augment else x), y

    def state_dict(self) -> dict:
        state = {"order": self.generator.get_state()}
        if self.augment:
            state["augment"] = self.augment.generator.get_state()
        return state

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["order"])
        if self.augment and "augment" in state:
            self.augment.generator.set_state(state["augment"])
