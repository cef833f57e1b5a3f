"""Instantiate at the edge: a training config becomes plain PyTorch objects here, and nowhere else."""

from __future__ import annotations

import json
from dataclasses import dataclass

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from nnlab.data.augment import Augment
from nnlab.data.batcher import TensorBatcher
from nnlab.errors import UserError
from nnlab.losses import make_loss
from nnlab.models import build_model
from nnlab.objects import make
from nnlab.plots import PNG, Figures
from nnlab.train.engine import Batches, Learner, Monitor
from nnlab.train.steps import TrainStep

EVAL_BATCH_SIZE = 4096  # evaluation has no gradients: bigger batches are just faster


@dataclass
class Parts:
    """Everything a config describes, as plain PyTorch objects."""

    data: object  # nnlab.data.dataset.Dataset
    learner: Learner  # model, optimizer, scheduler
    train_step: TrainStep  # the loss of one batch: L1, adversarial training
    loss_fn: object  # the data loss, for evaluating every split
    batches: Batches
    monitor: Monitor
    probes: dict  # name in the config's probe group -> probe
    figures: Figures = PNG  # how the run's figures are written (figures.format, figures.dpi)

    @property
    def model(self) -> torch.nn.Module:
        return self.learner.model


def build(cfg: DictConfig, device: torch.device, datasets: dict | None = None) -> Parts:
    """`datasets`: a cache shared by the jobs of a group (resolved dataset config -> dataset), so
    jobs that differ in lr but not in seed hold one copy of the data, and their stack reads it
    without copying (train/stack.py); None: a dataset of its own."""
    data = dataset(cfg.dataset, datasets)
    model = build_model(cfg.model, data).to(device)
    optimizer = make(cfg.optimizer)(model.parameters())
    scheduler = make(cfg.scheduler)(optimizer) if cfg.scheduler.get("_target_") else None
    loss_fn = make_loss(cfg.loss)
    monitor = Monitor(metric=monitored_metric(cfg.early_stopping.monitor, data),
                      patience=cfg.early_stopping.patience,
                      min_delta=cfg.early_stopping.min_delta)
    figures = Figures.of(cfg.get("figures"))  # a run from before figures.* has none
    probes = {name: instantiate(node, figures=figures, _convert_="object")  # Figures itself, not a node
              for name, node in (cfg.get("probe") or {}).items()}
    return Parts(data, Learner(model, optimizer, scheduler), train_step(cfg, data, loss_fn, device),
                 loss_fn, batches(cfg, data, device), monitor, probes, figures)


def dataset(node: DictConfig, cache: dict | None = None):
    if cache is None:
        return make(node)
    key = json.dumps(OmegaConf.to_container(node, resolve=True), sort_keys=True, default=str)
    if key not in cache:
        cache[key] = make(node)
    return cache[key]


def train_step(cfg: DictConfig, data, loss_fn, device: torch.device) -> TrainStep:
    """The per-batch loss: the data loss plus L1, on attacked batches with adversarial=..."""
    if not cfg.get("adversarial"):
        return TrainStep(loss_fn, l1=cfg.l1)
    if not data.is_image:
        raise UserError("adversarial training attacks pixels in [0, 1]: it needs an image dataset; "
                        "choose dataset=mnist, fashion_mnist or cifar10, or drop adversarial=")
    adversary = instantiate(cfg.adversarial.attack)
    # The attack's random starts are seeded as the attack says (adversarial.attack.seed, which
    # defaults to the run's seed), from a generator the checkpoint keeps.
    seed = getattr(adversary, "seed", cfg.seed)
    return TrainStep(loss_fn, l1=cfg.l1, adversary=adversary, mix=cfg.adversarial.get("mix", 1.0),
                     seed=seed, device=device)


def batches(cfg: DictConfig, data, device: torch.device) -> Batches:
    """Training batches from a seeded permutation (augmented on the device when the dataset asks);
    every other split in large, unshuffled batches."""
    augment = Augment(**data.augment, seed=cfg.seed + 1) if data.augment else None
    train = TensorBatcher(data.train, cfg.batch_size, device, shuffle=True, seed=cfg.seed,
                          augment=augment)
    # train_metrics=after_epoch evaluates the training split too, and the loop's row then holds
    # that evaluation as train_loss/train_acc instead of the mean over the epoch's steps (what
    # TensorFlow Playground shows: model=playground sets it).
    after_epoch = cfg.get("train_metrics", "during_epoch") == "after_epoch"
    evaluate = {name: TensorBatcher(split, max(cfg.batch_size, EVAL_BATCH_SIZE), device, shuffle=False)
                for name, split in data.splits().items() if name != "train" or after_epoch}
    return Batches(train, evaluate)


def monitored_metric(setting: str, data) -> str:
    """early_stopping.monitor=auto -> val_loss when there is a validation split, else train_loss."""
    available = [f"{s}_{m}" for s in data.splits() for m in ("loss", "acc")]
    if setting == "auto":
        return "val_loss" if data.val is not None else "train_loss"
    if setting not in available:
        raise UserError(f"early_stopping.monitor: {setting!r} is not recorded for this dataset; "
                        f"valid: auto, {', '.join(available)}")
    return setting
