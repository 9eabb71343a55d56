"""Learnability bandit: practise the tasks solved about half the time, from running pass rates.

For reinforcement-learning fine-tuning of language models on prompts with
pass/fail rewards (GRPO and its kin), a prompt that the policy always or never
solves gives every completion the same reward, so its group-normalised
advantage, and with it its gradient, is zero. The prompts worth a rollout are
the ones solved some of the time, and ``p (1 - p)``, ``p`` the prompt's pass
rate, measures that: the variance of a pass/fail reward, largest at
``p = 1/2`` (Foster and Foerster, 2025, "Learning to reason at the frontier of
learnability"; the same quantity as SFL's level learnability, here kept as a
running estimate instead of periodic evaluation rounds).

Per task the teacher keeps a running pass rate: the first score observed,
then an exponential moving average, ``p <- p + rate * (score - p)``, of the
scores that follow (a score is a pass rate in [0, 1]: the share of a group of
completions that were correct, or 0/1 for one). Tasks never observed have
``p = prior`` (default 1/2: the most learnable, so every task is tried before
the estimates decide). The next task is drawn from

    (1 - epsilon) * w / sum(w) + epsilon / n,   w = (p (1 - p)) ** (1 / temperature),

uniform when every ``w`` is zero. A lower temperature concentrates on the
tasks nearest ``p = 1/2``; ``epsilon`` keeps re-checking tasks whose estimate
says solved or unsolvable (a policy that improves moves its pass rates).

Cost: O(n) per observation batch (the cached distribution is rebuilt after
observations) and O(k log n) per ``propose(k)``; memory two arrays of ``n``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..averages import CachedPolicy, powered
from ..settings import few_tasks, fraction, number
from ..settings import rate as _rate
from ..teacher import Teacher, register

__all__ = ["LearnabilityBandit"]


@register("learnability-bandit")
class LearnabilityBandit(CachedPolicy, Teacher):
    """Samples tasks by ``p (1 - p)`` of their running pass rate ``p``, mixed with uniform exploration.

    Args:
        rate: Weight of the newest score in a task's running pass rate, in (0, 1]
            (default 0.5: about the last two observations; 1 = only the latest).
        prior: Pass rate assumed for a task never observed, in [0, 1] (default 0.5).
        epsilon: Share of proposals drawn uniformly over all tasks, in [0, 1] (default 0.05).
        temperature: Temperature > 0; weights are ``(p (1 - p)) ** (1 / temperature)`` (default 1).
    """

    kind = "discrete"
    conformance_kwargs: dict[str, Any] = {}

    def __init__(self, space, *, rate: float = 0.5, prior: float = 0.5, epsilon: float = 0.05,
                 temperature: float = 1.0, seed=None, score_range=None):
        super().__init__(space, seed=seed, score_range=score_range)
        self.rate = _rate("rate", rate)
        self.prior = fraction("prior", prior)
        self.epsilon = fraction("epsilon", epsilon)
        self.temperature = number("temperature", temperature, low=0.0, low_open=True)
        few_tasks(space.n, "learnability-bandit keeps a pass rate per task")
        self.pass_rate = np.full(space.n, float(self.prior))
        self.counts = np.zeros(space.n, dtype=np.int64)
        self._probs: np.ndarray | None = None

    # ------------------------------------------------------------- beliefs
    def learnability(self) -> np.ndarray:
        """``p (1 - p)`` of every task's running pass rate (the prior's for unseen tasks)."""
        return self.pass_rate * (1.0 - self.pass_rate)

    def _compute_probabilities(self) -> np.ndarray:
        n = self.space.n_tasks
        lrn = np.clip(self.learnability(), 0.0, 0.25)
        w = powered(lrn, 1.0 / self.temperature)  # a low temperature's underflow kept off uniform
        total = float(w.sum())
        base = w / total if total > 0 else np.full(n, 1.0 / n)
        return (1.0 - self.epsilon) * base + self.epsilon / n

    # --------------------------------------------------------------- hooks
    def _observe(self, x: np.ndarray, scores: np.ndarray) -> None:
        p, counts, r = self.pass_rate, self.counts, self.rate
        for i, s in zip(np.asarray(x, dtype=np.int64).tolist(), np.asarray(scores, dtype=float).tolist()):
            p[i] = s if counts[i] == 0 else p[i] + r * (s - p[i])
            counts[i] += 1
        self._probs = None

    def _get_state(self) -> dict[str, Any]:
        return {"pass_rate": self.pass_rate.copy(), "counts": self.counts.copy()}

    def _set_state(self, state: dict[str, Any]) -> None:
        p = np.asarray(state["pass_rate"], dtype=float)
        c = np.asarray(state["counts"], dtype=np.int64)
        n = self.space.n
        if p.shape != (n,) or c.shape != (n,):
            raise ValueError(f"pass_rate and counts must hold {n} numbers")
        if not (np.isfinite(p).all() and ((p >= 0) & (p <= 1)).all()) or (c < 0).any():
            raise ValueError("pass rates must be in [0, 1] and counts >= 0")
        self.pass_rate, self.counts = p.copy(), c.copy()
        self._probs = None

    def _beliefs(self) -> dict[str, Any]:
        return {
            "kind": "discrete",
            "tasks": self.space.task_names(),
            "probability": self.probabilities(),
            "pass_rate": self.pass_rate.copy(),
            "learnability": self.learnability(),
            "observed": self.counts.copy(),
        }
