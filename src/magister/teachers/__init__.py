"""Built-in teachers. Importing this package registers them all.

One algorithm, one module; each follows :class:`magister.teacher.Teacher`.
"""

from __future__ import annotations

import importlib

_MODULES = [
    "uniform",
]

for _m in _MODULES:
    importlib.import_module(f"{__name__}.{_m}")

from .uniform import Uniform  # noqa: E402

__all__ = ["Uniform"]
