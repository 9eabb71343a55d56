"""The conformance suite every teacher passes (like scikit-learn's ``check_estimator``).

Use it on your own teacher too::

    from magister.testing import check_teacher
    check_teacher(lambda space, seed: MyTeacher(space, seed=seed))

Each check drives the teacher with a small deterministic toy learner (cells
that improve when practised) and asserts one promise of the contract:

* ``determinism`` - same seed, same observations: same proposals;
* ``resume`` - ``save`` / :func:`magister.load` (and ``state_dict``) mid-run,
  then identical later proposals given the same later observations;
* ``in_space`` - every proposal, single or batched, is inside the space;
* ``bad_input`` - NaN, infinite and out-of-range scores, tasks outside the
  space, unknown names and mismatched batches are refused with a magister
  error, and the state is unchanged (a twin that never saw them agrees);
* ``batch_propose`` - ``propose(k)`` agrees in distribution with k calls of
  ``propose()``;
* ``batch_observe`` - ``observe_batch`` leaves the same state as one
  ``observe`` per outcome (teachers whose algorithm is defined per batch set
  ``batch_observe_is_sequential = False`` and are checked for distribution);
* ``beliefs`` - ``beliefs()`` is JSON-serialisable and names the teacher;
* ``bad_state`` - a state dict of another teacher or space is refused;
* ``infos`` - ``propose_with_info`` draws what ``propose`` draws and gives one
  JSON-friendly info per task with boolean ``"train"`` and ``"replay"``;
* ``settings`` - a checkpoint rebuilds the teacher with the settings it was
  saved with even when the class defaults change before it is loaded (every
  constructor default along the ``**settings`` chain is shifted, and so is a
  class-level dict of settings such as RIAC+'s ``DEFAULTS``), and the reloaded
  teacher resumes identically.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from .checkpoint import states_equal
from .errors import CheckpointError, InvalidScoreError, InvalidTaskError, MagisterError
from .levels.maze import empty_maze
from .levels.spaces import MazeSpace, SeedSpace
from .spaces import Box, Dict, Discrete, MultiDiscrete, Space
from .teacher import Teacher, _init_chain, from_state_dict, load, setting_names

TeacherFactory = Callable[[Space, int], Teacher]

__all__ = ["check_teacher", "teacher_checks", "default_spaces", "ToyLearner", "states_equal", "shifted_defaults"]


def default_spaces(kind: str) -> list[Space]:
    """Spaces a teacher of ``kind`` is checked on."""
    finite = [Discrete(7), Discrete(["add", "sub", "mul", "div"]), MultiDiscrete([3, 4])]
    continuous = [Box([0.0, -5.0], [1.0, 5.0], names=["a", "b"]), Box([0.0] * 3, [1.0, 2.0, 10.0])]
    if kind == "level":  # level teachers take levels of any space: seeds, mazes, named tasks
        return [SeedSpace(40), SeedSpace(), MazeSpace(6, wall_density=0.2), Discrete(["a", "b", "c", "d", "e"])]
    if kind == "discrete":
        return finite
    if kind == "continuous":
        return continuous + [Dict({"level": Discrete(3), "speed": Box([0.5], [2.0])})]
    return continuous + finite


class ToyLearner:
    """A deterministic learner: the first unit coordinate picks one of ``cells``;
    practice raises that cell's competence by ``rate`` (after the cell below
    it is half learned). Scores are competences in [0, 1]."""

    def __init__(self, space: Space, cells: int = 6, rate: float = 0.05):
        self.space, self.cells, self.rate = space, cells, rate
        self.competence = np.zeros(cells)

    def cell(self, task: Any) -> int:
        u = self.space.to_unit(self.space.validate(task))
        return min(int(u[0] * self.cells), self.cells - 1)

    def attempt(self, task: Any) -> float:
        c = self.cell(task)
        if c == 0 or self.competence[c - 1] >= 0.5:
            self.competence[c] = min(1.0, self.competence[c] + self.rate)
        return float(self.competence[c])


def _same_tasks(space: Space, a: Any, b: Any) -> bool:
    return bool(np.array_equal(space.to_unit_batch(list(a)), space.to_unit_batch(list(b))))


def _drive(teacher: Teacher, learner: ToyLearner, steps: int, batch: int = 1) -> list[Any]:
    """Run the propose/observe loop; returns the proposals in order."""
    seen: list[Any] = []
    for _ in range(steps):
        if batch == 1:
            t = teacher.propose()
            teacher.observe(t, learner.attempt(t))
            seen.append(t)
        else:
            ts = list(teacher.propose(batch))
            teacher.observe_batch(ts, [learner.attempt(t) for t in ts])
            seen.extend(ts)
    return seen


def _check_determinism(factory: TeacherFactory, space: Space, steps: int) -> None:
    runs = []
    for _ in range(2):
        t = factory(space, 123)
        runs.append(_drive(t, ToyLearner(space), steps) + list(t.propose(5)))
    assert _same_tasks(space, runs[0], runs[1]), "same seed and same observations gave different proposals"
    other = factory(space, 124)
    p_other = _drive(other, ToyLearner(space), steps) + list(other.propose(5))
    if space.n is None or space.n > 3:
        assert not _same_tasks(space, runs[0], p_other), "a different seed gave exactly the same proposals"


def _check_resume(factory: TeacherFactory, space: Space, steps: int) -> None:
    a = factory(space, 7)
    learner_a = ToyLearner(space)
    _drive(a, learner_a, steps)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "teacher.ckpt"
        a.save(path)
        b = load(path)
    c = from_state_dict(a.state_dict())
    assert type(b) is type(a) and b.space == a.space, "reloaded teacher is not the same kind"
    assert states_equal(a.state_dict(), b.state_dict()), "reloaded state differs from the saved one"
    learners = [learner_a, ToyLearner(space), ToyLearner(space)]
    for l in learners[1:]:
        l.competence = learner_a.competence.copy()
    outs = [_drive(t, l, steps) + list(t.propose(4)) for t, l in zip((a, b, c), learners)]
    assert _same_tasks(space, outs[0], outs[1]), "a reloaded teacher proposed differently from one that never stopped"
    assert _same_tasks(space, outs[0], outs[2]), "load_state_dict resumed differently from the original"


def _check_in_space(factory: TeacherFactory, space: Space, steps: int) -> None:
    t = factory(space, 3)
    learner = ToyLearner(space)
    for batch in [1] * steps + [8] * max(1, steps // 8):  # each proposal is checked before it is observed
        tasks = [t.propose()] if batch == 1 else list(t.propose(batch))
        for task in tasks:
            assert space.contains(task), f"proposal {task!r} is outside {space!r}"
        if batch == 1:
            t.observe(tasks[0], learner.attempt(tasks[0]))
        else:
            t.observe_batch(tasks, [learner.attempt(x) for x in tasks])
    many = t.propose(64)
    assert len(many) == 64, "propose(64) did not return 64 tasks"
    for task in many:
        assert space.contains(task), f"batched proposal {task!r} is outside {space!r}"


def _bad_tasks(space: Space) -> list[Any]:
    if isinstance(space, Box):
        out = [space.high + 1.0, np.full(space.dim, np.nan), [0.5] * (space.dim + 1), "x"]
        return out
    if isinstance(space, Discrete):
        return [space.n, -1, "no-such-task", 1.5, None]
    if isinstance(space, MultiDiscrete):
        return [[int(v) for v in space.nvec], [0] * (space.dim + 1), "x"]
    if isinstance(space, Dict):
        return [{}, {k: None for k in space.keys}, "x"]
    if isinstance(space, SeedSpace):
        return [space.limit, -1, 1.5, "x", None]
    if isinstance(space, MazeSpace):
        other = empty_maze(space.size + 1)
        return [other, other.to_text(), "#x#\n#S#\n#G#\n###", 3, None]
    return [object()]


def _check_bad_input(factory: TeacherFactory, space: Space, steps: int) -> None:
    t = factory(space, 11)
    twin = factory(space, 11)
    la, lb = ToyLearner(space), ToyLearner(space)
    _drive(t, la, steps)
    _drive(twin, lb, steps)
    good = t.propose()
    twin.propose()
    before = t.state_dict()
    lo, hi = t.score_range.low, t.score_range.high
    bad_scores = [float("nan"), float("inf"), -float("inf"), hi + 1.0, lo - 1.0, "high"]
    for s in bad_scores:
        try:
            t.observe(good, s)  # type: ignore[arg-type]
        except (InvalidScoreError, MagisterError):
            pass
        else:
            raise AssertionError(f"observe accepted the bad score {s!r}")
    for task in _bad_tasks(space):
        try:
            t.observe(task, 0.5)
        except InvalidTaskError as e:
            assert str(e), "error message is empty"
        else:
            raise AssertionError(f"observe accepted the task {task!r}, which is outside {space!r}")
    for tasks, scores in ([[good, good], [0.5]], [[good, good], [0.5, float("nan")]],
                          [[good, _bad_tasks(space)[0]], [0.5, 0.5]]):
        try:
            t.observe_batch(tasks, scores)
        except MagisterError:
            pass
        else:
            raise AssertionError("observe_batch accepted a bad batch")
    for k in (0, -1, 1.5, True):
        try:
            t.propose(k)  # type: ignore[arg-type]
        except (ValueError, TypeError):
            pass
        else:
            raise AssertionError(f"propose(k={k!r}) was accepted")
    after = t.state_dict()
    assert before["n_proposed"] == after["n_proposed"], "a refused propose(k) was counted as proposed"
    assert states_equal(before["algorithm"], after["algorithm"]), "refused input changed the teacher's state"
    assert before["n_observed"] == after["n_observed"], "refused input was counted as observed"
    assert before["rng"] == after["rng"], "refused input consumed random numbers"
    s = la.attempt(good)
    lb.attempt(good)
    t.observe(good, s)
    twin.observe(good, s)
    pa = _drive(t, la, 5) + list(t.propose(4))
    pb = _drive(twin, lb, 5) + list(twin.propose(4))
    assert _same_tasks(space, pa, pb), "after refused input the teacher no longer matches a twin that never saw it"


def _unit_stats(space: Space, tasks: Any) -> np.ndarray:
    return space.to_unit_batch(list(tasks))


def _check_batch_propose(factory: TeacherFactory, space: Space, steps: int) -> None:
    t = factory(space, 5)
    _drive(t, ToyLearner(space), steps)
    state = t.state_dict()
    u = from_state_dict(state)
    n = 600
    batched = _unit_stats(space, t.propose(n))
    single = _unit_stats(space, [u.propose() for _ in range(n)])
    if space.n is not None:
        ia = np.bincount(space.index_batch(space.from_unit_batch(batched)), minlength=space.n) / n
        ib = np.bincount(space.index_batch(space.from_unit_batch(single)), minlength=space.n) / n
        tv = 0.5 * np.abs(ia - ib).sum()
        assert tv < 0.15 + 0.5 * np.sqrt(space.n / n), f"propose(k) and k x propose() differ in distribution (TV {tv:.3f})"
    else:
        diff = np.abs(batched.mean(0) - single.mean(0))
        se = np.sqrt((batched.var(0) + single.var(0)) / n) + 1e-9
        assert (diff < 5 * se + 0.02).all(), f"propose(k) and k x propose() differ in mean by {diff} (se {se})"


def _check_batch_observe(factory: TeacherFactory, space: Space, steps: int) -> None:
    a, b = factory(space, 9), factory(space, 9)
    la = ToyLearner(space)
    tasks = list(a.propose(max(steps, 8)))
    b.propose(max(steps, 8))
    scores = [la.attempt(x) for x in tasks]
    a.observe_batch(tasks, scores)
    for x, s in zip(tasks, scores):
        b.observe(x, s)
    assert a.n_observed == b.n_observed == len(tasks), "observe_batch miscounted observations"
    if getattr(type(a), "batch_observe_is_sequential", True):
        assert states_equal(a.state_dict()["algorithm"], b.state_dict()["algorithm"]), (
            "observe_batch left a different state from one observe() per outcome"
        )
    for task in a.propose(16):
        assert space.contains(task)


def _check_beliefs(factory: TeacherFactory, space: Space, steps: int) -> None:
    t = factory(space, 2)
    for when in ("before", "after"):
        if when == "after":
            _drive(t, ToyLearner(space), steps)
        b = t.beliefs()
        try:
            json.dumps(b)
        except (TypeError, ValueError) as e:
            raise AssertionError(f"beliefs() {when} observations is not JSON-serialisable ({e})") from None
    assert b["teacher"] == t.name and b["n_observed"] == steps, "beliefs() must name the teacher and count observations"


def _check_bad_state(factory: TeacherFactory, space: Space, steps: int) -> None:
    t = factory(space, 1)
    state = t.state_dict()
    other_space = Discrete(2) if not isinstance(space, Discrete) or space.n != 2 else Discrete(3)
    bad = dict(state, space=other_space.to_spec())
    for s in (bad, dict(state, teacher="not-a-teacher"), {"x": 1}):
        try:
            t.load_state_dict(s)
        except CheckpointError:
            pass
        else:
            raise AssertionError("load_state_dict accepted a state of another teacher or space")
    assert states_equal(state, t.state_dict()), "a refused state dict changed the teacher"


def _check_infos(factory: TeacherFactory, space: Space, steps: int) -> None:
    a, b = factory(space, 13), factory(space, 13)
    la, lb = ToyLearner(space), ToyLearner(space)
    for k in [None] * (steps // 2) + [3] * max(1, steps // 6):
        tasks, infos = a.propose_with_info(k)
        others = b.propose(k)
        tasks, infos, others = ([tasks], [infos], [others]) if k is None else (list(tasks), infos, list(others))
        assert _same_tasks(space, tasks, others), "propose_with_info drew other tasks than propose"
        assert isinstance(infos, list) and len(infos) == len(tasks), "propose_with_info(k) needs one info per task"
        for info in infos:
            assert isinstance(info, dict) and isinstance(info.get("train"), bool) and \
                isinstance(info.get("replay"), bool), f"info {info!r} lacks boolean 'train' and 'replay'"
            json.dumps(info)
        a.observe_batch(tasks, [la.attempt(x) for x in tasks])
        b.observe_batch(others, [lb.attempt(x) for x in others])
    assert states_equal(a.state_dict()["algorithm"], b.state_dict()["algorithm"]), (
        "propose_with_info left another state than propose")


def _shifted(value: Any) -> Any:
    """A different value of the same type, valid wherever the original was (or the value itself)."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float) and np.isfinite(value):
        return value / 2 if value > 0 else (0.25 if value == 0 else value * 2)
    return value


