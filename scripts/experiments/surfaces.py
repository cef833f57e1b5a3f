"""seeds/000 problem 1: one sigmoid neuron y' = S(wx + b) over w, b in [-5, 5] (step 0.25): its
output, the L2 and cross-entropy losses and their gradients w.r.t. w, as surfaces and heatmaps,
with autograd checked against the report's closed-form gradients (scripts/neuron_surfaces.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from experiments.common import Context

DESCRIPTION = "one sigmoid neuron: output, L2 / cross-entropy loss and gradient surfaces"
SEED = "seeds/000 problem 1"

SCRIPT = Path(__file__).resolve().parents[1] / "neuron_surfaces.py"
X, Y = 1.0, 0.5  # the report states neither the input nor the target
FLAT = 0.01  # a gradient below 1% of its largest value on the grid counts as "flat"


def run(ctx: Context) -> None:
    figures = ctx.out / "figures"
    # Seconds of work either way: the scaled-down and the full settings are the report's grid.
    ctx.python(os.path.relpath(SCRIPT), "--out", figures, "--x", X, "--y", Y, "--limit", 5, "--step", 0.25)
    grid = pd.read_csv(figures / "surfaces.csv")
    ctx.note(f"The report gives neither the input x nor the target y; we use x = {X:g} and y = {Y:g} "
             "(`--x`, `--y` of scripts/neuron_surfaces.py change them). Gradients come from "
             "autograd and matched the report's closed forms dL2/dw = 2(S - y)S(1 - S)x and "
             "dCE/dw = -(y - S)x at every grid point (the script stops if they do not). The "
             "report's grid takes seconds, so FULL=1 runs exactly the same.")

    ctx.heading("Result")
    # + 0.0 turns the -0.0 that rounding leaves for a symmetric quantity's mean into 0.0
    rows = [{"quantity": name, **{stat: round(float(getattr(grid[name], stat)()), 12) + 0.0
                                  for stat in ("min", "max", "mean")}}
            for name in ("output", "l2", "ce", "l2_grad_w", "ce_grad_w")]
    ctx.table("ranges", pd.DataFrame(rows), f"Each quantity over the {len(grid)} grid points.")

    l2_abs, ce_abs = grid["l2_grad_w"].abs(), grid["ce_grad_w"].abs()
    checks = pd.DataFrame([
        {"report's observation": "cross-entropy loss is higher than L2 for the same (w, b)",
         "measured": f"CE > L2 at {(grid['ce'] > grid['l2']).mean():.1%} of the grid"},
        {"report's observation": "|dCE/dw| is larger than |dL2/dw| (faster learning)",
         "measured": f"larger at {(ce_abs > l2_abs).mean():.1%} of the grid; median ratio "
                     f"{(ce_abs / l2_abs).median():.1f}x"},
        {"report's observation": "the L2 gradient is flat at the ends (saturated sigmoid)",
         "measured": f"|dL2/dw| < {FLAT:.0%} of its max at {(l2_abs < FLAT * l2_abs.max()).mean():.1%} "
                     f"of the grid; |dCE/dw| at {(ce_abs < FLAT * ce_abs.max()).mean():.1%}"},
    ])
    ctx.table("observations", checks, "The report's observations, measured on the grid.")

    ctx.heading("Figures")
    ctx.figure(figures / "overview.png", "all five quantities: 3-D surfaces (top) and heatmaps (bottom)")
    for name, caption in (("output", "sigmoid output"), ("l2", "L2 loss"), ("l2_grad_w", "dL2/dw"),
                          ("ce", "cross-entropy loss"), ("ce_grad_w", "dCE/dw")):
        ctx.figure(figures / f"{name}.png", f"{caption}: surface and heatmap over (w, b)")
