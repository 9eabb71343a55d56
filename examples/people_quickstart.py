"""Teaching people with magister: fit learner models on real answers, score them, pick what to practise next.

Run from the repository root:  python examples/people_quickstart.py
(uses the small ASSISTments 2015 and Anki slices shipped with the tests; runs in seconds)
"""

from pathlib import Path

import numpy as np

import magister as mg
from magister.people import BKT, Elo, FSRSMemory, load_anki, load_assist2015
from magister.people.evaluate import cross_validate, time_split
from magister.people.simulate import SimulatedStudent, run_session, skill_graph

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "people"

# 1. Knowledge tracing: 5-fold replay by student (predict, reveal, update), next to a constant rate.
log = load_assist2015(DATA / "assist2015_slice.csv")
scores = cross_validate({"bkt": BKT, "bkt+forget": lambda: BKT(forgets=True), "elo": Elo}, log,
                        folds=log.extra["fold"])
for name, s in scores.items():
    print(f"{name:11s} AUC {s.auc:.3f}  log loss {s.log_loss:.3f}  calibration error {s.ece:.3f}")

# 2. Memory: fit FSRS weights on the earlier half of an Anki log, score the later half.
anki = load_anki(DATA / "anki_slice.csv")
for name, s in time_split({"fsrs fitted": lambda: FSRSMemory(max_iter=20)}, anki).items():
    print(f"{name:11s} AUC {s.auc:.3f}  log loss {s.log_loss:.3f}  ({s.n} reviews scored)")

# 3. What next: a mastery-learning teacher over a prerequisite graph, teaching a simulated student.
graph = skill_graph(8, np.random.default_rng(0))
params = {s: (0.1, 0.3, 0.15, 0.08) for s in graph}
teacher = mg.make_teacher("mastery-learning", mg.Discrete(list(graph)), prerequisites=graph, seed=0)
student = SimulatedStudent(params, graph, np.random.default_rng(0))
result = run_session(teacher.propose, teacher.observe, student, budget=200, per_day=200)
print(f"mastery learning: all {len(graph)} skills known after {result.minutes_to_master:.0f} exercises; "
      f"teacher believes {sum(teacher.mastered().values())} mastered")
teacher.save("/tmp/mastery-teacher.ckpt")  # resume later with magister.load(...)
