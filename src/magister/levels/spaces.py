"""Task spaces whose tasks are levels.

* :class:`SeedSpace` - seeds of a level generator (Procgen, MiniGrid's own
  environments): a finite training set ``0 .. n-1``, or ``n=None`` for an
  open-ended generator (seeds ``0 .. 2**31 - 1``, so there is always an
  unseen level; 32-bit signed, as Procgen and most simulators accept);
* :class:`MazeSpace` - explicit :class:`~magister.levels.maze.Maze` levels of
  one size. A maze's JSON form is its text, so checkpoints and the service
  carry mazes as readable maps. Sampling is domain randomisation (inner cells
  are walls with probability ``wall_density``).

Both are ordinary :class:`~magister.spaces.Space` s: they validate, serialise
(``to_json``, ``to_spec``; :func:`magister.spaces.space_from_spec` rebuilds
them), sample with an explicit generator and map levels to unit vectors (the
maze's :meth:`~magister.levels.maze.Maze.features`), so any teacher may use
them; the level teachers (``plr``, ``robust-plr``, ``accel``,
``learnability``) key their buffers with :meth:`level_key`.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .. import settings
from ..errors import ConfigError, InvalidTaskError, reworded
from ..spaces import (Dict, Space, _cells, _check_indices, _refuse_masked, _short, sample_count, sample_generator,
                      task_index, unit_rows)
from ..settings import is_int
from .maze import LABYRINTH_MIN_SIZE, Maze, MazeFormatError, UnsolvableMazeError, mixed_maze, random_maze

__all__ = ["SeedSpace", "MazeSpace", "SEED_LIMIT", "level_key", "simple_sampler"]

#: seeds of an open-ended SeedSpace are 0 .. SEED_LIMIT - 1
SEED_LIMIT = 2**31


def level_key(space: Space, task: Any) -> Any:
    """A hashable key of a valid task, equal for equal levels (what level buffers index by)."""
    own = getattr(space, "level_key", None)
    if own is not None:
        return own(task)
    if space.n is not None:
        return space.index(task)
    j = space.to_json(task)
    return j if isinstance(j, str) else json.dumps(j, sort_keys=True, separators=(",", ":"))


def simple_sampler(space: Space) -> Callable[[np.random.Generator], Any] | None:
    """Where ``accel`` starts its curriculum (``initial="simple"``): the space's ``sample_simple`` (a
    :class:`MazeSpace`'s empty rooms); on a :class:`~magister.spaces.Dict` with an entry (at any depth) that has
    one, levels whose entries are each entry's simple level where it has one and its ordinary draw (``sample``)
    elsewhere; ``None`` on every other space (``accel`` then draws its new levels from the space's sampler)."""
    own = getattr(space, "sample_simple", None)
    if own is not None:
        return own
    if isinstance(space, Dict):
        parts = {k: simple_sampler(s) for k, s in space.spaces.items()}
        if any(p is not None for p in parts.values()):
            return functools.partial(_dict_simple, space, parts)  # (a partial pickles, with the teacher)
    return None


def _dict_simple(space: Dict, parts: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    return {k: s.sample(rng) if parts[k] is None else parts[k](rng) for k, s in space.spaces.items()}


class SeedSpace(Space):
    """Seeds of a level generator: ``SeedSpace(200)`` is a training set of 200 levels, ``SeedSpace()`` an
    open-ended generator. A task is a plain ``int`` seed.

    >>> SeedSpace(200).validate(17)
    17
    """

    def __init__(self, n: int | None = None):
        if n is not None:
            if not is_int(n) \
                    or not 1 <= n <= SEED_LIMIT:
                raise ConfigError(f"SeedSpace needs n = a whole number of seeds in 1..{SEED_LIMIT} (or None for an "
                                  f"open-ended generator), got {n!r}")
            n = int(n)
        self.n = n
        self.limit = SEED_LIMIT if n is None else n
        self.dim = 1

    def __repr__(self) -> str:
        return "SeedSpace()" if self.n is None else f"SeedSpace({self.n})"

    def validate(self, task: Any) -> int:
        if type(task) is int and 0 <= task < self.limit:  # the common case, fast
            return task
        if isinstance(task, np.ndarray) and task.ndim == 0:  # before the check: np.array(True) is a bool too
            _refuse_masked(task)
            task = task.item()
        if isinstance(task, (bool, np.bool_)):
            raise InvalidTaskError(f"level seed {task!r} is a bool, not a seed")
        if isinstance(task, (float, np.floating)) and float(task).is_integer():
            task = int(task)
        if not isinstance(task, (int, np.integer)) or isinstance(task, np.timedelta64):  # (a duration is no seed)
            raise InvalidTaskError(f"level {_short(task)} is not a seed of {self!r} (expected a whole number)")
        s = int(task)
        if not 0 <= s < self.limit:
            raise InvalidTaskError(f"level seed {_short(s)} is outside {self!r}; seeds are 0..{self.limit - 1}")
        return s

    def level_key(self, task: int) -> int:
        return task

    def index(self, task: Any) -> int:
        if self.n is None:
            return super().index(task)
        return self.validate(task)

    def task_at(self, i: int) -> int:
        if self.n is None:
            return super().task_at(i)
        return task_index(i, self.n)

    def tasks_at(self, idx: Any) -> list[int]:
        if self.n is None:
            return super().tasks_at(idx)
        out = idx.tolist() if type(idx) is np.ndarray and idx.dtype == np.int64 and idx.ndim == 1 else \
            [i if type(i) is int else task_index(i, self.n) for i in idx]
        _check_indices(out, self.n)
        return out

    def task_names(self) -> list[str]:
        if self.n is None:
            return super().task_names()
        return [str(i) for i in range(self.n)]

    def to_unit_batch(self, tasks: Any) -> np.ndarray:
        s = np.fromiter((self.validate(t) for t in tasks), dtype=np.float64)
        return ((s + 0.5) / self.limit).reshape(-1, 1)

    def from_unit_batch(self, vecs: np.ndarray) -> list[int]:
        return _cells(unit_rows(vecs, 1, self).reshape(-1), self.limit, self.limit - 1, self).tolist()

    def sample(self, rng: np.random.Generator, k: int | None = None) -> Any:
        rng = sample_generator(rng)
        if k is None:
            return int(rng.integers(self.limit))
        return rng.integers(0, self.limit, size=sample_count(k)).tolist()

    def to_json(self, task: Any) -> int:
        return self.validate(task)

    def to_spec(self) -> dict[str, Any]:
        return {"type": "SeedSpace", "n": self.n}


class MazeSpace(Space):
    """Mazes of one size (``size`` x ``size``, border included). A task is a :class:`Maze`; its maze text
    is accepted too (and is its JSON form).

    ``wall_density`` (a number, or a ``[low, high]`` range drawn per maze) and ``require_solvable`` shape
    :meth:`~magister.spaces.Space.sample`, the domain-randomisation generator; with ``require_solvable=True`` a maze whose goal
    cannot be reached is also refused as a task. ``labyrinths`` (a fraction, default 0) of the samples are
    corridor labyrinths instead (:func:`~magister.levels.maze.labyrinth_maze`, with a fraction of their
    walls in ``[0, 0.25)`` opened), as the ``"mixed"`` seed generator of ``MazeEnv`` draws them.
    """

    #: ``uniform`` proposes with :meth:`sample` (domain randomisation), not by decoding random unit vectors
    native_sampling = True

    def __init__(self, size: int, wall_density: float | Sequence[float] = 0.3, require_solvable: bool = False,
                 labyrinths: float = 0.0):
        if not is_int(size) or not 4 <= size <= 255:
            raise ConfigError(f"MazeSpace needs size = a whole number in 4..255 (border included), got {size!r}")
        if isinstance(wall_density, (int, float, np.integer, np.floating)) \
                and not isinstance(wall_density, (bool, np.timedelta64)):
            lo = hi = float(min(max(wall_density, -1), 2))  # (the check below refuses it: float(10**400) overflowed)
            self.wall_density: float | list[float] = lo
        else:
            try:
                if isinstance(wall_density, (str, bytes)):  # "01" was read as the pair [0.0, 1.0]
                    raise TypeError
                lo, hi = (float(v) for v in wall_density)  # type: ignore[union-attr]
            except OverflowError:  # an integer beyond any float: refused below (Python's OverflowError was raised)
                lo = hi = float("inf")
            except (TypeError, ValueError):
                raise ConfigError(f"wall_density must be a number or a [low, high] pair, got "
                                  f"{_short(wall_density)}") from None
            self.wall_density = [lo, hi]
        if not 0.0 <= lo <= hi <= 1.0:
            raise ConfigError(f"wall_density must lie in [0, 1] (low <= high), got {_short(wall_density)}")
        try:  # any real number, numpy's included, as wall_density (bools, text and NaN refused)
            labyrinths = settings.fraction("labyrinths", labyrinths)
        except ConfigError:
            raise ConfigError(f"labyrinths must be a fraction in [0, 1] of the samples, got {labyrinths!r}") from None
        if not isinstance(require_solvable, (bool, np.bool_)):  # bool("no") would be True
            raise ConfigError(f"require_solvable must be True or False, got {require_solvable!r}")
        if labyrinths and size < LABYRINTH_MIN_SIZE:
            raise ConfigError(f"labyrinths need mazes of size >= {LABYRINTH_MIN_SIZE}, got size {size!r}; use "
                              "labyrinths=0 for smaller mazes")
        self.labyrinths = float(labyrinths)
        self.size = int(size)
        self.require_solvable = bool(require_solvable)
        self._density = (lo, hi)
        self.dim = 4 + self.size * self.size
        self.n = None

    def __repr__(self) -> str:
        extra = "" if self.wall_density == 0.3 else f", wall_density={self.wall_density!r}"
        extra += f", labyrinths={self.labyrinths!r}" if self.labyrinths else ""
        return f"MazeSpace({self.size}{extra}{', require_solvable=True' if self.require_solvable else ''})"

    def validate(self, task: Any) -> Maze:
        if isinstance(task, str):
            try:
                task = Maze.parse(task)
            except MazeFormatError as e:
                raise reworded(e, f"{e} (maze text for {self!r})")
        if not isinstance(task, Maze):
            raise InvalidTaskError(f"level {_short(task)} is not a maze; pass a Maze or its text for {self!r}")
        if task.shape != (self.size, self.size):
            raise MazeFormatError(f"maze is {task.shape[0]} x {task.shape[1]}, but {self!r} holds "
                                  f"{self.size} x {self.size} mazes (border included)")
        if self.require_solvable and not task.solvable:
            r, c = task.goal
            raise UnsolvableMazeError(f"goal at line {r + 1} col {c + 1} cannot be reached from the start; "
                                      f"{self!r} holds solvable mazes only")
        return task

    def level_key(self, task: Maze) -> str:
        return task.to_text()

    def to_unit_batch(self, tasks: Any) -> np.ndarray:
        tasks = [self.validate(t) for t in tasks]
        if not tasks:
            return np.zeros((0, self.dim))
        return np.stack([t.features() for t in tasks])

    def from_unit_batch(self, vecs: np.ndarray) -> list[Maze]:
        """Decode feature vectors: walls where the coordinate is above 0.5, start and goal rounded to the
        nearest inner cells (their walls cleared; a goal on the start moves to the nearest other cell; with
        ``require_solvable`` a maze whose goal cannot be reached gets a straight L-shaped corridor from start to
        goal carved, and a solvable one is kept as it is, so a level's own features decode to it). A NaN
        coordinate names no maze and is refused."""
        raw = unit_rows(vecs, self.dim, self)
        nan = np.isnan(raw).any(axis=1)
        if nan.any():  # (a NaN start crashed in int(), a NaN wall read as floor)
            raise InvalidTaskError(f"unit vector {int(np.argmax(nan))} holds a NaN: it names no task of {self!r} "
                                   "(give coordinates in [0, 1])")
        v = np.clip(raw, 0.0, 1.0)
        n = self.size
        out = []
        for row in v:
            cells = [int(np.clip(np.rint(x * (n - 1)), 1, n - 2)) for x in row[:4]]
            s, g = (cells[0], cells[1]), (cells[2], cells[3])
            if s == g:
                g = (g[0], g[1] + 1) if g[1] + 1 <= n - 2 else (g[0], g[1] - 1)
            walls = row[4:].reshape(n, n) > 0.5
            walls[0, :] = walls[-1, :] = walls[:, 0] = walls[:, -1] = True
            walls[s] = walls[g] = False
            maze = Maze(walls, s, g)
            if self.require_solvable and not maze.solvable:  # (carved always, it changed solvable mazes too)
                r0, r1 = sorted((s[0], g[0]))
                c0, c1 = sorted((s[1], g[1]))
                walls[r0:r1 + 1, s[1]] = False
                walls[g[0], c0:c1 + 1] = False
                maze = Maze(walls, s, g)
            out.append(maze)
        return out

    def sample(self, rng: np.random.Generator, k: int | None = None) -> Any:
        rng = sample_generator(rng)
        out = [mixed_maze(rng, self.size, self._density, self.labyrinths, require_solvable=self.require_solvable)
               for _ in range(1 if k is None else sample_count(k))]
        return out[0] if k is None else out

    def sample_simple(self, rng: np.random.Generator) -> Maze:
        """An empty room with a random start and goal: where ``accel`` starts its curriculum."""
        return random_maze(rng, self.size, 0.0)

    def to_json(self, task: Any) -> str:
        return self.validate(task).to_text()

    def to_spec(self) -> dict[str, Any]:
        return {"type": "MazeSpace", "size": self.size, "wall_density": self.wall_density,
                "require_solvable": self.require_solvable, "labyrinths": self.labyrinths}

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> MazeSpace:
        return cls(spec["size"], wall_density=spec.get("wall_density", 0.3),
                   require_solvable=spec.get("require_solvable", False), labyrinths=spec.get("labyrinths", 0.0))
