"""Teaching people with magister: fit learner models on real answers, score them, pick what to practise next.

Run from the repository root:  python examples/people_quickstart.py
(uses the small ASSISTments 2015 and Anki slices shipped with the tests; runs in seconds)
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

import magister as mg
from magister.people import BKT, Elo, FSRSMemory, load_anki, load_assist2015
from magister.people.evaluate import cross_validate, time_split
from magister.people.simulate import SessionResult, SimulatedStudent, run_session, skill_graph

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "people"

def knowledge_tracing() -> dict:
    """1. Knowledge tracing: 5-fold replay by student (predict, reveal, update)."""
    log = load_assist2015(DATA / "assist2015_slice.csv")
    scores = cross_validate({"bkt": BKT, "bkt+forget": lambda: BKT(forgets=True), "elo": Elo}, log,
                            folds=log.extra["fold"])
    for name, s in scores.items():
        print(f"{name:11s} AUC {s.auc:.3f}  log loss {s.log_loss:.3f}  calibration error {s.ece:.3f}")
    return scores


def memory() -> dict:
    """2. Memory: fit FSRS weights on the earlier half of an Anki log, score the later half."""
    anki = load_anki(DATA / "anki_slice.csv")
    scores = time_split({"fsrs fitted": lambda: FSRSMemory(max_iter=20)}, anki)
    for name, s in scores.items():
        print(f"{name:11s} AUC {s.auc:.3f}  log loss {s.log_loss:.3f}  ({s.n} reviews scored)")
    return scores


# 3. What next: a mastery-learning teacher over a prerequisite graph, teaching simulated students, next to
#    uniform practice (any skill, prerequisites or not) with the same students and the same number of exercises.
def teach(name: str, seed: int, exercises: int = 60) -> tuple[Any, SessionResult]:
    # the graph and the simulated student draw from streams of their own (default_rng([seed, k])): seeded with the
    # teacher's seed they would draw the teacher's numbers, and a uniform teacher's pick would decide the answer
    graph = skill_graph(8, np.random.default_rng([seed, 1]))
    params = {s: (0.1, 0.3, 0.15, 0.08) for s in graph}  # (prior, learn, guess, slip) per skill
    settings = {"prerequisites": graph} if name == "mastery-learning" else {}
    teacher = mg.make_teacher(name, mg.Discrete(list(graph)), seed=seed, **settings)
    student = SimulatedStudent(params, graph, np.random.default_rng([seed, 2]))
    return teacher, run_session(teacher.propose, teacher.observe, student, budget=exercises, per_day=exercises)


def what_next(students: int = 5, exercises: int = 60) -> dict[str, float]:
    """The share of skills each teacher's students know at the end, averaged over the students."""
    known = {}
    for name in ("mastery-learning", "uniform"):
        results = [teach(name, seed, exercises)[1] for seed in range(students)]
        known[name] = float(np.mean([r.known_at_end for r in results]))
    print(f"teacher mastery-learning: {known['mastery-learning']:.0%} vs uniform {known['uniform']:.0%} "
          f"of skills known after {exercises} exercises ({students} simulated students, 8 skills each): "
          f"{'beats' if known['mastery-learning'] > known['uniform'] else 'does not beat'} uniform")
    teacher, _ = teach("mastery-learning", 0, exercises)
    print(f"the teacher believes {sum(teacher.mastered().values())} of 8 skills mastered by student 0")
    with tempfile.TemporaryDirectory() as folder:  # a folder of its own: runs at once do not collide
        teacher.save(Path(folder) / "mastery-teacher.ckpt")  # resume later with magister.load(...)
    return known


def main() -> dict[str, float]:
    knowledge_tracing()
    memory()
    return what_next()


if __name__ == "__main__":
    # it takes no options: one it is given (--seed...) is refused, not silently ignored
    argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0]).parse_args()
    main()
