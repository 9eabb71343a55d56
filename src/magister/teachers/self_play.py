"""Naive self-play: always play the newest snapshot of the learner.

The simplest opponent curriculum, and the one that cycles and forgets: the
learner only ever meets its latest self, so a strategy that beat an old
snapshot can be unlearnt once no current opponent punishes its absence. It is
the :class:`~magister.opponents.OpponentTeacher` with ``latest=1``; a smaller
``latest`` spreads the rest uniformly over the past (OpenAI Five played 80%
against the latest and 20% against past selves).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..opponents.teacher import OpponentTeacher
from ..teacher import register


@register("self-play")
class SelfPlay(OpponentTeacher):
    """Play the newest member of the pool (``latest`` share; the rest uniform over the past)."""

    conformance_kwargs: dict[str, Any] = {"latest": 0.8}  # with latest=1 every seed proposes the same

    def __init__(self, space, *, pool: Any = None, latest: float = 1.0, rate: float = 0.05, prior: float = 2.0,
                 seed=None, score_range=None):
        super().__init__(space, pool=pool, latest=latest, rate=rate, prior=prior, seed=seed, score_range=score_range)

    def _weights(self, ids: np.ndarray) -> np.ndarray:
        return np.ones(len(ids))
