"""benchmarks/rl_curriculum.py: bad budgets and a typo'd teacher are refused by name before any run (not a
ZeroDivisionError inside a worker, nor a median of no seeds after the runs)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import rl_curriculum as rc  # noqa: E402


@pytest.mark.parametrize("bad, needle", [(["--seeds", "0"], "--seeds"), (["--evals", "0"], "--evals"),
                                         (["--n-envs", "0"], "--n-envs"), (["--budget-scale", "0"], "--budget-scale"),
                                         (["--teachers", "uniform", "alp-gmn"], "alp-gmn")])
def test_bad_budgets_and_teachers_are_refused_by_name(tmp_path, capsys, monkeypatch, bad, needle) -> None:
    monkeypatch.setattr(rc, "run_one", lambda job: pytest.fail("ran a job"))
    with pytest.raises(SystemExit) as e:
        rc.main(["--envs", "cliff", "--teachers", "uniform", "--workers", "1", "--out", str(tmp_path), *bad])
    assert e.value.code == 2
    assert needle in capsys.readouterr().err.split("error:", 1)[1]  # in the message, not only the usage line
