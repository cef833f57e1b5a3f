"""Module modes shared by training, probes, figures and attacks (below all of them, so none of
them imports another for it)."""

from __future__ import annotations

import contextlib

from torch import nn


@contextlib.contextmanager
def evaluating(model: nn.Module):
    """Eval mode (dropout off, batchnorm frozen) for the block; every submodule gets its own
    previous `training` flag back afterwards, even on an error."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for module, mode in modes:
            module.training = mode
