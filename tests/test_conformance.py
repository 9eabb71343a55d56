"""Every registered teacher passes the shared conformance suite."""

from __future__ import annotations

import pytest

import magister as mg
from magister.testing import teacher_checks


def _cases():
    for name in mg.available_teachers():
        cls = mg.teacher_class(name)
        kwargs = dict(getattr(cls, "conformance_kwargs", {}))

        def factory(space, seed, cls=cls, kwargs=kwargs):
            return cls(space, seed=seed, **kwargs)

        for check_name, check in teacher_checks(factory, cls.kind):
            yield pytest.param(check, id=f"{name}-{check_name}")


@pytest.mark.parametrize("check", list(_cases()))
def test_conformance(check):
    check()


def test_seeded_teachers_propose_and_resume_the_same_in_processes_with_other_string_hashes(tmp_path):
    """Python salts str hashing per process (PYTHONHASHSEED), so a set of task names iterated in a teacher would
    propose other tasks, or resume otherwise, in another run. Every registered teacher, seeded, on named tasks (and
    a Box, a maze space): the same proposals and state in two processes, and a checkpoint saved in one goes on in
    the other as in the first."""
    import os
    import subprocess
    import sys

    code = """
import hashlib, json, sys
import magister as mg
from magister.checkpoint import dumps
from magister.levels.spaces import MazeSpace
from magister.testing import ToyLearner
mode, folder = sys.argv[1], sys.argv[2]
named = mg.Discrete(["add", "sub", "mul", "div", "pow"])
spaces = {"discrete": [named], "level": [named, MazeSpace(5, wall_density=0.2)],
          "continuous": [mg.Box([0, 0], [1, 1], names=["a", "b"])], "any": [named]}
for name in mg.available_teachers():
    cls = mg.teacher_class(name)
    for j, space in enumerate(spaces[cls.kind]):
        path = f"{folder}/{name}-{j}.ckpt"
        t = cls(space, seed=3, **dict(getattr(cls, "conformance_kwargs", {})))
        learner, seen = ToyLearner(space), []
        for step in range(40):
            if mode == "load" and step == 20:
                t = mg.load(path)
            tasks = list(t.propose(2))
            t.observe_batch(tasks, [learner.attempt(x) for x in tasks])
            seen += [space.to_json(x) for x in tasks]
            if mode == "save" and step == 19:
                t.save(path)
        print(name, j, hashlib.sha256((json.dumps(seen) + str(dumps(t.state_dict()))).encode()).hexdigest()[:16])
"""

    def run(mode, seed):
        return subprocess.run([sys.executable, "-c", code, mode, str(tmp_path)], capture_output=True, text=True,
                              timeout=120, check=True, env={**os.environ, "PYTHONHASHSEED": seed}).stdout

    first = run("save", "0")
    assert first.count("\n") >= len(mg.available_teachers())
    assert run("load", "12345") == first


@pytest.mark.parametrize("name", mg.available_teachers())
def test_a_state_loaded_into_a_teacher_that_already_ran_goes_on_as_the_original(name):
    """The conformance suite loads states into new teachers; a teacher that has run (its policy and other caches
    computed) must drop all of it at load_state_dict and go on as the teacher whose state it took."""
    import json

    from magister.testing import ToyLearner, default_spaces

    cls = mg.teacher_class(name)
    kwargs = dict(getattr(cls, "conformance_kwargs", {}))
    space = default_spaces(cls.kind)[0]
    a, b = cls(space, seed=1, **kwargs), cls(space, seed=2, **kwargs)
    learner = ToyLearner(space)
    for teacher, steps in ((a, 67), (b, 13)):
        for _ in range(steps):
            task = teacher.propose()
            teacher.observe(task, learner.attempt(task))
    b.propose(3)
    b.beliefs()
    b.load_state_dict(a.state_dict())
    assert json.dumps(b.beliefs(), sort_keys=True, default=repr) == json.dumps(a.beliefs(), sort_keys=True, default=repr)
    batch_a, batch_b = a.propose(20), b.propose(20)  # drawn from the policy as loaded, no observation between
    assert space.to_unit_batch(list(batch_a)).tolist() == space.to_unit_batch(list(batch_b)).tolist()
    for ta in batch_a:
        a.observe(ta, learner.attempt(ta))
    b.load_state_dict(a.state_dict())
    for _ in range(30):
        ta, tb = a.propose(), b.propose()
        assert space.to_unit(ta).tolist() == space.to_unit(tb).tolist()
        score = learner.attempt(ta)
        a.observe(ta, score)
        b.observe(tb, score)
