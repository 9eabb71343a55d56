"""Prioritized fictitious self-play (PFSP, AlphaStar 2019): past opponents weighted by f(win rate).

With ``p`` the learner's estimated score against an opponent (win 1, draw
0.5, loss 0; see :meth:`~magister.opponents.OpponentTeacher.win_rates`):

* ``weighting="hard"`` (default): ``f(p) = (1 - p) ** exponent`` (AlphaStar's
  ``exponent=2``): most games go to the opponents the learner still loses to;
* ``weighting="variance"``: ``f(p) = p (1 - p)``: most games go to opponents of
  about the learner's strength, where a game says the most.

``epsilon`` mixes in uniform sampling over the pool so that no member is
starved (an opponent the learner beat once may be a threat again later).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError
from ..opponents.teacher import OpponentTeacher
from ..settings import fraction, number
from ..teacher import register

WEIGHTINGS = ("hard", "variance")


@register("pfsp")
class PrioritizedFSP(OpponentTeacher):
    """Members weighted by ``(1 - p) ** exponent`` ("hard") or ``p (1 - p)`` ("variance")."""

    def __init__(self, space, *, pool: Any = None, weighting: str = "hard", exponent: float = 2.0,
                 epsilon: float = 0.05, latest: float = 0.0, rate: float = 0.05, prior: float = 2.0,
                 seed=None, score_range=None):
        super().__init__(space, pool=pool, latest=latest, rate=rate, prior=prior, seed=seed, score_range=score_range)
        if not isinstance(weighting, str) or weighting not in WEIGHTINGS:
            raise ConfigError(f"weighting must be one of {WEIGHTINGS}, got {weighting!r}")
        self.weighting = weighting
        self.exponent = number("exponent", exponent, 0.0, low_open=True)
        self.epsilon = fraction("epsilon", epsilon)

    def _weights(self, ids: np.ndarray) -> np.ndarray:
        p = self._win_rates(ids)
        w = (1.0 - p) ** self.exponent if self.weighting == "hard" else p * (1.0 - p)
        total = w.sum()
        w = w / total if total > 0 else np.full(len(ids), 1.0 / len(ids))
        return (1.0 - self.epsilon) * w + self.epsilon / len(ids)
