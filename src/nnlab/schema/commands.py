"""The top-level keys of each command's primary config (configs/train.yaml, configs/attack.yaml),
declared once, with the config groups they hold."""

from __future__ import annotations

from nnlab.losses import LOSSES
from nnlab.schema.options import SEED
from nnlab.schema.types import (
    Bool,
    Choice,
    Device,
    Float,
    Group,
    GroupList,
    Int,
    ListOf,
    OneOf,
    Optional,
    OptionalSection,
    Path,
    Section,
    Str,
)

# Columns of metrics.csv that early stopping can watch; which of them a run records depends on
# its dataset (a validation split or not), checked once the data is built.
MONITORED = ["auto"] + [f"{split}_{metric}" for split in ("val", "train", "test")
                        for metric in ("loss", "acc")]

TRAIN = Section({
    "epochs": Int(min=1),
    "batch_size": Int(min=1),
    "loss": Choice(LOSSES),
    "l1": Float(min=0),
    "train_metrics": Choice(["during_epoch", "after_epoch"]),
    "early_stopping": Section({
        "patience": Optional(Int(min=1)),
        "monitor": Choice(MONITORED),
        "min_delta": Float(min=0),
    }),
    "device": Device(),
    "seed": SEED,
    "deterministic": Bool(),
    "cpu_threads": Optional(Int(min=1)),
    "progress": Choice(["auto", True, False]),
    "checkpoint": Bool(),
    "resume": Optional(Path("a run folder")),
    "skip_completed": Bool(),
    "objective": Optional(Str("a summary value such as final.val_acc")),
    "plots": Bool(),
    # A node of its own, beside the `plots` switch: `plots=false` has to stay a bool, and a
    # `plots` node that `plots=false` replaces would refuse `plots=true plots.format=pdf`.
    "figures": Section({
        "format": Choice(["png", "pdf", "svg"]),  # any of matplotlib's formats would do
        "dpi": Optional(Int(10, 1200)),  # 1200: print's finest; a 10x4 inch figure is 48 Mpx then
    }),
    "model": Group("model"),
    "optimizer": Group("optimizer"),
    "scheduler": Group("scheduler", optional=True),
    "dataset": Group("dataset"),
    "probe": GroupList("probe"),
    "logger": Group("logger", optional=True),
    "adversarial": OptionalSection({
        "attack": Group("attack"),
        "mix": Float(0, 1, min_open=True),  # share of the loss from adversarial examples
    }),
})

ATTACK = Section({
    "run": Path("a training run folder"),
    "checkpoint": Choice(["best", "last"]),
    "split": Choice(["test", "val", "train"]),
    "n": Optional(Int(min=1)),
    "indices": Optional(ListOf(Int(min=0), min_len=1, example="[614,1186]")),
    "classes": Optional(ListOf(Int(min=0), min_len=1, example="[0,1,2]")),
    "per_class": Optional(Int(min=1)),
    "target": Optional(OneOf(Choice(["random", "least_likely", "all"]), Int(min=0))),
    "transfer": ListOf(Path("a training run folder"), example="[RUN_DIR]"),
    "batch_size": Int(min=1),
    "device": Device(),
    "seed": SEED,
    "gallery": Int(min=1),
    "track": Bool(),
    "dataset": Section({"root": Optional(Path("a folder"))}),  # where the run's files are now
    "attack": Group("attack", lists=("eps",)),
})

COMMANDS = {"train": TRAIN, "attack": ATTACK}
