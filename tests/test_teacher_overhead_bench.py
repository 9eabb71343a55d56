"""benchmarks/teacher_overhead.py: no seeds or no episodes is refused by name (not an unpacking error or a
division by zero after the timing)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import teacher_overhead as to  # noqa: E402


@pytest.mark.parametrize("bad, needle", [(["--seeds", "0"], "--seeds"), (["--episodes", "0"], "--episodes"),
                                         (["--episodes", "-3"], "--episodes")])
def test_empty_budgets_are_refused_by_name(capsys, bad: list[str], needle: str) -> None:
    with pytest.raises(SystemExit) as e:
        to.main(["--episodes", "10", "--seeds", "1", "--teachers", "uniform", *bad])
    assert e.value.code == 2
    assert needle in capsys.readouterr().err


def test_tiny_run_prints_a_row(capsys) -> None:
    assert to.main(["--episodes", "20", "--seeds", "2", "--teachers", "uniform"]) == 0
    assert "| uniform " in capsys.readouterr().out


@pytest.mark.parametrize("teachers, needle", [("uniform,alp-gmn", "alp-gmn"), ("uniform;alp-gmm:fit_rat=5", "fit_rat"),
                                              ("exp3", "discrete"),
                                              ("uniform,alp-gmm,uniform", "--teachers names uniform more"),
                                              # the help said "comma-separated": with settings this was the
                                              # unknown teacher 'uniform,alp-gmm', not a word about ';'
                                              ("uniform,alp-gmm:warm_start=true", "separated by ';'")])
def test_a_bad_teacher_is_refused_before_any_timing(capsys, monkeypatch, teachers: str, needle: str) -> None:
    # a typo'd name or setting (last in the list) was a traceback after timing every teacher before it
    monkeypatch.setattr(to, "time_teacher", lambda *a: pytest.fail("timed a teacher"))
    with pytest.raises(SystemExit) as e:
        to.main(["--episodes", "10", "--seeds", "1", "--teachers", teachers])
    assert e.value.code == 2 and needle in capsys.readouterr().err.split("error:", 1)[1]


def test_help_says_how_teachers_with_settings_are_separated(capsys) -> None:
    with pytest.raises(SystemExit):
        to.main(["--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "NAME:KEY=VALUE,KEY=VALUE" in out and "separated by ';'" in out
