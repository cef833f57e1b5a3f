"""Every option of every config group, declared once: its `_target_`'s keys, types and ranges.

A node in a group (`model`, `dataset`, ...) is declared by the `_target_` it instantiates, since
the keys are that callable's arguments; `rules` check keys that only make sense together. The
choices come from the tables the code itself uses (activations, features, losses, ...), so a
new activation is valid here as soon as it exists there.

Ranges are the meaningful ones, not only what the callee tolerates: PyTorch takes momentum 3 or
a decay gamma of 0 silently, and rejects lr < 0 or beta 1.5 with a traceback; both are caught
here. Where a yaml comment states a range (noise in [0, 0.5], dropout in [0, 1)), it is this one.
"""

from __future__ import annotations

from nnlab.data.features import ALIASES, FEATURES
from nnlab.data.toys import GENERATORS
from nnlab.data.vision import SPECS
from nnlab.losses import LOSSES
from nnlab.models.activations import ACTIVATIONS
from nnlab.models.convnets import POOLS
from nnlab.models.deep import INITS
from nnlab.models.playground import ACTIVATIONS as PLAYGROUND_ACTIVATIONS
from nnlab.models.playground import REGULARIZATIONS
from nnlab.probes.directions import DIRECTIONS
from nnlab.schema.types import (
    Bool,
    Choice,
    Float,
    Int,
    ListOf,
    Optional,
    Path,
    PerLayer,
    Section,
    Str,
    Target,
    TrackingUri,
)

# --------------------------------------------------------------------------------- shared kinds

ACTIVATION = Choice(ACTIVATIONS)
DROPOUT = Float(0, 1, max_open=True)
SEED = Int(0, 2**32 - 1)  # what every generator (numpy, torch, Python) accepts
LR = Float(0, min_open=True)
WEIGHT_DECAY = Float(min=0)
DECAY = Float(0, 1, min_open=True)  # lr <- lr * gamma: a decay, and 0 would stop training
PIXEL_EPS = Float(0, 1, fraction=True)  # an Linf budget in pixel units: pixels live in [0, 1]
STEP = Float(0, min_open=True, fraction=True)
STEPS = Int(min=0)
MARGIN = Float(min=0)


# --------------------------------------------------------------------------------- rules


def _one_per_hidden_layer(values: dict, name) -> str | None:
    layers = len(values.get("hidden", []))
    for key in ("dropout", "batchnorm"):
        value = values.get(key)
        if isinstance(value, list) and len(value) != layers:
            return (f"{name(key)}: a list needs one value per hidden layer ({layers} in "
                    f"{name('hidden')}), got {len(value)}: {value}")
    return None


def _nesterov_needs_momentum(values: dict, name) -> str | None:
    if values.get("nesterov") and not values.get("momentum"):
        return f"{name('nesterov')}=true needs {name('momentum')} > 0 (e.g. 0.9)"
    return None


def _linf_budget_in_pixels(values: dict, name) -> str | None:
    eps = values.get("eps")
    if values.get("norm", "linf") == "linf" and eps is not None and eps > 1:
        return (f"{name('eps')}={eps:g} is out of range; it must be in [0, 1] (pixel units) "
                f"for {name('norm')}=linf")
    return None


def _bounded_perturbation(values: dict, name) -> str | None:
    if values.get("eps") is None and not values.get("penalty"):
        return (f"{name('eps')}=null and {name('penalty')}=0 leave the perturbation unbounded; "
                f"give an Linf bound ({name('eps')}=0.3) or a size penalty ({name('penalty')}=1)")
    return None


# --------------------------------------------------------------------------------- groups

MODELS = {
    "nnlab.models.MLP": Target({
        "hidden": ListOf(Int(min=1), example="[16,16]"),
        "activation": ACTIVATION,
        "dropout": PerLayer(DROPOUT),
        "batchnorm": PerLayer(Bool()),
    }, rules=(_one_per_hidden_layer,)),
    "nnlab.models.DeepStack": Target({
        "depth": Int(min=1),
        "width": Int(min=1),
        "activation": ACTIVATION,
        "init": Choice(INITS),
    }),
    "nnlab.models.LeNet": Target({
        "activation": ACTIVATION,
        "pooling": Choice(POOLS),
        "padding": Int(min=0),
    }),
    "nnlab.models.ConvNet": Target({
        "channels": ListOf(Int(min=1), min_len=1, example="[32,64,128]"),
        "convs_per_block": Int(min=1),
        "hidden": Int(min=1),
        "dropout": DROPOUT,
        "batchnorm": Bool(),
        "activation": ACTIVATION,
    }),
    "nnlab.models.PlaygroundNet": Target({
        "hidden": ListOf(Int(min=1), example="[4,2]"),
        "activation": Choice(PLAYGROUND_ACTIVATIONS),
    }),
}

DATASETS = {
    "nnlab.data.toys.make_toy": Target({
        "name": Choice(GENERATORS),
        "n_samples": Int(min=4),
        "noise": Float(0.0, 0.5),  # the playground's slider / 100
        "train_fraction": Float(0, 1, min_open=True, max_open=True),
        "val_fraction": Float(0, 1, max_open=True),
        "features": ListOf(Choice(FEATURES, aliases=ALIASES), min_len=1, unique=True,
                           example="[x1,x2]"),
        "seed": SEED,
    }),
    "nnlab.data.toys.make_xor": Target({}),
    "nnlab.data.vision.make_vision": Target({
        "name": Choice(SPECS),
        "root": Optional(Path("a folder")),  # null: $NNLAB_DATA, else ~/.cache/nnlab/data
        "download": Bool(),
        "source": Optional(Path("a folder")),
        "val_size": Optional(Int(min=0)),  # null: 1/10 of the training split, at most 5000
        "train_size": Optional(Int(min=1)),
        "test_size": Optional(Int(min=1)),
        "augment": Section({"translate": Int(min=0), "hflip": Bool()}),
        "seed": SEED,
    }),
}

