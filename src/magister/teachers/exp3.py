"""EXP3 online data mixing (Albalak et al. 2023, "Efficient Online Data Mixing").

An adversarial multi-armed bandit over the tasks (data domains, skills,
categories). At step ``t`` (``t = 1`` for the first proposal) with ``K`` tasks:

* exploration rate ``eps_t = min(1/K, sqrt(ln K / (K t)))``;
* policy ``pi_i = (1 - K eps_t) * softmax(eps_{t-1} * R_i) + eps_t``
  (``eps_0 = 1/K``, so the first proposal is uniform);
* after an outcome of task ``i`` with reward ``r`` in [0, 1], the importance
  weighted estimate moves: ``R_i <- a * R_i + (1 - a) * r / pi_i`` with
  smoothing ``a`` (``smoothing=None`` gives the classic cumulative EXP3,
  ``R_i <- R_i + r / pi_i``). Other tasks keep their estimate. Then ``t += 1``.

The estimates ``R`` are the log-weights (up to the factor ``eps``); the
policy is computed with a max-shifted softmax, so weights never overflow
however long the run.

Which reward? ``reward="score"`` (default) rewards the normalised score
itself. The paper rewards the *training loss* (domains with high loss are
sampled more). magister scores are always "higher is better", so to reproduce
the paper report the loss with ``score_range=ScoreRange(0, max_loss,
higher_is_better=False)`` (the score is then ``1 - loss / max_loss``) and use
``reward="loss"``, which rewards ``1 - score = loss / max_loss``. For a
curriculum over skills where neither the score nor the loss should be chased,
``reward="progress"`` rewards learning progress ``|fast - slow|`` of the
task's score EMAs (as in the learning-progress bandit).

How sharp is the policy? ``eps_{t-1} * R_i`` is at most about ``r / K * K =
r`` with smoothing, and ``eps`` keeps shrinking, so with rewards in [0, 1]
the smoothed policy stays close to uniform unless rewards differ a lot (and
drifts back toward uniform late in a run). The paper's rewards were raw
losses of a few nats; ``scale`` multiplies every reward to get that regime
(``scale=3`` for losses around 3). ``smoothing=None`` (classic EXP3) instead
sharpens steadily as evidence accumulates, but adapts slowly when the best
task changes.

``pi_i`` is the probability under the current policy when the outcome is
observed (proposals made in one batch are drawn from that same policy).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..averages import CachedPolicy, TaskAverages
from ..settings import rate
from ..errors import ConfigError
from ..teacher import Teacher, register

_REWARDS = ("score", "loss", "progress")


@register("exp3")
class EXP3(CachedPolicy, Teacher):
    """EXP3 bandit with decaying exploration (online data mixing).

    Parameters
    ----------
    reward:
        ``"score"``, ``"loss"`` (``1 - score``) or ``"progress"`` (see module docstring).
    smoothing:
        ``a`` in [0, 1): weight of the old estimate in the update; ``None``
        for the cumulative sum of classic EXP3. Default 0.9.
    scale:
        Multiplier applied to every reward (> 0, default 1).
    fast, slow:
        EMA rates of the score, used only by ``reward="progress"``.
    """

    kind = "discrete"
    conformance_kwargs: dict[str, Any] = {}

    def __init__(self, space, *, reward: str = "score", smoothing: float | None = 0.9, scale: float = 1.0,
                 fast: float = 0.1, slow: float = 0.02, seed=None, score_range=None):
        super().__init__(space, seed=seed, score_range=score_range)
        if reward not in _REWARDS:
            raise ConfigError(f"reward must be one of {_REWARDS}, got {reward!r}")
        if smoothing is not None and (isinstance(smoothing, bool) or not isinstance(smoothing, (int, float))
                                      or not 0.0 <= smoothing < 1.0):
            raise ConfigError(f"smoothing must be None (cumulative EXP3) or in [0, 1), got {smoothing!r}")
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not 0 < scale < 1e6:
            raise ConfigError(f"scale multiplies rewards and must be a number > 0, got {scale!r}")
        self.scale = float(scale)
        fast, slow = rate("fast", fast), rate("slow", slow)
        if reward == "progress" and not fast > slow:
            raise ConfigError(f"fast ({fast}) must be larger than slow ({slow})")
        if space.n > 1_000_000:
            raise ConfigError(f"EXP3 keeps one weight per task; {space.n} tasks is too many (limit 1,000,000)")
        self.reward = reward
        self.smoothing = None if smoothing is None else float(smoothing)
        self.K = int(space.n)
        self.estimates = np.zeros(self.K)
        self.t = 1
        self.stats = TaskAverages(self.K, fast=fast, slow=slow) if reward == "progress" else None
        self._probs: np.ndarray | None = None

    # ------------------------------------------------------------- policy
    def exploration(self, t: int) -> float:
        """``eps_t = min(1/K, sqrt(ln K / (K t)))`` (``eps_0 = 1/K``)."""
        if t <= 0:
            return 1.0 / self.K
        return min(1.0 / self.K, math.sqrt(math.log(self.K) / (self.K * t)))

    def _compute_probabilities(self) -> np.ndarray:
        """The policy ``pi`` for the next step."""
        eps_now = self.exploration(self.t)
        logits = self.exploration(self.t - 1) * self.estimates
        logits = logits - logits.max()
        w = np.exp(logits)
        return (1.0 - self.K * eps_now) * (w / w.sum()) + eps_now

    # --------------------------------------------------------------- hooks
    def _observe(self, x: np.ndarray, scores: np.ndarray) -> None:
        for i, s in zip(x.tolist(), scores.tolist()):
            pi = float(self._policy()[i])
            if self.stats is not None:  # reward == "progress"
                self.stats.update(np.array([i]), np.array([s]))
                r = float(abs(self.stats.fast[i] - self.stats.slow[i]))
            elif self.reward == "score":
                r = s
            else:  # "loss"
                r = 1.0 - s
            g = self.scale * r / pi
            if self.smoothing is None:
                self.estimates[i] += g
            else:
                self.estimates[i] = self.smoothing * self.estimates[i] + (1.0 - self.smoothing) * g
            self.t += 1
            self._probs = None

    def _get_state(self) -> dict[str, Any]:
        out: dict[str, Any] = {"estimates": self.estimates.copy(), "t": int(self.t)}
        if self.stats is not None:
            out["stats"] = self.stats.get_state()
        return out

    def _set_state(self, state: dict[str, Any]) -> None:
        est = np.asarray(state["estimates"], dtype=float)
        if est.shape != (self.K,) or not np.isfinite(est).all():
            raise ValueError(f"estimates must be {self.K} finite numbers")
        t = int(state["t"])
        if t < 1:
            raise ValueError("t must be >= 1")
        if self.stats is not None:
            self.stats.set_state(state["stats"])
        self.estimates, self.t = est.copy(), t
        self._probs = None

    def _beliefs(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": "discrete",
            "tasks": self.space.task_names(),
            "probability": self.probabilities(),
            "estimate": self.estimates.copy(),
            "exploration": self.exploration(self.t),
        }
        if self.stats is not None:
            out["progress"] = self.stats.progress()
        return out
