"""`nnlab attack run=RUN_DIR`: adversarial examples for a trained model, and what they do.

Reads the training run's config and checkpoint (as data), rebuilds its dataset (same splits),
attacks a chosen split in pixel space, and writes a new folder: attack.json, robustness.csv/png
(when attack.eps is a list), transfer.csv (with transfer=), gallery.png (targets_grid.png with
target=all) and adversarial.pt. attack.json is written once, last, with the MLflow run it was
logged to (when the trained run was).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, ListConfig, OmegaConf
from torch import nn

from nnlab.attacks.figures import Attacked, gallery, robustness_curve, target_grid
from nnlab.attacks.inputs import make_targets, select, targeting
from nnlab.errors import UserError
from nnlab.models.modes import evaluating
from nnlab.plots import run_title
from nnlab.runs import CSV_FLOAT_FORMAT, environment, load_trained, rounded, write_json
from nnlab.runtime import resolve_device

log = logging.getLogger("nnlab.attack")


def run(cfg: DictConfig) -> dict:
    out = Path(HydraConfig.get().runtime.output_dir)
    if OmegaConf.is_missing(cfg, "run"):
        raise UserError("run=RUN_DIR is required: the folder of the `nnlab train` run to attack")
    hydra = HydraConfig.get()
    option = hydra.runtime.choices.get("attack") or cfg.attack._target_.rsplit(".", 1)[-1]
    # target= makes the attack targeted where it can be; what cannot work is said before any data loads
    attack_cfg = OmegaConf.merge(cfg.attack, targeting(cfg.attack, option, cfg.target,
                                                       list(hydra.overrides.task)))
    device = resolve_device(cfg.device)
    torch.manual_seed(cfg.seed)
    victim = load_trained(cfg.run, cfg.checkpoint, device, data_root=cfg.dataset.root)
    if not victim.data.is_image:
        raise UserError(f"nnlab attack works on image datasets (pixels in [0, 1]); {cfg.run} was "
                        f"trained on {victim.data.name}")
    x, y, indices = select(victim.data, cfg.split, cfg.n, cfg.indices, cfg.get("classes"),
                           cfg.get("per_class"))
    targets, x, y, indices, set_aside = make_targets(cfg.target, victim.model, x, y, indices,
                                                     victim.data.num_classes, cfg.seed, device)
    if set_aside is not None and set_aside["count"]:
        log.info("set aside %d of the %d selected samples: %s (nothing to send toward it)",
                 set_aside["count"], set_aside["count"] + len(y), set_aside["reason"])
    others = load_transfer(cfg.transfer, victim, x, y, cfg.batch_size, device)  # before the attack
    eps_values = list(attack_cfg.eps) if isinstance(attack_cfg.get("eps"), ListConfig) else [None]
    log.info("attacking %d %s samples of %s (%s) with %s", len(y), cfg.split, cfg.run,
             victim.data.name, attack_cfg._target_.rsplit(".", 1)[-1])

    results, adversarial, adv_pred, rows = [], None, None, []
    shown = slice(0, cfg.gallery)
    for eps in eps_values:
        attack = instantiate(attack_cfg, **({"eps": eps} if eps is not None else {}))
        # attacks that learn (the generator attack) train first, on the run's training split
        trained = fit_on_training_split(attack, victim, targets, device) if hasattr(attack, "fit") else None
        adversarial, steps = attack_in_batches(attack, victim.model, x, y, targets, cfg.batch_size,
                                               device)
        result, adv_pred = measure(victim.model, x, adversarial, y, targets, steps,
                                   victim.data.num_classes, cfg.batch_size, device)
        result["eps"] = attack.eps if eps is not None else attack_cfg.get("eps")  # 8/255 -> 0.0314
        if trained is not None:
            result["generators"] = trained
        at = f"eps={result['eps']}: " if result["eps"] is not None else ""
        log.info("%saccuracy %.4f -> %.4f, success rate %.4f, median L2 %.4f", at, result["clean_acc"],
                 result["adv_acc"], result["success_rate"], result["l2_median"])
        if others:
            result["transfer"] = [other.score(adversarial, y, targets, cfg.batch_size, device)
                                  for other in others]
            for other, score in zip(others, result["transfer"], strict=True):
                log.info("%stransfer to %s: %s", at, score["run"], other.describe(score))
        results.append(result)
        clean = getattr(attack, "eps", None) == 0  # eps 0: the original images, nothing attacked
        rows.append(Attacked(_row_label(result, targets is not None, clean), adversarial[shown],
                             adv_pred[shown], clean=clean))

    report = {
        "run": str(cfg.run),
        "checkpoint": cfg.checkpoint,
        "dataset": victim.data.name,
        "split": cfg.split,
        "n": len(y),
        "attack": OmegaConf.to_container(attack_cfg, resolve=True),
        "target": cfg.target,
        # target=<class>: the samples already of that class are not attacked (n excludes them)
        "set_aside": set_aside,
        "success_rate_note": ("untargeted: success_rate counts samples the model classified "
                              "correctly before the attack and wrongly after; success_rate_all "
                              "counts every sample misclassified after the attack. targeted: "
                              "the share of samples classified as their target."),
        "transfer_note": TRANSFER_NOTE if others else None,
        "results": results,  # one entry per eps (one entry when attack.eps is a number)
        "transfer": [other.summary(results[-1]["eps"], score)
                     for other, score in zip(others, results[-1].get("transfer", []), strict=True)],
        **{"versions": environment()},
    }
    torch.save({"adversarial": adversarial.cpu(), "indices": indices, "labels": y.cpu(),
                "targets": targets.cpu() if targets is not None else None,
                "eps": results[-1]["eps"]}, out / "adversarial.pt")
    about = Described(option, attack_cfg, cfg, len(y), set_aside, report["transfer"])
    by_eps = transfer_table(results, report["transfer"])
    if by_eps is not None:
        by_eps.to_csv(out / "transfer.csv", index=False, float_format=CSV_FLOAT_FORMAT)
    if len(results) > 1:
        write_robustness(out, results, about, targets is not None, by_eps)
    if cfg.target == "all":  # every sample once per class: the sample x target grid is the gallery
        target_grid(x, adversarial, y, targets, indices, adv_pred, victim.data.class_names,
                    cfg.gallery, out / "targets_grid.png", title=about.title(results))
    else:
        clean_pred = predict(victim.model, x[shown], cfg.batch_size, device)
        gallery(x[shown].cpu(), y[shown].cpu(), indices[shown], clean_pred,
                targets[shown].cpu() if targets is not None else None, rows,
                victim.data.class_names, out / "gallery.png", title=about.title(results))
    if cfg.track:
        from nnlab.mlflow_store import log_attack

        tracked = log_attack(out, report, Path(cfg.run), list(hydra.overrides.task))
        if tracked is not None:
            report["tracker"] = tracked
    write_json(out / "attack.json", report)
    log.info("wrote %s", out)
    return report


def fit_on_training_split(attack, victim, targets, device) -> dict:
    """Train a learning attack on the run's training split (its own samples, never the attacked
    ones): one generator per target class in use. Returns its training log for attack.json."""
    train = victim.data.splits()["train"]
    limit = getattr(attack, "train_n", None)
    count = len(train) if limit is None else min(len(train), 2 * limit)  # room for leaving out each target
    x = train.x[:count].float() / 255 if train.x.dtype == torch.uint8 else train.x[:count]
    classes = sorted({int(t) for t in targets.tolist()}) if targets is not None else None
    log.info("training %s on up to %d training samples", "generators for targets "
             f"{classes}" if classes else "an untargeted generator", count)
    trained = attack.fit(victim.model, x.to(device), train.y[:count].to(device), classes)
    return {str(k): v for k, v in trained.items()}


def attack_in_batches(attack, model, x, y, targets, batch_size: int, device):
    advs, steps = [], []
    for i in range(0, len(y), batch_size):
        t = targets[i:i + batch_size].to(device) if targets is not None else None
        result = attack(model, x[i:i + batch_size].to(device), y[i:i + batch_size].to(device), target=t)
        advs.append(result.adversarial.detach().cpu())
        steps.append(result.steps.cpu())
    return torch.cat(advs), torch.cat(steps)


@torch.no_grad()
def predict(model, x, batch_size: int, device) -> torch.Tensor:
    with evaluating(model):
        return torch.cat([model(x[i:i + batch_size].to(device)).argmax(1).cpu()
                          for i in range(0, len(x), batch_size)])


def measure(model, x, adv, y, targets, steps, num_classes, batch_size, device) -> tuple[dict, torch.Tensor]:
    """(the figures of attack.json for one attack, the predictions on `adv`, for the figures)."""
    clean, after = predict(model, x, batch_size, device), predict(model, adv, batch_size, device)
    correct = clean == y
    if targets is None:
        success = after != y
        rate = float(success[correct].float().mean()) if correct.any() else float("nan")
    else:
        success = after == targets
        rate = float(success.float().mean())
    delta = (adv - x).flatten(1)
    l2, linf = delta.norm(dim=1), delta.abs().max(dim=1).values
    per_class = {}
    for c in range(num_classes):
        mask = (y == c) & (correct if targets is None else torch.ones_like(correct))
        if mask.any():
            per_class[str(c)] = rounded(success[mask].float().mean())
    return {
        "clean_acc": rounded(correct.float().mean()),
        "adv_acc": rounded((after == y).float().mean()),
        "success_rate": rounded(rate),
        "success_rate_all": rounded(success.float().mean()),
        "l2_mean": rounded(l2.mean()), "l2_median": rounded(l2.median()),
        "linf_mean": rounded(linf.mean()), "linf_median": rounded(linf.median()),
        "steps_mean": rounded(steps.float().mean()), "steps_median": rounded(steps.float().median()),
        "per_class_success": per_class,
    }, after


TRANSFER_NOTE = ("transfer: the adversarial images of each eps scored on another trained model "
                 "(results[i].transfer; the top-level entry repeats the last eps, whose images "
                 "adversarial.pt holds). adv_acc: its accuracy on them; fooling_rate: of the "
                 "images it classified correctly before the attack, the share it now gets wrong; "
                 "target_success (targeted attacks): the share it classifies as their target.")


@dataclass
class Transfer:
    """Another trained model the adversarial images are scored on (transfer=, seeds/000 4.3)."""

    run: str
    model: nn.Module
    clean: torch.Tensor  # its predictions on the original images
    clean_acc: float

    def score(self, adversarial, y, targets, batch_size: int, device) -> dict:
        """Its figures on one eps's adversarial images (see TRANSFER_NOTE)."""
        after = predict(self.model, adversarial, batch_size, device)
        right = self.clean == y
        fooled = float((after[right] != y[right]).float().mean()) if right.any() else float("nan")
        score = {"run": self.run, "adv_acc": rounded((after == y).float().mean()),
                 "fooling_rate": rounded(fooled)}
        if targets is not None:
            score["target_success"] = rounded((after == targets).float().mean())
        return score

    def describe(self, score: dict) -> str:
        """A score in words, for the log."""
        text = (f"accuracy {self.clean_acc:.4f} -> {score['adv_acc']:.4f}, "
                f"fooling rate {score['fooling_rate']:.4f}")
        if "target_success" in score:
            text += f", target success {score['target_success']:.4f}"
        return text

    def summary(self, eps, score: dict) -> dict:
        """attack.json's top-level entry: its clean accuracy and its `score` at the last eps."""
        return {"run": self.run, "clean_acc": self.clean_acc, "eps": eps,
                **{k: v for k, v in score.items() if k != "run"}}


