"""Batched augmentation on tensors (no per-sample PIL work in the training loop).

`translate=k` shifts each image by up to k pixels in x and y, filling with zeros: the same thing
as a random crop after k pixels of zero padding, the usual CIFAR-10 augmentation, and close to
the width/height shifts of seeds/001. `hflip` mirrors half of the images.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


class Augment:
    def __init__(self, translate: int = 0, hflip: bool = False, seed: int = 0):
        # translate >= 0 and hflip a boolean: declared in nnlab.schema, checked before this is built
        self.translate, self.hflip = translate, hflip
        self.generator = torch.Generator().manual_seed(seed)

    @property
    def active(self) -> bool:
        return self.translate > 0 or self.hflip

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) float images -> augmented copy (the input is not modified)."""
        n = len(x)
        if self.translate:
            k = self.translate
            dx = torch.randint(-k, k + 1, (n,), generator=self.generator).to(x.device)
            dy = torch.randint(-k, k + 1, (n,), generator=self.generator).to(x.device)
            x = shift_images(x, dx, dy, pad=k)
        if self.hflip:
            flip = (torch.rand(n, generator=self.generator) < 0.5).to(x.device)
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        return x


def shift_images(x: torch.Tensor, dx: torch.Tensor, dy: torch.Tensor, pad: int) -> torch.Tensor:
    """Shift image i right by dx[i] and down by dy[i] pixels (|shift| <= pad), zero fill."""
    n, _, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    rows = torch.arange(h, device=x.device) + pad - dy[:, None]  # (n, h)
    cols = torch.arange(w, device=x.device) + pad - dx[:, None]  # (n, w)
    batch = torch.arange(n, device=x.device)[:, None, None]
    out = padded[batch, :, rows[:, :, None], cols[:, None, :]]  # (n, h, w, c)
    return out.permute(0, 3, 1, 2).contiguous()
