"""The benchmark runner, results file, report and ``magister bench`` command."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from typer.testing import CliRunner

import magister as mg
from magister.bench import report as report_mod
from magister.bench import run_benchmark
from magister.bench.cli import demo_teachers, parse_settings
from magister.bench.runner import JobSpec, derive_seeds, plan_jobs, run_bench, run_job
from magister.cli import app
from magister.errors import ConfigError

# a stateful teacher besides uniform, when one is registered (they are added independently)
STATEFUL = next((t for t in ("alp-gmm", "riac", "covar-gmm") if t in mg.available_teachers()), None)
TEACHERS = ["uniform"] + ([STATEFUL] if STATEFUL else [])


def _strip(rec: dict) -> dict:
    """Everything a job records that does not depend on timing."""
    keep = ("teacher", "student", "seed", "teacher_seed", "student_seed", "episodes", "mastery",
            "learnable_mastery", "mean_score", "samples", "grid_snapshots", "status")
    return {k: rec.get(k) for k in keep}


def test_seeds_are_derived_independently():
    t0, s0 = derive_seeds(0)
    t1, s1 = derive_seeds(1)
    assert (t0, s0) == derive_seeds(0)
    assert len({t0, s0, t1, s1}) == 4


def test_run_job_records_curve_overhead_and_samples():
    rec = run_job(JobSpec("uniform", "grid", seed=3, episodes=1100, eval_every=500, max_samples=100))
    assert rec["status"] == "ok"
    assert rec["episodes"] == [0, 500, 1000, 1100]
    assert len(rec["mastery"]) == 4 and rec["mastery"][0] == 0.0
    assert rec["final_mastery"] == rec["mastery"][-1]
    ov = rec["overhead"]
    assert 0 < ov["median_us"] <= ov["max_us"] and ov["total_s"] > 0 and len(ov["window_mean_us"]) == 3
    smp = rec["samples"]
    assert 90 <= len(smp["episode"]) <= 100 and smp["episode"] == sorted(smp["episode"])
    x = np.array(smp["x"])
    assert x.shape == (len(smp["episode"]), 2) and x.min() >= 0 and x.max() <= 1
    # snapshots of the 10 x 10 counters at every evaluation, growing only at the origin early on
    snaps = np.array(rec["grid_snapshots"])
    assert snaps.shape == (4, 10, 10) and snaps[0].sum() == 0 and snaps[-1][0, 0] > 0


def test_run_job_batch_protocol():
    rec = run_job(JobSpec("uniform", "grid-hard", seed=0, episodes=100, eval_every=30, batch=7, max_samples=1000))
    assert rec["episodes"] == [0, 35, 63, 91, 100]  # evaluated at the first batch boundary past each mark
    assert len(rec["samples"]["episode"]) == 100
    assert np.array(rec["samples"]["x"]).shape == (100, 4)  # distractor dims are recorded too
    assert rec["learnable_mastery"] is not None


def test_runner_is_deterministic_across_workers():
    jobs, skipped = plan_jobs(TEACHERS, ["grid", "grid-hard"], [0, 1], episodes=600, eval_every=200)
    assert not skipped and len(jobs) == len(TEACHERS) * 4
    serial = run_bench(jobs, workers=1)
    parallel = run_bench(jobs, workers=2)
    assert [_strip(r) for r in serial] == [_strip(r) for r in parallel]
    assert all(r["status"] == "ok" for r in parallel), [r.get("error") for r in parallel]
    assert all(r["blas_threads"] in (None, 1) for r in parallel)
    assert len({r["worker_pid"] for r in parallel}) >= 1
    # seeds matter, and every teacher meets the same student for a given seed
    by = {(r["teacher"], r["student"], r["seed"]): r for r in serial}
    assert by[("uniform", "grid", 0)]["samples"] != by[("uniform", "grid", 1)]["samples"]
    for t in TEACHERS:
        assert by[(t, "grid-hard", 1)]["student_seed"] == by[("uniform", "grid-hard", 1)]["student_seed"]


def test_a_failing_job_is_reported_not_fatal(tmp_path):
    jobs = [JobSpec("uniform", "grid", 0, episodes=50, eval_every=25),
            JobSpec("uniform", "grid", 1, episodes=50, eval_every=25, settings={"no_such_setting": 1})]
    seen = {}
    recs = run_bench(jobs, workers=1, progress=lambda i, done: seen.__setitem__(i, done))
    assert recs[0]["status"] == "ok" and recs[1]["status"] == "error"
    assert seen == {0: 50, 1: 50}  # the failed job counts as done: the progress bar stopped short of its total
    assert "no_such_setting" in recs[1]["error"]
    results = {"format": report_mod.FORMAT, "config": {"teachers": ["uniform"], "students": ["grid"], "seeds": [0, 1],
                                                       "episodes": 50, "eval_every": 25, "batch": 1, "workers": 1},
               "students": {"grid": {"description": "grid"}}, "jobs": recs, "skipped": [], "wall_s": 0.1}
    rows = report_mod.summarise(results)
    assert rows[0]["n"] == 1 and rows[0]["failed"] == 1
    md = report_mod.write_report(results, tmp_path, figures=False).read_text()
    assert "Failed jobs" in md and "no_such_setting" in md


def test_plan_checks_names_and_skips_unfit_pairs():
    with pytest.raises(ConfigError, match="available: .*uniform"):
        run_benchmark(["no-such-teacher"], ["grid"], seeds=[0], episodes=10)
    with pytest.raises(ConfigError, match="available: .*grid"):
        run_benchmark(["uniform"], ["no-such-student"], seeds=[0], episodes=10)
    with pytest.raises(ConfigError, match="settings given for teachers not in the run"):
        plan_jobs(["uniform"], ["grid"], [0], episodes=10, eval_every=5, settings={"riac": {}})
    discrete = [t for t in mg.available_teachers("discrete") if mg.teacher_class(t).kind == "discrete"]
    if discrete:
        jobs, skipped = plan_jobs(["uniform", discrete[0]], ["grid"], [0], episodes=10, eval_every=5)
        assert {j.teacher for j in jobs} == {"uniform"}
        assert skipped[0]["teacher"] == discrete[0] and "continuous" in skipped[0]["reason"]


def test_demo_teacher_choice():
    assert demo_teachers(["uniform"]) == ["uniform"]
    assert demo_teachers(["a", "alp-gmm", "riac", "uniform", "z", "covar-gmm"]) == \
        ["uniform", "covar-gmm", "alp-gmm", "riac", "a", "z"]
    assert demo_teachers(["a", "b", "riac-plus", "adr", "alp-gmm", "riac", "uniform", "covar-gmm"]) == \
        ["uniform", "covar-gmm", "alp-gmm", "riac", "adr", "riac-plus"]
    assert demo_teachers(["b", "uniform", "a"]) == ["uniform", "b", "a"]


def test_parse_settings():
    assert parse_settings(["alp-gmm.fit_every=150", "alp-gmm.name=x", "riac.max_size=[1, 2]"]) == \
        {"alp-gmm": {"fit_every": 150, "name": "x"}, "riac": {"max_size": [1, 2]}}
    with pytest.raises(ConfigError, match="TEACHER.SETTING=VALUE"):
        parse_settings(["fit_every=150"])
    # the same setting twice kept the last value without a word
    with pytest.raises(ConfigError, match="alp-gmm.fit_rate is given twice"):
        parse_settings(["alp-gmm.fit_rate=100", "riac.max_size=3", "alp-gmm.fit_rate=200"])
    assert parse_settings(["a.x=1", "b.x=2"]) == {"a": {"x": 1}, "b": {"x": 2}}


def test_parse_settings_reads_a_whole_number_in_exponent_notation_as_an_int(tmp_path):
    # --set alp-gmm.fit_rate=1e3 was the float 1000.0 (refused by a whole-number setting)
    got = parse_settings(["a.x=1e3", "a.y=2E+2", "a.z=1000.0", "a.w=1.5e3", "a.v=1e-3", "a.u=[1e2, 0.5]"])["a"]
    assert got == {"x": 1000, "y": 200, "z": 1000.0, "w": 1500.0, "v": 0.001, "u": [100, 0.5]}
    assert [type(got[k]) for k in ("x", "y", "z", "w", "v")] == [int, int, float, float, float]
    assert type(got["u"][0]) is int
    assert type(parse_settings(["a.x=1e400"])["a"]["x"]) is float  # (infinity, as JSON reads it; refused later)
    # a whole-number setting took it: "max_pending must be a whole number >= 1, got 100.0"
    res = CliRunner().invoke(app, ["bench", "--teachers", "adr", "--seeds", "1", "--workers", "1", "--episodes", "20",
                                   "--eval-every", "10", "--no-report", "--set", "adr.max_pending=1e2", "--out",
                                   str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert report_mod.load_results(tmp_path)["config"]["settings"] == {"adr": {"max_pending": 100}}


def test_a_reused_out_folder_loses_an_earlier_runs_pictures_and_report(tmp_path):
    # a second run into the same --out (other students, or --no-report) left the first run's pictures and
    # report.md beside its results, reading as this run's
    stale = ["sampling-grid-hard.png", "mastery-map-grid-hard.png", "report.md", "report.html", "suite.md"]
    interrupted = ["results-interrupted.json", "curves-interrupted.csv"]  # an earlier run's runs: moved aside
    for name in stale + interrupted + ["notes.txt"]:
        (tmp_path / name).write_text("earlier")
    run_benchmark(["uniform"], ["grid"], seeds=[0], episodes=50, eval_every=25, workers=1, out=tmp_path,
                  report=False, echo=lambda line: None)
    assert not [name for name in stale + interrupted if (tmp_path / name).exists()]
    assert [(tmp_path / n.replace("-interrupted.", "-interrupted.earlier-1.")).read_text() for n in interrupted] == \
        ["earlier", "earlier"]
    assert (tmp_path / "notes.txt").read_text() == "earlier" and (tmp_path / "results.json").exists()
    # write_report alone clears its own files first (a student it does not draw)
    (tmp_path / "sampling-grid-hard.png").write_text("earlier")
    report_mod.write_report(report_mod.load_results(tmp_path), tmp_path, figures=False, html_report=False)
    assert not (tmp_path / "sampling-grid-hard.png").exists() and (tmp_path / "report.md").exists()


def test_per_seed_pictures_name_each_rows_seed_when_a_teachers_first_seed_failed(tmp_path, monkeypatch):
    # the sampling and mastery-map pictures draw each teacher's first finished seed; where one teacher's first
    # seed failed its row was seed 1 while the caption said "seed 0" for every row
    from magister.bench import plots

    results = run_benchmark(["uniform", "adr"], ["grid", "skills"], seeds=[0, 1], episodes=60, eval_every=30,
                            workers=1, out=None, report=False)
    for j in results["jobs"]:
        if (j["teacher"], j["student"], j["seed"]) == ("uniform", "grid", 0):
            j.clear()
            j.update(teacher="uniform", student="grid", seed=0, status="error", error="ValueError: boom")
    drawn: dict[str, list[str]] = {}
    for name in ("sampling_over_time_figure", "grid_over_time_figure"):
        real = getattr(plots, name)
        monkeypatch.setattr(plots, name, lambda rows, *a, _real=real, _name=name, **kw:
                            drawn.setdefault(_name, list(rows)) and _real(rows, *a, **kw))
    captions = [c for c, _ in report_mod.make_figures(results, tmp_path) if c.startswith("grid:")]
    assert len(captions) == 2 and all("each teacher's first finished seed" in c for c in captions), captions
    assert drawn["sampling_over_time_figure"] == ["uniform (seed 1)", "adr (seed 0)"]
    assert drawn["grid_over_time_figure"] == ["uniform (seed 1)", "adr (seed 0)"]
    # every first seed finished (the skills pictures): one seed, named once in the caption, rows by teacher
    skills = [c for c, _ in report_mod.make_figures(results, tmp_path) if c.startswith("skills:")]
    assert skills and all(c.endswith("seed 0") for c in skills), skills


def test_a_folder_of_the_users_own_keeps_files_named_like_a_runs(tmp_path):
    # a folder that holds no earlier run's results is the user's: its suite.md or sampling-x.png were not a run's
    own = ["suite.md", "sampling-mine.png", "report.md"]
    for name in own:
        (tmp_path / name).write_text("mine")
    run_benchmark(["uniform"], ["grid"], seeds=[0], episodes=50, eval_every=25, workers=1, out=tmp_path,
                  report=False)
    assert all((tmp_path / name).read_text() == "mine" for name in own)
    assert report_mod.clear_outputs(tmp_path / "nowhere") == []


def test_default_out_folders_of_runs_in_the_same_second_differ(tmp_path, monkeypatch):
    # results/bench-<UTC time to the second>: two runs started in the same second wrote into one folder
    import re

    import magister.bench.runner as runner

    assert re.fullmatch(r"\d{8}-\d{6}-\d{6}", runner.timestamp())
    monkeypatch.setattr(runner, "timestamp", lambda: "20260101-000000-000000")
    monkeypatch.chdir(tmp_path)
    for _ in range(2):
        res = CliRunner().invoke(app, ["bench", "--teachers", "uniform", "--seeds", "1", "--workers", "1",
                                       "--episodes", "20", "--eval-every", "10", "--no-report"])
        assert res.exit_code == 0, res.output
    assert sorted(p.name for p in (tmp_path / "results").iterdir()) == ["bench-20260101-000000-000000",
                                                                         "bench-20260101-000000-000000-2"]


def test_cli_end_to_end_writes_results_and_report(tmp_path):
    out = tmp_path / "run"
    res = CliRunner().invoke(app, ["bench", "--teachers", "uniform", "--students", "grid,grid-hard", "--seeds", "2",
                                   "--episodes", "400", "--eval-every", "100", "--workers", "1", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "Report:" in res.output and str(out) in res.output.replace("\n", "")
    assert "uniform" in res.output and "4/4/4" in res.output  # the published figure sits beside ours
    results = report_mod.load_results(out)
    assert results["config"]["seeds"] == [0, 1] and len(results["jobs"]) == 4
    with (out / "curves.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4 * 5 and {r["student"] for r in rows} == {"grid", "grid-hard"}
    md = (out / "report.md").read_text()
    for png in ("curves.png", "overhead.png", "sampling-grid.png", "sampling-grid-hard.png", "mastery-map-grid.png",
                "curves-learnable.png"):
        assert (out / png).stat().st_size > 5000, png
        assert f"]({png})" in md
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 5
    json.loads((out / "results.json").read_text())


def test_cli_demo_and_parallel_workers(tmp_path):
    out = tmp_path / "demo"
    res = CliRunner().invoke(app, ["bench", "--demo", "--teachers", ",".join(TEACHERS), "--episodes", "300",
                                   "--eval-every", "150", "--workers", "2", "--out", str(out)])
    assert res.exit_code == 0, res.output
    results = report_mod.load_results(out)
    assert results["config"]["seeds"] == [0, 1, 2] and results["config"]["students"] == ["grid"]
    assert results["config"]["teachers"] == TEACHERS
    assert all(j["status"] == "ok" and j["episodes"] == [0, 150, 300] for j in results["jobs"])


def test_cli_refuses_more_episodes_than_a_run_can_hold_before_running(tmp_path):
    # each run failed with "Maximum allowed dimension exceeded" (or a MemoryError) after the folder was made
    from magister.bench.cli import MAX_EPISODES

    res = CliRunner().invoke(app, ["bench", "--teachers", "uniform", "--seeds", "1", "--workers", "1",
                                   "--episodes", str(MAX_EPISODES + 1), "--out", str(tmp_path / "x")])
    assert res.exit_code == 2 and "less than or equal to" in " ".join(res.output.split())
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("args,needle", [
    (["--teachers", "uniform,bogus"], "unknown teacher 'bogus'; available:"),
    (["--teachers", "uniform,fronteir"], "unknown teacher 'fronteir' (did you mean 'frontier'?); available:"),
    (["--students", "nope"], "unknown student 'nope'; available:"),
    # a misspelt preset was listed with the others but not named, as a misspelt teacher is
    (["--students", "gird"], "unknown student 'gird' (did you mean 'grid'?); available:"),
    (["--students", "grid,grid_hard"], "unknown student 'grid_hard' (did you mean 'grid-hard'?); available:"),
    (["--set", "oops"], "TEACHER.SETTING=VALUE"),
])
def test_cli_refuses_unknown_names(tmp_path, args, needle):
    res = CliRunner().invoke(app, ["bench", *args, "--episodes", "10", "--out", str(tmp_path / "x")])
    assert res.exit_code == 2
    flat = " ".join(res.output.split())
    assert needle in flat
    if "available" in needle:
        assert "uniform" in flat or "grid" in flat
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("extra", [[], ["--suite", "quick", "--variants", "skills-10"]], ids=["bench", "suite"])
def test_cli_refuses_an_output_folder_it_cannot_create_before_running(tmp_path, monkeypatch, extra):
    import magister.bench as bench
    import magister.bench.runner as runner

    def never(*args, **kwargs):
        raise AssertionError("no run may start before the output folder is known to work")

    monkeypatch.setattr(bench, "run_bench", never)
    monkeypatch.setattr(runner, "run_bench", never)
    (tmp_path / "taken").write_text("a file, not a folder")
    res = CliRunner().invoke(app, ["bench", "--teachers", "uniform", "--seeds", "1", "--episodes", "10",
                                   "--workers", "1", *extra, "--out", str(tmp_path / "taken")])
    assert res.exit_code == 2, res.output
    assert "cannot create the output folder" in " ".join(res.output.split()) and res.exception.__class__ is SystemExit


@pytest.mark.parametrize("extra", [[], ["--suite", "quick", "--variants", "skills-10"]], ids=["bench", "suite"])
def test_cli_refuses_an_output_folder_it_cannot_write_in_before_running(tmp_path, monkeypatch, extra):
    # a folder that is there but read-only passed the check: every run ran, then a PermissionError traceback
    import tempfile

    import magister.bench as bench
    import magister.bench.runner as runner

    def never(*args, **kwargs):
        raise AssertionError("no run may start before the output folder is known to work")

    def read_only(*args, **kwargs):  # (chmod does not stop root, who runs the tests in CI)
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(bench, "run_bench", never)
    monkeypatch.setattr(runner, "run_bench", never)
    monkeypatch.setattr(tempfile, "NamedTemporaryFile", read_only)
    (tmp_path / "ro").mkdir()
    res = CliRunner().invoke(app, ["bench", "--teachers", "uniform", "--seeds", "1", "--episodes", "10",
                                   "--workers", "1", *extra, "--out", str(tmp_path / "ro")])
    assert res.exit_code == 2, res.output
    assert "cannot write in the output folder (Permission denied)" in " ".join(res.output.split())
    assert res.exception.__class__ is SystemExit


def test_out_folder_check_leaves_nothing_behind(tmp_path):
    from magister.bench.args import make_folder

    assert make_folder(tmp_path / "a" / "b") is None and list((tmp_path / "a" / "b").iterdir()) == []


@pytest.mark.parametrize("extra, option, path", [(extra, "--out", path) for extra in ([], ["--suite", "quick"], ["--levels"])
                                                   for path in ("", "  ")] + [(["--suite", "quick"], "--write-docs", "")])
def test_an_empty_out_or_write_docs_is_refused_not_the_default(tmp_path, monkeypatch, extra, option, path):
    # --out "" (an unset shell variable) ran into a new default folder, --write-docs "" wrote no docs, silently
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(app, ["bench", *extra, "--teachers", "uniform", "--seeds", "1", "--workers", "1",
                                   option, path], env={"COLUMNS": "400"})
    flat = " ".join(res.output.split())
    said = f"{option} {' '.join(repr(path).split())} is {'blank' if path else 'empty'}; give"
    assert res.exit_code == 2 and said in flat and f"or drop {option}" in flat, flat
    assert res.exception.__class__ is SystemExit and list(tmp_path.iterdir()) == []


def test_the_scripts_refuse_an_empty_out_and_a_file_out_ending_in_a_slash(tmp_path, monkeypatch):
    # --out "" was the current folder (Path("") is "."), grid_student.py's default folder; an --out file "new/"
    # lost its "/" and became the name of the file written
    import argparse
    from pathlib import Path

    from magister.bench.args import make_folder, out_file, out_folder

    monkeypatch.chdir(tmp_path)
    assert make_folder("") == "--out '' is empty; give a folder for the results, or drop --out for its default"
    assert "--out '  ' is blank" in (make_folder("  ") or "")
    ap = argparse.ArgumentParser()
    for call, arg, needle in ((out_folder, "", "--out '' is empty"), (out_file, "", "--out '' is empty; give a file name"),
                              (out_file, "new/", "--out 'new/' ends in '/': it names a folder; give a file name, "
                                                 "for example 'new/results.json'")):
        with pytest.raises(SystemExit):
            call(ap, arg)
    assert out_file(ap, "new/x.json") == Path("new/x.json") and list(tmp_path.iterdir()) == [tmp_path / "new"]
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import grid_student

    with pytest.raises(SystemExit) as e:
        grid_student.main(["--out", "", "--teachers", "uniform", "--seeds", "1", "--episodes", "10", "--workers", "1"])
    assert e.value.code == 2 and not (tmp_path / "results").exists()


def test_keep_earlier_partial_moves_a_stopped_runs_file_aside_to_a_free_name(tmp_path):
    # the scripts that write their finished runs to a partial file wrote over a stopped run's (or removed it at
    # the end) when run again with the same --out, without a word
    from magister.bench.args import keep_earlier_partial

    said: list[str] = []
    partial = tmp_path / "runs-partial.json"
    assert keep_earlier_partial(partial, said.append) is None and said == []  # nothing there: nothing said
    (tmp_path / "runs-partial.earlier-1.json").write_text("older")
    partial.write_text("[1, 2]")
    aside = keep_earlier_partial(partial, said.append)
    assert aside == tmp_path / "runs-partial.earlier-2.json" and aside.read_text() == "[1, 2]"
    assert not partial.exists() and (tmp_path / "runs-partial.earlier-1.json").read_text() == "older"
    assert len(said) == 1 and str(partial) in said[0] and "runs-partial.earlier-2.json" in said[0]
    assert "stopped" in said[0] and "last written" in said[0]
    (tmp_path / "d.partial.json").write_text("[]")  # selfplay_diagnose's OUT.partial.json
    assert keep_earlier_partial(tmp_path / "d.partial.json", said.append).name == "d.partial.earlier-1.json"


def test_distinct_refuses_a_repeated_entry_by_name():
    # the benchmark scripts' --teachers / --methods ran a repeated entry's runs twice
    import argparse

    from magister.bench.args import distinct
    from magister.errors import ConfigError

    assert distinct(("uniform", "riac"), "--teachers") == ["uniform", "riac"]
    with pytest.raises(ConfigError, match=r"--methods names sec, lp more than once \(sec, lp, sec, lp, sec\)"):
        distinct(["sec", "lp", "sec", "lp", "sec"], "--methods")
    with pytest.raises(SystemExit) as e:
        distinct(["uniform", "uniform"], "--teachers", argparse.ArgumentParser())
    assert e.value.code == 2


def test_median_range_prints_min_and_max_like_the_median_and_signed_ranges_with_to():
    from magister.bench.report import median_range

    assert median_range([0.465, 0.465], 1, scale=100) == "46.5 [46.5-46.5]"
    assert median_range([-1, -1]) == "-1 [-1 to -1]"  # not "-1 [-1--1]"
    assert median_range([0.1, -0.2, 0.2], 1, signed=True) == "+0.1 [-0.2 to +0.2]"
    assert median_range([3, 1, 2]) == "2 [1-3]"


def test_median_range_of_no_values_is_a_config_error():
    # before: numpy's "zero-size array to reduction operation minimum which has no identity"
    from magister.bench.report import median_range
    from magister.errors import ConfigError

    with pytest.raises(ConfigError, match="median_range needs at least one value, got none"):
        median_range([])


def _interrupt_at_job(monkeypatch, index: int) -> None:
    """Ctrl-C (a KeyboardInterrupt) while job ``index`` runs in this process (--workers 1)."""
    import magister.bench.runner as runner

    real = runner.run_job

    def run_job(spec, progress=None, job_index=0):
        if job_index == index:
            raise KeyboardInterrupt
        return real(spec, progress, job_index)

    monkeypatch.setattr(runner, "run_job", run_job)


def test_ctrl_c_keeps_the_finished_runs_marked_and_says_so(tmp_path, monkeypatch):
    # Ctrl-C threw away every finished run without a word (exit 1, an empty output folder)
    _interrupt_at_job(monkeypatch, 1)
    out = tmp_path / "run"
    res = CliRunner().invoke(app, ["bench", "--teachers", "uniform", "--seeds", "3", "--episodes", "50",
                                   "--eval-every", "25", "--workers", "1", "--out", str(out)])
    assert res.exit_code == 130, res.output
    flat = " ".join(res.output.split())
    assert "interrupted: 1 of 3 runs finished" in flat and f"{out}/results-interrupted.json" in flat
    results = report_mod.load_results(out / "results-interrupted.json")
    assert results["interrupted"] == {"finished": 1, "planned": 3}
    assert [(j["seed"], j["status"]) for j in results["jobs"]] == [(0, "ok")]
    assert (out / "curves-interrupted.csv").exists()
    # nothing that reads as a whole run: no results.json, curves.csv or report
    assert sorted(p.name for p in out.iterdir()) == ["curves-interrupted.csv", "results-interrupted.json"]

    _interrupt_at_job(monkeypatch, 0)
    res = CliRunner().invoke(app, ["bench", "--teachers", "uniform", "--seeds", "2", "--episodes", "50",
                                   "--workers", "1", "--out", str(tmp_path / "none")])
    assert res.exit_code == 130 and "before any of the 2 runs finished" in " ".join(res.output.split())
    assert list((tmp_path / "none").iterdir()) == []


def test_a_report_drawn_from_interrupted_results_says_so(tmp_path, monkeypatch):
    # write_report(load_results(".../results-interrupted.json")) read as the whole run
    _interrupt_at_job(monkeypatch, 1)
    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        run_benchmark(["uniform"], ["grid"], seeds=[0, 1], episodes=30, eval_every=15, workers=1, out=out)
    results = report_mod.load_results(out / "results-interrupted.json")
    md = report_mod.write_report(results, tmp_path / "report", figures=False).read_text()
    assert "- interrupted: 1 of 2 runs finished; this report covers only those" in md
    assert "interrupted: 1 of 2 runs finished" in (tmp_path / "report" / "report.html").read_text()


def test_ctrl_c_with_workers_stops_after_the_running_jobs_and_keeps_them():
    # before: every job was handed to the pool at once, so a job already queued to a worker ran to its end after
    # Ctrl-C (for the level benchmark, minutes each, and then thrown away); a second Ctrl-C while waiting lost all
    from magister.bench.runner import Interrupted, JobSpec, run_bench

    jobs = [JobSpec("riac", "grid", s, episodes=4000, eval_every=1000) for s in range(6)]

    pressed = []

    def progress(job, done):  # Ctrl-C in this process as the first progress comes in (jobs 0 and 1 running)
        if not pressed:
            pressed.append(job)
            raise KeyboardInterrupt

    with pytest.raises(Interrupted) as info:
        run_bench(jobs, workers=2, progress=progress)
    kept = [i for i, r in enumerate(info.value.records) if r is not None]
    assert len(info.value.records) == 6 and set(kept) <= {0, 1}, kept
    assert all(info.value.records[i]["status"] == "ok" for i in kept)


CTRL_C_SCRIPT = """
import sys, time
from pathlib import Path
from magister.bench.runner import Interrupted, run_in_pool

