"""Section `attacks` of scripts/bench.py: FGSM and PGD-40 on 1,000 test images, nnlab's attacks
against torchattacks on the same model, images, budget and steps, side by side in one process:
wall time (CPU) and success rates.

The model is a LeNet-5 trained for a few epochs by `nnlab train experiment=fashion_lenet` into
the scratch folder, or any image run folder given with `--attack-run RUN_DIR` (its best
checkpoint).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import torch
import torchattacks
from bench_common import Options, Target, interleaved, nnlab_command, run_command, say, seconds, table

from nnlab.attacks import FGSM, PGD
from nnlab.runs import load_trained

EPS, ALPHA, STEPS = 0.3, 0.01, 40  # Linf budget and step in pixels [0, 1]; PGD-40 as in Madry et al.
# Issue 7's targets: no slower than torchattacks, with success rates equal within 0.5 points.
TIME_TARGET = Target("<=", 1.00)
SUCCESS_TARGET = Target("<=", 0.5, " pt")  # percentage points


def victim_run(opts: Options, n: int):
    """The run folder to attack: --attack-run, else a LeNet-5 trained now by `nnlab train`."""
    if opts.attack_run is not None:
        return opts.attack_run
    root, _ = opts.fashion()
    run_dir = opts.work / "attack-victim"
    small = ["epochs=1", "dataset.train_size=1000", "dataset.val_size=100", f"dataset.test_size={n}"]
    cmd = [*nnlab_command(), "train", "experiment=fashion_lenet", f"dataset.root={root}",
           "dataset.download=false", "plots=false", "progress=false", f"hydra.run.dir={run_dir}",
           *(small if opts.quick else ["epochs=3"])]
    say(f"attacks: training the model to attack: {' '.join(cmd[1:])}")
    run_command(cmd, cwd=opts.work)
    return run_dir


def keeping(images: dict, key: str, attack) -> Callable[[], float]:
    """A measurement for `interleaved` that times `attack()` and keeps its images in images[key]."""

    def measure() -> float:
        start = time.perf_counter()
        images[key] = attack()
        return time.perf_counter() - start

    return measure


def section(opts: Options) -> str:
    n = 100 if opts.quick else 1000
    # FGSM takes ~0.1 s, where one scheduler hiccup moves the median of 3 by 15%: it gets 5x the
    # repetitions (still ~3 s), PGD-40 (~4 s a call) the default.
    repeats = {"FGSM": opts.reps(15), f"PGD-{STEPS}": opts.reps(3)}
    run = victim_run(opts, n)
    victim = load_trained(run, "best", "cpu")
    model = victim.model.eval()
    x = victim.data.test.x[:n].float() / 255
    y = victim.data.test.y[:n]

    def fooled(images) -> float:
        """Success rate: the share of images whose prediction is not their label."""
        with torch.no_grad():
            return float((model(images).argmax(1) != y).float().mean())

    attacks = {
        "FGSM": (lambda: FGSM(EPS)(model, x, y).adversarial,
                 lambda: torchattacks.FGSM(model, eps=EPS)(x, y)),
        f"PGD-{STEPS}": (
            lambda: PGD(EPS, ALPHA, STEPS, random_start=False)(model, x, y).adversarial,
            lambda: torchattacks.PGD(model, eps=EPS, alpha=ALPHA, steps=STEPS, random_start=False)(x, y)),
    }
    rows = []
    for name, (ours, theirs) in attacks.items():
        images: dict[str, torch.Tensor] = {}
        med = interleaved({"nnlab": keeping(images, "nnlab", ours),
                           "torchattacks": keeping(images, "torchattacks", theirs)},
                          repeats[name], f"attacks {name}")
        diff = float((images["nnlab"] - images["torchattacks"]).abs().max())
        rates = {who: fooled(images[who]) for who in ("nnlab", "torchattacks")}
        rows.append([name, seconds(med["nnlab"]), seconds(med["torchattacks"]),
                     *TIME_TARGET.cells(med["nnlab"] / med["torchattacks"]),
                     f"{rates['nnlab']:.4f}", f"{rates['torchattacks']:.4f}",
                     *SUCCESS_TARGET.cells(100 * abs(rates["nnlab"] - rates["torchattacks"])),
                     f"{diff:.1e}"])
    say("attacks: done")
    return "\n".join([
        "## Attacks (CPU)",
        "",
        f"{len(y)} test images of {victim.data.name}, model `{run}` (clean accuracy "
        f"{1 - fooled(x):.4f}), Linf eps {EPS}, PGD step {ALPHA} without random start; "
        f"torch threads: {torch.get_num_threads()}; median of {repeats['FGSM']} (FGSM) and "
        f"{repeats[f'PGD-{STEPS}']} (PGD), the two taking turns. Success "
        "rate: the share of images the model gets wrong after the attack. nnlab sums per-sample "
        "losses where torchattacks averages them, so a saturated sample's gradient can underflow "
        "in torchattacks: images may differ there.",
        "",
        table(["attack", "nnlab (s)", "torchattacks (s)", "nnlab / torchattacks", "target", "result",
               "success rate, nnlab", "success rate, torchattacks", "difference", "target", "result",
               "max abs pixel difference"], rows),
        "",
    ])


if __name__ == "__main__":
    sys.exit("bench_attacks.py is a section of scripts/bench.py; run: "
             "python scripts/bench.py --only attacks [--attack-run RUN_DIR]")