@contextlib.contextmanager
def shifted_defaults(cls: type) -> Iterator[None]:
    """Retune a teacher class's defaults for the duration (as a new release might): every constructor
    default along its ``**settings`` chain, and every class-level dict whose keys are all settings."""
    undo: list[Callable[[], None]] = []
    names = set(setting_names(cls))
    try:
        for sig_owner in [k for k in cls.__mro__ if "__init__" in vars(k) and k is not object][:len(_init_chain(cls))]:
            fn = inspect.unwrap(vars(sig_owner)["__init__"])
            for attr in ("__defaults__", "__kwdefaults__"):
                old = getattr(fn, attr)
                if old:
                    new = tuple(map(_shifted, old)) if attr == "__defaults__" else \
                        {k: (v if k in ("seed", "score_range") else _shifted(v)) for k, v in old.items()}
                    setattr(fn, attr, new)
                    undo.append(functools.partial(setattr, fn, attr, old))
        for klass in cls.__mro__:
            for attr, table in list(vars(klass).items()):
                if isinstance(table, dict) and table and set(table) <= names and not attr.startswith("__"):
                    setattr(klass, attr, {k: _shifted(v) for k, v in table.items()})
                    undo.append(functools.partial(setattr, klass, attr, table))
        yield
    finally:
        for fn in reversed(undo):
            fn()


