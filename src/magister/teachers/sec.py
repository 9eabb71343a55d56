"""SEC: Self-Evolving Curriculum (2025), a non-stationary bandit over categories.

Built for reinforcement-learning fine-tuning of language models, where each
training batch holds problems from several categories. After each batch,
every category ``c`` present in it gets a reward ``r_c`` and its value moves by
a TD(0) step,

    Q_c <- (1 - alpha) * Q_c + alpha * r_c,

and the next batch is drawn from the Boltzmann policy ``softmax(Q / temperature)``.
Categories absent from a batch keep their value.

The paper's reward is the category's mean absolute advantage. For pass/fail
outcomes with group-normalised advantages that equals ``2 * sqrt(p (1 - p))``
where ``p`` is the pass rate: largest at ``p = 1/2``, zero for problems that
are always or never solved. magister offers two reward modes:

* ``reward="accuracy"`` (default, the supervised stand-in): ``p`` is the mean
  of the category's last ``window`` scores (this batch included) and
  ``r_c = 2 * sqrt(p (1 - p))``;
* ``reward="score"``: the caller computes the reward (e.g. the mean absolute
  advantage from its own RL loop) and reports it as the score, scaled to
  [0, 1] by ``score_range``; ``r_c`` is the mean score of ``c`` in the batch.

The algorithm is defined per batch: ``observe_batch`` is one update per
category present, and ``observe`` is a batch of one. ``alpha`` defaults to
0.5 (the paper's runs); ``temperature`` defaults to 1.0, and the paper used
0.2 to 1.0 depending on the domain (lower = greedier).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..averages import CachedPolicy, TaskAverages, refuse_outside_unit, task_indices
from ..set_aside import make_set_aside
from ..settings import non_numeric, number, rate, whole
from ..errors import ConfigError, InvalidScoreError, InvalidTaskError
from ..teacher import Teacher, register

_REWARDS = ("accuracy", "score")


@register("sec")
class SEC(CachedPolicy, Teacher):
    """Self-Evolving Curriculum: TD(0) values per category, Boltzmann sampling.

    Args:
        alpha: TD step size in (0, 1] (default 0.5).
        temperature: Boltzmann temperature > 0 (default 1.0; 0.2 to 1.0 in the paper).
        reward: ``"accuracy"`` or ``"score"`` (see module docstring).
        window: Number of recent scores per category behind ``p`` in ``"accuracy"`` mode.
        set_aside: Set mastered tasks aside and review them (:mod:`magister.set_aside`); off by
            default, ``set_aside=0.9`` for success scores.
        set_aside_window: Recent scores per task that ``set_aside`` averages.
        review_after: A task set aside is due for review after ``review_after * n`` episodes without
            practice (``n`` tasks).
    """

    kind = "discrete"
    batch_observe_is_sequential = False
    conformance_kwargs: dict[str, Any] = {}

    def __init__(self, space, *, alpha: float = 0.5, temperature: float = 1.0, reward: str = "accuracy",
                 window: int = 16,
                 set_aside: float | None = None, set_aside_window: int = 20, review_after: float = 2.0,
                 seed=None, score_range=None):
        super().__init__(space, seed=seed, score_range=score_range)
        self._aside = make_set_aside(space.n_tasks, set_aside, set_aside_window, review_after)
        self.alpha = rate("alpha", alpha)
        temperature = number("temperature", temperature, 0.0, low_open=True, hint="0.2 to 1.0 is typical")
        if not isinstance(reward, str) or reward not in _REWARDS:
            raise ConfigError(f"reward must be one of {_REWARDS}, got {reward!r}")
        whole("window", window, 1)
        self.temperature = float(temperature)
        self.reward = reward
        # the statistics first: they refuse a space with too many tasks before any array is allocated
        self.stats = TaskAverages(space.n, fast=1.0, slow=1.0, window=int(window) if reward == "accuracy" else 0)
        self.q = np.zeros(space.n)
        self.last_reward = np.full(space.n, np.nan)
        self._probs: np.ndarray | None = None

    def _compute_probabilities(self) -> np.ndarray:
        """``softmax(Q / temperature)``."""
        with np.errstate(over="ignore"):  # a temperature so small that Q / T overflows: handled below
            z = self.q / self.temperature
            if not np.isfinite(z).all():  # (NaN probabilities before): -inf below the best, exp gives 0
                z = (self.q - self.q.max()) / self.temperature
        w = np.exp(z - z.max())
        return w / w.sum()

    def category_rewards(self, x: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The categories present in a batch and their rewards (after recording the scores).

        ``x``: the batch's task indices (``0 .. n - 1``); ``scores``: one score per entry of ``x`` on the
        teacher's [0, 1] scale. Anything else is an :class:`~magister.errors.InvalidTaskError` /
        :class:`~magister.errors.InvalidScoreError` (an index past the space was numpy's raw ``IndexError``, or a
        category that does not exist with ``reward="score"``)."""
        x = task_indices("x", x, self.space.n_tasks)
        if x.ndim != 1:
            raise InvalidTaskError(f"category_rewards takes a flat array x of task indices, got shape {x.shape}")
        try:
            raw = np.asarray(scores)
            s = None if non_numeric(raw) else raw.astype(float)
        except (TypeError, ValueError):  # ragged lists, objects that are no numbers
            s = None
        if s is None or s.shape != x.shape or not ((s >= 0.0) & (s <= 1.0)).all():
            raise InvalidScoreError(f"category_rewards takes one score in [0, 1] (the teacher's scale) per entry of "
                                    f"x ({len(x)}), got {str(scores)[:60]}")
        return self._category_rewards(x, s)

    def _category_rewards(self, x: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`category_rewards` of indices and scores already checked (``observe``'s: the checks there cost a
        third more per observed episode)"""
        cats = np.unique(x)
        if self.reward == "score":
            sums = np.bincount(x, weights=scores, minlength=self.space.n_tasks)
            cnt = np.bincount(x, minlength=self.space.n_tasks)
            return cats, sums[cats] / cnt[cats]
        p = np.array([self.stats.window_mean(int(c)) for c in cats])
        return cats, 2.0 * np.sqrt(np.clip(p * (1.0 - p), 0.0, 0.25))

    # --------------------------------------------------------------- hooks
    def _observe(self, x: np.ndarray, scores: np.ndarray) -> None:
        x = np.asarray(x, dtype=np.int64)
        self.stats.update(x, scores)
        cats, r = self._category_rewards(x, scores)
        self.q[cats] = (1.0 - self.alpha) * self.q[cats] + self.alpha * r
        self.last_reward[cats] = r
        self._note_aside(x, scores)
        self._probs = None

    def _get_state(self) -> dict[str, Any]:
        return self._aside_state({"q": self.q.copy(), "stats": self.stats.get_state(),
                                  "last_reward": self.last_reward.copy()})

    def _set_state(self, state: dict[str, Any]) -> None:
        q = np.asarray(state["q"], dtype=float)
        last = np.asarray(state["last_reward"], dtype=float)
        if q.shape != (self.space.n,) or last.shape != (self.space.n,) or not np.isfinite(q).all():
            raise ValueError(f"q and last_reward must hold {self.space.n} numbers")
        # every reward is in [0, 1] and so is every value (a TD average of them); last_reward is NaN until a
        # category is rewarded: a negative value was taken from a tampered file and drove the policy
        for name, a in (("q", q), ("last_reward", last)):
            refuse_outside_unit(name, a, "rewards and values")
        self.stats.set_state(state["stats"])
        self._restore_aside(state)
        self.q, self.last_reward = q.copy(), last.copy()
        self._probs = None

    def _beliefs(self) -> dict[str, Any]:
        return self._aside_beliefs({
            "kind": "discrete",
            "tasks": self.space.task_names(),
            "probability": self.probabilities(),
            "progress": self.q.copy(),
            "value": self.q.copy(),
            "last_reward": np.where(np.isnan(self.last_reward), 0.0, self.last_reward),
            "observed": self.stats.counts.copy(),
        })
