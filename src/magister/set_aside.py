"""Setting mastered tasks aside, and bringing them back for review.

A bandit teacher over a finite space (``exp3``, ``sec``, ``lp-bandit``) keeps
spending episodes on tasks the learner has already mastered: with 0/1
outcomes and noise, the learning progress it estimates is mostly noise, and a
mastered task's success rate still climbs from 0.9 to 1. On the suite's
``skills-50-random-noisy`` a third of all episodes went to mastered skills.
Where a score has a meaning of mastery (a success rate, a test score: tutoring,
skill graphs, levels solved or not), ``set_aside=threshold`` fixes that:

* a task whose last ``window`` outcomes (default 20) average ``threshold`` or
  more is *set aside*: its sampling probability is multiplied by 0.1
  (:data:`FACTOR`), and the rest renormalised;
* a task set aside is *due for review* once it has gone ``review_after * n``
  episodes without practice (``n`` tasks; default ``review_after=2``, so twice
  the gap uniform sampling would leave): its probability comes back, raised
  to at least ``1 / n`` (before renormalising), until it is practised again.
  The review's outcome enters the window like any other, so a learner that
  forgot the task (two or three failures in the window) has it back among the
  tasks it practises.

If every task is set aside and none is due, nothing changes (there is nothing
better to do). The threshold is on the teacher's normalised scale: scores are
mapped to [0, 1] through ``score_range`` first.

The rule was chosen on the suite's seven skill-graph variants (pilot seeds
200-209, not the published seeds): it takes the three teachers to the ceiling
on six of them and above their plain selves on ``skills-50-forget``, where the
reviews keep up with forgetting (setting mastered skills aside without reviews
lost 15 to 46 points there). It is off by default: a loss or a loss drop has
no threshold of mastery, and on the held-out accuracies of the data-mixture
benchmark it did not speed training up (``docs/data-mixture.md``).

It keeps ``window`` scores per task (``8 * n * window`` bytes); a score
re-reads its own task's window only.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .errors import ConfigError
from .settings import MAX_COUNT, few_tasks, number, per_task_size, whole

__all__ = ["SetAside", "FACTOR", "make_set_aside"]

#: the multiplier on the probability of a task set aside
FACTOR = 0.1


class SetAside:
    """Which tasks are set aside (mastered) and which are due for review; see the module docstring.

    Args:
        n: Number of tasks.
        threshold: A task whose last ``window`` scores average at least this is set aside, in (0, 1].
        window: Number of recent scores per task (>= 1).
        review_after: A task set aside is due for review after ``review_after * n`` episodes without practice (> 0).
    """

    def __init__(self, n: int, threshold: float, *, window: int = 20, review_after: float = 2.0):
        # numpy numbers too (an np.float32(0.9) was refused with a message that put it in range)
        number("set_aside", threshold, 0.0, 1.0, low_open=True, hint="the average score (on the [0, 1] scale) at "
               "which a task counts as mastered, or None to keep every task in play")
        _check(window, review_after)
        # (n=-1 was numpy's "negative dimensions are not allowed", 0 was taken, 1.5 read as 1)
        n = whole("n", n, 1, hint="the number of tasks")
        self.n = few_tasks(n, f"set_aside keeps {window} scores per task")  # before the (n, window) array
        per_task_size("set_aside_window", window, self.n, why="set_aside keeps that many scores per task")
        self.threshold = float(threshold)
        self.window = int(window)
        self.review_after = float(review_after)
        self.gap = max(1, math.ceil(self.review_after * self.n - 1e-9))
        self.recent = np.zeros((self.n, self.window))
        self.count = np.zeros(self.n, dtype=np.int64)  # scores seen per task
        self.last = np.zeros(self.n, dtype=np.int64)  # the step after the task's latest score
        self.step = 0
        # which tasks are set aside: a task's status changes only with its own scores, so it is updated
        # there (one row) instead of re-reading every window whenever the policy is recomputed
        self._aside = np.zeros(self.n, dtype=bool)

    def _refresh(self, rows: slice) -> None:
        """Recompute the set-aside status of the tasks in ``rows`` (the same row means, one task or all)."""
        self._aside[rows] = (self.count[rows] >= self.window) & \
            (self.recent[rows].mean(axis=1) >= self.threshold - 1e-12)

    # ------------------------------------------------------------- reads
    def aside(self) -> np.ndarray:
        """Mask of the tasks set aside (reviews due included)."""
        return self._aside.copy()

    def due(self) -> np.ndarray:
        """Mask of the tasks set aside that are due for review."""
        return self.aside() & (self.step - self.last >= self.gap)

    def apply(self, p: np.ndarray) -> np.ndarray:
        """The distribution ``p`` with the tasks set aside scaled down and the due ones brought back."""
        aside = self._aside
        if not aside.any():
            return p
        due = aside & (self.step - self.last >= self.gap)
        out = np.array(p, dtype=float)
        if due.any():
            out[due] = np.maximum(out[due], 1.0 / self.n)
        held = aside & ~due
        if held.any() and not held.all():
            out[held] *= FACTOR
        return out / out.sum()

    # ------------------------------------------------------------ update
    def update(self, x: np.ndarray, scores: np.ndarray) -> None:
        """Record task indices ``x`` and their scores in [0, 1], in order; a bad index or score, or a score
        missing for an index, is a ``ConfigError`` and nothing is recorded."""
        # (an index of -1 was counted for the last task and left its set-aside status stale, a task 1.7 read as 1,
        # a NaN score kept and the state then refused by set_state, and indices without scores dropped)
        xa, sa = np.asarray(x), np.asarray(scores, dtype=float)
        if xa.ndim != 1 or sa.ndim != 1 or len(xa) != len(sa):
            raise ConfigError(f"set-aside update takes one score per task index, got shapes {xa.shape} and "
                              f"{sa.shape}")
        xs, ss = xa.tolist(), sa.tolist()
        if xs and (xa.dtype.kind not in "iu" or min(xs) < 0 or max(xs) >= self.n):
            raise ConfigError(f"set-aside task indices are whole numbers 0..{self.n - 1}, got {xs}")
        if not all(0.0 <= v <= 1.0 for v in ss):
            raise ConfigError(f"set-aside scores lie in [0, 1] (the teacher's normalised scale), got {ss}")
        self._record(xs, ss)

    def _record(self, xs: list[int], ss: list[float]) -> None:
        """``update`` without its checks, for the teachers, whose ``observe`` has checked the tasks and scores
        (normalised to [0, 1]) before any is recorded: the checks cost every episode about 1.5 us."""
        for i, s in zip(xs, ss):
            self.recent[i, self.count[i] % self.window] = s
            self.count[i] += 1
            self.step += 1
            self.last[i] = self.step
            self._refresh(slice(i, i + 1))

    # ------------------------------------------------------------- state
    def get_state(self) -> dict[str, Any]:
        return {"recent": self.recent.copy(), "count": self.count.copy(), "last": self.last.copy(),
                "step": int(self.step)}

    def set_state(self, state: dict[str, Any]) -> None:
        recent = np.asarray(state["recent"], dtype=float)
        count = np.asarray(state["count"], dtype=np.int64)
        last = np.asarray(state["last"], dtype=np.int64)
        step = int(state["step"])
        if recent.shape != (self.n, self.window) or count.shape != (self.n,) or last.shape != (self.n,):
            raise ValueError(f"set-aside state has shapes {recent.shape}, {count.shape}, {last.shape}; "
                             f"expected ({self.n}, {self.window}), ({self.n},), ({self.n},)")
        if not np.isfinite(recent).all() or (recent < 0).any() or (recent > 1).any():
            raise ValueError("set-aside scores must lie in [0, 1]")
        if (count < 0).any() or not 0 <= step <= MAX_COUNT or (last < 0).any() or (last > step).any():
            raise ValueError("set-aside counts and steps must be >= 0, and no task's last step after the current one")
        _refuse_impossible_counts(count, last, step)
        self.recent, self.count, self.last, self.step = recent.copy(), count.copy(), last.copy(), step
        self._refresh(slice(None))


def _refuse_impossible_counts(count: np.ndarray, last: np.ndarray, step: int) -> None:
    """Refuse counts no run of :meth:`SetAside.update` leaves (a damaged or edited state; each was taken, and a
    ``step`` off by a million made a task due for review at once): every score is one step of one task, so the
    counts add up to ``step``, a task has a last step exactly when it has scores, no earlier than its count, no two
    tasks share one, and the latest is ``step``."""
    early = np.flatnonzero(np.where(count > 0, last < count, last != 0))
    steps, first, times = np.unique(last[count > 0], return_index=True, return_counts=True)
    if int(count.sum()) != step:
        why = f"its counts add up to {int(count.sum())}, not step {step}"
    elif early.size:
        i = int(early[0])
        why = f"task {i} has {int(count[i])} scores and its last at step {int(last[i])}"
    elif (times > 1).any():
        why = f"two tasks have their last score at step {int(steps[times > 1][0])}"
    elif step and int(steps[-1]) != step:
        why = f"no task has its last score at step {step} (the latest is {int(steps[-1])})"
    else:
        return
    raise ConfigError(f"set-aside state is not one that its updates leave: {why}; the checkpoint is damaged or was "
                      "edited")


def _check(window: int, review_after: float) -> None:
    whole("set_aside_window", window, 1)
    number("review_after", review_after, 0.0, 1e6, low_open=True, high_open=True,
           hint="the gap before a task set aside is reviewed, in multiples of the number of tasks")


def make_set_aside(n: int, threshold: float | None, window: int, review_after: float) -> SetAside | None:
    """A :class:`SetAside` for a teacher's settings, or None when ``threshold`` is None (the default: off)."""
    if threshold is None:
        _check(window, review_after)
        return None
    return SetAside(n, threshold, window=window, review_after=review_after)
