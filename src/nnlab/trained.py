"""A trained model, read back from its run folder as data (for `nnlab attack`, transfer, ...)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from nnlab.data.dataset import Dataset
from nnlab.errors import UserError
from nnlab.models import build_model
from nnlab.runs import load_checkpoint


@dataclass
class Trained:
    path: Path
    cfg: DictConfig  # the training run's config
    data: Dataset
    model: torch.nn.Module  # in eval mode, on the requested device
    epoch: int


def load_trained(path, checkpoint: str = "best", device="cpu", data: Dataset | None = None) -> Trained:
    """The run's dataset (rebuilt from its config: same splits) and its model with the weights of
    checkpoints/<checkpoint>.pt, loaded with weights_only=True. Pass `data` to reuse a dataset."""
    path = Path(str(path))
    config = path / ".hydra" / "config.yaml"
    if not config.is_file():
        raise UserError(f"{path} is not a training run folder (no .hydra/config.yaml); "
                        "point run= at a folder written by `nnlab train`")
    if checkpoint not in ("best", "last"):
        raise UserError(f"checkpoint: unknown value {checkpoint!r}; valid: best, last")
    ckpt = path / "checkpoints" / f"{checkpoint}.pt"
    if not ckpt.is_file():
        raise UserError(f"{path} has no checkpoints/{checkpoint}.pt (trained with checkpoint=false, "
                        "or stopped before its first epoch)")
    cfg = OmegaConf.load(config)
    if data is None:
        data = instantiate(cfg.dataset)
    model = build_model(cfg.model, data)
    try:
        state = load_checkpoint(ckpt)
        model.load_state_dict(state["model"])
    except Exception as ex:
        raise UserError(f"cannot load {ckpt} into the run's model ({type(ex).__name__}: "
                        f"{' '.join(str(ex).split())[:200]})") from None
    return Trained(path, cfg, data, model.to(device).eval(), int(state.get("epoch", 0)))
