"""The level-curriculum benchmark at a tiny budget: records, table, figures, teacher-path speed, the CLI."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("matplotlib")

from magister.bench.levels import (format_table, run_levels_job, summarise, teacher_path_speed,  # noqa: E402
                                   write_figures)
from magister.errors import ConfigError  # noqa: E402
from magister.rl.envs.maze import heldout_mazes  # noqa: E402

TINY = dict(steps=2048, n_envs=4, n_steps=64, eval_every=1024, episodes=1, pictures=3)


@pytest.fixture(scope="module")
def records():
    return [run_levels_job(t, s, **TINY) for t in ("uniform", "alp-gmm") for s in (0, 1)]


def test_a_run_records_curves_levels_and_scores_every_episode(records):
    names = set(heldout_mazes())
    for rec in records:
        assert rec["steps"] >= 2048 and set(rec["final"]) == names
        assert [c["step"] for c in rec["curve"]][0] == 0 and len(rec["curve"]) >= 3
        assert 0.0 <= rec["mean"] <= 1.0 and rec["mean"] == pytest.approx(np.mean(list(rec["final"].values())))
        assert rec["chosen"] and all("#" in c["maze"] for c in rec["chosen"])
        assert rec["episodes_scored"] > 0 and rec["episodes_unscored"] == 0
        if rec["teacher_observed"] is not None:
            assert rec["teacher_observed"] == rec["episodes_scored"]


def test_evaluating_does_not_change_the_training_run():
    # the evaluations' sampled actions drew from the student's generator, so evaluating every 1024 steps
    # instead of every 2048 changed the run: the held-out rates at step 2048 differed
    often = run_levels_job("uniform", 0, **TINY)
    rarely = run_levels_job("uniform", 0, **dict(TINY, eval_every=2048))
    assert [c["step"] for c in often["curve"]] == [0, 1024, 2048] and [c["step"] for c in rarely["curve"]] == [0, 2048]
    assert often["curve"][-1] == rarely["curve"][-1] and often["curve"][0] == rarely["curve"][0]
    assert often["episodes_scored"] == rarely["episodes_scored"]


def test_table_and_figures(records, tmp_path):
    summary = summarise(records)
    assert list(summary) == ["uniform", "alp-gmm"] and summary["uniform"]["seeds"] == [0, 1]
    table = format_table(summary)
    lines = table.splitlines()
    assert len(lines) == 3 and all(f in lines[0] for f in ("rooms", "corridors", "labyrinths", "spirals", "long"))
    assert lines[1].startswith("uniform") and lines[1].endswith("100%")  # uniform trains on every step
    paths = write_figures(records, tmp_path)
    assert len(paths) == 2 and all((tmp_path / p).exists() for p in paths)


def test_teacher_path_speed_reports_both_rates():
    out = teacher_path_speed("alp-gmm", steps=640, n_envs=4)
    assert out["teacher"] > 0 and out["no_teacher"] > 0 and out["kept"] == pytest.approx(out["teacher"] / out["no_teacher"])


def test_cli_refuses_an_unknown_level_teacher(tmp_path):
    from typer.testing import CliRunner

    from magister.cli import app

    res = CliRunner().invoke(app, ["bench", "--levels", "--teachers", "nope", "--steps", "2048", "--out", str(tmp_path)])
    assert res.exit_code == 2 and "unknown level benchmark teacher" in res.output


def test_heldout_rates_and_the_versus_uniform_line():
    from magister.bench.levels import heldout_rates, versus_uniform

    rng = np.random.default_rng(0)
    idle = heldout_rates(lambda obs: np.zeros(len(obs), dtype=np.int64), seed=0, unseen=20)  # only turns
    walker = heldout_rates(lambda obs: rng.integers(0, 3, size=len(obs)), seed=0, unseen=20)
    assert idle == {"unseen": 0.0, "mazes": 0.0}
    assert 0.0 < walker["unseen"] <= 1.0 and 0.0 <= walker["mazes"] <= 1.0
    line = versus_uniform({"plr": walker, "uniform": idle}, "plr", 30_000)
    assert line.startswith(f"teacher plr: {walker['unseen']:.0%} vs uniform 0% of unseen levels")
    assert "30,000 env steps" in line and line.endswith(": beats uniform")
    assert versus_uniform({"plr": idle, "uniform": walker}, "plr", 10).endswith(": does not beat uniform")
    with pytest.raises(ValueError, match="heldout_rates.*missing for \\['uniform'\\]"):
        versus_uniform({"plr": walker}, "plr", 10)
    # a half-point win (one episode of 200) is not printed as a tie said to beat uniform
    rates = lambda unseen: {"unseen": unseen, "mazes": 0.1}  # noqa: E731
    line = versus_uniform({"plr": rates(0.605), "uniform": rates(0.6)}, "plr", 10)
    assert line.startswith("teacher plr: 60.5% vs uniform 60.0% of unseen levels") and line.endswith(": beats uniform")
    assert versus_uniform({"plr": rates(0.6), "uniform": rates(0.59)}, "plr", 10).startswith("teacher plr: 60% vs uniform 59%")
    assert versus_uniform({"plr": rates(0.6), "uniform": rates(0.6)}, "plr", 10).startswith("teacher plr: 60% vs uniform 60%")
    # the unseen levels follow the generator's max_density (the level examples train up to 0.7)
    with pytest.raises(ValueError, match="max_density"):
        heldout_rates(lambda obs: np.zeros(len(obs), dtype=np.int64), unseen=5, max_density=0.95)


def test_the_heldout_diagnostic_trains_on_the_test_mazes():
    from magister.bench.levels import make_level_teacher

    teacher, score = make_level_teacher("heldout", 0)
    texts = {m.to_text() for m in heldout_mazes().values()}
    picks = teacher.propose(40)
    assert score == "success" and all(m.to_text() in texts for m in picks) and len({m.to_text() for m in picks}) > 5


def test_benchmark_scores_and_teachers_follow_the_generator():
    from magister.bench.levels import _scorer, make_level_teacher

    assert (_scorer("pvl-sum", 0.9).kind, _scorer("pvl-sum", 0.9).reduce) == ("pvl", "sum")
    assert (_scorer("gae", 0.9).kind, _scorer("gae", 0.9).reduce, _scorer("gae", 0.9).gamma) == ("gae", "mean", 0.9)
    blocks, _ = make_level_teacher("alp-gmm", 0)
    mixed, _ = make_level_teacher("alp-gmm", 0, generator="mixed")
    assert float(blocks.space.high[0]) == 0.35 and float(mixed.space.high[0]) == 1.0
    accel, _ = make_level_teacher("accel", 0, generator="mixed")
    assert accel.space.labyrinths == 0.5 and make_level_teacher("accel", 0)[0].space.labyrinths == 0.0


def test_an_unknown_maze_generator_is_refused_by_the_teacher_factory():
    # "mixd" built the blocks generator's spaces for accel (no labyrinths) and alp-gmm (top 0.35), silently
    from magister.bench.levels import make_level_teacher

    for name in ("accel", "alp-gmm", "plr", "uniform"):
        with pytest.raises(ValueError, match="unknown maze generator 'mixd'"):
            make_level_teacher(name, 0, generator="mixd")


def test_teacher_path_speed_refuses_fewer_steps_than_sub_envs():
    # 8 steps on 16 sub-envs timed nothing and divided by a zero rate (ZeroDivisionError)
    from magister.errors import ConfigError

    with pytest.raises(ConfigError, match="steps must be a whole number >= 16"):
        teacher_path_speed("plr", steps=8, repeats=1)


@pytest.mark.parametrize("bad", [dict(speed_steps=10), dict(generator="mixd"), dict(explore_bonus=-0.01),
                                 dict(explore_bonus=float("nan"))])
def test_run_and_report_checks_its_settings_before_any_run(bad, monkeypatch):
    # speed_steps 1..15 crashed teacher_path_speed only after every training run, before the results were
    # written; a bad generator or bonus surfaced inside the first run (or not at all for make_level_teacher)
    from magister.bench import levels
    from magister.errors import ConfigError

    ran = []
    monkeypatch.setattr(levels, "run_levels_benchmark", lambda *a, **k: ran.append(1) or [])
    with pytest.raises(ConfigError):
        levels.run_and_report(["uniform", "plr"], [0], steps=2048, echo=lambda line: None, **bad)
    assert not ran


def test_run_and_report_refuses_a_repeated_teacher_before_any_run(monkeypatch):
    # ["uniform", "plr", "uniform"] ran uniform's runs twice (magister bench --levels, benchmarks/levels_minigrid.py)
    from magister.bench import levels
    from magister.errors import ConfigError

    monkeypatch.setattr(levels, "run_levels_benchmark", lambda *a, **k: pytest.fail("ran jobs"))
    with pytest.raises(ConfigError, match="teachers names uniform more than once"):
        levels.run_and_report(["uniform", "plr", "uniform"], [0], steps=2048, echo=lambda line: None)


def test_ctrl_c_keeps_the_finished_level_runs_marked_and_the_cli_says_so(records, tmp_path, monkeypatch):
    # a Ctrl-C after minutes of runs threw every finished one away (the level benchmark has its own runner)
    import json

    from typer.testing import CliRunner

    from magister.bench import levels
    from magister.cli import app

    done = iter(records[:1])

    def job(teacher, seed, **kwargs):
        try:
            return next(done)
        except StopIteration:
            raise KeyboardInterrupt from None

    monkeypatch.setattr(levels, "run_levels_job", job)
    res = CliRunner().invoke(app, ["bench", "--levels", "--teachers", "uniform,plr", "--seeds", "2", "--steps", "2048",
                                   "--workers", "1", "--out", str(tmp_path)])
    assert res.exit_code == 130, res.output
    flat = " ".join(res.output.split())
    assert "interrupted: 1 of 4 runs finished" in flat and "levels_results-interrupted.json" in flat
    kept = json.loads((tmp_path / "levels_results-interrupted.json").read_text())
    assert kept["interrupted"] == {"finished": 1, "planned": 4} and len(kept["runs"]) == 1
    assert not (tmp_path / "levels_results.json").exists()  # nothing that reads as a whole run


def test_a_finished_level_run_moves_an_earlier_interrupted_runs_results_aside(records, tmp_path, monkeypatch):
    # a finished --levels run removed levels_results-interrupted.json of an earlier interrupted run in its --out
    from typer.testing import CliRunner

    from magister.bench import levels
    from magister.cli import app

    (tmp_path / "levels_results-interrupted.json").write_text("earlier")
    monkeypatch.setattr(levels, "run_levels_job", lambda teacher, seed, **kwargs: records[0])
    res = CliRunner().invoke(app, ["bench", "--levels", "--teachers", "uniform", "--seeds", "1", "--steps", "2048",
                                   "--workers", "1", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert "moved it to levels_results-interrupted.earlier-1.json" in " ".join(res.output.split())
    assert (tmp_path / "levels_results-interrupted.earlier-1.json").read_text() == "earlier"
    assert (tmp_path / "levels_results.json").exists() and not (tmp_path / "levels_results-interrupted.json").exists()


def test_a_ctrl_c_while_the_level_figures_are_drawn_says_how_to_draw_them(records, tmp_path, monkeypatch):
    # a Ctrl-C while the figures were drawn, after hours of runs, exited 130 without a word
    import shlex

    from typer.testing import CliRunner

    from magister.bench import levels
    from magister.cli import app

    real = levels.write_figures

    def ctrl_c(records, out):
        raise KeyboardInterrupt

    monkeypatch.setattr(levels, "run_levels_job", lambda teacher, seed, **kwargs: records[0])
    monkeypatch.setattr(levels, "write_figures", ctrl_c)
    res = CliRunner().invoke(app, ["bench", "--levels", "--teachers", "uniform", "--seeds", "1", "--steps", "2048",
                                   "--workers", "1", "--out", str(tmp_path)])
    assert res.exit_code == 130, res.output
    flat = " ".join(res.output.split())
    assert (f"interrupted while the report was written: the run finished; its results are whole in "
            f"{tmp_path}/levels_results.json; levels_curves.png is not written; to write it: python -c") in flat, flat
    assert sorted(p.name for p in tmp_path.iterdir()) == ["levels_results.json"]
    monkeypatch.setattr(levels, "write_figures", real)
    exec(shlex.split(flat.split("to write it: ", 1)[1])[2], {})
    assert (tmp_path / "levels_curves.png").is_file()


def test_a_ctrl_c_during_the_speed_measurement_writes_the_finished_runs_first(records, tmp_path, monkeypatch):
    # a Ctrl-C while the teacher path was timed (after every run, before anything was written) exited 130 without
    # a word, every finished run lost
    import json
    import shlex

    from typer.testing import CliRunner

    from magister.bench import levels
    from magister.bench.runner import ReportInterrupted
    from magister.cli import app

    timed = []

    def speed(teacher, **kwargs):
        if teacher == "alp-gmm":
            raise KeyboardInterrupt
        timed.append(teacher)
        return {"no_teacher": 2.0, "teacher": 1.0, "kept": 0.5}

    monkeypatch.setattr(levels, "run_levels_job", lambda teacher, seed, **kwargs: dict(records[0], teacher=teacher))
    monkeypatch.setattr(levels, "teacher_path_speed", speed)
    res = CliRunner().invoke(app, ["bench", "--levels", "--teachers", "uniform,plr,alp-gmm", "--seeds", "1",
                                   "--steps", "2048", "--workers", "1", "--out", str(tmp_path)])
    assert res.exit_code == 130, res.output
    flat = " ".join(res.output.split())
    assert (f"interrupted during the teacher-path speed measurement (no speed numbers for alp-gmm in the results): "
            f"all 3 runs finished; their results are whole in {tmp_path}/levels_results.json; levels_curves.png is "
            "not written; to write it: python -c") in flat, flat
    assert sorted(p.name for p in tmp_path.iterdir()) == ["levels_results.json"]
    kept = json.loads((tmp_path / "levels_results.json").read_text())
    assert [r["teacher"] for r in kept["runs"]] == ["uniform", "plr", "alp-gmm"]
    assert list(kept["speed"]) == ["plr"] and kept["speed_interrupted"] == {"not_measured": ["alp-gmm"]}
    exec(shlex.split(flat.split("to write it: ", 1)[1])[2], {})
    assert (tmp_path / "levels_curves.png").is_file()
    # the library without a folder: the results on the exception, nothing written
    with pytest.raises(ReportInterrupted) as info:
        levels.run_and_report(["plr", "alp-gmm"], [0], steps=2048, echo=lambda line: None)
    assert info.value.finished == 2 and info.value.results["speed_interrupted"] == {"not_measured": ["alp-gmm"]}
    assert info.value.written == [] and "speed measurement" in info.value.stage


def test_the_chosen_levels_figure_names_the_seed_it_shows(tmp_path, monkeypatch):
    """The pictures are of each teacher's lowest seed run, but the title always said "seed 0"."""
    from magister.bench import plots

    def record(teacher, seed):
        final = {n: 0.5 for n in heldout_mazes()}
        return {"teacher": teacher, "seed": seed, "final": final, "mean": 0.5, "steps": 2048, "trained_steps": 2048,
                "wall_s": 1.0, "curve": [{"step": 0, "mean": 0.0}, {"step": 2048, "mean": 0.5}],
                "chosen": [{"step": 0, "maze": "#####\n#S G#\n#####"}]}

    titles = []
    real = plots.save_figure
    monkeypatch.setattr(plots, "save_figure", lambda fig, path, **kw: (
        titles.append(fig._suptitle.get_text() if fig._suptitle else fig.axes[0].get_title()), real(fig, path))[1])
    write_figures([record("uniform", 3), record("uniform", 4), record("plr", 3)], tmp_path)
    assert titles[-1] == "levels trained on over time (seed 3)"
    write_figures([record("uniform", 3), record("plr", 5)], tmp_path)
    assert titles[-1] == "levels trained on over time (each teacher's first seed)"


