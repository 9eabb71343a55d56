"""Random generators: one explicit ``numpy.random.Generator`` per object.

magister never touches numpy's global random state. Anything that draws random
numbers takes ``seed`` (an int, ``None``, a ``SeedSequence`` or a ready
``Generator``) and keeps its own generator, whose exact state is saved with the
object so a reloaded object continues the same stream.
"""

from __future__ import annotations

import copy
from typing import Any, Union

import numpy as np

from .errors import CheckpointError, ConfigError, SettingTypeError

SeedLike = Union[None, int, np.random.SeedSequence, np.random.Generator]


def as_generator(seed: SeedLike = None) -> np.random.Generator:
    """Return a ``Generator`` for ``seed``; a ``Generator`` is used as is."""
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, (bool, np.bool_, np.timedelta64)):  # (numpy's durations are integers: int() raised)
        raise SettingTypeError("seed must be an int, None, a SeedSequence or a numpy Generator, not "
                               f"{'a bool' if isinstance(seed, (bool, np.bool_)) else type(seed).__name__}")
    if isinstance(seed, (int, np.integer)) and seed < 0:  # numpy said only "expected non-negative integer"
        raise ConfigError(f"seed must be a non-negative whole number, got seed={seed}; pass 0 or more, or None for "
                          "a fresh random seed")
    if seed is None or isinstance(seed, (int, np.integer, np.random.SeedSequence)):
        return np.random.default_rng(seed)
    raise SettingTypeError(  # (a MagisterError: `except MagisterError` missed it)
        f"seed must be an int, None, a SeedSequence or a numpy Generator, not {type(seed).__name__}"
    )


def generator_state(rng: np.random.Generator) -> dict[str, Any]:
    """A JSON-friendly copy of the generator's exact state."""
    bg = rng.bit_generator
    return {"bit_generator": type(bg).__name__, "state": copy.deepcopy(bg.state)}


def restore_generator(state: dict[str, Any]) -> np.random.Generator:
    """Rebuild a generator from :func:`generator_state` output; anything else is a
    :class:`~magister.errors.CheckpointError` (a ``ValueError`` too) naming what it got (a list or a string raised
    Python's own ``IndexError`` or ``TypeError``, which a sampler's or a curriculum's load let through)."""
    if not isinstance(state, dict) or "state" not in state or not isinstance(state.get("bit_generator"), str):
        raise CheckpointError(f"a saved generator state is a dict of 'bit_generator' (a name) and 'state', got "
                              f"{type(state).__name__} {str(state)[:60]}; load what state_dict() saved")
    name = state["bit_generator"]
    cls = getattr(np.random, name, None)
    if cls is None or not isinstance(cls, type) or not issubclass(cls, np.random.BitGenerator):
        raise CheckpointError(f"unknown bit generator {name!r}")
    bg = cls()
    try:
        bg.state = copy.deepcopy(state["state"])
    except (TypeError, ValueError, KeyError, IndexError) as e:
        raise CheckpointError(f"the saved {name} generator state is malformed ({type(e).__name__}: {e})") from None
    return np.random.Generator(bg)
