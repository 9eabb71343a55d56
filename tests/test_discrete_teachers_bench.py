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


def _table(text: str) -> list[str]:
    """The table's rows without the timing column (and the wall time line)."""
    return [line.rsplit(maxsplit=1)[0] for line in text.splitlines() if line and not line.startswith("wall time")]


def test_a_pool_of_workers_prints_the_same_table_as_one_worker(capsys):
    # the pool is magister.bench.runner's (run_in_pool): one Ctrl-C handling for every script
    argv = ["--steps", "40", "--seeds", "2", "--every", "10", "--teachers", "uniform", "exp3", "--variants", "default"]
    assert dt.main([*argv, "--workers", "1"]) == 0
    alone = capsys.readouterr().out
    assert dt.main([*argv, "--workers", "2"]) == 0
    assert _table(capsys.readouterr().out) == _table(alone) and "exp3" in alone


def test_a_ctrl_c_ends_with_one_line_and_status_130(capsys, monkeypatch):
    # (a KeyboardInterrupt traceback, one from each worker, and a worker caught starting hung the pool)
    run_one = dt.run_one

    def stopped_at_the_second(job):
        if job[2] == 1:
            raise KeyboardInterrupt
        return run_one(job)

    monkeypatch.setattr(dt, "run_one", stopped_at_the_second)
    with pytest.raises(SystemExit) as e:
        dt.main(["--steps", "40", "--seeds", "2", "--every", "10", *TINY])
    assert e.value.code == 130
    assert "interrupted: 1 of 2 runs finished (not kept" in capsys.readouterr().err
