"""Task spaces: what a teacher may propose.

Four kinds cover the users we know of:

* :class:`Box` - continuous parameters with bounds (and optional names);
* :class:`Discrete` - ``n`` tasks, or a list of named tasks (skills, levels);
* :class:`MultiDiscrete` - a grid of integer choices;
* :class:`Dict` - named sub-spaces, for tasks that mix kinds.

Every space validates a task (a clear error naming the offending value),
samples with an explicit ``numpy.random.Generator``, and maps tasks to and
from a *unit vector* in [0, 1]^d. Continuous teachers work on unit vectors, so
distances never depend on the units of a dimension. Finite spaces also number
their tasks ``0 .. n-1`` (:meth:`Space.index` / :meth:`Space.task_at`), which
is what discrete teachers work on.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .errors import ConfigError, InvalidTaskError, SettingTypeError, UnknownTaskError, reworded
from .settings import REPR_BITS, is_int, non_numeric, short_number

__all__ = ["Space", "Box", "Discrete", "MultiDiscrete", "Dict", "space_from_spec"]


def _short(x: Any, limit: int = 80) -> str:
    if isinstance(x, int) and x.bit_length() > REPR_BITS:  # (repr of 10**5000 raises a raw ValueError)
        return short_number(x)
    s = repr(x)
    return s if len(s) <= limit else s[: limit - 3] + "..."


#: the most choices a Discrete space or a MultiDiscrete coordinate can have: tasks are numbered by int64 indices
_MAX_CHOICES = 2**63 - 1


#: a Box of at most this many dimensions maps one task to and from its unit vector on Python floats (faster there)
_FEW_DIMS = 16

#: the most tasks one ``sample(rng, k)`` call draws (as ``Teacher.propose``'s ``MAX_PROPOSE``)
MAX_SAMPLE = 10_000_000


def sample_count(k: Any) -> int:
    """``k`` of ``Space.sample(rng, k)`` as an int in ``0 .. MAX_SAMPLE``; anything else is a
    :class:`~magister.errors.ConfigError` (``int(k)`` took 1.5 as 1 and True as 1, raised numpy's own errors for -1,
    and a maze space drew mazes for ever for 2**64)."""
    if not is_int(k) or not 0 <= k <= MAX_SAMPLE:
        raise ConfigError(f"sample(rng, k) needs k = a whole number of tasks in 0..{MAX_SAMPLE:,} (or None for one "
                          f"task), got k={_short(k)}")
    return int(k)


def sample_generator(rng: Any) -> np.random.Generator:
    """``rng`` of ``Space.sample(rng, k)``, which must be a numpy ``Generator``; a seed, ``None`` or a legacy
    ``RandomState`` is a :class:`~magister.errors.SettingTypeError` (it was Python's ``'int' object has no attribute
    'random'``, and a ``RandomState`` drew through some spaces and failed in others)."""
    if not isinstance(rng, np.random.Generator):
        value = f" {_short(rng, 40)}" if isinstance(rng, (int, float, str)) else ""
        raise SettingTypeError(f"sample(rng, k) needs a numpy Generator as rng, got {type(rng).__name__}{value}; "
                               "pass np.random.default_rng(seed) (and keep it to draw again)")
    return rng


def task_index(i: Any, n: int) -> int:
    """Task index ``i`` of a finite space of ``n`` tasks as an int (a whole float too, as :meth:`Discrete.index`
    takes it); text, None, a bool, a fraction or an index outside ``0 .. n-1`` is an :class:`InvalidTaskError`
    (``int(i)`` raised Python's own errors, or took 1.5 as task 1)."""
    if type(i) is int and 0 <= i < n:  # the common case, fast
        return i
    if isinstance(i, np.ndarray) and i.ndim == 0:
        i = i.item()
    if isinstance(i, (float, np.floating)) and math.isfinite(i) and float(i).is_integer():
        i = int(i)
    if not is_int(i):
        raise InvalidTaskError(f"task index {_short(i)} is not a whole number; task indices are 0..{n - 1}")
    j = int(i)
    if not 0 <= j < n:  # (names[-1] would be the last task, and an unnamed index any number)
        raise InvalidTaskError(f"task index {_short(j)} is outside 0..{n - 1}")  # (1e300: 301 digits were printed)
    return j


def unit_rows(vecs: Any, dim: int, owner: Any, one: bool = False) -> np.ndarray:
    """Unit vectors ``vecs`` as a float array of ``dim`` columns (``one``: exactly one row, as ``from_unit`` takes);
    what is not numbers that fill whole rows of ``dim`` is an :class:`InvalidTaskError` naming ``owner`` (numpy's
    reshape, float or overflow errors before)."""
    try:
        v = np.asarray(vecs, dtype=float).reshape(-1, dim)
    except (TypeError, ValueError, OverflowError):
        raise InvalidTaskError(f"unit vectors {_short(vecs)} are not rows of {dim} numbers in [0, 1] for "
                               f"{owner!r}") from None
    if one and len(v) != 1:
        raise InvalidTaskError(f"from_unit takes one unit vector of {dim} numbers, got {_short(vecs)}; use "
                               "from_unit_batch for several")
    return v


_BOOLS = frozenset((bool, np.bool_))  # (neither can be subclassed: a type lookup is isinstance, at a third the cost)


def _has_bool(task: Any) -> bool:
    """Whether a list, tuple or object-array task holds a bool (numpy turns [True, 0.5] into [1.0, 0.5], silently)."""
    if isinstance(task, np.ndarray):
        return task.dtype == object and not _BOOLS.isdisjoint(map(type, task.ravel().tolist()))
    return isinstance(task, (list, tuple)) and not _BOOLS.isdisjoint(map(type, task))


def _refuse_masked(task: Any) -> None:
    """Refuse a numpy masked array with masked entries: ``np.asarray`` drops the mask, and whatever the masked
    entries hide was taken as the task (a mask that hides nothing is a plain task)."""
    if isinstance(task, np.ma.MaskedArray):
        if np.ma.getmaskarray(task).any():
            raise InvalidTaskError(f"task {_short(task.tolist())} is a masked array with masked entries (None here): a "
                                   "masked value is no part of a task; fill them (task.filled(value)) or leave the "
                                   "task out")


def _cells(v: np.ndarray, counts: Any, top: Any, owner: Any) -> np.ndarray:
    """``floor(v * counts)`` of unit coordinates ``v``, clipped to ``0 .. top`` (``counts`` an int or an int64
    array broadcasting with ``v``, ``top`` its ``counts - 1`` as a float where that is exact, else ``None``): the
    cell of each coordinate. Above 2**53 choices ``counts - 1`` is no float, and the float clip gave ``counts``
    itself (a task outside the space): those are clipped as Python ints. A NaN names no cell (cast, it was
    -2**63): refused, naming the vector (a row of ``v``) and the space ``owner``."""
    nan = np.isnan(v)
    if nan.any():
        raise InvalidTaskError(f"unit vector {int(np.argwhere(nan)[0][0])} holds a NaN: it names no task of "
                               f"{owner!r} (give coordinates in [0, 1])")
    f = np.floor(np.clip(v, 0.0, 1.0) * counts)
    if top is not None:
        return np.minimum(f, top).astype(np.int64)
    last = np.broadcast_to(np.asarray(counts, dtype=object) - 1, f.shape)
    cells = [min(int(a), b) for a, b in zip(f.ravel().tolist(), last.ravel().tolist())]
    return np.array(cells, dtype=object).reshape(f.shape)


def _entry_order(spec: Any) -> Any:
    """The names of every Dict space in ``spec``, in order, at any depth."""
    if isinstance(spec, Mapping):
        inner = spec.get("spaces")
        if spec.get("type") == "Dict" and isinstance(inner, Mapping):
            return [(k, _entry_order(v)) for k, v in inner.items()]
    return None


def same_spec(a: Any, b: Any) -> bool:
    """Whether two space specs give the same space: equal, and a Dict's entries in the same order (the order
    lays out task indices and unit vectors: ``Dict({"b": .., "a": ..})`` numbers its tasks otherwise than
    ``Dict({"a": .., "b": ..})``, though their specs compare equal as dicts)."""
    return a == b and _entry_order(a) == _entry_order(b)


class Space:
    """Base class. Subclasses define the members and the unit-vector map."""

    #: number of coordinates of the unit vector
    dim: int
    #: number of tasks if finite, else ``None``
    n: int | None = None
    #: whether :meth:`sample` is the space's own generator rather than a decoded random unit vector
    #: (``MazeSpace``: domain randomisation; a ``Dict`` holding one): ``uniform`` proposes with :meth:`sample` then
    native_sampling: bool = False

    # -- membership ------------------------------------------------------------
    def validate(self, task: Any) -> Any:
        """Return the canonical form of ``task`` or raise :class:`InvalidTaskError`."""
        raise NotImplementedError

    def contains(self, task: Any) -> bool:
        try:
            self.validate(task)
        except InvalidTaskError:
            return False
        return True

    __contains__ = contains

    def validate_batch(self, tasks: Any) -> list[Any] | np.ndarray:
        """Validate a sequence of tasks (a list, or an array ``(m, dim)`` for a :class:`Box`); the error names
        the position of the first bad one."""
        if isinstance(tasks, (str, bytes, Mapping)):
            raise InvalidTaskError(f"expected a sequence of tasks, got a single {type(tasks).__name__}")
        if isinstance(tasks, (set, frozenset)):  # no order: the scores went to tasks by the set's hash order
            raise InvalidTaskError(f"expected a sequence of tasks, got a {type(tasks).__name__}, which has no order "
                                   "to pair its tasks with the scores; pass a list in the order of the scores")
        try:
            items = iter(tasks)
        except TypeError:  # a number or None: not a sequence (0-d arrays too)
            raise InvalidTaskError(f"expected a sequence of tasks, got {_short(tasks)}; pass a list of tasks, "
                                   "or use observe(task, score) for one") from None
        out = []
        for i, t in enumerate(items):
            try:
                out.append(self.validate(t))
            except InvalidTaskError as e:
                raise reworded(e, f"task at position {i}: {e}")
        return out

    # -- unit-vector map --------------------------------------------------------
    def to_unit(self, task: Any) -> np.ndarray:
        """Map a task to a vector in [0, 1]^dim; a task outside the space is an :class:`InvalidTaskError` (it gave
        numpy's or Python's own error, or a box's task past its bounds a vector outside [0, 1], without a word)."""
        return self.unit_one(task)[0]

    def from_unit(self, vec: np.ndarray) -> Any:
        """Map a vector in [0, 1]^dim (clipped if outside) to a task."""
        v = unit_rows(vec, self.dim, self, one=True)
        return self.from_unit_batch(v)[0]

    def to_unit_batch(self, tasks: Sequence[Any] | np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def unit_one(self, task: Any) -> np.ndarray:
        """Validate one task and return its unit vector as a ``(1, dim)`` array."""
        return self.to_unit_batch([self.validate(task)])

    def from_unit_batch(self, vecs: np.ndarray) -> Any:
        """Map an array ``(k, dim)`` to a sequence of k tasks."""
        raise NotImplementedError

    # -- sampling ---------------------------------------------------------------
    def sample(self, rng: np.random.Generator, k: int | None = None) -> Any:
        """One uniform task, or a sequence of ``k`` (uniform over the space's volume / members)."""
        m = 1 if k is None else sample_count(k)
        out = self.from_unit_batch(sample_generator(rng).random((m, self.dim)))
        return out[0] if k is None else out

    # -- finite spaces ----------------------------------------------------------
    def index(self, task: Any) -> int:
        raise TypeError(f"{type(self).__name__} is not a finite space; it has no task index")

    def task_at(self, i: int) -> Any:
        raise TypeError(f"{type(self).__name__} is not a finite space; it has no task index")

    def index_batch(self, tasks: Sequence[Any] | np.ndarray) -> np.ndarray:
        return np.fromiter((self.index(t) for t in tasks), dtype=np.int64, count=len(tasks))

    def tasks_at(self, idx: Sequence[int] | np.ndarray) -> list[Any]:
        if type(idx) is np.ndarray and idx.dtype == np.int64 and idx.ndim == 1:  # a teacher's indices: Python ints
            idx = idx.tolist()  # are faster to take apart
        return [self.task_at(i) for i in idx]

    @property
    def n_tasks(self) -> int:
        """The number of tasks ``n`` of a finite space; a continuous space raises ``TypeError``."""
        if self.n is None:
            raise TypeError(f"{self!r} is continuous: it has no number of tasks; use a finite space "
                            "(Discrete, MultiDiscrete, or a Dict of those)")
        return self.n

    def task_names(self) -> list[str]:
        """Readable labels of all tasks of a finite space."""
        if self.n is None:
            raise TypeError(f"{type(self).__name__} is not a finite space")
        import json

        out = []
        for i in range(self.n):
            j = self.to_json(self.task_at(i))
            out.append(j if isinstance(j, str) else json.dumps(j, separators=(",", ":")))
        return out

    # -- (de)serialisation --------------------------------------------------------
    def to_json(self, task: Any) -> Any:
        """A JSON-friendly form of a valid task."""
        raise NotImplementedError

    def from_json(self, obj: Any) -> Any:
        return self.validate(obj)

    def to_spec(self) -> dict[str, Any]:
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Space) and same_spec(self.to_spec(), other.to_spec())

    def __hash__(self) -> int:
        return hash(repr(self.to_spec()))


def _bound(name: str, value: Any) -> np.ndarray:
    """A Box's ``low`` or ``high`` as floats; text ("1" was parsed), integers beyond any float (numpy's raw
    OverflowError) and bools (``[False]``, JSON's ``false``, was a bound of 0.0, where a task's True is refused)
    are refused."""
    try:
        raw = np.asarray(value)
        if non_numeric(raw) or raw.dtype == bool or _has_bool(value):
            raise TypeError("not a number")
        return np.asarray(raw, dtype=float)
    except (OverflowError, TypeError, ValueError):
        raise ConfigError(f"Box {name} must be finite numbers, got {_short(value)}") from None


class Box(Space):
    """Continuous tasks: a point with ``low[i] <= x[i] <= high[i]``.

    ``names`` labels the dimensions in order (a list or tuple; a ``set``, which has no order, is refused with a
    :class:`~magister.errors.ConfigError`), so that a task may be written ``{name: value}``.

    >>> Box([0, 0], [1, 10], names=["friction", "length"])
    Box(low=[0.0, 0.0], high=[1.0, 10.0], names=['friction', 'length'])
    """

    #: whether the one-task paths run on Python floats (False for a Box unpickled from before they did)
    _few: bool = False

    def __init__(self, low: Any, high: Any, names: Sequence[str] | None = None,
                 shape: int | Sequence[int] | None = None):
        lo, hi = _bound("low", low), _bound("high", high)
        if shape is not None:
            # gymnasium writes shape=(3,): one dimension count in a tuple is the same Box
            n = shape[0] if isinstance(shape, (tuple, list)) and len(shape) == 1 else shape
            if not is_int(n) or n < 1:
                raise ConfigError(f"Box shape is the number of dimensions, a whole number >= 1 (or a 1-tuple such as "
                                  f"(3,)), got {shape!r}")
            try:
                lo = np.broadcast_to(lo, (int(n),)).copy()
                hi = np.broadcast_to(hi, (int(n),)).copy()
            except ValueError:
                raise ConfigError(f"Box shape={shape!r} does not fit low of shape {lo.shape} and high of shape "
                                  f"{hi.shape}; give a number per dimension or one number for all") from None
        lo, hi = np.atleast_1d(lo) + 0.0, np.atleast_1d(hi) + 0.0  # 0.0 for -0.0: a bound of -0.0 gave -0.0 tasks
        if lo.ndim != 1 or lo.shape != hi.shape or lo.size == 0:
            raise ConfigError(
                f"Box needs 1-D low and high of the same length, got shapes {lo.shape} and {hi.shape}"
            )
        if not (np.isfinite(lo).all() and np.isfinite(hi).all()):
            raise ConfigError("Box bounds must be finite numbers; an unbounded dimension cannot be sampled uniformly")
        if not (hi > lo).all():
            i = int(np.flatnonzero(~(hi > lo))[0])
            raise ConfigError(
                f"Box dimension {i} has low={lo[i]} >= high={hi[i]}; every dimension needs low < high "
                "(leave a fixed parameter out of the space)"
            )
        with np.errstate(over="ignore"):
            width = hi - lo
        if not np.isfinite(width).all():
            i = int(np.flatnonzero(~np.isfinite(width))[0])
            raise ConfigError(
                f"Box dimension {i} is wider than a float can hold (high - low = {hi[i]} - {lo[i]} overflows); "
                "rescale the parameter or give it bounds that can be sampled"
            )
        self.low, self.high = lo, hi
        self._width = width
        # -low, but +0.0 (not -0.0) for a bound of 0.0: x + _shift is exactly x - low, except that a task of -0.0 at a
        # bound of 0.0 gets unit +0.0 (x - low kept -0.0: an array task saved other bytes than the same list), at no cost
        self._shift = 0.0 - lo
        self.dim = int(lo.size)
        # the bounds again as Python floats, per dimension, for the one-task paths of a few dimensions (unit_one,
        # from_unit_batch of one row): numpy's calls on 2 numbers cost more than the arithmetic, and the same
        # float operations in the same order give the same bits
        self._few = self.dim <= _FEW_DIMS
        self._bounds = list(zip(lo.tolist(), hi.tolist()))
        self._unit_terms = list(zip(self._shift.tolist(), width.tolist()))
        self._task_terms = list(zip(lo.tolist(), width.tolist(), hi.tolist()))
        self.names = _dimension_names("Box", names, self.dim)

    def __repr__(self) -> str:
        s = f"Box(low={self.low.tolist()}, high={self.high.tolist()}"
        return s + (f", names={self.names!r})" if self.names else ")")

    def _as_array(self, task: Any) -> np.ndarray:
        if isinstance(task, Mapping) and self.names:
            missing = [n for n in self.names if n not in task]
            extra = [k for k in task if k not in self.names]
            if missing or extra:
                raise InvalidTaskError(
                    f"task {_short(task)} does not match the Box's names {self.names}: "
                    f"missing {missing}, unknown {extra}"
                )
            task = [task[n] for n in self.names]
        _refuse_masked(task)
        try:
            raw = np.asarray(task)
            if non_numeric(raw) or raw.dtype == bool or _has_bool(task):  # text, a complex number or True is
                raise TypeError("not a number")  # not a coordinate
            # a new array (a level teacher keeps the task: not the caller's buffer), and 0.0 for -0.0 (the
            # same point, which a level's key would tell apart)
            x = np.asarray(raw, dtype=float) + 0.0
        except OverflowError:  # an integer beyond any float: raw numpy OverflowError, also from `task in box`
            raise InvalidTaskError(
                f"task {_short(task)} has a coordinate too large to be a number, outside {self!r}"
            ) from None
        except (TypeError, ValueError):
            raise InvalidTaskError(
                f"task {_short(task)} is not a vector of {self.dim} numbers for {self!r}"
            ) from None
        return x

    def validate(self, task: Any) -> np.ndarray:
        x = self._as_array(task)
        if x.shape != (self.dim,):
            if x.size == self.dim and x.ndim <= 1:
                x = x.reshape(self.dim)
            else:
                raise InvalidTaskError(
                    f"task {_short(task)} has shape {x.shape}; {self!r} expects {self.dim} numbers"
                )
        if not np.isfinite(x).all():
            raise InvalidTaskError(f"task {_short(task)} has a NaN or infinite coordinate")
        bad = (x < self.low) | (x > self.high)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            label = self.names[i] if self.names else f"dimension {i}"
            raise InvalidTaskError(
                f"task {_short(task)} is outside the space: {label} = {float(x[i])!r} is not in "
                f"[{self.low[i]}, {self.high[i]}]"
            )
        return x

    def unit_one(self, task: Any) -> np.ndarray:
        """Validate one task and return its unit vector ``(1, dim)`` (fast path for teachers)."""
        if type(task) is np.ndarray and task.shape == self.low.shape and task.dtype.kind in "iuf":
            x = task.astype(float, copy=False)
            if self._few:  # the same comparisons and (x + shift) / width as below, on Python floats
                xs = x.tolist()
                for v, (lo, hi) in zip(xs, self._bounds):
                    if not lo <= v <= hi:  # also for NaN
                        break
                else:
                    return np.array([[(v + s) / w for v, (s, w) in zip(xs, self._unit_terms)]])
            elif ((x >= self.low) & (x <= self.high)).all():  # also False for NaN
                return ((x + self._shift) / self._width).reshape(1, self.dim)
        return self.to_unit_batch([self.validate(task)])

    def validate_batch(self, tasks: Any) -> np.ndarray:  # vectorised fast path
        if isinstance(tasks, np.ndarray) and tasks.ndim == 2 and tasks.shape[1] == self.dim \
                and tasks.dtype.kind in "iuf" and not isinstance(tasks, np.ma.MaskedArray):
            # numbers; strings, booleans, objects or masked rows are checked one by one below
            x = tasks.astype(float, copy=True)
            x += 0.0  # 0.0 for -0.0, as validate gives
            bad = ~np.isfinite(x).all(axis=1) | ((x < self.low) | (x > self.high)).any(axis=1)
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                try:
                    self.validate(x[i])
                except InvalidTaskError as e:
                    raise InvalidTaskError(f"task at position {i}: {e}") from None
            return x
        return np.array(super().validate_batch(tasks), dtype=float).reshape(-1, self.dim)

    def to_unit_batch(self, tasks: Any) -> np.ndarray:
        x = np.asarray(tasks, dtype=float).reshape(-1, self.dim)
        return (x + self._shift) / self._width  # (x - low, with 0.0 for -0.0: see __init__)

    def from_unit(self, vec: np.ndarray) -> Any:
        """Map a vector in [0, 1]^dim (clipped if outside) to a task; a NaN names no task and is refused, as the
        finite spaces refuse it."""
        v = unit_rows(vec, self.dim, self, one=True)
        if np.isnan(v).any():
            raise InvalidTaskError(f"unit vector {_short(v[0].tolist())} holds a NaN: it names no task of {self!r} "
                                   "(give coordinates in [0, 1])")
        return self.from_unit_batch(v)[0]

    def from_unit_batch(self, vecs: np.ndarray) -> np.ndarray:
        """Map an array ``(k, dim)`` to ``k`` tasks. NaN is not checked here (the cost of every proposal):
        ``Teacher.propose`` refuses one from a teacher of your own."""
        v = unit_rows(vecs, self.dim, self)
        if len(v) == 1 and self._few:  # one task (every propose()): the expression below, on Python floats (max and
            # min pass a NaN on as numpy's do; a -0.0 they might keep otherwise becomes low + 0.0 all the same)
            return np.array([[min(lo + min(max(u, 0.0), 1.0) * w, hi)
                              for u, (lo, w, hi) in zip(v[0].tolist(), self._task_terms)]])
        # np.minimum(np.maximum(...)) is np.clip's result (NaN included) for a third of its call overhead
        out = self.low + np.minimum(np.maximum(v, 0.0), 1.0) * self._width
        return np.minimum(out, self.high, out=out)  # rounding can never step past the bound

    def sample(self, rng: np.random.Generator, k: int | None = None) -> Any:
        out = self.from_unit_batch(sample_generator(rng).random((1 if k is None else sample_count(k), self.dim)))
        return out[0] if k is None else out

    def to_json(self, task: Any) -> Any:
        if type(task) is np.ndarray and task.shape == self.low.shape and task.dtype == np.float64 \
                and ((task >= self.low) & (task <= self.high)).all():  # a proposal: valid, skip validate's checks
            return task.tolist()
        return [float(v) for v in self.validate(task)]  # a {name: value} task too, as validate takes it

    def to_spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"type": "Box", "low": self.low.tolist(), "high": self.high.tolist()}
        if self.names:
            spec["names"] = list(self.names)
        return spec