def job(i):
    Path(sys.argv[1], f"started-{i}").touch()
    while i == 0:  # job 0 runs until Ctrl-C; job 1 ends at once, its worker waits for more
        time.sleep(0.05)
    return i

if __name__ == "__main__":
    try:
        run_in_pool(job, [0, 1], workers=2, on_result=lambda i, rec: Path(sys.argv[1], f"got-{i}").touch())
    except Interrupted as e:
        print("kept", e.records)
"""


def test_ctrl_c_from_the_terminal_prints_no_worker_traceback(tmp_path):
    # a Ctrl-C from the terminal goes to every process of the group: a worker waiting for a job died with a
    # KeyboardInterrupt traceback printed in the middle of the command's output
    import os
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "ctrl_c.py"
    script.write_text(CTRL_C_SCRIPT)
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        # job 0 running, and job 1's result received (its worker now waits for a next job): no sleep-based guess
        while not ((tmp_path / "started-0").exists() and (tmp_path / "got-1").exists()) and time.monotonic() < deadline:
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert "kept [None, 1]" in out, (out, err)
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err


_START_MASK: dict[str, bool] = {}


def _record_start_mask() -> None:  # a pool initializer: is Ctrl-C blocked while the worker starts?
    import signal

    _START_MASK["blocked"] = signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, ())


def _report_masks(i: int) -> tuple:  # a pool item: the start's mask, and the item's mask and Ctrl-C handler
    import signal

    return (_START_MASK.get("blocked"), signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, ()),
            signal.getsignal(signal.SIGINT) is signal.default_int_handler)


@pytest.fixture
def sigint_restored():
    """Python's own Ctrl-C handler during the test (pytest started in the background of a script, ``pytest &``,
    inherits SIGINT ignored, which these tests read as "Ctrl-C is not for us"), and the test process's handler
    and signal mask put back after it: the handler set to SIG_IGN first, so a SIGINT a failed test left pending
    is dropped rather than raised in the teardown (it stopped the whole pytest run)."""
    import signal

    handler, mask = signal.getsignal(signal.SIGINT), signal.pthread_sigmask(signal.SIG_BLOCK, ())
    signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    signal.signal(signal.SIGINT, handler)


def test_pool_workers_start_with_ctrl_c_blocked_and_run_items_with_it_live(sigint_restored):
    # a Ctrl-C from the terminal while a spawned worker still started (its interpreter's start and imports take
    # seconds) killed it with a KeyboardInterrupt traceback and broke the pool: workers start with it blocked
    import signal

    from magister.bench.runner import run_in_pool

    handler, mask = signal.getsignal(signal.SIGINT), signal.pthread_sigmask(signal.SIG_BLOCK, ())
    got = run_in_pool(_report_masks, [0, 1], workers=2, initializer=_record_start_mask)
    assert got == [(True, False, True)] * 2
    assert signal.getsignal(signal.SIGINT) is handler and signal.pthread_sigmask(signal.SIG_BLOCK, ()) == mask


def test_a_ctrl_c_while_a_pool_worker_started_stops_its_first_item(sigint_restored):
    # _pool_init set SIG_IGN, which discards a pending Ctrl-C unseen: the worker then ran its first item (for
    # minutes, in the level benchmark) although the main process had stopped
    import signal
    import threading

    from magister import processes

    calls = []
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})  # as a worker starts
    signal.pthread_kill(threading.get_ident(), signal.SIGINT)  # the Ctrl-C, pending
    assert signal.SIGINT in signal.sigpending()
    processes._pool_init(calls.append, ("init",))  # no KeyboardInterrupt here, during the start
    assert calls == ["init"] and signal.SIGINT not in signal.sigpending()
    assert signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, ())
    assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN  # an idle worker still ignores Ctrl-C
    with pytest.raises(KeyboardInterrupt):
        processes._pool_call(calls.append, False, "first item")
    assert calls == ["init"]
    assert processes._pool_call(lambda x: x * 2, False, 21) == 42  # the Ctrl-C stopped one item, not the worker
    processes._pool_init(None, ())  # (no Ctrl-C: the first item runs)
    assert processes._pool_call(lambda x: x * 2, False, 4) == 8


def test_a_ctrl_c_held_back_around_a_step_is_raised_after_it(sigint_restored):
    # a Ctrl-C in the middle of pool.submit (which starts a worker) left a started worker unknown to the pool,
    # never told to stop: the process hung at exit joining it. Held back, it is raised after the step, not lost
    import signal
    import threading

    from magister.processes import _ctrl_c_held

    steps = []
    with pytest.raises(KeyboardInterrupt):
        with _ctrl_c_held():
            signal.pthread_kill(threading.get_ident(), signal.SIGINT)  # pending: this thread blocks it
            steps.append("after the signal")
            signal.getsignal(signal.SIGINT)(signal.SIGINT, None)  # as when another thread took it
            steps.append("step done")
    assert steps == ["after the signal", "step done"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, ()) | signal.sigpending()
    with _ctrl_c_held():  # no Ctrl-C: nothing raised
        steps.append("quiet")
    assert steps[-1] == "quiet"


def test_a_ctrl_c_during_a_workers_progress_put_comes_after_it(sigint_restored, monkeypatch):
    # a Ctrl-C inside the progress queue's put (its first starts the queue's thread and registers its clean-up)
    # left the worker hung at exit, joining that thread: the put now ends first, then the job stops
    import signal
    import threading

    from magister.bench import runner

    class Queue:
        items: list = []

        def put(self, item) -> None:  # the Ctrl-C arrives halfway through
            signal.pthread_kill(threading.get_ident(), signal.SIGINT)
            Queue.items.append(item)

    monkeypatch.setattr(runner, "_PROGRESS_QUEUE", Queue())
    signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a running job
    with pytest.raises(KeyboardInterrupt):
        runner._worker_job(JobSpec("uniform", "grid", 0, episodes=20, eval_every=10), 0)
    assert Queue.items == [(0, 10)]


def _until_stopped(i: int) -> int:  # item 0 runs until its worker is ended (a minute at most), item 1 at once
    import time

    for _ in range(1200 if i == 0 else 0):
        time.sleep(0.05)
    return i


def test_a_second_ctrl_c_while_the_running_items_end_stops_them_and_keeps_the_finished(monkeypatch, tmp_path):
    # a Ctrl-C while run_in_pool waited for the running items after the first escaped as a plain
    # KeyboardInterrupt: the finished results were lost (`magister bench` exited 130 without a word), and the
    # process could hang at exit joining a worker
    from concurrent.futures import ProcessPoolExecutor

    from magister import processes
    from magister.bench import runner

    class SecondCtrlC(ProcessPoolExecutor):
        pressed = False

        def shutdown(self, wait=True, **kw):
            if wait and not SecondCtrlC.pressed:
                SecondCtrlC.pressed = True
                raise KeyboardInterrupt  # while waiting for item 0
            super().shutdown(wait, **kw)

    monkeypatch.setattr(processes, "ProcessPoolExecutor", SecondCtrlC)
    got = []

    def first_ctrl_c() -> None:  # after item 1's result came in, with item 0 running
        if got:
            raise KeyboardInterrupt

    try:
        runner.run_in_pool(_until_stopped, [0, 1], workers=2, on_result=lambda i, r: got.append(i), tick=first_ctrl_c)
    except runner.Interrupted as e:
        kept = e.records
    except KeyboardInterrupt:
        kept = "a plain KeyboardInterrupt"
    assert SecondCtrlC.pressed and kept == [None, 1]


def test_an_error_from_a_second_ctrl_c_in_the_wait_keeps_the_finished_items():
    # two Ctrl-C in a row (`timeout -s INT` sends two) broke threading's lock inside wait(): the second one
    # interrupted the first one's clean-up, and "RuntimeError: release unlocked lock" lost every finished run
    from magister.bench.runner import Interrupted, run_in_pool

    def broken_wait(i: int, result: int) -> None:  # the error, as wait() raised it, after the first result
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise RuntimeError("release unlocked lock")

    with pytest.raises(Interrupted) as info:  # (the other item ends at once: waited for, and kept too)
        run_in_pool(_until_stopped, [1, 2], workers=2, on_result=broken_wait)
    assert info.value.records == [1, 2]
    with pytest.raises(ValueError, match="a job's own error"):  # other errors still go through
        run_in_pool(_fails, [1], workers=2)


def _fails(i: int) -> int:
    raise ValueError("a job's own error")


def test_cli_help_documents_the_options():
    res = CliRunner().invoke(app, ["bench", "--help"], env={"COLUMNS": "200"})
    assert res.exit_code == 0
    for opt in ("--teachers", "--students", "--seeds", "--episodes", "--eval-every", "--workers", "--out", "--demo",
                "--batch", "--set"):
        assert opt in res.output


def test_grid_reachable_by_hand():
    from magister.students import GridStudent

    s = GridStudent(dims=2, cells=3)

    def grid_reachable(learnable, dims, cells):
        s.learnable = learnable.copy()
        return s.reachable()

    learnable = np.ones((3, 3), dtype=bool)
    learnable[1, 0] = learnable[1, 1] = learnable[0, 1] = False  # wall around the origin
    reach = grid_reachable(learnable.ravel(), 2, 3).reshape(3, 3)
    assert reach[0, 0] and reach.sum() == 1  # everything else is cut off
    learnable[1, 1] = True  # the diagonal predecessor reopens the rest
    reach = grid_reachable(learnable.ravel(), 2, 3).reshape(3, 3)
    # (2, 0) and (0, 2) only have the unlearnable (1, 0) / (0, 1) before them
    assert {tuple(i) for i in np.argwhere(reach)} == {(0, 0), (1, 1), (2, 1), (1, 2), (2, 2)}


def test_set_of_a_setting_another_teacher_takes_names_that_teacher():
    """--set uniform.set_aside=0.9 said "uniform has no setting 'set_aside'; its settings are: score_range", not
    that exp3, lp-bandit and sec take it."""
    with pytest.raises(ConfigError, match=r"uniform has no setting 'set_aside'; its settings are: score_range; "
                                          r"'set_aside' is a setting of 'exp3', 'lp-bandit', 'sec'$"):
        plan_jobs(["uniform"], ["skills-10"], [0], episodes=10, eval_every=5,
                  settings={"uniform": {"set_aside": 0.9}})


def test_set_is_checked_against_the_teachers_settings_before_any_job(tmp_path):
    """Issue 12, item 12: a misspelt --set used to start the run and fail every job with a TypeError."""
    out = tmp_path / "x"
    res = CliRunner().invoke(app, ["bench", "--teachers", "alp-gmm", "--set", "alp-gmm.fit_every=150",
                                   "--episodes", "10", "--workers", "1", "--out", str(out)])
    flat = " ".join(res.output.split())
    assert res.exit_code == 2, res.output
    assert "alp-gmm has no setting 'fit_every'" in flat and "fit_rate" in flat and "random_ratio" in flat
    assert "runs:" not in flat and not out.exists()  # refused before any job was planned or run
    # teachers whose constructor takes **settings list the settings they pass on (riac-plus -> riac)
    with pytest.raises(ConfigError, match="riac-plus has no setting 'max_pts'.*max_points"):
        plan_jobs(["riac-plus"], ["grid"], [0], episodes=10, eval_every=5, settings={"riac-plus": {"max_pts": 3}})
    # a known setting with a value the teacher refuses is refused up front too, naming the teacher
    with pytest.raises(ConfigError, match="alp-gmm.*random_ratio"):
        plan_jobs(["alp-gmm"], ["grid"], [0], episodes=10, eval_every=5, settings={"alp-gmm": {"random_ratio": 7}})
    jobs, _ = plan_jobs(["alp-gmm"], ["grid"], [0], episodes=10, eval_every=5, settings={"alp-gmm": {"fit_rate": 150}})
    assert jobs[0].settings == {"fit_rate": 150}
    # the examples in the help and the docs use a setting that exists
    help_text = " ".join(CliRunner().invoke(app, ["bench", "--help"], env={"COLUMNS": "200"}).output.split())
    assert "alp-gmm.fit_every" not in help_text and "alp-gmm.fit_rate=150" in help_text
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[1] / "docs" / "bench.md").read_text()
    assert "fit_every" not in doc and "alp-gmm.fit_rate=150" in doc


@pytest.mark.parametrize("kwargs, needle", [({"seeds": [-1]}, "seed"), ({"seeds": [1.5]}, "seed"),
                                            ({"seeds": [0, 0]}, "repeat"), ({"seeds": []}, "empty"),
                                            ({"episodes": 2.5}, "episodes"), ({"episodes": float("nan")}, "episodes")])
def test_plan_refuses_bad_seeds_and_budgets_before_any_job(kwargs, needle):
    # a negative seed used to be planned and then failed in every job (SeedSequence refuses it); 1.5 ran as 1
    args = {"seeds": [0], "episodes": 4, "eval_every": 2, **kwargs}
    seeds = args.pop("seeds")
    with pytest.raises(ConfigError, match=needle):
        plan_jobs(["uniform"], ["grid"], seeds, **args)


def test_cli_refuses_a_negative_first_seed(tmp_path):
    r = CliRunner().invoke(app, ["bench", "--teachers", "uniform", "--first-seed", "-1", "--seeds", "1",
                                 "--episodes", "4", "--out", str(tmp_path / "o")])
    assert r.exit_code != 0 and not (tmp_path / "o" / "results.json").exists()


def test_markdown_table_escapes_a_pipe_in_a_label(tmp_path):
    res = run_benchmark(["uniform@a|b"], ["grid"], seeds=[0], episodes=4, eval_every=2, workers=1, out=tmp_path)
    rows = [l for l in (tmp_path / "report.md").read_text().splitlines() if l.startswith("| grid")]
    assert res["jobs"] and rows and all(l.replace("\\|", "").count("|") == rows[0].replace("\\|", "").count("|")
                                        for l in rows)
    header = next(l for l in (tmp_path / "report.md").read_text().splitlines() if l.startswith("| "))
    assert rows[0].replace("\\|", "").count("|") == header.count("|")


def test_report_keeps_a_multi_line_error_inside_its_list_item(tmp_path):
    """An error of several lines must not end the "Failed jobs" list: its lines stay in the item (a code block),
    not a heading or a table of the report."""
    from markdown_it import MarkdownIt

    err = {"teacher": "uniform", "student": "grid", "seed": 1, "status": "error",
           "error": "ValueError: first line\n## not a heading\n\n| a | b |\n|---|---|"}
    results = {"format": report_mod.FORMAT, "config": {"teachers": ["uniform"], "students": ["grid"], "seeds": [1],
                                                       "episodes": 50, "eval_every": 25, "batch": 1, "workers": 1},
               "students": {"grid": {"description": "grid"}}, "jobs": [err], "skipped": [], "wall_s": 0.1}
    md = report_mod.write_report(results, tmp_path, figures=False, html_report=False).read_text()
    tokens = MarkdownIt().enable("table").parse(md)
    headings = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open"]
    assert "not a heading" not in headings and headings[-2:] == ["Figures", "Files"]
    assert sum(t.type == "table_open" for t in tokens) == 1  # the summary table only
    code = [t.content for t in tokens if t.type == "code_block"]
    assert code and "## not a heading" in code[0] and "| a | b |" in code[0]


def test_bench_refuses_options_the_chosen_benchmark_ignores(tmp_path, monkeypatch):
    """--levels runs its own student and budget: --episodes, --set, --students... were dropped silently; and --steps
    (a --levels option) was dropped silently without it. Both are refused before anything runs."""
    import magister.bench.levels as levels_mod

    called = []
    monkeypatch.setattr(levels_mod, "run_and_report", lambda *a, **k: called.append(k))
    r = CliRunner().invoke(app, ["bench", "--levels", "--episodes", "50", "--set", "plr.temperature=0.1",
                                 "--out", str(tmp_path / "lv")])
    assert r.exit_code == 2 and "--episodes, --set do not go with --levels" in " ".join(r.output.split())
    assert not called
    r = CliRunner().invoke(app, ["bench", "--steps", "5000", "-t", "uniform", "--episodes", "20", "--seeds", "1",
                                 "-w", "1", "--no-report", "--out", str(tmp_path / "b")])
    assert r.exit_code == 2 and "--steps goes with --levels" in r.output
    assert not (tmp_path / "b").exists()
    r = CliRunner().invoke(app, ["bench", "--levels", "--steps", "5000", "--out", str(tmp_path / "lv")])
    assert r.exit_code == 0 and called and called[0]["steps"] == 5000


def test_levels_takes_teachers_all(tmp_path, monkeypatch):
    # --teachers all (the option's help) was refused as an unknown level benchmark teacher 'all'
    import magister.bench.levels as levels_mod

    called = []
    monkeypatch.setattr(levels_mod, "run_and_report", lambda *a, **k: called.append(a))
    r = CliRunner().invoke(app, ["bench", "--levels", "-t", "all", "--out", str(tmp_path / "lv")])
    assert r.exit_code == 0 and called and called[0][0] == list(levels_mod.LEVEL_TEACHERS), r.output


def test_cli_all_is_every_registered_teacher_and_student(tmp_path, monkeypatch):
    # 'all' is expanded by one rule (bench.cli._names) for --teachers and --students, with and without --suite
    import magister.bench as bench_mod
    import magister.bench.suite as suite_mod
    from magister.students.registry import available_students

    called = {}

    def capture(key):
        def fake(*args, **kwargs):
            called[key] = args[:2]  # (teachers, students) or (suite, teachers)
            raise ConfigError("captured")
        return fake

    monkeypatch.setattr(bench_mod, "run_benchmark", capture("bench"))
    monkeypatch.setattr(suite_mod, "run_suite", capture("suite"))
    out = str(tmp_path / "b")
    r = CliRunner().invoke(app, ["bench", "-t", "all", "-s", "all", "--out", out])
    assert r.exit_code == 2 and "captured" in r.output, r.output
    assert called["bench"] == (mg.available_teachers(), available_students())
    r = CliRunner().invoke(app, ["bench", "-t", " all ", "-s", "grid", "--out", out])
    assert called["bench"] == (mg.available_teachers(), ["grid"])
    r = CliRunner().invoke(app, ["bench", "-t", "all,uniform", "--out", out])  # not alone: kept (refused later)
    assert called["bench"] == (["all", "uniform"], None)
    r = CliRunner().invoke(app, ["bench", "--suite", "quick", "-t", "all", "--out", out])
    assert r.exit_code == 2 and called["suite"] == ("quick", mg.available_teachers())
    # an option that names none ran every teacher, as if it were left out
    for args in (["bench", "-t", ",", "--out", out], ["bench", "-s", " , ", "--out", out],
                 ["bench", "--suite", "quick", "-t", ",", "--out", out], ["bench", "--levels", "-t", ",", "--out", out]):
        called.clear()
        r = CliRunner().invoke(app, args)
        assert r.exit_code == 2 and "names none" in r.output and not called, (args, r.output)


def test_the_python_api_refuses_a_name_given_twice_as_the_cli_does():
    # run_benchmark / plan_suite (resolve_teachers, resolve_students, the suite's variants) dropped the repeat
    # without a word while the CLI refused it
    from magister.bench.runner import resolve_students, resolve_teachers
    from magister.bench.suite import plan_suite

    for call, what in ((lambda: resolve_teachers(["uniform", "riac", "uniform"]), "teachers"),
                       (lambda: resolve_students(["grid", "grid"]), "students"),
                       (lambda: plan_suite("quick", ["uniform"], [0], variants=["grid", "grid"]), "variants")):
        with pytest.raises(mg.ConfigError, match=f"{what} names .* more than once"):
            call()
    assert resolve_teachers(["uniform", "riac"]) == ["uniform", "riac"]


@pytest.mark.parametrize("args", [["-t", "uniform,riac,uniform"], ["-s", "grid,grid"],
                                  ["--suite", "quick", "-t", "uniform,riac,uniform"],
                                  ["--suite", "quick", "--variants", "grid,grid"], ["--levels", "-t", "uniform,uniform"]])
def test_cli_refuses_a_name_given_twice_in_every_mode_with_one_message(tmp_path, monkeypatch, args):
    """``--teachers uniform,uniform`` was refused by --levels but dropped without a word by the plain bench and
    --suite (so were --students and --variants repeats): one rule (bench.cli._names), one message, before any run."""
    import magister.bench as bench_mod
    import magister.bench.levels as levels_mod
    import magister.bench.suite as suite_mod

    def never(*a, **k):
        raise AssertionError("no run may start")

    for mod, name in ((bench_mod, "run_benchmark"), (suite_mod, "run_suite"), (levels_mod, "run_and_report")):
        monkeypatch.setattr(mod, name, never)
    r = CliRunner().invoke(app, ["bench", *args, "--out", str(tmp_path / "b")])
    option, names = args[-2:]
    option = {"-t": "--teachers", "-s": "--students"}.get(option, option)
    repeated = names.split(",")[0]
    assert r.exit_code == 2 and isinstance(r.exception, SystemExit), r.output
    assert (f"{option} names {repeated} more than once ({', '.join(names.split(','))}); a repeated entry would run "
            "the same runs again: name each once") in " ".join(r.output.split()), r.output
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize("extra, needle", [
    (["-t", "uniform,uniform"], "--teachers names uniform more than once"),  # was "teachers names ..."
    # the last seed overflowed torch's seeds: its run failed with "Overflow when unpacking long long", after the others
    (["-t", "uniform", "--first-seed", str(2**64 - 10_001), "--seeds", "2"], "is too large for the level benchmark")])
def test_levels_refuses_repeated_teachers_and_seeds_torch_cannot_take_before_any_run(tmp_path, monkeypatch, extra,
                                                                                     needle):
    import magister.bench.levels as levels_mod

    def never(*args, **kwargs):
        raise AssertionError("no run may start")

    monkeypatch.setattr(levels_mod, "run_levels_benchmark", never)
    r = CliRunner().invoke(app, ["bench", "--levels", *extra, "--out", str(tmp_path / "lv")])
    assert r.exit_code == 2 and needle in " ".join(r.output.split()), r.output
    assert not (tmp_path / "lv").exists()


def test_levels_refuses_a_bad_teacher_without_leaving_an_output_folder(tmp_path, monkeypatch):
    """--levels created its output folder before checking its teachers: a typo left an empty folder behind."""
    import magister.bench.levels as levels_mod

    def never(*args, **kwargs):
        raise AssertionError("no run may start")

    monkeypatch.setattr(levels_mod, "run_levels_benchmark", never)
    r = CliRunner().invoke(app, ["bench", "--levels", "-t", "plrr", "--out", str(tmp_path / "lv")])
    assert r.exit_code == 2 and "unknown level benchmark teacher(s) ['plrr']" in " ".join(r.output.split())
    assert "['plrr'] (did you mean 'plr'?); choose from" in " ".join(r.output.split())  # (no near miss was named)
    assert not (tmp_path / "lv").exists()
    r = CliRunner().invoke(app, ["bench", "--levels", "-t", "robust_plr,nope", "--out", str(tmp_path / "lv")])
    assert r.exit_code == 2 and "['robust_plr', 'nope'] (did you mean 'robust-plr'?)" in " ".join(r.output.split())
    assert not (tmp_path / "lv").exists()
    (tmp_path / "taken").write_text("a file, not a folder")  # still refused before any run
    r = CliRunner().invoke(app, ["bench", "--levels", "-t", "plr", "--out", str(tmp_path / "taken")])
    assert r.exit_code == 2 and "cannot create the output folder" in " ".join(r.output.split())


@pytest.mark.parametrize("missing", ["gymnasium", "torch"])
def test_levels_without_its_extras_says_how_to_install_them(tmp_path, monkeypatch, missing):
    """--levels needs Gymnasium and PyTorch, which the light core lacks: it was a ModuleNotFoundError traceback."""
    import sys

    monkeypatch.setitem(sys.modules, missing, None)
    r = CliRunner().invoke(app, ["bench", "--levels", "-t", "uniform", "--seeds", "1", "--steps", "1024",
                                 "--out", str(tmp_path / "lv")])
    assert r.exit_code == 2 and isinstance(r.exception, SystemExit), r.output
    assert "pip install 'magister[rl,torch]'" in " ".join(r.output.split())
    assert not (tmp_path / "lv").exists()


@pytest.mark.parametrize("kwargs, needle", [({"max_samples": 0}, "max_samples must be a whole number >= 1"),
                                            ({"max_samples": 2.5}, "max_samples must be a whole number"),
                                            ({"workers": 1.7}, "workers must be a whole number >= 1")])
def test_run_benchmark_refuses_bad_max_samples_and_workers(kwargs, needle):
    """max_samples=0 or 2.5 and workers=1.7 ran silently (one sample kept, two, one worker)."""
    planned = []
    with pytest.raises(ConfigError, match=needle):
        run_benchmark(["uniform"], ["grid"], seeds=[0], episodes=20, eval_every=10,
                      on_plan=lambda jobs, skipped: planned.append(jobs), **{"workers": 1, **kwargs})
    assert not planned


def test_html_report_lists_failed_jobs_and_skipped_pairs(tmp_path):
    """report.html is "the same" as report.md, figures embedded: it left out the failed jobs and skipped pairs."""
    err = {"teacher": "uniform", "student": "grid", "seed": 1, "status": "error", "error": "ValueError: a <b> c\nd"}
    results = {"format": report_mod.FORMAT, "config": {"teachers": ["uniform"], "students": ["grid"], "seeds": [1],
                                                       "episodes": 50, "eval_every": 25, "batch": 1, "workers": 1},
               "students": {"grid": {"description": "grid"}}, "jobs": [err], "wall_s": 0.1,
               "skipped": [{"teacher": "sec", "student": "grid", "reason": "sec is a discrete teacher"}]}
    report_mod.write_report(results, tmp_path, figures=False)
    page = (tmp_path / "report.html").read_text()
    assert "Failed jobs" in page and "ValueError: a &lt;b&gt; c\nd" in page
    assert "Skipped pairs" in page and "sec is a discrete teacher" in page


def test_run_benchmark_refuses_settings_of_a_teacher_left_out():
    """With every teacher (teachers=None), one that fits no student is left out silently, and so were its
    settings: --set sec.set_aside=0.5 on the grid changed nothing."""
    planned = []
    with pytest.raises(ConfigError, match="settings given for teachers that fit none of the chosen students: sec"):
        run_benchmark(None, ["grid"], seeds=[0], episodes=20, eval_every=10, workers=1,
                      settings={"sec": {"set_aside": 0.5}}, on_plan=lambda jobs, skipped: planned.append(jobs))
    assert not planned


@pytest.mark.parametrize("kwargs, needle", [({"eval_every": -5}, "eval_every must be a whole number >= 1"),
                                            ({"eval_every": 0}, "eval_every must be a whole number >= 1"),
                                            ({"steps": 0}, "steps must be a whole number >= 1"),
                                            ({"seeds": [0, 0]}, "seeds repeat")])
def test_level_benchmark_checks_its_settings_before_running(kwargs, needle, monkeypatch):
    """run_and_report passed eval_every=-5 on to runs that never finished (each chunk of training was empty),
    and replaced 0 by the default silently."""
    import magister.bench.levels as levels_mod

    ran = []
    monkeypatch.setattr(levels_mod, "run_levels_benchmark", lambda *a, **k: ran.append(k) or [])
    with pytest.raises(ConfigError, match=needle):
        levels_mod.run_and_report(["uniform"], **{"seeds": [0], "speed_steps": 0, "echo": lambda line: None, **kwargs})
    assert not ran
    if "eval_every" in kwargs or "steps" in kwargs:  # a run started directly is refused before it starts
        with pytest.raises(ConfigError, match=needle):
            levels_mod.run_levels_job("uniform", 0, **{"steps": 4096, **kwargs})


def test_grid_student_script_says_the_published_figures_are_at_20k_beside_another_budget(tmp_path, capsys):
    """benchmarks/grid_student.py put the published 20,000-episode figures under "published %" beside a run of
    any budget (its docstring suggests --episodes 5000 for a quick look) without saying so."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import grid_student

    grid_student.main(["--teachers", "uniform", "--students", "grid", "--seeds", "1", "--episodes", "200",
                       "--eval-every", "100", "--workers", "1", "--out", str(tmp_path)])
    header = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("teacher "))
    assert "published % (at 20,000 episodes)" in header


