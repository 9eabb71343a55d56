"""Student suites: the oracles' ceilings, planning, running with tiny budgets, tables and the CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from magister.bench import suite as suite_mod
from magister.bench.suite import Variant, add_variant, plan_suite, register_suite, run_suite, suite_summary
from magister.errors import ConfigError
from magister.students import GridStudent, SkillStudent
from magister.students.skills import random_prerequisites


# ------------------------------------------------------------------ oracles
@pytest.mark.parametrize("kw", [{}, {"cells": 4}, {"dims": 3, "cells": 5}, {"unlearnable": 0.3}])
def test_grid_oracle_is_the_physical_bound_without_forgetting(kw):
    s = GridStudent(seed=3, **kw)
    reach = int(s.reachable().sum())
    for budget in (0, 75, 76, 1000, 7600, 20000):
        assert s.best_mastery(budget) == pytest.approx(min(reach, budget // 76) / s.n_cells)
    assert not s.counters.any()  # the student itself is untouched


def test_grid_oracle_with_forgetting_is_reachable_and_beats_uniform():
    s = GridStudent(cells=5, forgetting=0.002, seed=0)
    best = s.best_mastery(4000)
    assert 0 < best <= 1
    # replaying single attempts of uniform sampling never beats the oracle
    rng = np.random.default_rng(0)
    for _ in range(4000):
        s.attempt(rng.random(2))
    assert s.mastery() <= best


def test_skill_oracle_matches_practice_counts():
    s = SkillStudent(seed=0)  # 9 learnable skills, 45 effective practices each
    assert s.best_mastery(45 * 9) == pytest.approx(0.9)
    assert s.best_mastery(45 * 3) == pytest.approx(0.3)
    assert s.best_mastery(44) == 0.0
    # replay the oracle's plan for real: each skill in prerequisite order, 45 times
    for i in s.order:
        if s.learnable[i]:
            for _ in range(45):
                s.attempt(s.names[i])
    assert s.mastery() == pytest.approx(0.9)


def _replay(student, schedule):
    """Attempt each (task index, practices in a row) of an oracle schedule on the student itself."""
    for i, k in schedule:
        if isinstance(student, GridStudent):  # the centre of cell i (distractor coordinates anywhere)
            idx = np.unravel_index(i, student._shape)
            task = np.concatenate([(np.array(idx) + 0.5) / student.cells, np.full(student.distractors, 0.5)])
        else:
            task = student.names[i]
        for _ in range(k):
            student.attempt(task)
    return student.mastery()


@pytest.mark.parametrize("suite_name,variant", [
    ("skills-heldout", "skills-30-heavy-forget"), ("skills-heldout", "skills-10-chain-forget-noisy"),
    ("standard", "skills-10-forget"), ("quick", "grid-2d-6-forget")])
def test_a_ceiling_with_forgetting_is_reached_by_replaying_the_oracle_on_the_student(suite_name, variant):
    # with forgetting the skill oracle counted a prerequisite as ready before the step's forgetting (the student
    # forgets, then checks) and allowed one practice too many after it: on skills-30-heavy-forget (seed 9) its
    # first schedule promised 13% of the skills where replaying that schedule on the student reaches 10%
    import copy

    from magister.bench.runner import derive_seeds

    v = next(x for x in suite_mod.get_suite(suite_name) if x.name == variant)
    for seed in (1, 9):
        student = v.make(derive_seeds(seed)[1])
        ceiling = student.best_mastery(v.episodes)
        for fill in (False, True):
            schedule: list = []
            figure = student._oracle(v.episodes, fill, schedule)
            assert sum(k for _, k in schedule) <= v.episodes
            assert _replay(copy.deepcopy(student), schedule) == pytest.approx(figure, abs=1e-12), (seed, fill)
        assert ceiling == max(student._oracle(v.episodes, f) for f in (False, True))
        assert student.episodes == 0  # the oracle changed nothing


def test_a_grid_ceiling_with_fractional_counters_is_reached_by_replaying_the_oracle_on_the_student():
    # the grid oracle applied k episodes of forgetting as one subtraction and k practices as one sum: with counters
    # that have fractions (forgetting 0.1, threshold 2.5, cap 4.2) that rounds otherwise than k attempts, so a
    # cell sat on the other side of the threshold (seed 0, 3 x 3 cells, 20 episodes: 56% promised, 44% replayed)
    import copy

    for seed in range(3):
        student = GridStudent(cells=3, threshold=2.5, cap=4.2, forgetting=0.1, seed=seed)
        for budget in (20, 60, 200):
            for fill in (False, True):
                schedule: list = []
                figure = student._oracle(budget, fill, schedule)
                assert sum(k for _, k in schedule) <= budget
                assert _replay(copy.deepcopy(student), schedule) == figure, (seed, budget, fill)
        assert student.episodes == 0 and not student.counters.any()  # the oracle changed nothing


def test_random_prerequisites_form_a_dag_from_the_seed():
    names = [f"s{i}" for i in range(30)]
    a = random_prerequisites(names, np.random.default_rng(1))
    assert a == random_prerequisites(names, np.random.default_rng(1))
    assert any(a.values())
    for i, n in enumerate(names):
        assert all(names.index(p) < i for p in a[n])
    s = SkillStudent(30, prerequisites="random", seed=1)
    assert len(s.order) == 30 and 0 < s.best_mastery(5000) <= 1


# ------------------------------------------------------------------ planning
def test_plan_puts_each_teacher_on_its_kind_of_space():
    jobs, variants = plan_suite("quick", seeds=[0], episodes=10)
    kinds = {v.name: ("discrete" if v.student == "skills" else "continuous") for v in variants}
    for j in jobs:
        if kinds[j.student] == "discrete":
            assert j.teacher in suite_mod.DISCRETE_TEACHERS
        else:
            assert j.teacher in suite_mod.CONTINUOUS_TEACHERS
        assert j.episodes == 10 and j.student_class
    jobs, _ = plan_suite("quick", ["exp3"], seeds=[0, 1], episodes=10)
    assert {j.student for j in jobs} == {v.name for v in variants if v.student == "skills"}


def test_plan_refuses_unknown_names():
    with pytest.raises(ConfigError, match="unknown suite"):
        plan_suite("nope")
    with pytest.raises(ConfigError, match="has no variant 'nope'"):
        plan_suite("quick", variants=["nope"])
    with pytest.raises(ConfigError, match="unknown teacher"):
        plan_suite("quick", ["nope"])


def test_one_name_as_text_is_a_list_of_one_and_an_empty_list_is_refused():
    """variants="skills-10" was read as the variants 's', 'k', 'i', ... (teachers="uniform" as 'u', 'n', ...), and
    variants=[] (teachers=[], students=[]) ran the whole suite (every teacher), as None does."""
    from magister.bench.runner import resolve_students, resolve_teachers

    jobs, chosen = plan_suite("quick", "uniform", [0], variants="skills-10", episodes=10)
    assert [v.name for v in chosen] == ["skills-10"] and [(j.teacher, j.student) for j in jobs] == [
        ("uniform", "skills-10")]
    gen_jobs, _ = plan_suite("quick", (t for t in ["uniform"]), [0], variants=(v for v in ["skills-10"]),
                             episodes=10)
    assert gen_jobs == jobs
    assert resolve_teachers("uniform") == ["uniform"] and resolve_students("grid") == ["grid"]
    for call, what in [(lambda: plan_suite("quick", variants=[]), "variants"),
                       (lambda: plan_suite("quick", []), "teachers"),
                       (lambda: resolve_teachers([]), "teachers"), (lambda: resolve_students(()), "students")]:
        with pytest.raises(ConfigError, match=f"{what} is an empty list: give at least one name, or None"):
            call()
    with pytest.raises(ConfigError, match="teachers is a list of names, got 5"):
        resolve_teachers(5)
    assert len(plan_suite("quick", None, [0], variants=None, episodes=10)[1]) == 5  # None: every variant, as before


def test_a_misspelt_suite_or_variant_name_suggests_the_right_one():
    # a typo got the whole list of variants (19 in standard) and no hint which one was meant
    with pytest.raises(ConfigError, match=r"no variant 'skills-1O' \(did you mean 'skills-10'\?\)"):
        plan_suite("quick", ["uniform"], [0], variants=["skills-1O"])
    with pytest.raises(ConfigError, match=r"no variant 'grid_2d_4' \(did you mean 'grid-2d-4'\?\)"):
        plan_suite("quick", ["uniform"], [0], variants=["grid_2d_4"])
    with pytest.raises(ConfigError, match=r"unknown suite 'quik' \(did you mean 'quick'\?\)"):
        plan_suite("quik")
    with pytest.raises(ConfigError, match=r"no variant 'zzz'; its variants"):  # nothing close: no guess
        plan_suite("quick", ["uniform"], [0], variants=["zzz"])


def test_users_can_add_variants_and_suites(monkeypatch):
    monkeypatch.setattr(suite_mod, "SUITES", {k: list(v) for k, v in suite_mod.SUITES.items()})
    add_variant("quick", Variant("mine", "grid", {"cells": 3}, episodes=50))
    with pytest.raises(ConfigError, match="already has"):
        add_variant("quick", Variant("mine", "grid"))
    register_suite("tiny", [Variant("g", "magister.students.grid:GridStudent", {"cells": 2}, episodes=30)])
    with pytest.raises(ConfigError, match="already exists"):
        register_suite("tiny", [])
    r = run_suite("tiny", ["uniform", "riac"], seeds=[0], workers=1)
    assert {j["status"] for j in r["jobs"]} == {"ok"}
    assert "**g** (30 episodes; ceiling 0% mastered)" in suite_mod.suite_tables(r)  # no description: was "(; 30"
    assert all(j["ceiling"] == pytest.approx(0.0) for j in r["jobs"])  # 30 < 76 episodes: nothing masterable
    bad = Variant("bad", "no.such.module:Student")
    register_suite("broken", [bad])
    with pytest.raises(ConfigError, match="cannot be imported"):
        plan_suite("broken")


def test_a_suite_of_no_variants_or_of_things_that_are_not_variants_is_refused(monkeypatch):
    """A generator of variants was read up by the check of their names, so the suite was registered empty; an empty
    list was taken too, and planning either said "no teacher in the run fits the variants of suite 'x': teachers ;
    variants "; a dict or a name in place of a Variant was a raw AttributeError, in register_suite and add_variant."""
    monkeypatch.setattr(suite_mod, "SUITES", {k: list(v) for k, v in suite_mod.SUITES.items()})
    before = {k: list(v) for k, v in suite_mod.SUITES.items()}
    register_suite("gen", (Variant(f"g{c}", "grid", {"cells": c}, episodes=30) for c in (2, 3)))
    assert [v.name for v in suite_mod.get_suite("gen")] == ["g2", "g3"]
    assert len(plan_suite("gen", ["uniform"], [0])[0]) == 2
    del suite_mod.SUITES["gen"]
    with pytest.raises(ConfigError, match="suite 'empty' needs at least one variant"):
        register_suite("empty", [])
    with pytest.raises(ConfigError, match="suite 'empty' needs at least one variant"):
        register_suite("empty", iter([]))
    with pytest.raises(ConfigError, match=r"each variant is a Variant\(name, student, kwargs, episodes\), got dict"):
        register_suite("d", [Variant("a", "grid"), {"name": "b", "student": "grid"}])
    with pytest.raises(ConfigError, match="variants is a list of Variant, got Variant"):
        register_suite("one", Variant("a", "grid"))
    with pytest.raises(ConfigError, match="variants is a list of Variant, got str"):
        register_suite("s", "grid")
    with pytest.raises(ConfigError, match="a suite's name is non-empty text, got None"):
        register_suite(None, [Variant("a", "grid")])
    with pytest.raises(ConfigError, match=r"add_variant\('quick', variant\): each variant is a Variant.*got str 'grid'"):
        add_variant("quick", "grid")
    assert suite_mod.SUITES == before  # nothing registered, nothing added