def _check_indices(idx: list[int], n: int) -> None:
    """Refuse task indices outside ``0 .. n-1`` (what :meth:`Space.tasks_at` is given)."""
    if idx and (min(idx) < 0 or max(idx) >= n):
        bad = next(i for i in idx if not 0 <= i < n)
        raise InvalidTaskError(f"task index {_short(bad)} is outside 0..{n - 1}")


def _dimension_names(kind: str, names: Any, dim: int) -> list[str] | None:
    """The names of a space's ``dim`` dimensions, in dimension order (``None``: unnamed).

    A set is refused: it has no order, so which name labelled which dimension (where a task written as
    ``{name: value}`` puts each value) followed the set's hash order, which changes from one process to the next
    (``PYTHONHASHSEED``): the same script accepted a task in one run and refused it, or swapped its values, in
    another."""
    if names is None:
        return None
    if isinstance(names, (set, frozenset)):
        raise ConfigError(f"{kind} names must be in dimension order (a list or tuple), got a {type(names).__name__} "
                          f"{sorted(map(str, names))}, which has no order: which name labels which dimension would "
                          f"change from one process to the next; give them as a list, e.g. "
                          f"names={sorted(map(str, names))!r} if that is the order of the dimensions")
    try:
        if isinstance(names, (str, bytes)):  # "ab" named two dimensions "a" and "b"
            raise TypeError
        out = [str(n) for n in names]
    except TypeError:  # a number, or a 0-d array: not iterable
        raise ConfigError(f"{kind} names are a list of {dim} names in dimension order, got {_short(names)}"
                          + (f"; write names=[{names!r}]" if isinstance(names, str) and dim == 1 else "")) from None
    if len(out) != dim or len(set(out)) != dim:
        raise ConfigError(f"{kind} needs {dim} distinct names, got {out!r}")
    return out


