"""benchmarks/study_schedules.py on a hand-made population (no data files): the old loop it reproduces shows the
defects of issue 15 and the new schedule does not; a run repeats exactly."""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import numpy as np

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
