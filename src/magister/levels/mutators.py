"""Mutators: small random edits of a level, for ``accel``.

A mutator is any callable ``(level, rng) -> level`` (the :class:`Mutator`
protocol) that returns a new, valid level of the same space. Built in:

* :func:`maze_mutator` - ``n_edits`` random edits of a
  :class:`~magister.levels.maze.Maze`, each one of: add a wall, remove a wall,
  move the goal (ACCEL's MiniGrid edits). Edits may make a maze unsolvable
  (as in ACCEL, such a child scores no regret and drops out of the buffer);
  ``keep_solvable=True`` instead redraws an edit that cuts the goal off;
* :func:`perturb_mutator` - for any space with a unit-vector map: Gaussian
  noise of scale ``sigma`` on the level's unit vector (Box parameters), or
  a level within ``sigma`` of it for seeds and finite spaces;
* :class:`DictMutator` (``"dict"``) - a level of a :class:`~magister.spaces.Dict` edited entry by entry,
  each entry with its own mutator (by default the one :func:`default_mutator` gives that entry alone).

:func:`default_mutator` is what ``accel`` edits with when given none.

Teachers save their settings in checkpoints, so a mutator is given by name
(``"maze"``, ``"perturb"``), as ``{"name": "maze", "n_edits": 3}``, as a
module-level function (saved as ``"module:function"``), or as any object with
``to_config()``. :func:`make_mutator` resolves all of these.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any, Callable, Protocol

import numpy as np

from ..errors import ConfigError
from ..settings import is_int, number
from ..spaces import Box, Dict, Discrete, MultiDiscrete
from .maze import Maze
from .spaces import MazeSpace, SeedSpace

__all__ = ["Mutator", "MazeMutator", "PerturbMutator", "DictMutator", "maze_mutator", "perturb_mutator",
           "default_mutator", "make_mutator", "mutator_config", "MUTATORS"]


class Mutator(Protocol):
    def __call__(self, level: Any, rng: np.random.Generator) -> Any: ...


class MazeMutator:
    """``n_edits`` random edits of a maze: each picks an inner cell (not the start or goal) and one of
    three edits - add a wall there, remove the wall there, move the goal there; an edit that does not
    apply (a wall on a wall) is redrawn, up to 8 times."""

    def __init__(self, n_edits: int = 5, keep_solvable: bool = False):
        if not is_int(n_edits) or n_edits < 1:
            raise ConfigError(f"maze_mutator needs n_edits = a whole number >= 1, got {n_edits!r}")
        if not isinstance(keep_solvable, (bool, np.bool_)):  # bool("no") would be True
            raise ConfigError(f"maze_mutator needs keep_solvable = True or False, got {keep_solvable!r}")
        self.n_edits = int(n_edits)
        self.keep_solvable = bool(keep_solvable)

    def __call__(self, level: Maze, rng: np.random.Generator) -> Maze:
        if not isinstance(level, Maze):
            raise ConfigError(f"the maze mutator edits Maze levels, got {type(level).__name__}; give accel a "
                              "mutator for your levels (mutator=...)")
        h, w = level.shape
        flat = np.array(level.walls).ravel()  # edited in place; the border is never touched
        inner = np.zeros((h, w), dtype=bool)
        inner[1:-1, 1:-1] = True
        inner_idx = np.flatnonzero(inner.ravel())
        s = level.start[0] * w + level.start[1]
        g = level.goal[0] * w + level.goal[1]
        for _ in range(self.n_edits):
            for _attempt in range(8):  # an impossible edit, or one that cuts the goal off, is redrawn
                op = int(rng.integers(3))
                cell = int(inner_idx[int(rng.integers(len(inner_idx)))])
                if cell == s or cell == g:
                    continue
                if op == 0 and not flat[cell]:  # add a wall
                    flat[cell] = True
                    if self.keep_solvable and not Maze(flat.reshape(h, w), divmod(s, w), divmod(g, w)).solvable:
                        flat[cell] = False
                        continue
                elif op == 1 and flat[cell]:  # remove a wall
                    flat[cell] = False
                elif op == 2 and not flat[cell]:  # move the goal
                    if self.keep_solvable and not Maze(flat.reshape(h, w), divmod(s, w), divmod(cell, w)).solvable:
                        continue
                    g = cell
                else:
                    continue
                break
        walls, start, goal = flat.reshape(h, w), divmod(s, w), divmod(g, w)
        return Maze(walls, start, goal)

    def to_config(self) -> dict[str, Any]:
        return {"name": "maze", "n_edits": self.n_edits, "keep_solvable": self.keep_solvable}

    def __repr__(self) -> str:
        return f"maze_mutator(n_edits={self.n_edits}, keep_solvable={self.keep_solvable})"


class PerturbMutator:
    """A nearby level of any space: Gaussian noise of scale ``sigma`` on the unit vector, decoded back.

    Needs the space (it is bound by :func:`make_mutator` when a teacher builds it)."""

    def __init__(self, sigma: float = 0.05, space: Any = None):
        self.sigma = number("perturb_mutator: sigma", sigma, 0.0, 1.0, low_open=True)
        self.space = space

    def __call__(self, level: Any, rng: np.random.Generator) -> Any:
        if self.space is None:
            raise ConfigError("perturb_mutator needs the space of the levels: make_mutator('perturb', space)")
        u = self.space.to_unit_batch([level])
        return self.space.from_unit_batch(u + rng.normal(0.0, self.sigma, size=u.shape))[0]

    def to_config(self) -> dict[str, Any]:
        return {"name": "perturb", "sigma": self.sigma}

    def __repr__(self) -> str:
        return f"perturb_mutator(sigma={self.sigma})"


class DictMutator:
    """A level of a :class:`~magister.spaces.Dict` edited entry by entry: ``entries`` maps each entry's name to
    its mutator (resolved, as :func:`make_mutator` gives them), called in the ``Dict``'s order with the one
    generator. Built by ``make_mutator({"name": "dict", "entries": {...}}, space)``, where an entry left out gets
    :func:`default_mutator` of that entry."""

    def __init__(self, entries: Mapping[str, Callable[[Any, np.random.Generator], Any]]):
        self.entries = dict(entries)

    def __call__(self, level: Any, rng: np.random.Generator) -> dict[str, Any]:
        if not isinstance(level, Mapping):
            raise ConfigError(f"the dict mutator edits the entries of Dict levels, got {type(level).__name__}")
        return {k: m(level[k], rng) for k, m in self.entries.items()}

    def to_config(self) -> dict[str, Any] | None:
        """``{"name": "dict", "entries": {...}}``; ``None`` (cannot be saved) when an entry's mutator cannot."""
        entries = {k: mutator_config(m) for k, m in self.entries.items()}
        return None if any(c is None for c in entries.values()) else {"name": "dict", "entries": entries}

    def __repr__(self) -> str:
        return f"dict_mutator({self.entries!r})"