def _repeated(names: list[str]) -> list[str]:
    """The names that occur more than once, sorted (linear time: a space may name a million tasks)."""
    if len(set(names)) == len(names):
        return []
    seen: set[str] = set()
    dup: set[str] = set()
    for x in names:
        (dup if x in seen else seen).add(x)
    return sorted(dup)


def _other_form(name: str, lookup: Mapping[str, int]) -> str:
    """`` (it reads as the task 'café' ...)`` when ``name`` is a task of ``lookup`` (name -> index) written in another
    Unicode form (``"cafe\u0301"``, "e" and a combining accent, for the task ``"café"``), else ``""``: the refusal
    showed two names that read the same. Two dict lookups, made only once a name is refused."""
    import unicodedata

    same = next((x for x in (unicodedata.normalize(form, name) for form in ("NFC", "NFD"))
                 if x != name and x in lookup), None)
    if same is None:
        return ""

    def written(x: str) -> str:
        return "'" + x.encode("unicode_escape").decode("ascii") + "'"

    return (f" (it reads as the task {same!r}, written with other characters: {written(name)} against the space's "
            f"{written(same)}; write the tasks as the space's names are written, e.g. both through "
            "unicodedata.normalize('NFC', ...))")


class Discrete(Space):
    """``n`` tasks numbered ``0 .. n-1``, or named tasks.

    With names, tasks are the names (proposals are names, and names are
    accepted by :meth:`~Space.validate`; integer indices are accepted too). ``n`` may
    be a numpy array: of names (``df.skill.unique()``), or a 0-d count.
    """

    n: int
    #: the folder of the :class:`~magister.opponents.OpponentPool` whose space this is (``pool.space``, and the space
    #: of an opponent teacher over the pool, reloaded ones included), else ``None``; when set, :func:`magister.recommend`
    #: recommends an opponent teacher (not part of the spec or of equality)
    opponent_pool: str | None = None

    def __init__(self, n: int | np.integer[Any] | Sequence[str] | np.ndarray):
        if isinstance(n, np.ndarray) and n.ndim <= 1:  # names as an array (df.skill.unique()), or a count as a 0-d
            n = n.tolist()  # array, were refused as neither a number of tasks nor a list of names
        if is_int(n):  # (a duration: no count)
            if not 1 <= n <= _MAX_CHOICES:  # more than int64 indices can number
                raise ConfigError(f"Discrete needs 1..{_MAX_CHOICES} tasks (2**63 - 1), got n={n}")
            self.names: list[str] | None = None
            self.n = int(n)
        elif isinstance(n, Sequence) and not isinstance(n, (str, bytes)):
            names = [str(x) for x in n]
            if not names:
                raise ConfigError("Discrete needs at least one task name")
            for i, x in enumerate(n):
                # a number passed as a task is read as a position: Discrete([2, 0, 1]).validate(0) was the task
                # named "2", so observe(0) meaning "the task I named 0" silently recorded another task
                if isinstance(x, (int, np.integer, float, np.floating)) and not isinstance(x, (bool, np.bool_)) \
                        and (isinstance(x, (int, np.integer)) or float(x).is_integer()) and x != i:
                    then = f"record the task named {names[int(x)]!r}" if 0 <= x < len(names) else "be refused"
                    raise ConfigError(
                        f"Discrete task name {x!r} (at position {i}) is a number, and a number passed as a task "
                        f"means the task at that position, not the task of that name: observe({x!r}) would {then}; "
                        "give the names as strings (Discrete([str(v) for v in names])) or use Discrete(n)")
            dup = _repeated(names)
            if dup:
                raise ConfigError(f"Discrete task names must be distinct; repeated: {dup}")
            self.names = names
            self.n = len(names)
            self._lookup = {x: i for i, x in enumerate(names)}
        else:
            raise ConfigError(f"Discrete takes a number of tasks or a list of names, got {n!r}")
        self.dim = 1

    def __repr__(self) -> str:
        return f"Discrete({self.names!r})" if self.names else f"Discrete({self.n})"

    def index(self, task: Any) -> int:
        if isinstance(task, np.ndarray) and task.ndim == 0:  # before the checks: np.array(True) is a bool too
            _refuse_masked(task)  # (np.ma.masked, a masked entry of an array of tasks, gave 0.0: task 0)
            task = task.item()
        if isinstance(task, str):
            if self.names is None:
                raise UnknownTaskError(
                    f"task {task!r} is a name, but {self!r} has unnamed tasks 0..{self.n - 1}"
                )
            i = self._lookup.get(task)
            if i is None:
                hint = ", ".join(self.names[:8]) + (", ..." if self.n > 8 else "")
                raise UnknownTaskError(f"unknown task name {task!r}{_other_form(task, self._lookup)}; known tasks: "
                                       f"{hint}")
            return i
        if isinstance(task, (bool, np.bool_)):
            raise InvalidTaskError(f"task {task!r} is a bool, not a task index")
        if isinstance(task, (float, np.floating)) and float(task).is_integer():
            task = int(task)
        if not is_int(task):  # (numpy's durations are integers: int() of one raised a raw TypeError, or took
            # np.timedelta64(1) as task 1)
            raise InvalidTaskError(f"task {_short(task)} is not a task of {self!r} (expected an index or a name)")
        i = int(task)
        if not 0 <= i < self.n:
            raise InvalidTaskError(f"task index {_short(i)} is outside {self!r}; valid indices are 0..{self.n - 1}")
        return i

    def validate(self, task: Any) -> Any:
        return self.task_at(self.index(task))

    def task_at(self, i: int) -> Any:
        j = task_index(i, self.n)
        return self.names[j] if self.names else j

    def tasks_at(self, idx: Any) -> list[Any]:
        # a teacher's int64 indices (every proposal): tolist() gives the same Python ints, several times faster
        out = idx.tolist() if type(idx) is np.ndarray and idx.dtype == np.int64 and idx.ndim == 1 else \
            [i if type(i) is int else task_index(i, self.n) for i in idx]  # (ints: checked below, all at once)
        _check_indices(out, self.n)
        if self.names:
            return [self.names[i] for i in out]
        return out

    def task_names(self) -> list[str]:
        return list(self.names) if self.names else [str(i) for i in range(self.n)]

    def to_unit_batch(self, tasks: Any) -> np.ndarray:
        idx = self.index_batch(list(tasks))
        return ((idx + 0.5) / self.n).reshape(-1, 1)

    def from_unit_batch(self, vecs: np.ndarray) -> list[Any]:
        return self.tasks_at(_cells(unit_rows(vecs, 1, self).reshape(-1), self.n,
                                    self.n - 1 if self.n <= 2**53 else None, self))

    def to_json(self, task: Any) -> Any:
        return self.validate(task)

    def to_spec(self) -> dict[str, Any]:
        return {"type": "Discrete", "names": list(self.names)} if self.names else {"type": "Discrete", "n": self.n}


