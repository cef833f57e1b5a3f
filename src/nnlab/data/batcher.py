"""Batches from tensors by indexing with a seeded permutation: no DataLoader, no workers.

The split is moved to the training device and converted to float pixels once; each epoch draws
one permutation from this batcher's own generator, so the order is reproducible and its state
can be checkpointed. Augmentation, when given, runs on each batch as tensor ops.

On CUDA, a split whose float pixels would take more than half of the free GPU memory stays in
(pinned) host memory as uint8 instead, and each batch is converted on its way to the GPU.
"""

from __future__ import annotations

import math
import weakref

import torch

from nnlab.data.dataset import Split, pixels


class TensorBatcher:
    def __init__(self, split: Split, batch_size: int, device: torch.device, shuffle: bool,
                 seed: int = 0, augment=None, resident: bool | None = None):
        device = torch.device(device)
        self.device = device
        self.resident = fits_on_device(split, device) if resident is None else resident
        if self.resident:
            self.x = resident_pixels(split.x, device)
        else:
            self.x = split.x.pin_memory() if device.type == "cuda" else split.x
        self.y = split.y.to(device)
        self.batch_size = int(batch_size)
        # One batch holding the whole split is the same batch in any order (full-batch gradient
        # descent): no permutation to draw, which a thousand XOR models did a million times.
        self.shuffle = shuffle and self.batch_size < len(self.y)
        self.augment = augment if augment is not None and augment.active else None
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return math.ceil(len(self.y) / self.batch_size)

    def epoch_order(self) -> torch.Tensor | None:
        """The next epoch's permutation of the split (None without shuffling): drawn from this
        batcher's generator, so a model trained in a group sees the batches it would alone."""
        return torch.randperm(len(self.y), generator=self.generator) if self.shuffle else None

    def __iter__(self):
        n = len(self.y)
        order = self.epoch_order()
        # One copy of the permutation per device involved, made once per epoch.
        order_x = order.to(self.x.device) if order is not None else None
        order_y = order_x if order is None or self.x.device == self.y.device else order.to(self.y.device)
        for start in range(0, n, self.batch_size):
            if order is None:
                x, y = self.x[start:start + self.batch_size], self.y[start:start + self.batch_size]
            else:
                x = self.x[order_x[start:start + self.batch_size]]
                y = self.y[order_y[start:start + self.batch_size]]
            if not self.resident:
                x = pixels(x.to(self.device, non_blocking=True))
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


# Float pixels on a device, per uint8 tensor: the jobs of a group that share a dataset share one
# copy (16 Fashion-MNIST jobs would otherwise hold 16 copies of 170 MB).
# Keyed by id, as tensors cannot be dictionary keys (== compares elements); an entry goes when its
# tensor does.
_RESIDENT: dict[tuple[int, torch.device], torch.Tensor] = {}


def resident_pixels(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    if x.dtype != torch.uint8:
        return pixels(x.to(device))  # float inputs already are what training sees (no copy on CPU)
    key = (id(x), device)
    if key not in _RESIDENT:
        _RESIDENT[key] = pixels(x.to(device))
        weakref.finalize(x, _RESIDENT.pop, key, None)
    return _RESIDENT[key]


def fits_on_device(split: Split, device: torch.device) -> bool:
    """Whether the split as float pixels takes at most half of the device's free memory."""
    if device.type != "cuda":
        return True
    free, _ = torch.cuda.mem_get_info(device)
    return split.x.numel() * 4 <= free // 2
