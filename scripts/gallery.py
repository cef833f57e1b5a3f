"""Copy one figure per seed experiment into docs/gallery/ (shrunk for the README), from the
folders `make reproduce-NAME` wrote.

    python scripts/gallery.py                       # from outputs/reproduce/NAME
    python scripts/gallery.py --root /tmp/repro_    # from /tmp/repro_NAME (a prefix, not a folder)

A missing experiment is reported and skipped; the README's gallery points at these files.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image

# experiment -> its figure, relative to the experiment's output folder
FIGURES = {
    "surfaces": "figures/overview.png",
    "xor": "runs/tanh/plots/boundary_snapshots.png",
    "lr-batch": "report_acc/curves.png",
    "vanishing": "grad_max_epoch3.png",
    "cifar-ablation": "cifar_ablation_hidden.png",
    "shift": "shift_accuracy.png",
    "playground": "boundaries_features.png",
    "fashion": "runs/mlp/plots/first_layer_weights.png",
    "adversarial": "attacks/generator/targets_grid.png",
}
MAX_WIDTH = 1000  # pixels: sharp on a README page, a few hundred kB at most


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default="outputs/reproduce/",
                        help="folder (ending in /) or prefix the experiment names are appended to")
    parser.add_argument("--out", type=Path, default=Path("docs/gallery"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    missing = 0
    for name, figure in FIGURES.items():
        source = Path(f"{args.root}{name}") / figure
        if not source.is_file():
            print(f"gallery: {name}: no {source} (run `make reproduce-{name}` first)", file=sys.stderr)
            missing += 1
            continue
        image = Image.open(source).convert("RGB")
        if image.width > MAX_WIDTH:
            image = image.resize((MAX_WIDTH, round(image.height * MAX_WIDTH / image.width)),
                                 Image.LANCZOS)
        target = args.out / f"{name}.png"  # 256 colours: a fifth of the size, same look for plots
        image.convert("P", palette=Image.ADAPTIVE, colors=256).save(target, optimize=True)
        print(f"gallery: {target} ({target.stat().st_size // 1024} kB) from {source}")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