class MultiDiscrete(Space):
    """A grid of integer choices: task ``(i_0, .., i_{d-1})`` with ``0 <= i_j < nvec[j]``.

    ``names`` labels the dimensions in order (a list or tuple; a ``set`` is refused, as by :class:`Box`)."""

    n: int

    def __init__(self, nvec: Sequence[int] | np.ndarray, names: Sequence[str] | None = None):
        nv = np.asarray(nvec)
        if nv.ndim != 1 or nv.size == 0 or nv.dtype.kind not in "iu" or (nv < 1).any() \
                or (nv > _MAX_CHOICES).any():  # 2**63 wrapped to a negative int64 count
            raise ConfigError(f"MultiDiscrete needs a list of positive integers up to {_MAX_CHOICES} (2**63 - 1), "
                              f"got {nvec!r}")
        self.nvec = nv.astype(np.int64)
        self._counts = self.nvec.tolist()
        self._top = self.nvec - 1 if (self.nvec <= 2**53).all() else None  # see _cells
        self.dim = int(nv.size)
        self.n = int(np.prod(self.nvec, dtype=object))
        self.names = _dimension_names("MultiDiscrete", names, self.dim)

    def __repr__(self) -> str:
        return f"MultiDiscrete({self.nvec.tolist()})"

    def validate(self, task: Any) -> tuple[int, ...]:
        if isinstance(task, Mapping) and self.names:
            missing = [n for n in self.names if n not in task]
            extra = [k for k in task if k not in self.names]
            if missing or extra:  # as Box: a misspelt or stray key is not dropped silently
                raise InvalidTaskError(f"task {_short(task)} does not match the MultiDiscrete's names {self.names}: "
                                       f"missing {missing}, unknown {extra}")
            task = [task[x] for x in self.names]
        _refuse_masked(task)
        try:
            arr = np.asarray(task)
        except Exception:  # noqa: BLE001 - anything unreadable is simply not a task
            arr = np.asarray([])
        if arr.shape != (self.dim,) or arr.dtype == object or arr.dtype.kind not in "iuf" or _has_bool(task):
            raise InvalidTaskError(f"task {_short(task)} is not {self.dim} integers for {self!r}")
        if arr.dtype.kind == "f":
            if not (np.isfinite(arr).all() and (arr == np.round(arr)).all()):
                raise InvalidTaskError(f"task {_short(task)} has a non-integer coordinate")
        bad = (arr < 0) | (arr >= self.nvec)  # before the cast to int64, which wraps 1e300 or 2**64 - 1
        if bad.any():
            j = int(np.flatnonzero(bad)[0])
            raise InvalidTaskError(f"task {_short(task)} is outside {self!r}: coordinate {j} = {arr[j].item()!r} is "
                                   f"not in 0..{self.nvec[j] - 1}")
        return tuple(int(v) for v in arr.astype(np.int64))

    def index(self, task: Any) -> int:
        # row-major as np.ravel_multi_index, in Python ints: numpy refuses grids of more than 2**63 tasks
        i = 0
        for v, n in zip(self.validate(task), self._counts):
            i = i * n + v
        return i

    def task_at(self, i: int) -> tuple[int, ...]:
        rem = task_index(i, self.n)
        out = []
        for n in reversed(self._counts):
            rem, j = divmod(rem, n)
            out.append(j)
        return tuple(reversed(out))

    def to_unit_batch(self, tasks: Any) -> np.ndarray:
        a = np.asarray([self.validate(t) for t in tasks], dtype=float).reshape(-1, self.dim)
        return (a + 0.5) / self.nvec

    def from_unit_batch(self, vecs: np.ndarray) -> list[tuple[int, ...]]:
        a = _cells(unit_rows(vecs, self.dim, self), self.nvec, self._top, self)
        return [tuple(int(x) for x in row) for row in a]

    def to_json(self, task: Any) -> Any:
        return list(self.validate(task))

    def to_spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"type": "MultiDiscrete", "nvec": self.nvec.tolist()}
        if self.names:
            spec["names"] = list(self.names)
        return spec


