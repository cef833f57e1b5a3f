"""seeds/000 problem 2: XOR with a 2-2-1 tanh network (full-batch gradient descent, cross-entropy)
and the linear control that cannot solve it; decision boundaries at a series of epochs; and how
often an initialisation solves it: 1000 seeds of the tanh net, trained together by the
vectorized launcher, with a figure of their final losses."""

from __future__ import annotations

import json

import matplotlib
import pandas as pd

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from experiments.common import Context, read_summary  # noqa: E402

DESCRIPTION = "XOR: 2-2-1 tanh net solves it, the linear control cannot"
SEED = "seeds/000 problem 2"


def run(ctx: Context) -> None:
    epochs = 1000 if not ctx.full else 3000
    rows = []
    for name, preset in (("tanh", "xor_tanh"), ("linear", "xor_linear")):
        folder = ctx.out / "runs" / name
        ctx.nnlab("train", f"experiment={preset}", "probe=[boundary]", f"epochs={epochs}",
                  "progress=false", f"hydra.run.dir={folder}")
        summary = read_summary(folder)
        rows.append({"hidden activation": name, "epochs": epochs,
                     "train loss": summary["final"]["train_loss"],
                     "accuracy (4 points)": summary["final"]["test_acc"]})
        ctx.figure(folder / "plots" / "boundary_snapshots.png",
                   f"{name} hidden units: decision boundary at epochs 1..{epochs}")
    ctx.heading("Result")
    ctx.table("xor", pd.DataFrame(rows), "Report: tanh reaches 100% (loss near 0); a linear "
              "network gets at most 3 of 4 points.")
    initialisations(ctx, epochs)


def initialisations(ctx: Context, epochs: int, seeds: int = 1000) -> None:
    """The share of `seeds` initialisations of the 2-2-1 tanh net that solve XOR (all four points
    right after `epochs` of full-batch GD), trained as one stacked model."""
    folder = ctx.out / "runs" / "initialisations"
    ctx.nnlab("train", "-m", "experiment=xor_tanh", f"seed=range({seeds})", f"epochs={epochs}",
              "hydra/launcher=vectorized", "plots=false", "checkpoint=false", "progress=false",
              f"hydra.sweep.dir={folder}")
    finals = [json.loads(p.read_text())["final"] for p in sorted(folder.glob("*/summary.json"))]
    solved = [f["train_loss"] for f in finals if f["test_acc"] == 1.0]
    stuck = [f["train_loss"] for f in finals if f["test_acc"] < 1.0]
    share = len(solved) / len(finals)
    ctx.heading(f"How often an initialisation solves XOR ({len(finals)} seeds)")
    ctx.table("xor_initialisations", pd.DataFrame([{
        "initialisations": len(finals), "solved (4 of 4 right)": len(solved),
        "share solved": share, "median final loss, solved": _median(solved),
        "median final loss, not solved": _median(stuck)}]),
        f"2-2-1 tanh net, full-batch GD, {epochs} epochs, seeds 0..{seeds - 1}: "
        f"{share:.1%} of the initialisations solve XOR; the others stall in the plateau where two "
        "points are right and two sit at 50% (final loss near ln 2 / 2 = 0.35 or above).")
    path = ctx.out / "xor_final_losses.png"
    fig, ax = plt.subplots(figsize=(6, 3.6), constrained_layout=True)
    bins = [10 ** (k / 10) for k in range(-60, 11)]
    ax.hist([max(v, 1e-6) for v in solved], bins=bins, color="#0877bd", label=f"solved ({len(solved)})")
    ax.hist([max(v, 1e-6) for v in stuck], bins=bins, color="#f59322", label=f"not solved ({len(stuck)})")
    ax.set(xscale="log", xlabel=f"final training loss (epoch {epochs})", ylabel="initialisations",
           title=f"XOR, 2-2-1 tanh: {len(finals)} initialisations, {share:.1%} solve it")
    ax.legend()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    ctx.figure(path, f"Final training loss of each of the {len(finals)} initialisations")


def _median(values: list[float]) -> float:
    return float(pd.Series(values).median()) if values else float("nan")
