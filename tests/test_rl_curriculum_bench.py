"""benchmarks/rl_curriculum.py: bad budgets and a typo'd teacher are refused by name before any run (not a
ZeroDivisionError inside a worker, nor a median of no seeds after the runs)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import rl_curriculum as rc  # noqa: E402

from magister.bench.runner import run_jobs  # noqa: E402


def in_order(fn, items, *, workers, **kw):
    """Stands in for the script's process pool: the jobs one after the other in this process (monkeypatched
    functions reach them), through the same code as ``--workers 1``."""
    return run_jobs(fn, items, workers=1, **kw)


@pytest.mark.parametrize("bad, needle", [(["--seeds", "0"], "--seeds"), (["--evals", "0"], "--evals"),
                                         (["--n-envs", "0"], "--n-envs"), (["--budget-scale", "0"], "--budget-scale"),
                                         (["--budget-scale", "inf"], "--budget-scale"),
                                         (["--budget-scale", "nan"], "--budget-scale"),
                                         (["--teachers", "uniform", "alp-gmn"], "alp-gmn")])
def test_bad_budgets_and_teachers_are_refused_by_name(tmp_path, capsys, monkeypatch, bad, needle) -> None:
    monkeypatch.setattr(rc, "run_one", lambda job: pytest.fail("ran a job"))
    with pytest.raises(SystemExit) as e:
        rc.main(["--envs", "cliff", "--teachers", "uniform", "--workers", "1", "--out", str(tmp_path), *bad])
    assert e.value.code == 2
    assert needle in capsys.readouterr().err.split("error:", 1)[1]  # in the message, not only the usage line


def test_without_uniform_the_ratio_column_says_none_was_run(tmp_path, capsys, monkeypatch) -> None:
    """Without uniform among the teachers, "x uniform" read "(u = 0)": as if uniform had mastered nothing."""
    monkeypatch.setattr(rc, "run_one", lambda job: {
        **job, "curve_x": [0, 100], "curve_y": [0.0, 0.5], "final": 0.5, "episodes": 10, "unlearnable_share": 0.1,
        "sample_t": [0, 50], "sample_u": [[0.1, 0.2], [0.3, 0.4]], "seconds": 1.0})
    rc.main(["--envs", "cliff", "--teachers", "riac", "--workers", "1", "--seeds", "1", "--out", str(tmp_path)])
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("cliff  riac"))
    assert "(u = 0)" not in row and row.split()[5] == "-"


def test_the_table_s_columns_line_up_with_a_long_teacher_name(tmp_path, capsys, monkeypatch) -> None:
    """covar-gmm-plus (14 letters) was printed in a 10-wide column, pushing its row out of line."""
    monkeypatch.setattr(rc, "run_one", lambda job: {
        **job, "curve_x": [0, 100], "curve_y": [0.0, 0.5], "final": 0.5, "episodes": 10, "unlearnable_share": 0.1,
        "sample_t": [0, 50], "sample_u": [[0.1, 0.2], [0.3, 0.4]], "seconds": 1.0})
    rc.main(["--envs", "cliff", "--teachers", "riac", "covar-gmm-plus", "--workers", "1", "--seeds", "1",
             "--out", str(tmp_path)])
    lines = capsys.readouterr().out.splitlines()
    header = next(line for line in lines if line.startswith("env "))
    rows = [line for line in lines if line.startswith("cliff  ") and "(oracle)" not in line]
    assert len(rows) == 2 and all(len(row) == len(header) for row in rows)
    end = header.index("budget") + len("budget")  # (the budget, right-aligned under its heading)
    assert all(row[end - 1].isdigit() and row[end] == " " and row[:end].split()[-1].isdigit() for row in rows)


@pytest.mark.parametrize("bad, needle", [(["--out", "FILE"], "is a file"), (["--first-seed", "-1"], "--first-seed")])
def test_a_file_out_and_a_negative_first_seed_are_refused_before_any_run(tmp_path, capsys, monkeypatch, bad, needle):
    # a FileExistsError traceback; a negative seed failed inside the runs
    monkeypatch.setattr(rc, "run_one", lambda job: pytest.fail("ran a job"))
    (tmp_path / "FILE").write_text("not a folder")
    bad = [str(tmp_path / "FILE") if b == "FILE" else b for b in bad]
    with pytest.raises(SystemExit) as e:
        rc.main(["--envs", "cliff", "--teachers", "uniform", "--workers", "1", "--out", str(tmp_path / "out"), *bad])
    assert e.value.code == 2 and needle in capsys.readouterr().err.split("error:", 1)[1]


@pytest.mark.parametrize("first, seeds", [(2**64, 1), (2**64 - 2, 2)])
def test_seeds_past_torchs_are_refused_at_parse_time_naming_the_range(tmp_path, capsys, monkeypatch, first, seeds):
    # --first-seed 2**64 failed inside the first run with PPO's error (the teacher and envs built by then)
    monkeypatch.setattr(rc, "run_one", lambda job: pytest.fail("ran a job"))
    with pytest.raises(SystemExit) as e:
        rc.main(["--envs", "cliff", "--teachers", "uniform", "--workers", "1", "--out", str(tmp_path / "out"),
                 "--first-seed", str(first), "--seeds", str(seeds)])
    err = capsys.readouterr().err.split("error:", 1)[1]
    assert e.value.code == 2 and f"--first-seed {first} " in err and f"give --first-seed from 0 to {2**64 - 1 - seeds:,}" in err
    assert "PPO seeds torch with the seed + 1" in err and not (tmp_path / "out").exists()


def test_the_largest_first_seed_runs(tmp_path, monkeypatch):
    class Ran(Exception):
        pass

    def run_one(job: dict[str, Any]) -> dict[str, Any]:
        raise Ran(job["seed"])

    monkeypatch.setattr(rc, "run_one", run_one)
    with pytest.raises(Ran) as ran:
        rc.main(["--envs", "cliff", "--teachers", "uniform", "--workers", "1", "--out", str(tmp_path / "out"),
                 "--first-seed", str(2**64 - 2), "--seeds", "1"])
    assert ran.value.args == (2**64 - 2,)


def test_min_and_max_are_printed_as_precisely_as_the_median() -> None:
    # "46.5 [46-46]": a median with one decimal beside a range rounded to whole numbers, outside its own range
    assert rc.fmt([0.465, 0.465]) == "46.5 [46.5-46.5]"
    assert rc.fmt([0.46, 0.47]) == "46.5 [46.0-47.0]"


@pytest.mark.parametrize("bad", [["--budget-scale", "0.00001"], ["--budget-scale", "0.000001"],
                                 ["--quick", "--evals", "10000"]])
def test_a_budget_with_no_evaluation_after_step_0_is_refused(tmp_path, capsys, monkeypatch, bad) -> None:
    # evaluations run every budget // evals steps: a budget below --evals evaluated nothing after step 0, and the
    # table reported the untrained policy's step-0 score as the final one
    monkeypatch.setattr(rc, "run_one", lambda job: pytest.fail("ran a job"))
    with pytest.raises(SystemExit) as e:
        rc.main(["--envs", "cliff", "--teachers", "uniform", "--workers", "1", "--out", str(tmp_path), *bad])
    message = capsys.readouterr().err.split("error:", 1)[1]
    assert e.value.code == 2 and "--evals" in message and "step 0" in message


def test_repeated_teachers_are_refused_by_name(tmp_path, capsys, monkeypatch) -> None:
    # --teachers uniform riac uniform ran uniform's runs twice (its row the median of every seed counted twice)
    monkeypatch.setattr(rc, "run_one", lambda job: pytest.fail("ran a job"))
    with pytest.raises(SystemExit) as e:
        rc.main(["--envs", "cliff", "--teachers", "uniform", "riac", "uniform", "--workers", "1", "--out",
                 str(tmp_path)])
    message = capsys.readouterr().err.split("error:", 1)[1]
    assert e.value.code == 2 and "--teachers names uniform more than once" in message


def test_an_interrupted_run_leaves_an_earlier_runs_json_in_out_whole(tmp_path, capsys, monkeypatch) -> None:
    """A re-used --out: runs.json was rewritten with the first finished run, so stopping the run there (Ctrl-C,
    a crash in a later run) replaced the earlier run's results with one run."""
    earlier = json.dumps([{"env": "cliff", "teacher": "uniform", "seed": 7, "final": 0.9}])
    (tmp_path / "runs.json").write_text(earlier)

    def run_one(job: dict[str, Any]) -> dict[str, Any]:
        if job["seed"] == 1:
            raise KeyboardInterrupt  # the second run is stopped
        return {**job, "final": 0.5, "seconds": 1.0}

    monkeypatch.setattr(rc, "run_one", run_one)
    monkeypatch.setattr(rc, "run_jobs", in_order)
    with pytest.raises(SystemExit) as e:  # (a KeyboardInterrupt traceback, and one from each worker)
        rc.main(["--envs", "cliff", "--teachers", "uniform", "--seeds", "2", "--workers", "2", "--out",
                 str(tmp_path)])
    assert e.value.code == 130
    assert (tmp_path / "runs.json").read_text() == earlier
    assert [r["seed"] for r in json.loads((tmp_path / "runs-partial.json").read_text())] == [0]
    assert f"interrupted: 1 of 2 runs finished; they are kept in {tmp_path / 'runs-partial.json'}" in \
        capsys.readouterr().err


