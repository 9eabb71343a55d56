"""benchmarks/level_teachers.py: a typo'd space (which would be timed on mazes under its own label), teacher or
empty budget is refused by name before any timing."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import level_teachers as lt  # noqa: E402


@pytest.mark.parametrize("bad, needle", [(["--spaces", "seedz"], "--spaces"), (["--spaces", "seeds,maze"], "--spaces"),
                                         (["--teachers", "plrr"], "--teachers"), (["--seeds", "0"], "--seeds"),
                                         (["--calls", "0"], "--calls"), (["--sizes", "0"], "--sizes"),
                                         (["--sizes", "1k"], "--sizes"),
                                         (["--teachers", "uniform,uniform"], "--teachers names uniform more")])
def test_bad_options_are_refused_by_name(capsys, monkeypatch, bad: list[str], needle: str) -> None:
    monkeypatch.setattr(lt, "time_teacher", lambda *a: pytest.fail("timed a teacher"))
    with pytest.raises(SystemExit) as e:
        lt.main(["--calls", "5", "--seeds", "1", "--sizes", "10", "--spaces", "seeds", "--teachers", "uniform", *bad])
    assert e.value.code == 2
    assert needle in capsys.readouterr().err.split("error:", 1)[1]  # in the message, not only the usage line


def test_tiny_run_times_each_space_under_its_name(capsys) -> None:
    lt.main(["--calls", "5", "--seeds", "1", "--sizes", "10", "--spaces", "seeds,mazes", "--teachers", "uniform,plr"])
    out = capsys.readouterr().out
    assert "uniform       seeds" in out and "plr           mazes" in out
