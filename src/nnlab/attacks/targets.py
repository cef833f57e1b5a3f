"""Target labels for targeted attacks."""

from __future__ import annotations

import torch
from torch import nn

from nnlab.attacks.base import check_label_range, check_pixels, eval_mode
from nnlab.errors import UserError
from nnlab.schema import check_value
from nnlab.schema.types import Int


def least_likely_targets(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The class with the lowest logit for each sample (Kurakin et al.'s "least likely" target),
    computed in eval mode (the model's modes are restored). LongTensor (N,) on x's device."""
    x = check_pixels(x)
    with eval_mode(model), torch.no_grad():
        return model(x).argmin(dim=1)


def random_other_targets(y: torch.Tensor, num_classes: int,
                         generator: torch.Generator | None = None) -> torch.Tensor:
    """A class drawn uniformly from the num_classes - 1 classes other than y, per sample.
    Deterministic given `generator` (drawn on the generator's device, returned on y's device)."""
    num_classes = check_value("num_classes", Int(min=2), num_classes)
    if not isinstance(y, torch.Tensor) or y.dim() != 1 or y.is_floating_point() or y.dtype == torch.bool:
        raise UserError(f"attack labels (y): expected integer class labels of shape (N,), got {y!r}")
    y = y.long()
    check_label_range("attack labels (y)", y, num_classes)
    device = generator.device if generator is not None else torch.device("cpu")
    shift = torch.randint(1, num_classes, (y.shape[0],), generator=generator, device=device)
    return (y + shift.to(y.device)) % num_classes