def load_transfer(run_dirs, victim, x, y, batch_size: int, device) -> list[Transfer]:
    """The transfer models, checked (inputs of the victim's shape) before any attack runs."""
    others = []
    for run_dir in run_dirs or []:
        other = load_trained(run_dir, "best", device)
        if other.data.input_shape != victim.data.input_shape:
            raise UserError(f"transfer: {run_dir} takes inputs of shape {other.data.input_shape}, "
                            f"not {victim.data.input_shape}")
        clean = predict(other.model, x, batch_size, device)
        others.append(Transfer(str(run_dir), other.model, clean, rounded((clean == y).float().mean())))
    return others


def transfer_table(results: list[dict], summaries: list[dict]):
    """transfer.csv: a row per eps and transfer model (None without transfer=)."""
    import pandas as pd

    if not summaries:
        return None
    clean = {s["run"]: s["clean_acc"] for s in summaries}
    return pd.DataFrame([{"eps": r["eps"], "run": s["run"], "clean_acc": clean[s["run"]],
                          **{k: v for k, v in s.items() if k != "run"}}
                         for r in results for s in r["transfer"]])


def write_robustness(out: Path, results: list[dict], about: Described, targeted: bool,
                     transferred=None) -> None:
    import pandas as pd

    # one column per figure; what is per class, per transfer model or per generator has its own file
    table = pd.DataFrame([{k: v for k, v in r.items() if not isinstance(v, dict | list)} for r in results])
    columns = ["eps"] + [c for c in table.columns if c != "eps"]
    table[columns].to_csv(out / "robustness.csv", index=False, float_format=CSV_FLOAT_FORMAT)
    norm = str(about.attack.get("norm", "linf"))
    robustness_curve(table, out / "robustness.png", title=about.title(results, per_eps=False),
                     xlabel=f"eps ({NORMS.get(norm, norm)})", targeted=targeted,
                     transfer=transferred, names=short_run)


