"""seeds/000 problem 3: batch size {32, 64, 128} x learning rate {0.1, 0.01, 0.001}, plus the very
low rate 1e-5 at batch 128, for LeNet-5 with plain SGD on MNIST: learning curves and a table of
test accuracy and loss."""

from __future__ import annotations

import pandas as pd

from experiments.common import Context, ReproduceError, mnist_or_stand_in
from nnlab import runs

DESCRIPTION = "batch size x learning rate grid (LeNet-5, SGD): learning curves and table"
SEED = "seeds/000 problem 3"

BATCHES, RATES = (32, 64, 128), (0.1, 0.01, 0.001)
LOW_RATE, LOW_RATE_BATCH = 0.00001, 128  # the report's "very low learning rate example"


def run(ctx: Context) -> None:
    epochs = 20 if ctx.full else 5
    # Scaled down: the first 12000 training images (2000 held out for validation), so ten runs
    # take minutes on a laptop CPU; FULL=1 trains on all 60000 (5000 validation).
    size = [] if ctx.full else ["dataset.train_size=12000", "dataset.val_size=2000"]
    # cpu_threads=1: LeNet's small convolutions gain little from a second thread on a laptop
    common = ["experiment=lr_batch_lenet", *mnist_or_stand_in(ctx), *size, f"epochs={epochs}",
              "cpu_threads=1", "progress=false"]
    sweep, low = ctx.out / "sweep", ctx.out / "runs" / "lr_1e-5"
    # lr typed before batch_size: the report's tables and grid put batch sizes across
    # A run that diverges (exit 1 from the sweep, 3 from a run) is a result here, not a failure:
    # the tables show its status.
    sweep_rc = ctx.nnlab("train", "-m", *common, f"optimizer.lr={','.join(map(str, RATES))}",
                         f"batch_size={','.join(map(str, BATCHES))}", f"hydra.sweep.dir={sweep}",
                         check=False).returncode
    low_rc = ctx.nnlab("train", *common, f"optimizer.lr={LOW_RATE}", f"batch_size={LOW_RATE_BATCH}",
                       f"hydra.run.dir={low}", check=False).returncode
    if sweep_rc not in (0, 1) or low_rc not in (0, 3):
        raise ReproduceError(f"training failed (sweep exit {sweep_rc}, low-rate run exit {low_rc})")
    # One report over the grid and the low-rate run: its accuracy tables, then its loss tables
    # (curves.png draws both).
    acc, loss = ctx.out / "report_acc", ctx.out / "report_loss"
    ctx.nnlab("report", sweep, low, "--out", acc, "--metric", "test_acc")
    ctx.nnlab("report", sweep, low, "--out", loss, "--metric", "test_loss")
    ctx.note("The report does not name the network, optimizer or number of epochs; we train "
             "`experiment=lr_batch_lenet` (LeNet-5, plain SGD without momentum) for "
             f"{epochs} epochs" + ("." if ctx.full else " on 10000 training images (FULL=1: all "
                                                        "55000, 20 epochs)."))

    ctx.heading("Result")
    jobs = pd.read_csv(acc / "report.csv")
    ctx.table("test_accuracy", pivot(jobs, "final_test_acc"), f"Test accuracy after {epochs} epochs "
              "(rows: learning rate, columns: batch size; '-' = not run, as in the report).")
    ctx.table("test_loss", pivot(jobs, "final_test_loss"), f"Test loss after {epochs} epochs.")
    runs = jobs.sort_values(["batch_size", "optimizer.lr"], ascending=[True, False])
    runs = pd.DataFrame({"lr": [f"{lr:g}" for lr in runs["optimizer.lr"]], "batch": runs["batch_size"],
                         "status": runs["status"], "best epoch": runs["best_epoch"],
                         **{k: runs[f"final_{k}"] for k in ("train_loss", "val_loss", "val_acc", "test_acc")},
                         "seconds": [f"{t:.1f}" for t in runs["wall_time_s"]]})
    ctx.table("runs", runs,
              "Every run (best_epoch: lowest validation loss; a best epoch well before the last "
              "is the over-fitting the report describes).")
    ctx.figure(acc / "curves.png", "loss (top) and accuracy (bottom) per epoch (train, validation, test), "
               "a pair of panels per run")
    ctx.note(f"nnlab report's own tables: [{acc.name}/report.md]({acc.name}/report.md), "
             f"[{loss.name}/report.md]({loss.name}/report.md).")


def pivot(jobs: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Rows: learning rate (high to low); columns: batch size. A cell is the metric, the status of
    a run that did not complete (e.g. diverged), or '-' where the pair was not run."""
    rows = []
    for lr in sorted(set(jobs["optimizer.lr"]), reverse=True):
        row = {"lr": f"{lr:g}"}
        for batch in BATCHES:
            job = jobs[(jobs["optimizer.lr"] == lr) & (jobs["batch_size"] == batch)]
            if job.empty:
                row[f"batch {batch}"] = "-"
            elif job["status"].iloc[0] not in runs.FINISHED:
                row[f"batch {batch}"] = job["status"].iloc[0]
            else:
                row[f"batch {batch}"] = f"{float(job[metric].iloc[0]):.4f}"
        rows.append(row)
    return pd.DataFrame(rows)
