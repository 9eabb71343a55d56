"""Figures the docs quote from the suite table of docs/which-teacher.md (the one results table the repository holds,
written by `magister bench --suite standard --write-docs`) agree with that table."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def suite_variant(variant: str) -> tuple[int, list[tuple[str, int, int, int, int]]]:
    """The ceiling (% mastered) of ``variant`` in the suite table and its rows: (teacher, median, min, max,
    % of ceiling)."""
    text = (DOCS / "which-teacher.md").read_text(encoding="utf-8")
    table = text.split("<!-- suite-table:start -->", 1)[1].split("<!-- suite-table:end -->", 1)[0]
    block = table.split(f"\n**{variant}** (", 1)[1].split("\n**", 1)[0]
    ceiling = int(re.search(r"ceiling (\d+)% mastered\)", block).group(1))
    rows = [(m[1], int(m[2]), int(m[3]), int(m[4]), int(m[5]))
            for m in re.finditer(r"^\| ([\w-]+) \| (\d+) \[(\d+)-(\d+)\] \| (\d+)", block, re.M)]
    assert rows, variant
    return ceiling, rows


def test_benchs_grid_hard_ceiling_names_the_teacher_the_suite_table_shows_reaching_it() -> None:
    """docs/bench.md said every teacher was still far from grid-hard's ceiling, riac-plus (51%) the closest, "which
    stays the open problem", while the suite table shows frontier at 84 [78-90], 100% of that ceiling."""
    ceiling, rows = suite_variant("grid-hard")
    teacher, median, low, high, share = max(rows, key=lambda row: row[4])
    text = (DOCS / "bench.md").read_text(encoding="utf-8")
    paragraph = " ".join(text[text.index("On `grid-hard` at most"):].split("\n\n", 1)[0].split())
    assert f"at most {ceiling}%" in paragraph, paragraph
    assert f"`{teacher}`" in paragraph and f"{median} [{low}-{high}]" in paragraph, (teacher, paragraph)
    if share >= 95:  # a teacher at the ceiling: the paragraph may not call it out of reach
        assert "open problem" not in paragraph, paragraph