@pytest.mark.parametrize("bad, needle", [(["--quick", "--seeds", "1"], "--quick sets --seeds"),
                                         (["--quick", "--steps", "4096"], "--quick sets --steps"),
                                         (["--teachers", "unifrom"], "unifrom"), (["--workers", "0"], "--workers"),
                                         (["--out", "FILE"], "is a file")])
def test_levels_minigrid_script_refuses_bad_options_before_any_run(tmp_path, capsys, monkeypatch, bad, needle):
    """benchmarks/levels_minigrid.py: --quick replaced --seeds/--steps/--episodes without a word, a typo'd teacher
    or --workers 0 was a traceback, and an --out that is a file failed only after every run."""
    import sys
    from pathlib import Path

    import magister.bench.levels as levels_mod

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import levels_minigrid

    monkeypatch.setattr(levels_mod, "run_levels_benchmark", lambda *a, **k: pytest.fail("a run started"))
    (tmp_path / "FILE").write_text("not a folder")
    bad = [str(tmp_path / "FILE") if b == "FILE" else b for b in bad]
    with pytest.raises(SystemExit) as e:
        levels_minigrid.main(["--teachers", "uniform", "--steps", "2048", "--out", str(tmp_path / "out"), *bad])
    assert e.value.code == 2 and needle in capsys.readouterr().err.split("error:", 1)[1]


