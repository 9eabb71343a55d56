"""Built-in teachers. Importing this package registers them all.

One algorithm, one module: every module in this package (except those whose
name starts with ``_``) is imported, and registers its teacher with
:func:`magister.teacher.register`. Shared machinery lives outside the
teachers (``magister.history``, ``magister.gmm``, ``magister.mixture_teacher``...).
"""

from __future__ import annotations

import importlib
import pkgutil

for _info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if not _info.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_info.name}")

from ._levels import LevelTeacher  # noqa: E402 - the level teachers' give_back / drop_pending, for isinstance
from .uniform import Uniform  # noqa: E402

__all__ = ["LevelTeacher", "Uniform"]
