"""Fifty skills, right-or-wrong answers: a bandit that sets mastered skills aside.

A learner (``SkillStudent``) has 50 skills with random prerequisites, 5 of them
unlearnable, and its chance of a right answer is noisy (standard deviation 0.1).
Each exercise gives one 0/1 outcome. Plain ``sec`` keeps a large share of its
exercises on skills already mastered; with ``set_aside=0.9`` a skill answered
right 9 times in 10 gets a tenth of its share, and comes back for review after
100 exercises without practice (``magister.set_aside``).

Run from the repository root:  python examples/skills_set_aside.py [--students 5] [--exercises 6000]
(about 6 seconds)
"""

from __future__ import annotations

import argparse

import numpy as np

import magister as mg
from magister.settings import whole
from magister.students import SkillStudent

SKILLS, UNLEARNABLE, EXERCISES = 50, 5, 6000


def teach(name: str, settings: dict, seed: int, exercises: int = EXERCISES) -> tuple[float, float]:
    """Mastery at the end, and the share of exercises spent on skills already mastered."""
    # the learner draws from a stream of its own (seeded apart from the teacher)
    student = SkillStudent(skills=SKILLS, prerequisites="random", noise=0.1,
                           unlearnable=[f"s{i}" for i in range(SKILLS - UNLEARNABLE, SKILLS)],
                           seed=np.random.SeedSequence([seed, 0]))
    teacher = mg.make_teacher(name, student.space, seed=np.random.SeedSequence([seed, 1]), **settings)
    on_mastered = 0
    for _ in range(exercises):
        skill = teacher.propose()
        on_mastered += bool(student.mastered()[student.space.index(skill)])
        teacher.observe(skill, student.attempt(skill))
    return student.mastery(), on_mastered / exercises


def main(students: int = 5, exercises: int = EXERCISES) -> dict[str, dict[str, float]]:
    # refused before anything runs: 0 exercises divided by zero, 0 students printed nan% and a verdict
    students, exercises = whole("students", students), whole("exercises", exercises)
    runs = {"sec, set_aside=0.9": ("sec", {"set_aside": 0.9}), "sec": ("sec", {}), "uniform": ("uniform", {})}
    out = {}
    for label, (name, settings) in runs.items():
        res = [teach(name, settings, seed, exercises) for seed in range(students)]
        out[label] = {"mastery": float(np.median([m for m, _ in res])),
                      "on_mastered": float(np.mean([f for _, f in res]))}
        print(f"{label:20s} mastered {out[label]['mastery']:.0%} of the skills (median of {students} learners); "
              f"{out[label]['on_mastered']:.0%} of exercises on skills already mastered")
    best, plain, uni = (out[k]["mastery"] for k in runs)
    verdict = "beats uniform" if best > uni else "does not beat uniform"
    print(f"teacher sec with set_aside: {best:.0%} vs sec {plain:.0%} vs uniform {uni:.0%} of skills mastered "
          f"after {exercises} exercises: {verdict}")
    return out


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])  # and an option it does not know is refused
    p.add_argument("--students", type=int, default=5, help="simulated learners per teacher (learner seeds 0..N-1)")
    p.add_argument("--exercises", type=int, default=EXERCISES)
    a = p.parse_args()
    from magister.errors import ConfigError

    try:
        main(a.students, a.exercises)
    except ConfigError as e:  # a refused option: the usage and the reason, not a traceback
        p.error(str(e))