class Dict(Space):
    """Named sub-spaces; a task is a ``dict`` with one entry per name.

    :meth:`sample` draws a random unit vector and decodes it, entry by entry, unless an entry (at any depth) has a
    generator of its own (``native_sampling``: a :class:`~magister.levels.spaces.MazeSpace`, whose mazes follow its
    ``wall_density``, ``labyrinths`` and ``require_solvable``): then every entry is drawn with its own ``sample``, so
    ``uniform`` and the level teachers' new levels draw the mazes of a ``Dict`` as the ``MazeSpace`` alone does.

    >>> Dict({"level": Discrete(["easy", "hard"]), "speed": Box([0.5], [2.0])})
    Dict({'level': Discrete(['easy', 'hard']), 'speed': Box(low=[0.5], high=[2.0])})
    """

    def __init__(self, spaces: Mapping[str, Space]):
        if not isinstance(spaces, Mapping) or not spaces:
            raise ConfigError("Dict needs a non-empty mapping of names to spaces")
        for k, s in spaces.items():
            if not isinstance(s, Space):
                raise ConfigError(f"Dict entry {k!r} is {type(s).__name__}, not a magister space")
        self.spaces: dict[str, Space] = {str(k): s for k, s in spaces.items()}
        if len(self.spaces) != len(spaces):  # {1: a, "1": b} would keep b only
            dup = _repeated([str(k) for k in spaces])
            raise ConfigError(f"Dict entry names must be distinct as strings; repeated: {dup}")
        self.keys = list(self.spaces)
        self.dim = sum(s.dim for s in self.spaces.values())
        self._slices = {}
        start = 0
        for k, s in self.spaces.items():
            self._slices[k] = slice(start, start + s.dim)
            start += s.dim
        sizes = [s.n for s in self.spaces.values()]
        self.n = None if any(x is None for x in sizes) else int(math.prod(sizes))  # type: ignore[arg-type]
        self._sizes = sizes
        self.native_sampling = any(getattr(s, "native_sampling", False) for s in self.spaces.values())

    def __repr__(self) -> str:
        return f"Dict({self.spaces!r})"

    def validate(self, task: Any) -> dict[str, Any]:
        if not isinstance(task, Mapping):
            raise InvalidTaskError(f"task {_short(task)} is not a dict with keys {self.keys}")
        missing = [k for k in self.keys if k not in task]
        extra = [k for k in task if k not in self.spaces]
        if missing or extra:
            raise InvalidTaskError(f"task {_short(task)} needs keys {self.keys}: missing {missing}, unknown {extra}")
        out = {}
        for k, s in self.spaces.items():
            try:
                out[k] = s.validate(task[k])
            except InvalidTaskError as e:
                raise reworded(e, f"entry {k!r}: {e}")
        return out

    def to_unit_batch(self, tasks: Any) -> np.ndarray:
        tasks = list(tasks)
        cols = [s.to_unit_batch([t[k] for t in tasks]) for k, s in self.spaces.items()]
        return np.concatenate(cols, axis=1) if tasks else np.zeros((0, self.dim))

    def from_unit_batch(self, vecs: np.ndarray) -> list[dict[str, Any]]:
        v = unit_rows(vecs, self.dim, self)
        parts = {k: s.from_unit_batch(v[:, self._slices[k]]) for k, s in self.spaces.items()}
        return [{k: parts[k][i] for k in self.keys} for i in range(v.shape[0])]

    def sample(self, rng: np.random.Generator, k: int | None = None) -> Any:
        if not self.native_sampling:  # one random unit vector per task, decoded (the draws of every Dict before)
            return super().sample(rng, k)
        m = 1 if k is None else sample_count(k)
        rng = sample_generator(rng)
        parts = {key: s.sample(rng, m) for key, s in self.spaces.items()}  # each entry by its own generator
        out = [{key: parts[key][i] for key in self.keys} for i in range(m)]
        return out[0] if k is None else out

    def index(self, task: Any) -> int:
        if self.n is None:
            return super().index(task)
        t = self.validate(task)
        i = 0
        for k, s in self.spaces.items():
            i = i * int(s.n) + s.index(t[k])  # type: ignore[arg-type]
        return i

    def task_at(self, i: int) -> dict[str, Any]:
        if self.n is None:
            return super().task_at(i)
        out = {}
        rem = task_index(i, self.n)
        for k, s in reversed(list(self.spaces.items())):
            rem, j = divmod(rem, int(s.n))  # type: ignore[arg-type]
            out[k] = s.task_at(j)
        return {k: out[k] for k in self.keys}

    def to_json(self, task: Any) -> Any:
        t = self.validate(task)
        return {k: s.to_json(t[k]) for k, s in self.spaces.items()}

    def to_spec(self) -> dict[str, Any]:
        return {"type": "Dict", "spaces": {k: s.to_spec() for k, s in self.spaces.items()}}


