"""benchmarks/teacher_fidelity.py: a typo'd teacher or teacher:variant pair and empty budgets are refused by name
before any run (not a KeyError, nor an empty table)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import teacher_fidelity as tf  # noqa: E402


@pytest.mark.parametrize("bad, needle", [(["--teachers", "alp-gmn"], "--teachers"),
                                         (["--only", "alp-gmn:grid"], "--only"),
                                         (["--only", "alp-gmm:grid"], "--only"),  # riac's variant, not alp-gmm's
                                         (["--seeds", "0"], "--seeds"), (["--episodes", "0"], "--episodes"),
                                         (["--teachers", "riac,riac"], "--teachers names riac more"),
                                         (["--workers", "0"], "--workers")])  # a ConfigError traceback
def test_bad_names_and_budgets_are_refused_by_name(capsys, monkeypatch, bad: list[str], needle: str) -> None:
    import magister.bench.runner as runner

    monkeypatch.setattr(runner, "run_bench", lambda *a, **k: pytest.fail("ran jobs"))
    with pytest.raises(SystemExit) as e:
        tf.main(["--episodes", "10", "--seeds", "1", "--workers", "1", *bad])
    assert e.value.code == 2
    assert needle in capsys.readouterr().err


def test_a_known_pair_still_runs(capsys) -> None:
    assert tf.main(["--only", "riac:grid", "--episodes", "20", "--seeds", "1", "--workers", "1", "--modes", "faithful"]) == 0
    assert "| riac | grid |" in capsys.readouterr().out
