"""What `nnlab attack` attacks: which samples of the split (first n, indices, classes, per class)
and, for targeted attacks, which target each sample is sent to (`target=` makes an attack
targeted wherever it has a targeted form; `targeting` decides, before any data is loaded).

The keys' types and ranges are checked with the config (nnlab.schema.commands); what depends on
the run's data (a split it lacks, an index past its end, a class it does not have) is checked here.
"""

from __future__ import annotations

import torch
from omegaconf import ListConfig

from nnlab.attacks import least_likely_targets, random_other_targets
from nnlab.errors import UserError


def select(data, split: str, n, indices, classes=None, per_class=None):
    """The attacked samples: the first n of the split (or exactly `indices`), then only those of
    `classes`, then at most `per_class` of each class. Returns (pixels in [0, 1], labels, indices)."""
    splits = data.splits()
    if split not in splits:
        raise UserError(f"split: unknown value {split!r}; this run has: {', '.join(splits)}")
    chosen = splits[split]
    if indices is not None:
        idx = torch.tensor([int(i) for i in indices], dtype=torch.long)
        if len(idx) == 0 or idx.min() < 0 or idx.max() >= len(chosen):
            raise UserError(f"indices: every index must be in 0..{len(chosen) - 1} for the {split} split")
    else:
        idx = torch.arange(min(n, len(chosen)) if n is not None else len(chosen))
    idx = _filter_classes(idx, chosen.y, classes, per_class, data.num_classes)
    x = chosen.x[idx].float() / 255 if chosen.x.dtype == torch.uint8 else chosen.x[idx]
    return x, chosen.y[idx], idx


def _filter_classes(idx, labels, classes, per_class, num_classes: int):
    if classes is not None:
        wanted = list(classes) if isinstance(classes, (list, tuple, ListConfig)) else [classes]
        if not wanted or any(not 0 <= c < num_classes for c in wanted):
            raise UserError(f"classes: expected a list of class indices in 0..{num_classes - 1}, "
                            f"got {classes!r}")
        idx = idx[torch.isin(labels[idx], torch.tensor(wanted))]
    if per_class is not None:
        seen: dict[int, int] = {}
        keep = []
        for i in idx.tolist():
            label = int(labels[i])
            seen[label] = seen.get(label, 0) + 1
            keep.append(seen[label] <= per_class)
        idx = idx[torch.tensor(keep, dtype=torch.bool)]
    if len(idx) == 0:
        raise UserError(f"no samples left after classes={classes} per_class={per_class}")
    return idx


TARGET_VALUES = "target=random, least_likely, all or a class index"


def targeting(attack_cfg, option: str, target, typed: list[str]) -> dict:
    """The attack's arguments that `target=` implies, checked before any data is loaded: a target
    makes an attack with a targeted form targeted (`attack.targeted=true`); an attack that needs a
    target and has none, or a target for an attack without a targeted form, is a UserError in
    command-line words. `option`: the attack's name on the command line (pgd); `typed`: the
    overrides typed (an explicit `attack.targeted=false` next to a target is refused)."""
    form = targeted_form(attack_cfg)
    if target is not None:
        if form == "never":
            takers = ", ".join(targetable_attacks())
            raise UserError(f"target={target}: attack={option} has no targeted form; choose one that has "
                            f"(attack={takers}) or leave target out")
        if form == "switchable":
            if any(t.replace(" ", "") in ("attack.targeted=false", "attack.targeted=False") for t in typed):
                raise UserError(f"target={target} asks for a targeted attack, but attack.targeted=false "
                                "was typed too; drop one of them")
            return {"targeted": True}
        return {}
    if form == "always" or (form == "switchable" and attack_cfg.get("targeted")):
        untargeted = (" (or attack.targeted=false for an untargeted attack)" if form == "switchable"
                      else "")
        raise UserError(f"attack={option} needs {TARGET_VALUES}: the class each sample is sent "
                        f"to{untargeted}")
    return {}


def targeted_form(attack_cfg) -> str:
    """'always' (a targeted-only attack, targeted_sign), 'switchable' (it takes `targeted`: fgsm,
    pgd, cw, generator) or 'never' (ifgsm, deepfool): from the attack class's `targeted`
    attribute (None: targeted only) and its config's keys."""
    from hydra.utils import get_class

    try:
        always = getattr(get_class(attack_cfg._target_), "targeted", False) is None
    except Exception:  # a _target_ of the user's that does not import: instantiate will say so
        always = False
    return "always" if always else "switchable" if "targeted" in attack_cfg else "never"


def targetable_attacks() -> list[str]:
    """The attack options that take a target (for messages)."""
    from omegaconf import OmegaConf

    from nnlab.schema.keys import option_configs

    return [option for option, node in option_configs("attack").items()
            if targeted_form(OmegaConf.create(node)) != "never"]


def make_targets(mode, model, x, y, indices, num_classes: int, seed: int, device):
    """Targets for a targeted attack (None when untargeted), with the samples attacked, and what
    was set aside: (targets, x, y, indices, set_aside). `all` repeats each sample once for every
    other class. A class index sets aside the samples already of that class (nothing to send them
    toward); `set_aside` says how many and why (for attack.json and the log), None for the other
    modes, which attack every sample."""
    if mode is None:
        return None, x, y, indices, None
    if mode == "all":
        others = torch.tensor([[c for c in range(num_classes) if c != int(label)] for label in y])
        reps = num_classes - 1
        return (others.reshape(-1), x.repeat_interleave(reps, 0), y.repeat_interleave(reps),
                indices.repeat_interleave(reps), None)
    if mode == "random":
        return random_other_targets(y, num_classes, torch.Generator().manual_seed(seed)), x, y, indices, None
    if mode == "least_likely":
        chunks = [least_likely_targets(model, x[i:i + 1000].to(device)).cpu() for i in range(0, len(x), 1000)]
        return torch.cat(chunks), x, y, indices, None
    if isinstance(mode, int) and not isinstance(mode, bool) and 0 <= mode < num_classes:
        keep = y != mode
        set_aside = {"count": int((~keep).sum()), "reason": f"already of target class {mode}"}
        if not keep.any():
            raise UserError(f"target={mode}: every selected sample ({len(y)}) is already of class "
                            f"{mode}; choose another target, or samples of other classes")
        return torch.full((int(keep.sum()),), mode), x[keep], y[keep], indices[keep], set_aside
    raise UserError(f"target: unknown value {mode!r}; valid: null (untargeted), random, least_likely, "
                    f"all, or a class index 0..{num_classes - 1}")
