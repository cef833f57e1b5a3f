"""scripts/experiments/lr_batch.py (seeds/002): the lr x batch-size table it builds from
`nnlab report` output."""

from __future__ import annotations

import pandas as pd
from experiments import lr_batch  # scripts/ is on sys.path (tests/conftest.py)


def report_rows(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["optimizer.lr", "batch_size", "status", "final_test_acc"])


def test_lr_batch_table_marks_runs_not_made_and_runs_that_failed():
    jobs = report_rows([(0.1, 32, "completed", 0.9), (0.1, 64, "diverged", float("nan")),
                        (0.1, 128, "completed", 0.8), (0.01, 32, "completed", 0.7),
                        (0.01, 64, "completed", 0.6), (0.01, 128, "completed", 0.5),
                        (1e-05, 128, "completed", 0.1)])
    table = lr_batch.pivot(jobs, "final_test_acc")
    assert table.to_dict("records") == [
        {"lr": "0.1", "batch 32": "0.9000", "batch 64": "diverged", "batch 128": "0.8000"},
        {"lr": "0.01", "batch 32": "0.7000", "batch 64": "0.6000", "batch 128": "0.5000"},
        {"lr": "1e-05", "batch 32": "-", "batch 64": "-", "batch 128": "0.1000"},
    ]