def _one_variant_suite(monkeypatch, name, base=object, **methods):
    """A suite ``name`` of one variant ``"v"`` (40 episodes) of a toy student class on ``base`` with ``methods``
    added (three tasks, each attempt adds 0.1 to its score; mastered past 0.9), importable by its path as a user's
    own student is, and ``SUITES`` put back after the test."""
    import sys
    import types

    from magister.spaces import Discrete

    def __init__(self, n=3, seed=None):
        self.space, self.c = Discrete(n), np.zeros(n)

    def attempt(self, task):
        i = self.space.index(self.space.validate(task))
        self.c[i] = min(1.0, self.c[i] + 0.1)
        return float(self.c[i])

    def mastery(self):
        return float((self.c > 0.9).mean())

    cls = type("Toy", (base,), {"__init__": __init__, "attempt": attempt, "mastery": mastery, **methods})
    module = types.ModuleType(f"rv_{name.replace('-', '_')}_students")
    module.Toy = cls
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setattr(suite_mod, "SUITES", {k: list(v) for k, v in suite_mod.SUITES.items()})
    register_suite(name, [Variant("v", f"{module.__name__}:Toy", {}, episodes=40)])
    return f"{module.__name__}:Toy"


def test_a_student_on_student_base_without_an_oracle_runs_with_no_ceiling(monkeypatch):
    """A researcher's student built on StudentBase (for attempt_batch) inherits best_mastery, which raises
    NotImplementedError without an oracle schedule: every job of its variant failed instead of leaving the
    fraction-of-ceiling column empty, as docs/bench.md says for a student without best_mastery."""
    from magister.students.base import StudentBase

    _one_variant_suite(monkeypatch, "no-oracle", StudentBase)
    r = run_suite("no-oracle", ["uniform"], seeds=[0], workers=1)
    assert [j["status"] for j in r["jobs"]] == ["ok"], r["jobs"][0].get("error")
    assert r["jobs"][0]["ceiling"] is None
    assert "**v**" in suite_mod.suite_tables(r)


