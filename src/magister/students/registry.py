"""Named student presets for benchmarks: ``make_student("grid-hard", seed=0)``.

A preset is a recipe for a simulated learner plus what a report needs to know
about it (a description and, for the reference grid, the published figures a
teacher's result should sit beside). Presets whose student class is not
available in this installation (for example ``skills`` before
``magister.students.skills`` exists) are listed by :func:`all_presets` but not
by :func:`available_students`, and :func:`make_student` explains why.

Add a preset with :func:`register_student`; the benchmark runner picks it up
by name without further changes.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError

__all__ = [
    "StudentPreset",
    "register_student",
    "available_students",
    "all_presets",
    "get_preset",
    "make_student",
    "REFERENCE_GRID_FIGURES",
]

#: Published figures on the default grid (percent of cells mastered after 20,000
#: episodes, three seeds each; see the project reference notes on the grid student),
#: keyed by magister teacher name.
REFERENCE_GRID_FIGURES: dict[str, dict[str, Any]] = {
    "uniform": {"label": "Random", "values": [4, 4, 4], "episodes": 20000},
    "riac": {"label": "RIAC", "values": [44, 49, 46], "episodes": 20000},
    "alp-gmm": {"label": "ALP-GMM", "values": [38, 34, 34], "episodes": 20000},
    "covar-gmm": {"label": "Covar-GMM", "values": [61, 71, 75], "episodes": 20000},
}


@dataclass(frozen=True)
class StudentPreset:
    """A named simulated learner.

    ``module`` / ``cls`` name the student class (imported lazily, so a preset
    for a student that is not installed costs nothing); ``kwargs`` are its
    constructor settings; the student's seed is passed as ``seed=``.
    """

    name: str
    module: str
    cls: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    #: published figures per teacher name (percent mastered), or empty
    reference: dict[str, dict[str, Any]] = field(default_factory=dict)

    def student_class(self) -> type:
        """Import and return the student class; raises ``ImportError`` if unavailable."""
        mod = importlib.import_module(self.module)
        try:
            return getattr(mod, self.cls)
        except AttributeError:
            raise ImportError(f"{self.module} has no {self.cls}") from None

    def is_available(self) -> bool:
        try:
            self.student_class()
        except ImportError:
            return False
        return True

    def make(self, seed: Any = None, **overrides: Any) -> Any:
        """Build a fresh student with ``seed`` (any seed a ``Generator`` accepts)."""
        cls = self.student_class()
        kwargs = {**self.kwargs, **overrides}
        return cls(**kwargs, seed=seed)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "class": f"{self.module}.{self.cls}", "kwargs": dict(self.kwargs),
                "description": self.description}


_PRESETS: dict[str, StudentPreset] = {}


def register_student(preset: StudentPreset, *, replace: bool = False) -> StudentPreset:
    """Make ``preset`` available by its name (``replace=True`` to redefine one)."""
    if preset.name in _PRESETS and not replace:
        raise ConfigError(f"a student preset named {preset.name!r} already exists; pass replace=True to redefine it")
    _PRESETS[preset.name] = preset
    return preset


def all_presets() -> list[str]:
    """Every preset name, including those whose student is not installed."""
    return sorted(_PRESETS)


def available_students() -> list[str]:
    """Names of the presets whose student class can be imported here."""
    return [n for n in sorted(_PRESETS) if _PRESETS[n].is_available()]


def get_preset(name: str) -> StudentPreset:
    """The preset called ``name``; a clear error lists the available ones."""
    try:
        preset = _PRESETS[name]
    except KeyError:
        from ..teacher import near_teacher_name

        raise ConfigError(
            f"unknown student {name!r}{near_teacher_name(name, available_students())}; "
            f"available: {', '.join(available_students())}"
        ) from None
    if not preset.is_available():
        raise ConfigError(
            f"student {name!r} needs {preset.module}.{preset.cls}, which is not available in this installation; "
            f"available: {', '.join(available_students())}"
        )
    return preset


def make_student(name: str, seed: Any = None, **overrides: Any) -> Any:
    """Build the student preset ``name`` with ``seed``: ``make_student("grid", seed=0)``."""
    return get_preset(name).make(seed, **overrides)


_GRID = "magister.students.grid"

register_student(StudentPreset(
    "grid", _GRID, "GridStudent", {},
    "reference grid of the ALP-GMM paper: 2-D, 10 cells per dimension, no noise",
    reference=REFERENCE_GRID_FIGURES,
))
register_student(StudentPreset(
    "grid-hard", _GRID, "GridStudent",
    {"dims": 2, "distractors": 2, "noise": 0.05, "unlearnable": 0.1},
    "harder grid: 2 relevant + 2 distractor dimensions, score noise 0.05, 10% unlearnable cells",
))
register_student(StudentPreset(
    "grid-forget", _GRID, "GridStudent", {"forgetting": 0.002},
    "reference grid whose unpractised cells lose 0.002 of counter per episode",
))
register_student(StudentPreset(
    "grid-3d", _GRID, "GridStudent", {"dims": 3, "cells": 5},
    "3-D grid, 5 cells per dimension (125 cells)",
))
register_student(StudentPreset(
    "skills", "magister.students.skills", "SkillStudent", {},
    "discrete skill learner with prerequisites (magister.students.skills)",
))
