"""A user's program, type checked by tests/test_typing_user.py with ``mypy --strict`` against magister's sources.

It is never run; it calls magister the way the docs do, with the types a user's code holds (numpy arrays and
scalars, generators, the lazily imported names of magister.serve; not magister.data, whose torch takes mypy a
minute). Every line here must pass: an error is a correct program refused because an annotation in magister is
wrong or too narrow.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import magister as mg
from magister.levels import SeedSpace
from magister.serve import HTTPTeacher
from magister.spaces import MultiDiscrete
from magister.students import GridStudent
from magister.teachers import LevelTeacher


def box_teacher(folder: Path) -> mg.Teacher:
    teacher = mg.make_teacher("alp-gmm", mg.Box([0, 0], [1, 1]), seed=0, score_range=(0, 10))
    rng = np.random.default_rng(1)
    teacher.observe(teacher.propose(), np.float32(2.5))  # a numpy scalar score
    teacher.observe(teacher.propose(), np.int64(3))
    teacher.observe_batch(np.array([[0.1, 0.2], [0.3, 0.4]]), rng.random(2) * 10)  # arrays of tasks and scores
    teacher.observe_batch([[0.5, 0.5]], [np.float32(1.0)])
    teacher.observe_batch(teacher.propose(3), (s for s in [1.0, 2.0, 3.0]))  # a generator of scores
    student = GridStudent(seed=1)
    student.attempt_batch(np.array([[0.5, 0.5]]))
    return mg.load(teacher.save(folder / "box.ckpt"))


def discrete_spaces() -> list[mg.Space]:
    return [mg.Discrete(np.int64(3)), mg.Discrete(np.array(["add", "sub"])), MultiDiscrete(np.array([2, 3]))]


def levels(folder: Path) -> int:
    teacher = mg.make_teacher("robust-plr", SeedSpace(), seed=0)
    level, info = teacher.propose_with_info()  # one task: one info dict
    train: bool = info["train"]
    teacher.observe(level, 0.5 if train else 0.0)
    tasks, infos = teacher.propose_with_info(4)  # k tasks: a list of infos
    replayed = [t for t, i in zip(tasks, infos) if i["replay"]]
    assert isinstance(teacher, LevelTeacher)  # give_back / drop_pending are a level teacher's
    teacher.give_back(tasks, infos)
    resumed = mg.load(teacher.save(folder / "plr.ckpt"))
    assert isinstance(resumed, LevelTeacher)
    return resumed.drop_pending() + len(replayed)


def remote(teacher: HTTPTeacher) -> mg.Teacher:
    tasks = teacher.propose(8)
    teacher.observe_batch(tasks, np.linspace(0, 1, 8), ids=["a", None, "c", None, None, None, None, None])
    teacher.observe(teacher.propose(), np.float64(0.5))
    task, info = teacher.propose_with_info()
    teacher.give_back([task], [info])
    return teacher.to_local()
