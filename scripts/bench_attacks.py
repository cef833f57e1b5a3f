"""PGD and FGSM on 1,000 images: nnlab's attacks against torchattacks on the same model, batch
and steps, side by side in one process (wall time, median of --repeats; success rates).

    python scripts/bench_attacks.py RUN_DIR [--n 1000] [--steps 40] [--eps 0.3] [--alpha 0.01]

RUN_DIR is a `nnlab train` run on an image dataset (its best checkpoint is used).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torchattacks

from nnlab.attacks import FGSM, PGD
from nnlab.trained import load_trained


def timed(fn, repeats: int):
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--eps", type=float, default=0.3)
    parser.add_argument("--alpha", type=float, default=0.01)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    victim = load_trained(args.run, "best", "cpu")
    model = victim.model.eval()
    x = victim.data.test.x[: args.n].float() / 255
    y = victim.data.test.y[: args.n]

    def accuracy(images):
        with torch.no_grad():
            return float((model(images).argmax(1) == y).float().mean())

    rows = []
    for name, ours, theirs in (
        ("FGSM", lambda: FGSM(args.eps)(model, x, y).adversarial,
         lambda: torchattacks.FGSM(model, eps=args.eps)(x, y)),
        (f"PGD-{args.steps}", lambda: PGD(args.eps, args.alpha, args.steps, random_start=False)(model, x, y)
         .adversarial,
         lambda: torchattacks.PGD(model, eps=args.eps, alpha=args.alpha, steps=args.steps,
                                  random_start=False)(x, y)),
    ):
        t_ours, adv_ours = timed(ours, args.repeats)
        t_theirs, adv_theirs = timed(theirs, args.repeats)
        rows.append((name, t_ours, t_theirs, accuracy(adv_ours), accuracy(adv_theirs),
                     float((adv_ours - adv_theirs).abs().max())))
    print(f"# {args.n} test images of {victim.data.name}, model {args.run}, CPU "
          f"({torch.get_num_threads()} threads), clean accuracy {accuracy(x):.4f}, eps {args.eps}, "
          f"median of {args.repeats}\n")
    print("| attack | nnlab (s) | torchattacks (s) | nnlab / torchattacks | accuracy under attack, "
          "nnlab | torchattacks | max abs diff |")
    print("|---|---|---|---|---|---|---|")
    for name, a, b, acc_a, acc_b, diff in rows:
        print(f"| {name} | {a:.2f} | {b:.2f} | {a / b:.2f}x | {acc_a:.4f} | {acc_b:.4f} | {diff:.1e} |")


if __name__ == "__main__":
    main()