@pytest.mark.parametrize("teacher", ["uniform", "plr"])
def test_a_run_on_a_finite_training_set_trains_on_its_levels_only(teacher):
    # n_levels / max_density: the PLR paper's regime (a finite set of a generator's levels, drawn once per run)
    from magister.rl.envs.maze import maze_from_seed, training_seeds

    rec = run_levels_job(teacher, 0, **dict(TINY, pictures=4), generator="blocks", max_density=0.7, n_levels=3)
    allowed = {maze_from_seed(s, 15, 0.7, "blocks").to_text() for s in training_seeds(3, 0)}
    assert len(allowed) == 3 and rec["chosen"] and {c["maze"] for c in rec["chosen"]} <= allowed
    assert rec["episodes_scored"] > 0


def test_a_teacher_that_makes_its_own_levels_takes_no_finite_training_set():
    with pytest.raises(ValueError, match="finite training set"):
        run_levels_job("accel", 0, **TINY, n_levels=3)


@pytest.mark.parametrize("teacher, attr, expected", [("accel", "wall_density", [0.0, 0.7]), ("alp-gmm", "high", [0.7])])
def test_max_density_reaches_the_spaces_of_accel_and_alp_gmm(monkeypatch, teacher, attr, expected):
    # run_levels_job(max_density=0.7) gave the envs 0.7 but accel's MazeSpace and alp-gmm's Box ("blocks": the
    # wall density itself) kept the benchmark's 0.35: those teachers never proposed the denser half
    import magister.rl as rl

    seen = {}

    class Spy(rl.CurriculumVectorEnv):
        def __init__(self, fns, teacher, **kw):
            seen["space"], seen["env"] = teacher.space, fns[0]().max_density
            super().__init__(fns, teacher, **kw)

    monkeypatch.setattr(rl, "CurriculumVectorEnv", Spy)
    run_levels_job(teacher, 0, steps=128, n_envs=2, n_steps=64, eval_every=128, episodes=1, pictures=0,
                   generator="blocks", max_density=0.7)
    assert seen["env"] == 0.7 and np.asarray(getattr(seen["space"], attr)).tolist() == expected
    with pytest.raises(ConfigError, match="max_density"):
        run_levels_job(teacher, 0, **TINY, max_density=1.5)


