"""benchmarks/study_schedules.py on a hand-made population (no data files): the old loop it reproduces shows the
defects of issue 15 and the new schedule does not; a run repeats exactly. It and the other people benchmarks
(people_anki, people_assist, people_kt, people_policies) refuse bad options before loading any data."""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import study_schedules as bench  # noqa: E402

from magister.people.deck import Card, Deck  # noqa: E402
from magister.people.memory import DEFAULT_WEIGHTS  # noqa: E402
from magister.people.simulate import SimulatedStudent, skill_graph  # noqa: E402


def population(seed: int):
    rng = np.random.default_rng(seed)
    graph = skill_graph(6, rng)
    params = {s: (0.1, 0.3, 0.2, 0.1) for s in graph}  # prior, learn, guess, slip
    deck = Deck("sim", [Card(f"{s}-{k}", f"{s}?", ("x",), s) for s in graph for k in range(2)], prerequisites=graph)
    return deck, SimulatedStudent(params, graph, np.random.default_rng(seed + 1), DEFAULT_WEIGHTS)


def test_the_old_loop_repeats_cards_and_the_new_schedule_does_not():
    old_runs, new_runs = [], []
    for seed in range(3):
        deck, student = population(seed)
        old = bench.teach(bench.OldLoop(deck, DEFAULT_WEIGHTS), copy.deepcopy(student), deck, 4, 15)
        new = bench.teach(bench.NewLoop(deck, DEFAULT_WEIGHTS), copy.deepcopy(student), deck, 4, 15)
        old_runs.append(old["run"])
        new_runs.append(new["run"])
        assert 0.0 <= new["known"] <= 1.0 and 0.0 < new["recall"] <= 1.0 and new["answers"] <= 60
    assert max(old_runs) >= 3 and max(new_runs) == 1, (old_runs, new_runs)
    assert bench.longest_run(["a", "a", "b", "a", "a", "a"]) == 3 and bench.longest_run([]) == 0


def test_a_run_repeats_exactly():
    deck, student = population(7)
    a = bench.teach(bench.NewLoop(deck, DEFAULT_WEIGHTS), copy.deepcopy(student), deck, 3, 12)
    b = bench.teach(bench.NewLoop(deck, DEFAULT_WEIGHTS), copy.deepcopy(student), deck, 3, 12)
    assert {k: repr(v) for k, v in a.items()} == {k: repr(v) for k, v in b.items()}  # nan included


@pytest.mark.parametrize("script, bad, needle", [
    ("study_schedules", ["--sessions", "0"], "--sessions"),  # max() of no session after both fits
    ("study_schedules", ["--seeds", "0"], "--seeds"),  # an empty table after both fits
    ("study_schedules", ["--first-seed", "-1"], "--first-seed"),  # numpy's ValueError after both fits
    ("people_policies", ["--per-day", "0"], "--per-day"),  # a ZeroDivisionError in the first session
    ("people_policies", ["--skills", "0"], "--skills"),  # skill_graph's ConfigError after both fits
    ("people_anki", ["--boot", "0"], "--boot"),  # np.percentile of no draw, after the package's replay and the fit
    ("people_anki", ["--split", "1.5"], "--split"),  # np.quantile's ValueError after the package's replay
    ("people_anki", ["--split"], "--split"),  # no split: exit 0 with no table
    ("people_assist", ["--pybkt-fits", "0"], "--pybkt-fits"),  # a TypeError inside pyBKT after our models' fits
    ("people_assist", ["--folds"], "--folds"),  # np.concatenate of nothing
    ("people_kt", ["--models", "bkt", "bestlr"], "bestlr"),  # a KeyError after bkt was fitted
    ("people_kt", ["--models", "--no-pybkt"], "nothing to measure"),  # max() of no row after loading both files
    ("people_kt", ["--online-answers", "0"], "--online-answers"),  # '0 us/answer' measured on no answer
    ("people_kt", ["--max-minutes", "0"], "--max-minutes"),  # dkt's ConfigError after bkt, best-lr and pyBKT
])
def test_people_scripts_refuse_bad_options_before_loading_the_data(capsys, monkeypatch, script: str,
                                                                   bad: list[str], needle: str) -> None:
    import importlib

    module = importlib.import_module(script)
    for loader in ("load_anki", "load_assist2015"):  # parse only: nothing is loaded, fitted or run
        if hasattr(module, loader):
            monkeypatch.setattr(module, loader, lambda *a, **k: pytest.fail("the data was loaded"))
    with pytest.raises(SystemExit) as e:
        module.main(bad)
    assert e.value.code == 2 and needle in capsys.readouterr().err.split("error:", 1)[1]


@pytest.mark.parametrize("folds, needle", [(["0", "7"], "no fold 7"), (["1", "1"], "each fold once")])
def test_people_assist_refuses_a_fold_the_file_does_not_have(capsys, monkeypatch, folds: list[str],
                                                             needle: str) -> None:
    # fold 7 was fitted on every answer and scored on none (nan rows, exit 0); a fold given twice counted twice
    import people_assist

    monkeypatch.setattr(people_assist, "BKT", lambda *a, **k: pytest.fail("a model was fitted"))
    data = Path(__file__).resolve().parent / "data" / "people" / "assist2015_slice.csv"
    with pytest.raises(SystemExit) as e:
        people_assist.main(["--file", str(data), "--no-pybkt", "--folds", *folds])
    assert e.value.code == 2 and needle in capsys.readouterr().err.split("error:", 1)[1]