#: the keys of each kind of space spec (every key :meth:`Space.to_spec` writes, or wrote in any earlier version)
_SPEC_KEYS = {"Box": ("low", "high", "names"), "Discrete": ("n", "names"), "MultiDiscrete": ("nvec", "names"),
              "Dict": ("spaces",), "SeedSpace": ("n",),
              "MazeSpace": ("size", "wall_density", "require_solvable", "labyrinths")}


def _refuse_unknown_keys(kind: str, spec: Mapping[str, Any]) -> None:
    """Refuse a key the spec's kind does not read: it was ignored, so a misspelt one (``{"type": "SeedSpace",
    "n_seeds": 50}``) gave another space (every seed) without a word."""
    known = _SPEC_KEYS.get(kind)
    unknown = [k for k in spec if k != "type" and known is not None and k not in known]
    if unknown:
        import difflib

        near = difflib.get_close_matches(str(unknown[0]), known or (), n=1)
        raise ConfigError(f"space spec of type {kind!r} has no key {unknown[0]!r}"
                          f"{f' (did you mean {near[0]!r}?)' if near else ''}; its keys are 'type', "
                          f"{', '.join(repr(k) for k in known or ())}")


def space_from_spec(spec: Mapping[str, Any]) -> Space:
    """Rebuild a space from :meth:`Space.to_spec` output (also accepts JSON from the service). A key its kind of
    space does not read is refused, naming it."""
    try:
        return _space_from_spec(spec)
    except RecursionError:  # (Dicts nested some hundreds deep, or a spec holding itself, raised it raw)
        depth = _dict_depth(spec)
        if depth is None:
            raise ConfigError("a space spec that holds itself (a Dict's entry is the spec or one around it) cannot "
                              "be built; give each entry a spec of its own (a copy, not the spec itself)") from None
        raise ConfigError(f"a space spec that nests Dict spaces {depth} deep, more than Python's recursion reaches "
                          "(a few hundred levels), cannot be built; flatten it: one Dict whose keys name the "
                          "leaves") from None


