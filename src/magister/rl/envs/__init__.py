"""Parametric Gymnasium environments where a curriculum matters.

* ``magister/CliffWalk-v0`` (:class:`CliffWalk`): task ``(distance, wind)``;
* ``magister/PointGap-v0`` (:class:`PointGap`): task ``(position, width)``.

Both take their task from ``reset(options={"task": ...})`` or ``set_task``,
give a sparse success (``info["is_success"]`` at the end of the episode), have
a region that cannot be learned, and a fixed test set of 100 tasks
(``Env.test_set()``). Their dynamics are vectorised numpy, so
:func:`evaluate` runs a whole test set in one batch.
"""

from __future__ import annotations

import gymnasium as gym

from .base import ParametricEnv, evaluate, mastered
from .cliff import CliffWalk
from .gap import PointGap

__all__ = ["ParametricEnv", "CliffWalk", "PointGap", "evaluate", "mastered", "ENVS", "register_envs"]

#: gymnasium id -> class
ENVS: dict[str, type[ParametricEnv]] = {"magister/CliffWalk-v0": CliffWalk, "magister/PointGap-v0": PointGap}


def register_envs() -> None:
    """Register the environments with Gymnasium (idempotent)."""
    for env_id, cls in ENVS.items():
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=f"{cls.__module__}:{cls.__name__}")


register_envs()
