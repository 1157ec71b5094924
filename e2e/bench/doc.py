"""docs/benchmarks.md is written by several benchmarks (docs/reliability.md by the chaos
suite's scenarios): each replaces its own part and keeps the others."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "benchmarks.md"


def replace_head(text: str, doc: Path = DOC) -> None:
    """The part before the first `## ` heading (e2e/bench/bench.py's)."""
    current = doc.read_text() if doc.exists() else ""
    match = re.search(r"^## ", current, flags=re.MULTILINE)
    rest = current[match.start():] if match else ""
    doc.write_text(text.rstrip("\n") + "\n\n" + rest if rest else text)


def replace_section(heading: str, body: str, doc: Path = DOC) -> None:
    """`## heading` and its text up to the next `## ` heading; appended when missing."""
    current = doc.read_text() if doc.exists() else ""
    section = f"## {heading}\n\n{body.strip()}\n"
    pattern = re.compile(rf"^## {re.escape(heading)}\n.*?(?=^## |\Z)", flags=re.MULTILINE | re.DOTALL)
    if pattern.search(current):
        updated = pattern.sub(lambda _: section + "\n", current, count=1).rstrip("\n") + "\n"
    else:
        updated = current.rstrip("\n") + "\n\n" + section
    doc.write_text(updated)
