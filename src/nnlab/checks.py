"""Checks on the top-level training keys, before anything is built or written.

Groups validate their own options where they are built (datasets, models, probes); this module
covers the keys that plain PyTorch would accept silently or reject with a traceback.
"""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from nnlab.errors import UserError
from nnlab.losses import LOSSES


def _number(cfg, key: str, *, integer=False, minimum=None, strict=False, optional=False):
    value = OmegaConf.select(cfg, key)
    if value is None and optional:
        return
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok:
        kind = "an integer" if integer else "a number"
        raise UserError(f"{key}: expected {kind}, got {value!r}")
    if minimum is not None and (value <= minimum if strict else value < minimum):
        bound = f"> {minimum}" if strict else f">= {minimum}"
        raise UserError(f"{key}={value} is out of range; it must be {bound}")


def _choice(cfg, key: str, valid) -> None:
    value = cfg.get(key)
    if value not in valid:
        raise UserError(f"{key}: unknown value {value!r}; valid: {', '.join(map(str, valid))}")


def check_train_config(cfg: DictConfig) -> None:
    _number(cfg, "epochs", integer=True, minimum=1)
    _number(cfg, "batch_size", integer=True, minimum=1)
    _number(cfg, "seed", integer=True)
    _number(cfg, "l1", minimum=0)
    _number(cfg, "cpu_threads", integer=True, minimum=1, optional=True)
    _choice(cfg, "loss", list(LOSSES))
    _choice(cfg, "progress", ["auto", True, False])
    for key in ("deterministic", "checkpoint", "plots", "skip_completed"):
        _choice(cfg, key, [True, False])
    _number(cfg, "early_stopping.patience", integer=True, minimum=1, optional=True)
    _number(cfg, "early_stopping.min_delta", minimum=0)
    _number(cfg, "optimizer.lr", strict=True, minimum=0)
    for key in ("weight_decay", "momentum"):
        if key in cfg.optimizer:
            _number(cfg, f"optimizer.{key}", minimum=0)
    if cfg.optimizer.get("nesterov") and not cfg.optimizer.get("momentum"):
        raise UserError("optimizer.nesterov=true needs optimizer.momentum > 0 (e.g. 0.9)")
