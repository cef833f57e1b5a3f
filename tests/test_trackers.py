"""logger=tensorboard (train/trackers.py): every metrics.csv row as scalars, the last one included
when a Ctrl-C stops the run. In-process runs in a tmp folder."""

from __future__ import annotations

import pandas as pd
import pytest

from train_helpers import in_tmp_folder, interrupt_after, nnlab_train  # noqa: F401 - in_tmp_folder is autouse

pytest.importorskip("tensorboard")


def _logged_epochs(run_dir, tag: str = "loss/train") -> list[int]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir / "tensorboard"))
    events.Reload()
    return [event.step for event in events.Scalars(tag)]


def test_tracker_logs_every_metrics_row(tmp_path):
    assert nnlab_train("hydra.run.dir=run", "epochs=3", "plots=false", "logger=tensorboard") == 0
    assert _logged_epochs(tmp_path / "run") == [1, 2, 3]
    assert _logged_epochs(tmp_path / "run", "acc/test") == [1, 2, 3]


def test_tracker_has_the_last_epoch_of_an_interrupted_run(tmp_path, monkeypatch):
    interrupt_after(monkeypatch, 2)
    assert nnlab_train("hydra.run.dir=run", "epochs=5", "plots=false", "logger=tensorboard") == 130
    rows = pd.read_csv(tmp_path / "run" / "metrics.csv")
    assert list(rows["epoch"]) == [1, 2]
    assert _logged_epochs(tmp_path / "run") == [1, 2]
