"""A learning-progress bandit over opponents: play the opponents the learner's score against is moving.

The bandit of ``lp-bandit`` (Kanitscheider et al. 2021, TSCL) with the
opponents of a pool as arms: per opponent a fast and a slow moving average of
the learner's score against it; learning progress ``|fast - slow|`` minus
``denoise`` standard deviations of what noise alone would give; weights
proportional to it, mixed with ``epsilon`` uniform exploration. A new member
is played ``min_tries`` times first. Progress in both directions counts, so
an opponent the learner starts losing to again (forgetting) is drawn back in.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..averages import TaskAverages
from ..errors import ConfigError
from ..opponents.teacher import OpponentTeacher
from ..settings import fraction, number, rate as check_rate, whole
from ..teacher import register


@register("opponent-lp")
class OpponentLP(OpponentTeacher):
    """Learning-progress bandit over the members of the pool."""

    def __init__(self, space, *, pool: Any = None, fast: float = 0.2, slow: float = 0.05, epsilon: float = 0.2,
                 min_tries: int = 1, denoise: float = 1.0, latest: float = 0.0, rate: float = 0.05,
                 prior: float = 2.0, seed=None, score_range=None):
        super().__init__(space, pool=pool, latest=latest, rate=rate, prior=prior, seed=seed, score_range=score_range)
        fast, slow = check_rate("fast", fast), check_rate("slow", slow)
        if not fast > slow:
            raise ConfigError(f"fast ({fast}) must be larger than slow ({slow}): the fast average has the shorter memory")
        self.epsilon = fraction("epsilon", epsilon)
        self.min_tries = whole("min_tries", min_tries, 0)
        self.denoise = number("denoise", denoise, 0.0)
        self.stats = TaskAverages(space.n, fast=fast, slow=slow)

    def progress(self, ids: np.ndarray | None = None) -> np.ndarray:
        """Learning progress against each member (0 for an unplayed one); ``ids`` as in :meth:`win_rates` (the
        answer has their shape)."""
        return self._progress(self._ids(ids))

    def _progress(self, ids: np.ndarray) -> np.ndarray:
        """:meth:`progress` of ids already checked (the members a proposal weighs)"""
        # over the members only: the statistics are kept for each of the space's max_ids opponents
        lp = self.stats.progress(ids)
        if self.denoise > 0:
            lp = np.maximum(lp - self.denoise * self.stats.noise(ids), 0.0)
        return lp

    def _weights(self, ids: np.ndarray) -> np.ndarray:
        new = self.stats.counts[ids] < self.min_tries
        if new.any():
            base = new / new.sum()
        else:
            lp = self._progress(ids)
            total = lp.sum()
            base = lp / total if total > 0 and np.isfinite(total) else np.full(len(ids), 1.0 / len(ids))
        return (1.0 - self.epsilon) * base + self.epsilon / len(ids)

    def _observe_more(self, x: np.ndarray, scores: np.ndarray) -> None:
        self.stats.update(x, scores)

    def _get_more(self) -> dict[str, Any]:
        return {"stats": self.stats.get_state()}

    def _set_more(self, state: dict[str, Any]) -> None:
        self.stats.set_state(state["stats"])

    def _beliefs(self) -> dict[str, Any]:
        out = super()._beliefs()
        out["progress"] = self.progress(np.asarray(out["opponents"]))
        return out