def test_a_ctrl_c_with_one_worker_keeps_the_finished_runs_too(tmp_path, capsys, monkeypatch) -> None:
    # --workers 1 wrote runs-partial.json only with a pool: a Ctrl-C there lost every finished run
    def run_one(job: dict[str, Any]) -> dict[str, Any]:
        if job["seed"] == 1:
            raise KeyboardInterrupt
        return {**job, "final": 0.5, "seconds": 1.0}

    monkeypatch.setattr(rc, "run_one", run_one)
    with pytest.raises(SystemExit) as e:
        rc.main(["--envs", "cliff", "--teachers", "uniform", "--seeds", "2", "--workers", "1", "--out",
                 str(tmp_path)])
    assert e.value.code == 130 and "interrupted: 1 of 2 runs finished" in capsys.readouterr().err
    assert [r["seed"] for r in json.loads((tmp_path / "runs-partial.json").read_text())] == [0]


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_new_run_moves_a_stopped_runs_partial_json_aside(tmp_path, capsys, monkeypatch, workers) -> None:
    """runs-partial.json of a stopped run was written over by the next run in the same --out (--workers above 1)
    and removed once that run finished (any --workers), without a word."""
    import magister.rl.envs as envs

    earlier = json.dumps([{"env": "cliff", "teacher": "uniform", "seed": 7, "final": 0.9}])
    (tmp_path / "runs-partial.json").write_text(earlier)
    monkeypatch.setattr(rc, "run_one", lambda job: {**job, "final": 0.5, "unlearnable_share": 0.0, "episodes": 1,
                                                    "seconds": 1.0})
    monkeypatch.setattr(rc, "run_jobs", in_order)
    monkeypatch.setattr(rc, "_figures", lambda *a: None)
    monkeypatch.setattr(envs, "evaluate", lambda *a, **kw: None)  # (the oracle's row of the table)
    monkeypatch.setattr(envs, "mastered", lambda *a: 0.5)
    rc.main(["--envs", "cliff", "--teachers", "uniform", "--seeds", "1", "--workers", workers, "--out",
             str(tmp_path)])
    assert (tmp_path / "runs-partial.earlier-1.json").read_text() == earlier
    assert not (tmp_path / "runs-partial.json").exists()
    assert [r["seed"] for r in json.loads((tmp_path / "runs.json").read_text())] == [0]
    assert "moved it to runs-partial.earlier-1.json" in capsys.readouterr().out
