"""Drive a continual learner through a sequence: a fixed order, or a task-sequence teacher.

A learner here is anything with ``learn(x, c, rehearsal, replay)``,
``evaluate(data)`` (one accuracy per class, NaN for classes not learned yet),
``replayed`` (the rehearsal it has spent so far, a count) and, for
:func:`run_teacher`, ``replay`` (its base replay per minibatch or phase):
:class:`~magister.continual.learners.MLPLearner` or
:class:`~magister.continual.person.SimulatedPerson`. ``data`` is a
:class:`~magister.continual.data.TaskData` with training and test examples of
every task taught (``None`` for a learner that needs none, such as the person). Both runners return a
:class:`SequenceResult` with the accuracy matrix (phase x task), the order
taught and the rehearsal spent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import ConfigError
from ..settings import whole
from .data import TaskData
from .metrics import final_accuracy, forgetting, learning_curve

__all__ = ["SequenceResult", "run_order", "run_teacher"]


@dataclass
class SequenceResult:
    """What one pass through a sequence produced."""

    order: list[int]
    acc: np.ndarray  # (phases, tasks), NaN before a task is taught
    replayed: int
    amounts: list[float] = field(default_factory=list)

    @property
    def final_accuracy(self) -> float:
        return final_accuracy(self.acc)

    @property
    def forgetting(self) -> float:
        return forgetting(self.acc)

    @property
    def curve(self) -> np.ndarray:
        return learning_curve(self.acc)


def _train(data: TaskData | None, c: int) -> Any:
    return None if data is None else data.class_train(c)


def _check_learner(learner: Any, runner: str) -> None:
    """Refuse a learner without what the runner uses (a learner of your own failed with a raw AttributeError)."""
    needs = {"learn()": callable(getattr(learner, "learn", None)),
             "evaluate()": callable(getattr(learner, "evaluate", None)), "replayed": hasattr(learner, "replayed")}
    if runner == "run_teacher":  # the teacher's amounts multiply the learner's base replay
        needs["replay"] = hasattr(learner, "replay")
    if not all(needs.values()):
        names = list(needs)
        lacks = ", ".join(name for name, ok in needs.items() if not ok)
        raise ConfigError(f"{runner} needs a learner with {', '.join(names[:-1])} and {names[-1]} (see "
                          f"magister.continual.run; MLPLearner and SimulatedPerson have them); "
                          f"{type(learner).__name__} has no {lacks}")


def _check_data(data: TaskData | None, tasks: Sequence[int], fix: str) -> None:
    """Refuse, before any training, data without training or test examples of a task to be taught (it failed at
    that task's phase, after the phases before it had trained the learner and, in run_teacher, told the teacher)."""
    if not isinstance(data, TaskData):
        return
    for c in tasks:
        for split, y in (("training", data.y_train), ("test", data.y_test)):
            if not (np.asarray(y) == c).any():
                raise ConfigError(f"the data has no {split} examples of class {c} (its classes are 0..{data.k - 1}); "
                                  f"{fix}. Nothing was taught.")


def run_order(learner: Any, data: TaskData | None, order: Sequence[int],
              rehearsal: Mapping[int, float] | None = None) -> SequenceResult:
    """Teach the tasks in ``order``, each once, with the learner's base replay spread evenly."""
    _check_learner(learner, "run_order")
    order = [whole("each task of order", c, 0, floats=True) for c in order]
    k = len(np.asarray(learner.evaluate(data)))
    if not order or sorted(order) != sorted(set(order)) or not all(0 <= c < k for c in order):
        raise ConfigError(f"order must list distinct tasks of 0..{k - 1}, got {order}")
    _check_data(data, order, "teach only the data's classes")
    rows = []
    before = int(learner.replayed)  # a learner taught before counts its earlier replay too: report this run's
    for c in order:
        learner.learn(_train(data, c), c, rehearsal)
        rows.append(learner.evaluate(data))
    return SequenceResult(order, np.array(rows), int(learner.replayed) - before,
                          [0.0] + [1.0] * (len(order) - 1))


def run_teacher(learner: Any, data: TaskData | None, teacher: Any, phases: int | None = None) -> SequenceResult:
    """Let a task-sequence teacher (``continual-designer``, ``continual-order``) drive ``phases`` phases.

    Each phase: ``teacher.propose()`` names the task, ``teacher.rehearsal()``
    the replay amount (times the learner's base replay) and weights; the
    amounts are rounded on their running total, so the rounding never adds up
    to more replay than the amounts say (per-phase rounding could: 3.85 x 10
    rounds up to 39 in every minibatch of that phase; and a teacher's
    ``budget``, when it has one, caps the total: 0.35 x 10 would round up to 4);
    after the phase the accuracies of all tasks taught so far go back with
    ``observe_batch``. ``phases`` defaults to the number of tasks. The
    running total starts from what the teacher has already charged (its
    ``spent``), so a run resumed with a teacher loaded from a checkpoint (and
    the same learner) hands out the replay of one uninterrupted run.
    """
    _check_learner(learner, "run_teacher")
    if not callable(getattr(teacher, "rehearsal", None)) or getattr(teacher, "space", None) is None:
        # another teacher ('sec') failed with a raw AttributeError after the learner's first evaluation
        raise ConfigError(f"run_teacher needs a task-sequence teacher ('continual-order' or 'continual-designer', "
                          f"which say how much to rehearse), got {type(teacher).__name__}; for a fixed order use "
                          f"run_order(learner, data, order)")
    k = teacher.space.n
    phases = k if phases is None else whole("phases", phases, 1)
    classes = len(np.asarray(learner.evaluate(data)))
    if classes < k:  # it failed at the first task beyond the learner's, after earlier phases had trained both
        raise ConfigError(f"the teacher's space has {k} tasks but the learner has {classes} classes; build the "
                          f"teacher on Discrete({classes}) (one task per class)")
    _check_data(data, range(k), f"build the learner and the teacher on the data's classes (the teacher on "
                                f"Discrete({data.k if data is not None else k}), one task per class)")
    before = int(learner.replayed)  # a learner taught before counts its earlier replay too: report this run's
    rows, order, amounts = [], [], []
    # rounding the running total to the nearest can end above it (a budget of 0.35 at 10 a minibatch is 3.5,
    # which rounds to 4): a teacher with a budget (continual-order) caps the total at what its budget pays for.
    # The running total starts from what the teacher has already charged (its `spent`: a run resumed from a
    # saved teacher), so a run in two calls hands out the replay of one call: it restarted at 0 and lost the
    # fractions of the first call (45 examples against 42 on 6 classes at replay 3, and other accuracies)
    budget = getattr(teacher, "budget", None)
    cap = None if budget is None else int(np.floor(budget * learner.replay + 1e-9))
    total = float(getattr(teacher, "spent", 0.0))  # the amounts charged so far, in phases of base replay
    given = int(round(total * learner.replay))  # replay per minibatch handed out for them, summed over phases
    given = given if cap is None else min(given, cap)
    for _ in range(phases):
        c = teacher.space.index(teacher.propose())
        plan = teacher.rehearsal()
        amounts.append(float(plan["amount"]))
        total += amounts[-1]
        n_replay = int(round(total * learner.replay))
        n_replay = max((n_replay if cap is None else min(n_replay, cap)) - given, 0)
        given += n_replay
        learner.learn(_train(data, c), c, plan["weights"], n_replay)
        acc = np.asarray(learner.evaluate(data), dtype=float)
        rows.append(acc)
        order.append(c)
        # the new task first: the teacher charges the phase's rehearsal from the state rehearsal() saw
        taught = [c] + [int(i) for i in np.flatnonzero(np.isfinite(acc)) if i != c]
        teacher.observe_batch(teacher.space.tasks_at(np.array(taught)), [float(acc[i]) for i in taught])
    return SequenceResult(order, np.array(rows), int(learner.replayed) - before, amounts)
