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


@pytest.mark.parametrize("bad, needle", [(["--k", "0"], "k must be"), (["--similarity", "nan"], "similarity"),
                                         (["--n-train", "0"], "n_train"), (["--memory", "-1"], "memory"),
                                         (["--replay", "-1"], "replay"), (["--pace", "nan"], "pace"),
                                         (["--focus", "-1"], "focus"), (["--decay", "inf"], "decay"),
                                         (["--exposure", "-2"], "exposure"), (["--width", "0"], "width")])
def test_continual_order_refuses_bad_settings_before_any_run(tmp_path, capsys, monkeypatch, bad, needle) -> None:
    monkeypatch.setattr(co, "run_one", lambda *a: pytest.fail("a run started"))
    with pytest.raises(SystemExit) as e:
        co.main(["--seeds", "0", "--out", str(tmp_path), *bad])
    assert e.value.code == 2 and needle in capsys.readouterr().err.split("error:", 1)[1]


@pytest.mark.parametrize("bad, needle", [(["--k", "1"], "k must be"), (["--similarity", "2"], "similarity"),
                                         (["--memory", "-1"], "memory")])
def test_continual_order_why_refuses_bad_settings_before_any_run(capsys, monkeypatch, bad, needle) -> None:
    monkeypatch.setattr(why, "run_seed", lambda *a: pytest.fail("a run started"))
    with pytest.raises(SystemExit) as e:
        why.main(["--seeds", "10", *bad])
    assert e.value.code == 2 and needle in capsys.readouterr().err.split("error:", 1)[1]