@pytest.mark.parametrize("best", [float("nan"), np.float64("nan"), float("inf"), None])
def test_a_ceiling_that_is_no_finite_number_fails_the_job_naming_the_student(monkeypatch, best):
    """A custom student whose best_mastery returned NaN was written as null in results.json and reported as "no
    ceiling" (the student's bug read as a student without an oracle); None was float()'s bare TypeError."""
    path = _one_variant_suite(monkeypatch, "bad-oracle", best_mastery=lambda self, budget: best)
    r = run_suite("bad-oracle", ["uniform"], seeds=[0], workers=1)
    job, = r["jobs"]
    assert job["status"] == "error", job
    assert job["error"].startswith(f"ConfigError: best_mastery(40) of student 'v' ({path}) must be a finite "
                                   "number, got " + repr(best))
    assert suite_summary(r)["per_teacher"]["uniform"]["no_ceiling"] == []


# ------------------------------------------------------------------ running and tables
def test_quick_suite_runs_with_tiny_budgets_and_summarises():
    r = run_suite("quick", ["uniform", "riac-plus", "lp-bandit"], seeds=[0, 1], episodes=300, workers=1)
    assert {j["status"] for j in r["jobs"]} == {"ok"}
    # ceilings are the oracle's at the budget: 300 episodes master 3 of 16 cells on the 4x4 grid
    g = [j for j in r["jobs"] if j["student"] == "grid-2d-4"]
    assert all(j["ceiling"] == pytest.approx(3 / 16) for j in g)
    assert all(j["final_mastery"] <= j["ceiling"] + 1e-9 for j in r["jobs"] if "forget" not in j["student"])
    s = suite_summary(r)
    assert set(s["per_variant"]) == {v.name for v in suite_mod.SUITES["quick"]}
    assert s["per_teacher"]["uniform"]["variants"] == 5
    assert s["per_teacher"]["riac-plus"]["variants"] == 3 and s["per_teacher"]["lp-bandit"]["variants"] == 2
    row = s["per_variant"]["grid-2d-4"]["riac-plus"]
    assert row["median"] == pytest.approx(np.median([100 * j["final_mastery"] for j in g if j["teacher"] == "riac-plus"]))
    text = suite_mod.suite_tables(r)
    assert "**grid-2d-4**" in text and "Summary per teacher" in text
    uni = s["per_variant"]["grid-2d-4"]["uniform"]
    assert uni["x_uniform"] == 1.0 or math.isnan(uni["x_uniform"])


def test_write_docs_replaces_only_the_marked_block(tmp_path):
    r = run_suite("quick", ["uniform"], seeds=[0], episodes=50, variants=["skills-10"], workers=1)
    doc = tmp_path / "page.md"
    doc.write_text(f"# Title\nbefore\n{suite_mod.START}\nSTALE TEXT\n{suite_mod.END}\nafter\n")
    suite_mod.write_docs_table(r, doc, note="note here")
    text = doc.read_text()
    assert text.startswith("# Title\nbefore\n") and text.endswith(f"{suite_mod.END}\nafter\n")
    assert "STALE TEXT" not in text and "note here" in text and "| uniform |" in text
    doc.write_text("no markers")
    with pytest.raises(ConfigError, match="markers"):
        suite_mod.write_docs_table(r, doc)


