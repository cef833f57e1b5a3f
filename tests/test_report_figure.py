"""curves.png of `nnlab report` (src/nnlab/report/figure.py): what its bands and lines show."""

from __future__ import annotations

import pandas as pd

from nnlab.report.command import write_report
from test_report_differences import config, write_run


def test_std_bands_of_a_loss_stop_at_zero_and_of_an_accuracy_at_one(tmp_path, pyplot_figures):
    """Two seeds far apart: mean - std of the loss is below 0, mean + std of the accuracy above 1;
    the bands are cut there, the mean lines are not changed."""
    finals = ((0.05, 0.99), (3.0, 0.3), (0.05, 0.99))
    for seed, (loss, acc) in enumerate(finals):
        metrics = pd.DataFrame({"epoch": [1, 2], "train_loss": [2.5, loss], "train_acc": [0.3, acc]})
        write_run(tmp_path / "sweep", str(seed), config(seed=seed), [f"seed={seed}"], metrics=metrics)
    report = write_report([tmp_path / "sweep"], tmp_path / "rep", "train_acc")
    assert report.aggregate == "seed"
    fig = pyplot_figures[0]  # curves.png (distribution.png follows)
    loss, acc = fig.axes
    losses, accs = (pd.Series(column) for column in zip(*finals, strict=True))
    assert losses.mean() - losses.std() < 0 and accs.mean() + accs.std() > 1  # what the bands cut
    assert list(loss.lines[0].get_ydata()) == [2.5, losses.mean()]
    low = loss.collections[0].get_paths()[0].vertices[:, 1]
    high = acc.collections[0].get_paths()[0].vertices[:, 1]
    assert low.min() == 0 and high.max() == 1
