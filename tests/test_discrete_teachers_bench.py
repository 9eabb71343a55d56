"""benchmarks/discrete_teachers.py: bad budgets are refused by name before any run, and a tiny run prints its table."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import discrete_teachers as dt  # noqa: E402

TINY = ["--teachers", "uniform", "--variants", "default", "--workers", "1"]


@pytest.mark.parametrize("bad, needle", [(["--seeds", "0"], "--seeds"), (["--steps", "0"], "--steps"),
                                         (["--steps", "-5"], "--steps"), (["--every", "0"], "--every"),
                                         (["--workers", "0"], "--workers"),
                                         (["--teachers", "uniform", "uniform"], "--teachers names uniform more")])
def test_bad_budgets_are_refused_by_name(capsys, bad: list[str], needle: str) -> None:
    with pytest.raises(SystemExit) as e:
        dt.main(["--steps", "40", "--seeds", "1", *TINY, *bad])
    assert e.value.code == 2
    assert needle in capsys.readouterr().err.split("error:", 1)[1]  # in the message, not only the usage line


def test_tiny_run_prints_the_table(capsys) -> None:
    assert dt.main(["--steps", "40", "--seeds", "2", "--every", "10", *TINY]) == 0
    out = capsys.readouterr().out
    assert "default      uniform" in out and "with 1 workers" in out
