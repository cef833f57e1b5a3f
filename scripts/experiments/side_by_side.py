"""docs/REPRODUCTION.md: every number a seed report states next to nnlab's (filled in below)."""

from __future__ import annotations

from pathlib import Path


def write(doc: Path, root: Path, record: dict) -> None:
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text("# Reproduction\n\n(pending)\n")