def test_write_report_refuses_a_suites_results(tmp_path):
    # write_report(suite results) raised KeyError: 'eval_every'
    from magister.bench.report import write_report

    r = run_suite("quick", ["uniform"], seeds=[0], episodes=50, variants=["skills-10"], workers=1)
    with pytest.raises(ConfigError, match="results of the suite 'quick'.*suite_tables"):
        write_report(r, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_cli_suite(tmp_path):
    from typer.testing import CliRunner

    from magister.cli import app

    res = CliRunner().invoke(app, ["bench", "--suite", "quick", "--episodes", "100", "--seeds", "1", "--workers", "1",
                                   "--variants", "grid-2d-4", "--teachers", "uniform,adr", "-o", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert "grid-2d-4" in res.output and "Summary per teacher" in res.output
    assert (tmp_path / "suite.md").exists() and (tmp_path / "results.json").exists()
    res = CliRunner().invoke(app, ["bench", "--suite", "nope"])
    assert res.exit_code == 2 and "unknown suite" in res.output
    res = CliRunner().invoke(app, ["bench", "--variants", "x"])
    assert res.exit_code == 2 and "--suite" in res.output


def _interrupt_the_second_job(monkeypatch):
    """Make the bench runner's second job raise KeyboardInterrupt (Ctrl-C during the run); returns the runner."""
    import magister.bench.runner as runner

    real = runner.run_job

    def run_job(spec, progress=None, job_index=0):
        if job_index == 1:
            raise KeyboardInterrupt
        return real(spec, progress, job_index)

    monkeypatch.setattr(runner, "run_job", run_job)
    return runner


def test_ctrl_c_during_a_suite_keeps_the_finished_runs_without_tables(tmp_path, monkeypatch):
    runner = _interrupt_the_second_job(monkeypatch)
    with pytest.raises(runner.Interrupted) as info:
        run_suite("quick", ["uniform"], seeds=[0, 1], episodes=50, variants=["skills-10"], workers=1, out=tmp_path)
    assert info.value.finished == 1 and info.value.results["interrupted"] == {"finished": 1, "planned": 2}
    saved = json.loads((tmp_path / "results-interrupted.json").read_text())
    assert [j["seed"] for j in saved["jobs"]] == [0] and saved["interrupted"]["planned"] == 2
    # no suite.md (its tables would read as the whole suite) nor results.json
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curves-interrupted.csv", "results-interrupted.json"]


def test_interrupted_suite_results_read_back_say_so_and_stay_out_of_the_docs(tmp_path, monkeypatch):
    # results-interrupted.json read back gave tables with no word of the runs missing, and write_docs_table
    # (benchmarks/suite_docs.py) wrote them into the docs as the whole suite's; load_results(folder) said only
    # "No such file"
    from magister.bench.report import load_results

    runner = _interrupt_the_second_job(monkeypatch)
    out = tmp_path / "run"
    with pytest.raises(runner.Interrupted):
        run_suite("quick", ["uniform"], seeds=[0, 1], episodes=30, variants=["skills-10"], workers=1, out=out)
    with pytest.raises(ConfigError, match="interrupted: its finished runs are in .*results-interrupted.json"):
        load_results(out)
    r = load_results(out / "results-interrupted.json")
    assert "Interrupted: 1 of 2 runs finished; these tables cover only those." in suite_mod.suite_tables(r)
    doc = tmp_path / "doc.md"
    doc.write_text(f"a\n{suite_mod.START}\nOLD\n{suite_mod.END}\n")
    with pytest.raises(ConfigError, match="Interrupted: 1 of 2 runs finished.*results-interrupted.json"):
        suite_mod.write_docs_table(r, doc)
    assert doc.read_text() == f"a\n{suite_mod.START}\nOLD\n{suite_mod.END}\n"


@pytest.mark.parametrize("text", [None, "no markers here"])
def test_cli_write_docs_file_is_checked_before_the_suite_runs(tmp_path, text):
    # a missing file was a FileNotFoundError traceback, a file without markers a refusal, both after every run
    from typer.testing import CliRunner

    from magister.cli import app

    doc = tmp_path / "page.md"
    if text is not None:
        doc.write_text(text)
    res = CliRunner().invoke(app, ["bench", "--suite", "quick", "--episodes", "50", "--seeds", "1", "--workers", "1",
                                   "--variants", "grid-2d-4", "--teachers", "uniform", "-o", str(tmp_path / "out"),
                                   "--write-docs", str(doc)])
    assert res.exit_code == 2 and "markers" in res.output and "Traceback" not in res.output, res.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("case", ["end above start", "read-only"])
def test_cli_write_docs_file_that_cannot_take_the_tables_is_refused_before_the_suite_runs(tmp_path, monkeypatch,
                                                                                          case):
    # markers in the wrong order passed the check and failed with a ValueError traceback after every run, and a
    # read-only file with a PermissionError traceback
    from pathlib import Path

    from typer.testing import CliRunner

    from magister.cli import app

    doc = tmp_path / "page.md"
    if case == "end above start":
        doc.write_text(f"a\n{suite_mod.END}\nb\n{suite_mod.START}\nc\n")
    else:
        doc.write_text(f"a\n{suite_mod.START}\n{suite_mod.END}\n")
        real_open = Path.open

        def read_only(self, mode="r", *args, **kwargs):  # (chmod does not stop root, who runs the tests in CI)
            if self == doc and mode != "r":
                raise PermissionError(13, "Permission denied")
            return real_open(self, mode, *args, **kwargs)

        monkeypatch.setattr(Path, "open", read_only)
    res = CliRunner().invoke(app, ["bench", "--suite", "quick", "--episodes", "50", "--seeds", "1", "--workers", "1",
                                   "--variants", "grid-2d-4", "--teachers", "uniform", "-o", str(tmp_path / "out"),
                                   "--write-docs", str(doc)])
    flat = " ".join(res.output.split())
    assert res.exit_code == 2 and "Traceback" not in res.output, res.output
    assert ("markers" if case == "end above start" else "cannot write it (Permission denied)") in flat, flat
    assert not (tmp_path / "out").exists()


def test_cli_suite_takes_teachers_all_and_names_the_teachers_it_leaves_out(tmp_path):
    # --teachers all (the option's help) was refused as "unknown teacher 'all'" with --suite, and a named
    # teacher that fits none of the chosen variants was left out of the tables without a word
    from typer.testing import CliRunner

    from magister.cli import app

    res = CliRunner().invoke(app, ["bench", "--suite", "quick", "--episodes", "30", "--seeds", "1", "--workers", "1",
                                   "--variants", "grid-2d-4", "--teachers", "all", "-o", str(tmp_path / "all")])
    flat = " ".join(res.output.split())
    assert res.exit_code == 0, res.output
    assert "skipped sec: a discrete teacher fits none of the variants" in flat
    assert {j["teacher"] for j in json.loads((tmp_path / "all" / "results.json").read_text())["jobs"]} >= {
        "uniform", "riac-plus"}
    res = CliRunner().invoke(app, ["bench", "--suite", "quick", "--episodes", "30", "--seeds", "1", "--workers", "1",
                                   "--variants", "grid-2d-4", "--teachers", "uniform,sec", "-o", str(tmp_path / "o")])
    assert res.exit_code == 0 and "skipped sec:" in res.output and "skipped uniform" not in res.output, res.output


def test_cli_write_docs_note_gives_the_settings_of_the_run(tmp_path):
    # the "Measured with `magister bench ...`" line left out --set: the command it quoted gave other tables
    from typer.testing import CliRunner

    from magister.cli import app

    doc = tmp_path / "page.md"
    doc.write_text(f"a\n{suite_mod.START}\n{suite_mod.END}\n")
    res = CliRunner().invoke(app, ["bench", "--suite", "quick", "--episodes", "50", "--seeds", "1", "--workers", "1",
                                   "--variants", "skills-10", "--teachers", "sec,sec@aside",
                                   "--set", "sec@aside.set_aside=0.9", "-o", str(tmp_path / "out"),
                                   "--write-docs", str(doc)])
    assert res.exit_code == 0, res.output
    assert ("--teachers sec,sec@aside --variants skills-10 --set sec@aside.set_aside=0.9` at commit"
            in doc.read_text()), doc.read_text()


@pytest.mark.parametrize("extra", [["--students", "grid"], ["--batch", "4"], ["--eval-every", "10"], ["--no-report"],
                                   ["--levels"], ["--demo"]])
def test_cli_options_a_suite_would_ignore_are_refused(tmp_path, extra):
    # they were ignored silently (a suite's variants fix their students, budget and evaluation interval)
    from typer.testing import CliRunner

    from magister.cli import app

    res = CliRunner().invoke(app, ["bench", "--suite", "quick", "--episodes", "50", "--seeds", "1", "--workers", "1",
                                   "--variants", "grid-2d-4", "--teachers", "uniform", "-o", str(tmp_path / "out"),
                                   *extra])
    assert res.exit_code == 2 and extra[0] in res.output and "not go with --suite" in res.output, res.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("suite", suite_mod.available_suites())
def test_every_variant_of_every_suite_builds_a_student_with_a_ceiling(suite):
    for v in suite_mod.get_suite(suite):
        student = v.make(seed=0)
        assert student.space.n is None or student.space.n >= 1
        ceiling = student.best_mastery(v.episodes)
        assert 0.0 < ceiling <= 1.0, (v.name, ceiling)


def test_one_teacher_under_two_labels_with_their_own_settings():
    # "sec@aside" runs teacher sec under its own name, with the settings given for that label only
    r = run_suite("standard", ["sec", "sec@aside"], seeds=[0, 1], variants=["skills-10"],
                  settings={"sec@aside": {"set_aside": 0.9}}, workers=1)
    jobs = {(j["teacher"], j["seed"]): j for j in r["jobs"]}
    assert {t for t, _ in jobs} == {"sec", "sec@aside"} and {j["status"] for j in jobs.values()} == {"ok"}
    assert jobs[("sec@aside", 0)]["spec"]["settings"] == {"set_aside": 0.9}
    assert jobs[("sec", 0)]["spec"]["settings"] == {}
    # same seeds, other settings: the two labels teach differently (set aside: more skills mastered here)
    assert sum(jobs[("sec@aside", s)]["final_mastery"] for s in (0, 1)) >= sum(
        jobs[("sec", s)]["final_mastery"] for s in (0, 1)) + 0.2
    assert "| sec@aside |" in suite_mod.suite_tables(r)


@pytest.mark.parametrize("bad", ["nope@x", "sec@"])
def test_a_label_needs_a_registered_teacher(bad):
    with pytest.raises(ConfigError, match="unknown teacher"):
        run_suite("standard", [bad], seeds=[0], variants=["skills-10"], episodes=10, workers=1)


def test_settings_for_a_label_are_checked_against_its_teacher():
    with pytest.raises(ConfigError, match="sec@aside has no setting 'window_size'"):
        run_suite("standard", ["sec@aside"], seeds=[0], variants=["skills-10"], episodes=10,
                  settings={"sec@aside": {"window_size": 3}}, workers=1)


@pytest.mark.parametrize("kwargs, needle", [({"seeds": [-1]}, "seed"), ({"seeds": [0, 0]}, "distinct"),
                                            ({"settings": {"alp-gmm": {"fit_rate": -5}}}, "fit_rate")])
def test_plan_suite_refuses_bad_seeds_and_setting_values_before_any_job(kwargs, needle):
    # these used to be planned, then every job failed at run time (a negative seed, a --set value out of range)
    with pytest.raises(ConfigError, match=needle):
        plan_suite("quick", ["alp-gmm"], **kwargs)


def test_plan_suite_refuses_settings_of_teachers_it_does_not_run():
    """Settings for a teacher that runs no job were dropped silently (a --set that changed nothing)."""
    with pytest.raises(ConfigError, match="settings given for teachers that run on no variant.*frontier"):
        plan_suite("quick", ["uniform"], [0], settings={"frontier": {"history_size": 100}})
    with pytest.raises(ConfigError, match="settings given for teachers that run on no variant.*exp3"):
        plan_suite("quick", None, [0], variants=["grid-2d-4"], settings={"exp3": {"slow": 0.2}})
    jobs, _ = plan_suite("quick", ["frontier"], [0], variants=["grid-2d-4"],
                         settings={"frontier": {"history_size": 100}})
    assert [j.settings for j in jobs] == [{"history_size": 100}]


@pytest.mark.parametrize("kwargs, needle", [({"eval_every": -5}, "eval_every must be a whole number >= 1"),
                                            ({"eval_every": 0}, "eval_every must be a whole number >= 1"),
                                            ({"episodes": -50}, "episodes must be a whole number >= 1")])
def test_variant_refuses_bad_budget_and_interval(kwargs, needle):
    """A variant with eval_every=-5 planned a job that never ended (its worker looped forever), 0 was replaced
    silently by the default, episodes=-50 planned jobs that all failed."""
    from magister.bench.runner import JobSpec, run_job

    with pytest.raises(ConfigError, match=needle):
        Variant("bad", "grid", {"cells": 4}, **{"episodes": 50, **kwargs})
    with pytest.raises(ConfigError, match=needle):  # a job built directly fails at once, never loops
        run_job(JobSpec("uniform", "grid", 0, **{"episodes": 50, "eval_every": 10, **kwargs}))


def test_a_ratio_is_never_shown_on_the_other_side_of_its_verdict():
    """x uniform was printed with two decimals: 1.295 read "1.30" beside a teacher counted as missing the 1.3x
    target (no star, 0 in ">= 1.3x uniform"), and 0.9975 read "1.00" for a teacher listed as below uniform."""
    def job(teacher, final):
        return {"teacher": teacher, "student": "v", "seed": 0, "status": "ok", "final_mastery": final,
                "ceiling": 0.9, "overhead": {"mean_us": 1.0}, "spec": {"episodes": 100}}

    r = {"suite": "x", "config": {"seeds": [0]}, "variants": {"v": {"description": "d"}},
         "jobs": [job("uniform", 0.40), job("alp-gmm", 0.518), job("riac", 0.399), job("adr", 0.52)]}
    s = suite_summary(r)
    rows = s["per_variant"]["v"]
    assert not rows["alp-gmm"]["ratio_ok"] and rows["adr"]["ratio_ok"]
    assert s["per_teacher"]["riac"]["below_uniform"] == ["v"]
    text = suite_mod.suite_tables(r)
    assert "| alp-gmm | 52 [52-52] | 58 | 1.295 |" in text
    assert "| riac | 40 [40-40] | 44 | 0.998 |" in text
    assert "| adr | 52 [52-52] | 58 * | 1.30 |" in text and "| uniform | 40 [40-40] | 44 | 1.00 |" in text


def test_x_uniform_where_uniform_mastered_nothing_is_no_number_in_the_table(tmp_path):
    """uniform at 0% gave a teacher that mastered some an "x uniform" of "inf" in the table (and the docs table),
    as if it were a ratio; it is the levels table's "(u = 0)", with a note under the table. The verdict (counted
    as >= 1.3x uniform) and the results written are as before: nothing infinite goes into the JSON."""
    import json

    def job(teacher, final):
        return {"teacher": teacher, "student": "v", "seed": 0, "status": "ok", "final_mastery": final,
                "ceiling": 0.9, "overhead": {"mean_us": 1.0}, "spec": {"episodes": 100}}

    r = {"suite": "x", "config": {"seeds": [0]}, "variants": {"v": {"description": "d"}}, "environment": {},
         "jobs": [job("uniform", 0.0), job("alp-gmm", 0.5), job("riac", 0.0)]}
    text = suite_mod.suite_tables(r)
    assert "inf" not in text
    assert "| alp-gmm | 50 [50-50] | 56 * | (u = 0) | 1 |" in text and "| riac | 0 [0-0] | 0 | - | 1 |" in text
    assert "(u = 0): uniform mastered 0%, so a teacher that mastered some has no ratio to it; it counts as >= 1.3x " \
        "uniform." in text
    s = suite_summary(r)
    assert s["per_variant"]["v"]["alp-gmm"]["ratio_ok"] and s["per_teacher"]["alp-gmm"]["ratio_ok"] == 1
    docs = tmp_path / "d.md"
    docs.write_text(f"{suite_mod.START}\n{suite_mod.END}\n")
    suite_mod.write_docs_table(r, docs)
    assert "inf" not in docs.read_text() and "| alp-gmm | 50 [50-50] | 56 * | (u = 0) | 1 |" in docs.read_text()
    json.dumps(r, allow_nan=False)  # the tables left no infinite ratio in the results
    # uniform above 0: a ratio, no note
    r["jobs"][0]["final_mastery"] = 0.25
    text = suite_mod.suite_tables(r)
    assert "| alp-gmm | 50 [50-50] | 56 * | 2.00 |" in text and "(u = 0)" not in text


def test_a_target_met_exactly_is_met_despite_float_rounding():
    """13 of 36 cells against uniform's 10 of 36 is exactly 1.3x uniform, and 57% exactly 5 points below a 62%
    ceiling; computed from percentages they came out 1.2999999999999998 and 56.99999999999999, so both were
    counted as missed."""
    def job(teacher, variant, final, ceiling):
        return {"teacher": teacher, "student": variant, "seed": 0, "status": "ok", "final_mastery": final,
                "ceiling": ceiling, "overhead": {"mean_us": 1.0}, "spec": {"episodes": 100}}

    r = {"suite": "x", "config": {"seeds": [0]}, "variants": {"a": {}, "b": {}},
         "jobs": [job("uniform", "a", 10 / 36, 1.0), job("riac", "a", 13 / 36, 1.0),
                  job("uniform", "b", 0.57, 0.62), job("riac", "b", 0.57, 0.62)]}
    s = suite_summary(r)
    assert s["per_variant"]["a"]["riac"]["ratio_ok"] and s["per_variant"]["b"]["riac"]["ceiling_ok"]
    assert s["per_teacher"]["riac"]["holds"] == 2
    assert "| riac | 36 [36-36] | 36 * | 1.30 |" in suite_mod.suite_tables(r)


def _script(name: str):
    import importlib
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    return importlib.import_module(name)


@pytest.mark.parametrize("results, doc, needle", [
    ("missing.json", "page.md", "cannot read it"),  # FileNotFoundError traceback
    ("page.md", "page.md", "is not JSON"),  # JSONDecodeError traceback
    ("list.json", "page.md", "not a magister bench results file"),  # AttributeError ('list' has no .get)
    ("other.json", "page.md", "not a magister bench results file"),  # ValueError traceback
    ("results.json", "plain.md", "markers"),  # ConfigError traceback
    ("results.json", "page.md", "not the results of a suite"),  # a plain bench run's table written as a suite's
])
def test_suite_docs_script_refuses_a_bad_results_file_or_doc(tmp_path, capsys, results, doc, needle):
    suite_docs = _script("suite_docs")
    (tmp_path / "page.md").write_text(f"# Title\n{suite_mod.START}\nOLD\n{suite_mod.END}\n")
    (tmp_path / "plain.md").write_text("no markers\n")
    (tmp_path / "list.json").write_text("[1, 2]")
    (tmp_path / "other.json").write_text('{"format": "other/1"}')
    (tmp_path / "results.json").write_text(json.dumps({"format": "magister-bench/1", "jobs": []}))
    with pytest.raises(SystemExit) as e:
        suite_docs.main([str(tmp_path / results), str(tmp_path / doc)])
    assert e.value.code == 2 and needle in capsys.readouterr().err.split("error:", 1)[1]
    assert "OLD" in (tmp_path / "page.md").read_text()


@pytest.mark.parametrize("argv, needle", [
    (["riac-plus", "grid", "0,-1"], "seeds"),  # numpy's ValueError after seed 0's whole run
    (["riac-plus", "grid", "0", "[1]"], "JSON object"),  # a TypeError ('must be a mapping') in the first run
    (["riac-plus", "grid", "0", "{bad"], "is not JSON"),  # a JSONDecodeError traceback
    (["riac-plus", "grid", "0", '{"local_ratoi": 0}'], "local_ratoi"),  # a ConfigError traceback
    (["riac-plsu", "grid", "0"], "riac-plsu"),
    (["exp3", "grid", "0"], "discrete"),
    (["riac-plus", "grid,gird", "0"], "gird"),  # printed on stdout, exit 2 without a usage line
    (["riac-plus"], "required"),  # the docstring on stdout
])
def test_grid_variants_script_refuses_bad_arguments_before_any_run(capsys, monkeypatch, argv, needle):
    grid_variants = _script("grid_variants")
    monkeypatch.setattr(grid_variants, "run", lambda *a: pytest.fail("a run started"))
    with pytest.raises(SystemExit) as e:
        grid_variants.main(argv)
    assert e.value.code == 2 and needle in capsys.readouterr().err.split("error:", 1)[1]


def test_failed_runs_are_named_in_the_tables_not_averaged_away():
    """A teacher whose runs failed on some seeds of a variant showed the median of the others with no sign of
    the failures; one that failed on every seed of a variant kept its mean % of ceiling over the rest as if over
    every variant, and "Best teacher holds up on every variant." was printed though no teacher ran there."""
    def job(teacher, variant, seed, final=None):
        if final is None:
            return {"teacher": teacher, "student": variant, "seed": seed, "status": "error", "error": "boom",
                    "spec": {"episodes": 10}}
        return {"teacher": teacher, "student": variant, "seed": seed, "status": "ok", "final_mastery": final,
                "ceiling": 1.0, "overhead": {"mean_us": 1.0}, "spec": {"episodes": 10}}

    jobs = []
    for s in range(3):
        jobs += [job("uniform", "easy", s, 0.5), job("riac", "easy", s, 1.0),
                 job("uniform", "hard", s, 0.1), job("riac", "hard", s),
                 job("uniform", "mid", s, 0.3), job("riac", "mid", s, 0.8 if s == 0 else None)]
    r = {"suite": "x", "config": {"seeds": [0, 1, 2]}, "variants": {"easy": {}, "hard": {}, "mid": {}}, "jobs": jobs}
    s = suite_summary(r)
    assert s["per_teacher"]["riac"]["failed"] == ["hard", "mid"] and s["per_teacher"]["uniform"]["failed"] == []
    assert s["best"]["hard"] == {"teacher": None, "holds": False}
    text = suite_mod.suite_tables(r)
    assert "| riac | 80 [80-80] (2 of 3 runs failed) | 80 * |" in text
    assert "| riac | 3 (runs failed on hard, mid) | 90 |" in text
    assert "hard (every run failed)" in text and "Best teacher holds up on every variant." not in text


def test_a_seed_whose_ceiling_is_zero_does_not_drop_the_variant_from_the_fractions():
    """A seed with nothing to master in the budget (ceiling 0) put a NaN among the fractions: the median over
    seeds came out NaN, so the variant's % of ceiling read "-" and it left the mean and lowest % of ceiling."""
    def job(seed, final, ceiling):
        return {"teacher": "uniform", "student": "a", "seed": seed, "status": "ok", "final_mastery": final,
                "ceiling": ceiling, "overhead": {"mean_us": 1.0}, "spec": {"episodes": 10}}

    r = {"suite": "x", "config": {"seeds": [0, 1, 2]}, "variants": {"a": {}},
         "jobs": [job(0, 0.0, 0.0), job(1, 0.2, 0.8), job(2, 0.4, 0.8)]}
    s = suite_summary(r)
    assert s["per_variant"]["a"]["uniform"]["fraction_median"] == pytest.approx(0.375)
    assert s["per_teacher"]["uniform"]["mean_fraction"] == pytest.approx(0.375)


def test_a_variant_with_no_ceiling_is_named_beside_the_mean_fraction():
    """A variant that ran but has no fraction of ceiling (its student has no best_mastery, or nothing can be
    mastered in its budget on any seed) was left out of the mean and lowest % of ceiling with no sign: the row
    read "2 variants, mean 62%" though the mean was over one."""
    def job(teacher, variant, seed, final, ceiling):
        return {"teacher": teacher, "student": variant, "seed": seed, "status": "ok", "final_mastery": final,
                "ceiling": ceiling, "overhead": {"mean_us": 1.0}, "spec": {"episodes": 10}}

    jobs = []
    for s in range(2):
        jobs += [job("uniform", "a", s, 0.5, 0.8), job("riac", "a", s, 0.4, 0.8),
                 job("uniform", "zero", s, 0.0, 0.0), job("riac", "zero", s, 0.0, 0.0),
                 job("uniform", "none", s, 0.3, None), job("riac", "none", s, 0.2, None)]
    r = {"suite": "x", "config": {"seeds": [0, 1]}, "variants": {"a": {}, "zero": {}, "none": {}}, "jobs": jobs}
    s = suite_summary(r)
    assert s["per_teacher"]["riac"]["no_ceiling"] == ["zero", "none"]
    assert s["per_teacher"]["riac"]["mean_fraction"] == pytest.approx(0.5)
    assert "| riac | 3 (no ceiling on zero, none) | 50 |" in suite_mod.suite_tables(r)


def test_a_variant_whose_student_cannot_be_built_is_named_before_any_job(monkeypatch):
    """A misspelt setting (Variant(..., "grid", {"cels": 7})) stopped run_suite with the constructor's bare TypeError,
    "GridStudent.__init__() got an unexpected keyword argument 'cels'", naming no variant, and a class that is not a
    student ("builtins:object") with "object() takes no arguments"."""
    monkeypatch.setitem(suite_mod.SUITES, "mine", [Variant("my-grid", "grid", {"cels": 7}, episodes=10)])
    with pytest.raises(ConfigError, match=r"variant 'my-grid': magister.students.grid:GridStudent cannot be built "
                                          r"with \{'cels': 7\}.*unexpected keyword argument 'cels'"):
        plan_suite("mine", ["uniform"], [0])
    monkeypatch.setitem(suite_mod.SUITES, "mine", [Variant("thing", "builtins:dict", {}, episodes=10)])
    with pytest.raises(ConfigError, match=r"variant 'thing': builtins:dict is not a student: it has no space, "
                                          r"attempt, mastery"):
        plan_suite("mine", ["uniform"], [0])
    monkeypatch.setitem(suite_mod.SUITES, "mine", [Variant("zero", "grid", {"cells": 0}, episodes=10)])
    with pytest.raises(ConfigError, match="cells must be a whole number >= 1"):  # the student's own refusal, as it was
        plan_suite("mine", ["uniform"], [0])


def test_suite_tables_write_a_label_or_variant_with_a_pipe_as_text():
    # a label "riac@x|y" (or a variant "g|a") split its table row: every figure after it was shown a column to the
    # right, under another heading ("mastered %" read "y"), the last one dropped
    from markdown_it import MarkdownIt

    def job(teacher, variant, seed, final):
        return {"teacher": teacher, "student": variant, "seed": seed, "status": "ok", "final_mastery": final,
                "ceiling": 1.0, "overhead": {"mean_us": 1.0}, "spec": {"episodes": 10}}

    jobs = [job("uniform", "g|a", s, 0.5) for s in range(2)] + [job("riac@x|y", "g|a", s, 0.9 - 0.8 * s)
                                                                  for s in range(2)]
    r = {"suite": "x", "config": {"seeds": [0, 1]}, "variants": {"g|a": {"description": "d"}}, "jobs": jobs}
    page = MarkdownIt().enable("table").render(suite_mod.suite_tables(r))
    assert "<td>riac@x|y</td>\n<td>50 [10-90]</td>\n<td>50</td>\n<td>1.00</td>\n<td>1</td>" in page
    assert "<td>riac@x|y</td>\n<td>1</td>\n<td>50</td>\n<td>50</td>\n<td>0</td>" in page
    assert "<strong>g|a</strong> (d;" in page and "g|a (best riac@x|y)" in page
