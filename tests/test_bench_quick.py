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
