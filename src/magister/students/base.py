"""The simulated-student protocol: what benchmarks drive teachers against.

A student has a task ``space``, takes one episode with :meth:`attempt`
(returning a score in [0, 1]) and reports :meth:`mastery`, the fraction of its
task space it has mastered (the figure benchmarks plot).
"""

from __future__ import annotations

from typing import Any, Iterable, Protocol, Sequence, runtime_checkable

import numpy as np

from ..errors import InvalidTaskError
from ..scores import materialised
from ..settings import whole
from ..spaces import Space


@runtime_checkable
class Student(Protocol):
    space: Space

    def attempt(self, task: Any) -> float:
        """Practise ``task`` once; return the episode's score in [0, 1]."""

    def attempt_batch(self, tasks: Sequence[Any]) -> np.ndarray:
        """Practise each task in order; return their scores."""

    def mastery(self) -> float:
        """Fraction of the task space mastered now, in [0, 1]."""


class StudentBase:
    """Shared helpers: ``attempt_batch`` as ordered single attempts."""

    space: Space

    def attempt(self, task: Any) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def attempt_batch(self, tasks: Sequence[Any] | np.ndarray) -> np.ndarray:
        """Practise each task in order; every task is checked first, so a bad one changes nothing (the tasks
        before it were practised before it was refused). ``tasks``: a list, an array or any iterable of tasks (a
        generator is read once, in order)."""
        if not isinstance(tasks, Iterable):  # (a raw "'int' object is not iterable")
            raise InvalidTaskError(f"attempt_batch takes a sequence of tasks, got {tasks!r}; pass a list of tasks, or "
                                   "use attempt(task) for one")
        tasks = materialised(tasks)  # (a generator: a raw "object of type 'generator' has no len()")
        for t in tasks:
            self.space.validate(t)
        return np.fromiter((self.attempt(t) for t in tasks), dtype=float, count=len(tasks))

    def mastery(self) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def best_mastery(self, budget: int) -> float:
        """Mastery an oracle teacher reaches from the current state in ``budget`` more episodes.

        The suites' ceiling. A student that offers it has ``forgetting`` and
        ``_oracle(budget, fill, schedule=None)``, one greedy schedule (``fill``: practise up to the
        cap as a margin against forgetting; ``schedule``, a list, receives its ``(task index,
        practices in a row)`` steps, and replaying them on the student reaches the figure); without
        forgetting one schedule is the best, with it the better of the two. Nothing of the student changes.
        """
        budget = whole("budget", budget, 0)
        forgetting = getattr(self, "forgetting", 0)
        oracle = getattr(self, "_oracle", None)
        if oracle is None:
            raise NotImplementedError(f"{type(self).__name__} has no oracle schedule for best_mastery")
        if forgetting == 0:
            return oracle(budget, fill=False)
        return max(oracle(budget, fill=False), oracle(budget, fill=True))
