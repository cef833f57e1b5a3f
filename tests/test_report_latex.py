"""`nnlab report --latex` (src/nnlab/report/latex.py): report.tex, booktabs tables of report.md's
results; and --out, which names a folder."""

from __future__ import annotations

import re

import pytest

from conftest import nnlab
from nnlab.report.latex import escape
from test_report import md_table
from test_report_aggregate import write_sweep
from test_report_differences import config, write_run


def test_escape_prints_special_characters_as_themselves():
    assert escape("a_b 50% R&D #1 $5 {x} ~y ^z \\") == \
        r"a\_b 50\% R\&D \#1 \$5 \{x\} \textasciitilde{}y \textasciicircum{}z \textbackslash{}"
    assert escape("acc >= 0.95, loss <= 1 ± 0.1") == r"acc $\geq$ 0.95, loss $\leq$ 1 $\pm$ 0.1"


def tabulars(tex: str) -> list[str]:
    return re.findall(r"\\begin\{tabular\}.*?\\end\{tabular\}", tex, re.DOTALL)


def test_latex_writes_the_pivot_distribution_and_shares_as_booktabs_tables(tmp_path):
    sweep = write_sweep(tmp_path / "sweep")
    proc = nnlab("report", str(sweep), "--latex", "--threshold", "test_acc>=0.75", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "report.tex" in proc.stdout.splitlines()[-1]
    tex = (sweep / "report.tex").read_text()
    final, distribution, shares = tabulars(tex)
    for table in (final, distribution, shares):
        assert table.count(r"\toprule") == table.count(r"\midrule") == table.count(r"\bottomrule") == 1
    markdown = (sweep / "report.md").read_text()
    pivot = md_table(markdown, "## test_acc, final epoch")
    # the same rows as report.md's table, escaped; the best mean in bold
    body = final.split(r"\midrule")[1].split(r"\bottomrule")[0].strip().splitlines()
    best = pivot[1][1].strip("*").replace("±", r"$\pm$")
    assert body[0] == pivot[1][0] + r" & \textbf{" + best + r"} \\"
    assert r"optimizer.lr & test\_acc \\" in final and r"\begin{tabular}{lr}" in final
    assert r"25\%" in distribution and r"0.500 & [0.150, 0.850] & 2 of 4 (n=4 of 5 completed) \\" in shares
    assert r"\caption{Share of the completed jobs with test\_acc $\geq$ 0.75" in tex

    assert nnlab("report", str(sweep), cwd=tmp_path).returncode == 0
    assert not (sweep / "report.tex").exists()  # not left to contradict the new report.md


def test_a_pivot_of_two_keys_spans_its_column_key(tmp_path):
    """lr down, batch size across: the batch size over its values, under a \\cmidrule."""
    for num, (lr, batch) in enumerate((lr, b) for lr in (0.1, 0.01) for b in (10, 32)):
        write_run(tmp_path / "sweep", str(num), config(batch_size=batch, **{"optimizer.lr": lr}),
                  [f"optimizer.lr={lr}", f"batch_size={batch}"], acc=0.5 + num / 10)
    assert nnlab("report", str(tmp_path / "sweep"), "--latex", cwd=tmp_path).returncode == 0
    (final,) = tabulars((tmp_path / "sweep" / "report.tex").read_text())
    assert final.splitlines()[:6] == [
        r"\begin{tabular}{lrr}", r"\toprule", r" & \multicolumn{2}{c}{batch\_size} \\",
        r"\cmidrule(l){2-3}", r"optimizer.lr & 10 & 32 \\", r"\midrule"]
    assert r"0.1 & 0.5000 & 0.6000 \\" in final


@pytest.mark.parametrize("out", ["x.tex", "table.md", "out/report.CSV"])
def test_out_is_a_folder_and_a_file_name_is_refused(tmp_path, out):
    sweep = write_sweep(tmp_path / "sweep")
    proc = nnlab("report", str(sweep), "--out", out, "--latex", cwd=tmp_path)
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith(f"nnlab: error: report: --out {out}: --out is the folder the "
                                  "report's files go into"), proc.stderr
    assert not (tmp_path / out).exists() and not (sweep / "report.md").exists()
    if out == "x.tex":
        assert "e.g. --out x --latex writes report.tex there" in proc.stderr

    # a dot in a folder's name is no file ending
    assert nnlab("report", str(sweep), "--out", "reports.v2", cwd=tmp_path).returncode == 0
    assert (tmp_path / "reports.v2" / "report.md").is_file()