def _solved(teacher, value):
    """A finished run of ``teacher`` that solved ``value`` of every held-out maze."""
    return {"teacher": teacher, "seed": 0, "final": {n: value for n in sorted(heldout_mazes())}, "mean": value,
            "curve": [{"step": 1000, "mean": value}], "steps": 1000, "trained_steps": 1000, "wall_s": 1.0}


def _ratios(records):
    """The "x uniform" column of the printed table, one entry per teacher row."""
    return [line.split()[-2] for line in format_table(summarise(records)).splitlines()[1:]]


def test_x_uniform_when_uniform_solved_nothing_is_not_the_mark_of_uniform_not_run():
    # uniform at 0 printed "-" on every row, uniform's own included: the mark of "uniform not run"
    assert _ratios([_solved("uniform", 0.0), _solved("plr", 0.4), _solved("accel", 0.0)]) == ["1.00x", "0)", "1.00x"]
    assert "(u = 0)" in format_table(summarise([_solved("uniform", 0.0), _solved("plr", 0.4)]))
    assert _ratios([_solved("plr", 0.4)]) == ["-"]  # uniform not run
    table = format_table(summarise([_solved("uniform", 0.5), _solved("plr", 0.4)]))
    assert _ratios([_solved("uniform", 0.5), _solved("plr", 0.4)]) == ["1.00x", "0.80x"]
    assert table.splitlines()[2].endswith("      0.80x     100%")  # the column's width as before


