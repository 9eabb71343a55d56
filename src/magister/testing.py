"""The conformance suite every teacher passes (like scikit-learn's ``check_estimator``).

Use it on your own teacher too::

    from magister.testing import check_teacher
    check_teacher(lambda space, seed: MyTeacher(space, seed=seed))

Each check drives the teacher with a small deterministic toy learner (cells
that improve when practised) and asserts one promise of the contract:

* ``determinism`` - same seed, same observations: same proposals (the two
  same-seed teachers take turns, so a shared random stream shows);
* ``resume`` - ``save`` / :func:`magister.load` (and ``state_dict``) mid-run
  (after an odd number of observations, so periodic counters are mid-way),
  then identical later proposals and end state given the same later
  observations; a plain-number attribute (a counter) that differs right after
  the reload is named as missing from the state;
* ``in_space`` - every proposal, single or batched, is inside the space, in
  the space's own form (``space.validate`` gives it back unchanged), and
  ``propose(k)`` gives ``k`` tasks of the type ``propose()`` gives;
* ``bad_input`` - NaN, infinite and out-of-range scores, tasks outside the
  space, unknown names and mismatched batches are refused with a magister
  error, and the state is unchanged (a twin that never saw them agrees);
* ``batch_propose`` - ``propose(k)`` agrees in distribution with k calls of
  ``propose()``;
* ``batch_observe`` - ``observe_batch`` leaves the same state as one
  ``observe`` per outcome (teachers whose algorithm is defined per batch set
  ``batch_observe_is_sequential = False``: for them only the count of
  observations and proposals inside the space afterwards are checked);
* ``beliefs`` - ``beliefs()`` is strict JSON (no NaN or infinity), names the
  teacher and leaves the state (random generator included) as it was;
* ``bad_state`` - a state dict of another teacher or space is refused, changing nothing; one with a list or
  array a step longer or shorter is refused changing nothing, or taken and the teacher goes on; one with an entry
  of another type (a number as a string, a flag as a string, an array as strings) is refused, changing nothing;
* ``infos`` - ``propose_with_info`` draws what ``propose`` draws and gives one
  JSON-friendly info per task with boolean ``"train"`` and ``"replay"``;
* ``settings`` - a checkpoint rebuilds the teacher with the settings it was
  saved with even when the class defaults change before it is loaded (every
  constructor default along the ``**settings`` chain is shifted, and so is a
  class-level dict of settings such as RIAC+'s ``DEFAULTS``), and the reloaded
  teacher resumes identically;
* ``extremes`` - legal but extreme input (every score at the top of the
  range, then at the bottom; tasks at the corners of the space) leaves a
  teacher that proposes inside the space and believes no NaN;
* ``task_forms`` - a task observed as a list, tuple, array, index or name is
  the same task as its proposed form: same state, same later proposals;
* ``copies`` - ``copy.deepcopy`` and a ``pickle`` round trip give a teacher in
  the same state that goes on proposing what the original does, and shares
  nothing with it (driving the copy leaves the original as it was).

A check that raises anything other than ``AssertionError`` fails too:
:func:`check_teacher` names it like any other failure.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import inspect
import json
import pickle
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from .checkpoint import states_equal
from .errors import CheckpointError, InvalidScoreError, InvalidTaskError, MagisterError
from .levels.maze import empty_maze
from .levels.spaces import MazeSpace, SeedSpace
from .rng import generator_state
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
    # the two same-seed teachers take turns, so one drawing from a shared stream (numpy's global RNG, even
    # seeded with the teacher's seed) leaves the other other numbers
    twins, learners = [factory(space, 123), factory(space, 123)], [ToyLearner(space), ToyLearner(space)]
    runs: list[list[Any]] = [[], []]
    for _ in range(steps):
        for t, learner, run in zip(twins, learners, runs):
            run.extend(_drive(t, learner, 1))
    for t, run in zip(twins, runs):
        run.extend(t.propose(5))
    assert _same_tasks(space, runs[0], runs[1]), (
        "same seed and same observations gave different proposals: draw every random number from the teacher's "
        "own self.rng (not numpy's global generator, the random module or a generator of its own)")
    other = factory(space, 124)
    drawn = _generator_states(other)
    p_other = _drive(other, ToyLearner(space), steps) + list(other.propose(5))
    # a teacher that draws no random number (round robin, the least practised task first) is deterministic by
    # design: the same proposals whatever its seed
    if (space.n is None or space.n > 3) and _generator_states(other) != drawn:
        assert not _same_tasks(space, runs[0], p_other), (
            "a different seed gave exactly the same proposals: draw from the teacher's own self.rng, which "
            "the seed sets")


def _generator_states(teacher: Teacher) -> list[Any]:
    """The states of the random generators a teacher holds (``self.rng``, and any other it or an object it holds
    directly keeps): unchanged after a run means the teacher drew no random number."""
    found = []
    for v in vars(teacher).values():
        found += [v] if isinstance(v, np.random.Generator) else \
            [w for w in getattr(v, "__dict__", {}).values() if isinstance(w, np.random.Generator)]
    return [generator_state(g) for g in found]


_SCALARS = (bool, int, float, str, np.generic)


def _scalar_attrs_differ(a: Any, b: Any, where: str = "", depth: int = 0) -> list[str]:
    """The plain-number (and string) attributes of ``a`` and ``b``, and of the objects they hold directly, that
    differ: counters such as "observations since the last refit" that a ``state_dict`` may forget although they
    only matter many observations later. Arrays and containers are left to ``state_dict`` (caches and buffer
    capacities legitimately differ), and so are objects held deeper (the bucket layout of a sorted list inside
    a level buffer depends on its insertion history, not on what it holds)."""
    out: list[str] = []
    da, db = getattr(a, "__dict__", None), getattr(b, "__dict__", None)
    if not isinstance(da, dict) or not isinstance(db, dict) or depth > 1:
        return out
    for k in sorted(set(da) & set(db) - {"_init_args"}):
        x, y = da[k], db[k]
        if isinstance(x, _SCALARS) and isinstance(y, _SCALARS):
            if not (x == y or (x != x and y != y)):
                out.append(f"{where}.{k} ({x!r} here, {y!r} reloaded)")
        elif type(x) is type(y) and hasattr(x, "__dict__") and not callable(x) and \
                not isinstance(x, (Space, np.random.Generator, type)):
            out.extend(_scalar_attrs_differ(x, y, f"{where}.{k}", depth + 1))
    return out


def _check_resume(factory: TeacherFactory, space: Space, steps: int) -> None:
    a = factory(space, 7)
    learner_a = ToyLearner(space)
    _drive(a, learner_a, steps + 7)  # an odd count: a counter of "every 20 / 40 observations" is mid-way
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "teacher.ckpt"
        a.save(path)
        b = load(path)
    c = from_state_dict(a.state_dict())
    assert type(b) is type(a) and b.space == a.space, "reloaded teacher is not the same kind"
    assert states_equal(a.state_dict(), b.state_dict()), "reloaded state differs from the saved one"
    lost = _scalar_attrs_differ(a, b)
    assert not lost, (f"reloaded teacher differs in {', '.join(lost)}: state_dict does not save it (return it "
                      "from _get_state and restore it in _set_state)")
    learners = [learner_a, ToyLearner(space), ToyLearner(space)]
    for l in learners[1:]:
        l.competence = learner_a.competence.copy()
    outs = [_drive(t, l, steps) + list(t.propose(4)) for t, l in zip((a, b, c), learners)]
    assert _same_tasks(space, outs[0], outs[1]), "a reloaded teacher proposed differently from one that never stopped"
    assert _same_tasks(space, outs[0], outs[2]), "load_state_dict resumed differently from the original"
    end = a.state_dict()
    assert states_equal(end, b.state_dict()) and states_equal(end, c.state_dict()), (
        "a reloaded teacher given the same observations ended in another state than one that never stopped")


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
    one = t.propose()
    _assert_canonical(space, one, "propose()")
    for k in (1, 2, 3, 64):
        many = t.propose(k)
        assert hasattr(many, "__len__") and len(many) == k, f"propose({k}) did not return a sequence of {k} tasks"
        for task in many:
            assert space.contains(task), f"batched proposal {task!r} is outside {space!r}"
            _assert_canonical(space, task, f"propose({k})")
            assert type(task) is type(one), (
                f"propose({k}) gave a {type(task).__name__} task, propose() a {type(one).__name__}")


def _assert_canonical(space: Space, task: Any, where: str) -> None:
    """A proposal is in the form the space itself gives (``space.validate``): a named task as its name, a Box
    point as a float array; so a caller that keys or compares tasks sees the same task the same way."""
    v = space.validate(task)
    same = type(v) is type(task)
    if same and isinstance(v, np.ndarray):
        same = v.dtype == task.dtype and v.shape == task.shape
    if same and isinstance(v, dict):
        same = all(type(v[key]) is type(task[key]) for key in v)
    if same and isinstance(v, (tuple, list)):
        same = all(type(x) is type(y) for x, y in zip(v, task))
    assert same, f"{where} gave {task!r} ({type(task).__name__}), not in the space's own form {v!r}"


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
    steps += 5  # an odd count: a periodic refit is mid-way, so a beliefs() that refits would show
    for when in ("before", "after"):
        if when == "after":
            _drive(t, ToyLearner(space), steps)
        state = t.state_dict()
        b = t.beliefs()
        _assert_json(b, f"beliefs() {when} observations")
        assert states_equal(state, t.state_dict()), f"beliefs() {when} observations changed the teacher's state"
    assert b["teacher"] == t.name and b["n_observed"] == steps, "beliefs() must name the teacher and count observations"


def _not_json(obj: Any, where: str = "") -> str | None:
    """Where in ``obj`` the first value strict JSON refuses is (``['key'][0]``), with the value; ``None`` if none."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if not isinstance(k, (str, int, float, bool)) and k is not None:
                return f"{where}: key {k!r} of type {type(k).__name__}"
            found = _not_json(v, f"{where}[{k!r}]")
            if found:
                return found
        return None
    if isinstance(obj, (list, tuple)):
        return next((f for i, v in enumerate(obj) if (f := _not_json(v, f"{where}[{i}]"))), None)
    if isinstance(obj, float) and not np.isfinite(obj):
        return f"{where} = {obj!r}"
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return None
    return f"{where} = {obj!r} of type {type(obj).__name__}"


