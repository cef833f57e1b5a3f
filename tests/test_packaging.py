"""The wheel carries the config tree, so an installed nnlab works from any directory."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_package_list_matches_source_tree():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(REPO / "src").parts)
             for p in (REPO / "src").rglob("__init__.py")}
    assert listed == found | {"nnlab.configs"}


@pytest.mark.slow
def test_wheel_contains_every_config(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path),
                    str(REPO)], check=True, capture_output=True)
    wheel = next(tmp_path.glob("nnlab-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    configs = {f"nnlab/configs/{p.relative_to(REPO / 'configs')}"
               for p in (REPO / "configs").rglob("*.yaml")}
    assert configs and configs <= names
    assert "nnlab/configs/__init__.py" in names and "nnlab/cli.py" in names