NORMS = {"linf": "Linf bound, pixel units", "l2": "L2 bound"}
# Attack keys a figure title leaves out: the seed, and what a title says in other words.
UNTITLED_KEYS = ("_target_", "seed", "targeted", "eps")


class Described:
    """What a figure of the attack says about it: the attack and its settings, the attacked run
    (its dataset, model and distinguishing settings) and the samples."""

    def __init__(self, option: str, attack_cfg, cfg, n: int, set_aside: dict | None = None,
                 transfer: list[dict] = ()):
        self.option, self.cfg, self.n = option, cfg, n
        self.set_aside, self.transfer = set_aside, list(transfer)
        self.attack = OmegaConf.to_container(attack_cfg, resolve=True)

    def settings(self, per_eps: bool) -> str:
        shown = {k: v for k, v in self.attack.items() if k not in UNTITLED_KEYS}
        if not per_eps and "eps" in self.attack and not isinstance(self.attack["eps"], list):
            shown = {"eps": self.attack["eps"], **shown}
        target = [f"target={self.cfg.target}"] if self.cfg.target is not None else []
        return " ".join([f"attack={self.option}", *target,
                         *(f"{k}={_word(v)}" for k, v in shown.items())])

    def title(self, results: list[dict], per_eps: bool = True) -> str:
        """The attack with its settings; the run; the samples (and those set aside); the outcome
        and, a line each, the transfer models' (for one eps; per eps, the gallery's row labels and
        the curve say it)."""
        run = Path(str(self.cfg.run))
        targeted = self.cfg.target is not None
        aside = self.set_aside["count"] if self.set_aside else 0
        lines = [self.settings(per_eps and len(results) > 1),
                 "on " + run_title(run, short_run(run)),
                 f"{self.n} {self.cfg.split} images"
                 + (f" ({aside} set aside: {self.set_aside['reason']})" if aside else "")]
        if len(results) == 1:
            lines[-1] += ": " + _outcome(results[0], targeted)
            lines += [f"transfer to {short_run(s['run'])}: " + _outcome(s, targeted) for s in self.transfer]
        return "\n".join(lines)


def short_run(run) -> str:
    """A run folder as a figure names it: its last two parts."""
    run = Path(str(run))
    return str(run) if len(run.parts) <= 2 else str(Path(*run.parts[-2:]))


def _outcome(result: dict, targeted: bool) -> str:
    """The victim's result, or a transfer model's summary (target_success for its success rate)."""
    accuracy = f"accuracy {result['clean_acc']:.3f} -> {result['adv_acc']:.3f} under attack"
    if targeted:
        reached = result["target_success"] if "target_success" in result else result["success_rate"]
        return f"target reached for {reached:.1%}; {accuracy}"
    return accuracy


def _row_label(result: dict, targeted: bool, clean: bool = False) -> str:
    """A gallery row's label: its eps and what the attack achieved there (at eps 0, the clean
    images: the accuracy)."""
    eps = f"eps={result['eps']}\n" if result.get("eps") is not None else ""
    what = (f"target reached {result['success_rate']:.1%}" if targeted and not clean
            else f"accuracy {result['adv_acc']:.3f}")
    return f"{eps}{what}"


def _word(value) -> str:
    """A value as typed on the command line (true, not True)."""
    return str(value).lower() if isinstance(value, bool) else "null" if value is None else str(value)