def _assert_json(obj: Any, what: str) -> None:
    try:  # strict JSON: NaN and Infinity are not JSON, and a NaN belief is a teacher that lost track
        json.dumps(obj, allow_nan=False)
    except (TypeError, ValueError) as e:
        where = _not_json(obj)
        fix = ("a NaN or infinite belief is a teacher that lost track" if isinstance(e, ValueError) else
               "beliefs() turns numpy arrays and scalars into lists and numbers; anything else must be plain "
               "numbers, strings, lists or dicts")
        raise AssertionError(f"{what} is not JSON-serialisable without NaN or infinity ({e}"
                             + (f"; at {where.lstrip(': ')}" if where else "") + f"): {fix}") from None


def _extreme_scores(t: Teacher) -> tuple[float, float]:
    lo, hi = float(t.score_range.low), float(t.score_range.high)
    return (lo if np.isfinite(lo) else -1e6), (hi if np.isfinite(hi) else 1e6)


def _corner_tasks(space: Space) -> list[Any]:
    if space.n is not None:
        return [space.task_at(0), space.task_at(space.n - 1)]
    return list(space.from_unit_batch(np.array([np.zeros(space.dim), np.ones(space.dim)])))


def _check_extremes(factory: TeacherFactory, space: Space, steps: int) -> None:
    """Legal but extreme input - every score at the top of the range, then every score at the bottom, tasks at
    the corners of the space - leaves a teacher that still proposes inside the space and believes no NaN."""
    t = factory(space, 17)
    lo, hi = _extreme_scores(t)
    rounds = max(2, steps // 16)
    for r in range(2 * rounds):
        score = hi if r < rounds else lo
        tasks = list(t.propose(6)) + _corner_tasks(space)
        t.observe_batch(tasks, [score] * len(tasks))
        t.observe(tasks[0], score)
        task = t.propose()
        assert space.contains(task), f"after extreme scores the proposal {task!r} is outside {space!r}"
        if r == rounds - 1:
            _assert_json(t.beliefs(), "beliefs() after scores all at the top of the range")
    _assert_json(t.beliefs(), "beliefs() after scores at both ends of the range")
    for task in t.propose(16):
        assert space.contains(task), f"after extreme scores the proposal {task!r} is outside {space!r}"


def _task_forms(space: Space, task: Any) -> list[Any]:
    """The same task written other ways the space accepts: list, tuple, array, index, name, {name: value}."""
    v = space.validate(task)
    forms: list[Any] = []
    if isinstance(space, Discrete):
        i = space.index(v)
        forms = [i, np.int64(i), float(i)] + ([space.names[i]] if space.names else [])
    elif isinstance(v, (np.ndarray, tuple)):
        plain = np.asarray(v).tolist()  # Python floats or ints
        forms = [plain, tuple(plain), list(v), np.array(v),
                 np.array(v).astype(np.float32 if isinstance(space, Box) else np.int32)]
        names = getattr(space, "names", None)
        if names:
            forms.append(dict(zip(names, v)))
    elif isinstance(v, dict):
        forms = [{k: v[k] for k in reversed(list(v))}]
    elif isinstance(v, int) and not isinstance(v, bool):
        forms = [np.int64(v), np.array(v)]
    elif isinstance(space, MazeSpace):
        forms = [v.to_text()]
    out = []
    for f in forms:
        try:
            ok = states_equal(space.to_json(space.validate(f)), space.to_json(v))
        except (InvalidTaskError, TypeError, ValueError):
            ok = False
        if ok:
            out.append(f)
    return out


def _check_task_forms(factory: TeacherFactory, space: Space, steps: int) -> None:
    """A task observed as a list, tuple, array, index or name is the same task: the state that leaves is
    the state its proposed form leaves. The caller's arrays are overwritten once observed (a caller reusing
    its buffer): a teacher keeps copies, not the caller's arrays."""
    a, b = factory(space, 19), factory(space, 19)
    la = ToyLearner(space)
    rounds = max(4, steps // 12)
    for r in range(rounds):
        tasks = list(a.propose(3))
        b.propose(3)
        scores = [la.attempt(x) for x in tasks]
        forms = [_task_forms(space, x) for x in tasks]
        alt: Any = [f[(r + j) % len(f)] if f else x for j, (x, f) in enumerate(zip(tasks, forms))]
        a.observe(tasks[0], scores[0])
        b.observe(alt[0], scores[0])
        a.observe_batch(tasks[1:], scores[1:])
        rest: Any = np.array([space.validate(x) for x in alt[1:]]) if isinstance(space, Box) and r % 2 else alt[1:]
        b.observe_batch(rest, scores[1:])  # a Box batch as one (m, dim) array every other round
        for arr in [x for x in [alt[0], *alt[1:], rest] if isinstance(x, np.ndarray)]:
            arr[...] = space.low if isinstance(space, Box) else 0
    sa, sb = a.state_dict(), b.state_dict()
    assert all(states_equal(sa[k], sb[k]) for k in ("algorithm", "rng", "n_observed", "n_proposed")), (
        "observing the same tasks written another way (list, tuple, array, index or name) left another state")
    assert _same_tasks(space, a.propose(4), b.propose(4)), (
        "observing the same tasks written another way (list, tuple, array, index or name) changed the proposals")


def _check_bad_state(factory: TeacherFactory, space: Space, steps: int) -> None:
    t = factory(space, 1)
    state = t.state_dict()
    # the refused states are another teacher's (another seed, with observations): were they the teacher's own,
    # one that applied part of a state before refusing it would change nothing the check could see
    other = factory(space, 2)
    _drive(other, ToyLearner(space), max(steps // 4, 5))
    theirs = other.state_dict()
    other_space = Discrete(2) if not isinstance(space, Discrete) or space.n != 2 else Discrete(3)
    bad = dict(theirs, space=other_space.to_spec())
    for s in (bad, dict(theirs, teacher="not-a-teacher"), {"x": 1}):
        try:
            t.load_state_dict(s)
        except CheckpointError:
            pass
        else:
            raise AssertionError("load_state_dict accepted a state of another teacher or space")
    assert states_equal(state, t.state_dict()), "a refused state dict changed the teacher"
    # a state of this teacher and space with one list or array a step longer or shorter (a damaged or hand-edited
    # checkpoint): refused changing nothing, or taken and the teacher goes on (one that took it then failed on the
    # next propose or observe with an IndexError or KeyError had let the damage in)
    learner = ToyLearner(space)
    for where, damaged in _damaged(theirs["algorithm"]):
        u = factory(space, 1)
        if _refused_unchanged(u, dict(theirs, algorithm=damaged), f"damaged at {where}"):
            continue
        try:
            tasks = list(u.propose(3))
            u.observe_batch(tasks, [learner.attempt(x) for x in tasks])
            u.beliefs()
        except Exception as e:  # noqa: BLE001 - the damage surfaced later, as any error
            raise AssertionError(f"load_state_dict took a state damaged at {where}, then "
                                 f"failed with {type(e).__name__}: {e}; check that the saved entries fit each other "
                                 "in _set_state and refuse them there") from None
    # one entry of another type (a count as the string "12", a flag as "no", scores as strings): refused, changing
    # nothing (a teacher that coerced it went on with 12, a truthy flag, or a string array)
    for where, mistyped in _mistyped(theirs["algorithm"]):
        if not _refused_unchanged(factory(space, 1), dict(theirs, algorithm=mistyped), f"{where} mistyped"):
            raise AssertionError(f"load_state_dict took a state with {where} of another type than it saves")


def _refused_unchanged(teacher: Teacher, state: dict[str, Any], what: str) -> bool:
    """Load ``state`` into ``teacher``: False if it was taken; True if refused (``CheckpointError``), after checking
    that the refusal changed nothing."""
    before = teacher.state_dict()
    try:
        teacher.load_state_dict(state)
    except CheckpointError:
        assert states_equal(before, teacher.state_dict()), f"a refused state ({what}) changed the teacher"
        return True
    return False


def _mistyped(alg: Any, where: str = "algorithm", depth: int = 0) -> Iterator[tuple[str, Any]]:
    """``alg`` with one entry (at most three levels deep; in a list, the first) of another type: a number or
    None as a string, a string as a number, a bool as a string, a non-empty array as a list of strings."""
    if depth > 3:
        return
    if isinstance(alg, dict):
        for k, v in alg.items():
            for w, d in _mistyped(v, f"{where}[{k!r}]", depth + 1):
                yield w, {**alg, k: d}
    elif isinstance(alg, (list, tuple)) and alg:
        for w, d in _mistyped(alg[0], f"{where}[0]", depth + 1):
            yield w, [d, *alg[1:]]
    elif isinstance(alg, np.ndarray) and alg.size and alg.dtype.kind in "biuf":
        yield f"{where} (as strings)", np.vectorize(str, otypes=[object])(alg).tolist()
    elif isinstance(alg, (bool, np.bool_)) or alg is None:
        yield f"{where} (as a string)", str(alg).lower()
    elif isinstance(alg, (int, float, np.integer, np.floating)):
        yield f"{where} (as a string)", str(alg)
    elif isinstance(alg, str):
        yield f"{where} (as a number)", 7


def _damaged(alg: Any, where: str = "algorithm", depth: int = 0) -> Iterator[tuple[str, Any]]:
    """``alg`` with one list or 1-d array (at most three levels deep) one entry longer or shorter."""
    if depth > 3:
        return
    if isinstance(alg, dict):
        for k, v in alg.items():
            for w, d in _damaged(v, f"{where}[{k!r}]", depth + 1):
                yield w, {**alg, k: d}
    elif isinstance(alg, list) and alg:
        yield f"{where} (one more)", alg + alg[-1:]
        yield f"{where} (one less)", alg[:-1]
    elif isinstance(alg, np.ndarray) and alg.ndim == 1 and alg.size:
        yield f"{where} (one more)", np.concatenate([alg, alg[-1:]])
        yield f"{where} (one less)", alg[:-1]


def _check_infos(factory: TeacherFactory, space: Space, steps: int) -> None:
    a, b = factory(space, 13), factory(space, 13)
    la, lb = ToyLearner(space), ToyLearner(space)
    for k in [None] * (steps // 2) + [3] * max(1, steps // 6):
        tasks, got = a.propose_with_info(k)
        others = b.propose(k)
        infos: Any = [got] if k is None else got
        tasks, others = ([tasks], [others]) if k is None else (list(tasks), list(others))
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


def _check_copies(factory: TeacherFactory, space: Space, steps: int) -> None:
    """``copy.deepcopy`` and a ``pickle`` round trip (what a process pool or a user's own cache does with a teacher)
    give a teacher in the same state, which goes on exactly as the original and shares nothing with it."""
    a = factory(space, 23)
    learner = ToyLearner(space)
    _drive(a, learner, steps // 2 + 3)
    before = a.state_dict()
    copies = {"copy.deepcopy": copy.deepcopy(a)}
    try:
        copies["pickle"] = pickle.loads(pickle.dumps(a))
    except Exception as e:  # noqa: BLE001 - whatever pickle raises, the teacher cannot be pickled
        raise AssertionError(f"the teacher cannot be pickled ({type(e).__name__}: {e}): keep no lambda, local "
                             "function, lock or open file in its attributes (a module-level function, or a "
                             "functools.partial of one, pickles)") from None
    runs = {}
    for how, c in copies.items():
        assert type(c) is type(a) and states_equal(before, c.state_dict()), f"{how} gave a teacher in another state"
        runs[how] = _drive(c, copy.deepcopy(learner), steps // 4 + 3) + list(c.propose(4))
        assert states_equal(before, a.state_dict()), (
            f"driving a {how} of the teacher changed the original: the two share state (a generator, an array)")
    ours = _drive(a, learner, steps // 4 + 3) + list(a.propose(4))
    for how, run in runs.items():
        assert _same_tasks(space, ours, run), f"a {how} of the teacher proposed differently from the original"


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
    "extremes": _check_extremes,
    "task_forms": _check_task_forms,
    "copies": _check_copies,
}


def teacher_checks(factory: TeacherFactory, kind: str, steps: int = 120) -> Iterator[tuple[str, Callable[[], None]]]:
    """Yield ``(name, check)`` pairs, one per check and space, for test parametrisation."""
    for space in default_spaces(kind):
        for name, fn in CHECKS.items():
            yield f"{name}[{space!r}]", functools.partial(fn, factory, space, steps)


def check_teacher(factory: TeacherFactory, kind: str | None = None, steps: int = 120) -> None:
    """Run every check; raises ``AssertionError`` naming the first that fails.

    ``factory(space, seed)`` builds the teacher under test, e.g. ``lambda space, seed: MyTeacher(space, seed=seed)``.
    """
    try:
        inspect.signature(factory).bind(Discrete(3), 0)
    except TypeError:  # `lambda seed: ...` was caught below, taken for a continuous teacher refusing Discrete(3)
        raise TypeError(f"check_teacher calls factory(space, seed) with a space and an int seed, and {factory!r} "
                        "does not take those two arguments; pass e.g. lambda space, seed: MyTeacher(space, seed=seed)"
                        ) from None
    except ValueError:  # no signature to read (a builtin): let the calls below say
        pass
    if kind is None:
        try:
            kind = factory(Discrete(3), 0).kind
        except Exception:  # noqa: BLE001 - refusing a finite space (with any error) is what a continuous teacher may do
            kind = "continuous"
    for name, check in teacher_checks(factory, kind, steps):
        try:
            check()
        except AssertionError as e:
            raise AssertionError(f"conformance check {name} failed: {e}") from None
        except Exception as e:  # noqa: BLE001 - a teacher that crashes under a check fails it too
            raise AssertionError(f"conformance check {name} failed: {type(e).__name__}: {e}") from e
