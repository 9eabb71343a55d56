"""--quick in the benchmark scripts: it sets budgets itself, so an explicit budget beside it is refused by name
(it was replaced without a word), before anything runs."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))


@pytest.mark.parametrize("script, extra, needle", [
    ("rl_overhead", ["--steps", "50"], "--steps"),
    ("rl_overhead", ["--workers", "4"], "--workers"),
    ("discrete_teachers", ["--seeds", "7"], "--seeds"),
    ("discrete_teachers", ["--variants", "default", "forgetting"], "--variants"),
    ("rl_curriculum", ["--budget-scale", "2"], "--budget-scale"),
    ("levels_env_speed", ["--repeats", "5"], "--repeats"),
])
def test_quick_refuses_the_budgets_it_would_replace(capsys, script: str, extra: list[str], needle: str) -> None:
    module = importlib.import_module(script)
    with pytest.raises(SystemExit) as e:
        module.main(["--quick", *extra])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "--quick sets" in err and needle in err
    assert f"--quick sets {needle} itself" in err  # the option named in the message, not only the usage line


@pytest.mark.parametrize("script, extra, needle", [
    ("rl_overhead", ["--teachers", "uniform", "alp-gmn"], "alp-gmn"),  # a traceback after the first measurements
    ("rl_overhead", ["--teachers", "uniform q=two"], "q=K"),  # a ValueError inside the measurement
    ("levels_env_speed", ["--envs", "0"], "--envs"),  # an IndexError inside gymnasium's vector env
    ("discrete_teachers", ["--teachers"], "--teachers"),  # no teacher: an empty table, exit 0
])
def test_quick_runs_refuse_bad_names_and_sizes_before_measuring(capsys, script: str, extra: list[str],
                                                                needle: str) -> None:
    module = importlib.import_module(script)
    with pytest.raises(SystemExit) as e:
        module.main(["--quick", *extra])
    assert e.value.code == 2 and needle in capsys.readouterr().err.split("error:", 1)[1]