OPTIMIZERS = {
    "torch.optim.Adam": Target({
        "lr": LR,
        "betas": ListOf(Float(0, 1, max_open=True), length=2, example="[0.9,0.999]"),
        "eps": Float(0, min_open=True),
        "weight_decay": WEIGHT_DECAY,
    }),
    "torch.optim.SGD": Target({
        "lr": LR,
        "momentum": Float(0, 1, max_open=True),
        "nesterov": Bool(),
        "weight_decay": WEIGHT_DECAY,
    }, rules=(_nesterov_needs_momentum,)),
    "torch.optim.Adadelta": Target({
        "lr": LR,
        "rho": Float(0, 1),
        "eps": Float(0, min_open=True),
        "weight_decay": WEIGHT_DECAY,
    }),
    "nnlab.models.playground.PlaygroundSGD": Target({
        "lr": LR,
        "regularization": Choice(REGULARIZATIONS),
        "regularization_rate": Float(min=0),
    }),
    "torch.optim.RMSprop": Target({
        "lr": LR,
        "alpha": Float(0, 1),
        "eps": Float(0, min_open=True),
        "momentum": Float(0, 1, max_open=True),
        "weight_decay": WEIGHT_DECAY,
    }),
}

SCHEDULERS = {
    "torch.optim.lr_scheduler.StepLR": Target({"step_size": Int(min=1), "gamma": DECAY}),
    "torch.optim.lr_scheduler.ExponentialLR": Target({"gamma": DECAY}),
    "torch.optim.lr_scheduler.CosineAnnealingLR": Target({"T_max": Int(min=1), "eta_min": Float(min=0)}),
}

PROBES = {
    "nnlab.probes.boundary.BoundarySnapshots": Target({"snapshots": Int(min=1),
                                                       "resolution": Int(min=2)}),
    "nnlab.probes.confusion.ConfusionMatrix": Target({}),
    "nnlab.probes.first_layer.FirstLayerWeights": Target({"max_units": Int(min=1)}),
    "nnlab.probes.grad_flow.GradFlow": Target({
        "samples": Int(min=1),
        "every": Int(min=1),
        "loss": Choice(LOSSES),
        "seed": SEED,
    }),
    "nnlab.probes.misclassified.MisclassifiedExamples": Target({"count": Int(min=1)}),
    "nnlab.probes.shift.ShiftInvariance": Target({
        "max_shift": Int(min=0),  # smaller than the image: checked when the images are known
        "directions": ListOf(Choice(DIRECTIONS), min_len=1, unique=True, example="[right,down]"),
    }),
}

LOGGERS = {
    "nnlab.train.trackers.TensorBoardLogger": Target({}),
    "nnlab.train.mlflow_logger.MLflowLogger": Target({
        "tracking_uri": Optional(TrackingUri()),
        "experiment": Str("an MLflow experiment name"),
        "log_checkpoints": Bool(),
        "log_every": Int(min=1),
    }),
}

# The attack classes check their arguments against these declarations too (one source), so
# `PGD(eps=-1)` from Python is refused with the same line as `attack.eps=-1` on the command line.
ATTACKS = {
    "nnlab.attacks.FGSM": Target({"eps": PIXEL_EPS, "targeted": Bool()}),
    "nnlab.attacks.IFGSM": Target({"eps": Optional(PIXEL_EPS), "alpha": STEP, "steps": STEPS}),
    "nnlab.attacks.TargetedSign": Target({"alpha": STEP, "steps": STEPS,
                                          "eps": Optional(PIXEL_EPS)}),
    "nnlab.attacks.PGD": Target({
        "eps": Float(min=0, fraction=True),  # L2 radii may exceed 1; Linf ones may not (rule)
        "alpha": STEP,
        "steps": STEPS,
        "norm": Choice(["linf", "l2"]),
        "random_start": Bool(),
        "restarts": Int(min=1),
        "targeted": Bool(),
        "seed": SEED,
    }, rules=(_linf_budget_in_pixels,)),
    "nnlab.attacks.CarliniWagnerL2": Target({
        "c": Float(0, min_open=True),
        "kappa": MARGIN,
        "steps": STEPS,
        "lr": LR,
        "binary_search_steps": Int(min=1),
        "targeted": Bool(),
    }),
    "nnlab.attacks.DeepFool": Target({"steps": STEPS, "overshoot": Float(min=0)}),
    "nnlab.attacks.GeneratorAttack": Target({
        "eps": Optional(PIXEL_EPS),
        "penalty": Float(min=0),
        "kappa": MARGIN,
        "width": Int(min=1),
        "epochs": Int(min=0),
        "batch_size": Int(min=1),
        "lr": LR,
        "train_n": Optional(Int(min=1)),
        "targeted": Bool(),
        "seed": SEED,
    }, rules=(_bounded_perturbation,)),
}

# config group -> the options' declarations, by _target_
GROUPS: dict[str, dict[str, Target]] = {
    "model": MODELS,
    "dataset": DATASETS,
    "optimizer": OPTIMIZERS,
    "scheduler": SCHEDULERS,
    "probe": PROBES,
    "logger": LOGGERS,
    "attack": ATTACKS,
}
