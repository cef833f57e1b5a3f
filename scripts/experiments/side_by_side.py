"""docs/REPRODUCTION.md: every number a seed report states next to nnlab's, one table per report.

`make reproduce-all` (scripts/reproduce.py all) runs every experiment into one folder and then
calls `write`; each row below reads the experiment's own tables (the CSVs it wrote), so the
document says what that run measured. A row is `matched` when nnlab's number is the report's
within the tolerance the row states, `differs` otherwise, with why; `not comparable` where the
data is a stand-in (generated CIFAR-10) or the report gives no number.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from experiments import vanishing

REPORTS = {  # seed report -> its title
    "seeds/000": "problems 1-4: neuron surfaces, XOR, batch x learning rate, adversarial images",
    "seeds/001": "vanishing gradients, MNIST/CIFAR-10 classifiers, generator attack",
    "seeds/002": "CIFAR-10 softmax and one-hidden-layer net, ablations, targeted attack",
    "seeds/003": "MLP vs LeNet under shifts (question 3)",
    "seeds/004": "TensorFlow Playground (section 1), Fashion-MNIST MLP and CNN (section 2)",
}


@dataclass
class Row:
    report: str  # seeds/00N
    experiment: str  # make reproduce-NAME
    what: str
    stated: str  # the report's number, as it states it
    ours: str
    verdict: str  # matched / differs: why / not comparable: why


def table(root: Path, experiment: str, name: str) -> pd.DataFrame:
    return pd.read_csv(root / experiment / f"{name}.csv")


def within(ours: float, stated: float, tol: float, why: str = "") -> str:
    if abs(ours - stated) <= tol:
        return f"matched (within {tol:g})"
    return f"differs ({ours - stated:+.3g}){': ' + why if why else ''}"


# ---------------------------------------------------------------------- the reports' numbers


def surfaces(root: Path) -> list[Row]:
    obs = table(root, "surfaces", "observations")
    return [Row("seeds/000", "surfaces", f"problem 1: {r['report' + chr(39) + 's observation']}",
                "yes (figures)", r["measured"], "matched" if _holds(r["measured"]) else "differs")
            for _, r in obs.iterrows()]


def _holds(measured: str) -> bool:
    """'... at 97.6% of the grid' holds above half the grid; 'L2 at 13.3%; CE at 2.4%' holds when
    the first share is the larger."""
    shares = [float(x) for x in re.findall(r"at ([\d.]+)%", measured)]
    return shares[0] > shares[1] if len(shares) > 1 else bool(shares) and shares[0] > 50


def xor(root: Path) -> list[Row]:
    t = table(root, "xor", "xor").set_index("hidden activation")
    tanh, linear = t.loc["tanh", "accuracy (4 points)"], t.loc["linear", "accuracy (4 points)"]
    return [Row("seeds/000", "xor", "problem 2: 2-2-1 tanh net, accuracy on the 4 points", "1.00",
                f"{tanh:.2f}", within(tanh, 1.0, 0.0)),
            Row("seeds/000", "xor", "problem 2: linear network, accuracy", "at most 0.75",
                f"{linear:.2f}", "matched" if linear <= 0.75 else "differs")]


def lr_batch(root: Path) -> list[Row]:
    acc = table(root, "lr-batch", "test_accuracy").set_index("lr")
    cells = {lr: [float(v) for v in acc.loc[lr].to_numpy() if _number(v)] for lr in acc.index}
    high, low = max(cells), min(cells)
    faster = all(a >= b for a, b in zip(cells[max(cells)], cells[sorted(cells)[-2]], strict=False))
    return [Row("seeds/000", "lr-batch", "problem 3: larger lr learns faster (curves; no numbers)",
                "yes", f"test acc at lr {high:g}: {', '.join(f'{v:.3f}' for v in cells[high])} "
                f"(batch 32/64/128)", "matched" if faster else "differs"),
            Row("seeds/000", "lr-batch", f"problem 3: lr {low:g} does not learn", "flat curves",
                f"test acc {', '.join(f'{v:.3f}' for v in cells[low])}",
                "matched" if max(cells[low]) < 0.2 else "differs")]


def _number(value) -> bool:
    try:
        float(value)
        return True
    except (TypeError, ValueError):
        return False


def adversarial(root: Path) -> list[Row]:
    t = table(root, "adversarial", "transfer").set_index("attack")
    rows = []
    for name, section in (("untargeted", "4.1"), ("targeted", "4.2")):
        r = t.loc[name]
        rows.append(Row("seeds/000", "adversarial", f"problem {section}-4.3: model 1's accuracy on its "
                        f"{name} adversarial images", "0", f"{r['model 1 adv acc']:.3f}",
                        within(r["model 1 adv acc"], 0.0, 0.01)))
        rows.append(Row("seeds/000", "adversarial", "problem 4.3: model 2's accuracy on them",
                        f"{r['report: model 2 acc']:.3f}", f"{r['model 2 acc on them']:.3f}",
                        within(r["model 2 acc on them"], r["report: model 2 acc"], 0.05,
                               "Fashion-MNIST LeNets, not the report's MNIST models")))
    models = table(root, "adversarial", "models")
    rows.append(Row("seeds/001", "adversarial", "exercise 2: classifier C's test accuracy (MNIST)",
                    "0.9939", f"{models['test acc'].iloc[0]:.4f}",
                    "not comparable: Fashion-MNIST stands in for MNIST" if _stand_in(root, "adversarial")
                    else within(models["test acc"].iloc[0], 0.9939, 0.005)))
    gen = table(root, "adversarial", "generator")
    rate = _success(gen)
    if rate is not None:
        rows.append(Row("seeds/001", "adversarial", "exercise 2: generator reaches the wanted class",
                        "every time", f"{rate:.2f} of the targets", within(rate, 1.0, 0.05)))
    cifar = table(root, "adversarial", "cifar_pgd_l2")
    rows.append(Row("seeds/002", "adversarial", "section 4: targeted attack on the hidden-layer net",
                    "1 image fooled at L2 0.357", _at_report_radius(cifar),
                    "not comparable: generated data stands in for CIFAR-10"))
    return rows


def _at_report_radius(frame: pd.DataFrame) -> str:
    """Each model's targeted success at the report's L2 radius (0.357), or at the first one."""
    at = frame[(frame["L2 eps"] - 0.357).abs() < 1e-6]
    at = at if len(at) else frame.drop_duplicates("model")
    return "; ".join(f"{r['model']}: success {r['success rate']:.3g} at L2 {r['L2 eps']:g} "
                     f"(test acc {r['test acc']:.3f} -> {r['adv acc']:.3f})" for _, r in at.iterrows())


def _success(frame: pd.DataFrame) -> float | None:
    """The mean share of targets reached (generator.csv: `targets reached` per class)."""
    cols = [c for c in frame.columns if "success" in c.lower() or "reached" in c.lower()]
    if cols:
        return float(pd.to_numeric(frame[cols[0]], errors="coerce").mean())
    return None


def vanishing_rows(root: Path) -> list[Row]:
    t = table(root, "vanishing", "test_scores").set_index("layers")
    rows = []
    for depth, by_act in vanishing.REPORT.items():
        for act, (_, acc) in by_act.items():
            ours = float(t.loc[depth, f"acc {act}"])
            rows.append(Row("seeds/001", "vanishing", f"exercise 1: {depth} layers, {act}, test accuracy",
                            f"{acc:.3f}", f"{ours:.3f}", within(ours, acc, 0.05, _vanishing_why(root))))
    return rows


def _vanishing_why(root: Path) -> str:
    stand_in = "Fashion-MNIST for MNIST, " if _stand_in(root, "vanishing") else ""
    return f"{stand_in}a few epochs for the report's 50"


def cifar_ablation(root: Path) -> list[Row]:
    rows = []
    for preset, label in (("cifar_ablation_softmax", "softmax"), ("cifar_ablation_hidden", "hidden layer")):
        t = table(root, "cifar-ablation", preset)
        for _, r in t.iterrows():
            what = f"{label}: {r['ablation']} = {r['value']}, test acc"
            rows.append(Row("seeds/002", "cifar-ablation", what,
                            f"{r['report test acc (CIFAR-10)']:.4f}", _fmt(r["test acc"]),
                            "not comparable: generated data stands in for CIFAR-10"
                            if _generated(root, "cifar-ablation") else
                            within(float(r["test acc"]), r["report test acc (CIFAR-10)"], 0.02)))
    return rows


def shift(root: Path) -> list[Row]:
    t = table(root, "shift", "accuracy")
    stand_in = _stand_in(root, "shift")
    rows = [Row("seeds/003", "shift", f"{r['model']}: test accuracy", f"{r['report (MNIST)']:.4f}",
                f"{r['test acc (unshifted)']:.4f}", "not comparable: Fashion-MNIST stands in for MNIST"
                if stand_in else within(r["test acc (unshifted)"], r["report (MNIST)"], 0.01))
            for _, r in t.iterrows()]
    return rows + [_shift_invariance(table(root, "shift", "shift_accuracy"))]


def _shift_invariance(curves: pd.DataFrame) -> Row:
    """The report's point (one shifted 8: the MLP read a 7, LeNet an 8), measured on the whole
    test split: accuracy over every shift > 0 and direction, LeNet against the MLP."""
    shifted = curves[curves["shift"] > 0]
    mean = {model: shifted[[c for c in curves.columns if c.startswith(model)]].to_numpy().mean()
            for model in ("MLP", "LeNet")}
    two = curves[curves["shift"] == 2]
    right = {model: float(two[next(c for c in curves.columns if c.startswith(model) and c.endswith("right"))]
                          .iloc[0]) for model in ("MLP", "LeNet")} if len(two) else None
    directions = sum(c.startswith("MLP") for c in curves.columns)
    ours = (f"mean test accuracy over shifts 1-{int(curves['shift'].max())} and {directions} directions: "
            f"LeNet {mean['LeNet']:.3f}, MLP {mean['MLP']:.3f}"
            + (f"; 2 pixels right: LeNet {right['LeNet']:.3f}, MLP {right['MLP']:.3f}" if right else ""))
    verdict = "matched" if mean["LeNet"] > mean["MLP"] else "differs: the MLP held up better here"
    return Row("seeds/003", "shift", "shifted images: LeNet keeps its prediction, the MLP loses it",
               "one shifted 8: MLP read 7, LeNet 8", ours, verdict)


def fashion(root: Path) -> list[Row]:
    t = table(root, "fashion", "fashion")
    return [Row("seeds/004", "fashion", f"section 2: {r['model']} validation accuracy",
                f"{r['report val acc']:.3f}", f"{r['val acc (best)']:.3f} ({r['epochs run']} epochs, "
                f"{r['train / val / test images']} images)",
                within(r["val acc (best)"], r["report val acc"], 0.01,
                       "the CNN is scaled down (FULL=1 runs it whole)" if r["model"] == "CNN" else ""))
            for _, r in t.iterrows()]


def playground_rows(root: Path) -> list[Row]:
    hand = table(root, "playground", "hand_crafted")
    hand["cell"] = [f"table 1: {r['dataset']} ({r['features']}, {r['epochs']} epochs)"
                    for _, r in hand.iterrows()]
    reg = table(root, "playground", "regularised")
    reg = reg[reg["regulariser"] != "none"].copy()  # the report has no row without regularisation
    reg["cell"] = [f"table 2: {r['dataset']}, all inputs, {r['regulariser']} 0.01" for _, r in reg.iterrows()]
    rows = [Row("seeds/004", "playground", f"{r['cell']}, {metric}", str(r[f"report {metric}"]), r[metric],
                _pg_verdict(r[f"{metric}: verdict"]))
            for frame in (hand, reg) for _, r in frame.iterrows() for metric in ("train loss", "test loss")]
    swapped = root / "playground" / "regularised_swapped.csv"
    if swapped.exists():
        for _, r in pd.read_csv(swapped).iterrows():
            rows += [Row("seeds/004", "playground", f"table 2 read swapped: report's {r['report row']} "
                         f"against nnlab's {r['nnlab runs']}, {metric}", str(r[f"report {metric}"]),
                         r[metric], _pg_verdict(r[f"{metric}: verdict"]))
                     for metric in ("train loss", "test loss")]
    weights = table(root, "playground", "feature_weights")
    for _, r in weights[weights["regulariser"] != "none"].iterrows():
        stated, ours = r["report: inputs that mattered"], r["inputs that mattered"]
        same = set(stated.split(", ")) == set(ours.split(", "))
        rows.append(Row("seeds/004", "playground", f"table 2: {r['dataset']} {r['regulariser']}, inputs "
                        "that mattered", stated, ours, "matched" if same else "differs"))
    return rows


def _pg_verdict(text: str) -> str:
    return "matched (within the 5 seeds' range)" if text == "matched" else text


def _cell(value) -> str:
    """A markdown table cell: a | in the text (|dL2/dw|) would end the cell."""
    return str(value).replace("|", "\\|")


def _fmt(value) -> str:
    return f"{float(value):.4f}" if _number(value) else str(value)


EXPERIMENTS: dict[str, Callable[[Path], list[Row]]] = {
    "surfaces": surfaces, "xor": xor, "lr-batch": lr_batch, "vanishing": vanishing_rows,
    "cifar-ablation": cifar_ablation, "shift": shift, "playground": playground_rows,
    "fashion": fashion, "adversarial": adversarial,
}


# ---------------------------------------------------------------------- what each run used


def readme(root: Path, experiment: str) -> str:
    path = root / experiment / "README.md"
    return path.read_text() if path.exists() else ""


NO_DATASET = {"surfaces": "**Data:** none: one neuron over a grid of (w, b), as the report",
              "xor": "**Data:** the XOR truth table, as the report"}


def data_notes(root: Path, experiment: str) -> list[str]:
    notes = [line.strip() for line in readme(root, experiment).splitlines() if line.startswith("**Data")]
    return notes or ([NO_DATASET[experiment]] if experiment in NO_DATASET else [])


def commands(root: Path, experiment: str) -> list[str]:
    return [line.strip() for line in readme(root, experiment).splitlines()
            if line.startswith("    nnlab ") or line.startswith("    python ")]


def _stand_in(root: Path, experiment: str) -> bool:
    return any("stands in" in note for note in data_notes(root, experiment))


def _generated(root: Path, experiment: str) -> bool:
    return any("GENERATED" in note for note in data_notes(root, experiment))


# ---------------------------------------------------------------------- the document


def write(doc: Path, root: Path, record: dict) -> None:
    """Write the document from the experiments' folders under `root` and the run's record."""
    doc.parent.mkdir(parents=True, exist_ok=True)
    ran = record.get("experiments", {})
    lines = ["# Reproduction: every seed report's numbers next to nnlab's", "",
             "Written by `make reproduce-all` (`python scripts/reproduce.py all`), which runs every "
             "seed experiment (`make reproduce-NAME`) with its "
             + ("full settings (FULL=1)" if record.get("full") else "default, scaled-down settings")
             + " and then writes this page. The experiments below took "
             f"{sum(e.get('seconds', 0) for e in ran.values()) / 60:.0f} minutes in all on this machine "
             "(2 CPU cores shared with other jobs, no GPU); a time marked 'its folder' is that of the "
             "last run into the folder (`--resume` keeps completed experiments, and a rerun of one "
             "keeps its completed jobs, so it can be shorter than a first run). "
             "Each experiment's folder (outputs/reproduce/NAME/README.md) lists the exact `nnlab` "
             "commands, its tables and figures; the figures below are docs/gallery/.", "",
             "Verdicts: `matched` when nnlab's number is the report's within the stated tolerance "
             "(for the Playground tables: within the range of 5 seeds, widened by the site's three "
             "decimals), `differs` with the sign of the difference and the likely reason, `not "
             "comparable` where a stand-in replaces the report's data.", "",
             "| experiment | wall time | status |", "| --- | --- | --- |"]
    for name in dict.fromkeys([*ran, *EXPERIMENTS]):
        entry = ran.get(name)
        if entry is None:
            lines.append(f"| `make reproduce-{name}` | - | not run by this reproduce-all |")
            continue
        earlier = " (its folder, from an earlier run)" if entry.get("earlier") else ""
        lines.append(f"| `make reproduce-{name}` | {entry.get('seconds', 0):.0f} s{earlier} | "
                     f"{entry.get('status')}{': ' + entry['error'] if entry.get('error') else ''} |")
    rows: list[Row] = []
    problems = []
    for name, claims in EXPERIMENTS.items():
        try:
            rows += claims(root)
        except Exception as ex:  # noqa: BLE001 - a missing or failed experiment is named, not fatal
            problems.append(f"- `{name}`: its tables could not be read ({type(ex).__name__}: {ex})")
    if problems:
        lines += ["", "Not in the tables below:", "", *problems]
    for report, title in REPORTS.items():
        mine = [r for r in rows if r.report == report]
        lines += ["", f"## {report}: {title}", ""]
        experiments = list(dict.fromkeys(r.experiment for r in mine))
        for experiment in experiments:
            notes = data_notes(root, experiment) or ["**Data:** the report's own (generated toys or "
                                                     "real files), see the experiment's README"]
            lines.append(f"- `make reproduce-{experiment}`: " + " ".join(notes))
        lines += ["", "| what the report states | report | nnlab | verdict | experiment |",
                  "| --- | --- | --- | --- | --- |"]
        lines += ["| " + " | ".join(_cell(v) for v in (r.what, r.stated, r.ours, r.verdict, r.experiment))
                  + " |" for r in mine]
        for experiment in experiments:
            cmds = commands(root, experiment)
            if cmds:
                lines += ["", f"<details><summary>commands of reproduce-{experiment} "
                          f"({len(cmds)})</summary>", "", "```", *cmds, "```", "", "</details>"]
    lines += ["", "## The spiral with L2 (seeds/004 table 2)", ""]
    spiral = root / "playground" / "spiral_l2.csv"
    if spiral.exists():
        t = pd.read_csv(spiral)
        lines += ["| hypothesis | overrides | test loss, 5 seeds | seeds that learned | verdict |",
                  "| --- | --- | --- | --- | --- |"]
        lines += [f"| {r['hypothesis']} | `{r['overrides']}` | {r['test loss']} | {r['seeds that learned']} "
                  f"| {r['verdict']} |" for _, r in t.iterrows()]
    lines += ["", "## Figures", ""]
    for name in EXPERIMENTS:
        if (doc.parent / "gallery" / f"{name}.png").exists():
            lines += [f"![{name}](gallery/{name}.png)", "", f"*reproduce-{name}*", ""]
    lines += ["", f"(record: {json.dumps({k: v.get('status') for k, v in ran.items()})})"]
    doc.write_text("\n".join(lines) + "\n")


__all__ = ["Row", "write"]
