"""README's "Detection quality" tables are exactly what ``app.training.report_tables``
renders from the committed docs/evaluation/report.json, so they cannot drift."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.training.report_tables import README_END, README_START, readme_block, replace_between

ROOT = Path(__file__).resolve().parents[2]
REPORT = ROOT / "docs" / "evaluation" / "report.json"


def test_readme_tables_match_the_committed_report() -> None:
    report = json.loads(REPORT.read_text())
    block = readme_block(report)
    readme = (ROOT / "README.md").read_text()
    assert f"{README_START}\n{block}\n{README_END}" in readme
    # the block carries the figures: every clean stretch and event has its row
    for row in report["clean_stretches"] + report["events"]:
        assert f"| {row['name']} |" in block


def test_replace_between_needs_both_markers() -> None:
    text = f"a\n{README_START}\nold\n{README_END}\nb\n"
    assert replace_between(text, README_START, README_END, "new") == (
        f"a\n{README_START}\nnew\n{README_END}\nb\n"
    )
    with pytest.raises(ValueError, match="markers not found"):
        replace_between("no markers", README_START, README_END, "new")