def _dict_depth(spec: Any) -> int | None:
    """How deep ``spec`` nests Dict space specs, counted without recursion; ``None`` when it holds itself."""
    depth, level = 0, [spec]
    seen: set[int] = set()
    while True:
        inner = {id(v): v for s in level if isinstance(s, Mapping) and isinstance(s.get("type"), str)
                 and s["type"] == "Dict" and isinstance(s.get("spaces"), Mapping) for v in s["spaces"].values()}
        if not inner:
            return depth
        depth, level = depth + 1, list(inner.values())
        seen.update(inner)
        if depth > len(seen):  # a path longer than the specs there are passes one twice
            return None


def _space_from_spec(spec: Mapping[str, Any]) -> Space:
    if isinstance(spec, Space):
        return spec
    if not isinstance(spec, Mapping) or "type" not in spec:
        raise ConfigError(f"a space spec is a dict with a 'type' key, got {_short(spec)}")
    kind = spec["type"]
    if not isinstance(kind, str):  # an array raised numpy's "truth value is ambiguous" at the first comparison
        raise ConfigError(f"a space spec's 'type' is the name of a kind of space, got {_short(kind)}")
    _refuse_unknown_keys(kind, spec)
    try:
        if kind == "Box":
            return Box(spec["low"], spec["high"], names=spec.get("names"))
        if kind == "Discrete":
            if spec.get("names") is None:
                return Discrete(spec["n"])
            space = Discrete(spec["names"])
            n = spec.get("n")  # beside the names n was never read: {"n": 3, "names": ["a", "b"]} gave 2 tasks
            if n is not None:
                count = n.item() if isinstance(n, np.ndarray) and n.ndim == 0 else n
                whole_ = is_int(count)
                if not whole_ or count != space.n:
                    # (n=2.0 was refused as if it were another count than 2: say what is wrong with it)
                    why = "" if whole_ else ", not a whole number (n is an int, as Discrete(n) takes it)"
                    raise ConfigError(f"a Discrete space spec with {space.n} names has n={_short(spec['n'])}{why}; "
                                      f"give n equal to the number of names ({space.n}) or leave n out")
            return space
        if kind == "MultiDiscrete":
            return MultiDiscrete(spec["nvec"], names=spec.get("names"))
        if kind == "Dict":
            if not isinstance(spec["spaces"], Mapping):  # a raw AttributeError ('list' object has no 'items')
                raise ConfigError(f"a Dict space spec's 'spaces' maps names to space specs, got {_short(spec['spaces'])}")
            return Dict({k: _space_from_spec(v) for k, v in spec["spaces"].items()})
        if kind in ("SeedSpace", "MazeSpace"):  # level spaces (magister.levels), loaded when asked for
            from .levels.spaces import MazeSpace, SeedSpace

            return SeedSpace(spec.get("n")) if kind == "SeedSpace" else MazeSpace.from_spec(dict(spec))
    except KeyError as e:
        raise ConfigError(f"space spec of type {kind!r} is missing {e}") from None
    raise ConfigError(f"unknown space type {kind!r}; expected Box, Discrete, MultiDiscrete, Dict, SeedSpace or "
                      "MazeSpace")