def maze_mutator(n_edits: int = 5, keep_solvable: bool = False) -> MazeMutator:
    """The built-in maze mutator (see :class:`MazeMutator`); ACCEL uses a handful of edits per child."""
    return MazeMutator(n_edits, keep_solvable)


def perturb_mutator(sigma: float = 0.05, space: Any = None) -> PerturbMutator:
    return PerturbMutator(sigma, space)


def _check_maze_levels(space: Any) -> None:
    """Refuse the maze mutator (by name or as :func:`maze_mutator`'s object) on a space whose levels are never
    mazes (it was taken, and accel failed at its first edit, after any number of episodes)."""
    if isinstance(space, (SeedSpace, Box, Discrete, MultiDiscrete, Dict)):
        raise ConfigError(f"the maze mutator edits the mazes of a MazeSpace, not the levels of {space!r}; "
                          + ("edit its maze entries with {'name': 'dict'} (accel's default there)"
                             if isinstance(space, Dict) else "use 'perturb' (accel's default there) or your own "
                             "function (level, rng) -> level"))


def _maze_for(space: Any, **kw: Any) -> MazeMutator:
    """The maze mutator for ``space``: on a space that holds solvable mazes only (``require_solvable``) it keeps
    its children solvable (an edit that cut the goal off made a child the space refuses, and accel failed on it)."""
    _check_maze_levels(space)
    if getattr(space, "require_solvable", False):
        _check_keeps_solvable(space, kw.setdefault("keep_solvable", True))
    return MazeMutator(**kw)


def _check_keeps_solvable(space: Any, keep: Any) -> None:
    """Refuse a maze mutator that may cut the goal off on a space that holds solvable mazes only."""
    if getattr(space, "require_solvable", False) and isinstance(keep, (bool, np.bool_)) and not keep:
        raise ConfigError(f"maze_mutator(keep_solvable=False) makes mazes whose goal cannot be reached, and "
                          f"{space!r} holds solvable mazes only; use keep_solvable=True (the default there)")


def default_mutator(space: Any) -> Any:
    """The mutator ``accel`` edits levels of ``space`` with when given none (a spec for :func:`make_mutator`): the
    maze mutator on a :class:`~magister.levels.spaces.MazeSpace`; on a ``Dict`` holding one (at any depth) each
    entry edited with the mutator it would get alone (``"dict"``); ``perturb`` on every other space."""
    if isinstance(space, MazeSpace):
        return "maze"
    if isinstance(space, Dict) and any(default_mutator(s) != "perturb" for s in space.spaces.values()):
        return {"name": "dict"}
    return "perturb"


