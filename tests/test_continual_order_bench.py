"""benchmarks/continual_order.py and continual_order_why.py: a bad setting of the synthetic data, the learner or the
teachers is argparse's error (exit 2) before any run; the synthetic data set comes after the digits runs, so a bad
--k or --similarity was a ConfigError traceback after them."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import continual_order as co  # noqa: E402
import continual_order_why as why  # noqa: E402


@pytest.mark.parametrize("bad", [["--k", "0"], ["--similarity", "nan"], ["--n-train", "0"], ["--memory", "-1"],
                                 ["--replay", "-1"], ["--pace", "nan"], ["--focus", "-1"], ["--decay", "inf"],
                                 ["--exposure", "-2"], ["--width", "0"]])
def test_continual_order_refuses_bad_settings_before_any_run(tmp_path, capsys, monkeypatch, bad) -> None:
    # the refusal names the option (it named the library's setting: "k must be...", "n_train must be...")
    monkeypatch.setattr(co, "run_one", lambda *a: pytest.fail("a run started"))
    with pytest.raises(SystemExit) as e:
        co.main(["--seeds", "0", "--out", str(tmp_path), *bad])
    err = capsys.readouterr().err.split("error:", 1)[1].strip()
    assert e.value.code == 2 and err.startswith(f"{bad[0]} must be"), err


@pytest.mark.parametrize("bad", [["--k", "1"], ["--similarity", "2"], ["--memory", "-1"], ["--n-train", "0"]])
def test_continual_order_why_refuses_bad_settings_before_any_run(capsys, monkeypatch, bad) -> None:
    monkeypatch.setattr(why, "run_seed", lambda *a: pytest.fail("a run started"))
    with pytest.raises(SystemExit) as e:
        why.main(["--seeds", "10", *bad])
    err = capsys.readouterr().err.split("error:", 1)[1].strip()
    assert e.value.code == 2 and err.startswith(f"{bad[0]} must be"), err


def test_the_forgetting_line_says_more_when_the_online_teacher_forgets_more() -> None:
    assert co.forgetting_cut_words([30.0, 28.0, 34.0]) == "forgets 30 [28-34]% less"
    assert co.forgetting_cut_words([-39.0, -20.0, -45.0]) == "forgets 39 [20-45]% more"
    words = co.forgetting_cut_words([-10.0, 5.0, -2.0])
    assert words.startswith("forgets -2 [") and words.endswith("% less (a negative figure: more)")


@pytest.mark.parametrize("module, runner", [(co, "run_one"), (why, "run_seed")])
@pytest.mark.parametrize("bad", [["--memory", "5"],
                                 ["--datasets", "digits", "synthetic", "--k", "30", "--memory", "20"]])
def test_a_replay_buffer_smaller_than_the_class_count_is_refused_before_any_run(monkeypatch, capsys, module, runner,
                                                                                  bad) -> None:
    """The learner was checked with two classes, so a --memory below the data set's class count (10 digits, or a
    larger --k) passed and was a ConfigError traceback at the first run, or after the digits runs for --k 30."""
    monkeypatch.setattr(module, runner, lambda *a: pytest.fail("a run started"))
    with pytest.raises(SystemExit) as e:
        module.main(["--seeds", "0", *(["--out", ""] if module is co else []), *bad])
    err = capsys.readouterr().err.split("error:", 1)[1].strip()
    assert e.value.code == 2 and err.startswith("--memory must be 0 (no replay) or at least k="), err
