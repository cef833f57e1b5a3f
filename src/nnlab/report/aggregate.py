"""Statistics over one swept key (the seed, by default) for `nnlab report`.

Jobs that differ only in the aggregated key form a group, one per combination of the other swept
keys. A group's number is the mean over its jobs that completed (status completed or
early_stopped) and their sample standard deviation (ddof=1: n - 1 in the denominator, the usual
estimate from a handful of seeds); jobs that did not complete are left out of both and counted,
`n=4 of 5`. One job alone has no spread, so its cell has no ±.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import pandas as pd

from nnlab.errors import UserError, choice_error
from nnlab.report.jobs import OK_STATUSES, rank, value

DEFAULT_KEY = "seed"  # aggregated by default when it is swept
OFF = "none"  # --aggregate none
# Per metric besides mean and std: the five-number summary (quantiles interpolated linearly,
# pandas' default, as numpy.percentile)
QUANTILES = {"min": 0.0, "q25": 0.25, "median": 0.5, "q75": 0.75, "max": 1.0}


@dataclass
class Group:
    combo: tuple[str, ...]  # the other swept keys' values ("-" where a job has none)
    rows: list[int]  # its jobs' positions in the report's table (the same as in its job list)
    completed: list[int]  # of those, the jobs whose numbers count
    statuses: list[str]  # every job's status, in order


def choose_key(requested: str | None, swept: list[str], table: pd.DataFrame) -> str | None:
    """The key to aggregate over: the one --aggregate names (it must be swept), none for
    `--aggregate none`; by default the seed, when it is swept and at least one combination of the
    other keys ran more than one seed (else there is nothing to average)."""
    if requested == OFF:
        return None
    if requested is not None:
        if requested not in swept:
            raise (choice_error("--aggregate (a swept parameter, or none)", requested, swept) if swept
                   else UserError(f"--aggregate {requested}: no parameter differs between these jobs"))
        return requested
    if DEFAULT_KEY not in swept:
        return None
    others = [k for k in swept if k != DEFAULT_KEY]
    combos = [tuple(value(v) for v in row) for row in table[others].itertuples(index=False)]
    return DEFAULT_KEY if len(set(combos)) < len(combos) else None


def groups(table: pd.DataFrame, keys: list[str], levels: dict[str, list[str]]) -> list[Group]:
    """The jobs grouped by their values of `keys`, in the order of the keys' levels."""
    found: dict[tuple, Group] = {}
    combos = zip(*(table[k] for k in keys), strict=True) if keys else ((),) * len(table)
    for i, (values, status) in enumerate(zip(combos, table["status"], strict=True)):
        combo = tuple(value(v) for v in values)
        group = found.setdefault(combo, Group(combo, [], [], []))
        group.rows.append(i)
        group.statuses.append(status)
        if status in OK_STATUSES:
            group.completed.append(i)
    return sorted(found.values(), key=lambda g: rank(g.combo, keys, levels))


def aggregated_table(table: pd.DataFrame, found: list[Group], keys: list[str], over: str) -> pd.DataFrame:
    """report_aggregated.csv: a row per group with n (completed jobs), n_planned (all its jobs, run
    or not), the jobs left out and why, and each final_/best_ metric's mean, std, min, q25,
    median, q75 and max (over a group's completed jobs that have a number)."""
    metrics = [c for c in table.columns if c.startswith(("final_", "best_")) and c != "best_epoch"]
    # one groupby over the completed jobs for every statistic (thousands of groups stay fast)
    positions = [i for group in found for i in group.completed]
    number = pd.Series([k for k, group in enumerate(found) for _ in group.completed], index=positions,
                       dtype=int)
    done = table[metrics].iloc[positions].apply(pd.to_numeric, errors="coerce")
    done.index = positions
    by = done.groupby(number)
    every = range(len(found))
    stats = {"mean": by.mean().reindex(every), "std": by.std(ddof=1).reindex(every)}
    for name, q in QUANTILES.items():  # the tail a mean and std hide
        stats[name] = by.quantile(q).reindex(every)
    rows = []
    for k, group in enumerate(found):
        completed = set(group.completed)
        left_out = [i for i in group.rows if i not in completed]
        row = {**dict(zip(keys, group.combo, strict=True)), "n": len(group.completed),
               "n_planned": len(group.rows)}
        for metric in metrics:
            for name, values in stats.items():
                v = values.at[k, metric]
                row[f"{metric}_{name}"] = None if pd.isna(v) else float(v)
        row["left_out"] = "; ".join(f"{over}={value(table[over].iat[i])} ({table['status'].iat[i]})"
                                    for i in left_out)
        rows.append(row)
    return pd.DataFrame(rows)


def cell(row: pd.Series, column: str, group: Group, bold: bool = False) -> str:
    """'0.9120 ± 0.0110 (n=5)'; 'n=4 of 5' when a job did not complete; no ± for a single job;
    what became of the jobs when none completed ('not run (n=0 of 2)')."""
    n, planned = int(row["n"]), int(row["n_planned"])
    count = f"n={n}" + (f" of {planned}" if n < planned else "")
    mean, std = row.get(f"{column}_mean"), row.get(f"{column}_std")
    if mean is None or pd.isna(mean):
        left_out = Counter(s for s in group.statuses if s not in OK_STATUSES)
        what = (next(iter(left_out)) if len(left_out) == 1 else
                ", ".join(f"{k} {s}" for s, k in left_out.items()) or "-")
        return f"{what} ({count})"
    text = f"{mean:.4f}" + ("" if std is None or pd.isna(std) else f" ± {std:.4f}") + f" ({count})"
    return f"**{text}**" if bold else text


def best_mean(aggregated: pd.DataFrame, column: str, higher_is_better: bool) -> float | None:
    means = aggregated[f"{column}_mean"].dropna() if f"{column}_mean" in aggregated else pd.Series()
    if means.empty:
        return None
    return means.max() if higher_is_better else means.min()