@pytest.mark.parametrize("bad, needle", [(["--seeds", "0"], "--seeds"), (["--workers", "0"], "--workers"),
                                         (["--eval-every", "-5"], "--eval-every"), (["--teachers", "unifrom"], "unifrom"),
                                         (["--students", "gird"], "gird"), (["--out", "FILE"], "is a file")])
def test_grid_student_script_refuses_bad_options_before_any_run(tmp_path, capsys, bad, needle):
    """benchmarks/grid_student.py ran with --seeds 0 / --workers 0 / a typo'd teacher into a traceback (ConfigError,
    exit 1), and an --out that is a file failed with FileExistsError only after every run had finished."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import grid_student

    (tmp_path / "FILE").write_text("not a folder")
    bad = [str(tmp_path / "FILE") if b == "FILE" else b for b in bad]
    with pytest.raises(SystemExit) as e:
        grid_student.main(["--teachers", "uniform", "--students", "grid", "--seeds", "1", "--episodes", "50",
                           "--eval-every", "25", "--workers", "1", "--out", str(tmp_path / "out"), *bad])
    out = capsys.readouterr()
    assert e.value.code == 2 and needle in out.err.split("error:", 1)[1]
    assert "runs finished" not in out.out  # refused before any run


def test_python_dash_m_magister_runs_the_command_line():
    # `python -m magister` failed with "No module named magister.__main__"; it is the installed `magister` script
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "magister", "teachers"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "riac-plus" in out.stdout and "frontier" in out.stdout


def test_magister_version_flag_prints_the_installed_version():
    # `magister --version` was "No such option"; it must agree with the package metadata (pyproject's version)
    import importlib.metadata
    import subprocess
    import sys

    import magister

    out = subprocess.run([sys.executable, "-m", "magister", "--version"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"magister {importlib.metadata.version('magister')}"
    assert magister.__version__ == importlib.metadata.version("magister")


def _exec_redo(command: str) -> None:
    """Run the ``python -c CODE`` a Ctrl-C message gives, in this process."""
    import shlex

    words = shlex.split(command)
    assert words[:2] == ["python", "-c"] and len(words) == 3, command
    exec(words[2], {})


def test_a_ctrl_c_while_the_report_is_drawn_says_what_was_written_and_how_to_redo_it(tmp_path, monkeypatch):
    # a Ctrl-C after the runs, while the pictures were drawn, exited 130 without a word: results.json and a few
    # pictures, no report, and nothing said how to draw it
    from magister.bench import plots

    real = plots.sampling_over_time_figure

    def ctrl_c(*a, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(plots, "sampling_over_time_figure", ctrl_c)
    out = tmp_path / "run"
    res = CliRunner().invoke(app, ["bench", "--teachers", "uniform", "--seeds", "2", "--episodes", "40",
                                   "--eval-every", "20", "--workers", "1", "--out", str(out)])
    assert res.exit_code == 130, res.output
    flat = " ".join(res.output.split())
    assert (f"interrupted while the report was written: all 2 runs finished; their results are whole in "
            f"{out}/results.json and {out}/curves.csv; report.md and report.html are not written (written already: "
            "curves.png, overhead.png); to write them: python -c") in flat, flat
    assert [j["seed"] for j in report_mod.load_results(out)["jobs"]] == [0, 1]
    assert sorted(p.name for p in out.iterdir()) == ["curves.csv", "curves.png", "overhead.png", "results.json"]
    monkeypatch.setattr(plots, "sampling_over_time_figure", real)
    _exec_redo(flat.split("to write them: ", 1)[1])
    assert {"report.md", "report.html", "sampling-grid.png"} <= {p.name for p in out.iterdir()}

    # the library: ReportInterrupted (an Interrupted, a KeyboardInterrupt) with every record and the files
    from magister.bench.runner import ReportInterrupted

    monkeypatch.setattr(plots, "sampling_over_time_figure", ctrl_c)
    with pytest.raises(ReportInterrupted) as info:
        run_benchmark(["uniform"], ["grid"], seeds=[0], episodes=30, eval_every=15, workers=1, out=out)
    e = info.value
    assert e.finished == 1 and e.missing == ["report.md", "report.html"] and e.error is None
    assert e.written == [str(out / "results.json"), str(out / "curves.csv")]


def test_a_ctrl_c_while_a_suites_tables_are_written_says_how_to_write_them(tmp_path, monkeypatch):
    from magister.bench import suite as suite_mod
    from magister.bench.runner import ReportInterrupted

    real = suite_mod.suite_tables

    def ctrl_c(results):
        raise KeyboardInterrupt

    monkeypatch.setattr(suite_mod, "suite_tables", ctrl_c)
    with pytest.raises(ReportInterrupted) as info:
        suite_mod.run_suite("quick", ["uniform"], seeds=[0], episodes=50, variants=["skills-10"], workers=1,
                            out=tmp_path)
    assert info.value.missing == ["suite.md"] and (tmp_path / "results.json").exists()
    monkeypatch.setattr(suite_mod, "suite_tables", real)
    _exec_redo(info.value.redo)
    assert (tmp_path / "suite.md").read_text() == real(report_mod.load_results(tmp_path)) + "\n"


def test_pictures_and_report_files_are_written_whole_or_not_at_all(tmp_path, monkeypatch):
    # a Ctrl-C (or an error) while a picture or curves.csv was written left it cut short, under its real name
    from matplotlib.figure import Figure

    from magister.bench import plots

    picture = tmp_path / "curves.png"
    picture.write_bytes(b"an earlier run's picture")

    def stopped_savefig(self, fname, **kw):
        (open(fname, "wb") if isinstance(fname, (str, type(picture))) else fname).write(b"\x89PNG half")
        raise KeyboardInterrupt

    monkeypatch.setattr(Figure, "savefig", stopped_savefig)
    with pytest.raises(KeyboardInterrupt):
        plots.save_figure(Figure(), picture)
    assert picture.read_bytes() == b"an earlier run's picture"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curves.png"]  # no temporary file left

    results = {"jobs": [{"status": "ok", "teacher": "t", "student": "s", "seed": 0, "episodes": [0, 10],
                         "mastery": [0.0, 0.5], "overhead": {"window_mean_us": [1.0]}},
                        {"status": "ok", "teacher": "t", "student": "s", "seed": 1}]}  # (broken: no curve)
    (tmp_path / "curves.csv").write_text("an earlier run's curves\n")
    with pytest.raises(KeyError):
        report_mod.write_results(results, tmp_path)
    assert (tmp_path / "curves.csv").read_text() == "an earlier run's curves\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curves.csv", "curves.png", "results.json"]


def test_a_ctrl_c_held_back_during_a_step_that_fails_is_raised_with_the_error(sigint_restored):
    # the held Ctrl-C was dropped when the step raised: the error went on alone, and the Ctrl-C was lost
    import signal
    import threading

    from magister.processes import _ctrl_c_held

    with pytest.raises(KeyboardInterrupt) as info:
        with _ctrl_c_held():
            signal.pthread_kill(threading.get_ident(), signal.SIGINT)  # pending: this thread blocks it
            raise OSError("disk full")
    assert isinstance(info.value.__cause__, OSError) and str(info.value.__cause__) == "disk full"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    with pytest.raises(OSError, match="disk full"):  # no Ctrl-C: the error alone
        with _ctrl_c_held():
            raise OSError("disk full")


def _hidden_error(i: int, result: int) -> None:
    try:
        raise KeyboardInterrupt
    except KeyboardInterrupt:
        raise RuntimeError("a real error in on_result")


def test_an_error_that_came_with_a_ctrl_c_is_kept_on_interrupted_and_printed(tmp_path):
    # run_in_pool stopped as for the Ctrl-C and dropped the error unseen
    import io

    from rich.console import Console

    from magister.bench.cli import _interrupted
    from magister.bench.runner import Interrupted, run_in_pool

    with pytest.raises(Interrupted) as info:
        run_in_pool(_until_stopped, [1], workers=2, on_result=_hidden_error)
    error = info.value.error
    assert isinstance(error, RuntimeError) and info.value.__cause__ is error and info.value.records == [1]
    console = Console(file=io.StringIO(), width=300)
    import typer

    with pytest.raises(typer.Exit):
        _interrupted(console, info.value, str(tmp_path))
    assert "while stopping, an error came too: RuntimeError: a real error in on_result" in console.file.getvalue()


def test_comma_lists_refuse_an_empty_item():
    # "1,,4" read as [1, 4] without a word
    import argparse

    from magister.bench.args import at_least, comma_list

    seeds = comma_list(at_least(0))
    assert seeds("1,4") == [1, 4] and seeds("1, 4,") == [1, 4]  # (one trailing comma is fine)
    for text, n in (("1,,4", 2), (",1", 1), ("1,4,,", 3), ("1, ,4", 2)):
        with pytest.raises(argparse.ArgumentTypeError, match=f"item {n} of {text!r} is empty; separate the items "
                                                             "with single commas"):
            seeds(text)
    with pytest.raises(argparse.ArgumentTypeError, match="takes a comma-separated list"):
        seeds(",")


def test_an_out_path_starting_with_a_tilde_is_refused(tmp_path, monkeypatch):
    # --out=~/x (no shell expansion after "=") made a folder named "~" in the current folder
    import argparse
    import os

    from magister.bench.args import make_folder, out_file

    monkeypatch.chdir(tmp_path)
    home = os.path.expanduser("~/x")
    assert make_folder("~/x") == (f"--out '~/x' starts with '~', which was not expanded to a home folder (the shell "
                                  f"does that only after a space, not after '='); write {home!r} (--out ~/x, with a "
                                  "space, lets the shell expand it), or ./~/x for a folder named '~'")
    with pytest.raises(SystemExit):
        out_file(argparse.ArgumentParser(), "~/r.json")
    res = CliRunner().invoke(app, ["bench", "--teachers", "uniform", "--seeds", "1", "--episodes", "10",
                                   "--workers", "1", "--out=~/x"])
    assert res.exit_code == 2 and "--out '~/x' starts with '~'" in " ".join(res.output.split()), res.output
    assert list(tmp_path.iterdir()) == []
    assert make_folder("./~") is None and (tmp_path / "~").is_dir()  # (a folder named "~" on purpose)
def _pair(a: int, b: int) -> tuple[int, int]:
    return (b, a)


def test_run_jobs_gives_the_same_results_with_one_worker_as_with_a_pool():
    # the benchmarks/*.py scripts run their jobs through run_jobs: --workers 1 here, more in run_in_pool's pool
    from magister.bench.runner import run_jobs

    items = [(1, 2), (3, 4), (5, 6)]
    seen: list[int] = []
    assert run_jobs(_pair, items, workers=1, star=True, on_result=lambda i, r: seen.append(i)) == \
        run_jobs(_pair, items, workers=2, star=True) == [(2, 1), (4, 3), (6, 5)]
    assert seen == [0, 1, 2]


def test_run_jobs_with_one_worker_keeps_the_finished_results_on_ctrl_c():
    from magister.bench.runner import Interrupted, run_jobs

    def job(i: int) -> int:
        if i == 2:
            raise KeyboardInterrupt
        return 10 * i

    with pytest.raises(Interrupted) as info:
        run_jobs(job, [0, 1, 2, 3], workers=1)
    assert info.value.records == [0, 10, None, None] and info.value.finished == 2


@pytest.mark.parametrize("records, kept, line", [
    ([1, None], "runs-partial.json", "interrupted: 1 of 2 runs finished; they are kept in runs-partial.json"),
    ([1, None], None, "interrupted: 1 of 2 runs finished (not kept: this script writes its results once every run "
                      "has finished)"),
    ([None, None], "runs-partial.json", "interrupted: 0 of 2 runs finished\n")])
def test_exit_interrupted_says_what_finished_and_where_it_is_kept(capsys, records, kept, line):
    from magister.bench.runner import Interrupted, exit_interrupted

    with pytest.raises(SystemExit) as e:
        exit_interrupted(Interrupted(records), kept)
    assert e.value.code == 130 and line in capsys.readouterr().err


def test_exit_interrupted_names_an_error_that_came_with_the_ctrl_c(capsys):
    # the benchmark scripts dropped Interrupted.error unseen (magister bench printed it as a note)
    from magister.bench.runner import Interrupted, exit_interrupted, run_jobs

    with pytest.raises(Interrupted) as info:
        run_jobs(_until_stopped, [1], workers=2, on_result=_hidden_error)
    with pytest.raises(SystemExit) as e:
        exit_interrupted(info.value, "runs-partial.json")
    err = capsys.readouterr().err
    assert e.value.code == 130
    assert err.splitlines() == ["note: while stopping, an error came too: RuntimeError: a real error in on_result",
                                "interrupted: 1 of 1 runs finished; they are kept in runs-partial.json"]


def test_students_whose_names_make_one_file_name_get_a_picture_each(tmp_path):
    # "g a" and "g_a" (or "Grid" and "grid" on a case-blind file system) both drew into sampling-g_a.png: the
    # first student's picture was lost, and both captions of the report showed the second's
    results = run_benchmark(["uniform"], ["grid", "grid-hard"], seeds=[0], episodes=40, eval_every=20, workers=1,
                            out=None, report=False)
    names = {"grid": "g a", "grid-hard": "g_a"}
    results["config"]["students"] = [names[s] for s in results["config"]["students"]]
    results["students"] = {names[s]: v for s, v in results["students"].items()}
    for j in results["jobs"]:
        j["student"] = names[j["student"]]
    figures = [(c, p) for c, p in report_mod.make_figures(results, tmp_path) if p.name.startswith("sampling-")]
    assert [c.split(":")[0] for c, _ in figures] == ["g a", "g_a"]
    assert [p.name for _, p in figures] == ["sampling-g_a.png", "sampling-g_a-2.png"]
    assert figures[0][1].read_bytes() != figures[1][1].read_bytes()
    assert report_mod._file_stems(["Grid", "grid", "g_a-2", "g a", "g_a"]) == {
        "Grid": "Grid", "grid": "grid-2", "g_a-2": "g_a-2", "g a": "g_a", "g_a": "g_a-3"}


def test_report_md_writes_names_with_markdown_characters_as_text(tmp_path):
    # a student named "grid [v2" took its pictures out of report.md ("![grid [v2: ...](sampling-grid__v2.png)" is no
    # image), a line break in a name cut its heading and its table row in two, and "<b>x</b>" was drawn as HTML
    from markdown_it import MarkdownIt

    results = run_benchmark(["uniform"], ["grid"], seeds=[0], episodes=40, eval_every=20, workers=1, out=None,
                            report=False)
    student, teacher = "grid [v2\n*new*", "uniform@<b>x</b>"
    results["config"].update(students=[student], teachers=[teacher])
    results["students"] = {student: results["students"]["grid"]}
    for j in results["jobs"]:
        j.update(student=student, teacher=teacher)
    results["skipped"] = [{"teacher": "sec", "student": student, "reason": "sec is a discrete teacher"}]
    md = report_mod.write_report(results, tmp_path).read_text()
    tokens = MarkdownIt().enable("table").parse(md)
    images = [c.attrs["src"] for t in tokens if t.type == "inline" for c in t.children or [] if c.type == "image"]
    assert images == ["curves.png", "overhead.png", "sampling-grid__v2__new_.png", "mastery-map-grid__v2__new_.png"]
    page = MarkdownIt().enable("table").render(md)
    assert "<b>" not in page and "<em>" not in page and "&lt;b&gt;x&lt;/b&gt;" in page
    assert page.count("<h3>grid [v2 *new*: ") == 2 and page.count("<tr>") == 2  # header and one row
    assert "<td>grid [v2 *new*</td>\n<td>uniform@&lt;b&gt;x&lt;/b&gt;</td>" in page
    assert "<li>sec x grid [v2 *new*: sec is a discrete teacher</li>" in page
    assert "<li>students: <code>grid [v2 *new*</code> (" in page
    assert report_mod._code("a`b") == "``a`b``" and report_mod._code("`a") == "`` `a ``"
    assert report_mod.summary_markdown([]) == "| student | teacher | seeds | mastered % | µs/episode | teacher s/run |" \
        "\n|---|---|---|---|---|---|"


def _strict(text: str) -> object:
    """JSON as a strict reader (JavaScript's JSON.parse, jq, Go) reads it: NaN and Infinity refused."""
    def refuse(constant: str) -> object:
        raise ValueError(f"not strict JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def test_strict_json_writes_nan_and_infinities_as_null_numpy_too():
    from magister.bench.args import strict_json

    obj = {"a": float("nan"), "b": [np.float32("inf"), -np.inf, np.float64(1.5)], "c": np.array([np.nan, 2.0]),
           "d": (np.int64(3), np.bool_(True), None, "x"), "e": {"f": np.array(np.nan)}}
    assert _strict(strict_json(obj)) == {"a": None, "b": [None, None, 1.5], "c": [None, 2.0], "d": [3, True, None, "x"],
                                         "e": {"f": None}}
    # finite values are written as json.dumps writes them, byte for byte
    plain = {"x": [0.1, 1e-300, 2.5e20, -0.0], "y": {"z": 7, "w": "é"}}
    assert strict_json(plain, indent=1) == json.dumps(plain, indent=1)
    assert _strict(strict_json({"r": object()}, default=lambda o: float("nan"))) == {"r": None}
    with pytest.raises(TypeError, match="cannot write object as JSON"):
        strict_json({"r": object()})


def test_a_results_file_is_strict_json_and_reads_back_as_the_run(tmp_path):
    # results.json held NaN (a mastery or overhead a student or a timer gave as NaN, inf): JSON.parse, jq and Go
    # refused the whole file. It is written with null there and read back as NaN: the same tables and report.
    results = run_benchmark(["uniform"], ["grid"], seeds=[0, 1], episodes=40, eval_every=10, workers=1)
    job = results["jobs"][0]
    job["mastery"][2] = float("nan")
    job["learnable_mastery"][1] = float("nan")
    job["final_mastery"] = float("nan")
    job["overhead"]["window_mean_us"][0] = float("inf")
    job["overhead"]["p99_us"] = float("nan")
    results["jobs"][1]["ceiling"] = None  # (None is no ceiling: read back as it is)
    report_mod.write_results(results, tmp_path / "new")
    saved = _strict((tmp_path / "new" / "results.json").read_text())
    assert saved["jobs"][0]["mastery"][2] is None and saved["jobs"][0]["overhead"]["window_mean_us"][0] is None
    old = tmp_path / "old"  # a file of the earlier version, NaN and Infinity in it, is read as before
    old.mkdir()
    (old / "results.json").write_text(json.dumps(results, indent=1))
    back, earlier = report_mod.load_results(tmp_path / "new"), report_mod.load_results(old)
    assert back["jobs"][1]["ceiling"] is None
    for read in (back, earlier):
        got = read["jobs"][0]
        assert np.isnan(got["mastery"][2]) and np.isnan(got["learnable_mastery"][1]) and np.isnan(got["final_mastery"])
        assert got["overhead"]["window_mean_us"][0] == float("inf") or read is back
        report_mod.write_report(read, tmp_path / ("new" if read is back else "old"), html_report=False)
    rows = report_mod.summary_markdown(report_mod.summarise(results))
    assert report_mod.summary_markdown(report_mod.summarise(back)) == rows
    assert report_mod.summary_markdown(report_mod.summarise(earlier)) == rows
    assert (tmp_path / "new" / "report.md").read_text() == (tmp_path / "old" / "report.md").read_text()
