"""benchmarks/level_cliffs.py: options that fail inside the runs are argparse's errors (exit 2) before any run."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import level_cliffs as lc  # noqa: E402


@pytest.mark.parametrize("bad, needle", [(["--repeats", "0"], "--repeats"), (["--steps", "0"], "--steps"),
                                         (["--teachers", "plx"], "plx"), (["--sizes", "-5"], "--sizes"),
                                         (["--sizes", "8"], "--sizes"), (["--pending", "0"], "--pending"),
                                         (["--steps", "many"], "--steps")])
def test_bad_options_are_refused_before_any_run(capsys, monkeypatch, bad, needle) -> None:
    # --repeats 0: an IndexError after the first runs; --steps 0: a ZeroDivisionError in ADR's after the level
    # teachers' runs; a typo'd teacher, a size below 9: tracebacks
    monkeypatch.setattr(lc, "level_step_us", lambda *a: pytest.fail("a run started"))
    monkeypatch.setattr(lc, "adr_step_us", lambda *a: pytest.fail("a run started"))
    with pytest.raises(SystemExit) as e:
        lc.main(bad)
    assert e.value.code == 2 and needle in capsys.readouterr().err.split("error:", 1)[1]


def test_runs_against_a_magister_without_the_bench_helpers() -> None:
    # the harness is run with an older src/ on PYTHONPATH (docs/levels.md: `git archive 35a3464 src`); one from
    # before magister.bench.args existed failed with an ImportError before any option was read
    import subprocess

    code = ("import os, runpy, sys; sys.modules['magister.bench.args'] = None; sys.argv = sys.argv[1:]; "
            "sys.path.insert(0, os.path.dirname(sys.argv[0])); "  # as `python script.py` does
            "runpy.run_path(sys.argv[0], run_name='__main__')")
    script = str(Path(__file__).resolve().parents[1] / "benchmarks" / "level_cliffs.py")
    proc = subprocess.run([sys.executable, "-c", code, script, "--repeats", "0"], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2 and "--repeats" in proc.stderr.split("error:", 1)[1], proc.stderr
