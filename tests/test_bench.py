"""scripts/bench.py (`make bench`) in --quick mode: it runs, and writes the tables it promises.
The figures themselves are meaningless at these sizes; only their presence and form are checked."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
import torch

from conftest import REPO

SCRIPTS = REPO / "scripts"
NUMBER = r"[0-9][0-9,]*(?:\.[0-9]+)?"


@pytest.fixture
def fashion_root(fake_data):
    """The session's small stand-in for Fashion-MNIST (300 training images) in torchvision's
    layout, so no test depends on (or spends seconds importing) the real files."""
    return fake_data


@pytest.fixture
def bench_modules(monkeypatch):
    monkeypatch.syspath_prepend(str(SCRIPTS))


def table_rows(markdown: str, heading: str) -> list[list[str]]:
    """The body rows of the first table after `heading`, as lists of cells."""
    section = markdown.split(heading, 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    assert len(lines) >= 3, section  # header, rule, at least one row
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]


def test_target_verdicts(bench_modules):
    from bench_common import Target

    assert Target("<=", 0.65).cells(0.65) == ["0.65x", "<= 0.65x", "PASS"]
    assert Target("<=", 0.65).cells(0.66)[2] == "MISS"
    assert Target("<", 3.0, " s").cells(3.0) == ["3.00 s", "< 3 s", "MISS"]
    assert Target(">=", 1.5).cells(2.0)[2] == "PASS" and Target(">=", 1.5).cells(1.4)[2] == "MISS"


def test_quick_run_writes_training_and_cuda_sections(tmp_path, fashion_root):
    out = tmp_path / "bench.md"
    env = {**os.environ, "NNLAB_DATA": str(fashion_root), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(SCRIPTS / "bench.py"), "--quick", "--only", "training",
                           "cuda", "--out", str(out)], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "[bench " in proc.stderr and "training: done" in proc.stderr  # progress on stderr
    text = out.read_text()
    assert text.startswith("# nnlab benchmarks") and "--quick" in text
    assert proc.stdout.strip() in text  # the sections also went to stdout
    machine = dict((row[0], row[1]) for row in table_rows(text, "## Machine"))
    assert {"CPU", "cores", "GPU", "torch"} <= set(machine) and torch.__version__ in machine["torch"]
    assert "## Attacks" not in text and "## Sweep" not in text and "## Start-up" not in text

    rows = table_rows(text, "## Training epoch (CPU)")
    assert [(r[0], r[1]) for r in rows] == [(m, b) for m in ("LeNet-5", "MLP 784-256-128-10",
                                                             "sigmoid stack, 40 x 64")
                                            for b in ("64", "256")]
    for row in rows:
        assert all(re.fullmatch(NUMBER, cell) for cell in row[2:5]), row  # seconds
        assert re.fullmatch(rf"{NUMBER}x", row[5]) and row[6] == ">= 1.8x" and row[7] in ("PASS", "MISS")
        assert re.fullmatch(rf"{NUMBER}x", row[8]) and row[9] == "<= 1.15x" and row[10] in ("PASS", "MISS")
    assert "300 training images" in text and str(fashion_root) in text

    if torch.cuda.is_available():
        assert len(table_rows(text, "## CUDA")) == 8
    else:
        assert "Skipped: no CUDA device" in text.split("## CUDA", 1)[1]


def test_cuda_measurements_run_on_any_device(tmp_path, fashion_root, bench_modules, monkeypatch):
    """The CUDA section's variants (bf16 autocast, channels_last) on CPU, where CI can run them."""
    from bench_common import Options
    from bench_cuda import MODELS, VARIANTS, measure

    monkeypatch.setenv("NNLAB_DATA", str(fashion_root))
    rows, used = measure(torch.device("cpu"), Options(quick=True, work=tmp_path), samples=128)
    assert used == 128
    assert [(r[0], r[2]) for r in rows] == [(m, v) for m in MODELS for v in VARIANTS]
    for row in rows:
        assert all(float(cell.replace(",", "")) > 0 for cell in row[3:5]), row  # samples/s
        assert row[6] == ">= 0.9x" and row[7] in ("PASS", "MISS")
    assert {r[8] for r in rows if r[2] == "fp32"} == {"1.00x"}  # the baseline of the last column