def test_x_uniform_of_a_nan_median_is_a_dash_as_in_the_suite_tables():
    # a NaN median beside uniform's 0 printed "1.00x" (as good as uniform), beside uniform's 0.5 "nanx", and
    # uniform's own NaN median gave every row "1.00x" or "(u = 0)"; the suite tables print "-" for a NaN ratio
    nan = float("nan")
    assert _ratios([_solved("uniform", 0.0), _solved("plr", nan), _solved("accel", 0.4)]) == ["1.00x", "-", "0)"]
    assert _ratios([_solved("uniform", 0.5), _solved("plr", nan), _solved("accel", 0.4)]) == ["1.00x", "-", "0.80x"]
    assert _ratios([_solved("uniform", nan), _solved("plr", 0.4)]) == ["-", "-"]


def test_levels_results_are_strict_json_with_null_for_nan(records, tmp_path, monkeypatch):
    # a snapshot where no sub-env trained (robust-plr's replays) has no path length: NaN, written as NaN, so
    # JSON.parse, jq and Go refused levels_results.json; it is null now, and the figures are drawn from it as before
    import copy
    import json

    from magister.bench import levels

    rec = copy.deepcopy(records[0])
    rec["path_lengths"] = [(0, float("nan"), float("nan"))] + [tuple(p) for p in rec["path_lengths"][1:]]
    monkeypatch.setattr(levels, "run_levels_job", lambda teacher, seed, **kwargs: rec)
    levels.run_and_report(["uniform"], [0], steps=2048, workers=1, speed_steps=0, out=tmp_path, echo=lambda s: None)

    def refuse(constant):
        raise ValueError(f"not strict JSON: {constant}")

    saved = json.loads((tmp_path / "levels_results.json").read_text(), parse_constant=refuse)
    assert saved["runs"][0]["path_lengths"][0] == [0, None, None]
    assert saved["runs"][0]["curve"] == rec["curve"] and saved["summary"]["uniform"]["mean"] == [rec["mean"]]
    assert format_table(summarise(saved["runs"])) == format_table(summarise([rec]))
    assert len(write_figures(saved["runs"], tmp_path / "again")) == 2
