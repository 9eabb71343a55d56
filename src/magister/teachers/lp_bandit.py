"""Learning-progress bandit: practise the tasks whose score is moving.

After Kanitscheider et al. (2021, "Multi-task curriculum learning in a
complex, visual, hard-exploration domain") and Matiisen et al. (TSCL). Per
task keep a fast and a slow exponential moving average (EMA) of the score;
learning progress is ``LP = |fast - slow|`` (bidirectional: a score that falls,
say from forgetting, counts as much as one that rises). Sampling weights come
from a transform of LP:

* ``transform="sigmoid"`` (the reference): z-score LP across the tasks, then
  ``sigmoid(z / temperature)``; tasks with above-average progress get weights
  near 1, the rest near 0, and nothing is ever starved completely;
* ``transform="proportional"`` (default): weights ``LP ** (1 / temperature)``,
  so a task with zero progress is only picked by exploration.

Weights are normalised and mixed with uniform exploration:
``p = (1 - epsilon) * weights + epsilon / n``. Tasks seen fewer than
``min_tries`` times are tried first (the non-exploration mass is spread
evenly over them), so a new task is never ignored because it has no LP yet.

Score noise looks like progress: with 0/1 outcomes a task stuck at a 10%
success rate makes ``|fast - slow|`` jump at every lucky success, and the
bandit ends up practising it (the "noisy TV" problem; on the ``SkillStudent``
benchmark, proportional weights without a noise discount spent about half of
all episodes on an unlearnable skill, and the reference settings 13%, more
than uniform sampling's 10%). ``denoise=k`` subtracts ``k`` times the standard deviation that
``fast - slow`` would have from noise alone (estimated from each task's score
variance, see ``magister.averages.TaskAverages.noise``), keeping only
progress that stands out of the noise.

Defaults (``fast=0.3, slow=0.1, transform="proportional", epsilon=0.2,
denoise=1``) were chosen on ``benchmarks/discrete_teachers.py``, where skills
are learnt in tens of practices. The reference settings are
``fast=0.1, slow=0.02, transform="sigmoid", temperature=1, epsilon=0.1,
denoise=0``; use longer memories (smaller rates) when a task takes thousands of
episodes to learn.
Fed one held-out accuracy per skill per evaluation round (a data mixture,
``SkillSampler.observe_eval``) the defaults can collapse a run: a skill's jump
keeps its progress for about 20 rounds while skills still at chance show none,
so the mastered skill takes most batches. Use ``fast=0.6, slow=0.3,
transform="sigmoid", epsilon=0.4`` there (``benchmarks/data_mixture.py``).

``reweight=p_theta`` applies the reweighting of Kanitscheider et al. to both
EMAs before differencing, ``f(p) = (1 - p_theta) p / (p + p_theta (1 - 2 p))``,
which magnifies changes near a score of 0 (a success rate rising from 1% to 3%
matters more than one from 50% to 52%). Off by default.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..averages import CachedPolicy, TaskAverages, powered
from ..set_aside import make_set_aside
from ..settings import fraction, number, rate, whole
from ..errors import ConfigError
from ..teacher import Teacher, register

_TRANSFORMS = ("sigmoid", "proportional")


def _reweight(p: np.ndarray, theta: float) -> np.ndarray:
    return (1.0 - theta) * p / (p + theta * (1.0 - 2.0 * p))


@register("lp-bandit")
class LPBandit(CachedPolicy, Teacher):
    """Learning-progress bandit over the tasks of a finite space.

    Args:
        fast: EMA rate in (0, 1] (weight of the newest score); ``fast > slow``.
            Default 0.3: the fast average remembers about 3 episodes of a task.
        slow: EMA rate in (0, 1]. Default 0.1: the slow average remembers about 10
            episodes of a task.
        epsilon: Share of proposals drawn uniformly over all tasks, in [0, 1].
        transform: ``"proportional"`` (default) or ``"sigmoid"`` (z-score then sigmoid, the reference).
        temperature: Temperature > 0; lower sharpens the preference for high-progress tasks.
        reweight: ``None`` or ``p_theta`` in (0, 0.5): reweight the EMAs before the
            difference (see module docstring).
        min_tries: Tasks with fewer outcomes than this are tried before any LP-based choice.
        denoise: Standard deviations of noise subtracted from LP (0 = reference behaviour).
        set_aside: Set mastered tasks aside and review them (:mod:`magister.set_aside`); off by
            default, ``set_aside=0.9`` for success scores.
        set_aside_window: Recent scores per task that ``set_aside`` averages.
        review_after: A task set aside is due for review after ``review_after * n`` episodes without
            practice (``n`` tasks).
    """

    kind = "discrete"
    conformance_kwargs: dict[str, Any] = {}

    def __init__(self, space, *, fast: float = 0.3, slow: float = 0.1, epsilon: float = 0.2,
                 transform: str = "proportional", temperature: float = 1.0, reweight: float | None = None,
                 min_tries: int = 1, denoise: float = 1.0,
                 set_aside: float | None = None, set_aside_window: int = 20, review_after: float = 2.0,
                 seed=None, score_range=None):
        super().__init__(space, seed=seed, score_range=score_range)
        self._aside = make_set_aside(space.n_tasks, set_aside, set_aside_window, review_after)
        fast = rate("fast", fast)
        slow = rate("slow", slow)
        if not fast > slow:
            raise ConfigError(f"fast ({fast}) must be larger than slow ({slow}): the fast EMA has the shorter memory")
        epsilon = fraction("epsilon", epsilon, hint="the uniform-exploration share")  # (np.float32(0.2) was refused)
        if not isinstance(transform, str) or transform not in _TRANSFORMS:
            raise ConfigError(f"transform must be one of {_TRANSFORMS}, got {transform!r}")
        temperature = number("temperature", temperature, 0.0, low_open=True, hint="lower sharpens the preference")
        if reweight is not None:  # (numpy numbers were refused, as epsilon and denoise were)
            reweight = number("reweight (p_theta)", reweight, 0.0, 0.5, low_open=True, high_open=True,
                              hint="or None for no reweighting")
        whole("min_tries", min_tries, 0)
        denoise = number("denoise", denoise, 0.0, 100.0, high_open=True,
                         hint="standard deviations of noise to discount")
        self.denoise = float(denoise)
        self.epsilon = float(epsilon)
        self.transform = transform
        self.temperature = float(temperature)
        self.reweight = None if reweight is None else float(reweight)
        self.min_tries = int(min_tries)
        self.stats = TaskAverages(space.n, fast=fast, slow=slow)
        self._probs: np.ndarray | None = None

    # ------------------------------------------------------------- beliefs
    def progress(self) -> np.ndarray:
        """Learning progress of every task (0 for unseen tasks)."""
        if self.reweight is None:
            lp = self.stats.progress()
        else:
            seen = self.stats.seen
            f = _reweight(np.where(seen, self.stats.fast, 0.0), self.reweight)
            s = _reweight(np.where(seen, self.stats.slow, 0.0), self.reweight)
            lp = np.where(seen, np.abs(f - s), 0.0)
        if self.denoise > 0:
            lp = np.maximum(lp - self.denoise * self.stats.noise(), 0.0)
        return lp

    def _compute_probabilities(self) -> np.ndarray:
        n = self.space.n_tasks
        counts = self.stats.counts
        new = counts < self.min_tries
        if new.any():
            base = new / new.sum()
        else:
            lp = self.progress()
            if self.transform == "sigmoid":
                sd = lp.std()
                if sd <= 1e-12:
                    w = np.ones(n)
                else:
                    z = (lp - lp.mean()) / sd
                    w = 0.5 * (1.0 + np.tanh(0.5 * z / self.temperature))  # sigmoid, overflow-free
            else:
                w = powered(lp, 1.0 / self.temperature)  # a low temperature's underflow kept off uniform
            total = w.sum()
            base = w / total if total > 0 and np.isfinite(total) else np.full(n, 1.0 / n)
        return (1.0 - self.epsilon) * base + self.epsilon / n

    # --------------------------------------------------------------- hooks
    def _observe(self, x: np.ndarray, scores: np.ndarray) -> None:
        self.stats.update(x, scores)
        self._note_aside(x, scores)
        self._probs = None

    def _get_state(self) -> dict[str, Any]:
        return self._aside_state({"stats": self.stats.get_state()})

    def _set_state(self, state: dict[str, Any]) -> None:
        self.stats.set_state(state["stats"])
        self._restore_aside(state)
        self._probs = None

    def _beliefs(self) -> dict[str, Any]:
        seen = self.stats.seen
        return self._aside_beliefs({
            "kind": "discrete",
            "tasks": self.space.task_names(),
            "probability": self.probabilities(),
            "progress": self.progress(),
            "fast": np.where(seen, self.stats.fast, 0.0),
            "slow": np.where(seen, self.stats.slow, 0.0),
            "observed": self.stats.counts.copy(),
        })
