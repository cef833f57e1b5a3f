"""One sigmoid neuron y' = S(wx + b) over a (w, b) grid: output, L2 loss, cross-entropy loss and
their gradients with respect to w, as 3-D surfaces and heatmaps (seeds/000 problem 1).

    python scripts/neuron_surfaces.py --out DIR [--x 1 --y 0.5 --limit 5 --step 0.25]

The gradients come from autograd and are checked against the report's closed forms,
    L2 = (y' - y)^2                          dL2/dw = 2 (S - y) S (1 - S) x
    CE = -(y log y' + (1 - y) log(1 - y'))   dCE/dw = -(y - S) x
and the script stops with exit code 1 naming the largest disagreement if they differ, so a wrong
derivation (or a broken autograd setup) cannot produce figures. Writes DIR/surfaces.csv (one row
per grid point) and one PNG per quantity (surface | heatmap) plus DIR/overview.png.
The report gives neither x nor y; the defaults are x = 1 and a target of y = 0.5.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

# quantity -> (title, colour map); the order of the overview figure
QUANTITIES = {
    "output": ("sigmoid output y' = S(wx + b)", "viridis"),
    "l2": ("L2 loss (y' - y)^2", "magma"),
    "l2_grad_w": ("dL2/dw", "coolwarm"),
    "ce": ("cross-entropy loss", "magma"),
    "ce_grad_w": ("dCE/dw", "coolwarm"),
}
# float64 autograd and float64 closed forms agree to rounding; anything above this is a real error
TOLERANCE = 1e-10


class GradientMismatch(RuntimeError):
    """Autograd and a closed-form gradient disagree."""


def closed_form_l2_grad(s: torch.Tensor, x: float, y: float) -> torch.Tensor:
    return 2 * (s - y) * s * (1 - s) * x


def closed_form_ce_grad(s: torch.Tensor, x: float, y: float) -> torch.Tensor:
    return -(y - s) * x


def grid(limit: float = 5.0, step: float = 0.25) -> tuple[torch.Tensor, torch.Tensor]:
    """(W, B): float64 meshgrids over [-limit, limit] in `step`s (rows: b, columns: w)."""
    if step <= 0 or limit <= 0:
        raise ValueError(f"limit and step must be > 0, got limit={limit}, step={step}")
    values = torch.arange(-limit, limit + step / 2, step, dtype=torch.float64)
    b, w = torch.meshgrid(values, values, indexing="ij")
    return w, b


def compute(x: float = 1.0, y: float = 0.5, limit: float = 5.0,
            step: float = 0.25) -> dict[str, torch.Tensor]:
    """Every quantity on the grid, gradients by autograd, plus the closed forms (`*_closed`)."""
    if not 0 <= y <= 1:
        raise ValueError(f"the target y must be in [0, 1], got {y}")
    w, b = grid(limit, step)
    w.requires_grad_(True)
    z = w * x + b
    s = torch.sigmoid(z)
    l2 = (s - y) ** 2
    # softplus form of -(y log S + (1-y) log(1-S)): the same function, without log(0) when S
    # rounds to 0 or 1 for large |wx + b|
    ce = y * F.softplus(-z) + (1 - y) * F.softplus(z)
    # Each grid point depends only on its own w, so the gradient of the sum is the pointwise one.
    (l2_grad,) = torch.autograd.grad(l2.sum(), w, retain_graph=True)
    (ce_grad,) = torch.autograd.grad(ce.sum(), w)
    s = s.detach()
    return {"w": w.detach(), "b": b, "output": s, "l2": l2.detach(), "l2_grad_w": l2_grad,
            "ce": ce.detach(), "ce_grad_w": ce_grad,
            "l2_grad_w_closed": closed_form_l2_grad(s, x, y),
            "ce_grad_w_closed": closed_form_ce_grad(s, x, y)}


def check_gradients(q: dict[str, torch.Tensor]) -> dict[str, float]:
    """Largest |autograd - closed form| per gradient; GradientMismatch if one exceeds TOLERANCE."""
    errors = {}
    for name in ("l2_grad_w", "ce_grad_w"):
        diff = (q[name] - q[f"{name}_closed"]).abs()
        errors[name] = float(diff.max())
        if errors[name] > TOLERANCE:
            k = int(diff.argmax())
            raise GradientMismatch(
                f"{name}: autograd and the closed form differ by {errors[name]:.3g} at "
                f"w={float(q['w'].flatten()[k]):g}, b={float(q['b'].flatten()[k]):g} "
                f"(autograd {float(q[name].flatten()[k]):.6g}, closed form "
                f"{float(q[f'{name}_closed'].flatten()[k]):.6g})")
    return errors


def table(q: dict[str, torch.Tensor]) -> pd.DataFrame:
    return pd.DataFrame({k: v.flatten().numpy() for k, v in q.items() if not k.endswith("_closed")})


def draw(ax3d, ax2d, q: dict[str, torch.Tensor], name: str) -> None:
    title, cmap = QUANTITIES[name]
    w, b, v = q["w"].numpy(), q["b"].numpy(), q[name].numpy()
    ax3d.plot_surface(w, b, v, cmap=cmap, linewidth=0, antialiased=True)
    ax3d.set(xlabel="w", ylabel="b", title=title)
    # a diverging map centred on 0 for the gradients, so the sign reads at a glance
    vmax = abs(v).max() if cmap == "coolwarm" else None
    # one cell per grid point, centred on its (w, b)
    image = ax2d.pcolormesh(w, b, v, shading="nearest", cmap=cmap, vmin=-vmax if vmax else None,
                            vmax=vmax)
    ax2d.set(xlabel="w", ylabel="b", title=title)
    plt.colorbar(image, ax=ax2d, shrink=0.85)


def write_figures(q: dict[str, torch.Tensor], out: Path, x: float, y: float) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in QUANTITIES:
        fig = plt.figure(figsize=(11, 4.5), constrained_layout=True)
        draw(fig.add_subplot(1, 2, 1, projection="3d"), fig.add_subplot(1, 2, 2), q, name)
        fig.suptitle(f"one sigmoid neuron, x = {x:g}, y = {y:g}")
        paths.append(out / f"{name}.png")
        fig.savefig(paths[-1], dpi=110)
        plt.close(fig)
    fig = plt.figure(figsize=(5 * len(QUANTITIES), 8.5), constrained_layout=True)
    for k, name in enumerate(QUANTITIES):
        draw(fig.add_subplot(2, len(QUANTITIES), k + 1, projection="3d"),
             fig.add_subplot(2, len(QUANTITIES), len(QUANTITIES) + k + 1), q, name)
    fig.suptitle(f"one sigmoid neuron y' = S(wx + b), x = {x:g}, y = {y:g}, w and b in "
                 f"[{q['w'].min():g}, {q['w'].max():g}]")
    paths.append(out / "overview.png")
    fig.savefig(paths[-1], dpi=90)
    plt.close(fig)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for surfaces.csv and the PNGs")
    parser.add_argument("--x", type=float, default=1.0, help="the neuron's input (default 1)")
    parser.add_argument("--y", type=float, default=0.5, help="the target in [0, 1] (default 0.5)")
    parser.add_argument("--limit", type=float, default=5.0, help="w and b range over [-limit, limit]")
    parser.add_argument("--step", type=float, default=0.25, help="grid step (default 0.25)")
    args = parser.parse_args(argv)
    try:
        q = compute(args.x, args.y, args.limit, args.step)
        errors = check_gradients(q)
    except (ValueError, GradientMismatch) as ex:
        print(f"neuron_surfaces: error: {ex}", file=sys.stderr)
        return 1 if isinstance(ex, GradientMismatch) else 2
    args.out.mkdir(parents=True, exist_ok=True)
    table(q).to_csv(args.out / "surfaces.csv", index=False)
    paths = write_figures(q, args.out, args.x, args.y)
    print(f"autograd matches the closed forms: max |difference| dL2/dw {errors['l2_grad_w']:.2g}, "
          f"dCE/dw {errors['ce_grad_w']:.2g}")
    print(f"wrote {args.out / 'surfaces.csv'} and {', '.join(p.name for p in paths)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
