"""What `nnlab report` found: the tables and which figures it wrote (the command builds it,
markdown.py and latex.py write it out). A module of its own so that they need not import the
command."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from nnlab.report import aggregate as agg
from nnlab.report.differences import Differences
from nnlab.report.population import Threshold


@dataclass
class Report:
    table: pd.DataFrame  # report.csv
    swept: list[str]  # the pivot's axes: a key per set of keys that differ together (--columns last)
    constant: dict[str, str]  # keys typed in every job, with the same value in all
    panels: list[tuple[int, int, str]]  # curves.png: (row, column, title) per panel
    out: Path
    aggregate: str | None = None  # the swept key averaged over, if any
    aggregated: pd.DataFrame | None = None  # report_aggregated.csv, a row per group
    groups: list[agg.Group] = field(default_factory=list)  # the jobs of each aggregated row
    probes: list = field(default_factory=list)  # probes.Overlay per probe_<name>.png written
    differences: Differences | None = None  # every key that differs, and which go together
    threshold: Threshold | None = None  # --threshold
    shares: pd.DataFrame | None = None  # report_threshold.csv: a row per combination of `keys`
    distribution: bool = False  # distribution.png written
    latex: bool = False  # report.tex written

    @property
    def keys(self) -> list[str]:
        """The pivot's keys: rows all but the last, columns the last; the aggregated one is not."""
        return [k for k in self.swept if k != self.aggregate]
