r"""report.tex (`nnlab report --latex`): report.md's result tables as LaTeX tables in booktabs
style (\toprule, \midrule, \bottomrule; a pivot's column key spans its columns over a
\cmidrule), ready to \input{report.tex} in a paper with \usepackage{booktabs}.

Written: the final-epoch table (mean ± std when aggregated, the best in bold), and, when present,
the distribution per combination and the --threshold shares. Every cell is escaped: `_`, `%`,
`&`, `#`, `$`, `{`, `}`, `~`, `^` and `\` print as themselves; `±`, `>=` and `<=` become math.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from nnlab.report.markdown import Table, distribution_table, pivot_table, threshold_heading, threshold_table

if TYPE_CHECKING:
    from nnlab.report.result import Report

_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
            "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
            ">=": r"$\geq$", "<=": r"$\leq$", ">": r"$>$", "<": r"$<$", "±": r"$\pm$", "≥": r"$\geq$",
            "≤": r"$\leq$"}
_TOKEN = re.compile(r">=|<=|.", re.DOTALL)


def escape(text: str) -> str:
    """Text as LaTeX prints it literally."""
    return "".join(_SPECIAL.get(token, token) for token in _TOKEN.findall(str(text)))


def cell(text: str) -> str:
    """A cell of a markdown table: **bold** becomes \\textbf{...}."""
    text = str(text)
    if len(text) > 4 and text.startswith("**") and text.endswith("**"):
        return rf"\textbf{{{escape(text[2:-2])}}}"
    return escape(text)


def tabular(table: Table) -> str:
    """One booktabs tabular: key columns left-aligned, numbers right-aligned."""
    keys = len(table.row_keys) if table.col_key else table.keys
    width = len(table.header)
    lines = [rf"\begin{{tabular}}{{{'l' * keys}{'r' * (width - keys)}}}", r"\toprule"]
    if table.col_key:  # the column key over its values, the row keys under it
        lines.append(" & " * keys + rf"\multicolumn{{{width - keys}}}{{c}}{{{escape(table.col_key)}}} \\")
        lines.append(rf"\cmidrule(l){{{keys + 1}-{width}}}")
        header = [*table.row_keys, *table.header[keys:]]
    else:
        header = table.header
    lines += [" & ".join(escape(h) for h in header) + r" \\", r"\midrule"]
    lines += [" & ".join(cell(c) for c in row) + r" \\" for row in table.rows]
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines)


def float_table(table: Table, caption: str, label: str) -> str:
    return "\n".join([r"\begin{table}[ht]", r"\centering", rf"\caption{{{escape(caption)}}}",
                      rf"\label{{tab:{label}}}", tabular(table), r"\end{table}", ""])


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def latex(report: Report, metric: str, source: str) -> str:
    """report.tex: a table float per result table of report.md."""
    over = report.aggregate
    parts = [f"% nnlab report {escape(source)}: report.md's tables (needs \\usepackage{{booktabs}})", "",
             float_table(pivot_table(report, metric, "final"),
                         f"{metric} at the final epoch" + (
                             f": mean ± sample std over {over} of the jobs that completed (n); "
                             "the best mean in bold" if over else "; the best in bold"),
                         f"nnlab-{metric}-final")]
    if over:
        parts.append(float_table(distribution_table(report, metric),
                                 f"{metric} at the final epoch per combination, over {over}: "
                                 "mean ± std and quantiles of the jobs that completed",
                                 f"nnlab-{metric}-distribution"))
    if report.threshold is not None:
        parts.append(float_table(threshold_table(report), _sentence(threshold_heading(report)),
                                 f"nnlab-{report.threshold.metric}-threshold"))
    return "\n".join(parts)
