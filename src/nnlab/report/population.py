"""`nnlab report --threshold 'test_acc>=0.95'`: per combination of the swept keys (over the seeds,
when they are aggregated), the share of the jobs that completed whose final metric meets the
threshold, with its 95% Wilson score interval and its counts.

Why Wilson's interval: a share of k successes in n is a binomial proportion, and the plain
p ± 1.96 sqrt(p (1 - p) / n) collapses to a width of zero at 0 of 200 or 200 of 200, exactly where
a population sweep's answers often are; Wilson's stays inside [0, 1] and keeps a width there
(Agresti & Coull 1998, Brown, Cai & DasGupta 2001).
"""

from __future__ import annotations

import math
import operator
import re
from dataclasses import dataclass

import pandas as pd

from nnlab.errors import UserError, choice_error
from nnlab.report.aggregate import Group

Z95 = 1.959963984540054  # the standard normal's 97.5% quantile
OPERATORS = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt}
_FORM = re.compile(r"\s*([A-Za-z_]\w*)\s*(>=|<=|>|<)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*")


@dataclass(frozen=True)
class Threshold:
    metric: str  # test_acc: compared at the final epoch (report.csv's final_test_acc)
    op: str  # one of OPERATORS
    value: float

    def __str__(self) -> str:  # 'test_acc >= 0.95'
        return f"{self.metric} {self.op} {self.value:g}"

    def met(self, numbers: pd.Series) -> pd.Series:
        return OPERATORS[self.op](numbers, self.value)


def parse_threshold(text: str, metrics: list[str]) -> Threshold:
    """'test_acc>=0.95' -> Threshold; anything else is one line naming the valid forms."""
    match = _FORM.fullmatch(text)
    if not match:
        raise UserError(f"--threshold {text!r}: write METRIC OP NUMBER, e.g. --threshold 'test_acc>=0.95' "
                        f"(OP: {', '.join(OPERATORS)}; METRIC: {', '.join(metrics)}); quote it in the shell")
    metric, op, number = match.groups()
    if metric not in metrics:
        raise choice_error("--threshold metric", metric, metrics)
    return Threshold(metric, op, float(number))


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a proportion k / n (n > 0)."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def shares(table: pd.DataFrame, groups: list[Group], keys: list[str], threshold: Threshold) -> pd.DataFrame:
    """report_threshold.csv: a row per group with its keys' values, the threshold, n_planned (its
    jobs, run or not), n (those that completed with a number), k (of those, the ones that meet it),
    share = k / n, and the 95% Wilson interval (ci_low, ci_high); no share where n = 0."""
    column = f"final_{threshold.metric}"
    rows = []
    for group in groups:
        numbers = pd.to_numeric(table[column].iloc[group.completed], errors="coerce").dropna() \
            if column in table else pd.Series(dtype=float)
        n, k = len(numbers), int(threshold.met(numbers).sum())
        low, high = wilson(k, n) if n else (None, None)
        rows.append({**dict(zip(keys, group.combo, strict=True)), "threshold": str(threshold),
                     "n_planned": len(group.rows), "n": n, "k": k, "share": k / n if n else None,
                     "ci_low": low, "ci_high": high})
    return pd.DataFrame(rows)


def share_cells(row: pd.Series) -> list[str]:
    """A row of report.md's table: share, its interval, and 'k of n' (with the jobs left out)."""
    n, planned = int(row["n"]), int(row["n_planned"])
    counted = f"{int(row['k'])} of {n}" + (f" (n={n} of {planned} completed)" if n < planned else "")
    if not n:
        return ["-", "-", counted]
    return [f"{row['share']:.3f}", f"[{row['ci_low']:.3f}, {row['ci_high']:.3f}]", counted]
