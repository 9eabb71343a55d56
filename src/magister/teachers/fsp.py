"""Fictitious self-play (FSP): play a snapshot drawn uniformly from the past.

Heinrich et al. (2015) and the "uniform over past selves" opponent sampling
of Bansal et al. (2018): every member of the pool is equally likely, so the
learner keeps meeting the strategies it has beaten before and has less room
to forget them. With a bounded pool the past is what the pool's eviction
keeps: ``eviction="reservoir"`` keeps a uniform sample of the whole run
(FSP proper), ``"oldest"`` a window of the most recent snapshots, ``"random"``
mostly the last few ``max_size`` snapshots (a member other than the newest
survives each addition with chance ``1 - 1/(max_size - 1)``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..opponents.teacher import OpponentTeacher
from ..teacher import register


@register("fsp")
class FictitiousSelfPlay(OpponentTeacher):
    """Uniform over the members of the pool (plus a ``latest`` share on the newest)."""

    def __init__(self, space, *, pool: Any = None, latest: float = 0.0, rate: float = 0.05, prior: float = 2.0,
                 seed=None, score_range=None):
        super().__init__(space, pool=pool, latest=latest, rate=rate, prior=prior, seed=seed, score_range=score_range)

    def _weights(self, ids: np.ndarray) -> np.ndarray:
        return np.ones(len(ids))