def _check_settings(factory: TeacherFactory, space: Space, steps: int) -> None:
    a = factory(space, 21)
    learner_a = ToyLearner(space)
    _drive(a, learner_a, steps)
    saved = a.state_dict()
    learner_b = ToyLearner(space)
    learner_b.competence = learner_a.competence.copy()
    with shifted_defaults(type(a)):
        try:
            b = from_state_dict(saved)
        except MagisterError as e:
            raise AssertionError(f"a checkpoint could not be reloaded after the class defaults changed ({e}); its "
                                 "saved settings must be complete") from None
        assert states_equal(b.config(), saved["config"]), (
            "a checkpoint reloaded after the class defaults changed has other settings "
            f"(saved {saved['config']}, reloaded {b.config()}): record every effective setting in the config"
        )
        out_b = _drive(b, learner_b, steps) + list(b.propose(4))
    out_a = _drive(a, learner_a, steps) + list(a.propose(4))
    assert _same_tasks(space, out_a, out_b), (
        "a checkpoint reloaded after the class defaults changed proposed differently: it must rebuild the "
        "settings it was saved with"
    )


CHECKS: dict[str, Callable[[TeacherFactory, Space, int], None]] = {
    "in_space": _check_in_space,  # first: the other checks observe what the teacher proposes
    "determinism": _check_determinism,
    "resume": _check_resume,
    "bad_input": _check_bad_input,
    "batch_propose": _check_batch_propose,
    "batch_observe": _check_batch_observe,
    "beliefs": _check_beliefs,
    "bad_state": _check_bad_state,
    "infos": _check_infos,
    "settings": _check_settings,
}


def teacher_checks(factory: TeacherFactory, kind: str, steps: int = 120) -> Iterator[tuple[str, Callable[[], None]]]:
    """Yield ``(name, check)`` pairs, one per check and space, for test parametrisation."""
    for space in default_spaces(kind):
        for name, fn in CHECKS.items():
            yield f"{name}[{space!r}]", functools.partial(fn, factory, space, steps)


def check_teacher(factory: TeacherFactory, kind: str | None = None, steps: int = 120) -> None:
    """Run every check; raises ``AssertionError`` naming the first that fails."""
    if kind is None:
        try:
            kind = factory(Discrete(3), 0).kind
        except MagisterError:
            kind = "continuous"
    for name, check in teacher_checks(factory, kind, steps):
        try:
            check()
        except AssertionError as e:
            raise AssertionError(f"conformance check {name} failed: {e}") from None
