"""EXP3 online data mixing (Albalak et al. 2023, "Efficient Online Data Mixing").

An adversarial multi-armed bandit over the tasks (data domains, skills,
categories). At step ``t`` (``t = 1`` for the first proposal) with ``K`` tasks:

* exploration rate ``eps_t = max(min(1/K, sqrt(ln K / (K t))), min_exploration / K)``;
* policy ``pi_i = (1 - K eps_t) * softmax(eps_{t-1} * R_i) + eps_t``
  (``eps_0 = 1/K``, so the first proposal is uniform);
* after an outcome of task ``i`` with reward ``r``, the importance
  weighted estimate moves: ``R_i <- a * R_i + (1 - a) * scale * r / pi_i`` with
  smoothing ``a`` (``smoothing=None`` gives the classic cumulative EXP3,
  ``R_i <- R_i + scale * r / pi_i``). Other tasks keep their estimate. Then ``t += 1``.

The estimates ``R`` are the log-weights (up to the factor ``eps``); the
policy is computed with a max-shifted softmax, so weights never overflow
however long the run.

Which reward? ``reward="progress"`` (default, a curriculum over skills)
rewards the learning progress ``|fast - slow|`` of the task's score EMAs,
less ``denoise`` standard deviations of what score noise alone would give
(as in the learning-progress bandit; without that discount 0/1 outcomes on
a task stuck at chance look like progress and draw the bandit to it).
``reward="score"`` rewards the normalised score itself, which in a
curriculum chases tasks already mastered. The paper rewards the *training
loss* (domains with high loss are sampled more). magister scores are always
"higher is better", so to reproduce the paper report the loss with
``score_range=ScoreRange(0, max_loss, higher_is_better=False)`` (the score
is then ``1 - loss / max_loss``) and use ``reward="loss"``, which rewards
``1 - score = loss / max_loss``.

How sharp is the policy? With smoothing, ``R_i`` is about ``scale * r * K``
and the logit ``eps_{t-1} * R_i`` about ``scale * r * sqrt(K ln K / t)``:
with rewards in [0, 1] and ``scale=1`` the policy stays within a few percent
of uniform, and drifts back toward it late in a run. That is why the old
default (``reward="score"``, ``scale=1``) was no better than uniform on
the skill graphs of the ``standard`` suite, and below it on two. Progress
rewards are small (a few hundredths), so ``reward="progress"`` uses
``scale=300`` and keeps a floor of 20% uniform proposals
(``min_exploration=0.2``) so skills unlocked late are found; these settings
were chosen on seeds 100-105 of the suite's skill graphs (see
``docs/teachers-discrete.md``). The paper's rewards were raw losses of a few
nats; with ``reward="loss"`` set ``scale`` for that regime (``scale=3`` for
losses around 3). ``smoothing=None`` (classic EXP3) instead sharpens steadily
as evidence accumulates, but adapts slowly when the best task changes (with
progress rewards it collapses onto a few tasks).

``pi_i`` is the probability under the current policy when the outcome is
observed (proposals made in one batch are drawn from that same policy).
``observe_batch`` is one ``observe`` per outcome, in order: only its first
outcome is weighted by the policy the batch was drawn from; each later one by
the policy after the outcomes before it (``t`` has moved on by then too).
A data mixture (``SkillSampler``) sends one outcome per skill present in a
batch of many draws, so a skill is observed at almost every step whatever its
``pi_i``: ``1 / pi_i`` then over-weights rare skills, where the paper
observes the one domain it drew.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..averages import CachedPolicy, TaskAverages
from ..set_aside import make_set_aside
from ..settings import few_tasks, number, rate, refuse_past_max_count
from ..errors import ConfigError, SettingTypeError
from ..teacher import Teacher, register

_REWARDS = ("score", "loss", "progress")


@register("exp3")
class EXP3(CachedPolicy, Teacher):
    """EXP3 bandit with decaying exploration (online data mixing).

    Args:
        reward: ``"progress"`` (default), ``"score"`` or ``"loss"`` (``1 - score``);
            see the module docstring.
        smoothing: ``a`` in [0, 1): weight of the old estimate in the update; ``None``
            for the cumulative sum of classic EXP3. Default 0.9.
        scale: Multiplier applied to every reward (> 0). Default None: 300 with
            ``reward="progress"`` (progress is a small number), 1 otherwise.
        fast: EMA rate of the score, used only by ``reward="progress"`` (default 0.3).
        slow: EMA rate of the score, used only by ``reward="progress"`` (default 0.1).
        denoise: ``reward="progress"`` only: subtract this many standard deviations of
            the EMA difference expected from score noise alone (default 1, as
            ``lp-bandit``); 0 rewards the raw ``|fast - slow|``.
        min_exploration: Smallest total share of uniform proposals (``eps_t >= min_exploration / K``).
            Default None: 0.2 with ``reward="progress"``, 0 (the paper's decaying
            schedule alone) otherwise.
        set_aside: Set mastered tasks aside and review them (:mod:`magister.set_aside`); off by
            default, ``set_aside=0.9`` for success scores.
        set_aside_window: Recent scores per task that ``set_aside`` averages.
        review_after: A task set aside is due for review after ``review_after * n`` episodes without
            practice (``n`` tasks).
    """

    kind = "discrete"
    conformance_kwargs: dict[str, Any] = {}
    #: checkpoints saved before ``denoise`` and ``min_exploration`` (ea511ef) had no noise discount and no floor
    legacy_settings = {"denoise": 0.0, "min_exploration": 0.0}

    def __init__(self, space, *, reward: str = "progress", smoothing: float | None = 0.9,
                 scale: float | None = None, fast: float = 0.3, slow: float = 0.1, denoise: float = 1.0,
                 min_exploration: float | None = None,
                 set_aside: float | None = None, set_aside_window: int = 20, review_after: float = 2.0,
                 seed=None, score_range=None):
        super().__init__(space, seed=seed, score_range=score_range)
        self._aside = make_set_aside(space.n_tasks, set_aside, set_aside_window, review_after)
        if not isinstance(reward, str) or reward not in _REWARDS:
            raise ConfigError(f"reward must be one of {_REWARDS}, got {reward!r}")
        if smoothing is not None:  # (numpy numbers too: np.float32(0.2) was refused by a hand-written check)
            number("smoothing", smoothing, 0.0, 1.0, high_open=True, hint="or None (cumulative EXP3)")
        progress = reward == "progress"
        if scale is None:
            scale = 300.0 if progress else 1.0
        self.scale = number("scale", scale, 0.0, 1e6, low_open=True, high_open=True, hint="it multiplies rewards")
        if min_exploration is None:
            min_exploration = 0.2 if progress else 0.0
        self.min_exploration = number("min_exploration", min_exploration, 0.0, 1.0,
                                      hint="it is the smallest share of uniform proposals")
        self.denoise = number("denoise", denoise, 0.0, 100.0, high_open=True,
                              hint="standard deviations of noise to discount")
        fast, slow = rate("fast", fast), rate("slow", slow)
        if progress and not fast > slow:
            raise ConfigError(f"fast ({fast}) must be larger than slow ({slow})")
        few_tasks(space.n, "EXP3 keeps one weight per task")
        self.reward = reward
        self.smoothing = None if smoothing is None else float(smoothing)
        self.K = int(space.n)
        self.estimates = np.zeros(self.K)
        self.t = 1
        self.stats = TaskAverages(self.K, fast=fast, slow=slow) if progress else None
        self._probs: np.ndarray | None = None

    # ------------------------------------------------------------- policy
    def exploration(self, t: int) -> float:
        """``eps_t = min(1/K, sqrt(ln K / (K t)))`` (``eps_0 = 1/K``), at least ``min_exploration / K``.

        ``t``: the step, a whole number ``>= 0`` (``self.t`` is the next one); anything else is a
        :class:`~magister.errors.SettingTypeError` (a ``TypeError`` too; ``None`` was Python's raw one) or a
        :class:`~magister.errors.ConfigError` (a negative step, a fraction, NaN, which gave ``1/K`` without a word)."""
        if isinstance(t, (bool, np.bool_, np.timedelta64)) or not isinstance(t, (int, np.integer, float, np.floating)):
            raise SettingTypeError(f"exploration(t) takes the step t, a whole number >= 0 (self.t is the next "
                                   f"step), got {type(t).__name__} {t!r:.40}")
        if not (t >= 0 and math.isfinite(t) and t == int(t)):
            raise ConfigError(f"exploration(t) takes the step t, a whole number >= 0 (self.t is the next step), "
                              f"got {t!r}")
        return self._exploration(t)

    def _exploration(self, t: int) -> float:
        """:meth:`exploration` of a step already checked (the policy's own, ``self.t - 1`` and ``self.t``)."""
        if t <= 0:
            return 1.0 / self.K
        eps = min(1.0 / self.K, math.sqrt(math.log(self.K) / (self.K * t)))
        return max(eps, self.min_exploration / self.K)  # the floor: min_exploration

    def _compute_probabilities(self) -> np.ndarray:
        """The policy ``pi`` for the next step."""
        eps_now = self._exploration(self.t)
        logits = self._exploration(self.t - 1) * self.estimates
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
                if self.denoise > 0:
                    r = max(r - self.denoise * self.stats.noise_of(i), 0.0)
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
            self._note_aside(np.array([i]), np.array([s]))
            self._probs = None

    def _get_state(self) -> dict[str, Any]:
        out: dict[str, Any] = {"estimates": self.estimates.copy(), "t": int(self.t)}
        if self.stats is not None:
            out["stats"] = self.stats.get_state()
        return self._aside_state(out)

    def _set_state(self, state: dict[str, Any]) -> None:
        est = np.asarray(state["estimates"], dtype=float)
        if est.shape != (self.K,) or not np.isfinite(est).all():
            raise ValueError(f"estimates must be {self.K} finite numbers")
        if (est < 0).any():  # every reward is >= 0, so is every estimate: a negative one is a tampered file
            i = int(np.flatnonzero(est < 0)[0])
            raise ValueError(f"estimates[{i}] = {float(est[i])!r}: the reward estimates are >= 0")
        t = int(state["t"])  # (a string or a fraction is named by the check of the loaded state against the saved one)
        if t < 1:
            raise ValueError("t must be >= 1")
        refuse_past_max_count("saved t", t, state["t"])  # (10**30 and 1e300 were taken)
        if self.stats is not None:
            self.stats.set_state(state["stats"])
        self._restore_aside(state)
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
        return self._aside_beliefs(out)