def _dict_for(space: Any, entries: Any = None) -> DictMutator:
    """The dict mutator for ``space``: the mutator given for each entry, :func:`default_mutator` for the others."""
    if not isinstance(space, Dict):
        raise ConfigError(f"the 'dict' mutator edits the entries of a Dict space, not {space!r}; give a mutator "
                          "for its levels")
    if entries is None:
        entries = {}
    if not isinstance(entries, Mapping):
        raise ConfigError(f"the 'dict' mutator's entries must map entry names to mutators, got {entries!r}")
    unknown = [k for k in entries if k not in space.spaces]
    if unknown:
        raise ConfigError(f"the 'dict' mutator names entries {unknown} that {space!r} lacks; its entries are "
                          f"{space.keys}")
    out = {}
    for k, s in space.spaces.items():
        try:
            out[k] = make_mutator(entries[k] if k in entries else default_mutator(s), s)
        except ConfigError as e:
            raise ConfigError(f"the 'dict' mutator's entry {k!r}: {e}") from None
    return DictMutator(out)


#: built-in mutators by name: factory(space, **settings)
MUTATORS: dict[str, Callable[..., Any]] = {
    "maze": _maze_for,
    "perturb": lambda space, **kw: PerturbMutator(space=space, **kw),
    "dict": _dict_for,
}


def make_mutator(spec: Any, space: Any = None) -> Callable[[Any, np.random.Generator], Any]:
    """Resolve a mutator given by name, config dict, ``"module:function"`` reference or callable."""
    if isinstance(spec, str) and ":" in spec:
        spec = {"function": spec}
    if isinstance(spec, str):
        spec = {"name": spec}
    if isinstance(spec, dict):
        spec = dict(spec)
        if "function" in spec:
            ref = spec.pop("function")
            module, _, qual = str(ref).partition(":")
            try:
                obj: Any = importlib.import_module(module)
                for part in qual.split("."):
                    obj = getattr(obj, part)
            except AttributeError as e:
                if module == "__main__":  # a function of the script that saved the checkpoint, loaded from another
                    raise ConfigError(
                        f"mutator function {ref!r} was defined in the script that saved the checkpoint, and the "
                        f"running script has no {qual!r} ({e}); define or import {qual} at the top level of the "
                        "script that loads it, before magister.load (or move it into a module, so that checkpoints "
                        "name it 'module:function')") from None
                raise ConfigError(f"mutator function {ref!r} cannot be imported ({e}); give it as "
                                  "'module:function'") from None
            except (ImportError, ValueError) as e:  # (ValueError: no module name, ":f")
                raise ConfigError(f"mutator function {ref!r} cannot be imported ({e}); give it as "
                                  "'module:function'") from None
            if not callable(obj):  # (taken, it failed at accel's first edit, and save() blamed the reference)
                raise ConfigError(f"mutator {ref!r} is a {type(obj).__name__}, not a function (level, rng) -> level; "
                                  "name a module-level function as 'module:function'")
            return obj
        name = spec.pop("name", None)
        if name not in MUTATORS:
            raise ConfigError(f"unknown mutator {name!r}; built in: {', '.join(sorted(MUTATORS))}, or pass a "
                              "function (level, rng) -> level")
        try:
            return MUTATORS[name](space, **spec)
        except TypeError as e:
            import difflib
            import inspect

            cls = {"maze": MazeMutator, "perturb": PerturbMutator, "dict": DictMutator}.get(name)
            if cls is None:  # one added to MUTATORS: its factory's signature may not show its settings
                raise ConfigError(f"mutator {name!r} does not take these settings: {e}") from None
            takes = [p for p in inspect.signature(cls).parameters if p != "space"]
            unknown = [k for k in spec if k not in takes]
            near = [m for u in unknown for m in difflib.get_close_matches(u, takes, n=1)]
            raise ConfigError(f"mutator {name!r} does not take these settings: {e}"
                              + (f" (did you mean {', '.join(map(repr, near))}?)" if near else "")
                              + f"; its settings are {', '.join(takes)}") from None
    if callable(spec):
        if isinstance(spec, PerturbMutator) and spec.space is None:
            return PerturbMutator(spec.sigma, space)
        if isinstance(spec, MazeMutator):  # maze_mutator() as an object: the checks of its named form, at build
            # (it was taken, and its checkpoint, {"name": "maze", "keep_solvable": False}, could not be loaded; on
            # a space without maze levels, it failed at accel's first edit)
            _check_maze_levels(space)
            _check_keeps_solvable(space, spec.keep_solvable)
        return spec
    raise ConfigError(f"a mutator is a name ({', '.join(sorted(MUTATORS))}), a settings dict, a "
                      f"'module:function' reference or a function (level, rng) -> level; got {spec!r}")


def mutator_config(mutator: Any) -> Any:
    """The checkpoint form of a resolved mutator: its ``to_config()``, or ``"module:function"`` for a
    module-level function; ``None`` when it cannot be saved (a lambda, a closure)."""
    if hasattr(mutator, "to_config") and callable(mutator.to_config):
        return mutator.to_config()
    module, qual = getattr(mutator, "__module__", None), getattr(mutator, "__qualname__", None)
    if module and qual and "<" not in qual:
        try:
            obj: Any = importlib.import_module(module)
            for part in qual.split("."):
                obj = getattr(obj, part)
        except (ImportError, AttributeError):
            return None
        if obj is mutator:
            return f"{module}:{qual}"
    return None
